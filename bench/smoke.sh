#!/usr/bin/env bash
# `make bench-smoke` (run by .ci/run): the benchmark tools work, on tiny budgets.
# Timings are not judged here (the machine is shared); what is checked is that each
# tool runs and measures what bench/run.sh and bench/http.sh rely on:
#   - bench_core times the step and its bare GEMMs; bench_lenet the same for LeNet-5;
#   - torch_bench.py times NumPy's step and, beside it in the same process,
#     gradserve's (build/bench/libbench_step.so through ctypes), whose loss there
#     equals the one bench_core's step computes;
#   - http_load gets 200s from the real server and times the in-process step
#     between them (--step), and counts a refused body's 400s as expected;
#   - bench/mhd_floor, the bare libmicrohttpd server http.sh measures beside
#     gradserve, answers under http_load and stops on SIGTERM;
#   - bench/http_ab.sh runs two servers in turns and reports each one's ratios;
#   - bench/run.sh writes a report with every table and target line;
#   - bench/client.sh runs the recipe through the Python client with each transport.
# One PASS/FAIL line per check, then "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${BENCH_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
passed=0; failed=0
check() { # name, then a command that succeeds when the check passes
    local name=$1; shift
    if "$@" >"$tmp/out" 2>&1; then echo "PASS $name"; passed=$((passed + 1))
    else echo "FAIL $name"; sed 's/^/    /' "$tmp/out" | head -20; failed=$((failed + 1)); fi
}
positive() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }

# rows of bench_core's format: bench shape batch threads what median ...
rows_ok() { # file bench what...: each (bench, what) row present with a positive median
    local f=$1 b=$2; shift 2
    for w in "$@"; do
        m=$(awk -F'\t' -v b="$b" -v w="$w" '$1 == b && $5 == w { print $6; exit }' "$f")
        positive "$m" || { echo "no positive $b/$w median in:"; cat "$f"; return 1; }
    done
}

"$BUILD/bench/bench_core" --only 784-128-10:64 --threads 1 --budget 0.02 >"$tmp/core.tsv" 2>&1
check "bench_core times the step and its bare GEMMs" rows_ok "$tmp/core.tsv" core step gemm

"$BUILD/bench/bench_lenet" --threads 1 --batch 8 --samples 3 >"$tmp/lenet.tsv" 2>&1
lenet_ok() { # lenet batch threads what median...: rows in bench_core's order of fields
    awk -F'\t' '$1 == "lenet" { print $1, $3, $2, $3, $4, $5 }' OFS='\t' "$tmp/lenet.tsv" \
        >"$tmp/lenet2.tsv"
    rows_ok "$tmp/lenet2.tsv" lenet step gemm
}
check "bench_lenet times LeNet-5's step and its bare GEMMs" lenet_ok

OPENBLAS_NUM_THREADS=1 "$PY" bench/torch_bench.py --framework numpy --threads 1 \
    --only 784-128-10:64 --budget 0.02 --gradserve "$BUILD/bench/libbench_step.so" \
    >"$tmp/np.tsv" 2>&1
check "torch_bench.py times numpy's step and gradserve's beside it" \
    rows_ok "$tmp/np.tsv" numpy step gradserve
one_openblas() { # exactly one OpenBLAS file mapped in the numpy process with the library
    files=$(awk -F'\t' '$2 == "numpy" && $3 == "openblas_files" { print $4 }' "$tmp/np.tsv")
    echo "mapped: $files"
    [ -n "$files" ] && [ "$(echo "$files" | wc -w)" = 1 ]
}
check "numpy and the gradserve library share one OpenBLAS" one_openblas

# The same step through ctypes and through C gives the same loss (same seed).
same_loss() {
    "$PY" - "$BUILD/bench/libbench_step.so" <<'EOF'
import sys
sys.path.insert(0, "bench")
import torch_bench as tb
lib = tb.load_gradserve(sys.argv[1], 1)
a = tb.GradserveStep(lib, 64, [784, 128, 10], "ce", 7)
b = tb.GradserveStep(lib, 64, [784, 128, 10], "ce", 7)
a(1); b(3)
la, lb = lib.bench_step_loss(a.h), lib.bench_step_loss(b.h)
print(la, lb)
sys.exit(0 if la == lb and 0 < la < 10 else 1)
EOF
}
check "the library's step is deterministic and its loss plausible (ln 10 ~ 2.3)" same_loss

