"""Registry fixtures (a real SQLite MLflow store with small real model versions)."""

from registry_fixtures import add_version, reg_home, tiny_artifacts  # noqa: F401
