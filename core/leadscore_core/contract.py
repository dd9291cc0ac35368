"""The feature contract: one declarative spec per lead schema, loaded from YAML into pydantic.

It is the single source of truth for bronze validation, silver cleaning, gold features, training,
serving validation and drift monitoring. A new lead schema needs a new spec file, not code.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

FeatureType = Literal["numeric", "categorical", "boolean", "text"]
MissingPolicy = Literal["allow", "impute", "reject"]
"""allow: keep as missing (the booster learns a default direction); impute: replace with ``impute``;
reject: the row is quarantined."""
UnknownPolicy = Literal["other", "missing", "reject"]
Seasonality = Literal["none", "calendar", "rotating"]
"""How a feature's distribution moves with time by design: ``calendar`` (follows the calendar, e.g. campaigns
of the quarter) and ``rotating`` (values are replaced over time) features are reported by the drift monitor
(PSI, new values) but never trigger retraining; ``none`` features are judged."""
"""What to do with a category not in ``categories``: map to ``__other__``, treat as missing, or quarantine."""

OTHER = "__other__"
TRUE_STRINGS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_STRINGS = frozenset({"false", "f", "no", "n", "0"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventAggregate(_Strict):
    """How gold derives a feature from web-form events (JSON lines); serving receives it in the request."""

    event_types: list[str] = Field(default_factory=list)
    """Event types counted; empty means every type."""
    agg: Literal["count", "sum", "mean", "max", "days_since_last", "distinct_days"] = "count"
    """Aggregation over the lead's events before the point-in-time cut-off."""
    value_field: str | None = None
    """Event field aggregated by sum/mean/max (count and distinct_days ignore it)."""


class FeatureDef(_Strict):
    """One model input."""

    name: str
    """Feature name used everywhere downstream (silver/gold columns, API fields, metrics labels)."""
    type: FeatureType
    column: str | None = None
    """Column name in the raw source when it differs from ``name`` (e.g. ``emp.var.rate``)."""
    description: str = ""
    min: float | None = None
    """Inclusive lower bound for numeric values; below it the value breaks the contract."""
    max: float | None = None
    """Inclusive upper bound for numeric values."""
    categories: list[str] | None = None
    """Allowed values of a categorical feature (the encoder's vocabulary)."""
    unknown: UnknownPolicy = "other"
    missing: MissingPolicy = "allow"
    impute: float | str | bool | None = None
    """Replacement value when ``missing: impute``."""
    missing_values: list[str] = Field(default_factory=list)
    """Raw values that mean missing (besides empty/null), e.g. ``unknown`` or ``999``."""
    from_events: EventAggregate | None = None
    """Set when gold computes this feature from web-form events rather than reading a CRM column."""
    seasonality: Seasonality = "none"
    """See :data:`Seasonality`."""
    drift_psi: float | None = Field(None, gt=0)
    """PSI floor of this feature's drift verdict; default: the feature type's in
    :class:`leadscore_core.settings.DriftThresholds`."""

    @property
    def source_column(self) -> str:
        return self.column or self.name

    @model_validator(mode="after")
    def _check(self) -> FeatureDef:
        if self.type == "categorical" and not self.categories:
            raise ValueError(f"feature {self.name!r}: categorical features need 'categories'")
        if self.type != "categorical" and self.categories:
            raise ValueError(f"feature {self.name!r}: only categorical features take 'categories'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} > max {self.max}")
        if self.missing == "impute" and self.impute is None:
            raise ValueError(f"feature {self.name!r}: missing: impute needs an 'impute' value")
        return self


class FieldDef(_Strict):
    """A non-feature column of the source (identifiers, timestamps, PII, free text)."""

    name: str
    column: str | None = None
    type: Literal["string", "timestamp", "numeric", "boolean"] = "string"
    pii: bool = False
    """PII is accepted at the boundary but never forwarded to the predictor, logged or put in events."""
    required: bool = False

    @property
    def source_column(self) -> str:
        return self.column or self.name


class EntitySpec(_Strict):
    id: str | None
    """Lead id column. ``None`` means the source has no id: one is made from the row number."""
    timestamp: str | None
    """Event-time column (when the lead was created). ``None``: synthesised from row order."""
    updated_at: str | None = None
    """CRM change timestamp used as the incremental watermark."""
    synthetic_start: str = "2020-01-01T00:00:00+00:00"
    """With no timestamp column: row i gets ``synthetic_start + i * synthetic_step_seconds``."""
    synthetic_step_seconds: float = 60.0


class TargetSpec(_Strict):
    column: str
    positive: list[str] = Field(default_factory=lambda: ["1", "true", "yes"])
    """Raw values (compared case-insensitively as strings) that mean converted."""
    timestamp: str | None = None
    """Conversion time; events at or after it are never used for features (point-in-time)."""


class PointInTime(_Strict):
    feature_window_days: float = 30.0
    """Events later than ``created_at + window`` (or at/after conversion) are excluded from gold."""


class CsvOptions(_Strict):
    delimiter: str = ","
    quotechar: str = '"'


class EventsSpec(_Strict):
    id_field: str = "lead_id"
    timestamp_field: str = "ts"
    type_field: str = "event_type"
    types: list[str] = Field(default_factory=list)
    """Known event types; others are quarantined."""


class QualitySpec(_Strict):
    """Gate thresholds; a breach fails the run with a message naming the check."""

    max_quarantine_rate: float = 0.2
    """Share of a batch that bronze may quarantine before the run fails."""
    max_null_rate: float = 0.5
    """Per-feature null share allowed in silver."""
    min_rows: int = 100
    """Gold must have at least this many rows."""
    max_staleness_days: float | None = None
    """Newest event time must be within this many days of now (None: not checked)."""


