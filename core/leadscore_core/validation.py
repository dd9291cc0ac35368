"""Record-level validation and normalisation driven by the feature contract.

The same rules run at every boundary: bronze (CRM/CSV rows), silver cleaning, the serving API and
the monitors. A record comes back either clean (typed values, policies applied) or with issues that
name the field and the reason; callers quarantine or answer 4xx, they never drop silently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leadscore_core.contract import FALSE_STRINGS, OTHER, TRUE_STRINGS, FeatureDef, FeatureSpec


@dataclass(frozen=True)
class Issue:
    """Why a record breaks the contract."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


@dataclass
class CheckedRecord:
    values: dict[str, Any]
    """Feature name -> clean value (float | str | bool | None); categories outside the vocabulary are
    mapped per policy (``__other__`` or None)."""
    issues: list[Issue] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Features that were missing (after imputation they may hold a value)."""
    unknown: list[str] = field(default_factory=list)
    """Categorical features whose raw value was outside the vocabulary."""

    @property
    def ok(self) -> bool:
        return not self.issues


NULL_TOKENS = frozenset({"null", "none", "nan", "na", "n/a"})
"""Strings that mean missing for every feature except text (compared case-insensitively)."""


def _is_missing(raw: Any, f: FeatureDef) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw) and f.type != "numeric":
        return True
    if isinstance(raw, str) and (raw.strip() == "" or f.type != "text" and raw.strip().lower() in NULL_TOKENS):
        return True
    if not f.missing_values:
        return False
    if f.type == "numeric":  # numerically: 999, "999" and "999.0" are one token
        v, _ = parse_number(raw)
        return v is not None and any(parse_number(m)[0] == v for m in f.missing_values)
    key = canonical_text(raw)
    if f.case == "fold":
        return key.casefold() in {m.casefold() for m in f.missing_values}
    return key in f.missing_values


def canonical_text(raw: Any) -> str:
    """The text of a scalar as a CSV file would hold it: a string stripped, a JSON number or boolean as JSON
    writes it (``2`` -> ``"2"``, ``2.5`` -> ``"2.5"``, ``true`` -> ``"true"``)."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float):
        return repr(raw)
    return str(raw).strip()


MAX_TEXT_CHARS = 1024
"""Longest text or category value either side accepts."""
MAX_ID_CHARS = 128
"""Longest lead id either side accepts."""


def parse_number(raw: Any) -> tuple[float | None, str | None]:
    """The one number rule of ingest and serve: JSON numbers and numeric strings (``" 3.5 "``, ``"1e3"``)
    become a finite float; booleans, NaN/inf and anything else are refused with the reason."""
    if isinstance(raw, bool):
        return None, "expected a number, got a boolean"
    if isinstance(raw, int | float):
        v = float(raw)
    elif isinstance(raw, str):
        try:
            v = float(raw.strip())
        except ValueError:
            return None, f"expected a number, got {raw[:40]!r}"
    else:
        return None, f"expected a number, got {type(raw).__name__}"
    if not math.isfinite(v):
        return None, "not a finite number (NaN/inf)"
    return v, None


def _numeric(raw: Any, f: FeatureDef) -> tuple[float | None, str | None]:
    v, err = parse_number(raw)
    if v is None:
        return None, err
    if f.min is not None and v < f.min:
        return None, f"{v:g} is below the minimum {f.min:g}"
    if f.max is not None and v > f.max:
        return None, f"{v:g} is above the maximum {f.max:g}"
    return v, None


def parse_boolean(raw: Any) -> tuple[bool | None, str | None]:
    """The one boolean rule: JSON booleans, the numbers 0/1, and the strings true/false, yes/no, t/f, y/n, 1/0
    in any case."""
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, int) and raw in (0, 1):
        return bool(raw), None
    if isinstance(raw, str):
        s = raw.strip().lower()
        if s in TRUE_STRINGS:
            return True, None
        if s in FALSE_STRINGS:
            return False, None
    return None, f"expected a boolean, got {str(raw)[:40]!r}"


