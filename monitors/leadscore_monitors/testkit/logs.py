"""Writing a real Delta inference log through the sink consumer's own code path (no HTTP)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from leadscore_core.events import REQUEST_TYPE, RESPONSE_TYPE

from leadscore_monitors.cloudevent import LoggedEvent
from leadscore_monitors.settings import SinkSettings
from leadscore_monitors.sink import SinkConsumer
from leadscore_monitors.store import connect
from leadscore_monitors.testkit.events import scored_pairs


def write_log(
    tmp: Path,
    artifact: Path,
    uri: str,
    batches: list[tuple[datetime, list[dict[str, Any]]]],
    lead_keys: list[list[str]] | None = None,
) -> int:
    """Log one V2 call per record, each batch at its event time; returns rows written."""
    consumer = SinkConsumer(SinkSettings(state_dir=tmp / "sink-state", table_uri=uri))
    conn = connect(tmp / "sink-state.sqlite")
    consumer.setup(conn)
    n = 0
    for b, (when, records) in enumerate(batches):
        pairs = scored_pairs(artifact, records, batch=1)
        for i, (ce_id, req, resp) in enumerate(pairs):
            if lead_keys is not None:
                req["parameters"]["lead_keys"] = [lead_keys[b][i]]
            for ce_type, body in ((REQUEST_TYPE, req), (RESPONSE_TYPE, resp)):
                ev = LoggedEvent(id=ce_id, type=ce_type, source="test", body=body, time=when)
                conn.execute("BEGIN")
                consumer.apply(conn, ev, consumer.decode(ev))
                conn.execute("COMMIT")
                consumer.settle(True)  # what EventStore does after a durable commit
            n += 1
    consumer.flush(conn)
    conn.close()
    return n
