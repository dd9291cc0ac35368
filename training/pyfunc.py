"""MLflow pyfunc wrapper around the leadscore artifact.

Imports only ``leadscore_core``, mlflow, numpy and pandas, so a logged model version loads with
``mlflow.pyfunc.load_model`` in any environment that has those (no training code, no Optuna). The
class is pickled by value and this file also ships with the model via ``code_paths``.
"""

from __future__ import annotations

import json
from typing import Any

import mlflow.pyfunc
import numpy as np
import pandas as pd

from leadscore_core.artifact import LeadScorer
from leadscore_core.reasons import reasons
from leadscore_core.validation import check_record

ARTIFACT_KEY = "leadscore"
"""Name of the artifact directory inside the MLflow model (``artifacts/leadscore``)."""


class LeadScoringModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """Scores a pandas frame of leads (one column per spec feature; ``lead_id`` optional).

    Values are validated with the feature contract (unknown categories, missing-value markers and
    ranges follow the spec); rows that break it get a NaN probability and the issues in ``issues``.
    Output columns: ``lead_id`` (when given), ``probability``, ``score``, ``tier``, ``margin``,
    ``reasons`` (JSON list of the top-k reason codes of :func:`leadscore_core.reasons.reasons`, with the
    manifest's attribution: the same as the endpoint's) and ``issues``.
    """

    def __init__(self) -> None:
        self.scorer: LeadScorer | None = None

    def load_context(self, context: Any) -> None:
        self.scorer = LeadScorer(context.artifacts[ARTIFACT_KEY]).load()

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        if self.scorer is None:
            self.load_context(context)
        assert self.scorer is not None and self.scorer.encoder is not None and self.scorer.manifest is not None
        frame = pd.DataFrame(model_input)
        spec = self.scorer.spec
        absent = [n for n in spec.feature_names if n not in frame.columns]
        if absent:
            raise ValueError(f"input is missing feature columns {absent}")
        records = frame[spec.feature_names].astype(object).where(frame[spec.feature_names].notna(), None)
        checked = [check_record(spec, r) for r in records.to_dict(orient="records")]
        x = self.scorer.encoder.encode_records([c.values for c in checked])
        explain = bool((params or {}).get("explain", True))
        batch = self.scorer.score(x, explain=explain)
        bad = np.array([not c.ok for c in checked], dtype=bool)
        lead_reasons: list[list[dict[str, Any]]] = [[] for _ in checked]
        if explain and batch.contributions is not None:
            values = [c.values for c in checked]
            lead_reasons = reasons(batch.contributions, spec.feature_names, values, self.scorer.manifest.top_k_reasons)
        prob = np.where(bad, np.nan, batch.probability)
        out = pd.DataFrame(
            {
                "probability": prob,
                "score": np.where(bad, -1, batch.score),
                "tier": [None if b else t for b, t in zip(bad, batch.tier, strict=True)],
                "margin": np.where(bad, np.nan, batch.margin),
                "reasons": ["[]" if bad[i] or not explain else json.dumps(r) for i, r in enumerate(lead_reasons)],
                "issues": ["; ".join(str(s) for s in c.issues) for c in checked],
            }
        )
        if "lead_id" in frame.columns:
            out.insert(0, "lead_id", frame["lead_id"].astype(str).to_numpy())
        return out
