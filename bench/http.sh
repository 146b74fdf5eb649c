#!/usr/bin/env bash
# bench/http.sh: gradserve over HTTP, run by bench/run.sh (make bench) after the
# in-process benchmarks; prints a markdown section on stdout, progress on stderr.
#
#   1. 2-4-1 /gradients (the README's XOR request), keep-alive: requests per
#      second at 32 connections and latency at 1, errors, each phase's time from
#      the server's own metrics, and the HTTP overhead against the same step
#      in-process (bench_core); the same API in Flask + PyTorch under gunicorn
#      (2 workers, bench/flask_app.py) at 32 connections; the floor, a bare
#      libmicrohttpd server answering a fixed JSON (bench/mhd_floor.c), and the
#      server CPU per request of both.
#   2. 784-512-512-10, batch 1000, /gradients with params, one connection: end-to-end
#      latency with binary, base64 and nested-JSON tensors (both ways), its phases,
#      against the in-process step timed between the requests; the same bodies made
#      malformed (read whole, refused): the cost of moving them; at 1 and 2 BLAS
#      threads (the thread policy).
#   3. bench_codec: decoding the nested request, jansson's way against the server's;
#      a tiny request's stages 4 to 7 in-process, with and without the skeleton cache;
#      float32 text output, the server's writer against json_dumps.
#
# Environment (set by run.sh): BUILD, BENCH_THREADS, BENCH_BUDGET; BENCH_PYTHON
# (python with numpy, default /usr/bin/python3); BENCH_HTTP_SECONDS per load run
# (default 5). Needs $BUILD/gradserve, $BUILD/bench/{http_load,bench_core,bench_codec,mhd_floor}.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
PY=${BENCH_PYTHON:-/usr/bin/python3}
SECS=${BENCH_HTTP_SECONDS:-5}
THREADS=${BENCH_THREADS:-"1 $(nproc)"}
GS=$BUILD/gradserve
LOAD=$BUILD/bench/http_load
CORE=$BUILD/bench/bench_core
CODEC=$BUILD/bench/bench_codec
for b in "$GS" "$LOAD" "$CORE" "$CODEC" "$BUILD/bench/mhd_floor"; do
    [ -x "$b" ] || { echo "bench/http.sh: missing $b (make build-bench)" >&2; exit 1; }
done
note() { printf '%s\n' "$*" >&2; }

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

free_port() { # for gunicorn
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

. tests/lib/start_server.sh # start_server BIN LOG FLAGS...: sets $port, $pid
# serve FLAGS...: gradserve in the background on a free port, ready; sets PORT
# (and $pid, which stop_server stops).
serve() {
    start_server "$GS" "$TMP/server.log" "$@" ||
        { note "gradserve did not start: $(tail -3 "$TMP/server.log")"; exit 1; }
    PORT=$port
    PIDS+=("$pid")
}
stop_server() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }

metrics() { curl -sf "http://127.0.0.1:$1/metrics"; }

# Server CPU per request (user + system, from /proc/PID/stat), the figure that
# holds when the load client and the scheduler move the throughput around.
TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
us_per_request() { # us_per_request LOAD_LINE TICKS: the ticks span the 0.5 s warm-up too
    awk -v r="$(echo "$1" | cut -f5)" -v t="$2" -v k="$TICK" -v s="$SECS" \
        'BEGIN { n = r * (s + 0.5); printf "%.1f", (n > 0 ? t * 1e6 / k / n : 0) }'
}

. bench/lib/phases.sh # phases, phase_of

# load PORT BODY ARGS...: one http_load run; prints its "load" line.
load() {
    local port=$1 body=$2; shift 2
    "$LOAD" --port "$port" --path /gradients --body "$body" "$@"
}
col() { cut -f"$1"; } # http_load: 2 requests 3 errors 5 req/s 6 p50 7 p99 8 mean

core_step_us() { # core_step_us SHAPE:BATCH THREADS: median in-process step, µs
    "$CORE" --only "$1" --threads "$2" --what step --budget 0.5 |
        awk -F'\t' '$1 == "core" && $5 == "step" { print $6; exit }'
}

