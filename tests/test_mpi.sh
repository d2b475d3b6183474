#!/bin/bash
# Data parallelism over MPI (tools/dist.h): with --grad-blocks G, a run on P ranks (P dividing G) gives the bits of
# one process: steps.csv and epochs.csv values (timing columns aside) and the final state, every tensor's crc32,
# the carried LSTM state and the dropout stream included. Also: the MPI build on one process gives the plain
# build's results; a run stopped by SIGTERM on one rank stops every rank with one checkpoint, which one process
# resumes to the uninterrupted run's results; a rank killed ends the job (no hang); bad input is refused. The exact
# statistics too: pass 1 in G chunks, pass 2 shared out over the ranks, the same gradstats CSVs as one process.
# And `mpirun -np 2 nnopt sweep`: two sweep workers share the runs out, each run trained once, as one sweep.
# NNOPT_MPI: the MPI build (make MPI=1); skipped without it or without mpirun. TAP output.
NNOPT=${NNOPT:-./nnopt}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
. "$(dirname "$0")/tap.sh"
echo "1..14"
. "$(dirname "$0")/mpi.sh"
skip_without_mpi 14
LM="--workload=ptb-lstm --preset=tiny --train-tokens=3000 --eval-tokens=500 --dropout=0.2 --epochs=2 --max-steps=0
    --threads=1 --save-epochs"
state() { "$NNOPT" inspect "$1" | grep -vE '^(config|argv|progress/values|progress/started|csv/lengths) '; }
# same_run A B: the untimed CSVs and the final state of run directories A and B are equal (differences into diff)
same_run() {
    { diff <(untimed "$1/steps.csv") <(untimed "$2/steps.csv") &&
        diff <(untimed "$1/epochs.csv") <(untimed "$2/epochs.csv") &&
        diff <(state "$1/checkpoint.nnck") <(state "$2/checkpoint.nnck"); } >"$tmp/diff" 2>&1
}

# shellcheck disable=SC2086  # $LM is a list of flags
"$NNOPT" train $LM --grad-blocks=4 --out "$tmp/p1" >"$tmp/p1.log" 2>&1
one=$?
for P in 2 4; do
    mpi -np $P "$NNOPT_MPI" train $LM --grad-blocks=4 --out "$tmp/p$P" >"$tmp/p$P.log" 2>&1 &&
        [ $one = 0 ] && same_run "$tmp/p1" "$tmp/p$P" || { cat "$tmp/p1.log" "$tmp/p$P.log" >>"$tmp/diff"; false; }
    check $? "ptb-lstm, --grad-blocks 4: $P ranks give one process's CSV values and final state" "$tmp/diff"
done

# The exact statistics (nnopt gradstats): two batch sizes, m = 38 and 19 batches, so the ranks' shares of pass 2
# are unequal (whole blocks of the stable index's visiting order, and the batches after its last block)
STATS="$LM --stats-tokens=1600 --batch-sizes=4,8"
"$NNOPT" gradstats $STATS --grad-blocks=4 --out "$tmp/s1" >"$tmp/s1.log" 2>&1
one=$?
for P in 2 4; do
    mpi -np $P "$NNOPT_MPI" gradstats $STATS --grad-blocks=4 --out "$tmp/s$P" >"$tmp/s$P.log" 2>&1 && [ $one = 0 ] &&
        same_run "$tmp/s1" "$tmp/s$P" && diff <(untimed "$tmp/s1/gradstats.csv") <(untimed "$tmp/s$P/gradstats.csv") \
            >"$tmp/diff" && diff "$tmp/s1/gradstats_batches.csv" "$tmp/s$P/gradstats_batches.csv" >"$tmp/diff" ||
        { cat "$tmp/s1.log" "$tmp/s$P.log" >>"$tmp/diff"; false; }
    check $? "gradstats, --grad-blocks 4: $P ranks give one process's gradstats.csv, gradstats_batches.csv and run" \
        "$tmp/diff"
