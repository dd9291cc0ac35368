"""One validation for both sides (issue 13): for every spec type and policy, bronze (a CSV cell through
:func:`leadscore.lakehouse.validate.check_column`) and serving (a JSON body through
:meth:`leadscore_front.front.ScoringFront.parse`) accept and refuse exactly the same values, and accepted
values come out the same. Property-based (hypothesis) over strings a CSV may hold and over JSON scalars
(compared with the text a CSV would hold for them)."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from leadscore.lakehouse.validate import check_column
from leadscore_core.contract import FeatureSpec
from leadscore_core.validation import MAX_TEXT_CHARS, canonical_text
from leadscore_front.errors import RequestError
from leadscore_front.front import ScoringFront
from leadscore_front.metrics import FrontMetrics
from leadscore_front.settings import FrontSettings

SPEC = FeatureSpec.model_validate(
    {
        "name": "every_type",
        "entity": {"id": "lead_id", "order_by": "row_order"},
        "target": {"column": "y"},
        "missing_values": ["Select"],
        "features": [
            {"name": "num", "type": "numeric", "min": -5, "max": 1000, "missing_values": ["999"]},
            {"name": "num_open", "type": "numeric", "missing": "impute", "impute": 0.0},
            {"name": "flag", "type": "boolean"},
            {"name": "flag_required", "type": "boolean", "missing": "reject"},
            {"name": "cat", "type": "categorical", "categories": ["a", "B", "1", "2.5", "true"]},
            {
                "name": "cat_fold",
                "type": "categorical",
                "categories": ["Google", "direct"],
                "case": "fold",
                "unknown": "missing",
            },
            {"name": "cat_reject", "type": "categorical", "categories": ["x", "y"], "unknown": "reject"},
            {
                "name": "cat_learned",
                "type": "categorical",
                "categories": "learn",
                "case": "fold",
                "vocabulary": ["google", "olark chat"],
            },
            {"name": "note", "type": "text"},
        ],
    }
)
FRONT = ScoringFront(SPEC, FrontSettings(rate_limit=""), FrontMetrics(CollectorRegistry(), "prop"))
BASE = {"lead_id": "L-1", **{f.name: None for f in SPEC.features}, "flag_required": True}

TOKENS = [
    "",
    " ",
    "Select",
    "select",
    "NA",
    "null",
    "None",
    "nan",
    "999",
    "999.0",
    " 12 ",
    "1e3",
    "-0",
    "inf",
    "yes",
    "No",
    "TRUE",
    "f",
    "Y",
    "1",
    "0",
    "1.0",
    "2.5",
    "a",
    "A",
    "b",
    "B",
    "Google",
    "GOOGLE",
    "google ",
    "Olark Chat",
    "x",
    "z",
    "true",
    "False",
    "12abc",
    "x" * (MAX_TEXT_CHARS + 1),
]
cells = st.one_of(
    st.sampled_from(TOKENS),
    st.builds(lambda t, up: t.upper() if up else t, st.sampled_from(TOKENS), st.booleans()),
    st.integers(-10, 2000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=8),
)
scalars = st.one_of(st.booleans(), st.integers(-10, 2000), st.floats(-1e6, 1e6), st.sampled_from([999.0, 2.5, 1.0]))


def _bronze(name: str, cell: str) -> tuple[bool, Any]:
    clean, reasons = check_column(SPEC.feature(name), pd.Series([cell], dtype=object))
    return reasons[0] is None, clean[0]


def _serve(name: str, value: Any) -> tuple[bool, Any]:
    body = json.dumps({**BASE, name: value}).encode()
    try:
        parsed = FRONT.parse(body, "r")
    except RequestError as exc:
        assert [i.field for i in exc.issues] == [name], exc.issues
        return False, None
    return True, parsed.values[0][name]


def _same(a: tuple[bool, Any], b: tuple[bool, Any]) -> bool:
    if a[0] != b[0]:
        return False
    x, y = a[1], b[1]
    if isinstance(x, float) and isinstance(y, float):
        return x == y or (math.isnan(x) and math.isnan(y))
    return x == y and type(x) is type(y)


@pytest.mark.parametrize("name", SPEC.feature_names)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cell=cells)
def test_a_csv_cell_and_the_same_json_string_get_the_same_verdict(name: str, cell: str) -> None:
    assert _same(_bronze(name, cell), _serve(name, cell)), (name, cell)


@pytest.mark.parametrize("name", SPEC.feature_names)
@settings(max_examples=80, deadline=None)
@given(value=scalars)
def test_a_json_scalar_gets_the_verdict_of_its_csv_text(name: str, value: Any) -> None:
    assert _same(_bronze(name, canonical_text(value)), _serve(name, value)), (name, value)


def test_the_decided_rules_hold_on_both_sides() -> None:
    cases = [
        ("flag", "Yes", (True, True)),
        ("flag", "nO", (True, False)),
        ("flag", "0", (True, False)),
        ("flag", "maybe", (False, None)),
        ("num", " 12 ", (True, 12.0)),
        ("num", "1e3", (True, 1000.0)),
        ("num", "999", (True, None)),
        ("num", "twelve", (False, None)),
        ("cat_fold", "GOOGLE", (True, "Google")),
        ("cat_learned", "Olark CHAT", (True, "olark chat")),
        ("cat", "Select", (True, None)),
        ("note", "x" * (MAX_TEXT_CHARS + 1), (False, None)),
    ]
    for name, cell, want in cases:
        assert _bronze(name, cell)[0] == want[0] and _serve(name, cell)[0] == want[0], (name, cell)
        if want[0]:
            assert _bronze(name, cell)[1] == want[1] == _serve(name, cell)[1], (name, cell)
