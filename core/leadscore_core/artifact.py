"""The self-describing model artifact and the scorer every runtime shares.

An artifact is one directory (logged as the MLflow model version's ``artifacts/leadscore`` folder):

- ``manifest.json``  :class:`Manifest`: the feature spec, encoded columns, calibrator, tier cut-offs,
  training provenance and holdout metrics.
- ``booster.json``   the XGBoost booster.
- ``drift_reference.json`` :class:`DriftReference`: per-feature bins/frequencies (PSI/KL), stats,
  and the reference score distribution.
- ``reference_sample.npz`` raw reference values per feature (alibi-detect's ``x_ref``).
- ``registry.json`` (only in a registry download) the version the registry gave it.

Integrity (format 2): the manifest records the sha256 of every other file it describes (``files``) and a
few probe rows with the margins and probabilities the model gave them at training time (``probe``).
:meth:`LeadScorer.load` refuses an artifact whose files do not match their digests, or whose model does
not reproduce the probe answers (a corrupted or tampered booster that still parses), with
:class:`ArtifactIntegrityError`. Format 1 artifacts (no digests) are refused too, with how to rebuild them.
Probe rows are encoded rows as serving builds them (native categorical columns hold category codes) and are
scored through the same XGBoost call serving makes (:func:`booster_margin`), at training time and at load.

Learned vocabularies (``categories: learn``, issue 13) live in the manifest twice: filled into ``spec`` (what
serving validates and encodes with, and drift bins by) and in ``vocabularies``; the load refuses a manifest
whose two copies disagree (:meth:`Manifest.check_vocabularies`). A spec with ``encoding: native`` features is
scored by XGBoost with those columns marked categorical; the numpy ensemble is not used for it.

Training writes it; the MLServer predictor, the MLflow pyfunc wrapper, the shadow scorer and the drift
detectors read it with nothing but this package and xgboost.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from leadscore_core.contract import FeatureSpec
from leadscore_core.encoding import FeatureEncoder
from leadscore_core.forest import TreeEnsemble, UnsupportedModel
from leadscore_core.reasons import Attribution, reasons

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
"""2: the manifest carries file digests and probe answers (format 1 had neither and is refused)."""
MANIFEST = "manifest.json"
BOOSTER = "booster.json"
DRIFT_REFERENCE = "drift_reference.json"
REFERENCE_SAMPLE = "reference_sample.npz"
REGISTRY_INFO = "registry.json"
"""Written beside the manifest when a registry version is downloaded (``{"model_name", "model_version"}``):
the artifact is saved before the registry numbers it, so its provenance cannot carry the version."""
COMPILED_MAX_ROWS = 16
"""Batches up to this size are scored by the compiled numpy ensemble (no per-call XGBoost overhead);
larger ones by XGBoost's C++ predictor, which wins from about 32 rows on."""


class Calibrator(BaseModel):
    """Isotonic map from raw booster probability to calibrated probability (``np.interp`` knots)."""

    model_config = ConfigDict(extra="forbid")
    x: list[float] = Field(default_factory=list)
    y: list[float] = Field(default_factory=list)
    _knots: tuple[np.ndarray, np.ndarray] | None = PrivateAttr(default=None)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        if not self.x:
            return p
        if self._knots is None:  # the lists become arrays once, not on every call
            self._knots = (np.asarray(self.x, dtype=np.float64), np.asarray(self.y, dtype=np.float64))
        return np.clip(np.interp(p, *self._knots), 0.0, 1.0)


PROBE_ROWS = 16
PROBE_ATOL = 1e-4
"""Allowed margin difference (scaled by the margin's magnitude) between the probe answers and a re-score."""


class ArtifactIntegrityError(ValueError):
    """The artifact is not the one training wrote: a file digest or a probe answer does not match."""


