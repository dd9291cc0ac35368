"""``unique_leads``: one row per lead, the first one, in the order they came."""

from __future__ import annotations

import pyarrow as pa

from leadscore.batch.score import unique_leads


def test_unique_leads_keeps_the_first_row_of_each_lead() -> None:
    table = pa.table({"lead_id": ["a", "b", "a", "c", "b"], "score": [1, 2, 3, 4, 5]})
    assert unique_leads(table).to_pydict() == {"lead_id": ["a", "b", "c"], "score": [1, 2, 4]}


def test_unique_leads_leaves_unique_rows_alone() -> None:
    table = pa.table({"lead_id": ["c", "a", "b"], "score": [1, 2, 3]})
    assert unique_leads(table) is table
