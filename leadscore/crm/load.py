"""``leadscore crm load``: put a raw export (leads.csv, web_events.jsonl, ground_truth.csv) into the CRM.

Rows go in with PostgreSQL ``COPY``. A CSV line that cannot become a ``leads`` row (wrong number of
fields, no usable ``updated_at``) is kept verbatim in ``leads_rejected`` with the reason, so bronze
quarantines it and the counts reconcile; nothing is dropped. Each file is recorded by its sha256 in
``crm_loads``: loading the same file again adds nothing (``replace`` empties the tables first).
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from leadscore.crm.db import ensure_schema, export_columns, watermark_column
from leadscore_core.contract import FeatureSpec

CRM_TABLES = ("leads", "leads_rejected", "web_events", "ground_truth", "crm_loads")


@dataclass
class LoadReport:
    """What one ``crm load`` did."""

    leads: int = 0
    rejected: int = 0
    events: int = 0
    ground_truth: int = 0
    skipped: list[str] = field(default_factory=list)
    """Files already loaded earlier (same sha256)."""
    rejected_reasons: dict[str, int] = field(default_factory=dict)


def sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(4 << 20):
            h.update(block)
    return h.hexdigest()


def _register(cur: psycopg.Cursor[Any], kind: str, path: Path) -> int | None:
    """Record the file; None when this exact file was loaded before."""
    cur.execute(
        "INSERT INTO crm_loads (kind, sha256, path) VALUES (%s, %s, %s) "
        "ON CONFLICT (kind, sha256) DO NOTHING RETURNING load_id",
        (kind, sha256(path), str(path)),
    )
    row = cur.fetchone()
    return int(row[0]) if row else None


def _parse_ts(text: str) -> datetime | None:
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return ts if ts.tzinfo is not None else None


def load_leads(cur: psycopg.Cursor[Any], spec: FeatureSpec, path: Path, report: LoadReport) -> None:
    """COPY ``leads.csv`` into ``leads``; unusable lines into ``leads_rejected`` with the reason."""
    load_id = _register(cur, "leads", path)
    if load_id is None:
        report.skipped.append(str(path))
        return
    cols = export_columns(spec)
    wm = watermark_column(spec)
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=spec.csv.delimiter, quotechar=spec.csv.quotechar)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: empty file (no header)")
        header = [h.strip() for h in header]
        missing = [c for c in cols if c not in header]
        if missing:
            raise ValueError(f"{path}: header lacks column(s) {', '.join(missing)} required by spec {spec.name!r}")
        index = [header.index(c) for c in cols]
        wm_i = header.index(wm)
        rejected: list[tuple[int, int, str, str]] = []
        target = sql.SQL("COPY leads ({}, _load_id, _line) FROM STDIN").format(
            sql.SQL(", ").join(map(sql.Identifier, cols))
        )
        with cur.copy(target) as copy:
            for row in reader:
                line = reader.line_num
                if not row or row == [""]:
                    continue
                reason = None
                if len(row) != len(header):
                    reason = f"malformed CSV line: expected {len(header)} fields, got {len(row)}"
                elif (ts := _parse_ts(row[wm_i])) is None:
                    reason = f"{wm}: not a timestamp with time zone: {row[wm_i][:40]!r}"
                if reason is not None:
                    raw = spec.csv.delimiter.join(row)
                    rejected.append((load_id, line, raw, reason))
                    key = reason.split(":")[0]
                    report.rejected_reasons[key] = report.rejected_reasons.get(key, 0) + 1
                    continue
                copy.write_row([ts if i == wm_i else row[i] for i in index] + [load_id, line])
                report.leads += 1
    if rejected:
        with cur.copy("COPY leads_rejected (_load_id, _line, raw, reason) FROM STDIN") as copy:
            for rec in rejected:
                copy.write_row(rec)
        report.rejected += len(rejected)
    cur.execute("UPDATE crm_loads SET rows = %s WHERE load_id = %s", (report.leads + len(rejected), load_id))


def _copy_text(data: bytes) -> bytes:
    """Escape raw text for COPY's text format (one value per line)."""
    return data.replace(b"\\", b"\\\\").replace(b"\t", b"\\t").replace(b"\r", b"\\r")


def load_events(cur: psycopg.Cursor[Any], path: Path, report: LoadReport) -> None:
    """COPY every non-blank line of ``web_events.jsonl`` verbatim into ``web_events``."""
    load_id = _register(cur, "web_events", path)
    if load_id is None:
        report.skipped.append(str(path))
        return
    data = path.read_bytes().decode("utf-8", errors="replace").encode("utf-8")
    lines = [ln for ln in _copy_text(data).split(b"\n") if ln.strip()]
    prefix = f"{load_id}\t".encode()
    with cur.copy("COPY web_events (_load_id, raw) FROM STDIN") as copy:
        step = 200_000
        for i in range(0, len(lines), step):
            copy.write(prefix + (b"\n" + prefix).join(lines[i : i + step]) + b"\n")
    report.events += len(lines)
    cur.execute("UPDATE crm_loads SET rows = %s WHERE load_id = %s", (len(lines), load_id))


def load_ground_truth(cur: psycopg.Cursor[Any], path: Path, report: LoadReport) -> None:
    """Upsert ``ground_truth.csv`` into ``ground_truth``."""
    if _register(cur, "ground_truth", path) is None:
        report.skipped.append(str(path))
        return
    cur.execute("CREATE TEMP TABLE gt_stage (lead_id text, true_probability double precision) ON COMMIT DROP")
    with cur.copy("COPY gt_stage FROM STDIN WITH (FORMAT csv, HEADER true)") as copy, open(path, "rb") as fh:
        while block := fh.read(4 << 20):
            copy.write(block)
    cur.execute(
        "INSERT INTO ground_truth SELECT DISTINCT ON (lead_id) lead_id, true_probability FROM gt_stage "
        "ORDER BY lead_id ON CONFLICT (lead_id) DO UPDATE SET true_probability = EXCLUDED.true_probability"
    )
    report.ground_truth += cur.rowcount


def load_dir(conn: psycopg.Connection[Any], spec: FeatureSpec, src: Path, replace: bool = False) -> LoadReport:
    """Load ``src/leads.csv`` (required), ``web_events.jsonl`` and ``ground_truth.csv`` (if present).

    Args:
        conn: an open CRM connection.
        spec: the feature contract (table layout).
        src: the raw data directory (``leadscore data generate --out``).
        replace: empty the CRM tables first.

    Returns:
        Row counts per table and the files skipped as already loaded. All-or-nothing: one transaction.
    """
    leads = src / "leads.csv"
    if not leads.is_file():
        raise FileNotFoundError(f"{leads}: no such file (expected a `leadscore data generate` directory)")
    ensure_schema(conn, spec)
    report = LoadReport()
    with conn.transaction(), conn.cursor() as cur:
        if replace:
            cur.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(sql.Identifier, CRM_TABLES))))
        load_leads(cur, spec, leads, report)
        if (src / "web_events.jsonl").is_file():
            load_events(cur, src / "web_events.jsonl", report)
        if (src / "ground_truth.csv").is_file():
            load_ground_truth(cur, src / "ground_truth.csv", report)
    return report
