#!/bin/sh
# Installs the Debian packages recd needs to build and test; does nothing when all are present.
# Runs apt-get only for what is missing, so a second run costs one dpkg query per package.
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libmicrohttpd-dev libjansson-dev libsqlite3-dev
libopenblas-dev liblapacke-dev libzstd-dev libcmocka-dev librdkafka-dev sqlite3
python3 curl zstd chromium openssl wrk"
# openssl: tests/e2e/test_tls.py makes its self-signed certificates with it. wrk: the HTTP
# load generator issue #7 names; bench/bench_http_serve.py uses it with RECD_LOAD=wrk.
# The dashboard's browser test runs Debian's Chromium through playwright-core (npm). Node.js may
# come from elsewhere (NodeSource bundles npm): Debian's nodejs and npm only when they are missing.
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install-deps: need root (or sudo) to install:$missing" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
