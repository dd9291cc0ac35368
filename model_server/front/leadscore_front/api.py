"""The ``/score-lead`` request and response models, generated from the feature contract at load time.

pydantic checks the shape (known fields only, JSON types); the value rules (ranges, NaN/inf, unknown
categories, missing policy) are :mod:`leadscore_core.validation`'s, so serving refuses what bronze
quarantines. PII fields are accepted and documented, never used.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, create_model

from leadscore_core.contract import FeatureDef, FeatureSpec

MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 1024


class Reason(BaseModel):
    """One reason code: a business feature and its contribution to the lead's log-odds."""

    feature: str
    value: StrictStr | StrictFloat | StrictBool | None = Field(description="Value the model saw (after policies).")
    contribution: float = Field(description="Contribution to the raw margin (log-odds).")
    direction: str = Field(description="`increases` or `decreases` the score.")


class ScoreResponse(BaseModel):
    """The score of one lead."""

    model_config = ConfigDict(protected_namespaces=())
    lead_id: str
    score: int = Field(ge=0, le=100, description="0-100, the calibrated probability in percent.")
    probability: float = Field(ge=0.0, le=1.0, description="Calibrated conversion probability.")
    tier: str = Field(description="A (best) to D.")
    reasons: list[Reason] = Field(description="Top-k features by absolute contribution.")
    model_name: str
    model_version: str
    request_id: str
    scored_at: str = Field(description="UTC time of scoring, ISO 8601.")


class IssueBody(BaseModel):
    field: str = Field(description="Dotted path of the offending field (`0.visas_requested` in a list).")
    reason: str


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the front."""

    error: str
    issues: list[IssueBody] = Field(default_factory=list)


def _feature_field(f: FeatureDef) -> tuple[Any, Any]:
    doc = f.description or f.name
    extra: dict[str, Any] = {}
    if f.type == "numeric":
        kind: Any = StrictFloat | StrictInt
        if f.min is not None:
            extra["minimum"] = f.min
        if f.max is not None:
            extra["maximum"] = f.max
    elif f.type == "boolean":
        kind = StrictBool
    elif f.type == "categorical":
        kind = Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS)] | StrictInt
        assert f.categories is not None
        doc += f" One of: {', '.join(f.categories)}; another value: policy `{f.unknown}`."
    else:
        kind = Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS)]
    doc += f" Missing: policy `{f.missing}`."
    return kind | None, Field(default=None, description=doc, json_schema_extra=extra or None)


def build_lead_model(spec: FeatureSpec) -> type[BaseModel]:
    """A pydantic model of one lead as the CRM sends it: id, optional non-feature fields, features."""
    fields: dict[str, Any] = {
        spec.id_column: (
            Annotated[StrictStr, Field(min_length=1, max_length=MAX_ID_CHARS)],
            Field(description="CRM lead id; only its salted hash leaves the front."),
        )
    }
    for fd in spec.fields:
        if fd.name == spec.id_column:
            continue
        note = "PII: accepted, never forwarded or logged." if fd.pii else "Accepted, not used for scoring."
        kind: Any = Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS)]
        if fd.type == "numeric":
            kind = StrictFloat | StrictInt
        elif fd.type == "boolean":
            kind = StrictBool
        fields[fd.name] = (kind | None, Field(default=None, description=note))
    for f in spec.features:
        fields[f.name] = _feature_field(f)
    return create_model(
        "Lead",
        __config__=ConfigDict(extra="forbid", title="Lead", protected_namespaces=()),
        __doc__=f"One lead of spec `{spec.name}` v{spec.version}.",
        **fields,
    )
