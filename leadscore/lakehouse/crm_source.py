"""The PostgreSQL CRM as a pipeline source, read incrementally by the ``updated_at`` watermark."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc

from leadscore.crm.db import (
    CrmSettings,
    Watermark,
    advance,
    connect,
    ensure_schema,
    read_ground_truth,
    read_new_events,
    read_new_leads,
    read_new_rejected,
    redact,
)
from leadscore.lakehouse.sources import RawBatch
from leadscore.objectstore import ObjectStore
from leadscore_core.contract import FeatureSpec

STATE_FILE = "_state/crm_watermark.json"


def _int_line(table: pa.Table) -> pa.Table:
    i = table.schema.get_field_index("_line")
    return table.set_column(i, "_line", pc.cast(table.column("_line"), pa.int64()))


def load_watermark(lake: ObjectStore) -> Watermark:
    """The watermark stored in the lake (empty on the first run)."""
    text = lake.read_text(STATE_FILE)
    return Watermark.from_json(json.loads(text)) if text is not None else Watermark()


def crm_batch(spec: FeatureSpec, lake: ObjectStore, settings: CrmSettings | None = None) -> RawBatch:
    """Rows the CRM changed since the stored watermark (plus new rejected lines and web events).

    Raises:
        CrmUnavailable: the database cannot be reached (clear message, no traceback at the CLI).
    """
    settings = settings or CrmSettings()
    wm = load_watermark(lake)
    with connect(settings) as conn:
        ensure_schema(conn, spec)
        leads = read_new_leads(conn, spec, wm)
        rejected = read_new_rejected(conn, wm)
        events = read_new_events(conn, wm) if spec.events is not None else None
        truth = read_ground_truth(conn)
    new_wm = advance(wm, leads, rejected, events if events is not None else rejected.slice(0, 0), spec)
    # keep the line number of the loaded file (``_line``) to name rows in quarantine messages
    leads = _int_line(leads).drop_columns(["_seq"])
    rejected = _int_line(rejected).drop_columns(["_seq"])
    if events is not None:
        events = pa.table({"_line": pc.cast(events.column("_seq"), pa.int64()), "raw": events.column("raw")})
    gt = None
    if truth.num_rows:
        gt = pa.table(
            {
                "lead_id": truth.column("lead_id"),
                "true_probability": pc.cast(truth.column("true_probability"), pa.float64()),
            }
        )

    def commit() -> None:
        lake.write_text(STATE_FILE, json.dumps(new_wm.to_json(), indent=2))

    return RawBatch(
        source=f"crm:{redact(settings.crm_dsn)}",
        leads=leads,
        rejected=rejected,
        events=events,
        ground_truth=gt,
        commit=commit,
        notes=[
            f"CRM watermark {wm.updated_at.isoformat() if wm.updated_at else 'none'} -> "
            f"{new_wm.updated_at.isoformat() if new_wm.updated_at else 'none'}"
        ],
    )
