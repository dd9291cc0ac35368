"""The feature contract: one declarative spec per lead schema, loaded from YAML into pydantic.

It is the single source of truth for bronze validation, silver cleaning, gold features, training,
serving validation and drift monitoring. A new lead schema needs a new spec file, not code.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
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
LEARN = "learn"
"""``categories: learn``: the vocabulary is learned from the training part and stored in the model artifact."""
CaseRule = Literal["keep", "fold"]
"""``fold``: categories compare case-insensitively (``Google`` == ``google``); ``keep``: exactly."""
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
    categories: list[str] | Literal["learn"] | None = None
    """Allowed values of a categorical feature (the encoder's vocabulary), or ``learn``: learned from the
    training part (see ``min_frequency``, ``max_categories``) and stored in the model artifact."""
    min_frequency: int = Field(default=1, ge=1)
    """With ``categories: learn``: a value seen fewer times in the training part becomes ``__other__``."""
    max_categories: int | None = Field(default=None, ge=1)
    """With ``categories: learn``: keep at most this many of the most frequent values."""
    case: CaseRule = "keep"
    """``fold``: ``Google`` and ``google`` are one category (stored as the casefolded value when learned)."""
    encoding: Literal["onehot", "native"] = "onehot"
    """How the booster sees a categorical: one column per category, or one column of category codes that
    XGBoost splits on natively (fewer columns for high-cardinality features; docs/new-schema.md)."""
    vocabulary: list[str] | None = None
    """The learned vocabulary of a ``categories: learn`` feature; filled from the artifact, never by hand."""
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

    @property
    def learned(self) -> bool:
        """The vocabulary comes from the training part (``categories: learn``)."""
        return self.categories == LEARN

    @property
    def vocab(self) -> list[str] | None:
        """The categories in force: the listed ones, the learned ones, or None (learned, not yet known)."""
        if isinstance(self.categories, list):
            return self.categories
        return self.vocabulary

    @model_validator(mode="after")
    def _check(self) -> FeatureDef:
        if self.type == "categorical" and not self.categories:
            raise ValueError(f"feature {self.name!r}: categorical features need 'categories' (a list, or learn)")
        if self.type != "categorical" and (self.categories or self.case != "keep" or self.encoding != "onehot"):
            raise ValueError(f"feature {self.name!r}: only categorical features take categories/case/encoding")
        if not self.learned and (self.min_frequency != 1 or self.max_categories is not None or self.vocabulary):
            raise ValueError(f"feature {self.name!r}: min_frequency/max_categories/vocabulary need categories: learn")
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


ROW_ORDER = "row_order"
"""``entity.order_by`` value that accepts the file's own row order as time order (never assumed)."""
TimeDirection = Literal["ascending", "descending"]
"""``ascending``: the value grows with time (the largest is the latest); ``descending``: the largest is the oldest."""
REMOVED_ENTITY_KEYS = ("synthetic_start", "synthetic_step_seconds")


class EntitySpec(_Strict):
    id: str | None
    """Lead id: a field name (its ``column`` maps the raw column) or a raw column of that name; the API
    takes the id under this name. ``None`` means the source has no id: one is made from the row number."""
    timestamp: str | None = None
    """Event-time column (when the lead was created): ISO 8601 timestamps or dates, or ``timestamp_format``."""
    timestamp_format: str | None = None
    """``strftime`` format of ``timestamp`` when it is not ISO 8601 (e.g. ``%d/%m/%Y``)."""
    order_by: str | None = None
    """What "latest" means when it is not ``timestamp``: a monotone numeric column (e.g. ``lead_number``) or
    ``row_order`` (the input's own row order, accepted explicitly). Training refuses a spec that states no order."""
    direction: TimeDirection = "ascending"
    """How ``order_by`` relates to time: ``ascending`` = larger is newer, ``descending`` = larger is older
    (for ``row_order``: ``descending`` = the newest rows come first)."""
    updated_at: str | None = None
    """CRM change timestamp used as the incremental watermark."""

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: object) -> object:
        if isinstance(data, dict) and (old := [k for k in REMOVED_ENTITY_KEYS if k in data]):
            raise ValueError(
                f"entity.{old[0]} was removed (it wrote made-up dates): state the time order instead with "
                "`order_by: <monotone number column>` or `order_by: row_order`, plus `direction: ascending|descending`"
            )
        return data

    @model_validator(mode="after")
    def _check(self) -> EntitySpec:
        if self.order_by is None and self.direction != "ascending":
            raise ValueError("entity.direction applies to entity.order_by; a timestamp always grows with time")
        if self.timestamp_format is not None and self.timestamp is None:
            raise ValueError("entity.timestamp_format needs entity.timestamp")
        return self


