"""The local stand-in of the InferenceService (the analysis' merge patches move the split as KServe moves the
revisions' traffic) and the request-by-request share of the traffic driver."""

from __future__ import annotations

from collections import Counter

import pytest

from leadscore.delivery import kube
from leadscore.local.traffic import LocalService, pick


def shares(service: LocalService, n: int = 1000) -> dict[int, int]:
    counts = Counter(pick(i, service.split(), service.latest) for i in range(n))
    return {v: counts.get(v, 0) * 100 // n for v in set(service.split()) | set(counts)}


@pytest.mark.parametrize(("stable", "candidate"), [(1, 2), (7, 12)])
def test_the_analysis_patches_move_the_split(stable: int, candidate: int) -> None:
    service = LocalService(stable)
    assert service.split() == {stable: 100} and shares(service) == {stable: 100}
    service.patch(kube.start_body(f"/store/v{candidate}", candidate, 10))
    assert service.split() == {candidate: 10, stable: 90} and shares(service) == {candidate: 10, stable: 90}
    for percent in (50, 100):
        service.patch(kube.traffic_body(percent))
        assert shares(service) == {candidate: percent, stable: 100 - percent}
    service.patch(kube.traffic_body(0))  # canary rollback: everything back to the previous revision
    assert shares(service) == {candidate: 0, stable: 100}
    assert service.get()["spec"]["predictor"]["model"]["storageUri"] == f"/store/v{candidate}"


def test_a_watch_rollback_pins_the_previous_champion_again() -> None:
    service = LocalService(1)
    service.patch(kube.start_body("/store/v2", 2, 10))
    service.patch(kube.traffic_body(100))
    service.patch(kube.start_body("/store/v1", 1, 100))  # what the analysis sends when the watch fails
    assert service.split() == {1: 100, 2: 0} and shares(service) == {1: 100, 2: 0}


@pytest.mark.parametrize("percent", [0, 1, 10, 33, 50, 99, 100])
def test_every_hundred_consecutive_requests_hold_the_exact_share(percent: int) -> None:
    split = {2: percent, 1: 100 - percent}
    for start in (0, 17, 250):
        window = [pick(i, split, 2) for i in range(start, start + 100)]
        assert window.count(2) == percent
