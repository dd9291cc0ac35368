"""A bronze Delta inference log as the monitors' sink writes it (cleaned features + the served score, tier
and version, the hashed lead key, the date partition), for the replay tests and the local canary loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
from deltalake import write_deltalake

from leadscore_core.artifact import LeadScorer
from leadscore_core.contract import load_spec
from leadscore_core.validation import check_record


def write_log(uri: Path, served_by: Path, n: int, seed: int, day: str, version: str = "1") -> None:
    """What the sink writes for scored leads: cleaned features + the served score, tier and version."""
    from leadscore_core import testkit as tiny

    spec = load_spec("crm_freezone")
    records = [r.values for r in (check_record(spec, raw) for raw in tiny.random_leads(spec, n, seed)) if r.ok]
    scorer = LeadScorer(served_by).load()
    assert scorer.encoder is not None
    batch = scorer.score(scorer.encoder.encode_records(records))
    cols: dict[str, pa.Array] = {}
    for f in spec.features:
        kind = {"numeric": pa.float64(), "boolean": pa.bool_()}.get(f.type, pa.string())
        cols[f.name] = pa.array([r[f.name] for r in records], type=kind)
    m = len(records)
    cols["score"] = pa.array(np.rint(batch.probability * 100).astype(np.int32))
    cols["tier"] = pa.array(batch.tier, type=pa.string())
    cols["model_version"] = pa.array([version] * m, type=pa.string())
    cols["lead_key"] = pa.array([f"k{seed}-{i}" for i in range(m)], type=pa.string())
    cols["date"] = pa.array([day] * m, type=pa.string())
    write_deltalake(str(uri), pa.table(cols), mode="append", partition_by=["date"])
