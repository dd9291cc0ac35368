"""The Optuna study: in-fold pruning keeps every requested trial and judges trials inside a fold."""

from __future__ import annotations

import warnings

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


@pytest.mark.parametrize(("n", "seed"), [(1200, 3), (2000, 4)])
def test_fold_end_is_judged_on_the_fold_auc_when_a_fold_runs_to_max_rounds(
    n: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # no early stop (patience > rounds) and max_rounds a multiple of prune_every: the in-fold callback and the
    # fold-end report would both claim step (fold + 1) * max_rounds - 1; the fold AUC must be the one recorded
    x, y, folds = data(n, seed)
    studies: list[optuna.Study] = []
    real = optuna.create_study
    monkeypatch.setattr(optuna, "create_study", lambda **kw: studies.append(real(**kw)) or studies[-1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # optuna warns (and ignores the value) on a step reported twice
        tune.run_study(
            x,
            y,
            folds,
            n_trials=6,
            seed=seed,
            n_jobs=1,
            max_rounds=20,
            early_stopping_rounds=1000,
            console=Console(quiet=True),
            prune_every=5,
        )
    done = [t for t in studies[0].trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert done
    for t in done:
        for k, fold_auc in enumerate(t.user_attrs["fold_aucs"]):
            assert t.intermediate_values[(k + 1) * 20 - 1] == pytest.approx(fold_auc)
