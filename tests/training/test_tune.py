"""The Optuna study: in-fold pruning keeps every requested trial and judges trials inside a fold."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from rich.console import Console

from training import tune


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x[:, 0] - 0.5 * x[:, 1] - 1.5)))).astype(np.int64)
    third = n // 4
    folds = [(np.arange(0, k * third), np.arange(k * third, (k + 1) * third)) for k in (1, 2, 3)]
    return x, y, folds


@pytest.mark.parametrize(("n", "seed", "trials"), [(1500, 1, 10), (2400, 2, 12)])
def test_in_fold_pruning_runs_every_trial_and_reports_inside_folds(
    n: int, seed: int, trials: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y, folds = data(n, seed)
    studies: list[optuna.Study] = []
    real = optuna.create_study
    monkeypatch.setattr(optuna, "create_study", lambda **kw: studies.append(real(**kw)) or studies[-1])
    kw = {"n_trials": trials, "seed": seed, "n_jobs": 1, "max_rounds": 200, "early_stopping_rounds": 10}
    quiet = Console(quiet=True)
    inner = tune.run_study(x, y, folds, **kw, console=quiet, prune_every=5)  # type: ignore[arg-type]
    fold_only = tune.run_study(x, y, folds, **kw, console=quiet, prune_every=0)  # type: ignore[arg-type]
    assert inner.n_trials == fold_only.n_trials == trials  # pruning shortens trials, never skips one
    steps = {s for t in studies[0].trials for s in t.intermediate_values}
    assert any(s % 200 not in (199,) for s in steps)  # judged inside folds (every 5 rounds)
    assert {s for t in studies[1].trials for s in t.intermediate_values} <= {0, 1, 2}
    for r in (inner, fold_only):
        assert 0.5 < r.cv_auc <= 1.0 and len(r.fold_aucs) == 3 and 10 <= r.n_rounds <= 200
    # the first trials (before the pruner's start-up count) are identical: same sampler, same seed
    first = [t.params for t in studies[0].trials[:5]]
    assert first == [t.params for t in studies[1].trials[:5]]
