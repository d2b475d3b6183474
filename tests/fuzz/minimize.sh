#!/bin/bash
# Usage: tests/fuzz/minimize.sh BUILD_DIR TARGET...
# Replaces each committed corpus (tests/fuzz/corpus/<target>/) by the smallest set of inputs, from it and from what
# `make fuzz` found (BUILD_DIR/corpus/<target>/), that keeps all their coverage: libFuzzer's -merge=1 into an empty
# directory. Inputs named regress-* (ones that once crashed) are kept whatever their coverage: make test replays them.
# Prints each corpus's files and bytes before and after.
set -eu
bytes() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }
build=${1:?usage: tests/fuzz/minimize.sh BUILD_DIR TARGET...}
shift
printf '%-11s %16s %16s\n' target before after
for t in "$@"; do
    committed=tests/fuzz/corpus/$t
    found=$build/corpus/$t
    mkdir -p "$found" "$committed"
    before="$(($(ls "$committed" | wc -l) + $(ls "$found" | wc -l)))/$(($(bytes "$committed") + \
        $(bytes "$found")))B"
    new=$(mktemp -d)
    ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=16 "$build/fuzz/fuzz_$t" -merge=1 -close_fd_mask=3 -detect_leaks=0 -rss_limit_mb=4096 \
        -timeout=60 "$new" "$committed" "$found" >"$build/minimize_$t.log" 2>&1
    find "$committed" -maxdepth 1 -name 'regress-*' -exec cp {} "$new/" \;
    rm -f "$committed"/*
    cp "$new"/* "$committed/"
    rm -rf "$new"
    printf '%-11s %16s %16s\n' "$t" "$before" "$(ls "$committed" | wc -l)/$(bytes "$committed")B"
done