fmt_us() { awk -v u="$1" 'BEGIN { if (u >= 1000) printf "%.2f ms", u / 1000; else printf "%.1f µs", u }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
verdict() { if ge "$1" "$2"; then echo MET; else echo "NOT MET"; fi; }

note "http.sh: request bodies"
"$PY" bench/http_bodies.py "$TMP/bodies"
B=$TMP/bodies

# ---- 1. small requests ------------------------------------------------------------------
note "http.sh: 2-4-1 /gradients, 32 and 1 keep-alive connections, ${SECS}s each"
serve
load "$PORT" "$B/small.json" --connections 32 --duration 1 --warmup 0.5 >/dev/null
metrics "$PORT" >"$TMP/m0"
# The kernels next to every figure: the server's (gradserve_blas_info) and the
# in-process step's (bench_core and http_load --step link the core directly).
KSERVER=$(sed -n 's/^gradserve_blas_info{core="\([^"]*\)".*reason="\([^"]*\)".*/\1 (\2)/p' "$TMP/m0")
KSTEP=$("$CORE" --kernels | cut -f1)
T0=$(cpu_ticks "$pid")
SMALL32=$(load "$PORT" "$B/small.json" --connections 32 --duration "$SECS" --warmup 0.5)
CPU32=$(us_per_request "$SMALL32" "$(($(cpu_ticks "$pid") - T0))")
metrics "$PORT" >"$TMP/m1"
SMALL1=$(load "$PORT" "$B/small.json" --connections 1 --duration "$(awk -v s="$SECS" 'BEGIN{print s/2}')" --warmup 0.2)
metrics "$PORT" >"$TMP/m2"
phases "$TMP/m0" "$TMP/m1" /gradients >"$TMP/ph32"
phases "$TMP/m1" "$TMP/m2" /gradients >"$TMP/ph1"
stop_server
STEP_SMALL=$(core_step_us 2-4-1:4 1)

# the same at 2 BLAS threads (thread policy for many small requests)
serve --blas-threads 2
SMALL32_B2=$(load "$PORT" "$B/small.json" --connections 32 --duration "$SECS" --warmup 0.5)
stop_server

# The floor: a bare libmicrohttpd server answering a fixed JSON (bench/mhd_floor.c),
# same client, same connections: what the HTTP library and the kernel cost alone.
FLOOR=""
note "http.sh: bare libmicrohttpd server (fixed answer), 32 connections, ${SECS}s"
FLOOR_PORT=$(free_port)
"$BUILD/bench/mhd_floor" --port "$FLOOR_PORT" &
PIDS+=($!)
for _ in $(seq 100); do curl -sf -d x "http://127.0.0.1:$FLOOR_PORT/gradients" >/dev/null 2>&1 && break; sleep 0.05; done
load "$FLOOR_PORT" "$B/small.json" --connections 32 --duration 1 --warmup 0.5 >/dev/null
T0=$(cpu_ticks "${PIDS[-1]}")
FLOOR=$(load "$FLOOR_PORT" "$B/small.json" --connections 32 --duration "$SECS" --warmup 0.5)
FLOOR_CPU=$(us_per_request "$FLOOR" "$(($(cpu_ticks "${PIDS[-1]}") - T0))")
kill "${PIDS[-1]}" 2>/dev/null || true

# Flask + PyTorch under gunicorn, 2 sync workers, against gradserve in alternating
# rounds (gradserve, Flask, gradserve, Flask, ...): both servers see the same moments of
# a shared machine, and the ratio is of the two medians. One run each swung the ratio
# from 15x to 42x as other work came and went.
FLASK="" GSF="" FLASK_ROUNDS=${BENCH_FLASK_ROUNDS:-3}
median_line() { sort -t$'\t' -k5,5g | awk '{ l[NR] = $0 } END { print l[int((NR + 1) / 2)] }'; }
if command -v gunicorn >/dev/null && "$PY" -c 'import flask, torch' 2>/dev/null; then
    note "http.sh: Flask + PyTorch under gunicorn (2 workers) and gradserve, 32 connections, $FLASK_ROUNDS rounds of ${SECS}s each"
    FPORT=$(free_port)
    gunicorn -w 2 -b "127.0.0.1:$FPORT" --chdir bench flask_app:app >"$TMP/gunicorn.log" 2>&1 &
    PIDS+=($!)
    FPID=$!
    for _ in $(seq 200); do
        curl -sf -H 'Content-Type: application/json' -d @"$B/small.json" \
            "http://127.0.0.1:$FPORT/gradients" >/dev/null 2>&1 && break
        sleep 0.1
    done
    serve
    : >"$TMP/gs_rounds"; : >"$TMP/flask_rounds"
    for _ in $(seq "$FLASK_ROUNDS"); do
        load "$PORT" "$B/small.json" --connections 32 --duration "$SECS" --warmup 0.5 >>"$TMP/gs_rounds"
        load "$FPORT" "$B/small.json" --connections 32 --duration "$SECS" --warmup 0.5 2>/dev/null >>"$TMP/flask_rounds" || true
    done
    stop_server
    kill "$FPID" 2>/dev/null || true
    FLASK=$(median_line <"$TMP/flask_rounds")
    GSF=$(median_line <"$TMP/gs_rounds")
else
    note "http.sh: gunicorn or flask/torch missing: Flask comparison skipped (make deps-bench)"
fi

# The same comparison with the load client on a CPU of its own and both servers on
# another (taskset; the server sizes its loops and workers from its affinity mask):
# what the servers do when the client does not take their CPU time. Evidence for
# comparing servers; the rounds above are the issue's form of the target.
PFLASK="" PGSF=""
CPUS=$("$PY" -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0))[:2])))')
if [ -n "$FLASK" ] && [ "$(echo "$CPUS" | wc -w)" -ge 2 ]; then
    read -r CLIENT_CPU SERVER_CPU <<<"$CPUS"
    FPORT=$(free_port)
    note "http.sh: the same, load client on CPU $CLIENT_CPU, Flask and gradserve on CPU $SERVER_CPU"
    ALLOWED=$(awk '/^Cpus_allowed_list/ { print $2 }' /proc/$$/status)
    taskset -pc "$SERVER_CPU" $$ >/dev/null # the servers started now inherit it
    gunicorn -w 2 -b "127.0.0.1:$FPORT" --chdir bench flask_app:app >"$TMP/gunicorn.log" 2>&1 &
    PIDS+=($!)
    FPID=$!
    serve
    taskset -pc "$ALLOWED" $$ >/dev/null
    for _ in $(seq 200); do
        curl -sf -H 'Content-Type: application/json' -d @"$B/small.json" \
            "http://127.0.0.1:$FPORT/gradients" >/dev/null 2>&1 && break
        sleep 0.1
    done
    : >"$TMP/pgs_rounds"; : >"$TMP/pflask_rounds"
    for _ in $(seq "$FLASK_ROUNDS"); do
        taskset -c "$CLIENT_CPU" "$LOAD" --port "$PORT" --path /gradients --body "$B/small.json" \
            --connections 32 --duration "$SECS" --warmup 0.5 >>"$TMP/pgs_rounds"
        taskset -c "$CLIENT_CPU" "$LOAD" --port "$FPORT" --path /gradients --body "$B/small.json" \
            --connections 32 --duration "$SECS" --warmup 0.5 2>/dev/null >>"$TMP/pflask_rounds" || true
    done
    stop_server
    kill "$FPID" 2>/dev/null || true
    PFLASK=$(median_line <"$TMP/pflask_rounds")
    PGSF=$(median_line <"$TMP/pgs_rounds")
