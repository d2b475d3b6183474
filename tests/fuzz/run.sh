#!/bin/bash
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...
# Runs each libFuzzer target for SECONDS (leak checks off: a fatal error longjmps past the frees, see fuzz.h), starting from the committed corpus (tests/fuzz/corpus/<target>/, which it
# does not modify: new inputs go to BUILD_DIR/corpus/<target>/), and prints per target the executions, the corpus
# size and the crashes found. A crashing input lands in BUILD_DIR/findings/<target>/: add it to the committed corpus
# once fixed, and make test replays it from then on. Exits non-zero when any target found a crash.
set -u
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR SECONDS TARGET...}
seconds=${2:?}
shift 2
status=0
printf '%-12s %12s %10s %8s\n' target executions corpus crashes
for t in "$@"; do
    mkdir -p "$build/corpus/$t" "$build/findings/$t"
    log="$build/fuzz_$t.log"
    ASAN_OPTIONS=detect_leaks=0 "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -close_fd_mask=3 -detect_leaks=0 -rss_limit_mb=4096 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$build/findings/$t/" \
        "$build/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(ls "$build/corpus/$t" | wc -l)
    crashes=$(ls "$build/findings/$t" | wc -l)
    printf '%-12s %12s %10s %8s\n' "$t" "${runs:-?}" "$corpus" "$crashes"
    if [ $rc != 0 ] || [ "$crashes" != 0 ]; then
        status=1
        grep -m3 -E 'ERROR|SUMMARY' "$log" | sed 's/^/  /'
    fi
done
exit $status
