#!/usr/bin/env bash
# Idempotent: Debian's prometheus 2.42 (prometheus, promtool) and prometheus-alertmanager 0.25 (amtool).
# The canary-analysis tests run a real Prometheus; the alert tests use promtool/amtool. CI runs this as root.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 && command -v amtool >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null
command -v promtool >/dev/null && command -v prometheus >/dev/null
