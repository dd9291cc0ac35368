#!/usr/bin/env bash
# The body of `make up` (run `make up`, which installs the envs first): the whole local
# stack on embedded defaults, everything under $LEADSCORE_HOME (default ./.leadscore).
#   1. generate 20k synthetic leads (seed 7) into $LEADSCORE_HOME/raw
#   2. PostgreSQL reachable: `crm load` + `pipeline run --source crm`; else `pipeline run --source files`
#   3. `train` (registers a champion; the gate explains a refusal on later runs)
#   4. `serve --detach`, then a sample POST /score-lead with its answer
#   5. the next six months of traffic after a market shift (the lead mix AND how leads convert:
#      --drift source_mix+concept, later than step 1's leads) through `monitor replay`, and where to look
#   6. drift -> `workflows run-local retraining` (the Argo DAG run here) -> the new version's stage; timeline
#   7. the retrained version: shadow replay -> canary 10/50/100 -> production with `canary local` (a second
#      server, replayed traffic, a local Prometheus, the cluster's analysis code); timeline
# A step whose command is not built yet is reported as "not available yet" and skipped.
# Knobs: UP_ROWS (20000) UP_SEED (7) UP_TRIALS (20) UP_PORT (8080) UP_FORCE=1 (regenerate data)
#        UP_SHIFT_ROWS (14000: leads of the shifted months; the retrain's holdout, the latest 20 %, lies in them
#        and it trains on the rest of them) UP_SHIFT_STRENGTH (1.0)
#        CANARY_FAULT (none | latency: a local-only delay injected into the candidate server | wrong-model: the
#        champion's artifact served under the candidate's version; either is rolled back).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export LEADSCORE_HOME="${LEADSCORE_HOME:-$ROOT/.leadscore}"
mkdir -p "$LEADSCORE_HOME"
LEADSCORE_HOME="$(cd "$LEADSCORE_HOME" && pwd)"
ROWS="${UP_ROWS:-20000}" SEED="${UP_SEED:-7}" TRIALS="${UP_TRIALS:-20}" PORT="${UP_PORT:-8080}"
FAULT="${CANARY_FAULT:-none}"
SHIFT_ROWS="${UP_SHIFT_ROWS:-14000}" SHIFT_STRENGTH="${UP_SHIFT_STRENGTH:-1.0}" SHIFT_KIND="source_mix+concept"
RAW="$LEADSCORE_HOME/raw" DRIFTED="$LEADSCORE_HOME/raw-drift-$SHIFT_KIND-$SHIFT_STRENGTH-$SHIFT_ROWS"
LS="$ROOT/.venv/bin/leadscore"
DONE=() SKIPPED=()
started=$SECONDS

step() { echo; echo "==> $*"; }
has() { [[ -x "$LS" ]] && "$LS" "$@" --help >/dev/null 2>&1; }          # has data generate
mentions() {  # mentions --opt group cmd: the command's help names --opt (no pipe: pipefail + grep -q = SIGPIPE)
    local opt="$1" help
    shift
    help="$("$LS" "$@" --help 2>/dev/null)" || return 1
    [[ "$help" == *"$opt"* ]]
}
unavailable() { echo "    not available yet: 'leadscore $*' is not built yet, skipped"; SKIPPED+=("leadscore $*"); }
run() {  # run a leadscore command, echoing it first; remembered for the closing summary
    echo "    \$ leadscore $*"
    "$LS" "$@"
    local what="$1"
    [[ -n "${2:-}" && "${2:-}" != -* ]] && what+=" $2"
    DONE+=("$what")
}

