"""The hera modules: golden YAML, the parameter contract, retries on transient failures only, schedules."""

from __future__ import annotations

import pytest
import yaml

from leadscore_core.workflows import TRANSIENT_EXIT_CODE
from workflows import catalog, render, schedules
from workflows.local import dependencies, order


@pytest.mark.parametrize("name", list(catalog.FILES))
def test_committed_yaml_equals_the_render(name: str) -> None:
    path = catalog.yaml_path(name)
    assert path.exists(), f"{path.name} missing: run `python -m workflows.render --write`"
    assert path.read_text() == catalog.render_text(name), (
        f"{path.name} is out of date: run `python -m workflows.render --write` and commit it"
    )


def test_render_check_reports_a_stale_file(tmp_path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert render.main(["--check"]) == 0
    monkeypatch.setattr(catalog, "WORKFLOWS_DIR", tmp_path)
    assert render.main(["--check"]) == 1
    assert "out of date: training.yaml" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())  # --check never writes


def test_training_parameters_are_exactly_the_contract() -> None:
    assert list(catalog.defaults("training")) == ["lake", "source", "spec", "trials", "gold_version"]
    assert list(catalog.defaults("retraining")) == [
        "lake",
        "source",
        "spec",
        "trials",
        "gold_version",
        "reason",
        "evidence",
    ]
    assert list(catalog.defaults("batch-scoring")) == ["lake"]


@pytest.mark.parametrize("name", ["training", "retraining"])
def test_training_outputs_and_dag(name: str) -> None:
    spec = catalog.template(name)["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    main = templates[spec["entrypoint"]]
    outputs = {p["name"]: p["valueFrom"]["parameter"] for p in main["outputs"]["parameters"]}
    names = ("run_id", "model_version", "gate_decision")
    assert outputs == {k: "{{tasks.train.outputs.parameters." + k + "}}" for k in names}
    tasks = order(main["dag"]["tasks"])
    assert [t["name"] for t in tasks][:2] == ["pipeline", "train"]
    assert dependencies(tasks[1]) == ["pipeline"]
    train_paths = {p["name"]: p["valueFrom"]["path"] for p in templates["train"]["outputs"]["parameters"]}
    assert train_paths == {k: f"/tmp/outputs/{k}" for k in outputs}
    assert spec["onExit"] in templates and spec["serviceAccountName"] == "leadscore-workflows"


def test_every_step_requests_resources_and_retries_only_transient_failures() -> None:
    for name in catalog.TEMPLATES:
        for tmpl in catalog.template(name)["spec"]["templates"]:
            if "container" not in tmpl:
                continue
            assert tmpl["container"]["resources"]["requests"], f"{name}/{tmpl['name']}"
            if tmpl["name"] == "exit-handler":
                assert "retryStrategy" not in tmpl
                continue
            retry = tmpl["retryStrategy"]
            assert str(TRANSIENT_EXIT_CODE) in retry["expression"] and "lastRetry.exitCode" in retry["expression"]
            assert retry["backoff"]["factor"] == 2 and int(retry["limit"]) <= 5


def test_retraining_records_reason_and_starts_shadow_only_when_promoted() -> None:
    spec = catalog.template("retraining")["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    args = templates["train"]["container"]["args"]
    assert args[args.index("--reason") + 1] == "{{workflow.parameters.reason}}"
    assert args[args.index("--evidence") + 1] == "{{workflow.parameters.evidence}}"
    shadow = next(t for t in templates["main"]["dag"]["tasks"] if t["name"] == "shadow")
    assert shadow["when"] == "{{tasks.train.outputs.parameters.gate_decision}} == promoted"
    assert templates["start-shadow"]["container"]["args"][:2] == ["registry", "promote"]


def test_cron_workflows() -> None:
    crons = catalog.documents("schedules")
    by_name = {c["metadata"]["name"]: c["spec"] for c in crons}
    assert set(by_name) == {
        "retraining-scheduled",
        "batch-scoring-nightly",
        "analysis-hourly",
        "analysis-daily",
        "analysis-weekly",
        "outcome-join-daily",
    }
    for name, spec in by_name.items():
        assert spec["concurrencyPolicy"] == "Forbid", name
        assert spec["timezone"] == schedules.TIMEZONE
        assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
        assert isinstance(spec["schedules"], list) and len(spec["schedules"]) == 1
        assert spec["workflowSpec"]["workflowTemplateRef"]["name"] in catalog.TEMPLATES
    retrain = by_name["retraining-scheduled"]
    assert "cronworkflow.succeeded < 13" in retrain["when"] and ".Hours() >= 672" in retrain["when"]
    jobs = {
        n: {p["name"]: p["value"] for p in s["workflowSpec"]["arguments"]["parameters"]}
        for n, s in by_name.items()
        if "arguments" in s["workflowSpec"]
    }
    assert jobs["analysis-hourly"] == {"job": "hourly"} and jobs["analysis-weekly"] == {"job": "weekly"}
    assert jobs["retraining-scheduled"]["reason"] == "schedule"


def test_rbac_grants_only_the_verbs_used() -> None:
    docs = catalog.documents("rbac")
    roles = {d["metadata"]["name"]: d["rules"] for d in docs if d["kind"] == "Role"}
    verbs = {name: sorted(v for r in rules for v in r["verbs"]) for name, rules in roles.items()}
    assert verbs == {
        "leadscore-workflows-executor": ["create", "patch"],
        "leadscore-retrain-submitter": ["create", "get"],
    }
    assert all("*" not in r["resources"] for rules in roles.values() for r in rules)
    assert any(d["kind"] == "ServiceAccount" and d["metadata"]["name"] == "leadscore-workflows" for d in docs)


def test_render_is_stable_yaml() -> None:
    for name in catalog.FILES:
        text = catalog.render_text(name)
        assert text == catalog.render_text(name)
        assert all(doc for doc in yaml.safe_load_all(text))


def test_every_step_reads_the_settings_configmap_and_the_credentials_secret() -> None:
    """The plain settings from the ConfigMap, the CRM DSN / S3 keys / PII salt from the Secret (never a ConfigMap)."""
    from workflows.common import CREDENTIALS_SECRET, SETTINGS_CONFIGMAP

    expected = [
        {"configMapRef": {"name": SETTINGS_CONFIGMAP, "optional": True}},
        {"secretRef": {"name": CREDENTIALS_SECRET, "optional": True}},
    ]
    seen = 0
    for name in catalog.TEMPLATES:
        for tmpl in catalog.template(name)["spec"]["templates"]:
            for c in ([tmpl["container"]] if "container" in tmpl else []) + tmpl.get("initContainers", []):
                assert c["envFrom"] == expected, f"{name}/{tmpl['name']}/{c.get('name', 'main')}"
                seen += 1
    assert seen >= 10


def test_lake_parameter_defaults_to_the_steps_leadscore_lake() -> None:
    """Empty `lake`: the CLI's LEADSCORE_LAKE (set by the ConfigMap in a cluster), so a submission without it
    (the retrain trigger, the schedules) uses the cluster's lake, not a directory inside the pod."""
    for name in ("training", "retraining", "batch-scoring"):
        assert catalog.defaults(name)["lake"] == "", name
