"""The one provenance record of a training run, rendered into the manifest, run tags, params and version tags.

Every place that says where a model came from (the artifact manifest, the MLflow run's tags and params, the
registered version's tags) renders this record, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Provenance:
    """Where a model came from: the data, the spec, the code and the run."""

    gold_table: str
    gold_version: int
    spec: str
    spec_fingerprint: str
    """The fingerprint gold was built with (== the trained spec's, or training refused)."""
    spec_source: str
    git_sha: str
    lock_hash: str
    run_id: str
    trained_at: str
    n_fit: int
    n_calibration: int
    n_holdout: int
    holdout: str
    """Which leads the holdout is: how many, where it starts in the time order (``split.holdout_note``)."""
    time_order: str
    """The column and direction that defined "latest" (``TimeOrder.describe``)."""
    n_rounds: int
    seed: int
    attribution: str

    def manifest(self) -> dict[str, Any]:
        """``Manifest.provenance`` of the artifact."""
        out = asdict(self)
        out.pop("spec_source")
        return out

    def run_tags(self) -> dict[str, str]:
        """Tags of the MLflow run (searchable)."""
        keys = ("gold_table", "gold_version", "spec", "git_sha", "lock_hash")
        return {k: str(getattr(self, k)) for k in keys}

    def run_params(self) -> dict[str, Any]:
        """The data and spec part of the run's params."""
        keys = (
            "gold_table",
            "gold_version",
            "spec",
            "spec_fingerprint",
            "spec_source",
            "seed",
            "attribution",
            "time_order",
        )
        return {k: getattr(self, k) for k in keys}

    def version_tags(self) -> dict[str, str]:
        """Tags of the registered model version."""
        keys = ("gold_table", "gold_version", "spec", "spec_fingerprint", "git_sha", "run_id")
        return {k: str(getattr(self, k)) for k in keys}
