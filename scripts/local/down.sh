#!/usr/bin/env bash
# The body of `make down`: stop the servers `leadscore serve --detach` (and the monitors)
# left running. Uses the CLI's own stop when it has one, else the pid files the detached
# processes keep in $LEADSCORE_HOME/run/*.pid (each pid is signalled on its own).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export LEADSCORE_HOME="${LEADSCORE_HOME:-$ROOT/.leadscore}"
LS="$ROOT/.venv/bin/leadscore"
RUN_DIR="$LEADSCORE_HOME/run"

# the CLI's own stop first (help captured, not piped: pipefail + grep -q would race on SIGPIPE)
serve_help="$([[ -x "$LS" ]] && "$LS" serve --help 2>/dev/null || true)"
if [[ "$serve_help" == *"--stop"* ]]; then
    "$LS" serve --stop
fi

shopt -s nullglob
pidfiles=("$RUN_DIR"/*.pid)
if ((${#pidfiles[@]} == 0)); then
    echo "down: no detached leadscore process recorded in $RUN_DIR"
    exit 0
fi
for f in "${pidfiles[@]}"; do
    pid="$(tr -dc '0-9' < "$f")"
    name="$(basename "$f" .pid)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "down: $name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        echo "down: stopped $name (pid $pid)"
    else
        echo "down: $name (pid ${pid:-?}) was not running"
    fi
    rm -f "$f"
done
