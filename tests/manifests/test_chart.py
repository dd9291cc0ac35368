"""The leadscore chart: `helm lint --strict`, the values schema, PodSecurity "restricted" on every
container, checkov with only explained skips, the workflows toggle, and manifests/ generated from it.

Rendering + ../shared validation of every ci/*-values.yaml scenario is test_manifests.py's job
(scripts/manifests.py discovers the chart and its scenarios)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "leadscore"
SCENARIOS = [None, *sorted((CHART / "ci").glob("*-values.yaml"))]
WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet"}


def _helm() -> str:
    local = ROOT / ".tools" / "bin" / "helm"
    found = str(local) if local.exists() else shutil.which("helm")
    if not found:
        pytest.fail("helm not found: `make envs` installs it into .tools/bin", pytrace=False)
    return found


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_helm(), *args], capture_output=True, text=True, timeout=120, check=False)


def render(values: Path | None = None, *extra: str) -> list[dict[str, Any]]:
    args = ["template", "leadscore", str(CHART), "--namespace", "leadscore", *extra]
    proc = helm(*args, *(["--values", str(values)] if values else []))
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def _load_gen():
    spec = importlib.util.spec_from_file_location("leadscore_gen_manifests", ROOT / "scripts" / "gen_manifests.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_helm_lint_strict() -> None:
    proc = helm("lint", "--strict", str(CHART))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("serving.canary.trafficPercent=150", "maximum"),
        ("serving.transformer.authMode=basic", "serving/transformer/authMode"),
        ("serving.unknownKey=1", "additional properties 'unknownKey'"),
        ("podSecurityContext.runAsNonRoot=false", "runAsNonRoot"),
        ("workflows.settings.LEADSCORE_CRM_DSN=postgresql://u:pw@crm/db", "invalid propertyName 'LEADSCORE_CRM_DSN'"),
        ("workflows.settings.AWS_SECRET_ACCESS_KEY=abc", "invalid propertyName 'AWS_SECRET_ACCESS_KEY'"),
        ("workflows.settings.AWS_ACCESS_KEY_ID=abc", "invalid propertyName 'AWS_ACCESS_KEY_ID'"),
        ("workflows.settings.DB_PASSWORD=abc", "invalid propertyName 'DB_PASSWORD'"),
        ("workflows.settings.LEADSCORE_PII_SALT=abc", "invalid propertyName 'LEADSCORE_PII_SALT'"),
    ],
)
def test_schema_rejects_bad_values(flag: str, message: str) -> None:
    proc = helm("template", "x", str(CHART), "--set", flag)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_every_values_key_is_commented() -> None:
    """prometheus-community style: a comment line above every key of values.yaml."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or stripped.startswith("-") or ":" not in stripped:
            continue
        indent = len(line) - len(line.lstrip())
        parent_inline = i > 0 and lines[i - 1].strip().endswith(":") and not lines[i - 1].strip().startswith("#")
        under_free_map = any(
            lines[j].strip().startswith(("settings:", "requests:", "limits:", "resources:", "initResources:"))
            and len(lines[j]) - len(lines[j].lstrip()) < indent
            for j in range(max(0, i - 12), i)
        )
        if under_free_map:
            continue
        assert lines[i - 1].strip().startswith("#") or parent_inline, f"values.yaml:{i + 1} {stripped} has no comment"


@pytest.mark.parametrize("values", SCENARIOS, ids=[p.name if p else "defaults" for p in SCENARIOS])
def test_restricted_pod_security_and_resources(values: Path | None) -> None:
    for doc in render(values):
        if doc["kind"] not in WORKLOADS:
            continue
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod.get("automountServiceAccountToken") is False
        for c in pod.get("initContainers", []) + pod["containers"]:
            sc = c["securityContext"]
            where = f"{doc['metadata']['name']}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert c["resources"]["requests"] and c["resources"]["limits"], where


