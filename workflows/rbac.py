"""The workflows' ServiceAccount and Roles, with only the verbs they use.

* ``leadscore-workflows`` (the pods of every workflow): the Argo executor reports step outputs as
  ``workflowtaskresults`` (create, patch). The steps themselves never call the Kubernetes API.
* ``leadscore-monitors`` (the retraining trigger): submits the ``retraining`` template through the Argo
  Server, which acts with the caller's token: create ``workflows``, get the ``workflowtemplates`` it refers to.
"""

from __future__ import annotations

from typing import Any

from workflows.common import LABELS, NAMESPACE, SERVICE_ACCOUNT

NAME = "rbac"
TRIGGER_ACCOUNT = "leadscore-monitors"


def _meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)}


def _role(name: str, rules: list[dict[str, Any]], account: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": _meta(name), "rules": rules},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}],
        },
    ]


def build_all() -> list[dict[str, Any]]:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(SERVICE_ACCOUNT)}
    executor = [{"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}]
    submitter = [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]},
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["workflowtemplates"],
            "resourceNames": ["retraining"],
            "verbs": ["get"],
        },
    ]
    return [
        account,
        *_role("leadscore-workflows-executor", executor, SERVICE_ACCOUNT),
        *_role("leadscore-retrain-submitter", submitter, TRIGGER_ACCOUNT),
    ]