@dataclass(frozen=True)
class TimeOrder:
    """What defines "latest" (the holdout, the reports) for a spec."""

    kind: Literal["timestamp", "number", "row_order", "unstated"]
    column: str | None
    direction: TimeDirection = "ascending"

    @property
    def stated(self) -> bool:
        return self.kind != "unstated"

    def describe(self) -> str:
        """One phrase for reports: which column and direction define "latest"."""
        if self.kind == "timestamp":
            return f"latest = newest {self.column} (timestamp)"
        if self.kind == "row_order":
            end = "last" if self.direction == "ascending" else "first"
            return f"latest = the {end} rows of the input (order_by: row_order, direction: {self.direction})"
        if self.kind == "number":
            end = "largest" if self.direction == "ascending" else "smallest"
            return f"latest = {end} {self.column} (order_by: {self.column}, direction: {self.direction})"
        return "no time order stated (row order is NOT assumed)"


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


class LabelFile(_Strict):
    """The target in a file of its own, joined to the leads on the id."""

    file: str
    """CSV file name (relative to the input directory)."""
    id: str
    """Its id column (raw name)."""


class InputsSpec(_Strict):
    """Which files of an input directory make one run (``pipeline run --source files DIR``)."""

    leads: list[str] = Field(min_length=1)
    """Lead CSVs (same columns), read in this order (``row_order`` follows it)."""
    labels: LabelFile | None = None
    """Where the target column lives when it is not in the lead files."""


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
    missing_values: list[str] = Field(default_factory=list)
    """Raw values that mean missing for every feature (e.g. ``""``, ``NA``, ``Select`` as a placeholder);
    merged into each feature's own ``missing_values`` at load."""
    inputs: InputsSpec | None = None
    """Several input files per run (lead CSVs plus a label file); default: one ``leads.csv`` / the CSV given."""

    @model_validator(mode="after")
    def _check(self) -> FeatureSpec:
        names = [f.name for f in self.features] + [f.name for f in self.fields]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"spec {self.name!r}: duplicate names {dupes}")
        if any(f.from_events for f in self.features) and self.events is None:
            raise ValueError(f"spec {self.name!r}: features use from_events but 'events' is not set")
        if self.event_features and self.entity.timestamp is None:
            raise ValueError(
                f"spec {self.name!r}: features use from_events, whose point-in-time cut-off needs "
                "entity.timestamp (an event time), not only an order"
            )
        if self.quality.max_staleness_days is not None and self.entity.timestamp is None:
            raise ValueError(f"spec {self.name!r}: quality.max_staleness_days needs entity.timestamp")
        for f in self.features:
            if f.source_column in self.drop_columns:
                raise ValueError(f"spec {self.name!r}: feature {f.name!r} reads dropped column")
        if self.missing_values:  # idempotent: a dumped and reloaded spec merges to the same lists
            merged = [
                f.model_copy(update={"missing_values": list(dict.fromkeys([*self.missing_values, *f.missing_values]))})
                for f in self.features
            ]
            object.__setattr__(self, "features", merged)
        kinds = {f.name: f.type for f in self.features}
        for a in self.monitoring.sensitive_attributes:
            if kinds.get(a) not in ("categorical", "boolean"):
                raise ValueError(f"spec {self.name!r}: sensitive attribute {a!r} is not a categorical feature")
        return self

    def raw_column(self, name: str) -> str:
        """The raw source column of a spec name (a field's or feature's ``column``), else the name itself."""
        items: list[FieldDef | FeatureDef] = [*self.fields, *self.features]
        for item in items:
            if item.name == name:
                return item.source_column
        return name

    def with_vocabularies(self, vocabularies: dict[str, list[str]]) -> FeatureSpec:
        """This spec with the learned vocabularies filled in (what a model artifact serves and monitors)."""
        unknown = sorted(set(vocabularies) - {f.name for f in self.features if f.learned})
        if unknown:
            raise ValueError(f"spec {self.name!r}: vocabularies for features that do not learn one: {unknown}")
        feats = [
            f.model_copy(update={"vocabulary": list(vocabularies[f.name])}) if f.name in vocabularies else f
            for f in self.features
        ]
        return self.model_copy(update={"features": feats})

    @property
    def unresolved(self) -> list[str]:
        """Learned categorical features whose vocabulary is not known yet."""
        return [f.name for f in self.features if f.learned and f.vocabulary is None]

    # -- convenience views ------------------------------------------------------------------
    @property
    def id_column(self) -> str:
        return self.entity.id or "lead_id"

    @property
    def timestamp_column(self) -> str:
        return self.entity.timestamp or "event_ts"

    @property
    def time_order(self) -> TimeOrder:
        """What defines "latest": ``order_by`` if given, else the timestamp, else nothing (training refuses)."""
        e = self.entity
        if e.order_by == ROW_ORDER:
            return TimeOrder("row_order", None, e.direction)
        if e.order_by is not None:
            return TimeOrder("number", e.order_by, e.direction)
        if e.timestamp is not None:
            return TimeOrder("timestamp", e.timestamp)
        return TimeOrder("unstated", None)

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
        data = self.model_dump(mode="json")
        for f in data["features"]:  # learned vocabularies are the model's, not the contract's
            f.pop("vocabulary", None)
        blob = json.dumps(data, sort_keys=True).encode()
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
