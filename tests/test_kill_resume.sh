#!/bin/bash
# Exact resume (issue: reliability): a tiny training run killed with SIGKILL at 10 random moments and resumed each
# time from its last checkpoint ends with the same parameters (crc32 of every tensor) and the same per-step losses
# as the uninterrupted run; a SIGINT stops it cleanly with a checkpoint and exit status 130. TAP output.
NNOPT=${NNOPT:-./nnopt}
echo "1..4"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# shuffle + Adam + dropout: every kind of state a checkpoint must carry (order, RNGs, moments, LSTM state)
ARGS="--preset tiny --max-steps 150 --epochs 3 --order shuffle --optim adam --lr 0.003 --dropout 0.2 --save-every 3"
"$NNOPT" train-lm $ARGS --out "$tmp/a" >"$tmp/a.log" 2>&1 || { sed 's/^/# /' "$tmp/a.log"; echo "Bail out! uninterrupted run failed"; exit 1; }

# the columns that must match: all but tokens_per_s (7), a timing
losses() { cut -d, -f1-6,8- "$1"; }
params() { "$NNOPT" inspect "$1" | grep '^param/'; }

# 10 kill points: random steps in increasing order, so that every kill lands somewhere in a later part of the run
# (inside a step, a checkpoint write or the start-up), whatever the speed of the machine
RANDOM=7 # drawn in this shell: a $(...) subshell would reseed RANDOM, and a failure would not repeat
targets=""
for i in $(seq 10); do targets="$targets $((RANDOM % 140 + 5))"; done
targets=$(echo $targets | tr ' ' '\n' | sort -n)
kills=0 resumed=0
for target in $targets; do
    if [ -f "$tmp/b/checkpoint.nnck" ]; then
        "$NNOPT" train-lm --resume "$tmp/b/checkpoint.nnck" >>"$tmp/b.log" 2>&1 &
        resumed=$((resumed + 1))
    else
        "$NNOPT" train-lm $ARGS --out "$tmp/b" >>"$tmp/b.log" 2>&1 &
    fi
    pid=$!
    # wait until steps.csv.partial reaches the target step (header + target rows), then kill at once
    while kill -0 $pid 2>/dev/null &&
          [ "$(cat "$tmp/b/steps.csv.partial" 2>/dev/null | wc -l)" -le "$target" ]; do sleep 0.01; done
    kill -KILL $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid 2>/dev/null
done
if [ -f "$tmp/b/checkpoint.nnck" ]; then
    "$NNOPT" train-lm --resume "$tmp/b/checkpoint.nnck" >>"$tmp/b.log" 2>&1
else
    "$NNOPT" train-lm $ARGS --out "$tmp/b" >>"$tmp/b.log" 2>&1
fi
rc=$?
echo "# $kills processes killed with SIGKILL, $resumed resumed from a checkpoint; the last exited with $rc"
if [ $rc = 0 ] && [ $kills = 10 ] && [ $resumed -ge 9 ] &&
   diff <(params "$tmp/a/checkpoint.nnck") <(params "$tmp/b/checkpoint.nnck") >"$tmp/pdiff"; then
    echo "ok 1 - killed 10 times and resumed: the final parameters equal the uninterrupted run's"
else
    sed 's/^/# /' "$tmp/pdiff" | head; tail -5 "$tmp/b.log" | sed 's/^/# /'
    echo "not ok 1 - killed 10 times and resumed: the final parameters equal the uninterrupted run's"
fi
if diff <(losses "$tmp/a/steps.csv") <(losses "$tmp/b/steps.csv") >"$tmp/ldiff"; then
    echo "ok 2 - and every per-step loss, norm and cosine in steps.csv, bit for bit as printed"
else
    sed 's/^/# /' "$tmp/ldiff" | head
    echo "not ok 2 - and every per-step loss, norm and cosine in steps.csv, bit for bit as printed"
fi

# SIGINT: the step finishes, a checkpoint is written, the message says how to resume
"$NNOPT" train-lm $ARGS --save-every 0 --max-steps 100000 --epochs 50 --out "$tmp/c" >"$tmp/c.log" 2>&1 &
pid=$!
# once it trains (its handler is installed before the first step)
while kill -0 $pid 2>/dev/null && [ "$(cat "$tmp/c/steps.csv.partial" 2>/dev/null | wc -l)" -le 3 ]; do sleep 0.01; done
kill -INT $pid
wait $pid
rc=$?
if [ $rc = 130 ] && grep -q "Resume with:" "$tmp/c.log" && "$NNOPT" inspect "$tmp/c/checkpoint.nnck" >/dev/null; then
    echo "ok 3 - SIGINT: exit 130, a valid checkpoint and the command to resume"
else
    tail -3 "$tmp/c.log" | sed 's/^/# /'
    echo "not ok 3 - SIGINT: exit 130 (got $rc), a valid checkpoint and the command to resume"
fi

# nnopt gradstats is a training run too: killed after its statistics at epoch 1, resumed with gradstats --resume,
# it measures the same exact statistics (its checkpoint's command line carries the epochs that --stats-epochs implies)
GS="--preset tiny --workload ptb-lstm --train-tokens 1700 --eval-tokens 1000 --stats-epochs 0,1,2 --batch-sizes 2,4 --save-every 4"
"$NNOPT" gradstats $GS --out "$tmp/g" >"$tmp/g.log" 2>&1
"$NNOPT" gradstats $GS --out "$tmp/h" >"$tmp/h.log" 2>&1 &
pid=$!
# rows for epochs 0 and 1 written (header + 4), and a few steps of epoch 2
while kill -0 $pid 2>/dev/null && { [ "$(cat "$tmp/h/gradstats.csv.partial" 2>/dev/null | wc -l)" -lt 5 ] ||
      [ "$(cat "$tmp/h/steps.csv.partial" 2>/dev/null | wc -l)" -le 26 ]; }; do sleep 0.01; done
kill -KILL $pid 2>/dev/null && killed=1 || killed=0
wait $pid 2>/dev/null
"$NNOPT" gradstats --resume "$tmp/h/checkpoint.nnck" >>"$tmp/h.log" 2>&1
rc=$?
stats() { sed 's/,[^,]*$//' "$1"; } # without the seconds column
if [ $rc = 0 ] && [ $killed = 1 ] && [ "$(wc -l <"$tmp/g/gradstats.csv")" = 7 ] &&
   diff <(stats "$tmp/g/gradstats.csv") <(stats "$tmp/h/gradstats.csv") >"$tmp/gdiff" &&
   diff <(losses "$tmp/g/steps.csv") <(losses "$tmp/h/steps.csv") >>"$tmp/gdiff"; then
    echo "ok 4 - gradstats killed in epoch 2 and resumed: the same exact statistics and per-step losses"
else
    sed 's/^/# /' "$tmp/gdiff" | head; tail -3 "$tmp/h.log" | sed 's/^/# /'
    echo "not ok 4 - gradstats killed in epoch 2 (killed: $killed) and resumed (exit $rc): the same exact statistics and per-step losses"
fi
