"""Bounded schemathesis run against the published OpenAPI document: no server errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx


def test_openapi_document_describes_score_lead(transformer: tuple[str, object]) -> None:
    doc = httpx.get(f"{transformer[0]}/score-lead/openapi.json").json()
    op = doc["paths"]["/score-lead"]["post"]
    assert {"200", "400", "413", "422", "429"} <= set(op["responses"])
    lead = doc["components"]["schemas"]["Lead"]
    assert lead["additionalProperties"] is False and "lead_id" in lead["required"]
    assert lead["properties"]["visas_requested"]["maximum"] == 50
    assert "PII" in lead["properties"]["email"]["description"]


def test_schemathesis_finds_no_server_errors(crm_url: str, tmp_path: Path) -> None:
    base = crm_url
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{base}/score-lead/openapi.json",
        "--url",
        base,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "60",
        "--seed",
        "4",
        "--phases",
        "examples,coverage,fuzzing",
        "--request-timeout",
        "10",
        "--no-shrink",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    assert "No issues found" in out
