"""Argo Workflows submission facts shared by the tools image (``leadscore retrain``, ``leadscore workflows``)
and the monitors image (the retraining trigger): the exit code that marks a transient failure, the
parameter names of the ``retraining`` template, and the Workflow body that runs a WorkflowTemplate.

Dependency-light on purpose (no hera, no HTTP client): the body is a plain dict, POSTed by each image
with the HTTP client it already has to ``POST {server}/api/v1/workflows/{namespace}``.

**Idempotent submission.** A request that carries a request id gets a deterministic Workflow name
(:func:`workflow_name`), so submitting it again (a retry after a timeout whose first POST did land, or a
resubmission after the caller failed to record the first one) is refused by Argo with 409 AlreadyExists,
which :func:`post_workflow` reports as success: one request, one Workflow.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any, Final

TRANSIENT_EXIT_CODE: Final = 75
"""Exit code (BSD ``EX_TEMPFAIL``) of a ``leadscore`` command whose failure is transient (a dependency
unreachable: CRM, MLflow, S3). The workflows retry a step only on this code; any other failure is final."""

RETRAINING_TEMPLATE: Final = "retraining"
"""Name of the WorkflowTemplate the trigger and ``leadscore retrain`` run."""
RETRAIN_REASONS: Final = ("drift", "schedule", "business", "manual")
"""Accepted values of the ``reason`` parameter (same as :class:`leadscore_core.events.RetrainRequest`)."""
MAX_EVIDENCE_CHARS: Final = 4000
"""Evidence longer than this is truncated (it becomes an MLflow tag and an Argo parameter)."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class WorkflowRequestError(ValueError):
    """The submission request itself is wrong (unknown template name, bad reason, bad parameter)."""


def workflows_path(namespace: str) -> str:
    """Argo Server REST path that creates a Workflow in ``namespace``."""
    if not _DNS_LABEL.match(namespace):
        raise WorkflowRequestError(f"namespace {namespace!r} is not a valid Kubernetes namespace name")
    return f"/api/v1/workflows/{namespace}"


def workflow_name(template: str, request_id: str) -> str:
    """The deterministic Workflow name of one request: ``<template>-<12 hex of sha256(request id)>``."""
    if not request_id:
        raise WorkflowRequestError("a request id is needed for a deterministic workflow name")
    return f"{template}-{hashlib.sha256(request_id.encode()).hexdigest()[:12]}"


def template_ref_workflow(
    template: str,
    parameters: Mapping[str, str],
    *,
    namespace: str,
    labels: Mapping[str, str] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """The Workflow (as the Argo Server's create request wants it) that runs WorkflowTemplate ``template``.

    Parameters are sent sorted by name so the same request always produces the same body. With
    ``request_id`` the Workflow is named by :func:`workflow_name` (idempotent; an empty id is refused), else
    Argo generates a name.
    """
    if not _DNS_LABEL.match(template):
        raise WorkflowRequestError(f"template name {template!r} is not a valid Kubernetes name")
    for key in parameters:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_-]*$", key):
            raise WorkflowRequestError(f"parameter name {key!r} is not a valid Argo parameter name")
    naming = {"generateName": f"{template}-"} if request_id is None else {"name": workflow_name(template, request_id)}
    return {
        "workflow": {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {
                **naming,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/name": "leadscore", "leadscore/workflow": template, **(labels or {})},
            },
            "spec": {
                "workflowTemplateRef": {"name": template},
                "arguments": {"parameters": [{"name": k, "value": str(parameters[k])} for k in sorted(parameters)]},
            },
        }
    }


def retraining_request(
    reason: str, evidence: str, *, namespace: str, request_id: str | None = None, **extra: str
) -> dict[str, Any]:
    """The create request for the ``retraining`` template with ``reason`` and ``evidence`` (+ overrides);
    with ``request_id``, named deterministically (a resubmission is refused by Argo, see :func:`post_workflow`)."""
    if reason not in RETRAIN_REASONS:
        raise WorkflowRequestError(f"reason {reason!r} is not one of {', '.join(RETRAIN_REASONS)}")
    params = {**extra, "reason": reason, "evidence": evidence[:MAX_EVIDENCE_CHARS]}
    return template_ref_workflow(
        RETRAINING_TEMPLATE,
        params,
        namespace=namespace,
        labels={"leadscore/retrain-reason": reason},
        request_id=request_id,
    )


class SubmitError(RuntimeError):
    """The Argo Server could not be reached or refused the Workflow; the message says which and why."""

    def __init__(self, message: str, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def post_workflow(
    server: str,
    namespace: str,
    token: str,
    request: Mapping[str, Any],
    *,
    attempts: int = 4,
    backoff: float = 0.5,
    timeout: float = 10.0,
    verify_tls: bool = True,
) -> dict[str, Any]:
    """POST a create request to ``{server}/api/v1/workflows/{namespace}``; the created Workflow.

    Connection failures and 5xx answers are retried ``attempts`` times in all, sleeping ``backoff * 2**n``
    seconds in between (bounded: at most ``attempts * timeout + backoff * 2**attempts`` seconds); a 4xx
    answer is final. A request with a fixed ``metadata.name`` that Argo refuses with 409 (AlreadyExists)
    was submitted before: that is success, returned as ``{"metadata": {"name", "namespace"},
    "alreadyExists": True}``. Stdlib only, so every image shares this one code path.

    Raises:
        SubmitError: ``transient`` tells an unreachable/failing server from a refusal.
    """
    import json
    import ssl
    import time
    import urllib.error
    import urllib.request

    if not server.startswith(("http://", "https://")):
        raise SubmitError(f"Argo Server URL {server!r} must start with http:// or https://", transient=False)
    url = server.rstrip("/") + workflows_path(namespace)
    data = json.dumps(request).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = token if token.startswith("Bearer ") else f"Bearer {token}"
    context = None if verify_tls else ssl._create_unverified_context()  # noqa: S323 - opt-in for dev servers
    last = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:  # noqa: S310 - http(s) only
                return dict(json.loads(resp.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode(errors="replace")
            fixed = request.get("workflow", {}).get("metadata", {}).get("name")
            if exc.code == 409 and fixed:
                return {"metadata": {"name": fixed, "namespace": namespace}, "alreadyExists": True}
            if exc.code < 500:
                raise SubmitError(f"Argo Server {url} refused the Workflow: HTTP {exc.code} {detail}", False) from exc
            last = f"HTTP {exc.code} {detail}"
        except (urllib.error.URLError, OSError) as exc:
            last = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
    raise SubmitError(f"Argo Server {url} is not reachable after {attempts} attempts ({last})", transient=True)
