"""Observability as code: Grafana dashboards (the alert rules live in charts/leadscore/files/rules)."""
