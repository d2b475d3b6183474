#!/bin/bash
# With nnopt's AVX-512 products (nn/gemm_avx512.h: each element's sum depends on K alone, not on how C is split),
# a run does not depend on the thread count: two steps of the LSTM (zaremba-small, whose decoder products are split
# over the threads), of ResNet-8 (conv2d shares out images) and of the Transformer (tfm-small) on 1, 2 and 3
# threads give the same CSV values (timing columns aside) and the same final state, every tensor's crc32.
# Skipped where products run in OpenBLAS, whose blocking follows the split. TAP output.
NNOPT=${NNOPT:-./nnopt}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
. "$(dirname "$0")/tap.sh"
RUNS=("ptb-lstm --preset zaremba-small --eval-tokens 2000" "cifar-resnet --preset resnet8"
      "ptb-transformer --preset tfm-small --eval-tokens 2000")
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
