"""The ``lead-scoring`` registered model: listing, lifecycle moves, rollback and artifact download.

Aliases carry the serving roles (``champion`` = production, ``challenger`` = staging, ``shadow``,
``canary``); the model-version tag ``lifecycle`` carries the stage. See :mod:`leadscore.registry.lifecycle`.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from leadscore.registry import lifecycle
from leadscore_core.artifact import MANIFEST, REGISTRY_INFO
from leadscore_core.settings import HomeSettings
from training.errors import RegistryError, TransitionRefused
from training.pyfunc import ARTIFACT_KEY
from training.tracking import configure

REPLACED_TAG = "replaced_version"
"""Set on a champion: the production version it replaced (the rollback target)."""
STORAGE_TAG = "storage_uri"
"""Set once, when the version is first published for serving: its immutable per-version storage URI."""
SERVED_STAGES = ("shadow", "canary", "production")
GATE_EVIDENCE = ("gate_decision", "gate_reason", "gate_champion_version", "gate_champion_auc", "holdout_auc")
HISTORY_VALUE_LIMIT = 4800
"""MLflow keeps at most 5000 characters per tag value; larger evidence goes to a run artifact."""


@dataclass
class VersionInfo:
    version: int
    lifecycle: str
    aliases: list[str]
    auc: float | None
    gold_version: str | None
    run_id: str | None
    created: str
    gate_decision: str | None
    reason: str | None
    tags: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def registry_errors(action: str) -> Iterator[None]:
    """Turn MLflow/HTTP failures into a :class:`RegistryError` that says what failed: the registry, or the S3
    artifact store (named, with its bounds) when boto3 could not reach it."""
    from mlflow.exceptions import MlflowException

    from leadscore.objectstore import s3_unreachable

    try:
        yield
    except (RegistryError, TransitionRefused):
        raise
    except Exception as exc:
        if s3_unreachable(exc):  # before OSError: botocore's ReadTimeoutError is one too
            from leadscore_core.storage import S3Settings

            s3 = S3Settings()
            msg = str(exc).splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise RegistryError(
                f"{action}: the model's artifact store (S3 endpoint {s3.endpoint_label}) is not reachable ({msg}); "
                f"bounded by LEADSCORE_S3_CONNECT_TIMEOUT={s3.connect_timeout:g}s, "
                f"LEADSCORE_S3_REQUEST_TIMEOUT={s3.request_timeout:g}s, LEADSCORE_S3_MAX_RETRIES={s3.max_retries}"
            ) from exc
        if isinstance(exc, MlflowException):
            msg = str(exc.message if hasattr(exc, "message") else exc).splitlines()[0][:300]
            if "Connection" in msg or "Max retries" in msg or "API request" in msg:
                raise RegistryError(f"{action}: the MLflow registry is not reachable ({msg})") from exc
            raise RegistryError(f"{action}: {msg}") from exc
        if isinstance(exc, OSError):
            raise RegistryError(f"{action}: the MLflow registry is not reachable ({exc})") from exc
        raise


class Registry:
    """Operations on one registered model (default ``HomeSettings.model_name``)."""

    def __init__(self, name: str | None = None, home: HomeSettings | None = None) -> None:
        from mlflow.tracking import MlflowClient

        self.home = home or HomeSettings()
        self.name = name or self.home.model_name
        self.uri = configure(self.home)
        self.client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)

    # -- reading ---------------------------------------------------------------------------
    def exists(self) -> bool:
        from mlflow.exceptions import MlflowException

        with registry_errors("reading the registry"):
            try:
                self.client.get_registered_model(self.name)
                return True
            except MlflowException as exc:
                if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                    return False
                raise

    def versions(self) -> list[VersionInfo]:
        """All versions, newest first."""
        if not self.exists():
            return []
        with registry_errors("listing versions"):
            found = self.client.search_model_versions(f"name = '{self.name}'")
            model = self.client.get_registered_model(self.name)
        aliases: dict[str, list[str]] = {}
        for alias, version in (model.aliases or {}).items():
            aliases.setdefault(str(version), []).append(alias)
        out = []
        for mv in found:
            tags = dict(mv.tags or {})
            auc = tags.get("holdout_auc")
            out.append(
                VersionInfo(
                    version=int(mv.version),
                    lifecycle=tags.get(lifecycle.LIFECYCLE_TAG, "development"),
                    aliases=sorted(aliases.get(str(mv.version), [])),
                    auc=float(auc) if auc else None,
                    gold_version=tags.get("gold_version"),
                    run_id=mv.run_id,
                    created=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(mv.creation_timestamp / 1000)),
                    gate_decision=tags.get("gate_decision"),
                    reason=tags.get("archived_reason") or tags.get("gate_reason"),
                    tags=tags,
                )
            )
        return sorted(out, key=lambda v: v.version, reverse=True)

    def resolve(self, alias_or_version: str) -> Any:
        """The ModelVersion for ``champion``/``challenger``/... or ``3``/``v3``."""
        from mlflow.exceptions import MlflowException

        ref = str(alias_or_version).strip()
        with registry_errors(f"resolving {ref!r}"):
            try:
                if ref.lstrip("vV").isdigit():
                    return self.client.get_model_version(self.name, ref.lstrip("vV"))
                return self.client.get_model_version_by_alias(self.name, ref)
            except MlflowException as exc:
                if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                    if ref in lifecycle.STAGE_OF_ALIAS or not ref.lstrip("vV").isdigit():
                        hint = (
                            "train one with `leadscore train`" if ref == "champion" else "see `leadscore registry list`"
                        )
                        raise RegistryError(f"model {self.name!r} has no version with alias {ref!r}: {hint}") from exc
                    raise RegistryError(
                        f"model {self.name!r} has no version {ref}: see `leadscore registry list`"
                    ) from exc
                raise

    def champion(self) -> Any | None:
        try:
            return self.resolve("champion")
        except RegistryError as exc:
            if "no version with alias" in str(exc):
                return None
            raise

    # -- lifecycle moves -------------------------------------------------------------------
    def _tags(self, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(self.name, version).tags or {})

    def state(self, alias_or_version: str) -> lifecycle.State:
        return lifecycle.state_of(dict(self.resolve(alias_or_version).tags or {}))

    def history(self, alias_or_version: str) -> list[lifecycle.Transition]:
        """Every transition of the version, oldest first (see :mod:`leadscore.registry.lifecycle`)."""
        mv = self.resolve(alias_or_version)
        with registry_errors(f"reading the history of v{mv.version}"):
            return lifecycle.history(self._tags(str(mv.version)))

    def _record(
        self, version: str, before: str, after: str, why: str, evidence: dict[str, Any] | None = None
    ) -> lifecycle.Transition:
        """Append one transition to the version's history: a new tag, never an overwrite."""
        tags = self._tags(version)
        seq = lifecycle.next_seq(tags)
        entry = lifecycle.Transition(seq, lifecycle.now(), lifecycle.actor(), before, after, why, evidence or {})
        text = json.dumps(entry.as_dict(), sort_keys=True, default=str)
        if len(text) > HISTORY_VALUE_LIMIT:
            entry = self._evidence_to_artifact(version, entry)
            text = json.dumps(entry.as_dict(), sort_keys=True, default=str)
        key = lifecycle.history_key(seq)
        if key in self._tags(version):
            raise RegistryError(f"v{version}: history entry {key} was written concurrently; retry the transition")
        self.client.set_model_version_tag(self.name, version, key, text)
        return entry

    def _evidence_to_artifact(self, version: str, entry: lifecycle.Transition) -> lifecycle.Transition:
        """Evidence too large for a tag goes to the version's run as ``lifecycle/v<N>-<seq>.json``."""
        mv = self.client.get_model_version(self.name, version)
        path = f"lifecycle/v{version}-{entry.seq:04d}.json"
        if mv.run_id:
            self.client.log_text(mv.run_id, json.dumps(entry.evidence, default=str), path)
            pointer: dict[str, Any] = {"artifact": f"runs:/{mv.run_id}/{path}"}
        else:
            pointer = {"truncated": json.dumps(entry.evidence, default=str)[:2000]}
        return lifecycle.Transition(
            entry.seq, entry.at, entry.who, entry.from_state, entry.to_state, entry.why[:1500], pointer
        )

    def _set_state(self, version: str, state: lifecycle.State) -> None:
        self.client.set_model_version_tag(self.name, version, lifecycle.LIFECYCLE_TAG, state.stage)
        if state.stage == "canary":
            self.client.set_model_version_tag(self.name, version, lifecycle.TRAFFIC_TAG, str(state.traffic))
        elif lifecycle.TRAFFIC_TAG in self._tags(version):
            self.client.delete_model_version_tag(self.name, version, lifecycle.TRAFFIC_TAG)

    def _drop_aliases(self, mv: Any) -> None:
        for alias in list(mv.aliases or []):
            self.client.delete_registered_model_alias(self.name, alias)

    def _take_alias(self, version: str, stage: str) -> str | None:
        """Give ``version`` the stage's alias; the version that held it is returned (and archived by callers)."""
        alias = lifecycle.ALIASES[stage]
        previous = None
        with contextlib.suppress(RegistryError):
            holder = self.resolve(alias)
            if str(holder.version) != str(version):
                previous = str(holder.version)
        self.client.set_registered_model_alias(self.name, alias, version)
        return previous

    def _archive_displaced(self, displaced: str, by: str, stage: str) -> None:
        before = lifecycle.state_of(self._tags(displaced))
        why = f"replaced by v{by}" if stage == "production" else f"superseded in {stage} by v{by}"
        self._set_state(displaced, lifecycle.State("archived"))
        self.client.set_model_version_tag(self.name, displaced, "archived_reason", why)
        self._record(displaced, str(before), "archived", why, {"replaced_by": int(by)})

    def promote(
        self,
        alias_or_version: str,
        to: str | None = None,
        *,
        traffic: int | None = None,
        why: str = "promoted by operator",
        evidence: dict[str, Any] | None = None,
        publish: Callable[[int], str] | None = None,
    ) -> dict[str, Any]:
        """Move one step along development -> staging -> shadow -> canary 10/50/100 -> production.

        ``publish(version) -> storage URI`` is called once per version when it first needs serving
        (shadow, canary, production); the URI is kept in the ``storage_uri`` tag and the history.
        """
        mv = self.resolve(alias_or_version)
        version, tags = str(mv.version), dict(mv.tags or {})
        current = lifecycle.state_of(tags)
        if to is None:
            target = lifecycle.next_state(version, current)
        else:
            target = lifecycle.State(to, (traffic or lifecycle.CANARY_STEPS[0]) if to == "canary" else None)
        if target.stage == "archived":
            raise TransitionRefused(f"v{version}: use `leadscore registry archive {version}` to archive a version")
        if target.stage == "production" and current.stage == "archived":
            raise TransitionRefused(f"v{version}: use `leadscore registry rollback` to bring back an archived champion")
        lifecycle.check_transition(version, current, target, tags)
        evidence = dict(evidence or {})
        with registry_errors(f"promoting v{version}"):
            if target.stage in SERVED_STAGES and publish is not None and not tags.get(STORAGE_TAG):
                uri = publish(int(version))
                self.client.set_model_version_tag(self.name, version, STORAGE_TAG, uri)
                evidence["storage_uri"] = uri
            displaced = None
            if target.stage != current.stage:
                self._drop_aliases(mv)
                displaced = self._take_alias(version, target.stage)
            if target.stage == "production" and displaced:
                self.client.set_model_version_tag(self.name, version, REPLACED_TAG, displaced)
            self._set_state(version, target)
            self._record(version, str(current), str(target), why, evidence)
            if displaced:
                self._archive_displaced(displaced, version, target.stage)
        return {
            "version": int(version),
            "from": str(current),
            "to": str(target),
            "alias": lifecycle.ALIASES[target.stage],
            "archived": int(displaced) if displaced else None,
            "storage_uri": evidence.get("storage_uri") or tags.get(STORAGE_TAG),
        }

    def record_storage(self, alias_or_version: str, publish: Callable[[int], str]) -> str:
        """Publish a served version (e.g. the bootstrap champion) and keep its storage URI; write-once."""
        mv = self.resolve(alias_or_version)
        version, tags = str(mv.version), dict(mv.tags or {})
        state = lifecycle.state_of(tags)
        if state.stage not in SERVED_STAGES:
            raise TransitionRefused(f"v{version} is in {state}; only shadow, canary and production versions are served")
        uri = publish(int(version))
        existing = tags.get(STORAGE_TAG)
        if existing and existing != uri:
            raise RegistryError(f"v{version} was published to {existing}; it is not moved to {uri}")
        with registry_errors(f"recording the storage of v{version}"):
            self.client.set_model_version_tag(self.name, version, STORAGE_TAG, uri)
        return uri

    def record_evidence(
        self, alias_or_version: str, why: str, evidence: dict[str, Any], stages: tuple[str, ...] = ("shadow",)
    ) -> lifecycle.Transition:
        """Append evidence that moves nothing (from = to = the current state) to the version's history: e.g. the
        shadow stage's approved score shift, which the canary analysis reads. Only in ``stages``."""
        mv = self.resolve(alias_or_version)
        version, tags = str(mv.version), dict(mv.tags or {})
        current = lifecycle.state_of(tags)
        if current.stage not in stages:
            raise TransitionRefused(
                f"v{version} is in {current}; this evidence is recorded in {' or '.join(stages)} only ({why})"
            )
        with registry_errors(f"recording evidence on v{version}"):
            return self._record(version, str(current), str(current), why, evidence)

    def archive(
        self, alias_or_version: str, reason: str = "archived by operator", evidence: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Retire a candidate (a failed canary included); the champion is archived only by replacement/rollback."""
        mv = self.resolve(alias_or_version)
        version, tags = str(mv.version), dict(mv.tags or {})
        current = lifecycle.state_of(tags)
        if current.stage == "production":
            raise TransitionRefused(
                f"v{version} is the production champion; it is archived only when another version replaces it "
                "(`leadscore registry promote` a canary) or by `leadscore registry rollback`"
            )
        lifecycle.check_transition(version, current, lifecycle.State("archived"), tags)
        with registry_errors(f"archiving v{version}"):
            self._drop_aliases(mv)
            self._set_state(version, lifecycle.State("archived"))
            self.client.set_model_version_tag(self.name, version, "archived_reason", reason[:4900])
            self._record(version, str(current), "archived", reason, evidence)
        return {"version": int(version), "from": str(current), "to": "archived"}

    def rollback(self, why: str = "rolled back by operator", evidence: dict[str, Any] | None = None) -> dict[str, Any]:
        """Move ``champion`` back to the production version the current champion replaced."""
        current = self.champion()
        if current is None:
            raise RegistryError(f"model {self.name!r} has no champion to roll back: train one with `leadscore train`")
        previous = dict(current.tags or {}).get(REPLACED_TAG)
        if not previous:
            raise TransitionRefused(
                f"champion v{current.version} did not replace another production version; nothing to roll back to"
            )
        target = self.resolve(previous)
        target_state = lifecycle.state_of(dict(target.tags or {}))
        if target_state.stage != "archived":
            raise TransitionRefused(
                f"cannot roll back to v{previous}: it is in {target_state}, not archived after being replaced"
            )
        lifecycle.check_transition(previous, target_state, lifecycle.State("production"), dict(target.tags or {}))
        with registry_errors(f"rolling back to v{previous}"):
            self.client.set_registered_model_alias(self.name, "champion", previous)
            self._set_state(previous, lifecycle.State("production"))
            self._record(previous, "archived", "production", f"rollback from v{current.version}: {why}", evidence)
            self._set_state(str(current.version), lifecycle.State("archived"))
            self.client.set_model_version_tag(self.name, str(current.version), "archived_reason", why[:4900])
            self._record(str(current.version), "production", "archived", f"rolled back to v{previous}: {why}", evidence)
        return {"from_version": int(current.version), "to_version": int(previous)}

    # -- registration ----------------------------------------------------------------------
    def register(
        self,
        model_uri: str,
        run_id: str,
        stage: str,
        tags: dict[str, str],
        description: str,
        model_id: str | None = None,
    ) -> int:
        """Create a version with its tags and stage alias in one go; on any failure nothing is left behind."""
        import mlflow.models

        lifecycle.check_registration(stage, tags)
        with registry_errors(f"reading the logged model {model_uri}"):  # an unreachable artifact store: 75
            try:
                mlflow.models.get_model_info(model_uri)
            except Exception as exc:
                from leadscore.objectstore import s3_unreachable

                if s3_unreachable(exc):
                    raise
                raise RegistryError(f"cannot register {model_uri}: no logged MLflow model there ({exc})") from exc
        created: str | None = None
        with registry_errors("registering the model version"):
            try:
                if not self.exists():
                    self.client.create_registered_model(
                        self.name, description="Lead conversion scoring (XGBoost + isotonic calibration)."
                    )
                mv = self.client.create_model_version(
                    self.name,
                    model_uri,
                    run_id=run_id,
                    tags={**tags, lifecycle.LIFECYCLE_TAG: stage},
                    description=description,
                    model_id=model_id,
                )
                created = str(mv.version)
                _wait_ready(self.client, self.name, created)
                gate: dict[str, Any] = {k: tags[k] for k in GATE_EVIDENCE if k in tags}
                self._record(created, "registered", stage, tags.get("gate_reason") or f"registered in {stage}", gate)
                if stage in lifecycle.ALIASES:
                    displaced = self._take_alias(created, stage)
                    if displaced:
                        if stage == "production":
                            self.client.set_model_version_tag(self.name, created, REPLACED_TAG, displaced)
                        self._archive_displaced(displaced, created, stage)
                return int(created)
            except BaseException:
                if created is not None:
                    with contextlib.suppress(Exception):
                        self.client.delete_model_version(self.name, created)
                raise

    # -- artifacts -------------------------------------------------------------------------
    def fetch(self, alias_or_version: str, dst: Path | None = None) -> Path:
        import mlflow.artifacts

        mv = self.resolve(alias_or_version)
        target = Path(dst) if dst is not None else self.home.home / "run" / "models" / f"{self.name}-v{mv.version}"
        target = target.resolve()
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with registry_errors(f"downloading v{mv.version}"):
            try:
                local = Path(
                    mlflow.artifacts.download_artifacts(
                        artifact_uri=f"models:/{self.name}/{mv.version}",
                        dst_path=str(partial),
                        tracking_uri=self.uri,
                    )
                )
                artifact = local / "artifacts" / ARTIFACT_KEY
                if not (artifact / MANIFEST).exists():
                    raise RegistryError(f"v{mv.version} of {self.name!r} has no leadscore artifact ({MANIFEST})")
                info = {"model_name": self.name, "model_version": str(mv.version)}
                (artifact / REGISTRY_INFO).write_text(json.dumps(info))
                rel = artifact.relative_to(partial)
                shutil.rmtree(target, ignore_errors=True)
                partial.rename(target)
            except BaseException:
                shutil.rmtree(partial, ignore_errors=True)
                raise
        return target / rel


def fetch_artifact(alias_or_version: str, dst: Path | None = None) -> Path:
    """Download a model version (``champion``, ``shadow``, ``3``...) and return the local directory that
    holds its leadscore artifact (``manifest.json``, booster, drift reference), ready for ``LeadScorer``.

    Uses ``MLFLOW_TRACKING_URI`` or the embedded store under ``LEADSCORE_HOME``; ``dst`` defaults to
    ``LEADSCORE_HOME/run/models/<name>-v<version>``.

    Raises:
        RegistryError: unknown alias/version, registry unreachable, or not a leadscore model.
    """
    return Registry().fetch(alias_or_version, dst)


def _wait_ready(client: Any, name: str, version: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        mv = client.get_model_version(name, version)
        if mv.status == "READY":
            return
        if mv.status == "FAILED_REGISTRATION" or time.monotonic() > deadline:
            raise RegistryError(f"v{version} of {name!r} did not become ready ({mv.status})")
        time.sleep(0.5)
