"""User-facing errors of training and the registry: the CLI prints the message, never a traceback."""

from __future__ import annotations


class TrainingError(Exception):
    """Training cannot proceed; the message says what to fix."""


class RegistryError(Exception):
    """The registry refused an operation or cannot be reached; the message says what to fix."""


class TransitionRefused(RegistryError):
    """An illegal lifecycle transition was requested."""
