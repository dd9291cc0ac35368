"""The model lifecycle: stages, their registry aliases, and which transitions are legal.

development -> staging -> shadow -> canary -> production; the replaced production version becomes
archived; a candidate stage (development..canary) may be retired to archived; ``rollback`` moves the
champion back to the version it replaced. Everything else is refused with the reason.
"""

from __future__ import annotations

from typing import Final

from training.errors import TransitionRefused

LIFECYCLE_TAG: Final = "lifecycle"
STAGES: Final = ("development", "staging", "shadow", "canary", "production", "archived")
CHAIN: Final = ("development", "staging", "shadow", "canary", "production")
ALIASES: Final = {"staging": "challenger", "shadow": "shadow", "canary": "canary", "production": "champion"}
"""Stage -> registry alias held by the (single) version in that stage."""
STAGE_OF_ALIAS: Final = {alias: stage for stage, alias in ALIASES.items()}


def next_stage(current: str) -> str:
    """The one stage a version may be promoted to."""
    if current == "production":
        raise TransitionRefused("the version is already in production (the champion); nothing to promote it to")
    if current == "archived":
        raise TransitionRefused(
            "archived versions are never promoted again; only `leadscore registry rollback` brings back "
            "the previous champion"
        )
    if current not in CHAIN:
        raise TransitionRefused(f"unknown lifecycle {current!r}; expected one of {', '.join(STAGES)}")
    return CHAIN[CHAIN.index(current) + 1]


def check_promotion(version: str, current: str, target: str) -> None:
    """Raise :class:`TransitionRefused` unless ``current -> target`` is the next step of the chain."""
    if target not in STAGES:
        raise TransitionRefused(f"unknown stage {target!r}; expected one of {', '.join(CHAIN[1:])}")
    try:
        allowed = next_stage(current)
    except TransitionRefused as exc:
        raise TransitionRefused(f"v{version}: {exc}") from None
    if target == "archived":
        raise TransitionRefused(f"v{version}: use `leadscore registry archive {version}` to archive a version")
    if target != allowed:
        raise TransitionRefused(
            f"v{version} is in {current}; the only legal promotion is {current} -> {allowed} "
            f"(asked {current} -> {target}); versions move development -> staging -> shadow -> canary -> production"
        )


def check_archive(version: str, current: str) -> None:
    """Candidates may be retired; the champion is archived only by being replaced or rolled back."""
    if current == "archived":
        raise TransitionRefused(f"v{version} is already archived")
    if current == "production":
        raise TransitionRefused(
            f"v{version} is the production champion; it is archived only when another version replaces it "
            "(`leadscore registry promote` a canary) or by `leadscore registry rollback`"
        )
    if current not in STAGES:
        raise TransitionRefused(f"v{version} has unknown lifecycle {current!r}")
