"""leadscore core: the one feature contract, settings, event schemas and the model artifact format.

Every image (tools/training, serving transformer, MLServer predictor, monitors) installs this package,
so it stays dependency-light: pydantic, pydantic-settings, PyYAML and numpy (xgboost only for scoring).
"""

from leadscore_core.contract import FeatureDef, FeatureSpec, builtin_spec_path, load_spec

__all__ = ["FeatureSpec", "FeatureDef", "load_spec", "builtin_spec_path"]
