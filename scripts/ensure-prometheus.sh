#!/usr/bin/env bash
# promtool + prometheus (Debian `prometheus`) and amtool (Debian `prometheus-alertmanager`) for the alert
# rule tests, the Alertmanager config check and the live-Prometheus query check. Idempotent: does
# nothing when all three are on PATH. Installs with apt-get only as root; otherwise says what to run
# (the tests then skip with that reason).
set -euo pipefail
if command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v amtool >/dev/null; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "prometheus tools: promtool/prometheus/amtool missing and not root with apt-get:" \
         "run 'apt-get install -y prometheus prometheus-alertmanager' (their tests skip meanwhile)" >&2
    exit 0
fi
echo "prometheus tools: installing Debian prometheus + prometheus-alertmanager"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
# the packages start daemons on their default ports under systemd hosts; the tests start their own
command -v promtool >/dev/null && command -v amtool >/dev/null
