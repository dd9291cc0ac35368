"""The promotion gate: a candidate must beat the champion, re-scored on the candidate's own holdout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore_core.artifact import LeadScorer
from training.errors import RegistryError
from training.evaluate import auc
from training.features import encode_frame


@dataclass
class GateDecision:
    stage: str
    """Initial lifecycle of the new version: production (bootstrap), staging (passed) or development."""
    decision: str
    """``bootstrap``, ``promoted`` or ``rejected``."""
    reason: str
    champion_version: int | None = None
    champion_auc: float | None = None

    @property
    def passed(self) -> bool:
        return self.decision in ("bootstrap", "promoted")


def champion_auc_on(champion_dir: str, holdout: pd.DataFrame, y: np.ndarray) -> float:
    """AUC of the champion's calibrated probability on the candidate's holdout rows."""
    scorer = LeadScorer(champion_dir).load()
    assert scorer.encoder is not None
    absent = [n for n in scorer.spec.feature_names if n not in holdout.columns]
    if absent:
        raise RegistryError(f"the champion needs features {absent} that this gold table does not have")
    return auc(y, scorer.score(encode_frame(scorer.encoder, holdout)).probability)


def decide(
    candidate_auc: float,
    data_ref: str,
    *,
    min_auc: float,
    min_gain: float,
    champion_version: int | None,
    champion_auc: float | None,
    champion_error: str | None = None,
) -> GateDecision:
    """Bootstrap, promote to staging, or keep in development, with the reason in words."""
    if champion_version is None:
        if candidate_auc >= min_auc:
            return GateDecision(
                "production",
                "bootstrap",
                f"no champion yet: holdout AUC {candidate_auc:.4f} >= floor {min_auc:.2f} (TRAINING_MIN_AUC); "
                f"bootstrapped as champion on {data_ref}",
            )
        return GateDecision(
            "development",
            "rejected",
            f"no champion yet, but holdout AUC {candidate_auc:.4f} is below the floor {min_auc:.2f} "
            "(TRAINING_MIN_AUC): not bootstrapped",
        )
    if champion_auc is None:
        return GateDecision(
            "development",
            "rejected",
            f"champion v{champion_version} could not be re-scored on {data_ref} ({champion_error}); "
            "kept in development",
            champion_version,
        )
    gain = candidate_auc - champion_auc
    if gain >= min_gain:
        return GateDecision(
            "staging",
            "promoted",
            f"holdout AUC {candidate_auc:.4f} beats champion v{champion_version} ({champion_auc:.4f}) by "
            f"{gain:+.4f} >= {min_gain:.4f} on {data_ref}: staging",
            champion_version,
            champion_auc,
        )
    return GateDecision(
        "development",
        "rejected",
        f"holdout AUC {candidate_auc:.4f} vs champion v{champion_version} {champion_auc:.4f} on {data_ref}: "
        f"gain {gain:+.4f} < required {min_gain:+.4f} (TRAINING_MIN_AUC_GAIN); kept in development",
        champion_version,
        champion_auc,
    )