fi

# ---- 2. one big request -------------------------------------------------------------------
# Each measured request is followed, in the load client, by the same step in-process
# (http_load --step: one untimed step, one timed), so that requests and steps are timed
# in one window: this machine's speed drifts between runs by more than the margins here.
# "refused": a body of the same size whose first byte makes it malformed, so that the
# server reads all of it and answers 400: what moving the request alone costs.
BIGLEN=$(cat "$B/big-binary.len")
{ printf 'x'; tail -c +2 "$B/big-b64.json"; } >"$B/refused-b64.json"
{ printf 'x'; tail -c +2 "$B/big-binary.bin"; } >"$B/refused-binary.bin"
BIGSTEP=784-512-512-10:1000:ce
declare -A LAT PH STEP
for t in $THREADS; do
    note "http.sh: 784-512-512-10 batch 1000 /gradients, BLAS threads $t"
    # Above one thread, a step in the client would run while the server's idle
    # OpenBLAS threads still spin (and the other way round): time it alone first.
    step=(--step "$BIGSTEP" --step-threads 1)
    if [ "$t" -gt 1 ]; then step=(); ALONE=$(core_step_us 784-512-512-10:1000 "$t"); fi
    serve --blas-threads "$t"
    for enc in binary b64 nested refused-binary refused-b64; do
        expect=200
        case $enc in
        binary) args=(--body "$B/big-binary.bin" --content-type application/octet-stream
                      --header "Inference-Header-Content-Length: $BIGLEN" --requests 31) ;;
        b64) args=(--body "$B/big-b64.json" --requests 31) ;;
        nested) args=(--body "$B/big-nested.json" --requests 5) ;;
        refused-binary) args=(--body "$B/refused-binary.bin" --content-type application/octet-stream
                              --header "Inference-Header-Content-Length: $BIGLEN" --requests 31)
                        expect=400 ;;
        refused-b64) args=(--body "$B/refused-b64.json" --requests 31); expect=400 ;;
        esac
        "$LOAD" --port "$PORT" --path /gradients "${args[@]}" --expect $expect --connections 1 \
            --warmup 0 --requests 2 >/dev/null
        metrics "$PORT" >"$TMP/b0"
        LAT[$t,$enc]=$("$LOAD" --port "$PORT" --path /gradients "${args[@]}" --expect $expect \
            --connections 1 --warmup 0 "${step[@]}")
        if [ "$t" -gt 1 ]; then STEP[$t,$enc]=$ALONE; else STEP[$t,$enc]=$(echo "${LAT[$t,$enc]}" | col 14); fi
        metrics "$PORT" >"$TMP/b1"
        phases "$TMP/b0" "$TMP/b1" /gradients >"$TMP/bph-$t-$enc"
    done
    # two clients at once: throughput of big binary requests
    LAT[$t,pair]=$("$LOAD" --port "$PORT" --path /gradients --body "$B/big-binary.bin" \
        --content-type application/octet-stream --header "Inference-Header-Content-Length: $BIGLEN" \
        --connections 2 --duration 3 --warmup 0.5)
    stop_server
