#!/bin/bash
# Every guarantee, for every workload in the registry (`nnopt workloads --tests` lists each with the flags of a run
# of seconds over 3 epochs), with no test code of its own: a run repeats itself bit for bit; killed with SIGKILL at
# several moments and resumed each time, it ends with the same CSVs (timing columns aside) and the same final state
# (every tensor's crc32) as the uninterrupted run; SIGINT stops it with exit 130, a valid checkpoint and the resume
# command; --resume refuses another configuration and a damaged file; bad flags fail at once; gradstats (killed
# and resumed too), bench, compare and --help run; the smoothness instrument changes nothing of the training.
# TAP output.
NNOPT=${NNOPT:-./nnopt}
tmp=$(mktemp -d) || exit 1
[ -n "$KEEP" ] && echo "# outputs in $tmp" || trap 'rm -rf "$tmp"' EXIT # KEEP=1: keep them
mapfile -t LIST < <("$NNOPT" workloads --tests | grep -E "^(${WORKLOADS:-.*})	") # WORKLOADS=NAME: only that one
[ ${#LIST[@]} -gt 0 ] || { echo "Bail out! nnopt workloads --tests listed nothing"; exit 1; }
echo "1..$((10 * ${#LIST[@]}))"
n=0
. "$(dirname "$0")/tap.sh"

# The run's state: every tensor but those that hold paths or times.
state() { "$NNOPT" inspect "$1" | grep -vE '^(config|argv|progress/values|progress/started|csv/lengths) '; }
same_run() { # dir-a dir-b: the same CSVs and final state
    local f
    for f in steps.csv epochs.csv gradstats.csv gradstats_batches.csv ${SMOOTH_CSV-smoothness.csv}; do
        diff <(untimed "$1/$f") <(untimed "$2/$f") >"$tmp/diff" || { echo "# $f differs:"; head -4 "$tmp/diff" | sed 's/^/#   /'; return 1; }
    done
    diff <(state "$1/checkpoint.nnck") <(state "$2/checkpoint.nnck") >/dev/null || { echo "# final state differs"; return 1; }
}
rows() { cat "$1/steps.csv.partial" "$1/steps.csv" 2>/dev/null | wc -l; }
# starts "$@" in the background and stops it with signal $1 once $2 holds more than $3 rows; sets $killed_rc
stop_at() {
    local sig=$1 dir=$2 target=$3
    shift 3
    "$@" >>"$dir.log" 2>&1 &
    local pid=$!
    while kill -0 $pid 2>/dev/null && [ "$(rows "$dir")" -le "$target" ]; do sleep 0.005; done
    kill "-$sig" $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid
    killed_rc=$?
}

for entry in "${LIST[@]}"; do
    w=${entry%%$'\t'*}
    read -r -a F <<<"${entry#*$'\t'}"
    # shuffle + Adam + exact statistics + smoothness + checkpoints: every kind of state a checkpoint must carry
    # (the workload's test flags last: they may slow a fast workload down with more checkpoints)
    RUN=(--seed 5 --order shuffle --optim adam --optim-args= --lr 0.003 --stats-epochs 0,2 --batch-sizes 2,4
         --smooth-every 2 --smooth-fraction 0.5 --threads 2 --save-every 3 --save-epochs "${F[@]}")
    d=$tmp/$w
    mkdir -p "$d"
    "$NNOPT" train "${RUN[@]}" --out "$d/a" >"$d/a.log" 2>&1 && "$NNOPT" train "${RUN[@]}" --out "$d/a2" >"$d/a2.log" 2>&1 &&
        grep -qE '"status":[[:space:]]*"done"' "$d/a/summary.json" && same_run "$d/a" "$d/a2"
    check $? "$w: a run repeats itself bit for bit (steps, epochs, exact statistics, smoothness, final state)" "$d/a.log"
    # without the smoothness measurements: the same steps, statistics and final state
    "$NNOPT" train "${RUN[@]}" --smooth-every 0 --out "$d/a0" >"$d/a0.log" 2>&1 && SMOOTH_CSV= same_run "$d/a" "$d/a0" &&
        [ "$(wc -l <"$d/a/smoothness.csv")" -gt 3 ] && grep -q '"L1"' "$d/a/summary.json"
    check $? "$w: measuring the smoothness every 2 steps leaves training as it is, bit for bit" "$d/a0.log"
    total=$(($(rows "$d/a") - 1))

    kills=0
    for k in 1 2 3 4 5; do # SIGKILL at 1/6 .. 5/6 of the run, each time resuming from the last checkpoint
        if [ -f "$d/b/checkpoint.nnck" ]; then stop_at KILL "$d/b" $((1 + k * total / 6)) "$NNOPT" train --resume "$d/b/checkpoint.nnck"
        else stop_at KILL "$d/b" $((1 + k * total / 6)) "$NNOPT" train "${RUN[@]}" --out "$d/b"; fi
    done
    "$NNOPT" train --resume "$d/b/checkpoint.nnck" >>"$d/b.log" 2>&1 && [ $kills -ge 3 ] && same_run "$d/a" "$d/b"
    check $? "$w: killed $kills times with SIGKILL and resumed: the same CSVs and final state" "$d/b.log"

    for attempt in 1 2 3 4 5; do # exit 0: the run ended before the signal came (a loaded machine); start again
        rm -rf "$d/c" "$d/c.log"
        stop_at INT "$d/c" $((total / 2)) "$NNOPT" train "${RUN[@]}" --out "$d/c"
        [ "$killed_rc" != 0 ] && break
    done
    [ "$killed_rc" = 130 ] && grep -q "nnopt train --resume $d/c/checkpoint.nnck" "$d/c.log" &&
        "$NNOPT" inspect "$d/c/checkpoint.nnck" >/dev/null && "$NNOPT" train --resume "$d/c/checkpoint.nnck" >>"$d/c.log" 2>&1 &&
        same_run "$d/a" "$d/c"
    check $? "$w: SIGINT: exit 130 (got $killed_rc), the resume command, and the resumed run equals the whole one" "$d/c.log"

    cp "$d/a/checkpoint.nnck" "$d/damaged.nnck"
    size=$(stat -c %s "$d/damaged.nnck")
    printf '\xff' | dd of="$d/damaged.nnck" bs=1 seek=$((size / 2)) conv=notrunc status=none
    ! "$NNOPT" train --resume "$d/a/checkpoint.nnck" --seed 9 >"$d/r.log" 2>&1 && grep -q "field 'seed'" "$d/r.log" &&
        ! "$NNOPT" train --resume "$d/damaged.nnck" >>"$d/r.log" 2>&1 && grep -q "damaged.nnck' is damaged: byte " "$d/r.log"
    check $? "$w: --resume refuses another seed (naming the field) and a damaged checkpoint" "$d/r.log"

    GS=(--stats-epochs 0,1 --batch-sizes 2 --save-every 2 "${F[@]}") # the test flags last, as above
    "$NNOPT" gradstats "${GS[@]}" --out "$d/g" >"$d/g.log" 2>&1 && [ "$(wc -l <"$d/g/gradstats.csv")" = 3 ]
    kills=0
    stop_at KILL "$d/h" $((($(rows "$d/g") - 1) / 2)) "$NNOPT" gradstats "${GS[@]}" --out "$d/h"
    "$NNOPT" gradstats --resume "$d/h/checkpoint.nnck" >>"$d/h.log" 2>&1 && [ $kills = 1 ] && same_run "$d/g" "$d/h"
    check $? "$w: gradstats measures at x_0 and x_1, and killed in epoch 1 resumes with the same statistics" "$d/h.log"

    "$NNOPT" bench "${F[@]}" --steps 2 >"$d/bench.log" 2>&1 && grep -qE "^nnopt [^ ]+ threads=[0-9]+ " "$d/bench.log"
    check $? "$w: bench prints its throughput" "$d/bench.log"

    mapfile -t C < <(printf '%s\n' "${F[@]}" | grep -vE '^--(epochs|max-steps)=') # compare sets these itself
    # a budget: the workload's passes are timed, the statistics' too at a batch size beyond the training one
    "$NNOPT" compare "${C[@]}" --budget 2 --clip 1 --batch-sizes 2,16 --no-plots --out "$d/cmp" >"$d/cmp.log" 2>&1 &&
        [ "$(grep -cE '^\| (sgd|sgd-clip|adam|acclip) \|' "$d/cmp/summary.md")" = 4 ]
    check $? "$w: compare times the workload, trains the four methods and writes the table" "$d/cmp.log"

    fails() { ! "$NNOPT" train "${F[@]}" "$@" --out "$d/bad" >"$d/bad.log" 2>&1 && grep -qF -- "$msg" "$d/bad.log"; }
    msg="--lr 'abc': expected a number" fails --lr abc && msg="unknown option '--bogus'" fails --bogus &&
        msg="--stats-epochs 9: the run has only 3 epochs" fails --stats-epochs 9 &&
        msg="--optim-args 'momentum': expected key=value" fails --optim-args momentum && [ ! -e "$d/bad" ]
    check $? "$w: bad flags fail at once with a message naming them, before anything is written" "$d/bad.log"

    "$NNOPT" train --workload "$w" --help >"$d/help.log" 2>&1 && grep -q -- "--resume PATH" "$d/help.log" &&
        grep -q "^$w" "$d/help.log"
    check $? "$w: --help lists the trainer's and the workload's flags" "$d/help.log"
done
