"""Training settings (env prefix ``TRAINING_``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadscore_core.reasons import Attribution


class TrainingSettings(BaseSettings):
    """Knobs of ``leadscore train`` and the promotion gate; CLI flags override the trial/holdout/seed ones."""

    model_config = SettingsConfigDict(env_prefix="TRAINING_", extra="ignore")

    trials: int = Field(default=50, ge=1)
    """Optuna trials per study (``TRAINING_TRIALS``)."""
    holdout: float = Field(default=0.2, gt=0.0, lt=0.9)
    """Share of the latest leads (by ``event_ts``) kept as the untouched holdout."""
    seed: int = 42
    """Seed of the TPE sampler, XGBoost and the reference sample."""
    cv_folds: int = Field(default=3, ge=2, le=10)
    """CV folds on the training part (``TRAINING_CV_FOLDS``)."""
    cv_scheme: Literal["expanding", "blocked"] = "expanding"
    """``expanding``: each fold trains on the past and validates on the next time block (no look-ahead; right
    when the process is stable over time). ``blocked``: purged k-fold over contiguous time blocks, each
    validated by a model of all other blocks minus a gap around it; use it when the data moves between
    regimes so that "the next block" is a different world (the bank-marketing file: docs/bank-marketing.md).
    The holdout stays the latest leads either way (``TRAINING_CV_SCHEME``)."""
    calibration_fraction: float = Field(default=0.15, gt=0.0, lt=0.5)
    """Share of the training part (its latest leads) held out to fit the isotonic calibrator."""
    refit: bool = True
    """After calibrating, refit the served booster on the whole training part (calibration slice included)
    with the same parameters and rounds (``TRAINING_REFIT``); false serves the booster the calibrator saw."""
    n_jobs: int = Field(default=2, ge=1)
    """XGBoost threads (the machine has 2 cores); tables under ``threads_min_rows`` train single-threaded."""
    threads_min_rows: int = Field(default=20000, ge=0)
    """Below this many training rows one thread is faster than OpenMP's start-up and sync cost."""
    max_rounds: int = Field(default=1000, ge=10)
    """Upper bound on boosting rounds; early stopping usually ends far sooner."""
    early_stopping_rounds: int = Field(default=30, ge=5)
    """Rounds without validation log-loss improvement before a fold stops."""
    prune_every: int = Field(default=25, ge=0)
    """Optuna's median pruner also judges a trial inside a CV fold every this many boosting rounds
    (``TRAINING_PRUNE_EVERY``; 0: only after whole folds). Shortens bad trials; the same trials are sampled."""
    min_rows: int = Field(default=300, ge=50)
    """Smallest gold table training accepts."""
    min_positives: int = Field(default=20, ge=2)
    """Fewest converted leads training accepts."""
    min_auc: float = Field(default=0.6, ge=0.0, le=1.0)
    """Absolute holdout-AUC floor for bootstrapping the first champion (``TRAINING_MIN_AUC``)."""
    min_auc_gain: float = Field(default=0.02, ge=0.0, le=1.0)
    """AUC a candidate must add over the champion on the same holdout to reach staging
    (``TRAINING_MIN_AUC_GAIN``; absolute, 0.02 = "+2% AUC")."""
    operating_tier: str = "B"
    """Leads in this tier or better count as "worked by sales": precision/recall are reported there."""
    reference_sample_size: int = Field(default=5000, ge=100)
    """Rows of the training part kept as the drift reference sample (alibi-detect ``x_ref``)."""
    experiment: str = "lead-scoring"
    """MLflow experiment name for training runs."""
    attribution: Attribution = "approx"
    """Reason-code attribution recorded in the artifact manifest and used by every scoring path
    (``TRAINING_ATTRIBUTION``): ``approx`` path attributions (~60 us per lead, what the endpoint has always
    served) or ``exact`` TreeSHAP (~1.5 ms per lead; docs/benchmarks.md)."""
    plots: bool = True
    """Log PNG plots (ROC, PR, calibration, lift/gain, importance, SHAP summary) with the run."""
    http_retries: int = Field(default=2, ge=0)
    """MLflow HTTP retries against a tracking server, so a dead registry fails fast."""
    http_timeout: int = Field(default=30, ge=1)
    """Seconds per MLflow HTTP request."""
