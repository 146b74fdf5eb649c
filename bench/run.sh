#!/usr/bin/env bash
# `make bench`: runs the benchmarks, prints the results and writes them to
# bench/results.md. Sections, in order (BENCH_SECTIONS picks some of them):
#   core    $BUILD/bench/bench_core: a gs_backward step against its bare GEMMs
#   python  bench/torch_bench.py: the same step in PyTorch and in NumPy, each
#           timed in alternating samples with gradserve's step in the same
#           process ($BUILD/bench/libbench_step.so)
#   layers  bench/lenet.sh: a LeNet-5 training step against its bare GEMMs and
#           against PyTorch (issue 18)
#   fashion bench/fashion.sh: Fashion-MNIST trained with LeNet-5 through /train,
#           against PyTorch from the same initial weights (a few minutes)
#   client  bench/client.sh: issue 17's Fashion-MNIST recipe end to end through
#           the Python client (refs, binary, base64) against PyTorch (a minute or two)
#   clientjs bench/client_js.sh: the JavaScript client on Fashion-MNIST chunks,
#           b64 / binary / ref / ref with the data put once (issue 17)
#   http    bench/http.sh, when it exists (see "Later sections" below)
#   kernels bench/kernels.sh: the big request and NumPy's sgemm with OpenBLAS's
#           Prescott fallback against the upgraded kernels, same run
#   store   bench/store.sh: the tensor store's hashing, PUT throughput, the
#           event loop during large PUTs, and the bytes of an all-refs /train
#   concurrency  bench/concurrency.sh: many connections, idle connections, big
#           requests at once, memory over rounds (BENCH_BASELINE: an older
#           gradserve binary to compare with, in turns)
#
# Environment:
#   BUILD           build dir holding bench/bench_core (default build)
#   BENCH_THREADS   OpenBLAS thread counts, space-separated (default "1 $(nproc)")
#   BENCH_BUDGET    seconds per measurement after warm-up (default 0.5)
#   BENCH_ROUNDS    times to run every benchmark; the best round counts (default 2)
#   BENCH_BLAS_ENV  inherit (default): every process gets this shell's
#                   OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as they are; clean: every
#                   process (C and Python alike) runs with both unset
#   BENCH_BLAS_UPGRADE  on (default): when OpenBLAS fell back to weaker kernels
#                   than the processor runs (and OPENBLAS_CORETYPE is not set),
#                   every process gets OPENBLAS_CORETYPE naming the best ones, as
#                   the server starts itself (docs/blas-kernels.md); off: OpenBLAS's
#                   own choice
#   BENCH_PYTHON    interpreter with torch/numpy (default /usr/bin/python3)
#   BENCH_OUT       report path (default bench/results.md)
# Raw measurements (bench_core.c's tab-separated format plus a last column, the
# round) go to $BUILD/bench/results.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
NCORES=$(nproc)
THREADS=${BENCH_THREADS:-"1 $NCORES"}
THREADS=$(printf '%s\n' $THREADS | awk '!seen[$0]++' | paste -sd' ')
BUDGET=${BENCH_BUDGET:-0.5}
BLAS_ENV=${BENCH_BLAS_ENV:-inherit}
PY=${BENCH_PYTHON:-/usr/bin/python3}
OUT=${BENCH_OUT:-bench/results.md}
SECTIONS=${BENCH_SECTIONS:-core python layers fashion client clientjs http store concurrency kernels}
ROUNDS=${BENCH_ROUNDS:-2}
RAW=$BUILD/bench/results.tsv
# Shapes held to the >= 90% of the GEMM limit target (shape:batch).
LARGE="784-512-512-10:256 784-512-512-10:1000 1024-4096-4096-1024:512"

want() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
note() { printf '%s\n' "$*" >&2; }

