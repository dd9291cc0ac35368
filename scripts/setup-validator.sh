#!/usr/bin/env bash
# Create/refresh the manifest validator's own venv (.venvs/validate) from
# $SHARED_DIR/tools/requirements-validate.txt. Nothing is copied out of shared/.
# Without shared/ this is a no-op with a note (the manifest tests then skip).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED_DIR="${SHARED_DIR:-$ROOT/../shared}"
REQS="$SHARED_DIR/tools/requirements-validate.txt"
VENV="$ROOT/.venvs/validate"
UV="$ROOT/scripts/uv"

if [[ ! -f "$REQS" ]]; then
    echo "validator: $REQS not found (shared/ is absent): skipping the validator venv; manifest tests will skip" >&2
    exit 0
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    "$UV" venv --quiet --python 3.11 "$VENV"
fi
# a no-op in milliseconds when everything is already satisfied
"$UV" pip install --quiet --python "$VENV/bin/python" -r "$REQS"
echo "validator: $VENV ready ($(basename "$REQS"))"
