#!/usr/bin/env bash
# The body of `make test` (run `make test`, which installs the envs first).
# Runs each environment's tests with that environment's own interpreter, then lint:
#   root      .venv/bin/python -m pytest tests   (minus tests/manifests and every image project's tests/<p>)
#   manifests .venv/bin/python -m pytest tests/manifests   (render + ../shared/tools/validate_k8s.py)
#   <p>       <p>/.venv/bin/python -m pytest tests/<p>      for each image project p that exists
#   lint      .venv/bin/ruff check . && .venv/bin/ruff format --check .
#   typecheck .venv/bin/mypy over every package (config: root pyproject.toml, pydantic plugin)
# Stops at the first failing step, then prints a summary and a closing
# "make-test: N passed, N failed, N skipped" line.
# Usage: scripts/run-tests.sh [image project dir ...]   (the Makefile passes ENV_PROJECTS)
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PROJECTS=("$@")
REPORTS="$ROOT/.leadscore/test-reports"
rm -rf "$REPORTS" && mkdir -p "$REPORTS"
PYTEST_OPTS=(-q -ra -p no:cacheprovider)

NAMES=() RESULTS=() COUNTS=() TIMES=()
TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0
FAILED_STEP=""

junit_counts() {  # junit.xml -> "passed failed skipped"
    python3 - "$1" <<'PY'
import sys
import xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("0 0 0")
    raise SystemExit
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - failed - skipped, failed, skipped)
PY
}

record() {  # name result counts seconds
    NAMES+=("$1") RESULTS+=("$2") COUNTS+=("$3") TIMES+=("$4")
}

pytest_step() {  # name python args...
    local name="$1" python="$2" start=$SECONDS rc counts p f s
    shift 2
    echo
    echo "==> [$name] $python -m pytest $*"
    "$python" -m pytest "$@" "${PYTEST_OPTS[@]}" --junitxml="$REPORTS/$name.xml"
    rc=$?
    read -r p f s < <(junit_counts "$REPORTS/$name.xml")
    counts="$p passed, $f failed, $s skipped"
    TOTAL_PASSED=$((TOTAL_PASSED + p)) TOTAL_FAILED=$((TOTAL_FAILED + f)) TOTAL_SKIPPED=$((TOTAL_SKIPPED + s))
    case "$rc" in
        0) record "$name" ok "$counts" $((SECONDS - start)) ;;
        5) record "$name" "no tests" "$counts" $((SECONDS - start))
           echo "[$name] collected no tests (pytest exit 5): not counted as a failure" ;;
        *) record "$name" "FAILED (exit $rc)" "$counts" $((SECONDS - start))
           FAILED_STEP="$name" ;;
    esac
}

plain_step() {  # name command...
    local name="$1" start=$SECONDS rc
    shift
    echo
    echo "==> [$name] $*"
    "$@"
    rc=$?
    if [[ $rc -eq 0 ]]; then
        record "$name" ok "-" $((SECONDS - start))
    else
        record "$name" "FAILED (exit $rc)" "-" $((SECONDS - start))
        FAILED_STEP="$name"
    fi
}

note() {  # name reason
    record "$1" "not run" "$2" 0
}

summary() {
    echo
    echo "================================ make test summary ================================"
    printf '  %-26s %-18s %6s  %s\n' step result time "tests / note"
    local i
    for i in "${!NAMES[@]}"; do
        printf '  %-26s %-18s %5ss  %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}" "${COUNTS[$i]}"
    done
    echo "  junit reports: ${REPORTS#"$ROOT"/}/"
    echo "make-test: $TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
}

finish() {
    summary
    if [[ -n "$FAILED_STEP" ]]; then
        echo "make test: FAILED at step '$FAILED_STEP'" >&2
        exit 1
    fi
    if [[ $TOTAL_PASSED -eq 0 ]]; then
        echo "make test: FAILED: no test ran" >&2
        exit 1
    fi
    echo "make test: OK"
    exit 0
}

for tool in .venv/bin/python .venv/bin/ruff .venv/bin/mypy; do
    [[ -x "$tool" ]] || { echo "make test: $tool missing: run 'make envs' (make test does it)" >&2; exit 1; }
done

# 1. root (tools/training) env: everything under tests/ that is not another env's
ignores=(--ignore=tests/manifests)
for p in "${PROJECTS[@]}"; do ignores+=("--ignore=tests/$p"); done
pytest_step root .venv/bin/python tests "${ignores[@]}"
[[ -z "$FAILED_STEP" ]] || finish

# 2. manifests: render every manifest dir/chart/workflow and validate it (root env)
pytest_step manifests .venv/bin/python tests/manifests
[[ -z "$FAILED_STEP" ]] || finish

# 3. each image project's tests in its own env
for p in "${PROJECTS[@]}"; do
    if [[ ! -f "$p/pyproject.toml" ]]; then
        [[ -d "tests/$p" ]] && note "$p" "tests/$p exists but $p/pyproject.toml does not"
        continue
    fi
    if [[ ! -d "tests/$p" ]]; then
        note "$p" "no tests/$p yet"
        continue
    fi
    pytest_step "$p" "$p/.venv/bin/python" "tests/$p"
    [[ -z "$FAILED_STEP" ]] || finish
done

# 4. lint (ruff config: root pyproject.toml, or a project's own [tool.ruff])
plain_step lint bash -c ".venv/bin/ruff check . && .venv/bin/ruff format --check ."
[[ -z "$FAILED_STEP" ]] || finish

# 5. typecheck: every package from the root env (image-only dependencies resolve to Any there)
plain_step typecheck .venv/bin/mypy core/leadscore_core leadscore training workflows model_server/front/leadscore_front model_server/transformer/leadscore_transformer \
    model_server/predictor/leadscore_predictor monitors/leadscore_monitors
finish