done

# ---- 3. codec ----------------------------------------------------------------------------
note "http.sh: bench_codec (decode, float writer)"
"$CODEC" --body "$B/big-nested.json" --small "$B/small.json" --budget 1 >"$TMP/codec"
codec() { awk -F'\t' -v w="$1" -v v="$2" '$1 == "codec" && $2 == w && $3 == v { print $'"${3:-6}"'; exit }' "$TMP/codec"; }

# ---- report ----------------------------------------------------------------------------
rps32=$(echo "$SMALL32" | col 5); err32=$(echo "$SMALL32" | col 3)
p50_32=$(echo "$SMALL32" | col 6); p99_32=$(echo "$SMALL32" | col 7)
rps1=$(echo "$SMALL1" | col 5); p50_1=$(echo "$SMALL1" | col 6); p99_1=$(echo "$SMALL1" | col 7)
err1=$(echo "$SMALL1" | col 3)
inproc1=$(awk '$1=="decode"||$1=="compute"||$1=="encode" { s += $2 } END { print s }' "$TMP/ph1")
overhead=$(awk -v a="$p50_1" -v b="$inproc1" 'BEGIN { print a - b }')
frps=$(echo "$FLASK" | col 5); gsfrps=$(echo "$GSF" | col 5)
ferr=$(awk -F'\t' '{ e += $3 } END { print e + 0 }' "$TMP/flask_rounds" 2>/dev/null || echo 0)
gsferr=$(awk -F'\t' '{ e += $3 } END { print e + 0 }' "$TMP/gs_rounds" 2>/dev/null || echo 0)
rounds_rps() { awk -F'\t' '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $5 }' "$1"; }

