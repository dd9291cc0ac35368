"""Settings from the environment, and the OpenAPI document generated from the contract."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from leadscore_core import load_spec
from leadscore_front.front import ScoringFront
from leadscore_front.metrics import FrontMetrics
from leadscore_front.openapi import openapi_document
from leadscore_front.settings import FrontSettings as TransformerSettings


def test_env_prefix_and_knative_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFORMER_MAX_LEADS", "7")
    monkeypatch.setenv("TRANSFORMER_API_KEYS", '{"k1": "crm"}')
    monkeypatch.setenv("K_REVISION", "lead-scoring-transformer-00002")
    monkeypatch.setenv("LEADSCORE_PII_SALT", "pepper")
    s = TransformerSettings()
    assert s.max_leads == 7 and s.api_keys == {"k1": "crm"} and s.pii_salt == "pepper"
    assert s.revision == "lead-scoring-transformer-00002"
    monkeypatch.setenv("TRANSFORMER_REVISION", "canary")
    assert TransformerSettings().revision == "canary"


def test_openapi_lists_every_feature_with_its_bounds() -> None:
    spec = load_spec("bank_marketing")
    s = TransformerSettings(auth_mode="api_key", api_keys={"k": "c"}, rate_limit="")
    doc = openapi_document(ScoringFront(spec, s, FrontMetrics(CollectorRegistry(), "r")))
    lead = doc["components"]["schemas"]["Lead"]
    assert set(spec.feature_names) <= set(lead["properties"])
    assert doc["paths"]["/score-lead"]["post"]["security"] == [{"apiKey": []}]
    assert doc["openapi"].startswith("3.1")
