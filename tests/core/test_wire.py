"""The wire module round-trips V2 bodies and logger CloudEvents; refusals name the tensor or attribute."""

from __future__ import annotations

import numpy as np
import pytest

from leadscore_core.reasons import reasons
from leadscore_core.wire import (
    REQUEST_TYPE,
    BadEvent,
    ScoreOutputs,
    WireError,
    features_from_tensor,
    find_tensor,
    logger_event,
    outputs_from_response,
    parse_event,
    request_body,
    response_body,
)


@pytest.mark.parametrize(("n", "cols", "seed"), [(1, 5, 0), (7, 114, 1), (40, 3, 2)])
def test_v2_request_and_response_round_trip(n: int, cols: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, cols)).astype(np.float32)
    x[rng.random((n, cols)) < 0.1] = np.nan
    body = request_body(x, [f"k{i}" for i in range(n)], "req-1")
    tensor = find_tensor(body["inputs"], "features")
    back = features_from_tensor(tensor["shape"], tensor["data"], cols)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(x))
    np.testing.assert_allclose(np.nan_to_num(back), np.nan_to_num(x))
    out = ScoreOutputs(
        probability=rng.random(n),
        margin=rng.normal(size=n),
        tier=["A"] * n,
        contributions=rng.normal(size=(n, cols)),
        base_value=np.full(n, -1.5),
        model_name="lead-scoring",
        model_version="9",
    )
    decoded = outputs_from_response(response_body(out, "req-1"))
    assert decoded.model_version == "9" and decoded.tier == out.tier
    np.testing.assert_allclose(decoded.contributions, out.contributions)  # type: ignore[arg-type]
    np.testing.assert_allclose(decoded.base_value, out.base_value)  # type: ignore[arg-type]


def test_refusals_name_the_tensor() -> None:
    with pytest.raises(WireError, match="shape"):
        features_from_tensor([2, 3], [1.0] * 6, 4)
    with pytest.raises(WireError, match="infinite"):
        features_from_tensor([1, 2], [1.0, float("inf")], 2)
    with pytest.raises(WireError, match="no tensor named 'features'"):
        find_tensor([{"name": "x"}], "features")
    with pytest.raises(WireError, match="not a V2 response"):
        outputs_from_response({"outputs": [{"name": "margin", "data": [1.0]}]})


def test_logger_event_round_trip_and_refusals() -> None:
    headers, body = logger_event(
        REQUEST_TYPE,
        "id-1",
        b'{"a": 1}',
        source="http://agent/",
        inferenceservicename="m",
        namespace="ns",
        endpoint="canary",
        metadata={"X-Lead-Keys": "k1"},
    )
    ev = parse_event(headers, body, [REQUEST_TYPE])
    assert (ev.id, ev.endpoint, ev.body, ev.metadata) == ("id-1", "canary", {"a": 1}, {"X-Lead-Keys": "k1"})
    with pytest.raises(BadEvent) as err:
        parse_event({k: v for k, v in headers.items() if k != "ce-source"}, body, None)
    assert err.value.status == 400 and "ce-source" in err.value.reason
    with pytest.raises(BadEvent) as err:
        parse_event(headers, body, ["other.type"])
    assert err.value.status == 422 and err.value.kind == "unknown_type"


def test_reasons_are_stable_on_ties() -> None:
    c = np.array([[0.5, -0.5, 0.5, 0.1], [0.0, 0.0, 0.0, 0.0]])
    got = reasons(c, ["a", "b", "c", "d"], [{"a": 1}, {}], 3)
    assert [r["feature"] for r in got[0]] == ["a", "b", "c"] and got[0][1]["direction"] == "decreases"
    assert [r["feature"] for r in got[1]] == ["a", "b", "c"] and got[0][0]["value"] == 1