# One environment for every benchmark process, so that C and Python pick the
# same OpenBLAS kernel. OMP_WAIT_POLICY=PASSIVE keeps torch's OpenMP workers
# from spin-waiting against OpenBLAS's own threads: with the default policy,
# torch at 2 threads on 2 cores is several times slower on the mid-size shapes
# than at 1, which would flatter gradserve. Neither OpenBLAS (pthreads here)
# nor the core uses OpenMP, so it changes nothing for them.
case $BLAS_ENV in
inherit) RUNENV=(env OMP_WAIT_POLICY=PASSIVE) ;;
clean) RUNENV=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE) ;;
*) note "BENCH_BLAS_ENV must be inherit or clean"; exit 2 ;;
esac
# The kernels the server computes with, for every benchmark process: the
# server's own start-up decision (bench_core --kernels runs gs_blas_choose in
# this environment). Named next to every figure of the report.
UPGRADE=${BENCH_BLAS_UPGRADE:-on}
case $UPGRADE in on|off) ;; *) note "BENCH_BLAS_UPGRADE must be on or off"; exit 2 ;; esac
[ -x "$BUILD/bench/bench_core" ] || { note "missing $BUILD/bench/bench_core: run 'make build-bench'"; exit 1; }
IFS=$'\t' read -r K_CHOICE K_BEST K_VERDICT K_CORETYPE < <("${RUNENV[@]}" "$BUILD/bench/bench_core" --kernels)
K_USED=$K_CHOICE
if [ "$K_VERDICT" = upgrade ] && [ "$UPGRADE" = on ]; then
    RUNENV+=(OPENBLAS_CORETYPE="$K_CORETYPE")
    K_USED=$K_CORETYPE
fi
kernels_desc() {
    local why
    case $K_VERDICT in
    upgrade) if [ "$UPGRADE" = on ]; then why="OpenBLAS fell back to $K_CHOICE; every process ran with OPENBLAS_CORETYPE=$K_CORETYPE, as the server starts itself"
             else why="OpenBLAS fell back to $K_CHOICE, kept (BENCH_BLAS_UPGRADE=off; the server would use $K_CORETYPE)"; fi ;;
    operator) why="OPENBLAS_CORETYPE set in the environment, kept (as the server keeps it)" ;;
    keep) why="OpenBLAS's own choice, as strong as the processor allows: no upgrade" ;;
    *) why="OpenBLAS's own choice ($K_VERDICT)" ;;
    esac
    echo "$K_USED (processor runs up to ${K_BEST/-/nothing above SSE}; $why)"
}
blas_env_desc() {
    if [ "$BLAS_ENV" = clean ]; then
        echo "clean: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for every process"
    else
        echo "inherited: OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE-<unset>}," \
             "OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE-<unset>} for every process"
    fi
}