def test_kserve_components_are_restricted() -> None:
    docs = {d["kind"]: d for d in render()}
    isvc = docs["InferenceService"]["spec"]
    assert isvc["predictor"]["securityContext"]["runAsNonRoot"] is True
    # one process serves /score-lead and sends the PII-free events itself: no transformer, no KServe logger
    assert "transformer" not in isvc and "logger" not in isvc["predictor"]
    env = {e["name"]: e for e in isvc["predictor"]["model"]["env"]}
    assert env["PREDICTOR_CRM_ENDPOINT"]["value"] == "true" and env["PREDICTOR_AUTH_MODE"]["value"] == "jwt"
    assert env["PREDICTOR_EVENTS_SINK_URL"]["value"].startswith("http://broker-ingress.")
    runtime = docs["ServingRuntime"]["spec"]["containers"][0]["securityContext"]
    assert runtime["readOnlyRootFilesystem"] is True and runtime["allowPrivilegeEscalation"] is False


def test_canary_and_rate_limiter_wiring() -> None:
    isvc = next(d for d in render(CHART / "ci" / "01-canary-values.yaml") if d["kind"] == "InferenceService")
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 10
    default = next(d for d in render() if d["kind"] == "InferenceService")
    assert default["spec"]["predictor"]["canaryTrafficPercent"] == 100
    env = {e["name"]: e for e in default["spec"]["predictor"]["model"]["env"]}
    assert env["PREDICTOR_RATE_LIMIT_STORAGE"]["value"].startswith("redis://:$(REDIS_PASSWORD)@leadscore-redis.")
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "leadscore-redis"
    names = {(d["kind"], d["metadata"]["name"]) for d in render()}
    assert ("Deployment", "leadscore-redis") in names and ("Service", "leadscore-redis") in names


def test_no_secret_value_in_values_or_render() -> None:
    for values in SCENARIOS:
        for doc in render(values):
            if doc["kind"] == "Secret":
                assert set(doc.get("stringData", {})) == {"alertmanager.yaml"}
                assert "data" not in doc


def test_workflows_toggle_includes_the_rendered_workflow_files(tmp_path: Path) -> None:
    """workflows.enabled installs every files/workflows/*.yaml (a link to the repo's workflows/)."""
    link = CHART / "files" / "workflows"
    assert link.is_symlink() and link.resolve() == (ROOT / "workflows").resolve()
    chart = tmp_path / "leadscore"
    shutil.copytree(CHART, chart, symlinks=False, ignore=shutil.ignore_patterns("workflows"))
    (chart / "files" / "workflows").mkdir()
    cron = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "CronWorkflow",
        "metadata": {"name": "probe-cron"},
        "spec": {"schedules": ["0 2 * * *"], "workflowSpec": {"entrypoint": "main", "templates": []}},
    }
    (chart / "files" / "workflows" / "probe.yaml").write_text(yaml.safe_dump(cron))
    off = helm("template", "x", str(chart))
    on = helm("template", "x", str(chart), "--set", "workflows.enabled=true")
    assert off.returncode == 0 and on.returncode == 0, off.stderr + on.stderr
    assert "probe-cron" not in off.stdout
    assert "name: probe-cron" in on.stdout and "kind: RoleBinding" in on.stdout


def test_manifests_are_generated_from_the_chart(tmp_path: Path) -> None:
    """manifests/ == scripts/gen_manifests.py output: the chart is the one source of truth."""
    gen = _load_gen()
    os.environ.setdefault("HELM", _helm())
    assert gen.main(["--check"]) == 0, "manifests/ is stale: run `make manifests`"
    assert gen.main(["--out", str(tmp_path)]) == 0
    (tmp_path / "serving" / "serving.yaml").write_text("# hand edit\n")
    assert gen.main(["--check", "--out", str(tmp_path)]) == 1


