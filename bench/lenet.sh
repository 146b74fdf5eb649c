#!/usr/bin/env bash
# LeNet-5 (issue 18): one training step on [256, 1, 28, 28] float32, printed as a
# markdown section on stdout (progress on stderr); run by bench/run.sh (section
# "layers"), or alone: BUILD=build bench/lenet.sh.
#   - against its bare GEMMs: $BUILD/bench/bench_lenet (the cblas_sgemm calls the
#     step issues, in alternating samples with the step);
#   - against PyTorch: bench/torch_lenet.py (torch's nn.Sequential and gradserve's
#     step through build/bench/libbench_step.so, in alternating samples, one process).
# Environment: BUILD, BENCH_THREADS ("1 $(nproc)"), BENCH_PYTHON, BENCH_ROUNDS (2):
# each round runs both; per thread count the round with the lowest gradserve median
# counts (a burst of load from elsewhere hits one round, not the comparison).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${BENCH_PYTHON:-/usr/bin/python3}
THREADS=$(printf '%s\n' ${BENCH_THREADS:-1 $(nproc)} | awk '!seen[$0]++' | paste -sd,)
ROUNDS=${BENCH_ROUNDS:-2}
raw=$BUILD/bench/lenet.tsv
: >"$raw"
for round in $(seq 1 "$ROUNDS"); do
    echo "round $round/$ROUNDS: bench_lenet, threads $THREADS" >&2
    "$BUILD/bench/bench_lenet" --threads "$THREADS" --samples 21 |
        awk -v r="$round" 'BEGIN { OFS = "\t" } !/^#/ { print "core", $0, r }' >>"$raw"
    echo "round $round/$ROUNDS: torch_lenet.py, threads $THREADS" >&2
    OMP_WAIT_POLICY=PASSIVE "$PY" bench/torch_lenet.py --gradserve "$BUILD/bench/libbench_step.so" \
        --threads "$THREADS" --samples 21 |
        awk -v r="$round" 'BEGIN { OFS = "\t" } !/^#/ { print "torch", $0, r }' >>"$raw" ||
        echo "torch_lenet.py failed" >&2
done
echo "## LeNet-5: one training step (issue 18)"
echo
echo "Forward, cross-entropy and backward of LeNet-5 (conv 6@5x5 padding 2, relu,"
echo "max-pool 2; conv 16@5x5, relu, max-pool 2; flatten; dense 120 relu, 84 relu, 10)"
echo "on [256, 1, 28, 28] float32. Convolutions are im2col and one sgemm per image"
echo "through the core's GEMM seam. *Bare GEMM*: the step's cblas_sgemm calls alone,"
echo "timed in alternating samples with it; *torch*: nn.Sequential timed in alternating"
echo "samples with gradserve's step in one process. Medians, best of $ROUNDS rounds."
echo
awk -F'\t' '
{
    # core: core lenet batch threads step|gemm median_us min_us samples gflops round
    # torch: torch lenet batch threads torch|gradserve median_ms min_ms samples round
    if ($1 == "core") { t = $4; r = $10; v["core", $5, t, r] = $6 / 1000; if ($5 == "step") gf["core", t, r] = $9 }
    else { t = $4; r = $9; v["torch", $5, t, r] = $6 }
    if (!(t in seen)) { seen[t] = 1; ts[nt++] = t }
    rounds[r] = 1
}
function best(src, what, t,   r, b, br) {   # the round with the lowest median of what
    for (r in rounds) if ((src, what, t, r) in v && (b == "" || v[src, what, t, r] < b)) { b = v[src, what, t, r]; br = r }
    return br
}
END {
    print "| threads | gradserve step | GFLOP/s (its GEMMs) | bare GEMM | fraction of GEMM limit | torch | gradserve beside it | gradserve/torch |"
    print "|---:|---:|---:|---:|---:|---:|---:|---:|"
    met = 0; tot = 0
    for (i = 0; i < nt; i++) {
        t = ts[i]; rc = best("core", "step", t); rt = best("torch", "gradserve", t)
        s = v["core", "step", t, rc]; g = v["core", "gemm", t, rc]
        tt = v["torch", "torch", t, rt]; tg = v["torch", "gradserve", t, rt]
        printf "| %s | %.1f ms | %s | %.1f ms | %.0f%% | %s | %s | %s |\n", t, s, gf["core", t, rc], g, 100 * g / s,
            tt == "" ? "n/a" : sprintf("%.1f ms", tt), tg == "" ? "n/a" : sprintf("%.1f ms", tg),
            tt == "" ? "n/a" : sprintf("%.2f", tg / tt)
        if (tt != "") { tot++; met += tg <= tt }
    }
    print ""
    printf "- **At least as fast as PyTorch at every thread count**: %s (%d of %d).\n",
        tot == 0 ? "NOT MEASURED" : met == tot ? "MET" : "NOT MET", met, tot
}' "$raw"
echo
echo "Raw: \`$raw\` (core: median and min µs; torch: median and min ms; last column the round)."
