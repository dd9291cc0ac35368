"""The local dev stack finds the other images' environments through settings, and says what to set."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadscore.local.envs import EnvironmentMissing, env_python
from leadscore_core.settings import SourceSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("image", ["predictor", "transformer", "monitors"])
def test_the_checkout_envs_by_default(image: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(f"LEADSCORE_{image.upper()}_PYTHON", raising=False)
    monkeypatch.delenv("LEADSCORE_REPO", raising=False)
    py = env_python(image)
    assert py.is_relative_to(ROOT) and py.parts[-3:] == (".venv", "bin", "python") and py.exists()


def test_an_explicit_interpreter_wins_and_is_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "python"
    fake.write_text("")
    monkeypatch.setenv("LEADSCORE_MONITORS_PYTHON", str(fake))
    assert env_python("monitors") == fake
    monkeypatch.setenv("LEADSCORE_MONITORS_PYTHON", str(tmp_path / "nope"))
    with pytest.raises(EnvironmentMissing, match="LEADSCORE_MONITORS_PYTHON=.*no such interpreter"):
        env_python("monitors")


def test_installed_without_a_checkout_says_what_to_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LEADSCORE_PREDICTOR_PYTHON", raising=False)
    monkeypatch.delenv("LEADSCORE_REPO", raising=False)
    site = tmp_path / "site-packages" / "leadscore" / "local" / "envs.py"
    assert SourceSettings().checkout(site) is None
    with pytest.raises(EnvironmentMissing, match="installed, not run from a checkout.*LEADSCORE_PREDICTOR_PYTHON"):
        env_python("predictor", anchor=site)
    monkeypatch.setenv("LEADSCORE_REPO", str(tmp_path))
    with pytest.raises(EnvironmentMissing, match="make envs"):
        env_python("predictor", anchor=site)
