"""The chart's Alertmanager configuration passes `amtool check-config` for every values scenario, routes
by severity, inhibits, and holds no credential (every secret is a file of a Kubernetes Secret)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = [None, *sorted((ROOT / "charts" / "leadscore" / "ci").glob("*-values.yaml"))]
SECRET_DIR = "/etc/alertmanager/secrets/leadscore-alertmanager-receivers/"


def alertmanager_yaml(helm_template, *args: str) -> str | None:
    docs = helm_template(*args)
    secret = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "leadscore-alertmanager"]
    return secret[0]["stringData"]["alertmanager.yaml"] if secret else None


@pytest.fixture(scope="module")
def config_file(helm_template, tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = alertmanager_yaml(helm_template)
    assert text is not None
    path = tmp_path_factory.mktemp("am") / "alertmanager.yaml"
    path.write_text(text)
    return path


def amtool_run(amtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([amtool, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("values", SCENARIOS, ids=[p.name if p else "defaults" for p in SCENARIOS])
def test_amtool_check_config(amtool: str, helm_template, values: Path | None, tmp_path: Path) -> None:
    text = alertmanager_yaml(helm_template, *(["--values", str(values)] if values else []))
    if text is None:
        pytest.skip(f"{values.name if values else 'defaults'} disables the Alertmanager config")
    (tmp_path / "am.yaml").write_text(text)
    proc = amtool_run(amtool, "check-config", str(tmp_path / "am.yaml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_amtool_rejects_a_bad_config(amtool: str, config_file: Path, tmp_path: Path) -> None:
    bad = config_file.read_text().replace("routing_key_file:", "routing_kee_file:")
    (tmp_path / "bad.yaml").write_text(bad)
    assert amtool_run(amtool, "check-config", str(tmp_path / "bad.yaml")).returncode != 0


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical", "alertname=LeadScoreHighErrorRate"], "pagerduty-critical"),
        (["severity=warning", "alertname=LeadFeatureDrift"], "slack-and-email"),
        (["severity=info", "alertname=LeadShadowDisagreement"], "slack-ml-alerts"),
        (["alertname=Unlabelled"], "slack-ml-alerts"),
    ],
)
def test_routes_by_severity(amtool: str, config_file: Path, labels: list[str], receiver: str) -> None:
    proc = amtool_run(amtool, "config", "routes", "test", f"--config.file={config_file}", *labels)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == receiver


def test_receivers_channels_and_secret_files(config_file: Path) -> None:
    cfg = yaml.safe_load(config_file.read_text())
    receivers = {r["name"]: r for r in cfg["receivers"]}
    assert receivers["pagerduty-critical"]["pagerduty_configs"][0]["routing_key_file"].startswith(SECRET_DIR)
    assert cfg["global"]["slack_api_url_file"].startswith(SECRET_DIR)
    assert cfg["global"]["smtp_auth_password_file"].startswith(SECRET_DIR)
    for r in receivers.values():
        for slack in r.get("slack_configs", []):
            assert slack["channel"] == "#ml-alerts"
    assert "email_configs" in receivers["slack-and-email"]
    assert cfg["route"]["group_by"] == ["alertname", "namespace", "revision"]


def test_no_credential_inline(config_file: Path) -> None:
    text = config_file.read_text()
    for inline in ("api_url:", "routing_key:", "service_key:", "auth_password:", "slack_api_url:", "hooks.slack.com"):
        assert inline not in text


def test_inhibition_critical_silences_warning(config_file: Path) -> None:
    cfg = yaml.safe_load(config_file.read_text())
    rules = cfg["inhibit_rules"]
    assert any(
        r["source_matchers"] == ['severity="critical"'] and r["target_matchers"] == ['severity="warning"']
        for r in rules
    )
    assert all(r.get("equal") for r in rules)
