"""``leadscore train``: gold version -> tuned, calibrated, evaluated model -> gated registry version."""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from rich.console import Console

from leadscore.registry.registry import Registry
from leadscore_core.artifact import Calibrator
from leadscore_core.contract import FeatureSpec, TimeOrder
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.settings import HomeSettings
from leadscore_core.storage import StorageUri
from training import calibrate, gate, gold, plots, split, tune
from training.bundle import build_artifact, per_feature_importance, resolve_vocabularies
from training.errors import RegistryError
from training.evaluate import evaluate
from training.features import dmatrix, encode_frame, feature_columns
from training.logging_model import log_pyfunc
from training.provenance import Provenance
from training.settings import TrainingSettings
from training.tracking import check_artifact_store, ensure_experiment, git_sha, lock_hash

HEADLINE = ("auc", "pr_auc", "brier", "log_loss", "ece", "top_decile_lift", "oracle_auc", "auc_to_oracle")


@dataclass
class TrainRequest:
    lake: StorageUri | Path | str
    """Lake root: a local path or ``s3://bucket/prefix``."""
    table: str = gold.DEFAULT_TABLE
    version: int | None = None
    spec: str | None = None
    trials: int | None = None
    holdout: float | None = None
    seed: int | None = None
    run_tags: dict[str, str] = field(default_factory=dict)
    """Extra MLflow run tags, e.g. ``retrain_reason`` / ``retrain_evidence`` from the retraining workflow."""


def _log_plots(
    directory: Path,
    y: np.ndarray,
    p: np.ndarray,
    metrics: dict[str, float],
    oracle: np.ndarray | None,
    importance: dict[str, float],
    contributions: np.ndarray,
    names: list[str],
    values: dict[str, Any],
) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    plots.roc_plot(y, p, metrics["auc"], directory / "roc.png", oracle)
    plots.pr_plot(y, p, metrics["pr_auc"], directory / "pr.png")
    plots.calibration_plot(y, p, metrics["ece"], directory / "calibration.png")
    plots.lift_gain_plot(y, p, directory / "lift_gain.png")
    plots.importance_plot(importance, directory / "feature_importance.png")
    plots.shap_summary_plot(contributions, names, values, directory / "shap_summary.png")


@dataclass
class Fitted:
    """A tuned, calibrated booster and what it was fitted on (:func:`fit`)."""

    data: gold.GoldData
    spec: FeatureSpec
    """The gold spec with the vocabularies learned on the training part filled in (what is served)."""
    vocabularies: dict[str, list[str]]
    """The learned vocabularies (``categories: learn`` features) stored in the artifact's manifest."""
    order: TimeOrder
    """The time order that defined "latest" (the holdout)."""
    encoder: FeatureEncoder
    x: np.ndarray
    y: np.ndarray
    ts: split.TimeSplit
    study: tune.StudyResult
    booster: xgb.Booster
    calibrator: Calibrator
    slice_auc: float
    prob: np.ndarray
    """Calibrated probability of every gold row."""
    cutoffs: dict[str, float]
    seed: int
    trials: int
    holdout_share: float


@dataclass
class Evaluation:
    """Holdout metrics of a :class:`Fitted` model and the gate's decision."""

    metrics: dict[str, float]
    oracle: np.ndarray | None
    holdout: Any
    y_hold: np.ndarray
    decision: gate.GateDecision


