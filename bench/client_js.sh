#!/usr/bin/env bash
# The JavaScript client on Fashion-MNIST chunks (bench/client_js.mjs), printed as
# a markdown section on stdout; run by bench/run.sh (section "clientjs"), or
# alone: BUILD=build bench/client_js.sh. Needs node and Debian's
# dataset-fashion-mnist (installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
. bench/lib/need_package.sh
need_package dataset-fashion-mnist
. bench/lib/serve.sh
serve "$BUILD/gradserve" --blas-threads 1
echo "client_js.mjs against 127.0.0.1:$port" >&2
node bench/client_js.mjs "http://127.0.0.1:$port" "${BENCH_ROUNDS:-2}"
