"""Per-layer counts of a run that reconcile: rows in = rows out + quarantined + duplicates removed.

The run report is printed (rich table on stderr, or one JSON object on stdout with ``--json``) and
stored as ``<lake>/_runs/<batch_id>.json``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from leadscore_core.lake import BRONZE_LEADS, RUNS_DIR, SILVER_LEADS

if TYPE_CHECKING:
    from leadscore.objectstore import ObjectStore


@dataclass
class LayerCounts:
    """What one table did with one batch."""

    rows_in: int = 0
    rows_out: int = 0
    quarantined: int = 0
    duplicates: int = 0
    note: str = ""

    @property
    def reconciles(self) -> bool:
        """``in == out + quarantined + duplicates``."""
        return self.rows_in == self.rows_out + self.quarantined + self.duplicates

    def to_json(self) -> dict[str, Any]:
        """JSON-able form (``in``/``out`` keys)."""
        out: dict[str, Any] = {
            "in": self.rows_in,
            "out": self.rows_out,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "reconciles": self.reconciles,
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass
class RunReport:
    """Everything a pipeline run did."""

    batch_id: str
    spec: str
    source: str
    lake: str
    engine: str
    started_at: str
    finished_at: str = ""
    seconds: float = 0.0
    counts: dict[str, LayerCounts] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    """Current Delta version per table after the run."""
    written: list[str] = field(default_factory=list)
    """Tables this run committed a new version to."""
    gates: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per pipeline step."""
    status: str = "ok"
    """``ok`` or ``failed`` (a quality gate failed: only the quarantine was written, the source state kept)."""
    failed_gate: dict[str, Any] | None = None
    """The first failed gate (``check``, ``ok``, ``detail``)."""
    top_reasons: list[dict[str, Any]] = field(default_factory=list)
    """Most common quarantine reasons of the batch: ``reason``, ``field``, ``count``, ``examples`` (raw rows)."""
    time_order: str = ""
    """What defines "latest" for this spec (``FeatureSpec.time_order``)."""

    @property
    def reconciled(self) -> bool:
        """Every layer reconciles, and leads reconcile end to end (bronze in = silver out + rejects)."""
        ok = all(c.reconciles for c in self.counts.values())
        bronze, silver = self.counts.get(BRONZE_LEADS), self.counts.get(SILVER_LEADS)
        if bronze and silver:
            ok = ok and bronze.rows_in == silver.rows_out + bronze.quarantined + silver.duplicates
        return ok

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object."""
        data = asdict(self)
        data["counts"] = {k: v.to_json() for k, v in self.counts.items()}
        data["reconciled"] = self.reconciled
        return data

    def save(self, lake: ObjectStore) -> str:
        """Write ``<lake>/_runs/<batch_id>.json``; returns its location."""
        return lake.write_text(
            f"{RUNS_DIR}/{self.batch_id}.json", json.dumps(self.to_json(), indent=2, default=str) + "\n"
        )

    def print(self, console: Console) -> None:
        """Rich table of counts and versions."""
        table = Table(title=f"pipeline run {self.batch_id} ({self.spec}, {self.source}, {self.engine})")
        for col in ("table", "in", "out", "quarantined", "duplicates", "reconciles", "delta version", "written"):
            table.add_column(col, justify="left" if col == "table" else "right", no_wrap=True)
        names = list(dict.fromkeys([*self.counts, *self.versions]))
        for name in names:
            c = self.counts.get(name)
            cells = (
                [
                    f"{c.rows_in:,}",
                    f"{c.rows_out:,}",
                    f"{c.quarantined:,}",
                    f"{c.duplicates:,}",
                    "yes" if c.reconciles else "[red]NO[/red]",
                ]
                if c
                else ["", "", "", "", ""]
            )
            version = self.versions.get(name)
            table.add_row(name, *cells, "" if version is None else str(version), "yes" if name in self.written else "")
        console.print(table)
        failed = [g for g in self.gates if not g["ok"]]
        console.print(
            f"quality gates: {len(self.gates) - len(failed)}/{len(self.gates)} passed; "
            f"reconciled: {'yes' if self.reconciled else 'NO'}; {self.seconds:.1f}s"
        )
        if self.time_order:
            console.print(f"  time order: {self.time_order}")
        for r in self.top_reasons:
            example = r["examples"][0][:160] if r["examples"] else ""
            console.print(f"  quarantined {r['count']:,}x {r['reason']}  e.g. {example}", markup=False)
        for note in self.notes:
            console.print(f"  {note}")
