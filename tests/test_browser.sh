#!/usr/bin/env bash
# The playground in headless Chromium (Debian's package) driven by
# playwright-core, against the real server binary on free loopback ports: one
# server without auth, one with a token. Installs what it needs when missing
# (chromium from Debian, the npm packages of tests/browser with `npm ci`).
# Prints PASS/FAIL per check and "N passed, N failed"; exits 1 on failure.
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
BIN=${GRADSERVE_BIN:-$BUILD/gradserve}
OUT=$BUILD/browser
mkdir -p "$OUT"
fail_setup() { echo "FAIL browser_setup: $1"; echo "0 passed, 1 failed"; exit 1; }

. tests/lib/node_modules.sh # node_modules_ready OUT [DEBIAN_BINARIES...]
node_modules_ready "$OUT" chromium || fail_setup "$node_modules_error"
[ -x "$BIN" ] || fail_setup "no server binary at $BIN (make build-all)"

PIDS=
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT INT TERM

. tests/lib/start_server.sh # start_server BIN LOG FLAGS...: sets $port, $pid
# start NAME [ENV=VALUE]...: a server on a free port, with those variables in
# its environment; sets PORT.
start() {
    local name=$1
    shift
    local -x "$@"
    start_server "$BIN" "$OUT/server-$name.log" || return 1
    PORT=$port
    PIDS="$PIDS $pid"
}

TOKEN=browser-test-token
start open GRADSERVE_LOG_FORMAT=plain || fail_setup "the server did not start (see $OUT/server-open.log)"
OPEN_PORT=$PORT
start auth GRADSERVE_AUTH_TOKEN=$TOKEN || fail_setup "the server with a token did not start"
AUTH_PORT=$PORT

GS_URL="http://127.0.0.1:$OPEN_PORT" GS_AUTH_URL="http://127.0.0.1:$AUTH_PORT" GS_TOKEN=$TOKEN \
OPENAPI=openapi.yaml OUT=$OUT node tests/browser/playground.test.js
rc=$?
exit $rc
