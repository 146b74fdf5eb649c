#!/usr/bin/env bash
# The JavaScript client (clients/js/gradserve.js) in Node against the real
# server binary on free loopback ports: one server without auth, one with a
# token, one with a single worker and no queue (tests/client_js.test.mjs says what it proves). Uses tests/browser's
# npm packages (ajv, yaml) to check every exchange against openapi.yaml,
# installing them when missing. Prints PASS/FAIL per check and
# "N passed, N failed"; exits 1 on failure.
cd "$(dirname "$0")/.." || exit 1
BUILD=${BUILD:-build}
BIN=${GRADSERVE_BIN:-$BUILD/gradserve}
OUT=$BUILD/client-js
mkdir -p "$OUT"
fail_setup() { echo "FAIL client_js_setup: $1"; echo "0 passed, 1 failed"; exit 1; }

. tests/lib/node_modules.sh # node_modules_ready OUT [DEBIAN_BINARIES...]
node_modules_ready "$OUT" || fail_setup "$node_modules_error"
[ -x "$BIN" ] || fail_setup "no server binary at $BIN (make build-all)"

PIDS=
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap cleanup EXIT INT TERM

. tests/lib/start_server.sh # start_server BIN LOG FLAGS...: sets $port, $pid
TOKEN=client-js-test-token
start_server "$BIN" "$OUT/server-open.log" || fail_setup "the server did not start (see $OUT/server-open.log)"
OPEN_PORT=$port PIDS="$PIDS $pid"
GRADSERVE_AUTH_TOKEN=$TOKEN start_server "$BIN" "$OUT/server-auth.log" ||
    fail_setup "the server with a token did not start (see $OUT/server-auth.log)"
AUTH_PORT=$port PIDS="$PIDS $pid"
# one worker and no queue: while a long /train holds it, 503 (the retry check)
start_server "$BIN" "$OUT/server-busy.log" --max-concurrent 1 --queue-ms 0 --max-request-seconds 2 ||
    fail_setup "the busy server did not start (see $OUT/server-busy.log)"
BUSY_PORT=$port PIDS="$PIDS $pid"

GS_URL="http://127.0.0.1:$OPEN_PORT" GS_AUTH_URL="http://127.0.0.1:$AUTH_PORT" GS_TOKEN=$TOKEN \
GS_BUSY_URL="http://127.0.0.1:$BUSY_PORT" \
OPENAPI=openapi.yaml ${NODE:-node} tests/client_js.test.mjs
