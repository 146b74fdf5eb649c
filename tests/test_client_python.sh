#!/usr/bin/env bash
# The Python client (clients/python/gradserve) against the real server:
# tests/test_client_python.py, run by Debian's python3 with python3-numpy, against
# a server on a free loopback port with a 32 MiB body limit (its 413 test sends just
# over it), a second one with a bearer token, and a third with one worker and no queue. One PASS/FAIL line per test, then "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
build=${BUILD:-build}
bin=${GRADSERVE_BIN:-$build/gradserve}
py=/usr/bin/python3
tmp=$(mktemp -d)
pid=
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
. tests/lib/start_server.sh
max_body=33554432
GRADSERVE_TENSOR_STORE_BYTES=64m start_server "$bin" "$tmp/server.log" --max-body-bytes "$max_body"
if [ -z "$pid" ]; then
    echo "FAIL start $bin"; cat "$tmp/server.log"; echo "0 passed, 1 failed"; exit 1
fi
# A second server with auth on, for the token test.
server_pid=$pid server_port=$port
GRADSERVE_AUTH_TOKEN=client-test-token GRADSERVE_TENSOR_STORE_BYTES=16m \
    start_server "$bin" "$tmp/auth.log"
auth_pid=$pid auth_port=$port
# A third with one worker and no queue: busy, it answers 503 (the retry test).
start_server "$bin" "$tmp/busy.log" --max-concurrent 1 --queue-ms 0 --max-request-seconds 2
busy_pid=$pid busy_port=$port pid=$server_pid port=$server_port
trap 'kill "$pid" "$auth_pid" "$busy_pid" 2>/dev/null; wait "$pid" "$auth_pid" "$busy_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
if [ -z "$auth_pid" ] || [ -z "$busy_pid" ]; then
    echo "FAIL start $bin with auth or busy"; cat "$tmp/auth.log" "$tmp/busy.log"; echo "0 passed, 1 failed"; exit 1
fi
if ! "$py" -c 'import numpy' 2>/dev/null; then
    echo "FAIL python3-numpy is not installed (make deps-test installs it)"; echo "0 passed, 1 failed"; exit 1
fi
GRADSERVE_URL="http://127.0.0.1:$port" GRADSERVE_TEST_MAX_BODY=$max_body \
    GRADSERVE_AUTH_URL="http://127.0.0.1:$auth_port" GRADSERVE_TEST_TOKEN=client-test-token \
    GRADSERVE_BUSY_URL="http://127.0.0.1:$busy_port" \
    "$py" tests/test_client_python.py
rc=$?
kill -0 "$pid" 2>/dev/null || { echo "FAIL the server died:"; tail -5 "$tmp/server.log"; echo "0 passed, 1 failed"; exit 1; }
exit $rc
