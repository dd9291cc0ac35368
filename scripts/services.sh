#!/usr/bin/env bash
# Make sure the local services the tests and `make up` talk to are up:
#   PostgreSQL on 127.0.0.1:5432 (trust auth) and Redis on 127.0.0.1:6379.
# Usage: scripts/services.sh [start|check]   (default: start)
#   start  start each service that is not answering, then wait until it is ready (fails after 60 s)
#   check  only report; exit 1 when one is down
set -euo pipefail
MODE="${1:-start}"
PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_HOST=127.0.0.1 REDIS_PORT=6379
WAIT_SECONDS="${SERVICES_WAIT_SECONDS:-60}"

port_open() {  # host port -> 0 when a TCP connect succeeds
    python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

pg_ready() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
    else
        port_open "$PG_HOST" "$PG_PORT"
    fi
}

redis_ready() {
    if command -v redis-cli >/dev/null 2>&1; then
        [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
    else
        port_open "$REDIS_HOST" "$REDIS_PORT"
    fi
}

start_pg() {
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    echo "services: starting PostgreSQL $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start
}

start_redis() {
    echo "services: starting Redis on $REDIS_HOST:$REDIS_PORT"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
}

wait_for() {  # name check-function
    local name="$1" check="$2" waited=0
    until "$check"; do
        if (( waited >= WAIT_SECONDS )); then
            echo "services: $name did not become ready within ${WAIT_SECONDS}s" >&2
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "services: $name ready"
}

case "$MODE" in
    check)
        status=0
        if pg_ready; then echo "services: PostgreSQL up on $PG_HOST:$PG_PORT"; else echo "services: PostgreSQL DOWN"; status=1; fi
        if redis_ready; then echo "services: Redis up on $REDIS_HOST:$REDIS_PORT"; else echo "services: Redis DOWN"; status=1; fi
        exit "$status"
        ;;
    start)
        pg_ready || start_pg
        wait_for PostgreSQL pg_ready
        redis_ready || start_redis
        wait_for Redis redis_ready
        ;;
    *)
        echo "usage: $0 [start|check]" >&2
        exit 2
        ;;
esac
