"""The lake's table names and the keys every gold commit carries: the one home of both.

Tables live under the lake root as ``<layer>/<name>`` Delta tables (:data:`TABLES`). Every commit the
medallion writes carries :func:`commit_metadata`: the batch id, the source and the **spec record** (name,
fingerprint and the spec itself as JSON). Training reads the spec gold was built with from the commit
of the pinned gold version with :func:`spec_record`, and nothing else: no guessing from run files or
defaults. :func:`check_spec` is the refusal when a spec changed after gold was built.

Public names: the table constants, :data:`COMMIT_KEYS`, :class:`SpecRecord`, :func:`commit_metadata`,
:func:`spec_record`, :func:`check_spec`, :class:`SpecMismatch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadscore_core.contract import FeatureSpec, spec_from_json

BRONZE_LEADS = "bronze/crm_leads"
BRONZE_EVENTS = "bronze/web_events"
QUARANTINE = "bronze/quarantine"
SILVER_LEADS = "silver/leads"
SILVER_EVENTS = "silver/web_events"
GOLD_FEATURES = "gold/lead_features"
"""The training table: one row per lead, ``lead_id, event_ts, event_order, label, label_ts, <features>, _batch_id``
(``event_order``: the spec's time order as a number; ``event_ts`` is null when the order is not a time)."""
GOLD_TRUTH = "gold/ground_truth"
"""``lead_id, true_probability`` (synthetic data only)."""
GOLD_SCORES = "gold/lead_scores"
"""Batch scores of the champion: ``lead_id, score, probability, tier, reasons, model_version, gold_version,
scored_at`` (``leadscore batch score``; overwritten per run, one row per lead)."""
INFERENCE_LOG = "bronze/inference_log"
"""The payload log the monitors' sink writes (one row per scored lead; joined request/response)."""
TABLES = (BRONZE_LEADS, BRONZE_EVENTS, QUARANTINE, SILVER_LEADS, SILVER_EVENTS, GOLD_FEATURES, GOLD_TRUTH)
RUNS_DIR = "_runs"
"""Directory of the pipeline's run reports (``_runs/<batch_id>.json``) under the lake root."""

BATCH_ID = "batch_id"
SOURCE = "source"
SPEC_NAME = "leadscore.spec_name"
SPEC_FINGERPRINT = "leadscore.spec_fingerprint"
""":meth:`FeatureSpec.fingerprint`: a stable hash of the spec's content."""
SPEC_JSON = "leadscore.spec_json"
"""The whole spec as JSON, so training needs no copy of the spec file."""
COMMIT_KEYS = (BATCH_ID, SOURCE, SPEC_NAME, SPEC_FINGERPRINT, SPEC_JSON)
"""Keys of every commit the medallion writes (Delta commit ``custom_metadata`` / ``userMetadata``)."""


class SpecMismatch(ValueError):
    """The spec at hand is not the one gold was built with (or gold records none)."""


@dataclass(frozen=True)
class SpecRecord:
    """The spec a gold commit was built with."""

    name: str
    fingerprint: str
    spec: FeatureSpec
    """The spec as recorded in the commit (its content, whatever file it came from)."""


def commit_metadata(spec: FeatureSpec, batch_id: str, source: str) -> dict[str, str]:
    """The commit metadata of a medallion write: batch, source and the spec record."""
    return {
        BATCH_ID: batch_id,
        SOURCE: source,
        SPEC_NAME: spec.name,
        SPEC_FINGERPRINT: spec.fingerprint(),
        SPEC_JSON: spec.model_dump_json(),
    }


def spec_record(commit: Mapping[str, Any], where: str) -> SpecRecord:
    """The :class:`SpecRecord` of one commit (a Delta history entry or its custom metadata).

    Raises:
        SpecMismatch: the commit records no spec, or a record that does not hold together (``where``
            names the table version in the message).
    """
    missing = [k for k in (SPEC_NAME, SPEC_FINGERPRINT, SPEC_JSON) if not commit.get(k)]
    if missing:
        raise SpecMismatch(
            f"{where} records no feature spec (commit keys {missing} missing): it was not written by "
            "`leadscore pipeline run`, or by an older one; rebuild gold with `leadscore pipeline run`"
        )
    try:
        spec = spec_from_json(str(commit[SPEC_JSON]))
    except ValueError as exc:
        raise SpecMismatch(f"{where}: the recorded spec ({SPEC_JSON}) is not a valid spec: {exc}") from exc
    name, fingerprint = str(commit[SPEC_NAME]), str(commit[SPEC_FINGERPRINT])
    if spec.name != name or spec.fingerprint() != fingerprint:
        raise SpecMismatch(
            f"{where}: the recorded spec is {spec.name!r} ({spec.fingerprint()}) but the commit says {name!r} "
            f"({fingerprint}); rebuild gold with `leadscore pipeline run`"
        )
    return SpecRecord(name=name, fingerprint=fingerprint, spec=spec)


def check_spec(record: SpecRecord, spec: FeatureSpec, where: str) -> None:
    """Refuse ``spec`` unless it is, by content, the spec gold was built with.

    Raises:
        SpecMismatch: another name, or the same name with a different fingerprint (edited after gold).
    """
    if spec.name != record.name:
        raise SpecMismatch(
            f"spec {spec.name!r} is not the spec {record.name!r} that {where} was built with; "
            "train without --spec (gold records its spec) or rebuild gold with this spec"
        )
    if spec.fingerprint() != record.fingerprint:
        raise SpecMismatch(
            f"spec {spec.name!r} changed after {where} was built: fingerprint {spec.fingerprint()}, gold was "
            f"built with {record.fingerprint}; rebuild gold with `leadscore pipeline run --spec {spec.name}` "
            "or restore the spec as it was"
        )
