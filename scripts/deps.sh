#!/usr/bin/env bash
# deps.sh - install what building and testing Runnel needs on Debian 12.
#
# Idempotent and non-interactive: apt-get runs only when a package is
# missing (apt-get update first, with sudo when not root); npm installs the
# kafkajs test dependencies only when tests/integration/js/node_modules is
# missing (npm ci when package-lock.json exists).
set -euo pipefail

cd "$(dirname "$0")/.."

# Build: compiler, make, codec and TLS libraries, unit-test framework.
# Tests: Python clients (librdkafka's and kafka-python with its codec
# modules), pytest with its per-test timeout plugin, kcat, node for kafkajs.
packages=(
    build-essential
    python3
    librdkafka-dev
    kcat
    python3-confluent-kafka
    python3-kafka
    python3-pytest
    python3-pytest-timeout
    python3-pytest-rerunfailures
    python3-lz4
    python3-snappy
    python3-zstandard
    liblz4-dev
    libzstd-dev
    libsnappy-dev
    zlib1g-dev
    libssl-dev
    libcmocka-dev
    golang-go
    golang-github-shopify-sarama-dev
)

is_installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

missing=()
for p in "${packages[@]}"; do
    is_installed "$p" || missing+=("$p")
done
# node and npm may come from another source (NodeSource's nodejs bundles npm
# and conflicts with Debian's npm package), so look for the commands first.
if ! command -v node >/dev/null 2>&1 && ! is_installed nodejs; then
    missing+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1 && ! is_installed npm; then
    missing+=(npm)
fi

if [ "${#missing[@]}" -gt 0 ]; then
    echo "deps.sh: installing ${missing[*]}"
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

js=tests/integration/js
if [ ! -d "$js/node_modules" ]; then
    echo "deps.sh: installing kafkajs into $js/node_modules"
    if [ -f "$js/package-lock.json" ]; then
        (cd "$js" && npm ci --no-audit --no-fund)
    else
        (cd "$js" && npm install --no-audit --no-fund)
    fi
fi