def fit(request: TrainRequest, settings: TrainingSettings, console: Console) -> Fitted:
    """Read the pinned gold version, split by time, tune, fit, calibrate and (by default) refit."""
    trials = request.trials or settings.trials
    holdout_share = request.holdout if request.holdout is not None else settings.holdout
    seed = settings.seed if request.seed is None else request.seed
    data = gold.read_gold(request.lake, request.table, request.version, request.spec)
    spec, frame = data.spec, data.frame
    order = split.require_time_order(spec)
    console.print(f"gold {data.table_path} v{data.version}: {len(frame)} leads, spec {spec.name} ({data.spec_source})")
    console.print(f"time order: {order.describe()}")
    y = frame["label"].to_numpy(dtype=np.int64)
    ts = split.time_split(len(frame), holdout_share, settings.calibration_fraction)
    enough = ts.train_end > settings.cv_folds + 1
    folds = split.cv_folds(ts.train_end, settings.cv_folds, settings.cv_scheme) if enough else []
    split.check_target(y, ts, folds, settings.min_rows, settings.min_positives)
    spec, vocabularies = resolve_vocabularies(spec, feature_columns(frame.iloc[ts.train], spec))
    encoder = FeatureEncoder(spec)
    x = encode_frame(encoder, frame)
    types = encoder.feature_types if encoder.categorical else None
    study = tune.run_study(
        x[ts.train],
        y[ts.train],
        folds,
        n_trials=trials,
        seed=seed,
        n_jobs=settings.n_jobs if ts.train_end >= settings.threads_min_rows else 1,
        max_rounds=settings.max_rounds,
        early_stopping_rounds=settings.early_stopping_rounds,
        console=console,
        feature_types=types,
        prune_every=settings.prune_every,
    )
    # calibrate on the latest slice of the training part with a booster that never saw it, then (by
    # default) refit the served booster on the whole training part: the newest leads are the ones most
    # like tomorrow's, and leaving them out costs most where the data moves (docs/bank-marketing.md)
    booster = tune.fit_final(x[ts.fit], y[ts.fit], study.params, study.n_rounds, types)
    raw_slice = calibrate.sigmoid(booster.predict(dmatrix(encoder, x[ts.calibration]), output_margin=True))
    calibrator = calibrate.fit_calibrator(raw_slice, y[ts.calibration])
    slice_auc = float(gate.auc(y[ts.calibration], calibrator(raw_slice)))
    if settings.refit:
        booster = tune.fit_final(x[ts.train], y[ts.train], study.params, study.n_rounds, types)
    prob = calibrator(calibrate.sigmoid(booster.predict(dmatrix(encoder, x), output_margin=True)))
    cutoffs = calibrate.tier_cutoffs(spec, prob[ts.train])
    return Fitted(
        data,
        spec,
        vocabularies,
        order,
        encoder,
        x,
        y,
        ts,
        study,
        booster,
        calibrator,
        slice_auc,
        prob,
        cutoffs,
        seed,
        trials,
        holdout_share,
    )


def evaluate_model(
    fitted: Fitted, lake: StorageUri | Path | str, registry: Registry, settings: TrainingSettings, console: Console
) -> Evaluation:
    """Holdout metrics (with the oracle AUC on synthetic data) and the promotion gate vs the champion."""
    ts, data = fitted.ts, fitted.data
    holdout = data.frame.iloc[ts.holdout]
    y_hold = fitted.y[ts.holdout]
    truth = gold.read_ground_truth(lake)
    oracle = None
    if truth is not None:
        joined = holdout[["lead_id"]].merge(truth, on="lead_id", how="left")["true_probability"]
        oracle = joined.to_numpy(dtype=np.float64) if joined.notna().all() else None
    metrics = evaluate(fitted.prob[ts.holdout], y_hold, fitted.cutoffs, settings.operating_tier, oracle)
    metrics["cv_auc"] = fitted.study.cv_auc
    metrics["calibration_slice_auc"] = fitted.slice_auc
    data_ref = f"gold v{data.version} holdout ({split.holdout_note(fitted.order, holdout)})"
    console.print(
        f"holdout AUC {metrics['auc']:.4f}"
        + (f" (oracle {metrics['oracle_auc']:.4f}, ratio {metrics['auc_to_oracle']:.3f})" if oracle is not None else "")
        + f", PR-AUC {metrics['pr_auc']:.4f}, top-decile lift {metrics['top_decile_lift']:.2f}"
    )
    decision = _gate(registry, metrics["auc"], holdout, y_hold, data_ref, settings)
    console.print(f"gate: {decision.reason}")
    return Evaluation(metrics, oracle, holdout, y_hold, decision)