meta() { # meta KEY [BENCH]: a #meta value from the raw results
    if [ $# -eq 1 ]; then awk -F'\t' -v k="$1" '$1=="#meta" && $2==k {print $3; exit}' "$RAW"
    else awk -F'\t' -v b="$2" -v k="$1" '$1=="#meta" && $2==b && $3==k {print $4; exit}' "$RAW"; fi
}
or_na() { if [ -n "$1" ]; then echo "$1"; else echo "n/a"; fi; }
skipped() { awk -F'\t' -v b="$1" '$1=="#skip" && $2==b {print $3; exit}' "$RAW"; }
version_of() { # version_of BENCH PACKAGE
    local s; s=$(skipped "$1")
    if [ -n "$s" ]; then echo "skipped ($s)"
    else echo "$(meta version "$1") (Debian $(dpkg-query -W -f='${Version}' "$2" 2>/dev/null || echo '?'))"; fi
}

mkdir -p "$BUILD/bench"
: >"$RAW"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
# CPU time of the whole machine and of this script's finished children, in
# clock ticks, to tell how much of the machine other processes took meanwhile.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
own_ticks() { sed 's/.*) //' "/proc/$$/stat" | awk '{ print $14 + $15 }'; }
BUSY0=$(busy_ticks) OWN0=$(own_ticks) T0=$(date +%s.%N)

# Each round runs every benchmark once; the report takes, per row, the best
# round (see report below), so that a burst of load from elsewhere on the
# machine during one round does not decide the comparison.
record() { # tag data lines with the round, keep '#' lines; echo progress to stderr
    awk -v r="$round" 'BEGIN { FS = OFS = "\t" } /^#/ { print; next } { print $0, r }' \
        | tee -a "$RAW" >&2
}
for round in $(seq 1 "$ROUNDS"); do
    # ---- core ---------------------------------------------------------------------
    if want core; then
        bin=$BUILD/bench/bench_core
        [ -x "$bin" ] || { note "missing $bin: run 'make build-bench'"; exit 1; }
        note "round $round/$ROUNDS: bench_core, threads $THREADS, ${BUDGET}s per measurement"
        "${RUNENV[@]}" "$bin" --threads "$(echo $THREADS | tr ' ' ',')" --budget "$BUDGET" \
            | record
    fi

    # ---- python -------------------------------------------------------------------
    # One process per framework and thread count: OPENBLAS_NUM_THREADS is read when
    # OpenBLAS loads, and both torch and numpy call the system OpenBLAS here.
    if want python; then
        for fw in torch numpy; do
            [ -n "$(skipped "$fw")" ] && continue
            if ! [ -x "$PY" ]; then
                printf '#skip\t%s\t%s not found\n' "$fw" "$PY" >>"$RAW"
                continue
            fi
            for t in $THREADS; do
                note "round $round/$ROUNDS: torch_bench.py $fw, $t thread(s)"
                "${RUNENV[@]}" OPENBLAS_NUM_THREADS="$t" OMP_NUM_THREADS="$t" \
                    "$PY" bench/torch_bench.py --framework "$fw" --threads "$t" --budget "$BUDGET" \
                    --gradserve "$BUILD/bench/libbench_step.so" | record || printf '#skip\t%s\ttorch_bench.py failed\n' "$fw" >>"$RAW"
                [ -n "$(skipped "$fw")" ] && break
            done
        done
    fi
done

# ---- report ---------------------------------------------------------------------
# The best round per (bench, shape, batch, threads): the round whose "step" median
# is lowest (gradserve's for bench_core, the framework's for torch and numpy), with
# every row of that round: the rows of one process were timed in alternating
# samples (core: step and bare GEMM; torch, numpy: their step and gradserve's),
# so their ratio holds.
BEST=$BUILD/bench/best.tsv
awk 'BEGIN { FS = OFS = "\t" }
/^#/ { next }
{
    k = $1 FS $2 FS $3 FS $4; r = $11
    if (!(k in seen)) { seen[k] = 1; order[n++] = k; anyr[k] = r }
    rows[k, r] = rows[k, r] $0 "\n"
    if ($5 == "step" && (!(k in best) || $6 < bestv[k])) { best[k] = r; bestv[k] = $6 }
}
END {
    for (i = 0; i < n; i++) {
        k = order[i]
        printf "%s", rows[k, (k in best) ? best[k] : anyr[k]]
    }
}' "$RAW" >"$BEST"

report() {
    local load_end; load_end=$(cut -d' ' -f1-3 /proc/loadavg)
    local foreign; foreign=$(awk -v b="$(( $(busy_ticks) - BUSY0 ))" -v o="$(( $(own_ticks) - OWN0 ))" \
        -v t0="$T0" -v t1="$(date +%s.%N)" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { f = (b - o) / hz / (t1 - t0); printf "%.2f", f < 0 ? 0 : f }')
    echo "# gradserve benchmarks"
    echo
    echo "Generated by \`make bench\` (bench/run.sh) on $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo
    echo "## Machine and software"
    echo
    echo "- CPU: $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), nproc $NCORES"
    echo "- OpenBLAS: Debian libopenblas0-pthread $(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?');" \
         "$(meta openblas_config)"
    echo "- OpenBLAS kernel in use (openblas_get_corename in each process): gradserve" \
         "$(or_na "$(meta corename)"), torch $(or_na "$(meta corename torch)")," \
         "numpy $(or_na "$(meta corename numpy)")"
    echo "- OpenBLAS kernels: $(kernels_desc)"
    echo "- OpenBLAS environment: $(blas_env_desc); OMP_WAIT_POLICY=PASSIVE"
    echo "- gradserve $(meta gradserve), $(git rev-parse --short HEAD 2>/dev/null || echo 'no commit'), built by" \
         "$(${CC:-cc} --version | head -n1) with the Makefile's flags"
    echo "- torch: $(version_of torch python3-torch); numpy: $(version_of numpy python3-numpy)"
    echo "- Other processes used on average $foreign of the $NCORES cores during the run" \
         "(load average before: $LOAD_START; after, the benchmarks' own load included: $load_end)"
    if awk -v f="$foreign" 'BEGIN { exit !(f > 0.1) }'; then
        echo
        echo "**Warning: the machine was busy with other work during this run: the timings,"
        echo "the 2-thread rows most, are not representative. Rerun on a quiet machine.**"
    fi
    echo "- Thread counts: OpenBLAS $THREADS (gradserve: openblas_set_num_threads; torch:" \
         "torch.set_num_threads plus OPENBLAS_NUM_THREADS/OMP_NUM_THREADS; numpy:" \
         "$(or_na "$(meta thread_limit numpy)"))"
    echo
    echo "## One training step: forward, loss, backward (float32)"
    echo
    echo "Per step, no optimizer update. Hidden layers ReLU, last layer linear; loss MSE for"
    echo "2-4-1 and 1024-4096-4096-1024, cross-entropy on logits with class labels for the"
    echo "784-input nets. gradserve: \`gs_backward\` with GS_GEMM_AUTO (bench/lib/step.c)."
    echo "torch: nn.Sequential, grads set to None, \`loss.backward()\`. numpy: hand-written"
    echo "forward/backward. Times are the median per step over several samples after warm-up"
    echo "(CLOCK_MONOTONIC), from the best of $ROUNDS rounds (each round runs every benchmark"
    echo "once; per row, the round where the first-named side was fastest)."
    echo
    echo "### Against the GEMM limit (bench_core)"
    echo
    echo "*Bare GEMM* is the limit: the same cblas_sgemm products as the step (forward"
    echo "\`x W^T\` per layer, \`dW = delta^T x\` per layer, \`dX = delta W\` for all but the first"
    echo "layer) and nothing else, timed in alternating samples with the step;"
    echo "*fraction of GEMM limit* = bare GEMM / step."
    echo
    awk -F'\t' -v threads="$THREADS" -v kcore="$(or_na "$(meta corename)")" \
        -v ktorch="$(or_na "$(meta corename torch)")" -v knumpy="$(or_na "$(meta corename numpy)")" '
    function ft(us) {
        if (us == "") return "n/a"
        if (us < 1000) return sprintf("%.2f µs", us)
        if (us < 1e6) return sprintf("%.2f ms", us / 1e3)
        return sprintf("%.3f s", us / 1e6)
    }
    function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "n/a" : sprintf("%.2f×", a / b) }
    /^#/ { next }
    {
        k = $2 ":" $3
        if (!(k in seen)) { seen[k] = 1; order[n++] = k }
        key = k SUBSEP $4
        v[$1, $5, key] = $6
        if ($1 == "core" && $5 == "step") gf[key] = $10
    }
    END {
        nt = split(threads, T, " ")
        print "| shape | batch | threads | gradserve step | GFLOP/s | bare GEMM | fraction of GEMM limit | OpenBLAS kernels |"
        print "|---|---:|---:|---:|---:|---:|---:|---|"
        for (i = 0; i < n; i++) for (j = 1; j <= nt; j++) {
            key = order[i] SUBSEP T[j]
            if (!(("core", "step", key) in v)) continue
            split(order[i], sb, ":")
            st = v["core", "step", key]; gm = v["core", "gemm", key]
            printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", sb[1], sb[2], T[j], ft(st), gf[key], ft(gm),
                gm == "" ? "n/a" : sprintf("%.1f%%", 100 * gm / st), kcore
        }
        print ""
        print "### Against PyTorch and NumPy (one process each, gradserve beside)"
        print ""
        print "Each framework process also loads build/bench/libbench_step.so and times"
        print "gradserve'"'"'s step on the same shape in alternating samples with its own: one"
        print "OpenBLAS (Debian'"'"'s libblas.so.3 wraps the libopenblas.so.0 the core links), one"
        print "thread count, one time window. On this shared VM the machine'"'"'s speed drifts by"
        print "several percent between processes, more than the margin between two GEMM-bound"
        print "steps; the ratios compare the two columns measured together."
        print ""
        print "| shape | batch | threads | torch | gradserve | torch/gradserve | numpy | gradserve | numpy/gradserve | OpenBLAS kernels (torch process, numpy process) |"
        print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
        for (i = 0; i < n; i++) for (j = 1; j <= nt; j++) {
            key = order[i] SUBSEP T[j]
            if (!(("torch", "step", key) in v) && !(("numpy", "step", key) in v)) continue
            split(order[i], sb, ":")
            t = v["torch", "step", key]; tg = v["torch", "gradserve", key]
            p = v["numpy", "step", key]; pg = v["numpy", "gradserve", key]
            printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s, %s |\n", sb[1], sb[2], T[j],
                ft(t), ft(tg), ratio(t, tg), ft(p), ft(pg), ratio(p, pg), ktorch, knumpy
        }
    }' "$BEST"
    echo
    echo "Notes: for 2-4-1 the core takes its plain loops (GS_GEMM_AUTO skips BLAS below 4096"
    echo "multiply-adds), so the cblas \"limit\" is no bound there and the fraction can pass 100%."
    echo "The core's element-wise work (bias, activations, loss, bias gradients) runs on one"
    echo "thread, so its share grows at 2 threads. A fraction far above 100% on the largest"
    echo "shape means another process held a core during some samples: compare the load"
    echo "average above, and rerun on a quiet machine."
    echo
    echo "## Targets"
    echo
    echo "Every figure here with the OpenBLAS kernels $(kernels_desc)."
    echo
    awk -F'\t' -v threads="$THREADS" -v large="$LARGE" -v kcore="$(or_na "$(meta corename)")" \
        -v ktorch="$(or_na "$(meta corename torch)")" -v knumpy="$(or_na "$(meta corename numpy)")" '
    /^#/ { next }
    {
        k = $2 ":" $3; key = k SUBSEP $4
        if (!(k in seen)) { seen[k] = 1; order[n++] = k }
        v[$1, $5, key] = $6
    }
    function verdict(ok, total) { return total == 0 ? "NOT MEASURED" : ok == total ? "MET" : "NOT MET" }
    END {
        nt = split(threads, T, " "); nl = split(large, L, " ")
        # 1. >= 90% of the bare-GEMM limit on the large shapes
        ok = tot = 0; det = ""
        for (i = 1; i <= nl; i++) for (j = 1; j <= nt; j++) {
            key = L[i] SUBSEP T[j]
            if (!(("core", "step", key) in v) || !(("core", "gemm", key) in v)) continue
            f = v["core", "gemm", key] / v["core", "step", key]; tot++; ok += f >= 0.9
            det = det sprintf("%s%s @%st %.1f%%", det == "" ? "" : ", ", L[i], T[j], 100 * f)
        }
        printf "- **>= 90%% of the bare-GEMM limit on the large shapes** (%s): %s (%d of %d). %s [kernels %s]\n", large, verdict(ok, tot), ok, tot, det, kcore
        # 2., 3. faster than torch / numpy at every shape and thread count (paired)
        for (w = 0; w < 2; w++) {
            fw = w ? "numpy" : "torch"; name = w ? "NumPy" : "PyTorch"; ok = tot = 0; det = ""; lo = ""
            for (i = 0; i < n; i++) for (j = 1; j <= nt; j++) {
                key = order[i] SUBSEP T[j]
                if (!((fw, "step", key) in v) || !((fw, "gradserve", key) in v)) continue
                r = v[fw, "step", key] / v[fw, "gradserve", key]; tot++
                if (lo == "" || r < lo) { lo = r; lok = order[i] " @" T[j] "t" }
                if (r > 1) ok++
                else det = det sprintf("%s%s @%st %.2f×", det == "" ? "" : ", ", order[i], T[j], r)
            }
            printf "- **Faster than %s at every shape and thread count** (same process): %s (%d of %d)", name, verdict(ok, tot), ok, tot
            if (tot) printf "; the smallest margin %.2f× (%s)", lo, lok
            printf "%s [kernels %s]\n", det == "" ? "." : "; slower at: " det, w ? knumpy : ktorch
        }
        # 4. 2-4-1 at least 20x faster than numpy
        ok = tot = 0; det = ""
        for (j = 1; j <= nt; j++) {
            key = "2-4-1:4" SUBSEP T[j]
            if (!(("numpy", "step", key) in v) || !(("numpy", "gradserve", key) in v)) continue
            r = v["numpy", "step", key] / v["numpy", "gradserve", key]
            tot++; ok += r >= 20
            det = det sprintf("%s@%st %.1f×", det == "" ? "" : ", ", T[j], r)
        }
        printf "- **2-4-1 step >= 20× faster than NumPy**: %s (%d of %d). %s [kernels %s]\n", verdict(ok, tot), ok, tot, det, knumpy
    }' "$BEST"
    for fw in torch numpy; do
        s=$(skipped "$fw")
        [ -n "$s" ] && echo "- $fw was skipped: $s; its comparisons are not measured."
    done
    echo
    echo "Raw measurements, every round: \`$RAW\` (median and min µs, samples, calls per"
    echo "sample, GFLOP/s, round); the rows used above: \`$BEST\`."
}

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
if want core || want python; then report >"$tmp"; fi

