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


def _is_missing(raw: Any, f: FeatureDef) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw) and f.type != "numeric":
        return True
    if isinstance(raw, str):
        s = raw.strip()
        if s == "" or s.lower() in {"null", "none", "nan", "na", "n/a"} and f.type != "text":
            return True
        if s in f.missing_values:
            return True
    elif f.missing_values and _as_key(raw) in f.missing_values:
        return True
    return False


def _as_key(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    return str(raw).strip()


def _numeric(raw: Any, f: FeatureDef) -> tuple[float | None, str | None]:
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
    if f.min is not None and v < f.min:
        return None, f"{v:g} is below the minimum {f.min:g}"
    if f.max is not None and v > f.max:
        return None, f"{v:g} is above the maximum {f.max:g}"
    return v, None


def _boolean(raw: Any) -> tuple[bool | None, str | None]:
    if isinstance(raw, bool):
        return raw, None
    if isinstance(raw, int | float) and raw in (0, 1):
        return bool(raw), None
    s = str(raw).strip().lower()
    if s in TRUE_STRINGS:
        return True, None
    if s in FALSE_STRINGS:
        return False, None
    return None, f"expected a boolean, got {str(raw)[:40]!r}"


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
        v, err = _boolean(raw)
    elif f.type == "categorical":
        if isinstance(raw, dict | list):
            v, err = None, f"expected a category, got {type(raw).__name__}"
        else:
            s = _as_key(raw)
            assert f.categories is not None
            if s in f.categories:
                v, err = s, None
            else:
                rec.unknown.append(f.name)
                if f.unknown == "reject":
                    v, err = None, f"unknown category {s[:40]!r} (allowed: {', '.join(f.categories)})"
                elif f.unknown == "missing":
                    v, err = None, None
                else:
                    v, err = OTHER, None
    else:  # text
        v, err = (str(raw), None) if not isinstance(raw, dict | list) else (None, "expected text")
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