def provenance_of(fitted: Fitted, evaluation: Evaluation, run_id: str, settings: TrainingSettings) -> Provenance:
    """The run's one :class:`~training.provenance.Provenance` record."""
    ts, data = fitted.ts, fitted.data
    return Provenance(
        gold_table=data.table_path,
        gold_version=data.version,
        spec=data.spec.name,
        spec_fingerprint=data.spec_fingerprint,
        spec_source=data.spec_source,
        git_sha=git_sha(),
        lock_hash=lock_hash(),
        run_id=run_id,
        trained_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        n_fit=ts.train_end if settings.refit else ts.fit_end,
        n_calibration=ts.train_end - ts.fit_end,
        n_holdout=ts.n_rows - ts.train_end,
        holdout=split.holdout_note(fitted.order, evaluation.holdout),
        time_order=fitted.order.describe(),
        n_rounds=fitted.study.n_rounds,
        seed=fitted.seed,
        attribution=settings.attribution,
    )


def log_run(
    fitted: Fitted, evaluation: Evaluation, prov: Provenance, model_name: str, settings: TrainingSettings, tmp: Path
) -> tuple[str, str | None]:
    """Log tags, params, metrics, plots and the pyfunc model (with its artifact) into the active run."""
    import mlflow

    study, metrics, ts = fitted.study, evaluation.metrics, fitted.ts
    mlflow.set_tags({**prov.run_tags(), "gate_decision": evaluation.decision.decision})
    mlflow.log_params(
        {
            **{f"xgb_{k}": v for k, v in study.params.items()},
            "n_rounds": study.n_rounds,
            "trials": fitted.trials,
            "trials_pruned": study.n_pruned,
            "holdout": fitted.holdout_share,
            "cv_folds": settings.cv_folds,
            "cv_scheme": settings.cv_scheme,
            "calibration_fraction": settings.calibration_fraction,
            "refit": settings.refit,
            "n_rows": len(fitted.data.frame),
            **prov.run_params(),
        }
    )
    mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()} | {"cv_auc": study.cv_auc})
    mlflow.log_dict(dict(metrics), "holdout_metrics.json")
    if settings.plots:
        _plots(fitted, evaluation, tmp / "plots")
        mlflow.log_artifacts(str(tmp / "plots"), "plots")
    spec, frame = fitted.spec, fitted.data.frame
    artifact = build_artifact(
        tmp / "leadscore",
        model_name=model_name,
        spec=spec,
        encoder=fitted.encoder,
        booster=fitted.booster,
        calibrator=fitted.calibrator,
        cutoffs=fitted.cutoffs,
        reference_columns=feature_columns(frame.iloc[ts.train], spec),
        reference_scores=fitted.prob[ts.train],
        provenance=prov.manifest(),
        metrics={k: v for k, v in metrics.items() if np.isfinite(v)},
        sample_size=settings.reference_sample_size,
        seed=fitted.seed,
        attribution=settings.attribution,
        vocabularies=fitted.vocabularies,
    )
    return log_pyfunc(artifact)


def _plots(fitted: Fitted, evaluation: Evaluation, directory: Path) -> None:
    ts, encoder = fitted.ts, fitted.encoder
    sample = np.arange(ts.train_end, ts.n_rows)[:3000]
    contribs = fitted.booster.predict(dmatrix(encoder, fitted.x[sample]), pred_contribs=True)[:, :-1]
    _log_plots(
        directory,
        evaluation.y_hold,
        fitted.prob[ts.holdout],
        evaluation.metrics,
        evaluation.oracle,
        per_feature_importance(fitted.booster, encoder),
        encoder.per_feature(np.asarray(contribs, dtype=np.float64)),
        encoder.feature_names,
        feature_columns(fitted.data.frame.iloc[sample], fitted.spec),
    )


def register(registry: Registry, model_uri: str, model_id: str | None, evaluation: Evaluation, prov: Provenance) -> int:
    """Register the logged model at the gate's stage, tagged with the gate and the provenance."""
    decision = evaluation.decision
    tags = {
        "gate_decision": decision.decision,
        "gate_reason": decision.reason[:4900],
        "holdout_auc": f"{evaluation.metrics['auc']:.6f}",
        **prov.version_tags(),
    }
    if decision.champion_version is not None:
        tags["gate_champion_version"] = str(decision.champion_version)
    if decision.champion_auc is not None:
        tags["gate_champion_auc"] = f"{decision.champion_auc:.6f}"
    return int(registry.register(model_uri, prov.run_id, decision.stage, tags, decision.reason, model_id=model_id))


