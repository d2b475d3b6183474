#!/bin/bash
# shellcheck disable=SC2086  # $TFM, $CIFAR and $STILL are lists of flags
# --grad-blocks on the Transformer LM and the CIFAR ResNet (tools/dist.h): 2 MPI ranks give one process's bits with
# the same G (steps.csv and epochs.csv values, timing columns aside, and the final checkpoint: every tensor's crc32,
# batchnorm's running statistics included), dropout and augmentation on, each block drawing from its own seed.
# On one process, G = 2 differs from G = 1 only where it should: the Transformer without dropout only by rounding
# (the mean of the blocks' mean losses is the batch's); the ResNet's first step, at lr 0 without augmentation, is
# the mean of the two half batches' steps on their own (each block normalised by its own batch statistics).
# The exact statistics with batchnorm (a full gradient per batch size, pass 2 shared out): the same gradstats CSVs.
# NNOPT_MPI: the MPI build (make MPI=1); skipped without it or without mpirun. TAP output.
NNOPT=${NNOPT:-./nnopt}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
. "$(dirname "$0")/tap.sh"
echo "1..5"
. "$(dirname "$0")/mpi.sh"
skip_without_mpi 5
TFM="--workload=ptb-transformer --preset=tfm-tiny --train-tokens=1700 --eval-tokens=500 --max-steps=12 --epochs=2
     --threads=1"
CIFAR="--workload=cifar-resnet --preset=tiny --test-images=128 --train-images=256 --max-steps=12 --epochs=2
       --threads=1"
state() { "$NNOPT" inspect "$1" | grep -vE '^(config|argv|progress/values|progress/started|csv/lengths) '; }
# same_run A B: the untimed CSVs and the final state of run directories A and B are equal (differences into diff)
same_run() {
    { diff <(untimed "$1/steps.csv") <(untimed "$2/steps.csv") &&
        diff <(untimed "$1/epochs.csv") <(untimed "$2/epochs.csv") &&
        diff <(state "$1/checkpoint.nnck") <(state "$2/checkpoint.nnck"); } >"$tmp/diff" 2>&1
}
# one_and_two NAME FLAGS...: one process and 2 ranks, --grad-blocks 2, a checkpoint at the end
one_and_two() {
    local name=$1
    shift
    "$NNOPT" train "$@" --grad-blocks=2 --save-every=6 --out "$tmp/$name-p1" >"$tmp/$name-p1.log" 2>&1 &&
        mpi -np 2 "$NNOPT_MPI" train "$@" --grad-blocks=2 --save-every=6 --out "$tmp/$name-p2" \
            >"$tmp/$name-p2.log" 2>&1 &&
        same_run "$tmp/$name-p1" "$tmp/$name-p2" ||
        { cat "$tmp/$name-p1.log" "$tmp/$name-p2.log" >>"$tmp/diff"; false; }
}
# column CSV NAME: the column's values, header aside
column() {
    untimed "$1" | awk -F, -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next } { print $k }'
}

one_and_two tfm $TFM --dropout=0.2 --attn-dropout=0.1
check $? "ptb-transformer, --grad-blocks 2, dropout on: 2 ranks give one process's CSV values and final state" \
    "$tmp/diff"
one_and_two cifar $CIFAR
check $? "cifar-resnet, --grad-blocks 2, augmented: 2 ranks give one process's CSV values, final state and running \
statistics" "$tmp/diff"

# Without dropout the Transformer's blocks only regroup the sums: every step's loss within rounding of G = 1's.
"$NNOPT" train $TFM --dropout=0 --attn-dropout=0 --out "$tmp/tfm-g1" >"$tmp/tfm-g1.log" 2>&1 &&
    "$NNOPT" train $TFM --dropout=0 --attn-dropout=0 --grad-blocks=2 --out "$tmp/tfm-g2" >"$tmp/tfm-g2.log" 2>&1 &&
    paste -d, <(column "$tmp/tfm-g1/steps.csv" loss) <(column "$tmp/tfm-g2/steps.csv" loss) >"$tmp/losses" &&
    [ "$(wc -l <"$tmp/losses")" = 12 ] &&
    awk -F, '{ d = $1 - $2; if (!($1 + 0 > 0) || d > 1e-5 * $1 || -d > 1e-5 * $1) bad = 1 } END { exit bad }' \
        "$tmp/losses" >"$tmp/diff" 2>&1 ||
    { cat "$tmp/losses" "$tmp/tfm-g1.log" "$tmp/tfm-g2.log" >>"$tmp/diff"; false; }
check $? "ptb-transformer without dropout: --grad-blocks 2 gives G = 1's losses up to rounding" "$tmp/diff"

# Ghost batch norm: at lr 0 without augmentation, G = 2's first step over images 0..31 of the order is the mean of
# the two steps of 16 images (each normalised by its own batch statistics) of a --batch 16 run; an augmented G = 2
# run reaches finite losses.
STILL="--no-augment --lr=0 --max-steps=2 --epochs=1"
"$NNOPT" train $CIFAR $STILL --batch=16 --out "$tmp/half" >"$tmp/half.log" 2>&1 &&
    "$NNOPT" train $CIFAR $STILL --max-steps=1 --grad-blocks=2 --out "$tmp/ghost" >"$tmp/ghost.log" 2>&1 &&
    "$NNOPT" train $CIFAR --grad-blocks=2 --out "$tmp/cifar-g2" >"$tmp/cifar-g2.log" 2>&1 &&
    { column "$tmp/half/steps.csv" loss; column "$tmp/ghost/steps.csv" loss; column "$tmp/cifar-g2/epochs.csv" \
        train_loss; } >"$tmp/losses" &&
    awk 'NR <= 3 { l[NR] = $1 } NR > 3 && !($1 + 0 > 0 && $1 + 0 < 1e30) { bad = 1 }
         END { d = (l[1] + l[2]) / 2 - l[3]; exit bad || NR < 5 || d > 2e-6 || -d > 2e-6 }' "$tmp/losses" ||
    { cat "$tmp/losses" "$tmp/half.log" "$tmp/ghost.log" "$tmp/cifar-g2.log" >"$tmp/diff"; false; }
check $? "cifar-resnet, --grad-blocks 2: the first step is the mean of its two half batches' (ghost batch norm); \
finite losses" "$tmp/diff"

# The exact statistics with batchnorm on 2 ranks: the same gradstats.csv and gradstats_batches.csv as one process
STATS="--stats-epochs=0,1 --batch-sizes=16,32 --epochs=1 --max-steps=0"
"$NNOPT" train $CIFAR $STATS --grad-blocks=2 --out "$tmp/st1" >"$tmp/st1.log" 2>&1 &&
    mpi -np 2 "$NNOPT_MPI" train $CIFAR $STATS --grad-blocks=2 --out "$tmp/st2" >"$tmp/st2.log" 2>&1 &&
    diff <(untimed "$tmp/st1/gradstats.csv") <(untimed "$tmp/st2/gradstats.csv") >"$tmp/diff" &&
    diff "$tmp/st1/gradstats_batches.csv" "$tmp/st2/gradstats_batches.csv" >"$tmp/diff" &&
    [ "$(wc -l <"$tmp/st1/gradstats.csv")" = 5 ] || { cat "$tmp/st1.log" "$tmp/st2.log" >>"$tmp/diff"; false; }
check $? "cifar-resnet, exact statistics (batchnorm) on 2 ranks: one process's gradstats CSVs" "$tmp/diff"
