#!/usr/bin/env bash
# Issue 17's Fashion-MNIST recipe end to end through the Python client (refs, binary
# bodies, base64) against PyTorch in-process, printed as a markdown section on
# stdout: bench/client_fashion.py, which starts a fresh server per run. Run by
# bench/run.sh (section "client"), or alone: BUILD=build bench/client.sh.
# Environment: BENCH_CLIENT_ROUNDS (default 2), BENCH_CLIENT_ARGS (more options,
# e.g. "--rows 20000" for a quick look), BENCH_PYTHON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${BENCH_PYTHON:-/usr/bin/python3}
. bench/lib/need_package.sh
need_package dataset-fashion-mnist
# shellcheck disable=SC2086
OMP_WAIT_POLICY=PASSIVE "$PY" bench/client_fashion.py --server "$BUILD/gradserve" --threads 1 \
    --rounds "${BENCH_CLIENT_ROUNDS:-2}" ${BENCH_CLIENT_ARGS:-}