echo "## HTTP (bench/http.sh)"
echo
echo "gradserve on 127.0.0.1 with its defaults ($(nproc) event loops computing tiny requests, a FIFO queue for $(nproc)"
echo "compute workers, --blas-threads 1; docs/concurrency.md) unless said otherwise; load from"
echo "bench/http_load.c (one thread, epoll, keep-alive) on the same $(nproc)-core machine, so"
echo "client and server share the CPUs. Phases are means from the server's"
echo "gradserve_phase_duration_seconds histograms over the same requests."
echo
echo "OpenBLAS kernels: the server's ${KSERVER:-n/a} (gradserve_blas_info: core, reason);"
echo "the in-process step's (bench_core, http_load --step) $KSTEP."
echo
echo "### 2-4-1 /gradients (the README's XOR request, 4 rows), keep-alive"
echo
echo "| connections | requests/s | errors | p50 | p99 |"
echo "|---:|---:|---:|---:|---:|"
echo "| 32 | $(printf '%.0f' "$rps32") | $err32 | $(fmt_us "$p50_32") | $(fmt_us "$p99_32") |"
echo "| 1 | $(printf '%.0f' "$rps1") | $err1 | $(fmt_us "$p50_1") | $(fmt_us "$p99_1") |"
echo "| 32, --blas-threads 2 | $(printf '%.0f' "$(echo "$SMALL32_B2" | col 5)") | $(echo "$SMALL32_B2" | col 3) | $(fmt_us "$(echo "$SMALL32_B2" | col 6)") | $(fmt_us "$(echo "$SMALL32_B2" | col 7)") |"
echo "| 32, bare libmicrohttpd, fixed answer (bench/mhd_floor.c) | $(printf '%.0f' "$(echo "$FLOOR" | col 5)") | $(echo "$FLOOR" | col 3) | $(fmt_us "$(echo "$FLOOR" | col 6)") | $(fmt_us "$(echo "$FLOOR" | col 7)") |"
if [ -n "$FLASK" ]; then
    echo "| 32, Flask + PyTorch, gunicorn -w 2 (median of $FLASK_ROUNDS rounds) | $(printf '%.0f' "$frps") | $ferr | $(fmt_us "$(echo "$FLASK" | col 6)") | $(fmt_us "$(echo "$FLASK" | col 7)") |"
    echo "| 32, gradserve in turns with Flask (median of $FLASK_ROUNDS rounds) | $(printf '%.0f' "$gsfrps") | $gsferr | $(fmt_us "$(echo "$GSF" | col 6)") | $(fmt_us "$(echo "$GSF" | col 7)") |"
fi
if [ -n "$PFLASK" ]; then
    echo "| 32, Flask + PyTorch on CPU $SERVER_CPU, client on CPU $CLIENT_CPU (median of $FLASK_ROUNDS rounds) | $(printf '%.0f' "$(echo "$PFLASK" | col 5)") | $(awk -F'\t' '{ e += $3 } END { print e + 0 }' "$TMP/pflask_rounds") | $(fmt_us "$(echo "$PFLASK" | col 6)") | $(fmt_us "$(echo "$PFLASK" | col 7)") |"
    echo "| 32, gradserve on CPU $SERVER_CPU, client on CPU $CLIENT_CPU, in turns with it (median of $FLASK_ROUNDS rounds) | $(printf '%.0f' "$(echo "$PGSF" | col 5)") | $(awk -F'\t' '{ e += $3 } END { print e + 0 }' "$TMP/pgs_rounds") | $(fmt_us "$(echo "$PGSF" | col 6)") | $(fmt_us "$(echo "$PGSF" | col 7)") |"
fi
echo
echo "Server CPU per request at 32 connections (user + system time over the requests served):"
echo "gradserve $CPU32 µs, the bare libmicrohttpd server $FLOOR_CPU µs ($(ratio "$CPU32" "$FLOOR_CPU")×)."
echo "The throughput of one 5-second run moves with where the scheduler puts the load client"
echo "(it shares the cores); the CPU per request does not."
echo
echo "Mean time per phase (µs), 32 connections / 1 connection:"
echo
echo "| receive | queue | decode | compute | encode | send |"
echo "|---:|---:|---:|---:|---:|---:|"
line=""
for ph in receive queue decode compute encode send; do
    line="$line $(phase_of "$TMP/ph32" $ph) / $(phase_of "$TMP/ph1" $ph) |"
