#!/bin/bash
# With nnopt's AVX-512 products (nn/gemm_avx512.h: each element's sum depends on K alone, not on how C is split),
# a run does not depend on the thread count: two steps of the LSTM and of the Transformer, each sized so that its
# 10,000-word decoder's products are split over the threads (above 2e7 multiply-adds: 700 x 10000 x 32 and
# 512 x 10000 x 32), and of a small ResNet (conv2d shares out images), on 1, 2 and 3 threads give the same CSV values
# (timing columns aside) and the same final state, every tensor's crc32. Small models, so that `make check` (ASan)
# runs it in seconds.
# Skipped where products run in OpenBLAS, whose blocking follows the split. TAP output.
NNOPT=${NNOPT:-./nnopt}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
. "$(dirname "$0")/tap.sh"
RUNS=("ptb-lstm --preset tiny --batch 20 --bptt 35 --eval-tokens 1000"
      "ptb-transformer --preset tfm-tiny --batch 16 --context 32 --dim 32 --heads 2 --eval-tokens 1000"
      "cifar-resnet --preset tiny --test-images 128")
echo "1..$((2 * ${#RUNS[@]}))"

kernel=$("$NNOPT" bench --preset tiny --workload toy-sum --steps 1 2>/dev/null | sed -n 's/.* gemm=\([^ ]*\).*/\1/p')
if [ "$kernel" != nnopt-avx512 ]; then
    for i in $(seq $((2 * ${#RUNS[@]}))); do ok "# SKIP products run in ${kernel:-an unknown kernel}, not nnopt-avx512"; done
    exit 0
fi

state() { "$NNOPT" inspect "$1" | grep -vE '^(config|argv|progress/values|progress/started|csv/lengths) '; }
for run in "${RUNS[@]}"; do
    w=${run%% *}
    for t in 1 2 3; do
        # shellcheck disable=SC2086  # $run is a list of flags
        "$NNOPT" train --workload $run --max-steps 2 --save-every 2 --threads $t --out "$tmp/$w-$t" \
            >"$tmp/$w-$t.log" 2>&1 || echo "# $w on $t threads failed"
    done
    for t in 2 3; do
        diff <(untimed "$tmp/$w-1/steps.csv") <(untimed "$tmp/$w-$t/steps.csv") >/dev/null &&
            diff <(state "$tmp/$w-1/checkpoint.nnck") <(state "$tmp/$w-$t/checkpoint.nnck") >"$tmp/diff"
        check $? "$w: 2 steps on $t threads, the same steps.csv values and final state as on 1 thread" "$tmp/diff"
    done
done
