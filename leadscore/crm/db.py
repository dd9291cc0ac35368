"""The PostgreSQL CRM: connection settings, table layout and incremental reads.

Tables (created by :func:`ensure_schema`, driven by the feature spec):

- ``leads``: one text column per CRM export column (raw values, so nothing is lost or coerced before
  bronze validates it), ``updated_at`` as ``timestamptz`` (the incremental watermark), ``_seq``
  (load order, the watermark's tie-breaker), ``_load_id``, ``_line`` (line in the loaded file);
- ``leads_rejected``: CSV lines that could not become a ``leads`` row (wrong field count, no usable
  ``updated_at``), kept verbatim with the reason so bronze quarantines them;
- ``web_events``: raw JSON lines (bronze parses and validates them);
- ``ground_truth``: ``lead_id, true_probability`` of synthetic data;
- ``crm_loads``: one row per loaded file (sha256), so loading the same file twice adds nothing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg import sql

from leadscore_core.contract import FeatureSpec
from leadscore_core.settings import CrmSettings


class CrmUnavailable(RuntimeError):
    """The CRM database cannot be reached (or refuses the connection)."""


def redact(dsn: str) -> str:
    """The DSN without its password, for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    host, port, db = info.get("host", "localhost"), info.get("port", "5432"), info.get("dbname", "")
    return f"postgresql://{info.get('user', '')}@{host}:{port}/{db}"


def connect(settings: CrmSettings) -> psycopg.Connection[Any]:
    """Open a connection to the CRM.

    Raises:
        CrmUnavailable: with the (password-free) DSN and the server's reason.
    """
    try:
        return psycopg.connect(
            settings.crm_dsn,
            connect_timeout=settings.crm_connect_timeout,
            options=f"-c statement_timeout={settings.crm_statement_timeout_ms}",
        )
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CrmUnavailable(
            f"CRM database unreachable at {redact(settings.crm_dsn)}: {reason}. "
            "Start PostgreSQL or set LEADSCORE_CRM_DSN (or use `pipeline run --source files DIR`)."
        ) from None


def export_columns(spec: FeatureSpec) -> list[str]:
    """CRM export columns: id, timestamps, target, other fields, then each CRM feature's source column."""
    head = [spec.id_column, spec.timestamp_column]
    if spec.entity.updated_at:
        head.append(spec.entity.updated_at)
    head.append(spec.target.column)
    if spec.target.timestamp:
        head.append(spec.target.timestamp)
    head += [f.source_column for f in spec.fields if f.source_column not in head]
    return head + [f.source_column for f in spec.crm_features if f.source_column not in head]


def watermark_column(spec: FeatureSpec) -> str:
    """The column the pipeline's incremental read follows."""
    if not spec.entity.updated_at:
        raise ValueError(f"spec {spec.name!r} has no entity.updated_at: it cannot be read incrementally from a CRM")
    return spec.entity.updated_at


def ensure_schema(conn: psycopg.Connection[Any], spec: FeatureSpec) -> None:
    """Create the CRM tables if they do not exist (idempotent)."""
    wm = watermark_column(spec)
    cols = [
        sql.SQL("{} timestamptz NOT NULL").format(sql.Identifier(c))
        if c == wm
        else sql.SQL("{} text").format(sql.Identifier(c))
        for c in export_columns(spec)
    ]
    stmts: list[sql.SQL | sql.Composed] = [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS crm_loads (load_id serial PRIMARY KEY, kind text NOT NULL, "
            "sha256 text NOT NULL, path text, rows bigint, loaded_at timestamptz DEFAULT now(), "
            "UNIQUE (kind, sha256))"
        ),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS leads (_seq bigserial PRIMARY KEY, {}, _load_id int, _line bigint, "
            "_loaded_at timestamptz DEFAULT now())"
        ).format(sql.SQL(", ").join(cols)),
        sql.SQL("CREATE INDEX IF NOT EXISTS leads_watermark ON leads ({}, _seq)").format(sql.Identifier(wm)),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS leads_rejected (_seq bigserial PRIMARY KEY, _load_id int, "
            "_line bigint, raw text, reason text, _loaded_at timestamptz DEFAULT now())"
        ),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS web_events (_seq bigserial PRIMARY KEY, _load_id int, raw text, "
            "_loaded_at timestamptz DEFAULT now())"
        ),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS ground_truth (lead_id text PRIMARY KEY, "
            "true_probability double precision NOT NULL)"
        ),
    ]
    with conn.cursor() as cur:
        for stmt in stmts:
            cur.execute(stmt)
    conn.commit()


