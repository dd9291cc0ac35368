"""The leadscore tools image: the `leadscore` CLI, the data platform and the model registry.

Subpackages: `cli` (the command), `crm` (the CRM adapter), `datagen` (the synthetic generator),
`lakehouse` (the PySpark medallion), `registry` (MLflow registry and lifecycle), `local` (the local-only
dev stack: serve, replay). Training itself is the top-level `training` package.
"""