done
echo "|$line"
echo
echo "In-process, the same step (gs_backward, bench_core): $(fmt_us "$STEP_SMALL"); the"
echo "server's decode + compute + encode at 1 connection: $(fmt_us "$inproc1"). HTTP overhead"
echo "per request at 1 connection (p50 latency minus decode, compute and encode, i.e."
echo "loopback TCP, libmicrohttpd, threads and the client): $(fmt_us "$overhead")."
echo

echo "### 784-512-512-10, batch 1000, /gradients with params, one connection"
echo
echo "Request: params (669,706 floats) + inputs (784,000 floats) + 1000 class labels;"
echo "response: loss and gradients (669,706 floats), in the request's encoding. Body sizes:"
echo "binary $(stat -c %s "$B/big-binary.bin") B, b64 $(stat -c %s "$B/big-b64.json") B, nested"
echo "$(stat -c %s "$B/big-nested.json") B (Python's json.dumps of the float32 values)."
echo "*in-process step*: gs_backward alone (bench/lib/step.c), median; at 1 BLAS thread"
echo "timed in the load client after each request (one untimed step, then one timed), so"
echo "that requests and steps share one time window; at more, by bench_core before the"
echo "server starts (a step in the client would compete with the server's idle OpenBLAS"
echo "threads, which spin for a while after each call). *refused*: a body of the same"
echo "size made malformed by its first byte, read whole and answered 400: what moving the"
echo "request alone costs (no decode, compute, encode or big response)."
echo
echo "| BLAS threads | tensors | p50 end-to-end | in-process step | end-to-end / step | receive | decode | compute | encode | send | kernels (server / step) |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for t in $THREADS; do
    for enc in binary b64 nested refused-binary refused-b64; do
        l=${LAT[$t,$enc]}; f=$TMP/bph-$t-$enc
        p50=$(echo "$l" | col 6)
        name=$enc
        case $enc in refused-*) name="${enc#refused-}, refused" ;; esac
        echo "| $t | $name | $(fmt_us "$p50") | $(fmt_us "${STEP[$t,$enc]}") | $(ratio "$p50" "${STEP[$t,$enc]}")× |" \
             "$(fmt_us "$(phase_of "$f" receive)") | $(fmt_us "$(phase_of "$f" decode)") |" \
             "$(fmt_us "$(phase_of "$f" compute)") | $(fmt_us "$(phase_of "$f" encode)") |" \
             "$(fmt_us "$(phase_of "$f" send)") | ${KSERVER%% *} / $KSTEP |"
    done
done
echo
echo "Two clients at once (binary, 2 connections): $(for t in $THREADS; do printf '%s BLAS thread(s): %.1f requests/s, p50 %s; ' "$t" "$(echo "${LAT[$t,pair]}" | col 5)" "$(fmt_us "$(echo "${LAT[$t,pair]}" | col 6)")"; done)"
echo

dj=$(codec decode jansson); dg=$(codec decode gradserve)
wj=$(codec write json_dumps); wj9=$(codec write json_dumps_p9); wg=$(codec write gradserve)
echo "### Tensors as JSON text (bench_codec, in-process)"
echo
echo "| what | jansson | gradserve | gradserve / jansson |"
echo "|---|---:|---:|---:|"
echo "| decode the nested request (json_loadb + request_decode vs fastjson + request_decode), numbers/s | $(printf '%.0f' "$dj") | $(printf '%.0f' "$dg") | $(ratio "$dg" "$dj")× |"
echo "| write float32 as JSON text, floats/s (json_dumps, default precision 17) | $(printf '%.0f' "$wj") | $(printf '%.0f' "$wg") | $(ratio "$wg" "$wj")× |"
echo "| the same against JSON_REAL_PRECISION(9) | $(printf '%.0f' "$wj9") | $(printf '%.0f' "$wg") | $(ratio "$wg" "$wj9")× |"
echo
echo "Checks: both decoders gave identical tensors: $(awk -F'\t' '$3=="decode_identical"{print ($4==1)?"yes":"NO"}' "$TMP/codec");" \
     "floats written that did not read back bit for bit (strtof): $(awk -F'\t' '$3=="write_roundtrip_mismatches"{print $4}' "$TMP/codec")" \
     "of 1,000,000 (tests/test_float_format.c checks millions more, with jansson and strtod too)."
