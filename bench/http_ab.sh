#!/usr/bin/env bash
# bench/http_ab.sh: two server binaries compared on the big request of bench/http.sh
# (784-512-512-10, batch 1000, /gradients with params, 1 BLAS thread), in turns, so
# that both see the same machine: its speed drifts between runs by more than most
# changes to the transport are worth.
#
#   bench/http_ab.sh [--rounds N] [--requests N] [--encodings "binary b64"] A [B]
#
# Each round starts A, then B, each on a fresh port, and sends each encoding
# 2 untimed requests, then N timed ones with the in-process step timed between them
# (http_load --step). One line per server, round and encoding: end-to-end p50, the
# step, their ratio, the server's phases (mean µs, from GET /metrics) and the
# compute phase's excess over the step; then the median ratio per server and
# encoding. With B omitted, A is compared with itself (the noise floor).
# Needs make build-bench; BENCH_PYTHON as bench/http.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
PY=${BENCH_PYTHON:-/usr/bin/python3}
LOAD=$BUILD/bench/http_load
ROUNDS=3 REQUESTS=31 ENCODINGS="binary b64"
usage() { echo "usage: bench/http_ab.sh [--rounds N] [--requests N] [--encodings LIST] A [B]" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --encodings) ENCODINGS=$2; shift 2 ;;
    -*) usage ;;
    *) break ;;
    esac
done
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
A=$1 B=${2:-$1}
for b in "$A" "$B" "$LOAD"; do [ -x "$b" ] || { echo "bench/http_ab.sh: missing $b" >&2; exit 1; }; done

. tests/lib/start_server.sh # start_server: sets $port, $pid
. bench/lib/phases.sh        # phases, phase_of
TMP=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT
"$PY" bench/http_bodies.py "$TMP/bodies" >/dev/null
BODIES=$TMP/bodies

request_args() { # the http_load flags of one encoding's request; fails for others
    case $1 in
    binary) echo "--body $BODIES/big-binary.bin --content-type application/octet-stream" ;;
    b64) echo "--body $BODIES/big-b64.json" ;;
    *) return 1 ;;
    esac
}
for enc in $ENCODINGS; do
    request_args "$enc" >/dev/null ||
        { echo "bench/http_ab.sh: unknown encoding $enc (binary or b64)" >&2; exit 2; }
done
HEADER="Inference-Header-Content-Length: $(cat "$BODIES/big-binary.len")"

printf 'server\tround\tencoding\tp50_us\tstep_us\tratio\treceive\tdecode\tcompute\tencode\tsend\texcess_us\n'
for round in $(seq "$ROUNDS"); do
    for side in A B; do
        bin=$A; [ $side = B ] && bin=$B
        start_server "$bin" "$TMP/server.log" --blas-threads 1 ||
            { echo "bench/http_ab.sh: $bin did not start: $(tail -3 "$TMP/server.log")" >&2; exit 1; }
        for enc in $ENCODINGS; do
            # shellcheck disable=SC2046 # request_args gives words
            set -- $(request_args "$enc")
            [ "$enc" = binary ] && set -- "$@" --header "$HEADER"
            "$LOAD" --port "$port" --path /gradients "$@" --connections 1 --warmup 0 \
                --requests 2 >/dev/null
            curl -sf "http://127.0.0.1:$port/metrics" >"$TMP/m0"
            line=$("$LOAD" --port "$port" --path /gradients "$@" --connections 1 --warmup 0 \
                --requests "$REQUESTS" --step 784-512-512-10:1000:ce --step-threads 1)
            curl -sf "http://127.0.0.1:$port/metrics" >"$TMP/m1"
            phases "$TMP/m0" "$TMP/m1" /gradients >"$TMP/ph"
            p50=$(echo "$line" | cut -f6) step=$(echo "$line" | cut -f14)
            awk -v s=$side -v r="$round" -v e="$enc" -v p="$p50" -v st="$step" \
                -v rc="$(phase_of "$TMP/ph" receive)" -v de="$(phase_of "$TMP/ph" decode)" \
                -v co="$(phase_of "$TMP/ph" compute)" -v en="$(phase_of "$TMP/ph" encode)" \
                -v se="$(phase_of "$TMP/ph" send)" 'BEGIN {
                printf "%s\t%s\t%s\t%.0f\t%.0f\t%.3f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\n",
                    s, r, e, p, st, (st > 0 ? p / st : 0), rc, de, co, en, se, co - st }'
        done
        kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    done
done | tee "$TMP/rows"
echo
echo "median end-to-end / step (A: $A, B: $B):"
for key in $(awk -F'\t' '{ print $1 ":" $3 }' "$TMP/rows" | sort -u); do
    awk -F'\t' -v k="$key" '$1 ":" $3 == k { print $6 }' "$TMP/rows" | sort -n |
        awk -v k="$key" '{ x[NR] = $1 }
            END { printf "  %s: %.3f (%d rounds)\n", k, (NR % 2 ? x[(NR + 1) / 2] : (x[NR / 2] + x[NR / 2 + 1]) / 2), NR }'
done
