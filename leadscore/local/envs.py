"""The other images' environments, as the local dev stack starts them (``leadscore serve``/``monitor``).

Each serving/monitoring image has its own uv environment. Locally they are ``<repo>/<project>/.venv`` of the
source checkout (:class:`~leadscore_core.settings.SourceSettings`: ``LEADSCORE_REPO`` or the checkout this
code runs from); an explicit interpreter wins (``LEADSCORE_PREDICTOR_PYTHON``, ``LEADSCORE_TRANSFORMER_PYTHON``,
``LEADSCORE_MONITORS_PYTHON``). An installed tools image has neither: :func:`env_python` then says what to set.
"""

from __future__ import annotations

import os
from pathlib import Path

from leadscore_core.settings import SourceSettings

PROJECTS = {
    "predictor": "model_server/predictor",
    "transformer": "model_server/transformer",
    "monitors": "monitors",
}
"""Image name -> its uv project directory in the checkout."""


class EnvironmentMissing(RuntimeError):
    """An image environment this command needs is not there (the message says how to get it)."""


def env_python(image: str, source: SourceSettings | None = None, anchor: Path | None = None) -> Path:
    """The interpreter of ``image``'s environment (``predictor``, ``transformer``, ``monitors``);
    ``anchor`` (default: this file) is where the checkout is looked for.

    Raises:
        EnvironmentMissing: no override, no checkout, or the checkout's env is not built.
    """
    var = f"LEADSCORE_{image.upper()}_PYTHON"
    override = os.environ.get(var)
    if override:
        if not Path(override).exists():
            raise EnvironmentMissing(f"{var}={override}: no such interpreter")
        return Path(override)
    repo = (source or SourceSettings()).checkout(anchor or Path(__file__))
    if repo is None:
        raise EnvironmentMissing(
            f"the {image} environment is unknown: this leadscore is installed, not run from a checkout; "
            f"set {var} to its python, or LEADSCORE_REPO to a checkout with `make envs` done"
        )
    py = repo / PROJECTS[image] / ".venv" / "bin" / "python"
    if not py.exists():
        raise EnvironmentMissing(f"{py} missing: run `make envs` in {repo} (or set {var})")
    return py
