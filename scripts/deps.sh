#!/bin/sh
# Installs the Debian packages rill needs that dpkg says are missing.
# Usage: scripts/deps.sh [build|test|bench]   (each level includes the ones before)
# Runs apt-get as root, or through sudo otherwise. Prints nothing when all is there.
set -eu

level=${1:-build}
# libgnutls28-dev: server/tls.c checks --tls-cert/--tls-key with GnuTLS directly.
pkgs="gcc libc6-dev make pkg-config libmicrohttpd-dev libgnutls28-dev libjansson-dev"
pkgs="$pkgs libsodium-dev libcurl4-openssl-dev ca-certificates"
case "$level" in
# chromium: the browser test (tests/browser) drives it through playwright-core.
# openssl: tests/integration/test_tls.c makes its certificates with the command line.
test | bench) pkgs="$pkgs libcriterion-dev curl openssl chromium" ;;
esac
case "$level" in
bench) pkgs="$pkgs wrk" ;;
esac

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        missing="$missing $p"
    fi
done
# The contract tests run on Node.js. A node with its own npm (e.g. from NodeSource)
# conflicts with Debian's npm package, so the commands decide, not dpkg.
case "$level" in
test | bench)
    command -v node >/dev/null 2>&1 || missing="$missing nodejs"
    command -v npm >/dev/null 2>&1 || missing="$missing npm"
    ;;
esac
[ -z "$missing" ] && exit 0

echo "deps: installing$missing" >&2
if [ "$(id -u)" -eq 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1; then
    as_root="sudo"
else
    echo "deps: missing packages:$missing; run as root or install sudo" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -qq
# shellcheck disable=SC2086
$as_root apt-get install -y -qq --no-install-recommends $missing >/dev/null