done

"$NNOPT" train $LM --out "$tmp/plain" >"$tmp/plain.log" 2>&1 &&
    "$NNOPT_MPI" train $LM --out "$tmp/single" >"$tmp/single.log" 2>&1 &&
    same_run "$tmp/plain" "$tmp/single" || { cat "$tmp/plain.log" "$tmp/single.log" >>"$tmp/diff"; false; }
check $? "the MPI build on one process (--grad-blocks 1) gives the plain build's results" "$tmp/diff"

# Stopped by SIGTERM on rank 1 of 2: both stop after the same step, rank 0 writes the checkpoint; one process
# resumes it (a checkpoint of P ranks resumes on any number) to the results of the uninterrupted run.
LONG="--workload=ptb-lstm --preset=tiny --train-tokens=8000 --eval-tokens=500 --dropout=0.2 --epochs=6
      --max-steps=0 --threads=1 --grad-blocks=2"
"$NNOPT" train $LONG --save-epochs --out "$tmp/whole" >"$tmp/whole.log" 2>&1
wait_for_steps() { # until run directory $1 has 30 steps in its steps.csv.partial (at most 30 s)
    for _ in $(seq 600); do
        [ -f "$1/steps.csv.partial" ] && [ "$(wc -l <"$1/steps.csv.partial")" -gt 30 ] && return
        sleep 0.05
    done
}
rank_pid() { # the pid of rank $1 of the job writing into $2
    for p in $(pgrep -f "nnopt train"); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" &&
            tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "$2" && echo "$p"
    done
}
mpi -np 2 "$NNOPT_MPI" train $LONG --save-epochs --out "$tmp/stopped" >"$tmp/stopped.log" 2>&1 &
job=$!
wait_for_steps "$tmp/stopped"
kill -TERM "$(rank_pid 1 "$tmp/stopped")" 2>/dev/null
wait $job
status=$?
[ $status = 143 ] && [ -f "$tmp/stopped/checkpoint.nnck" ] && [ ! -f "$tmp/stopped/steps.csv" ] &&
    grep -q "stopped by SIGTERM" "$tmp/stopped.log"
check $? "SIGTERM on rank 1 of 2 stops both (status $status, 143 expected) with one checkpoint" "$tmp/stopped.log"
"$NNOPT" train --resume "$tmp/stopped/checkpoint.nnck" >"$tmp/resumed.log" 2>&1 &&
    same_run "$tmp/whole" "$tmp/stopped" || { cat "$tmp/whole.log" "$tmp/resumed.log" >>"$tmp/diff"; false; }
check $? "one process resumes the checkpoint of 2 ranks to the uninterrupted run's results" "$tmp/diff"

# A rank killed (SIGKILL) ends the job with a message: the other rank must not wait for it forever.
mpi -np 2 "$NNOPT_MPI" train $LONG --out "$tmp/killed" >"$tmp/killed.log" 2>&1 &
job=$!
wait_for_steps "$tmp/killed"
kill -KILL "$(rank_pid 1 "$tmp/killed")" 2>/dev/null
for _ in $(seq 600); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
kill -0 $job 2>/dev/null && { kill -KILL $job; echo "# still running 60 s after rank 1 was killed"; }
wait $job
status=$?
[ $status != 0 ] && grep -q "exited on signal 9" "$tmp/killed.log"
check $? "a rank killed ends the job (status $status) with mpirun's message, no hang" "$tmp/killed.log"

# A sweep over ranks: every rank a sweep worker with one slot; the run locks share the runs out, and each run is
# one process (the sweep's children do not join the MPI job)
SW=(--seeds 2 --workload toy-sum --preset tiny --threads 1 --method sgd --optim sgd --grid lr=0.03,0.1,0.3
    --method adam --optim adam --grid lr=0.01,0.1)