def train(
    request: TrainRequest,
    settings: TrainingSettings | None = None,
    home: HomeSettings | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Fit, evaluate, log and register one model; returns the summary printed by ``--json``.

    Raises:
        TrainingError: the gold data cannot be trained on (the message says what to fix).
        RegistryError: the registry is unreachable or refused the registration (nothing half-registered).
        StorageUnreachable: the lake's or the artifact store's S3 endpoint does not answer (checked before
            any training; nothing registered).
    """
    import mlflow

    settings = settings or TrainingSettings()
    home = home or HomeSettings()
    console = console or Console(stderr=True)
    started = time.monotonic()
    registry = Registry(home=home)  # fails fast when the registry is down
    experiment_id = ensure_experiment(settings.experiment, home)
    artifacts = check_artifact_store(experiment_id)  # an unreachable S3 artifact store fails before the tuning
    fitted = fit(request, settings, console)
    evaluation = evaluate_model(fitted, request.lake, registry, settings, console)
    data = fitted.data
    with (
        tempfile.TemporaryDirectory(prefix="leadscore-train-") as tmp,
        mlflow.start_run(experiment_id=experiment_id, run_name=f"{data.spec.name}-gold-v{data.version}") as run,
    ):
        prov = provenance_of(fitted, evaluation, run.info.run_id, settings)
        # an S3 artifact store that stops answering now: StorageUnreachable naming it; the run ends FAILED
        with artifacts.errors("logging the model") if artifacts is not None else contextlib.nullcontext():
            model_uri, model_id = log_run(fitted, evaluation, prov, registry.name, settings, Path(tmp))
        if request.run_tags:  # e.g. retrain_reason / retrain_evidence from the retraining workflow
            mlflow.set_tags(request.run_tags)
        version = register(registry, model_uri, model_id, evaluation, prov)
        mlflow.set_tag("registered_version", str(version))
    decision = evaluation.decision
    console.print(f"registered {registry.name} v{version} as {decision.stage} ({time.monotonic() - started:.0f}s)")
    return _summary(fitted, evaluation, prov, registry, version, time.monotonic() - started)


def _summary(
    fitted: Fitted, evaluation: Evaluation, prov: Provenance, registry: Registry, version: int, seconds: float
) -> dict[str, Any]:
    metrics, decision, study = evaluation.metrics, evaluation.decision, fitted.study
    return {
        "run_id": prov.run_id,
        "model_name": registry.name,
        "version": version,
        "lifecycle": decision.stage,
        "gold_table": prov.gold_table,
        "gold_version": prov.gold_version,
        "spec": prov.spec,
        "time_order": prov.time_order,
        "holdout_leads": prov.holdout,
        "metrics": {k: metrics[k] for k in HEADLINE if k in metrics},
        "holdout": {k: v for k, v in metrics.items() if k not in HEADLINE},
        "cv_auc": study.cv_auc,
        "trials": study.n_trials,
        "trials_pruned": study.n_pruned,
        "gate": {
            "decision": decision.decision,
            "promoted": decision.passed,
            "reason": decision.reason,
            "champion_version": decision.champion_version,
            "champion_auc": decision.champion_auc,
        },
        "tracking_uri": registry.uri,
        "seconds": round(seconds, 1),
    }


def _gate(
    registry: Registry, candidate_auc: float, holdout: Any, y: np.ndarray, data_ref: str, settings: TrainingSettings
) -> gate.GateDecision:
    champion = registry.champion()
    if champion is None:
        return gate.decide(
            candidate_auc,
            data_ref,
            min_auc=settings.min_auc,
            min_gain=settings.min_auc_gain,
            champion_version=None,
            champion_auc=None,
        )
    champion_auc, error = None, None
    with tempfile.TemporaryDirectory(prefix="leadscore-champion-") as tmp:
        try:
            path = registry.fetch(str(champion.version), Path(tmp) / "champion")
            champion_auc = gate.champion_auc_on(str(path), holdout, y)
        except (RegistryError, ValueError, FileNotFoundError) as exc:
            error = str(exc)
    return gate.decide(
        candidate_auc,
        data_ref,
        min_auc=settings.min_auc,
        min_gain=settings.min_auc_gain,
        champion_version=int(champion.version),
        champion_auc=champion_auc,
        champion_error=error,
    )
