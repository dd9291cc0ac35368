"""The ``/score-lead`` request and response models, generated from the feature contract at load time.

pydantic checks the shape only: known field names (the spec's names, the id included), every feature key
present (``null`` says "unknown"; an absent key is a 422, so a dropped field never scores silently), and
JSON scalars. Every value rule (numbers from numeric strings, booleans from yes/no/true/false/1/0, ranges,
NaN/inf, lengths, unknown categories, the missing policy) is :mod:`leadscore_core.validation`'s, the same
function bronze runs, so serving accepts and refuses exactly what ingest does. PII fields are accepted and
documented, never used.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr, create_model

from leadscore_core.contract import FeatureDef, FeatureSpec, FieldDef
from leadscore_core.validation import MAX_ID_CHARS, MAX_TEXT_CHARS

Scalar = StrictStr | StrictBool | StrictInt | StrictFloat
"""What a feature value may be on the wire; the core rule decides whether it is a valid value."""
__all__ = ["MAX_ID_CHARS", "MAX_TEXT_CHARS", "ErrorBody", "Reason", "ScoreResponse", "build_lead_model"]


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
    imputed: list[str] = Field(
        default_factory=list,
        description="Features the lead had no value for (null or a missing token): scored as missing "
        "(policy `allow`) or with the spec's `impute` value.",
    )
    unknown_categories: list[str] = Field(
        default_factory=list,
        description="Categorical features whose value is outside the vocabulary: scored as `__other__` "
        "(policy `other`) or as missing (policy `missing`).",
    )


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
        doc += " A number (a numeric string is accepted)."
        if f.min is not None:
            extra["minimum"] = f.min
        if f.max is not None:
            extra["maximum"] = f.max
    elif f.type == "boolean":
        doc += " A boolean (also true/false, yes/no, t/f, y/n, 1/0 in any case)."
    elif f.type == "categorical":
        vocab = f.vocab or []
        shown = ", ".join(vocab[:50]) + (f" ... ({len(vocab)} in all)" if len(vocab) > 50 else "")
        doc += f" One of: {shown}" + (" (case-insensitive)" if f.case == "fold" else "")
        doc += f"; another value: policy `{f.unknown}`."
    doc += f" Required key; null means unknown: policy `{f.missing}`."
    return Scalar | None, Field(description=doc, json_schema_extra=extra or None)


def build_lead_model(spec: FeatureSpec) -> type[BaseModel]:
    """A pydantic model of one lead as the CRM sends it: id, optional non-feature fields, every feature.

    Field names are the spec's names; a raw column name (``Lead Source``) is not one, even where the spec
    maps it (the error names the API field to use instead).
    """
    fields: dict[str, Any] = {
        spec.id_column: (
            StrictStr | StrictInt,
            Field(
                description=f"CRM lead id (at most {MAX_ID_CHARS} characters); only its salted hash leaves the front."
            ),
        )
    }
    for fd in spec.fields:
        if fd.name == spec.id_column:
            continue
        note = "PII: accepted, never forwarded or logged." if fd.pii else "Accepted, not used for scoring."
        kind: Any = Annotated[StrictStr, Field(max_length=MAX_TEXT_CHARS)]
        if fd.type == "numeric":
            kind = StrictFloat | StrictInt | StrictStr
        elif fd.type == "boolean":
            kind = StrictBool | StrictStr
        fields[fd.name] = (kind | None, Field(default=None, description=note))
    for f in spec.features:
        fields[f.name] = _feature_field(f)
    return create_model(
        "Lead",
        __config__=ConfigDict(extra="forbid", title="Lead", protected_namespaces=()),
        __doc__=f"One lead of spec `{spec.name}` v{spec.version}.",
        **fields,
    )


def raw_name_hints(spec: FeatureSpec) -> dict[str, str]:
    """Raw column name -> the API field name, where the spec maps a column to another name."""
    items: list[FieldDef | FeatureDef] = [*spec.fields, *spec.features]
    return {item.source_column: item.name for item in items if item.source_column != item.name}