class Probe(BaseModel):
    """Encoded rows scored at training time, and what the model answered for them."""

    model_config = ConfigDict(extra="forbid")
    rows: list[list[float | None]]
    """Encoded rows (``None`` is a missing value)."""
    margin: list[float]
    probability: list[float]


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    format_version: int = FORMAT_VERSION
    model_name: str
    spec: FeatureSpec
    spec_fingerprint: str
    columns: list[str]
    calibrator: Calibrator = Field(default_factory=Calibrator)
    tier_cutoffs: dict[str, float]
    """Tier -> minimum calibrated probability, best tier first; below all cut-offs: ``D``."""
    top_k_reasons: int = 3
    attribution: Attribution = "approx"
    """How reason contributions are computed on every path (:mod:`leadscore_core.reasons`); manifests
    written before this field existed were served with ``approx``."""
    provenance: dict[str, Any] = Field(default_factory=dict)
    """gold table path + Delta version, git sha, lock hash, run id, trained_at."""
    metrics: dict[str, float] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict)
    """File name -> sha256 hex digest of every other file of the artifact (written last, by ``save_artifact``)."""
    probe: Probe | None = None
    """Probe rows and the training-time answers; serving re-scores them at load and refuses a mismatch."""
    vocabularies: dict[str, list[str]] = Field(default_factory=dict)
    """Learned vocabulary per ``categories: learn`` feature (training part only); ``spec`` has them filled in."""

    def check_vocabularies(self) -> None:
        """The spec's learned features carry exactly :attr:`vocabularies` (raise ``ValueError`` naming them)."""
        learned = {f.name: f.vocabulary for f in self.spec.features if f.learned}
        if set(learned) != set(self.vocabularies) or any(learned[k] != v for k, v in self.vocabularies.items()):
            raise ValueError(
                f"artifact vocabularies {sorted(self.vocabularies)} do not match its spec's learned "
                f"features {sorted(learned)}"
            )


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


REBUILD = "rebuild it with `leadscore train` (or re-save it with leadscore_core.reference.save_artifact)"


def verify_files(path: Path, manifest: Manifest) -> None:
    """Check every file digest of the manifest.

    Raises:
        ArtifactIntegrityError: an old format without digests, a missing file or a digest mismatch.
    """
    if manifest.format_version < 2 or not manifest.files or BOOSTER not in manifest.files:
        raise ArtifactIntegrityError(
            f"{path}: artifact format {manifest.format_version} records no file digests, so its integrity cannot "
            f"be checked; {REBUILD}"
        )
    for name, want in sorted(manifest.files.items()):
        f = path / name
        if not f.is_file():
            raise ArtifactIntegrityError(f"{path}: {name} is missing (the manifest lists it); {REBUILD}")
        got = sha256_file(f)
        if got != want:
            raise ArtifactIntegrityError(
                f"{path}: {name} has sha256 {got[:16]}..., the manifest recorded {want[:16]}...: the file changed "
                f"after training; re-download the version or {REBUILD}"
            )


class NumericReference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    edges: list[float]
    """Inner bin edges (quantiles of the reference); bins are (-inf, e0], (e0, e1], ... (eN, inf)."""
    freq: list[float]
    """Reference share per bin, len(edges) + 1, then one more for missing."""
    mean: float
    std: float
    missing_rate: float
    q1: float
    q3: float


class CategoricalReference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[str]
    """Vocabulary incl. ``__other__``; frequencies follow, then one more for missing."""
    freq: list[float]
    missing_rate: float


