#!/bin/sh
# Runs each test program given, prints its output, and ends with one line
# counting every test case: "N passed, N failed". Exit status 1 on any failure
# (a program that crashes or prints no count counts as one failure). A program
# still running after TEST_TIMEOUT seconds (default 1800) is stopped, with its
# children, and counts as one failure: a hang is a FAIL, not a stuck suite.
passed=0; failed=0
limit=${TEST_TIMEOUT:-1800}
for t in "$@"; do
    echo "== $t"
    out=$(timeout -k 10 "$limit" "$t" 2>&1); rc=$?
    printf '%s\n' "$out"
    how="exited $rc"
    [ "$rc" -eq 124 ] && how="was stopped after $limit s (TEST_TIMEOUT)"
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    if [ -n "$line" ]; then
        p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
        passed=$((passed + p)); failed=$((failed + f))
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && { echo "FAIL $t $how"; failed=$((failed + 1)); }
    else
        echo "FAIL $t $how without a count"; failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