echo
sc=$(codec small compute_run 4); scc=$(codec small compute_run_cached 4)
echo "A tiny request's stages 4 to 7 in-process (2-4-1 \`/gradients\`, \`compute_run\`, CPU time):" \
     "$(awk -v t="$sc" 'BEGIN { printf "%.1f", t * 1e6 }') µs," \
     "$(awk -v t="$scc" 'BEGIN { printf "%.1f", t * 1e6 }') µs with the skeleton cache ($(ratio "$sc" "$scc")×);" \
     "$(codec check small_allocations 4) allocations, $(codec check small_allocations_cached 4) with it."
echo

echo "### Targets (HTTP)"
echo
t1=$(echo "$THREADS" | awk '{print $1}')
echo "- **2-4-1 at 32 connections >= 15,000 requests/s with no errors**: $( (ge "$rps32" 15000 && [ "$err32" = 0 ]) && echo MET || echo "NOT MET") ($(printf '%.0f' "$rps32") requests/s, $err32 errors)."
if [ -n "$FLASK" ]; then
    echo "- **>= 20× Flask + PyTorch under gunicorn (2 workers)**: $( (ge "$(ratio "$gsfrps" "$frps")" 20 && [ "$ferr" = 0 ] && [ "$gsferr" = 0 ]) && echo MET || echo "NOT MET") ($(ratio "$gsfrps" "$frps")×, medians of $FLASK_ROUNDS rounds in turns: gradserve $(rounds_rps "$TMP/gs_rounds"), Flask $(rounds_rps "$TMP/flask_rounds") requests/s; errors $gsferr and $ferr)."
else
    echo "- **>= 20× Flask + PyTorch under gunicorn**: NOT MEASURED (gunicorn/flask missing)."
fi
if [ -n "$PFLASK" ]; then
    echo "- The same with the load client on a CPU of its own (CPU $CLIENT_CPU; both servers on CPU $SERVER_CPU, one CPU each; not the issue's form of the target): $(ratio "$(echo "$PGSF" | col 5)" "$(echo "$PFLASK" | col 5)")× (medians of $FLASK_ROUNDS rounds in turns: gradserve $(rounds_rps "$TMP/pgs_rounds"), Flask $(rounds_rps "$TMP/pflask_rounds") requests/s)."
fi
echo "- **server CPU per small request <= 2.5× the bare libmicrohttpd server's (proposed in issue 21's closing note)**: $( awk -v a="$CPU32" -v b="$FLOOR_CPU" 'BEGIN { exit !(b > 0 && a <= 2.5 * b) }' && echo MET || echo "NOT MET") ($(ratio "$CPU32" "$FLOOR_CPU")×: $CPU32 against $FLOOR_CPU µs)."
for t in $THREADS; do
    for enc in binary b64; do
        e2e=$(echo "${LAT[$t,$enc]}" | col 6)
        r=$(awk -v a="$e2e" -v b="${STEP[$t,$enc]}" 'BEGIN { printf "%.3f", (b > 0) ? a / b : 0 }')
        floor=$(ratio "$(echo "${LAT[$t,refused-$enc]}" | col 6)" "${STEP[$t,refused-$enc]}")
        echo "- **784-512-512-10 batch 1000, $enc, $t BLAS thread(s): end-to-end <= 1.25× the in-process step**: $(awk -v r="$r" 'BEGIN { print (r <= 1.25) ? "MET" : "NOT MET" }') (${r}×; the request body alone, refused once read, costs ${floor}× the step's time) [kernels ${KSERVER%% *} / $KSTEP]."
    done
done
echo "- **Nested JSON decode >= 2× jansson's default**: $(verdict "$(ratio "$dg" "$dj")" 2) ($(ratio "$dg" "$dj")×)."
echo "- **float32 text >= 3× json_dumps, every float round-tripping**: $( (ge "$(ratio "$wg" "$wj")" 3 && [ "$(awk -F'\t' '$3=="write_roundtrip_mismatches"{print $4}' "$TMP/codec")" = 0 ]) && echo MET || echo "NOT MET") ($(ratio "$wg" "$wj")×)."
