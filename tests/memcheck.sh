#!/bin/sh
# Usage: tests/memcheck.sh NNOPT_BINARY   (make memcheck)
# valgrind memcheck over a short run of every workload (exact statistics, checkpoints) on two threads and over its
# resume, then a run on one thread: any invalid access, use of an uninitialised value or leaked block fails (exit 2).
# Two threads cover the pool's workers, the split products and the backward overlap (nn/parallel.c joins the
# workers at exit, so nothing may be left in use).
set -eu
NNOPT=${1:?usage: tests/memcheck.sh NNOPT_BINARY}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
VG="valgrind --error-exitcode=2 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
run() {
    echo "memcheck: $*"
    if ! $VG "$@" </dev/null >"$out/log" 2>&1; then
        grep -E '^==[0-9]+== ' "$out/log" | tail -30
        echo "memcheck: FAILED: $*"
        exit 2
    fi
    grep -E 'ERROR SUMMARY|in use at exit' "$out/log" | sed 's/^==[0-9]*== /  /'
}
# every workload (the registry's test flags): a run with exact statistics and checkpoints, then its resume
while IFS=$(printf '\t') read -r name flags; do
    # shellcheck disable=SC2086  # $flags is a list of flags
    run "$NNOPT" train $flags --max-steps 4 --save-every 2 --stats-epochs 0 --batch-sizes 2 --threads 2 --out "$out/$name"
    run "$NNOPT" train --resume "$out/$name/checkpoint.nnck" --max-steps 6
done <<EOF
$("$NNOPT" workloads --tests)
EOF
# one thread: the paths without the pool
run "$NNOPT" train-lm --preset tiny --max-steps 4 --epochs 2 --eval-tokens 300 --threads 1 --out "$out/one"
echo "memcheck: no errors, no leaks"
