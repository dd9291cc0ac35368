"""The InferenceService patches of the analysis, sent through the kubernetes client (JSON merge patches).

RBAC: the analysis needs exactly ``get`` and ``patch`` on ``inferenceservices.serving.kserve.io``
(manifests/delivery/rbac.yaml).
"""

from __future__ import annotations

from typing import Any, Final, Protocol

from leadscore.delivery.render import VERSION_LABEL

GROUP: Final = "serving.kserve.io"
VERSION: Final = "v1beta1"
PLURAL: Final = "inferenceservices"
MERGE_PATCH: Final = "application/merge-patch+json"
REQUEST_TIMEOUT: Final = (3.0, 15.0)
"""(connect, read) seconds for every API call."""


class ServicePatcher(Protocol):
    def get(self) -> dict[str, Any]: ...

    def patch(self, body: dict[str, Any]) -> dict[str, Any]: ...


def start_body(storage_uri: str, version: int, percent: int) -> dict[str, Any]:
    """Pin the predictor to a version's immutable storage at ``percent`` of traffic (a new revision)."""
    return {
        "metadata": {"labels": {VERSION_LABEL: str(int(version))}},
        "spec": {"predictor": {"canaryTrafficPercent": int(percent), "model": {"storageUri": storage_uri}}},
    }


def traffic_body(percent: int) -> dict[str, Any]:
    """Move traffic between the latest and the previously rolled-out revision (no new revision)."""
    return {"spec": {"predictor": {"canaryTrafficPercent": int(percent)}}}


class KubePatcher:
    """One InferenceService, through ``CustomObjectsApi`` (in-cluster config, else the kubeconfig)."""

    def __init__(self, namespace: str, name: str, api_client: Any | None = None) -> None:
        self.namespace, self.name = namespace, name
        self._client = api_client

    def _api(self) -> Any:
        from kubernetes import client, config

        if self._client is None:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
            self._client = client.ApiClient()
        return client.CustomObjectsApi(self._client)

    def get(self) -> dict[str, Any]:
        obj = self._api().get_namespaced_custom_object(
            GROUP, VERSION, self.namespace, PLURAL, self.name, _request_timeout=REQUEST_TIMEOUT
        )
        return dict(obj)

    def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        obj = self._api().patch_namespaced_custom_object(
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            self.name,
            body,
            _content_type=MERGE_PATCH,
            _request_timeout=REQUEST_TIMEOUT,
        )
        return dict(obj)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what the API server applies): for checking a patched object locally."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
