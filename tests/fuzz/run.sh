#!/bin/bash
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS RUNS TARGET...
# Runs each libFuzzer target, one at a time, for SECONDS and/or RUNS executions (0: no limit of that kind; with
# both, the first reached), starting from the committed corpus (tests/fuzz/corpus/<target>/, which it does not
# modify: new inputs go to BUILD_DIR/corpus/<target>/; `make fuzz-minimize` merges them into the committed one).
# A run by executions goes in sessions of at most SESSION_RUNS (default 1,000,000) executions, each restarting from
# the corpus so far: a fatal error longjmps past the frees of the code it interrupts (see fuzz.h), so the memory
# those leak grows with the executions, and leak checks are off for the same reason.
# Prints per target the executions, executions/s, libFuzzer's coverage (cov: edges, ft: features), the corpus
# (files, bytes), the crashes found, the peak RSS and the wall time, and appends that line to BUILD_DIR/fuzz.txt.
# A crashing input (crash, sanitizer report, timeout: no answer in 60 s of wall time, generous because a target
# under nice on a loaded machine can wait seconds for a core; out of memory) lands in
# BUILD_DIR/findings/<target>/: fix it, add it to the committed corpus as regress-<name> (kept by minimisation), and
# make test replays it from then on. Exits non-zero when any target found one.
set -u
bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
build=${1:?usage: tests/fuzz/run.sh BUILD_DIR SECONDS RUNS TARGET...}
seconds=${2:?}
runs=${3:?}
shift 3
session=${SESSION_RUNS:-1000000}
status=0
head=$(printf '%-11s %11s %8s %6s %7s %14s %8s %8s %9s' target executions exec/s cov ft corpus crashes rss_mb wall_s)
echo "$head"
[ -f "$build/fuzz.txt" ] || echo "$head" >"$build/fuzz.txt"
for t in "$@"; do
    mkdir -p "$build/corpus/$t" "$build/findings/$t"
    log="$build/fuzz_$t.log"
    : >"$log"
    start=$(date +%s)
    total=0
    rss=0
    while :; do # sessions until the executions (or the seconds) are done, or a finding stops one
        args=()
        left=0
        if [ "$runs" != 0 ]; then
            left=$((runs - total))
            [ "$left" -gt 0 ] || break
            args+=(-runs=$((left < session ? left : session)))
        fi
        if [ "$seconds" != 0 ]; then
            left_s=$((seconds - ($(date +%s) - start)))
            [ "$left_s" -gt 0 ] || break
            args+=(-max_total_time="$left_s")
        fi
        ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=16 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$build/fuzz/fuzz_$t" \
            "${args[@]}" -close_fd_mask=3 -detect_leaks=0 -rss_limit_mb=4096 -timeout=60 -print_final_stats=1 \
            -artifact_prefix="$build/findings/$t/" "$build/corpus/$t" "tests/fuzz/corpus/$t" >>"$log" 2>&1
        rc=$?
        done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
        peak=$(grep -o 'stat::peak_rss_mb: *[0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
        total=$((total + ${done_runs:-0}))
        [ "${peak:-0}" -gt "$rss" ] && rss=$peak
        [ $rc = 0 ] || break
        [ "$runs" != 0 ] || break # by seconds alone: one session
    done
    wall=$(($(date +%s) - start))
    last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
    cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*$')
    ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*$')
    files=$(ls "$build/corpus/$t" | wc -l)
    bytes=$(bytes "$build/corpus/$t")
    crashes=$(ls "$build/findings/$t" | wc -l)
    line=$(printf '%-11s %11s %8s %6s %7s %14s %8s %8s %9s' "$t" "$total" $((total / (wall > 0 ? wall : 1))) \
        "${cov:-?}" "${ft:-?}" "$files/${bytes}B" "$crashes" "$rss" "$wall")
    echo "$line"
    echo "$line" >>"$build/fuzz.txt"
    if [ $rc != 0 ] || [ "$crashes" != 0 ]; then
        status=1
        grep -m3 -E 'ERROR|SUMMARY|runtime error' "$log" | sed 's/^/  /'
    fi
done
exit $status
