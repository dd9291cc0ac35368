"""Gold frame -> clean feature columns -> encoded matrix, through the core's spec-driven encoder."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from leadscore_core.artifact import encoded_dmatrix
from leadscore_core.contract import FeatureSpec
from leadscore_core.encoding import FeatureEncoder


def feature_columns(frame: pd.DataFrame, spec: FeatureSpec) -> dict[str, Any]:
    """Clean values per feature name: numeric as float64 (NaN = missing), others as objects (None = missing)."""
    out: dict[str, Any] = {}
    for f in spec.features:
        col = frame[f.name]
        if f.type == "numeric":
            out[f.name] = pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            values = col.astype(object).to_numpy()
            out[f.name] = np.where(pd.isna(values), None, values)
    return out


def encode_frame(encoder: FeatureEncoder, frame: pd.DataFrame) -> np.ndarray:
    """The float32 model matrix of a gold (or request) frame."""
    return encoder.encode_columns(feature_columns(frame, encoder.spec), len(frame))


def dmatrix(encoder: FeatureEncoder, x: np.ndarray) -> Any:
    """An XGBoost DMatrix of encoded rows, native categorical columns marked (the core's, as serving builds it)."""
    return encoded_dmatrix(encoder, x)
