"""Spec-driven encoding of clean feature values into the booster's float32 matrix.

Numeric and boolean features take one column each (missing = NaN, which XGBoost routes by its learned
default direction); a categorical feature takes one column per category plus ``__other__`` (missing =
all zeros), or with ``encoding: native`` one column of category codes (``__other__`` last, missing = NaN)
that XGBoost splits on as a categorical (:attr:`FeatureEncoder.feature_types`); text takes its length.
Learned vocabularies (``categories: learn``) must be filled in first (:meth:`FeatureSpec.with_vocabularies`).
The column -> feature map lets reason codes add one-hot contributions back up to the business feature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from leadscore_core.contract import OTHER, FeatureSpec


class FeatureEncoder:
    """Turns clean values (see :mod:`leadscore_core.validation`) into a model matrix."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        cols: list[str] = []
        owner: list[str] = []
        self._slices: dict[str, slice] = {}
        self._cat_index: dict[str, dict[str, int]] = {}
        types: list[str] = []
        if spec.unresolved:
            raise ValueError(f"spec {spec.name!r}: learned vocabularies of {spec.unresolved} are not filled in")
        for f in spec.features:
            start = len(cols)
            if f.type == "categorical":
                assert f.vocab is not None
                vocab = [*f.vocab, OTHER]
                self._cat_index[f.name] = {c: i for i, c in enumerate(vocab)}
                if f.encoding == "native":
                    cols.append(f.name)
                    owner.append(f.name)
                    types.append("c")
                else:
                    cols.extend(f"{f.name}={c}" for c in vocab)
                    owner.extend([f.name] * len(vocab))
                    types.extend(["q"] * len(vocab))
            else:
                cols.append(f.name)
                owner.append(f.name)
                types.append("q")
            self._slices[f.name] = slice(start, len(cols))
        self._native = {f.name for f in spec.features if f.type == "categorical" and f.encoding == "native"}
        self.feature_types: list[str] = types
        """XGBoost feature type per encoded column: ``q`` (quantitative) or ``c`` (native categorical)."""
        self.columns: list[str] = cols
        """Encoded column names, in matrix order."""
        self.column_feature: list[str] = owner
        """Business feature that owns each encoded column."""
        self.feature_names: list[str] = spec.feature_names
        owner_index = np.array([self.feature_names.index(o) for o in owner], dtype=np.int64)
        self._owner = np.zeros((len(cols), len(self.feature_names)), dtype=np.float64)
        self._owner[np.arange(len(cols)), owner_index] = 1.0
        """0/1 matrix: encoded column -> owning business feature."""

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @property
    def categorical(self) -> bool:
        """Some column is a native categorical (XGBoost needs ``feature_types`` and ``enable_categorical``)."""
        return bool(self._native)

    @property
    def native_codes(self) -> dict[int, int]:
        """Column index -> number of category codes (``__other__`` included) of each native categorical column;
        :meth:`encode_records` writes ``0 .. n - 1`` there, NaN when the value is missing."""
        return {self._slices[name].start: len(self._cat_index[name]) for name in sorted(self._native)}

    def _put_category(self, x: np.ndarray, i: int, name: str, start: int, v: Any) -> None:
        index = self._cat_index[name]
        code = index.get(str(v), len(index) - 1)  # __other__ is last
        if name in self._native:
            x[i, start] = code
        else:
            x[i, start + code] = 1.0

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Encode clean records (feature name -> value)."""
        x = np.zeros((len(records), self.n_columns), dtype=np.float32)
        for f in self.spec.features:
            sl = self._slices[f.name]
            if f.type == "categorical":
                if f.name in self._native:
                    x[:, sl.start] = np.nan
                for i, r in enumerate(records):
                    v = r.get(f.name)
                    if v is not None:
                        self._put_category(x, i, f.name, sl.start, v)
            else:
                x[:, sl.start] = [self._scalar(f.type, r.get(f.name)) for r in records]
        return x

    def encode_columns(self, columns: Mapping[str, Sequence[Any] | np.ndarray], n_rows: int) -> np.ndarray:
        """Encode column arrays (feature name -> values), e.g. from a pandas/arrow table."""
        x = np.zeros((n_rows, self.n_columns), dtype=np.float32)
        for f in self.spec.features:
            sl = self._slices[f.name]
            values = columns[f.name]
            if f.type == "categorical":
                if f.name in self._native:
                    x[:, sl.start] = np.nan
                for i, v in enumerate(values):
                    if v is None or (isinstance(v, float) and v != v):
                        continue
                    self._put_category(x, i, f.name, sl.start, v)
            elif f.type == "numeric":
                x[:, sl.start] = np.asarray(
                    [np.nan if v is None else v for v in values] if not isinstance(values, np.ndarray) else values,
                    dtype=np.float64,
                )
            else:
                x[:, sl.start] = [self._scalar(f.type, v) for v in values]
        return x

    @staticmethod
    def _scalar(kind: str, v: Any) -> float:
        if v is None or (isinstance(v, float) and v != v):
            return np.nan
        if kind == "boolean":
            return 1.0 if bool(v) else 0.0
        if kind == "text":
            return float(len(str(v)))
        return float(v)

    def per_feature(self, column_values: np.ndarray) -> np.ndarray:
        """Sum per-column values (e.g. SHAP contributions, shape (n, n_columns)) per business feature."""
        return np.asarray(column_values, dtype=np.float64) @ self._owner