class MonitoringSpec(_Strict):
    """What the monitors watch beyond feature drift."""

    sensitive_attributes: list[str] = Field(default_factory=list)
    """Categorical features whose groups are compared for score and tier parity (bias drift)."""


class ScoringSpec(_Strict):
    tiers: dict[str, float] = Field(default_factory=lambda: {"A": 0.9, "B": 0.7, "C": 0.4})
    """Tier -> score-rank quantile cut-off in the reference score distribution; below the last: ``D``."""
    top_k_reasons: int = 3


class FeatureSpec(_Strict):
    """A lead schema: identity, target, features and their policies."""

    name: str
    version: int = 1
    description: str = ""
    entity: EntitySpec
    target: TargetSpec
    features: list[FeatureDef]
    fields: list[FieldDef] = Field(default_factory=list)
    point_in_time: PointInTime = Field(default_factory=PointInTime)
    csv: CsvOptions = Field(default_factory=CsvOptions)
    events: EventsSpec | None = None
    quality: QualitySpec = Field(default_factory=QualitySpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    drop_columns: list[str] = Field(default_factory=list)
    """Source columns deliberately ignored (e.g. ``duration`` in bank marketing: it leaks the label)."""

    @model_validator(mode="after")
    def _check(self) -> FeatureSpec:
        names = [f.name for f in self.features] + [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"spec {self.name!r}: duplicate names {dupes}")
        if any(f.from_events for f in self.features) and self.events is None:
            raise ValueError(f"spec {self.name!r}: features use from_events but 'events' is not set")
        for f in self.features:
            if f.source_column in self.drop_columns:
                raise ValueError(f"spec {self.name!r}: feature {f.name!r} reads dropped column")
        kinds = {f.name: f.type for f in self.features}
        for a in self.monitoring.sensitive_attributes:
            if kinds.get(a) not in ("categorical", "boolean"):
                raise ValueError(f"spec {self.name!r}: sensitive attribute {a!r} is not a categorical feature")
        return self

    # -- convenience views ------------------------------------------------------------------
    @property
    def id_column(self) -> str:
        return self.entity.id or "lead_id"

    @property
    def timestamp_column(self) -> str:
        return self.entity.timestamp or "event_ts"

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def crm_features(self) -> list[FeatureDef]:
        """Features read from a source column (not derived from events)."""
        return [f for f in self.features if f.from_events is None]

    @property
    def event_features(self) -> list[FeatureDef]:
        return [f for f in self.features if f.from_events is not None]

    @property
    def pii_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.pii]

    def feature(self, name: str) -> FeatureDef:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def fingerprint(self) -> str:
        """Stable hash of the contract; a model records it so serving can refuse a mismatched spec."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def is_positive(self, raw: object) -> bool:
        if raw is None:
            return False
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if isinstance(raw, float) and raw.is_integer():
            s = str(int(raw))
        return s in {p.lower() for p in self.target.positive}


SPEC_PATH_ENV = "LEADSCORE_SPEC_PATH"
"""Extra directories (``os.pathsep``-separated) searched for spec files by :func:`find_spec`."""


def builtin_spec_path(name: str) -> Path:
    """Path of a spec shipped with the package (``crm_freezone``, ``bank_marketing``)."""
    ref = resources.files("leadscore_core") / "specs" / f"{name}.yaml"
    return Path(str(ref))


def spec_dirs() -> list[Path]:
    """Where :func:`find_spec` looks: ``$LEADSCORE_SPEC_PATH`` directories first, then the built-in specs."""
    extra = [Path(d) for d in os.environ.get(SPEC_PATH_ENV, "").split(os.pathsep) if d]
    return [*extra, Path(str(resources.files("leadscore_core") / "specs"))]


def _read_spec(p: Path) -> FeatureSpec:
    data = yaml.safe_load(p.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"feature spec {p}: expected a mapping at the top level")
    return FeatureSpec.model_validate(data)


def find_spec(name: str, dirs: list[Path] | None = None) -> FeatureSpec:
    """The spec whose ``name`` is ``name``, whatever its file is called (``*.yaml``/``*.yml`` in ``dirs``,
    default :func:`spec_dirs`). The first directory holding it wins.

    Raises:
        FileNotFoundError: no spec of that name (the message lists the directories searched).
        ValueError: two files in one directory declare that name.
    """
    searched = dirs if dirs is not None else spec_dirs()
    for d in searched:
        found: list[tuple[Path, FeatureSpec]] = []
        for p in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            try:
                head = yaml.safe_load(p.read_text())
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(head, dict) and head.get("name") == name:
                found.append((p, _read_spec(p)))
        if len(found) > 1:
            raise ValueError(f"feature spec {name!r} is declared by {[str(p) for p, _ in found]}: keep one")
        if found:
            return found[0][1]
    raise FileNotFoundError(
        f"feature spec {name!r}: no file declares that name in {[str(d) for d in searched]} "
        f"(add a directory with ${SPEC_PATH_ENV} or pass the YAML path)"
    )


def load_spec(path_or_name: str | Path) -> FeatureSpec:
    """Load a spec from a YAML file, or find one by its ``name`` (:func:`find_spec`)."""
    p = Path(path_or_name)
    if p.is_file():
        return _read_spec(p)
    return find_spec(str(path_or_name))


def spec_from_json(blob: str | bytes) -> FeatureSpec:
    return FeatureSpec.model_validate_json(blob)