def test_checkov_has_no_unexplained_failure(tmp_path: Path) -> None:
    checkov = ROOT / ".venv" / "bin" / "checkov"
    if not checkov.exists():
        pytest.fail("checkov missing from the root env: run `make envs`", pytrace=False)
    files = []
    for values in (CHART / "ci" / "01-canary-values.yaml", CHART / "ci" / "02-external-values.yaml"):
        out = tmp_path / f"{values.stem}.yaml"
        out.write_text(yaml.safe_dump_all(render(values)))
        files += ["-f", str(out)]
    config = ROOT / ".checkov.yaml"
    skipped = yaml.safe_load(config.read_text())["skip-check"]
    text = config.read_text()
    for check in skipped:
        assert f"#   {check} " in text, f"{check} is skipped without a reason in .checkov.yaml"
    proc = subprocess.run(
        [str(checkov), "--config-file", str(config), *files], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert "Failed checks: 0" in proc.stdout


WORKFLOW_KINDS = {"WorkflowTemplate", "ClusterWorkflowTemplate", "Workflow", "CronWorkflow"}
SECRET_LOOKING = re.compile(r"DSN|KEY|PASSWORD|SECRET|TOKEN|SALT")


def _workflows_render(*sets: str) -> list[dict[str, Any]]:
    flags = [arg for flag in ("workflows.enabled=true", *sets) for arg in ("--set", flag)]
    return render(None, *flags)


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def _step_containers(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(where, container) of every container and init container of every workflow template in ``docs``."""
    out = []
    for doc in docs:
        if doc["kind"] not in WORKFLOW_KINDS:
            continue
        spec = doc["spec"].get("workflowSpec", doc["spec"])
        for tmpl in spec.get("templates", []):
            for c in ([tmpl["container"]] if "container" in tmpl else []) + tmpl.get("initContainers", []):
                out.append((f"{doc['metadata']['name']}/{tmpl['name']}/{c.get('name', 'main')}", c))
    return out


def test_workflows_settings_configmap_is_the_one_the_steps_read() -> None:
    """workflows.enabled renders the ConfigMap named by workflows/common.py, its MLflow the chart's Service."""
    from workflows.common import SETTINGS_CONFIGMAP

    docs = _workflows_render()
    data = _one(docs, "ConfigMap", SETTINGS_CONFIGMAP)["data"]
    service = _one(docs, "Service", "leadscore-mlflow")
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "http")
    assert data["MLFLOW_TRACKING_URI"] == f"http://leadscore-mlflow.leadscore.svc.cluster.local:{port}"
    assert data["LEADSCORE_LAKE"].startswith("s3://") and data["LEADSCORE_DELIVERY_MODEL_STORE"].startswith("s3://")
    assert "AWS_ENDPOINT_URL" not in data and "AWS_REGION" not in data  # empty by default: left unset, not ""
    off = render(None, "--set", "workflows.enabled=false")
    assert not [d for d in off if d["kind"] == "ConfigMap" and d["metadata"]["name"] == SETTINGS_CONFIGMAP]


def test_workflows_settings_follow_the_values() -> None:
    from workflows.common import SETTINGS_CONFIGMAP

    docs = _workflows_render(
        "workflows.settings.MLFLOW_TRACKING_URI=http://mlflow.elsewhere:5000",
        "workflows.settings.LEADSCORE_LAKE=s3://other-lake/prod",
        "workflows.settings.AWS_ENDPOINT_URL=http://minio.minio.svc:9000",
        "workflows.settings.LEADSCORE_DRIFT_CONVERSION_DROP_MAX=0.2",
    )
    data = _one(docs, "ConfigMap", SETTINGS_CONFIGMAP)["data"]
    assert data["MLFLOW_TRACKING_URI"] == "http://mlflow.elsewhere:5000"
    assert data["LEADSCORE_LAKE"] == "s3://other-lake/prod"
    assert data["AWS_ENDPOINT_URL"] == "http://minio.minio.svc:9000"
    assert data["LEADSCORE_DRIFT_CONVERSION_DROP_MAX"] == "0.2"
    external = _workflows_render("mlflow.enabled=false", "mlflow.externalTrackingUri=http://mlflow.mlops:5000")
    assert _one(external, "ConfigMap", SETTINGS_CONFIGMAP)["data"]["MLFLOW_TRACKING_URI"] == "http://mlflow.mlops:5000"


def test_no_secret_looking_key_in_the_workflows_settings() -> None:
    """Defaults and every scenario: the DSN, keys, passwords and the salt belong in secrets.workflows."""
    from workflows.common import SETTINGS_CONFIGMAP

    defaults = yaml.safe_load((CHART / "values.yaml").read_text())["workflows"]["settings"]
    assert defaults and not [k for k in defaults if SECRET_LOOKING.search(k)]
    for values in SCENARIOS:
        for doc in render(values, "--set", "workflows.enabled=true"):
            if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == SETTINGS_CONFIGMAP:
                assert not [k for k in doc["data"] if SECRET_LOOKING.search(k)], values


@pytest.mark.parametrize("secret", [None, "crm-and-s3-credentials"])
def test_every_workflow_step_reads_the_settings_and_the_credentials(secret: str | None) -> None:
    """Each step container (and init container) of every installed workflow loads both, optional."""
    from workflows.common import CREDENTIALS_SECRET, SETTINGS_CONFIGMAP

    docs = _workflows_render(*([f"secrets.workflows={secret}"] if secret else []))
    expected = secret or yaml.safe_load((CHART / "values.yaml").read_text())["secrets"]["workflows"]
    assert expected == (secret or CREDENTIALS_SECRET)
    steps = _step_containers(docs)
    assert {where.split("/")[0] for where, _ in steps} >= {"training", "retraining", "leadscore-canary"}
    for where, container in steps:
        refs = container.get("envFrom", [])
        assert {"configMapRef": {"name": SETTINGS_CONFIGMAP, "optional": True}} in refs, where
        assert {"secretRef": {"name": expected, "optional": True}} in refs, where


@pytest.mark.parametrize("account", [None, "ml-pipelines"])
def test_every_installed_workflow_runs_as_a_service_account_the_chart_binds(account: str | None) -> None:
    """workflows.serviceAccount names the ServiceAccount every workflow but the canary runs as; the canary's
    own (workflows/canary.py) is rendered too, with the executor's rights and get/patch on its one
    InferenceService only."""
    from workflows import canary
    from workflows.common import SERVICE_ACCOUNT

    docs = _workflows_render(*([f"workflows.serviceAccount={account}"] if account else []))
    expected = account or SERVICE_ACCOUNT
    runs_as = {}
    for doc in docs:
        if doc["kind"] in WORKFLOW_KINDS:
            runs_as[doc["metadata"]["name"]] = doc["spec"].get("workflowSpec", doc["spec"]).get("serviceAccountName")
    assert {"training", "retraining", "batch-scoring"} <= set(runs_as)
    assert runs_as.pop("leadscore-canary") == canary.SERVICE_ACCOUNT
    assert set(runs_as.values()) == {expected}, runs_as

    def rules_of(subject: str) -> list[dict[str, Any]]:
        _one(docs, "ServiceAccount", subject)
        roles = [
            d["roleRef"]["name"]
            for d in docs
            if d["kind"] == "RoleBinding" and subject in [s["name"] for s in d["subjects"]]
        ]
        return [r for name in roles for r in _one(docs, "Role", name)["rules"]]

    executor = _one(docs, "Role", "leadscore-workflow-executor")["rules"]
    report = {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
    assert report in executor and rules_of(expected) == executor
    isvc = _one(docs, "InferenceService", "lead-scoring")["metadata"]["name"]
    canary_rules = rules_of(canary.SERVICE_ACCOUNT)
    assert all(r in canary_rules for r in executor)
    assert [r for r in canary_rules if r not in executor] == [
        {
            "apiGroups": ["serving.kserve.io"],
            "resources": ["inferenceservices"],
            "resourceNames": [isvc],
            "verbs": ["get", "patch"],
        }
    ]
