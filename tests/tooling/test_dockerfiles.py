"""Each image's Dockerfile builds from its own uv project and lock, and skaffold builds them all.

No Docker engine runs here, so these checks read the Dockerfiles: the project and lock each
one syncs exist, every local path dependency of that project is copied into the build
context, the base image and the non-root user are what the platform expects.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def env_projects() -> list[str]:
    """ENV_PROJECTS from the Makefile: the single table of image projects."""
    match = re.search(r"^ENV_PROJECTS\s*:=\s*(.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, "Makefile must define ENV_PROJECTS"
    return match.group(1).split()


def lib_projects() -> set[str]:
    """LIB_PROJECTS from the Makefile: env projects that are libraries installed by images, not images."""
    match = re.search(r"^LIB_PROJECTS\s*:=\s*(.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    return set(match.group(1).split()) if match else set()


# image project dir -> its Dockerfile (the root project is the tools/training image)
IMAGES = {".": "leadscore/Dockerfile", **{p: f"{p}/Dockerfile" for p in env_projects() if p not in lib_projects()}}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with line continuations joined and comments dropped."""
    out, buf = [], ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        keyword, _, rest = buf.partition(" ")
        out.append((keyword.upper(), rest.strip()))
        buf = ""
    return out


def stages(instrs: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instrs:
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    path = path.rstrip("/")
    for pat in patterns:
        pat = pat.rstrip("/")
        candidates = [path, *(str(Path(*Path(path).parts[:i])) for i in range(1, len(Path(path).parts)))]
        if any(fnmatch.fnmatch(c, pat) or fnmatch.fnmatch(c, pat.removeprefix("**/")) for c in candidates):
            return True
    return False


def local_path_sources(project: Path) -> list[Path]:
    """Local path dependencies of a uv project, recursively (core, sibling projects)."""
    seen: list[Path] = []
    todo = [project]
    while todo:
        current = todo.pop()
        data = tomllib.loads((current / "pyproject.toml").read_text())
        for source in data.get("tool", {}).get("uv", {}).get("sources", {}).values():
            if isinstance(source, dict) and "path" in source:
                dep = (current / source["path"]).resolve()
                if dep not in seen:
                    seen.append(dep)
                    todo.append(dep)
    return seen


def image_params():
    for project, dockerfile in IMAGES.items():
        marks = []
        if not (ROOT / project / "pyproject.toml").is_file():
            marks.append(pytest.mark.skip(reason=f"{project}/pyproject.toml not created yet"))
        yield pytest.param(project, dockerfile, id=dockerfile, marks=marks)


@pytest.mark.parametrize(("project", "dockerfile"), list(image_params()))
class TestDockerfile:
    def test_syncs_its_own_frozen_lock_without_dev(self, project: str, dockerfile: str):
        path = ROOT / dockerfile
        assert path.is_file(), f"{dockerfile} missing"
        assert (ROOT / project / "uv.lock").is_file(), f"{project}/uv.lock missing: the image could not be built"
        syncs = [shlex.split(args) for kw, args in instructions(path) if kw == "RUN" and "uv sync" in args]
        assert syncs, f"{dockerfile} never runs uv sync"
        for run in syncs:
            cmd = run[run.index("sync") - 1 :]
            assert "--frozen" in cmd and "--no-dev" in cmd, f"{dockerfile}: {' '.join(cmd)}"
            assert cmd[cmd.index("--project") + 1] == project
        assert any("--no-install-project" not in run for run in syncs), "the project itself is never installed"

    def test_groups_it_asks_for_exist(self, project: str, dockerfile: str):
        data = tomllib.loads((ROOT / project / "pyproject.toml").read_text())
        groups = set(data.get("dependency-groups", {}))
        for kw, args in instructions(ROOT / dockerfile):
            words = shlex.split(args) if kw == "RUN" else []
            for i, word in enumerate(words):
                if word == "--group":
                    assert words[i + 1] in groups, f"{dockerfile} asks for unknown group {words[i + 1]}"

    def test_copies_everything_the_lock_needs(self, project: str, dockerfile: str):
        copied = []
        for kw, args in instructions(ROOT / dockerfile):
            if kw == "COPY" and "--from=" not in args:
                copied.extend(shlex.split(args)[:-1])
        patterns = dockerignore_patterns()
        for src in copied:
            assert (ROOT / src).exists(), f"{dockerfile}: COPY {src}: not in the repo"
            assert not ignored(src, patterns), f"{dockerfile}: COPY {src} is excluded by .dockerignore"
        copied_paths = {(ROOT / c).resolve() for c in copied}
        needed = [(ROOT / project).resolve(), *local_path_sources(ROOT / project)]
        for dep in needed:
            assert (
                dep in copied_paths
                or any(c in dep.parents for c in copied_paths)
                or (dep == ROOT and {ROOT / "pyproject.toml", ROOT / "uv.lock"} <= copied_paths)
            ), f"{dockerfile} does not copy {dep.relative_to(ROOT)}, a path dependency of {project}"

    def test_slim_python_311_base_and_non_root_runtime(self, project: str, dockerfile: str):
        instrs = instructions(ROOT / dockerfile)
        args = dict(a.split("=", 1) for kw, a in instrs if kw == "ARG" and "=" in a)
        bases = [a.split()[0] for kw, a in instrs if kw == "FROM"]
        resolved = [args.get(b.strip("${}"), b) for b in bases]
        assert all(b.startswith("python:3.11-slim") for b in resolved), resolved
        final = stages(instrs)[-1]
        users = [a for kw, a in final if kw == "USER"]
        assert users, f"{dockerfile}: the runtime stage never switches user"
        user = users[-1].split(":")[0]
        assert user not in {"0", "root"}, f"{dockerfile} runs as root"
        assert user.isdigit(), "a numeric USER lets Kubernetes verify runAsNonRoot"
        assert any(kw in {"CMD", "ENTRYPOINT"} for kw, _ in final)


def test_tools_image_has_java_17_for_spark():
    runs = " ".join(a for kw, a in instructions(ROOT / IMAGES["."]) if kw == "RUN")
    assert "openjdk-17" in runs


def test_every_uv_project_is_an_image_in_the_makefile_table():
    """A new image project must be added to ENV_PROJECTS (envs, tests) and get a Dockerfile."""
    found = {
        str(p.parent.relative_to(ROOT))
        for p in [*ROOT.glob("*/pyproject.toml"), *ROOT.glob("*/*/pyproject.toml")]
        if p.parent.name != "core" and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
    }
    assert found <= set(env_projects()), f"not in Makefile ENV_PROJECTS: {sorted(found - set(env_projects()))}"


def test_skaffold_builds_every_image_from_the_repo_root():
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    artifacts = config["build"]["artifacts"]
    assert sorted(a["docker"]["dockerfile"] for a in artifacts) == sorted(IMAGES.values())
    assert all(a.get("context", ".") == "." for a in artifacts)
    names = [a["image"] for a in artifacts]
    assert len(set(names)) == len(names)
    for release in config["manifests"]["helm"]["releases"]:
        assert (ROOT / release["chartPath"] / "Chart.yaml").is_file(), f"skaffold deploys {release['chartPath']}"
    allowed = {rule["groupKind"] for rule in config["resourceSelector"]["allow"]}
    assert "InferenceService.serving.kserve.io" in allowed


def test_dockerignore_keeps_the_build_inputs():
    patterns = dockerignore_patterns()
    for needed in [
        "pyproject.toml",
        "uv.lock",
        "README.md",
        "core",
        "leadscore",
        "training",
        "workflows",
        "model_server",
        "monitors",
    ]:
        assert not ignored(needed, patterns), needed
    for dropped in [".venv", "monitors/.venv", ".git", "tests", ".leadscore"]:
        assert ignored(dropped, patterns), dropped


def test_manifest_images_of_ours_are_built_by_skaffold():
    """An image of ours named in a manifest must be a skaffold artifact, or deploys run stale tags."""
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    built = {a["image"] for a in config["build"]["artifacts"]}
    for manifest in sorted((ROOT / "manifests").rglob("*.yaml")):
        for image in re.findall(r"^\s*-?\s*image:\s*['\"]?([^\s'\"]+)", manifest.read_text(), re.MULTILINE):
            name = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@")[0]
            if "leadscore-" in name.split("/")[-1]:
                assert name in built, f"{manifest.relative_to(ROOT)} uses {name}, which skaffold does not build"