# ---- Later sections -------------------------------------------------------------
# HTTP benchmarks (bench/http*, wrk) plug in here: an executable bench/http.sh,
# run under the same environment as the benchmarks above (RUNENV) with BUILD,
# BENCH_THREADS and BENCH_BUDGET set, prints a markdown section ("## HTTP ...")
# on stdout and its progress on stderr; it is appended to the report. Binaries built from bench/http_*.c land in
# $BUILD/bench/ beside bench_core and are for http.sh to run, not this script.
if want layers; then
    note "bench/lenet.sh"
    { echo; BUILD=$BUILD BENCH_THREADS=$THREADS BENCH_ROUNDS=$ROUNDS BENCH_PYTHON=$PY \
        "${RUNENV[@]}" bench/lenet.sh; } >>"$tmp"
fi
if want fashion; then
    note "bench/fashion.sh"
    { echo; BUILD=$BUILD BENCH_PYTHON=$PY "${RUNENV[@]}" bench/fashion.sh; } >>"$tmp"
fi
if want client; then
    note "bench/client.sh"
    { echo; BUILD=$BUILD BENCH_PYTHON=$PY "${RUNENV[@]}" bench/client.sh; } >>"$tmp"
fi
if want clientjs; then
    note "bench/client_js.sh"
    { echo; BUILD=$BUILD BENCH_ROUNDS=$ROUNDS "${RUNENV[@]}" bench/client_js.sh; } >>"$tmp"
fi
if want http && [ -x bench/http.sh ]; then
    note "bench/http.sh"
    { echo; BUILD=$BUILD BENCH_THREADS=$THREADS BENCH_BUDGET=$BUDGET "${RUNENV[@]}" bench/http.sh; } >>"$tmp"
fi
if want store && [ -x bench/store.sh ]; then
    note "bench/store.sh"
    { echo; BUILD=$BUILD "${RUNENV[@]}" bench/store.sh; } >>"$tmp"
fi
if want concurrency && [ -x bench/concurrency.sh ]; then
    note "bench/concurrency.sh"
    { echo; BUILD=$BUILD "${RUNENV[@]}" bench/concurrency.sh; } >>"$tmp"
fi

if want kernels && [ -x bench/kernels.sh ]; then
    note "bench/kernels.sh"
    { echo; BUILD=$BUILD "${RUNENV[@]}" bench/kernels.sh; } >>"$tmp"
fi

cat "$tmp" >"$OUT"
cat "$OUT"
note "written to $OUT"