# A server on a free port, for http_load.
. tests/lib/start_server.sh
start_server "$BUILD/gradserve" "$tmp/server.log" ||
    { echo "FAIL start the server"; cat "$tmp/server.log"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
"$PY" bench/http_bodies.py "$tmp/bodies" >/dev/null 2>&1
load_ok() { # expect, then http_load's options: all answered as expected, step timed
    local expect=$1; shift
    line=$("$BUILD/bench/http_load" --port "$port" --path /gradients --connections 1 --warmup 0 \
        --requests 4 --expect "$expect" --step 784-128-10:64:ce "$@") || return 1
    echo "$line"
    set -- $line
    [ "$1" = load ] && [ "$2" = 4 ] && [ "$3" = 0 ] && positive "$6" && positive "${14}"
}
check "http_load: 200s from the server, the step timed between them" \
    load_ok 200 --body "$tmp/bodies/small.json"
{ printf 'x'; tail -c +2 "$tmp/bodies/small.json"; } >"$tmp/refused.json"
check "http_load: a malformed body's 400 counted as expected" load_ok 400 --body "$tmp/refused.json"
# --trace: a line per measured request (due <= written < read) and per wait,
# which bench/tail_trace.py reads back with the same count of requests.
trace_ok() {
    local line
    line=$("$BUILD/bench/http_load" --port "$port" --path /gradients --connections 8 --warmup 0 \
        --requests 400 --body "$tmp/bodies/small.json" --trace "$tmp/trace.tsv") || return 1
    local n; n=$(cut -f2 <<<"$line")
    [ "$(grep -c '^r' "$tmp/trace.tsv")" = "$n" ] &&
        awk -F'\t' '$1 == "r" && !($3 <= $4 && $4 < $5) { bad = 1 } END { exit bad }' "$tmp/trace.tsv" &&
        grep -q '^w' "$tmp/trace.tsv" || return 1
    "$PY" bench/tail_trace.py "$tmp/trace.tsv" >"$tmp/trace.out" || return 1
    cat "$tmp/trace.out"
    [ "$(awk '$1 == "requests" { print $2 }' "$tmp/trace.out")" = "$n" ] &&
        [ "$(awk '$1 == "connections" { print $2 }' "$tmp/trace.out")" = 8 ] &&
        positive "$(awk '$1 == "p99_over_little" { print $2 }' "$tmp/trace.out")"
}
check "http_load --trace: every request and wait, read back by bench/tail_trace.py" trace_ok

# The floor server of bench/http.sh: answers every request with its fixed JSON
# (the body read and dropped), under http_load too, and stops on SIGTERM.
floor_ok() {
    local fport
    fport=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    "$BUILD/bench/mhd_floor" --port "$fport" & local fpid=$!
    for _ in $(seq 100); do curl -sf -d x "http://127.0.0.1:$fport/" >/dev/null 2>&1 && break; sleep 0.05; done
    curl -sf -H 'Content-Type: application/json' --data-binary @"$tmp/bodies/small.json" \
        "http://127.0.0.1:$fport/gradients" | "$PY" -c 'import json, sys; d = json.load(sys.stdin); assert d["loss"] > 0 and "grads" in d' &&
    line=$("$BUILD/bench/http_load" --port "$fport" --path /gradients --body "$tmp/bodies/small.json" \
        --connections 4 --requests 40 --warmup 0) && echo "$line" && set -- $line &&
        [ "$2" -ge 40 ] && [ "$3" = 0 ] || { kill "$fpid"; wait "$fpid"; return 1; }
    kill "$fpid" && wait "$fpid"
}
check "mhd_floor (bench/http.sh's bare libmicrohttpd server) answers and stops on SIGTERM" floor_ok

# Two servers in turns on the big request (here the same binary twice): a row per
# server and encoding with a ratio, and a median for each.
ab_ok() {
    bench/http_ab.sh --rounds 1 --requests 2 "$BUILD/gradserve" >"$tmp/ab" 2>&1 || { cat "$tmp/ab"; return 1; }
    cat "$tmp/ab"
    for side in A B; do
        for enc in binary b64; do
            r=$(awk -F'\t' -v s=$side -v e=$enc '$1 == s && $3 == e { print $6 }' "$tmp/ab")
            positive "$r" || { echo "no ratio for $side $enc"; return 1; }
            grep -q "^  $side:$enc: [0-9.]* (1 rounds)$" "$tmp/ab" || { echo "no median for $side $enc"; return 1; }
        done
    done
}
check "bench/http_ab.sh compares two servers in turns" ab_ok

# The whole report, core and numpy only, at the smallest budget.
report_ok() {
    BUILD=$BUILD BENCH_SECTIONS="core python" BENCH_ROUNDS=1 BENCH_BUDGET=0.001 BENCH_THREADS=1 \
        BENCH_OUT="$tmp/results.md" bench/run.sh >/dev/null 2>"$tmp/run.err" || { cat "$tmp/run.err"; return 1; }
    for want in "### Against the GEMM limit" "### Against PyTorch and NumPy" \
                "bare-GEMM limit on the large shapes**" "Faster than NumPy at every shape" \
                "2-4-1 step >= 20× faster than NumPy**" "- OpenBLAS kernels: " \
                "| OpenBLAS kernels |"; do
        grep -qF -- "$want" "$tmp/results.md" || { echo "missing: $want"; cat "$tmp/results.md"; return 1; }
    done
    # every shape has a numpy ratio (a number, not n/a)
    # and names the OpenBLAS kernels of both processes in its last column
    n=$(grep -cE '^\| [0-9-]+ \| [0-9]+ \| [0-9]+ \| .* \| [0-9.]+× \| [A-Za-z0-9_]+, [A-Za-z0-9_]+ \|$' "$tmp/results.md")
    [ "$n" -ge 5 ] || { echo "$n rows with ratios"; cat "$tmp/results.md"; return 1; }
}
check "bench/run.sh writes every table and target" report_ok

# bench/kernels.sh: four servers, each reporting its kernels; the simulated
# fallback upgraded to the best family this processor runs.
kernels_ok() {
    BUILD=$BUILD BENCH_KERNELS_ROUNDS=1 BENCH_KERNELS_REQUESTS=1 bench/kernels.sh \
        >"$tmp/kernels.md" 2>"$tmp/kernels.err" || { cat "$tmp/kernels.err"; return 1; }
    best=$("$BUILD/bench/bench_core" --kernels | cut -f2)
    grep -qE '^\| fallback \| Prescott \(operator\) \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ GFLOP/s \|$' \
        "$tmp/kernels.md" || { echo "no fallback row"; cat "$tmp/kernels.md"; return 1; }
    if [ "$best" != - ]; then
        grep -qE "^\\| upgraded \\| $best \\(upgraded\\) \\| [0-9.]+ ms" "$tmp/kernels.md" ||
            { echo "no upgraded row with $best"; cat "$tmp/kernels.md"; return 1; }
    fi
    grep -qE '^- fallback \(Prescott\) / upgraded \([A-Za-z]+\), big request b64: \*\*[0-9.]+×' \
        "$tmp/kernels.md" || { echo "no ratio"; cat "$tmp/kernels.md"; return 1; }
}
check "bench/kernels.sh compares the fallback with the upgrade" kernels_ok

# bench/client.sh: issue 17's recipe through the Python client, on 2,000 rows.
client_ok() {
    BUILD=$BUILD BENCH_CLIENT_ROUNDS=1 BENCH_CLIENT_ARGS="--rows 2000 --test-rows 1000 --epochs 1" \
        bench/client.sh >"$tmp/client.md" 2>"$tmp/client.err" || { cat "$tmp/client.err"; return 1; }
    cat "$tmp/client.md"
    for want in "| client, refs + " "| client, binary bodies, no refs |" "| client, base64, no refs |" \
                "| PyTorch in-process, 1 thread |" "at most 4 KB each way**: MET" \
                "weights and losses bit-identical: yes"; do
        grep -qF -- "$want" "$tmp/client.md" || { echo "missing: $want"; return 1; }
    done
}
check "bench/client.sh times the recipe through the Python client against PyTorch" client_ok

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
