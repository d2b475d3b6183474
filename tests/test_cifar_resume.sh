#!/bin/bash
# Exact resume of `nnopt train-cifar` (issue: reliability), as tests/test_kill_resume.sh for train-lm: a tiny run
# killed with SIGKILL at 10 random moments and resumed each time from its last checkpoint ends with the same
# parameters, batchnorm running statistics and optimizer state (crc32 of every tensor), the same per-step losses,
# the same test evaluations and the same exact gradient statistics as the uninterrupted run; a SIGINT stops it
# cleanly with a checkpoint and exit status 130, and resuming that checkpoint also ends exactly as the uninterrupted
# run. TAP output.
NNOPT=${NNOPT:-./nnopt}
echo "1..4"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# shuffle + augmentation + SGD momentum + batchnorm + cosine warm-up + online and exact statistics: every kind of
# state a checkpoint must carry (order, RNGs, momentum, running statistics, previous gradient, CSV positions).
# One thread: the same thread count gives the same bits; 6 epochs of 16 steps.
ARGS="--preset tiny --epochs 6 --warmup 20 --threads 1 --stats-epochs 0,3,6 --stats-images 64 --save-every 3"
nice "$NNOPT" train-cifar $ARGS --out "$tmp/a" >"$tmp/a.log" 2>&1 ||
    { sed 's/^/# /' "$tmp/a.log"; echo "Bail out! uninterrupted run failed"; exit 1; }

# the columns that must match: all but images_per_s (8) in steps.csv, all but seconds (8) in epochs.csv, all but
# seconds (the last) in gradstats.csv
same_run() { # dir_a dir_b: the outputs of two runs agree
    diff <(cut -d, -f1-7,9- "$1/steps.csv") <(cut -d, -f1-7,9- "$2/steps.csv") &&
    diff <(cut -d, -f1-7 "$1/epochs.csv") <(cut -d, -f1-7 "$2/epochs.csv") &&
    diff <(sed 's/,[^,]*$//' "$1/gradstats.csv") <(sed 's/,[^,]*$//' "$2/gradstats.csv") &&
    cmp "$1/gradstats_batches.csv" "$2/gradstats_batches.csv"
}
state() { "$NNOPT" inspect "$1" | grep -E '^(param|stats|optim|rng|sampler|gradstats|schedule)/'; }

# 10 kill points: random steps in increasing order, so that every kill lands somewhere in a later part of the run
# (inside a step, an evaluation, a statistics measurement, a checkpoint write or the start-up)
# (drawn in this shell: a subshell would reseed RANDOM, and a failure would not repeat)
RANDOM=11
targets=""
for i in $(seq 10); do targets="$targets $((RANDOM % 88 + 4))"; done
targets=$(printf '%s\n' $targets | sort -n)
kills=0 resumed=0
for target in $targets; do
    if [ -f "$tmp/b/checkpoint.nnck" ]; then
        nice "$NNOPT" train-cifar --resume "$tmp/b/checkpoint.nnck" >>"$tmp/b.log" 2>&1 &
        resumed=$((resumed + 1))
    else
        nice "$NNOPT" train-cifar $ARGS --out "$tmp/b" >>"$tmp/b.log" 2>&1 &
    fi
    pid=$!
    # wait until steps.csv.partial reaches the target step (header + target rows), then kill at once
    while kill -0 $pid 2>/dev/null &&
          [ "$(cat "$tmp/b/steps.csv.partial" 2>/dev/null | wc -l)" -le "$target" ]; do sleep 0.01; done
    kill -KILL $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid 2>/dev/null
done
if [ -f "$tmp/b/checkpoint.nnck" ]; then
    nice "$NNOPT" train-cifar --resume "$tmp/b/checkpoint.nnck" >>"$tmp/b.log" 2>&1
else
    nice "$NNOPT" train-cifar $ARGS --out "$tmp/b" >>"$tmp/b.log" 2>&1
fi
rc=$?
echo "# kill points (steps): $(echo $targets)"
echo "# $kills processes killed with SIGKILL, $resumed resumed from a checkpoint; the last exited with $rc"
if [ $rc = 0 ] && [ $kills = 10 ] && [ $resumed -ge 9 ] &&
   diff <(state "$tmp/a/checkpoint.nnck") <(state "$tmp/b/checkpoint.nnck") >"$tmp/pdiff"; then
    echo "ok 1 - killed 10 times and resumed: the final parameters, running statistics and optimizer state equal the uninterrupted run's"
else
    sed 's/^/# /' "$tmp/pdiff" | head; tail -5 "$tmp/b.log" | sed 's/^/# /'
    echo "not ok 1 - killed 10 times and resumed: the final parameters, running statistics and optimizer state equal the uninterrupted run's"
fi
if same_run "$tmp/a" "$tmp/b" >"$tmp/ldiff" 2>&1; then
    echo "ok 2 - and every per-step loss, accuracy, norm and cosine, every test evaluation and exact statistic, bit for bit as printed"
else
    sed 's/^/# /' "$tmp/ldiff" | head
    echo "not ok 2 - and every per-step loss, accuracy, norm and cosine, every test evaluation and exact statistic, bit for bit as printed"
fi

# SIGINT: the step finishes, a checkpoint is written, the message says how to resume. --save-every 0: the only
# checkpoint is the one the signal writes.
nice "$NNOPT" train-cifar $ARGS --save-every 0 --out "$tmp/c" >"$tmp/c.log" 2>&1 &
pid=$!
# once it trains (its handler is installed before the first step)
while kill -0 $pid 2>/dev/null && [ "$(cat "$tmp/c/steps.csv.partial" 2>/dev/null | wc -l)" -le 20 ]; do sleep 0.01; done
kill -INT $pid
wait $pid
rc=$?
if [ $rc = 130 ] && grep -q "Resume with:" "$tmp/c.log" && grep -q "nnopt train --resume $tmp/c/checkpoint.nnck" "$tmp/c.log" &&
   "$NNOPT" inspect "$tmp/c/checkpoint.nnck" >/dev/null; then
    echo "ok 3 - SIGINT: exit 130, a valid checkpoint and the command to resume"
else
    tail -3 "$tmp/c.log" | sed 's/^/# /'
    echo "not ok 3 - SIGINT: exit 130 (got $rc), a valid checkpoint and the command to resume"
fi
# resumed (with a final checkpoint this time), it ends as the uninterrupted run
nice "$NNOPT" train-cifar --resume "$tmp/c/checkpoint.nnck" --save-every 1000 >>"$tmp/c.log" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q "^resumed from .*steps done" "$tmp/c.log" && same_run "$tmp/a" "$tmp/c" >"$tmp/cdiff" 2>&1 &&
   diff <(state "$tmp/a/checkpoint.nnck") <(state "$tmp/c/checkpoint.nnck") >>"$tmp/cdiff"; then
    echo "ok 4 - resumed after SIGINT: the same losses, evaluations, statistics and final state as the uninterrupted run"
else
    sed 's/^/# /' "$tmp/cdiff" | head; tail -3 "$tmp/c.log" | sed 's/^/# /'
    echo "not ok 4 - resumed after SIGINT (exit $rc): the same losses, evaluations, statistics and final state as the uninterrupted run"
fi
