#!/usr/bin/env bash
# Fashion-MNIST with LeNet-5 through /train against PyTorch (bench/fashion_mnist.py),
# printed as a markdown section on stdout; run by bench/run.sh (section "fashion"),
# or alone: BUILD=build bench/fashion.sh. Needs Debian's dataset-fashion-mnist
# (installed when missing, as the Makefile installs its packages) and python3-torch.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${BENCH_PYTHON:-/usr/bin/python3}
. bench/lib/need_package.sh
need_package dataset-fashion-mnist
. bench/lib/serve.sh
serve "$BUILD/gradserve" --blas-threads 1
echo "fashion_mnist.py against 127.0.0.1:$port" >&2
OMP_WAIT_POLICY=PASSIVE "$PY" bench/fashion_mnist.py --url "http://127.0.0.1:$port"