@dataclass(frozen=True)
class Watermark:
    """Position of the last ingested CRM rows.

    ``leads`` rows are new when they were *changed* after ``(updated_at, leads_seq)`` (an in-place update
    moves ``updated_at`` forward) **or** *inserted* after ``max_seq`` (``_seq`` is the insert order, so a
    row whose ``updated_at`` is older than the watermark, e.g. a late sync or a backfill, is still read
    once). The other tables are append-only and follow ``_seq``.
    """

    updated_at: datetime | None = None
    leads_seq: int = 0
    """``_seq`` of the last row read at ``updated_at`` (tie-breaker between equal timestamps)."""
    rejected_seq: int = 0
    events_seq: int = 0
    max_seq: int = 0
    """Highest ``leads._seq`` read so far."""

    def to_json(self) -> dict[str, Any]:
        """JSON-able form for ``_state/``."""
        return {
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "leads_seq": self.leads_seq,
            "rejected_seq": self.rejected_seq,
            "events_seq": self.events_seq,
            "max_seq": self.max_seq,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Watermark:
        """Inverse of :meth:`to_json` (a state written before ``max_seq`` existed reads it as ``leads_seq``)."""
        ts = data.get("updated_at")
        leads_seq = int(data.get("leads_seq", 0))
        return cls(
            updated_at=datetime.fromisoformat(ts) if ts else None,
            leads_seq=leads_seq,
            rejected_seq=int(data.get("rejected_seq", 0)),
            events_seq=int(data.get("events_seq", 0)),
            max_seq=int(data.get("max_seq", leads_seq)),
        )


def _copy_out(conn: psycopg.Connection[Any], query: sql.Composable, columns: list[str]) -> pa.Table:
    buf = io.BytesIO()
    with (
        conn.cursor() as cur,
        cur.copy(sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER false)").format(query)) as copy,
    ):
        for chunk in copy:
            buf.write(chunk)
    if buf.tell() == 0:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    buf.seek(0)
    return pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=columns),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()), strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )


def read_new_leads(conn: psycopg.Connection[Any], spec: FeatureSpec, wm: Watermark) -> pa.Table:
    """CRM rows changed or inserted after the watermark (see :class:`Watermark`), as text columns plus
    ``_seq`` and ``_line`` (strings), ordered by ``updated_at`` then ``_seq``."""
    wmc = watermark_column(spec)
    cols = export_columns(spec)
    select = [
        sql.SQL("to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')").format(c=sql.Identifier(c))
        if c == wmc
        else sql.Identifier(c)
        for c in cols
    ]
    where: sql.Composable = sql.SQL("TRUE")
    if wm.updated_at is not None:
        where = sql.SQL("({w} > {ts} OR ({w} = {ts} AND _seq > {seq}) OR _seq > {max_seq})").format(
            w=sql.Identifier(wmc),
            ts=sql.Literal(wm.updated_at),
            seq=sql.Literal(wm.leads_seq),
            max_seq=sql.Literal(wm.max_seq),
        )
    query = sql.SQL("SELECT {}, _seq, _line FROM leads WHERE {} ORDER BY {}, _seq").format(
        sql.SQL(", ").join(select), where, sql.Identifier(wmc)
    )
    return _copy_out(conn, query, [*cols, "_seq", "_line"])


def read_new_rejected(conn: psycopg.Connection[Any], wm: Watermark) -> pa.Table:
    """Rejected CSV lines loaded after the watermark: ``_seq, _line, raw, reason``."""
    query = sql.SQL("SELECT _seq, _line, raw, reason FROM leads_rejected WHERE _seq > {} ORDER BY _seq").format(
        sql.Literal(wm.rejected_seq)
    )
    return _copy_out(conn, query, ["_seq", "_line", "raw", "reason"])


def read_new_events(conn: psycopg.Connection[Any], wm: Watermark) -> pa.Table:
    """Raw web-event lines loaded after the watermark: ``_seq, raw``."""
    query = sql.SQL("SELECT _seq, raw FROM web_events WHERE _seq > {} ORDER BY _seq").format(sql.Literal(wm.events_seq))
    return _copy_out(conn, query, ["_seq", "raw"])


def read_ground_truth(conn: psycopg.Connection[Any]) -> pa.Table:
    """The whole ``ground_truth`` table (``lead_id``, ``true_probability`` as text)."""
    return _copy_out(
        conn, sql.SQL("SELECT lead_id, true_probability FROM ground_truth"), ["lead_id", "true_probability"]
    )


def advance(wm: Watermark, leads: pa.Table, rejected: pa.Table, events: pa.Table, spec: FeatureSpec) -> Watermark:
    """The watermark after ingesting the given batch (unchanged parts stay).

    ``updated_at``/``leads_seq`` never move backwards: a back-dated row read through ``max_seq`` sorts
    first in the batch and must not pull the change watermark back.
    """
    updated_at, leads_seq, max_seq = wm.updated_at, wm.leads_seq, wm.max_seq
    if leads.num_rows:
        last = leads.slice(leads.num_rows - 1).to_pylist()[0]
        last_ts = datetime.fromisoformat(last[watermark_column(spec)].replace("Z", "+00:00"))
        if updated_at is None or (last_ts, int(last["_seq"])) > (updated_at, leads_seq):
            updated_at, leads_seq = last_ts, int(last["_seq"])
        max_seq = max(max_seq, max(int(x) for x in leads.column("_seq").to_pylist()))
    rejected_seq = max([wm.rejected_seq, *(int(s) for s in rejected.column("_seq").to_pylist()[-1:])])
    events_seq = max([wm.events_seq, *(int(s) for s in events.column("_seq").to_pylist()[-1:])])
    return Watermark(
        updated_at=updated_at, leads_seq=leads_seq, rejected_seq=rejected_seq, events_seq=events_seq, max_seq=max_seq
    )