class DriftReference(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_reference: int
    numeric: dict[str, NumericReference] = Field(default_factory=dict)
    categorical: dict[str, CategoricalReference] = Field(default_factory=dict)
    score: NumericReference | None = None
    """Reference distribution of the calibrated probability."""


@dataclass
class ScoreBatch:
    probability: np.ndarray
    """Calibrated conversion probability per lead."""
    margin: np.ndarray
    """Raw booster margin (log-odds) per lead."""
    tier: list[str]
    contributions: np.ndarray | None = None
    """Per business feature contribution to the margin, shape (n, n_features), when explained."""
    base_value: float = 0.0
    """Margin of the average lead: ``base_value + contributions.sum(1) == margin``."""

    @property
    def score(self) -> np.ndarray:
        """0-100 integer score."""
        return np.rint(self.probability * 100).astype(np.int64)


def tier_for(p: float, cutoffs: dict[str, float]) -> str:
    for name, cut in cutoffs.items():
        if p >= cut:
            return name
    return "D"


def tiers_for(prob: np.ndarray, cutoffs: dict[str, float]) -> list[str]:
    """:func:`tier_for` of each probability; a few array comparisons instead of a call per lead for a large
    batch (the same tiers: the first cut-off, best first, the probability reaches; else ``D``)."""
    if len(prob) <= COMPILED_MAX_ROWS:
        return [tier_for(float(p), cutoffs) for p in prob]
    names = list(cutoffs)
    index = np.full(len(prob), len(names), dtype=np.int64)
    for i in range(len(names) - 1, -1, -1):  # best tier last: it wins where several cut-offs are reached
        index[prob >= cutoffs[names[i]]] = i
    labels: list[str] = np.array([*names, "D"], dtype=object)[index].tolist()
    return labels


class LeadScorer:
    """Loads an artifact directory and scores encoded leads; ready only after :meth:`load`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest: Manifest | None = None
        self.encoder: FeatureEncoder | None = None
        self._booster: Any = None
        self._nthread = 1
        self._compiled: TreeEnsemble | None = None

    def load(self, nthread: int = 1) -> LeadScorer:
        import xgboost as xgb  # scoring extra; the core stays importable without it

        manifest_path = self.path / MANIFEST
        if not manifest_path.exists():
            raise FileNotFoundError(f"{self.path}: not a leadscore model artifact (no {MANIFEST})")
        manifest = Manifest.model_validate_json(manifest_path.read_text())
        if manifest.format_version > FORMAT_VERSION:
            raise ValueError(f"artifact format {manifest.format_version}, this runtime reads {FORMAT_VERSION}")
        verify_files(self.path, manifest)
        manifest.check_vocabularies()
        encoder = FeatureEncoder(manifest.spec)
        if encoder.columns != manifest.columns:
            raise ValueError("artifact columns do not match its feature spec's encoding")
        booster = xgb.Booster()
        booster.load_model(str(self.path / BOOSTER))
        booster.set_param({"nthread": nthread})
        if booster.num_features() != encoder.n_columns:
            raise ValueError(f"booster expects {booster.num_features()} columns, spec encodes {encoder.n_columns}")
        self.manifest, self.encoder, self._booster = manifest, encoder, booster
        self._nthread = nthread
        # the numpy ensemble knows numeric splits only: native categorical models score with XGBoost
        self._compiled = None if encoder.categorical else self._compile(booster)
        try:
            self._check_probe()
        except BaseException:
            self.manifest, self.encoder, self._booster, self._compiled = None, None, None, None
            raise
        return self

    def _check_probe(self) -> None:
        """Re-score the training-time probe rows (both scoring paths) and compare with the stored answers."""
        assert self.manifest is not None
        probe = self.manifest.probe
        if probe is None or not probe.rows:
            raise ArtifactIntegrityError(f"{self.path}: the manifest has no probe rows; {REBUILD}")
        x = np.asarray([[np.nan if v is None else v for v in r] for r in probe.rows], dtype=np.float32)
        want = np.asarray(probe.margin, dtype=np.float64)
        scale = max(1.0, float(np.abs(want).max()))
        assert self.encoder is not None
        xgb_margin = booster_margin(self._booster, self.encoder, x, self._nthread)
        batch = self.score(x)  # the compiled path for probe-sized batches, when there is one
        worst = max(float(np.abs(xgb_margin - want).max()), float(np.abs(batch.margin - want).max()))
        # the calibrator against the stored answers, from the stored margins: a steep isotonic knot turns the
        # scoring paths' rounding-level margin differences (float32 XGBoost vs float64 numpy sums, checked
        # above) into probability differences far above 1e-6, which are not a broken artifact
        stored_p = self.manifest.calibrator(1.0 / (1.0 + np.exp(-want)))
        worst_p = float(np.abs(stored_p - np.asarray(probe.probability)).max())
        if worst > PROBE_ATOL * scale or worst_p > 1e-6:
            raise ArtifactIntegrityError(
                f"{self.path}: the model does not reproduce its training-time answers on {len(x)} probe rows "
                f"(margin off by up to {worst:.4g}, probability by {worst_p:.4g}): refusing to serve it; {REBUILD}"
            )

    def dmatrix(self, x: np.ndarray) -> Any:
        """An XGBoost DMatrix of encoded rows (with the native categorical columns marked)."""
        assert self.encoder is not None, "call load() first"
        return encoded_dmatrix(self.encoder, x, self._nthread)

    def _compile(self, booster: Any) -> TreeEnsemble | None:
        """The numpy ensemble for small batches, checked against XGBoost on probe rows; ``None``
        (XGBoost scores everything) when the booster is not compilable or the check disagrees."""
        import xgboost as xgb

        try:
            ens = TreeEnsemble.from_model(json.loads(bytes(booster.save_raw("json"))))
        except (UnsupportedModel, KeyError, ValueError) as exc:
            log.warning("booster not compiled (XGBoost scores every batch): %s", exc)
            return None
        probe = _probe_rows(ens, n=64)
        nan_row = np.full((1, ens.n_features), np.nan, dtype=np.float32)
        ens.base_margin = float(booster.inplace_predict(nan_row, predict_type="margin")[0] - ens.leaf_sum(nan_row)[0])
        want = np.asarray(booster.inplace_predict(probe, predict_type="margin"), dtype=np.float64)
        dm = xgb.DMatrix(probe, nthread=self._nthread)
        want_c = np.asarray(booster.predict(dm, pred_contribs=True, approx_contribs=True), dtype=np.float64)
        scale = max(1.0, float(np.abs(want).max()))
        if not (
            np.allclose(ens.margin(probe), want, rtol=0, atol=1e-4 * scale)
            and np.allclose(ens.path_contributions(probe), want_c, rtol=0, atol=1e-4 * scale)
        ):
            log.warning("compiled ensemble disagrees with XGBoost on probe rows: XGBoost scores every batch")
            return None
        return ens

    @property
    def ready(self) -> bool:
        return self._booster is not None

    @property
    def spec(self) -> FeatureSpec:
        assert self.manifest is not None, "call load() first"
        return self.manifest.spec

    def score(
        self, x: np.ndarray, explain: bool = False, approx: bool | None = None, compiled: bool = True
    ) -> ScoreBatch:
        """Score encoded rows; with ``explain`` also per-feature contributions (exact TreeSHAP, or the
        cheaper path-based ``approx`` attribution; None: the manifest's ``attribution``); both sum with the
        base value to the margin. ``compiled=False`` scores even a small batch with XGBoost's predictor, so a
        lead gets the same numbers (to the bit) whichever batch it falls in (batch scoring)."""
        assert self.manifest is not None and self.encoder is not None, "call load() first"
        if approx is None:
            approx = self.manifest.attribution == "approx"
        contribs = None
        small = compiled and len(x) <= COMPILED_MAX_ROWS
        compiled_ensemble = self._compiled if small else None
        if explain and approx and compiled_ensemble is not None:
            contribs = compiled_ensemble.path_contributions(x)
            margin = contribs.sum(axis=1)
        elif explain:
            # nthread on the DMatrix too: the default spins up every core's thread pool per call
            # (1 ms -> 7-30 ms for one row on a busy 2-core box)
            dm = self.dmatrix(x)
            contribs = np.asarray(self._booster.predict(dm, pred_contribs=True, approx_contribs=approx))
            # the contributions add up to the margin: one tree pass instead of two
            margin = contribs.sum(axis=1, dtype=np.float64)
        elif compiled_ensemble is not None:
            margin = compiled_ensemble.margin(x)
        else:
            margin = booster_margin(self._booster, self.encoder, x, self._nthread)
        raw = 1.0 / (1.0 + np.exp(-margin))
        prob = self.manifest.calibrator(raw)
        tiers = tiers_for(prob, self.manifest.tier_cutoffs)
        batch = ScoreBatch(probability=prob, margin=margin, tier=tiers)
        if contribs is not None:
            assert self.encoder is not None
            batch.contributions = self.encoder.per_feature(np.asarray(contribs[:, :-1], dtype=np.float64))
            batch.base_value = float(contribs[0, -1]) if len(contribs) else 0.0
        return batch

    def reasons(
        self, batch: ScoreBatch, row: int, values: dict[str, Any], k: int | None = None
    ) -> list[dict[str, Any]]:
        """Top-k reason codes of one lead (:func:`leadscore_core.reasons.reasons` on one row)."""
        assert batch.contributions is not None and self.encoder is not None and self.manifest is not None
        k = self.manifest.top_k_reasons if k is None else k
        return reasons(batch.contributions[row : row + 1], self.encoder.feature_names, [values], k)[0]


def encoded_dmatrix(encoder: FeatureEncoder, x: np.ndarray, nthread: int = 1) -> Any:
    """An XGBoost DMatrix of encoded rows, native categorical columns marked (``encoder.feature_types``)."""
    import xgboost as xgb

    if encoder.categorical:
        return xgb.DMatrix(x, nthread=nthread, feature_types=encoder.feature_types, enable_categorical=True)
    return xgb.DMatrix(x, nthread=nthread)


def booster_margin(booster: Any, encoder: FeatureEncoder, x: np.ndarray, nthread: int = 1) -> np.ndarray:
    """XGBoost's margin of encoded rows, asked the way serving asks: a native categorical model through a
    DMatrix that marks its categorical columns, any other through ``inplace_predict``."""
    if encoder.categorical:
        dm = encoded_dmatrix(encoder, x, nthread)
        return np.asarray(booster.predict(dm, output_margin=True), dtype=np.float64)
    return np.asarray(booster.inplace_predict(x, predict_type="margin"), dtype=np.float64)


def make_probe(manifest: Manifest, booster: Any, n: int = PROBE_ROWS, seed: int = 0) -> Probe:
    """Probe rows (:func:`probe_input`) and the booster's answers, scored as serving scores them."""
    encoder = FeatureEncoder(manifest.spec)
    if encoder.columns != manifest.columns:
        raise ValueError("manifest columns do not match its feature spec's encoding")
    x = probe_input(encoder, booster, n=n, seed=seed)
    margin = booster_margin(booster, encoder, x)
    prob = manifest.calibrator(1.0 / (1.0 + np.exp(-margin)))
    rows = [[None if v != v else float(v) for v in r] for r in x.tolist()]
    return Probe(rows=rows, margin=margin.tolist(), probability=np.asarray(prob, dtype=np.float64).tolist())


def probe_input(encoder: FeatureEncoder, booster: Any, n: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Encoded rows to probe a booster with, shaped like serving's: values just around its numeric split
    points (and NaN) in quantitative columns; in a native categorical column the codes
    :meth:`FeatureEncoder.encode_records` writes (``0`` .. ``__other__``, NaN = missing), never a fraction."""
    rng = np.random.default_rng(seed + 1)
    try:
        features, thresholds = _numeric_splits(json.loads(bytes(booster.save_raw("json"))))
        x = _rows_around(features, thresholds, encoder.n_columns, n, seed)
    except (KeyError, TypeError, ValueError):  # a model layout this reader does not know: random rows
        x = rng.uniform(-1, 10, (n, encoder.n_columns)).astype(np.float32)
        x[rng.random(x.shape) < 0.1] = np.nan
    for j, n_codes in encoder.native_codes.items():
        codes = rng.integers(0, n_codes, size=n).astype(np.float32)
        x[:, j] = np.where(rng.random(n) < 0.1, np.nan, codes)
    return x


def _numeric_splits(model: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(column, threshold) of every numeric split of an XGBoost JSON model (categorical splits skipped)."""
    booster = model["learner"]["gradient_booster"]
    trees = (booster.get("gbtree") or booster)["model"]["trees"]  # dart nests the trees one level down
    cols: list[int] = []
    cuts: list[float] = []
    for t in trees:
        kinds = t.get("split_type") or [0] * len(t["left_children"])
        for i, left in enumerate(t["left_children"]):
            if left != -1 and int(kinds[i]) == 0:
                cols.append(int(t["split_indices"][i]))
                cuts.append(float(t["split_conditions"][i]))
    return np.asarray(cols, dtype=np.int64), np.asarray(cuts, dtype=np.float32)


def _rows_around(features: np.ndarray, thresholds: np.ndarray, n_columns: int, n: int, seed: int) -> np.ndarray:
    """Rows that exercise both sides of many splits: values just around the thresholds, and NaN."""
    rng = np.random.default_rng(seed)
    x = np.full((n, n_columns), np.nan, dtype=np.float32)
    for j in range(n_columns):
        t = thresholds[features == j]
        if len(t):
            pick = t[rng.integers(len(t), size=n)] + rng.choice([-1e-3, 0.0, 1e-3], size=n).astype(np.float32)
            x[:, j] = np.where(rng.random(n) < 0.1, np.nan, pick)
    return x


def _probe_rows(ens: TreeEnsemble, n: int, seed: int = 0) -> np.ndarray:
    """Rows around the compiled ensemble's thresholds (its check against XGBoost)."""
    features, thresholds = ens.split_points()
    return _rows_around(features, thresholds, ens.n_features, n, seed)


def artifact_version(path: str | Path, manifest: Manifest | None = None, default: str = "unknown") -> str:
    """The registry version of an artifact directory: its provenance, else the download's
    ``registry.json``, else ``default``.

    Without ``manifest`` only the provenance is read from ``manifest.json``, not the whole manifest
    validated: finding an artifact's version never refuses it; :meth:`LeadScorer.load` does, with the
    reason (so a broken artifact fails where it is loaded, e.g. the predictor's load, with its error)."""
    path = Path(path)
    provenance = manifest.provenance if manifest is not None else _raw_provenance(path)
    if provenance.get("model_version"):
        return str(provenance["model_version"])
    try:
        info = json.loads((path / REGISTRY_INFO).read_text())
    except (OSError, ValueError):
        return default
    return str(info.get("model_version") or default)


def _raw_provenance(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads((path / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    provenance = doc.get("provenance") if isinstance(doc, dict) else None
    return provenance if isinstance(provenance, dict) else {}


def read_drift_reference(path: str | Path) -> DriftReference:
    return DriftReference.model_validate_json((Path(path) / DRIFT_REFERENCE).read_text())


def read_reference_sample(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(Path(path) / REFERENCE_SAMPLE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_manifest(path: str | Path, manifest: Manifest) -> None:
    Path(path).mkdir(parents=True, exist_ok=True)
    (Path(path) / MANIFEST).write_text(json.dumps(manifest.model_dump(mode="json"), indent=2, sort_keys=True))