crm_reachable() {  # host/port of LEADSCORE_CRM_DSN (default 127.0.0.1:5432) accept TCP
    python3 - "${LEADSCORE_CRM_DSN:-postgresql://127.0.0.1:5432/postgres}" <<'PY'
import socket, sys
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
try:
    socket.create_connection((u.hostname or "127.0.0.1", u.port or 5432), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}

wait_http() {  # url seconds
    local url="$1" limit="$2" waited=0
    until curl -fsS -o /dev/null "$url" 2>/dev/null; do
        (( waited >= limit )) && return 1
        sleep 1; waited=$((waited + 1))
    done
}

echo "leadscore up: LEADSCORE_HOME=$LEADSCORE_HOME"

# 1 ---------------------------------------------------------------- data
step "1/7 synthetic leads: $ROWS rows, seed $SEED -> $RAW"
if ! has data generate; then
    unavailable data generate
elif [[ -f "$RAW/manifest.json" && "${UP_FORCE:-0}" != 1 ]]; then
    echo "    reusing $RAW (UP_FORCE=1 regenerates)"
else
    run data generate --rows "$ROWS" --seed "$SEED" --out "$RAW"
fi

# 2 ---------------------------------------------------------------- CRM + medallion
step "2/7 CRM + bronze/silver/gold Delta tables -> $LEADSCORE_HOME/lake"
"$ROOT/scripts/services.sh" start >/dev/null 2>&1 || true   # start local PostgreSQL if it is stopped
if crm_reachable; then
    echo "    PostgreSQL reachable: loading the CRM, then reading it incrementally (updated_at watermark)"
    if has crm load; then run crm load --from "$RAW"; else unavailable crm load; fi
    if has pipeline run; then run pipeline run --source crm; else unavailable pipeline run; fi
else
    echo "    PostgreSQL is not reachable (LEADSCORE_CRM_DSN=${LEADSCORE_CRM_DSN:-postgresql://127.0.0.1:5432}):"
    echo "    building the lake from the generated files instead"
    if has pipeline run; then run pipeline run --source files "$RAW"; else unavailable pipeline run; fi
fi

# 3 ---------------------------------------------------------------- model
step "3/7 train + register (Optuna $TRIALS trials; MLflow store in $LEADSCORE_HOME/mlflow)"
if ! has train; then
    unavailable train
elif [[ ! -d "$LEADSCORE_HOME/lake/gold/lead_features/_delta_log" ]]; then
    echo "    skipped: no gold table in $LEADSCORE_HOME/lake yet (the pipeline step did not build one)"
    SKIPPED+=("leadscore train (no gold table)")
else
    run train --trials "$TRIALS"
fi

# 4 ---------------------------------------------------------------- serving
step "4/7 serve the champion on 127.0.0.1:$PORT"
SERVING=0
if ! has serve; then
    unavailable serve
elif [[ ! -f "$LEADSCORE_HOME/mlflow/mlflow.db" ]]; then
    echo "    skipped: no model registry in $LEADSCORE_HOME/mlflow yet (the train step did not run)"
    SKIPPED+=("leadscore serve (no model)")
else
    if curl -fsS -o /dev/null "http://127.0.0.1:$PORT/metrics" 2>/dev/null; then
        echo "    something already answers on :$PORT (make down stops leadscore's servers)"
    else
        run serve --detach --host 127.0.0.1 --port "$PORT"
    fi
    if ! wait_http "http://127.0.0.1:$PORT/metrics" 120; then
        echo "    the server did not answer on :$PORT within 120 s; logs: $LEADSCORE_HOME/logs" >&2
        exit 1
    fi
    SERVING=1
    if [[ -f "$RAW/score_requests.jsonl" ]]; then
        head -n 1 "$RAW/score_requests.jsonl" > "$LEADSCORE_HOME/sample-lead.json"
        echo "    sample request (first lead of $RAW/score_requests.jsonl):"
        echo "    \$ curl -s localhost:$PORT/score-lead -H 'content-type: application/json' -d @$LEADSCORE_HOME/sample-lead.json"
        curl -sS "http://127.0.0.1:$PORT/score-lead" -H 'content-type: application/json' \
            -d @"$LEADSCORE_HOME/sample-lead.json" | python3 -m json.tool | sed 's/^/    /'
    fi
fi

# 5 ---------------------------------------------------------------- monitoring
step "5/7 the next months' traffic, after a market shift ($SHIFT_KIND), through the local serving path and the monitors"
if ! has monitor replay; then
    unavailable monitor replay
elif [[ $SERVING != 1 ]]; then
    echo "    skipped: nothing is serving (step 4 did not start the servers)"
    SKIPPED+=("leadscore monitor replay (no server)")
else
    if [[ ! -f "$DRIFTED/manifest.json" || "${UP_FORCE:-0}" == 1 ]]; then
        # Later than the base leads (they start where the base months end), and both halves of a real market
        # shift: more cheap digital leads (source_mix: the monitors see it) and a new conversion pattern
        # (concept: the champion's AUC falls on it). A covariate shift alone leaves P(y|x) as it was, so no
        # retrain could beat the champion by the gate's +0.02 AUC; at strength 0.5 the concept part costs the
        # old conversion function only ~0.015 AUC (less than the gate asks), at 1.0 ~0.065.
        shift_start="$(python3 - "$RAW/manifest.json" <<'PY'
import json, sys
from datetime import date, timedelta
m = json.load(open(sys.argv[1]))
print(date.fromisoformat(m["start"][:10]) + timedelta(days=30 * m["months"]))
PY
)"
        run data generate --rows "$SHIFT_ROWS" --seed "$((SEED + 1))" --drift "$SHIFT_KIND" \
            --drift-strength "$SHIFT_STRENGTH" --start "$shift_start" --months 6 --out "$DRIFTED"
    fi
    replay_args=(--from "$DRIFTED")
    mentions --serve-url monitor replay && replay_args+=(--serve-url "http://127.0.0.1:$PORT")
    run monitor replay "${replay_args[@]}"