"$NNOPT" sweep --out "$tmp/sw1" --jobs 2 "${SW[@]}" >"$tmp/sw1.log" 2>&1
one=$?
mpi -np 2 "$NNOPT_MPI" sweep --out "$tmp/sw2" --jobs 1 "${SW[@]}" >"$tmp/sw2.log" 2>&1
status=$?
same=0 runs=0
for f in $(cd "$tmp/sw1" && find . -name summary.json); do
    d=$(dirname "$f") runs=$((runs + 1))
    [ "$(grep -c '^wrote .*summary.json' "$tmp/sw2/$d/log.txt")" = 1 ] &&
        grep -q '"mpi_ranks":[[:space:]]*1' "$tmp/sw2/$d/summary.json" &&
        cmp -s <(untimed "$tmp/sw1/$d/steps.csv") <(untimed "$tmp/sw2/$d/steps.csv") || { echo "# $d differs"; same=1; }
done
[ $one = 0 ] && [ $status = 0 ] && [ $runs = 7 ] && [ $same = 0 ]
check $? "mpirun -np 2 nnopt sweep: 2 workers train each of the $runs runs once, with one sweep's results" "$tmp/sw2.log"

# Bad input, refused before training starts
mpi -np 2 "$NNOPT_MPI" train $LM --out "$tmp/bad1" >"$tmp/bad1.log" 2>&1
[ $? != 0 ] && grep -q "every rank of 2): --grad-blocks 1 cannot be shared by 2 MPI ranks" "$tmp/bad1.log"
check $? "--grad-blocks 1 on 2 ranks is refused on every rank" "$tmp/bad1.log"
mpi -np 2 "$NNOPT_MPI" train $LM --grad-blocks=2 --batch=7 --out "$tmp/bad0" >"$tmp/bad0.log" 2>&1
# Flags are checked before MPI starts: each rank refuses alike, in one write (two writes interleaved once into a
# garbled line). The first rank to exit makes mpirun end the other, which may not have printed yet: at least one
# copy, and no other error line.
[ $? != 0 ] && grep -q "^nnopt: error: --grad-blocks 2 does not divide --batch 7" "$tmp/bad0.log" &&
    [ "$(grep "^nnopt: error" "$tmp/bad0.log" | sort -u | wc -l)" = 1 ] && [ ! -e "$tmp/bad0" ]
check $? "a batch that --grad-blocks does not divide: refused with one message before MPI starts, nothing written" \
    "$tmp/bad0.log"
mpi -np 1 "$NNOPT_MPI" train $LM --grad-blocks=2 --seed=1 --out "$tmp/bad2" : \
    -np 1 "$NNOPT_MPI" train $LM --grad-blocks=2 --seed=2 --out "$tmp/bad2" >"$tmp/bad2.log" 2>&1
[ $? != 0 ] && grep -q "rank 1 was started with another command line than rank 0" "$tmp/bad2.log"
check $? "ranks started with different flags are refused" "$tmp/bad2.log"
mpi -np 1 "$NNOPT_MPI" train $LM --grad-blocks=2 --out "$tmp/bad3" : \
    -np 1 -x NNOPT_DATA="$tmp/nowhere" "$NNOPT_MPI" train $LM --grad-blocks=2 --out "$tmp/bad3" >"$tmp/bad3.log" 2>&1
[ $? != 0 ] && grep -q "rank 1 of 2): data directory '$tmp/nowhere' (from \$NNOPT_DATA) does not exist" "$tmp/bad3.log"
check $? "a rank without the data names it and ends every rank" "$tmp/bad3.log"
mpi -np 2 "$NNOPT_MPI" train $LM --grad-blocks=2 --smooth-every=5 --out "$tmp/bad4" >"$tmp/bad4.log" 2>&1
[ $? != 0 ] && grep -q "\-\-smooth-every runs on one process only" "$tmp/bad4.log"
check $? "the smoothness instrument on several ranks is refused (not distributed yet)" "$tmp/bad4.log"
