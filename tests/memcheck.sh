#!/bin/sh
# Usage: tests/memcheck.sh NNOPT_BINARY   (make memcheck)
# valgrind memcheck over a tiny training run that writes checkpoints, and over its resume: any invalid access, use
# of an uninitialised value or leaked block fails (exit 2). Then a run on two threads: the pool's workers, the split
# products and the backward overlap (nn/parallel.c joins the workers at exit, so nothing may be left in use).
set -eu
NNOPT=${1:?usage: tests/memcheck.sh NNOPT_BINARY}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
VG="valgrind --error-exitcode=2 --leak-check=full --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect"
run() {
    echo "memcheck: $*"
    if ! $VG "$@" >"$out/log" 2>&1; then
        grep -E '^==[0-9]+== ' "$out/log" | tail -30
        echo "memcheck: FAILED: $*"
        exit 2
    fi
    grep -E 'ERROR SUMMARY|in use at exit' "$out/log" | sed 's/^==[0-9]*== /  /'
}
run "$NNOPT" train-lm --preset tiny --max-steps 4 --epochs 2 --eval-tokens 300 --threads 1 --save-every 2 --out "$out/run"
run "$NNOPT" train-lm --resume "$out/run/checkpoint.nnck" --eval-tokens 300 --epochs 2 --max-steps 6
run "$NNOPT" train-lm --preset tiny --max-steps 4 --epochs 2 --eval-tokens 300 --threads 2 --out "$out/run2"
run "$NNOPT" train-cifar --preset tiny --max-steps 3 --epochs 2 --train-images 64 --test-images 64 --stats-epochs 0 \
    --batch-sizes 8,16 --stats-images 32 --threads 2 --save-every 2 --out "$out/run3"
echo "memcheck: no errors, no leaks"