fi

# 6 ---------------------------------------------------------------- drift -> retraining
step "6/7 drift -> retraining workflow, run locally (leadscore workflows run-local retraining)"
REPORT="$(ls -t "$LEADSCORE_HOME"/reports/replay-*.json 2>/dev/null | head -n 1 || true)"
if ! has workflows run-local; then
    unavailable workflows run-local
elif [[ -z "$REPORT" ]]; then
    echo "    skipped: no drift report (step 5 did not replay traffic)"
    SKIPPED+=("retraining (no drift report)")
elif ! EVIDENCE="$(python3 "$ROOT/scripts/local/timeline.py" evidence "$REPORT")"; then
    echo "    the replay found no drift: nothing to retrain"
else
    echo "    drift: $EVIDENCE"
    # the drifted leads reach the lake as they would in production (CRM, else the files), so the retrain sees them
    if crm_reachable && has crm load; then
        run crm load --from "$DRIFTED"
        source_arg="crm"
    else
        source_arg="files:$DRIFTED"
    fi
    echo "    \$ leadscore workflows run-local retraining -p reason=drift -p evidence=... -p lake=$LEADSCORE_HOME/lake"
    if "$LS" workflows run-local retraining -p reason=drift -p "evidence=$EVIDENCE" -p "lake=$LEADSCORE_HOME/lake" \
            -p "source=$source_arg" -p "trials=$TRIALS" --json > "$LEADSCORE_HOME/reports/retraining-local.json"; then
        DONE+=("workflows run-local retraining")
    else
        echo "    the retraining workflow failed (its step is named above)" >&2
        SKIPPED+=("retraining (failed)")
    fi
    python3 "$ROOT/scripts/local/timeline.py" show "$REPORT" "$LEADSCORE_HOME/reports/retraining-local.json" \
        "$("$LS" registry list --json 2>/dev/null || echo '{}')" || true
fi

# 7 ---------------------------------------------------------------- shadow -> canary -> production
step "7/7 shadow -> canary 10/50/100 -> production, locally (leadscore canary local, CANARY_FAULT=$FAULT)"
RUN_JSON="$LEADSCORE_HOME/reports/retraining-local.json"
if ! has canary local; then
    unavailable canary local
elif [[ $SERVING != 1 ]]; then
    echo "    skipped: nothing is serving (step 4 did not start the servers)"
    SKIPPED+=("leadscore canary local (no server)")
elif ! CANDIDATE="$(python3 "$ROOT/scripts/local/timeline.py" candidate "$RUN_JSON" 2>/dev/null)"; then
    echo "    skipped: the retraining promoted no new version (the gate keeps one that does not beat the champion)"
    SKIPPED+=("leadscore canary local (no candidate)")
else
    "$ROOT/scripts/ensure-prometheus.sh" || true
    echo "    \$ leadscore canary local --model-version $CANDIDATE --fault $FAULT --stable-url http://127.0.0.1:$PORT"
    set +e
    "$LS" canary local --model-version "$CANDIDATE" --fault "$FAULT" --stable-url "http://127.0.0.1:$PORT"
    code=$?
    set -e
    case $code in
        0) DONE+=("canary local (promoted)") ;;
        4) DONE+=("canary local (rolled back)") ;;
        *) echo "    the local canary did not conclude (exit $code)" >&2; SKIPPED+=("canary local (exit $code)") ;;
    esac
fi

echo
echo "==> leadscore up: done in $((SECONDS - started))s"
echo "    ran:     $(IFS=,; echo "${DONE[*]:-nothing}" | sed 's/,/, /g')"
if ((${#SKIPPED[@]})); then echo "    skipped: $(IFS=,; echo "${SKIPPED[*]}" | sed 's/,/, /g')"; fi
cat <<INFO
    where to look:
      lake (Delta)      $LEADSCORE_HOME/lake            (deltalake.DeltaTable("$LEADSCORE_HOME/lake/gold/lead_features"))
      MLflow            .venv/bin/mlflow ui --backend-store-uri sqlite:///$LEADSCORE_HOME/mlflow/mlflow.db
      registry          .venv/bin/leadscore registry list
      endpoint          http://127.0.0.1:$PORT/score-lead   metrics: http://127.0.0.1:$PORT/metrics
      drift reports     $LEADSCORE_HOME/reports: replay-<time>.json, and in replay-<time>/ the PSI chart
                        (psi.png) and the consumers' last /metrics (drift.prom, sink.prom)
      logs              $LEADSCORE_HOME/logs
      stop the servers  make down
INFO
