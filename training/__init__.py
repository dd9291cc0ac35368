"""Training and model registry: gold Delta version -> tuned, calibrated XGBoost -> MLflow registry.

Modules are imported lazily by the CLI; importing this package has no side effects.
"""
