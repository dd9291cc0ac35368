#!/usr/bin/env bash
# PySpark 4 needs a Java 17+ runtime. The machine image ships OpenJDK 17; on one without
# it, install Debian's headless JRE (as root) instead of failing deep inside a Spark test.
set -euo pipefail
java_major() {
    java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}
if command -v java >/dev/null 2>&1 && [[ "$(java_major)" -ge 17 ]]; then
    exit 0
fi
if [[ "$(id -u)" != "0" ]]; then
    echo "java: Java 17+ is missing; install openjdk-17-jre-headless (PySpark needs it)" >&2
    exit 1
fi
echo "java: Java 17+ missing: installing openjdk-17-jre-headless with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq openjdk-17-jre-headless >/dev/null
java -version