def check_id(raw: Any) -> tuple[str | None, str | None]:
    """The one lead-id rule: a non-empty string (or integer) of at most ``MAX_ID_CHARS`` characters, stripped."""
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None, "is required" if raw is None else f"expected a string id, got {type(raw).__name__}"
    s = str(raw).strip()
    if not s:
        return None, "is required"
    if len(s) > MAX_ID_CHARS:
        return None, f"longer than {MAX_ID_CHARS} characters"
    return s, None


def _too_long() -> str:
    return f"longer than {MAX_TEXT_CHARS} characters"


def category_key(f: FeatureDef, raw: Any) -> str:
    """The category a raw value names: stripped text (integral floats without ``.0``), casefolded with
    ``case: fold``."""
    s = canonical_text(raw)
    return s.casefold() if f.case == "fold" else s


_INDEX: dict[int, tuple[FeatureDef, dict[str, str]]] = {}


def _vocab_index(f: FeatureDef, vocab: list[str]) -> dict[str, str]:
    """Category key -> canonical category, built once per feature definition (a 500-level vocabulary is
    looked up per value on both sides)."""
    hit = _INDEX.get(id(f))
    if hit is not None and hit[0] is f:
        return hit[1]
    if len(_INDEX) > 512:
        _INDEX.clear()
    index = {category_key(f, c): c for c in vocab}
    _INDEX[id(f)] = (f, index)
    return index


def _categorical(f: FeatureDef, raw: Any, rec: CheckedRecord) -> tuple[str | None, str | None]:
    if not isinstance(raw, str | int | float):  # bool is an int
        return None, f"expected a category, got {type(raw).__name__}"
    key = category_key(f, raw)
    if len(key) > MAX_TEXT_CHARS:
        return None, _too_long()
    vocab = f.vocab
    if vocab is None:  # learned, not learned yet (ingest): keep the value, the vocabulary comes from training
        return key, None
    known = _vocab_index(f, vocab)
    if key in known:
        return known[key], None
    rec.unknown.append(f.name)
    if f.unknown == "reject":
        shown = ", ".join(vocab[:20]) + (f" ... ({len(vocab)} in all)" if len(vocab) > 20 else "")
        return None, f"unknown category {key[:40]!r} (allowed: {shown})"
    if f.unknown == "missing":
        return None, None
    return OTHER, None


def check_feature(f: FeatureDef, raw: Any, rec: CheckedRecord) -> None:
    """Validate one raw value into ``rec`` (value, issues, missing/unknown notes)."""
    if _is_missing(raw, f):
        rec.missing.append(f.name)
        if f.missing == "reject":
            rec.issues.append(Issue(f.name, "is required"))
            rec.values[f.name] = None
        elif f.missing == "impute":
            rec.values[f.name] = f.impute
        else:
            rec.values[f.name] = None
        return
    v: Any
    err: str | None
    if f.type == "numeric":
        v, err = _numeric(raw, f)
    elif f.type == "boolean":
        v, err = parse_boolean(raw)
    elif f.type == "categorical":
        v, err = _categorical(f, raw, rec)
    elif not isinstance(raw, str | int | float):  # text
        v, err = None, "expected text"
    else:
        text = raw if isinstance(raw, str) else canonical_text(raw)
        v, err = (text, None) if len(text) <= MAX_TEXT_CHARS else (None, _too_long())
    if err:
        rec.issues.append(Issue(f.name, err))
    rec.values[f.name] = v


def check_record(
    spec: FeatureSpec,
    raw: Mapping[str, Any],
    *,
    features: Iterable[FeatureDef] | None = None,
    source_names: bool = False,
) -> CheckedRecord:
    """Validate the features of one raw record.

    Args:
        spec: the contract.
        raw: the record; keys are feature names, or source column names with ``source_names``.
        features: which features to check (default: all; bronze passes ``spec.crm_features``).
        source_names: read ``FeatureDef.source_column`` instead of the feature name.
    """
    rec = CheckedRecord(values={})
    for f in spec.features if features is None else features:
        key = f.source_column if source_names else f.name
        check_feature(f, raw.get(key), rec)
    return rec
