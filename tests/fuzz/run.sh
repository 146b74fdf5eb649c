#!/usr/bin/env bash
# Runs libFuzzer harnesses one after the other for SECONDS each:
#   tests/fuzz/run.sh SECONDS HARNESS...     (FUZZ_DIR: build dir, default build-fuzz)
# Each starts from its seed corpus plus what earlier runs found, and prints
# "PASS <harness>" or "FAIL <harness>" with its executions, executions per
# second, coverage (edges: libFuzzer's cov) and features (ft), corpus size and
# new crash inputs; the last line is "N passed, N failed". A harness fails when
# libFuzzer stops early (a crash, a leak, a timeout, an out-of-memory) or
# cannot start.
set -u
cd "$(dirname "$0")/../.."
secs=$1; shift
dir=${FUZZ_DIR:-build-fuzz}
passed=0; failed=0
for h in "$@"; do
    case $h in
    fuzz_autodiff) seeds=tests/fuzz/corpus/autodiff; dict=tests/fuzz/autodiff.dict; max_len=2048 ;;
    *) seeds=tests/fuzz/corpus/request; dict=tests/fuzz/request.dict; max_len=8192 ;;
    esac
    corpus=$dir/corpus/$h; art=$dir/artifacts/$h; log=$dir/logs/$h.log
    mkdir -p "$corpus" "$art" "$dir/logs"
    before=$(ls "$art" | wc -l)
    echo "== $h: ${secs}s from $(ls "$seeds" | wc -l) seeds + $(ls "$corpus" | wc -l) corpus inputs"
    # -rss_limit_mb: a request over the limits must be refused, never allocated
    "$dir/$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
        -dict="$dict" -artifact_prefix="$art/" -print_final_stats=1 \
        "$corpus" "$seeds" >"$log" 2>&1
    rc=$?
    execs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' | tail -n 1)
    rate=$(grep -E '^stat::average_exec_per_sec:' "$log" | awk '{print $2}' | tail -n 1)
    last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
    new=$(( $(ls "$art" | wc -l) - before ))
    summary="execs=${execs:-0} exec/s=${rate:-0} cov=${cov:-?} ft=${ft:-?} corpus=${corp:-?} new_crashes=$new"
    if [ "$rc" -eq 0 ] && [ -n "$execs" ]; then
        echo "PASS $h ($summary)"; passed=$((passed + 1))
    else
        echo "FAIL $h ($summary, exit $rc; log $log)"
        grep -E 'ERROR|invariant failed|SUMMARY|Test unit written' "$log" | head -n 8 | sed 's/^/  /'
        echo "  to keep it as a regression: cp $art/<input> tests/fuzz/regressions/$h/"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
