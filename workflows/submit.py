"""Submitting a rendered Workflow to the Argo Server with hera's WorkflowsService.

The server comes from the environment, like the ``argo`` CLI: ``ARGO_SERVER`` (URL; ``host:port`` means
https), ``ARGO_TOKEN`` (a service-account token, with or without ``Bearer``), ``ARGO_NAMESPACE`` (default
``leadscore``), ``ARGO_INSECURE_SKIP_VERIFY`` (``true`` for a self-signed dev server). Every request has a
timeout; an unreachable server is retried a bounded number of times with exponential backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.common import NAMESPACE

T = TypeVar("T")
FINAL_PHASES = ("Succeeded", "Failed", "Error")


class ArgoSettings(BaseSettings):
    """Where the Argo Server is (read once per command)."""

    model_config = SettingsConfigDict(env_prefix="ARGO_", extra="ignore")

    server: str = ""
    """Argo Server URL (``ARGO_SERVER``), e.g. https://argo-server.argo:2746; ``host:port`` means https."""
    token: str = ""
    """Bearer token (``ARGO_TOKEN``); required."""
    namespace: str = NAMESPACE
    """Namespace the workflows run in (``ARGO_NAMESPACE``)."""
    insecure_skip_verify: bool = False
    """Skip TLS verification (``ARGO_INSECURE_SKIP_VERIFY``); only for a dev server with a self-signed cert."""
    timeout_seconds: float = Field(10.0, gt=0)
    """Per-request timeout (``ARGO_TIMEOUT_SECONDS``)."""
    attempts: int = Field(4, ge=1, le=10)
    """Tries for an unreachable server or a 5xx answer (``ARGO_ATTEMPTS``)."""
    backoff_seconds: float = Field(0.5, ge=0)
    """First pause between tries, doubled each time (``ARGO_BACKOFF_SECONDS``)."""

    def url(self) -> str:
        if not self.server:
            raise SubmitConfigError("ARGO_SERVER is not set: export the Argo Server URL, e.g. https://localhost:2746")
        if not self.token:
            raise SubmitConfigError("ARGO_TOKEN is not set: export a token (`argo auth token` or a service account)")
        return self.server if self.server.startswith(("http://", "https://")) else f"https://{self.server}"


class SubmitConfigError(ValueError):
    """The environment does not say where or as whom to submit."""


class ArgoUnavailable(RuntimeError):
    """The Argo Server did not answer (or answered 5xx) after every try."""


class _TimeoutSession(requests.Session):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(method, url, *args, **kwargs)


def service(settings: ArgoSettings) -> Any:  # -> hera WorkflowsService
    from hera.workflows import WorkflowsService

    return WorkflowsService(
        host=settings.url(),
        token=settings.token,
        namespace=settings.namespace,
        verify_ssl=not settings.insecure_skip_verify,
        session=_TimeoutSession(settings.timeout_seconds),
    )


def _retrying(settings: ArgoSettings, what: str, call: Callable[[], T]) -> T:
    last = ""
    for attempt in range(settings.attempts):
        if attempt:
            time.sleep(settings.backoff_seconds * 2 ** (attempt - 1))
        try:
            return call()
        except requests.ConnectionError as exc:
            last = f"connection failed ({type(exc).__name__})"
        except requests.Timeout:
            last = f"no answer within {settings.timeout_seconds:g}s"
        except Exception as exc:  # hera raises its own exceptions for HTTP errors
            status = getattr(getattr(exc, "response", None), "status_code", None) or _status_of(exc)
            if status is None or status < 500:
                raise
            last = f"HTTP {status}: {str(exc)[:200]}"
    raise ArgoUnavailable(
        f"{what}: the Argo Server {settings.url()} is not reachable after {settings.attempts} tries ({last})"
    )


def _status_of(exc: Exception) -> int | None:
    import re

    found = re.search(r"status code (\d{3})", str(exc))
    return int(found.group(1)) if found else None


def submit(body: dict[str, Any], settings: ArgoSettings) -> dict[str, Any]:
    """Create ``body`` (a Workflow) on the server; the created object as a dict."""
    from hera.workflows.models import Workflow, WorkflowCreateRequest

    svc = service(settings)
    request = WorkflowCreateRequest(workflow=Workflow.model_validate(body))
    created = _retrying(settings, "submitting", lambda: svc.create_workflow(request, namespace=settings.namespace))
    return dict(created.model_dump(by_alias=True, exclude_none=True))


def wait(name: str, settings: ArgoSettings, timeout: float, poll: float = 5.0) -> str:
    """Poll until the workflow's phase is final or ``timeout`` passes; the last phase seen."""
    svc = service(settings)
    deadline = time.monotonic() + timeout
    phase = "Pending"
    while True:
        wf = _retrying(settings, f"watching {name}", lambda: svc.get_workflow(name, namespace=settings.namespace))
        phase = (wf.status.phase if wf.status else None) or "Pending"
        if phase in FINAL_PHASES or time.monotonic() + poll > deadline:
            return phase
        time.sleep(poll)
