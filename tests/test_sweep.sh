#!/bin/bash
# nnopt sweep and nnopt report, end to end: the runs a spec expands to and their names; the tuning choice checked
# against the runs' own CSVs; a diverged run kept as a result and never retried; a sweep killed twice (SIGKILL, then
# SIGINT) and continued ends with the same runs, bit for bit, as an uninterrupted one; two sweeps on one directory
# at once train each run once; --print-jobs run by GNU parallel (xargs without it) gives the same runs; the run lock
# refuses a second writer by name and takes over a stale lock; a killed run is recorded as failed and retried only
# on request; the report across workloads; provenance; bad input. TAP output.
NNOPT=${NNOPT:-./nnopt}
tmp=$(mktemp -d) || exit 1
[ -n "$KEEP" ] && echo "# outputs in $tmp" || trap 'rm -rf "$tmp"' EXIT # KEEP=1: keep them
echo "1..18"
n=0
. "$(dirname "$0")/tap.sh"

# Two sweep directories hold the same runs with the same results (CSVs bit for bit, timing aside).
same_runs() {
    local a=$1 b=$2 d f
    [ "$(cd "$a" && find . -name summary.json | sort)" = "$(cd "$b" && find . -name summary.json | sort)" ] ||
        { echo "# different runs"; return 1; }
    for d in $(cd "$a" && find . -name summary.json -printf '%h\n'); do
        for f in steps.csv epochs.csv; do
            cmp -s <(untimed "$a/$d/$f") <(untimed "$b/$d/$f") || { echo "# $d/$f differs"; return 1; }
        done
    done
}
json() { grep -o "\"$2\":[[:space:]]*\"[^\"]*\"" "$1" | head -1 | sed 's/.*:[[:space:]]*"//; s/"$//'; }

TOY=(--workload toy-sum --preset tiny --threads 1)
# 1. expansion, names, labels, seeds at the chosen setting
S=(--seeds 3 "${TOY[@]}" --method sgd --optim sgd --grid lr=0.03,0.1,0.3 --method adam --optim adam --grid lr=log:0.01:1:3)
"$NNOPT" sweep --out "$tmp/toy" --jobs 2 "${S[@]}" >"$tmp/toy.log" 2>&1
rc=$?
runs=$(cd "$tmp/toy" && find . -name summary.json | sort | tr '\n' ' ')
done_count=$(grep -l '"status":[[:space:]]*"done"' $(find "$tmp/toy" -name summary.json) | wc -l)
[ $rc = 0 ] && [ "$done_count" = 10 ] && [ -f "$tmp/toy/sweep.json" ] &&
    [ -f "$tmp/toy/sgd/lr=0.03,seed=1/summary.json" ] && [ -f "$tmp/toy/adam/lr=0.1,seed=1/summary.json" ] &&
    grep -q '"label":[[:space:]]*"adam"' "$tmp/toy/adam/lr=1,seed=1/summary.json" &&
    [ "$(ls -d "$tmp"/toy/sgd/*seed=2 "$tmp"/toy/sgd/*seed=3 | wc -l)" = 2 ]
check $? "a sweep of 2 methods x 3 lrs with 3 seeds: 6 tuning runs, then 2 more seeds of each best lr ($runs)" "$tmp/toy.log"

# 2. the choice: the lr whose seed-1 run has the lowest final full_loss (last epochs.csv row), from the CSVs
chosen_ok=0
for m in sgd adam; do
    best=$(for d in "$tmp"/toy/$m/*seed=1; do
        col=$(head -1 "$d/epochs.csv" | tr ',' '\n' | grep -n '^full_loss$' | cut -d: -f1)
        echo "$(tail -1 "$d/epochs.csv" | cut -d, -f"$col") ${d##*/}"; done | sort -g | head -1 | sed 's/.* //; s/,seed=1//')
    [ -d "$tmp/toy/$m/$best,seed=2" ] || { echo "# $m: best $best has no seed 2 run"; chosen_ok=1; }
done
"$NNOPT" report "$tmp/toy" >"$tmp/report.log" 2>&1 &&
    grep -q '^\*\*Winner: ' "$tmp/toy/report.md" && grep -q '^| sgd | lr=' "$tmp/toy/report.md" &&
    [ -f "$tmp/toy/report.gp" ] && [ -f "$tmp/toy/toy-sum_lr.dat" ] &&
    { ! command -v gnuplot >/dev/null || { [ -f "$tmp/toy/toy-sum_lr.png" ] && [ -f "$tmp/toy/toy-sum_curves.png" ]; }; }
r=$?
check $((chosen_ok + r)) "each method's seed runs are at the lr with the best seed-1 run (from epochs.csv); the report names a winner" "$tmp/report.log"

# 3. continuing a finished sweep starts nothing; --list shows every run done
"$NNOPT" sweep --out "$tmp/toy" --jobs 2 >"$tmp/again.log" 2>&1 && ! grep -q 'started' "$tmp/again.log" &&
    [ "$("$NNOPT" sweep --out "$tmp/toy" --list | grep -c '^done ')" = 10 ]
check $? "continuing a finished sweep (nnopt sweep --out DIR alone) trains nothing again" "$tmp/again.log"

# 4b. one-epoch runs: the report draws its figures without a word from gnuplot (it warned of an empty x range)
"$NNOPT" sweep --out "$tmp/one" "${TOY[@]}" --epochs 1 --grid lr=0.1,0.3 >"$tmp/one.log" 2>&1 &&
    "$NNOPT" report "$tmp/one" >"$tmp/oner.log" 2>&1 && ! grep -qi "warning" "$tmp/oner.log" &&
    { ! command -v gnuplot >/dev/null || [ -f "$tmp/one/toy-sum_curves.png" ]; }
check $? "a report of one-epoch runs: its figures drawn, no warning from gnuplot on the terminal" "$tmp/oner.log"

# 4. a diverged run is a result: recorded, never retried, ranked last
"$NNOPT" sweep --out "$tmp/div" "${TOY[@]}" --grid lr=0.1,1e5 >"$tmp/div.log" 2>&1
rc=$?
"$NNOPT" sweep --out "$tmp/div" >"$tmp/div2.log" 2>&1
rc2=$?
"$NNOPT" report "$tmp/div" --no-plots >"$tmp/divr.log" 2>&1
[ $rc = 0 ] && [ $rc2 = 0 ] && grep -q '"status":[[:space:]]*"diverged"' "$tmp/div/lr=1e5,seed=1/summary.json" &&
    ! grep -q started "$tmp/div2.log" && grep -q 'lr=100000 1 diverged' "$tmp/div/report.md" &&
    grep -q '^| sgd | lr=0.1 |' "$tmp/div/report.md"
check $? "a diverged run is recorded, not retried, and ranked last" "$tmp/divr.log"

# 5. killed twice (SIGKILL of the sweep: its runs stop with a checkpoint; then SIGINT) and continued = uninterrupted
LM=(--workload ptb-lstm --preset tiny --train-tokens 6000 --eval-tokens 500 --epochs 2 --max-steps 0 --save-every 10
    --threads 1 --seeds 2 --method sgd --optim sgd --grid lr=5,20 --method adam --optim adam --grid lr=0.003,0.01)
"$NNOPT" sweep --out "$tmp/ref" --jobs 2 "${LM[@]}" >"$tmp/ref.log" 2>&1
ref_rc=$?
held() { [ "$("$NNOPT" sweep --out "$1" --list 2>/dev/null | grep -c elsewhere)" != 0 ]; }
# start the sweep, signal it `seconds` after one of its runs has a checkpoint to resume from (on a loaded machine,
# or under the sanitizers, a fixed delay from the start could come before any), wait until none of its runs trains
kill_after() { # signal seconds
    "$NNOPT" sweep --out "$tmp/killed" --jobs 2 "${LM[@]}" >>"$tmp/killed.log" 2>&1 &
    local pid=$!
    for _ in $(seq 1200); do compgen -G "$tmp/killed/*/*/checkpoint.nnck" >/dev/null && break; sleep 0.05; done
    sleep "$2"
    kill "-$1" $pid
    { wait $pid; } 2>/dev/null # (no "Killed" line from bash)
    for _ in $(seq 200); do held "$tmp/killed" || break; sleep 0.1; done
}
kill_after KILL 0.5
kill_after INT 1.5
partial=$(grep -c ' done: ' "$tmp/killed.log")
"$NNOPT" sweep --out "$tmp/killed" --jobs 2 >>"$tmp/killed.log" 2>&1
rc=$?
[ $ref_rc = 0 ] && [ $rc = 0 ] && grep -q 'resumed' "$tmp/killed.log" && same_runs "$tmp/ref" "$tmp/killed"
check $? "a sweep killed (SIGKILL, then SIGINT; $partial runs done by then) and continued has the same runs, bit for bit" "$tmp/killed.log"

# 6. the reports agree too (wall times aside: the lr and curve data hold none)
"$NNOPT" report "$tmp/ref" >/dev/null 2>&1 && "$NNOPT" report "$tmp/killed" >/dev/null 2>&1 &&
    cmp -s "$tmp/ref/ptb-lstm_curves.dat" "$tmp/killed/ptb-lstm_curves.dat" &&
    cmp -s "$tmp/ref/ptb-lstm_lr.dat" "$tmp/killed/ptb-lstm_lr.dat" &&
    diff <(grep -E '^\*\*Winner|^- ' "$tmp/ref/report.md") <(grep -E '^\*\*Winner|^- ' "$tmp/killed/report.md") >/dev/null
check $? "the killed-and-continued sweep's report equals the uninterrupted one's" "$tmp/killed.log"

# 7. two sweeps on one directory at once: each run trained once, the same results
"$NNOPT" sweep --out "$tmp/two" "${LM[@]}" >"$tmp/two-a.log" 2>&1 &
a=$!
"$NNOPT" sweep --out "$tmp/two" "${LM[@]}" >"$tmp/two-b.log" 2>&1 &
b=$!
wait $a; ra=$?
wait $b; rb=$?
once=0
for f in $(find "$tmp/two" -name log.txt); do
    [ "$(grep -c '^wrote .*summary.json' "$f")" = 1 ] || { echo "# $f: trained $(grep -c '^wrote .*summary.json' "$f") times"; once=1; }
done
[ $ra = 0 ] && [ $rb = 0 ] && [ $once = 0 ] && same_runs "$tmp/ref" "$tmp/two"
check $? "two sweeps started on one directory share its runs: each trained once, results as one sweep's" "$tmp/two-b.log"

# 8. --print-jobs for GNU parallel (xargs when it is missing), twice: the tuning runs, then the seed runs
if command -v parallel >/dev/null; then runner=(parallel -j 2); else runner=(xargs -P 2 -I{} sh -c {}); fi
"$NNOPT" sweep --out "$tmp/par" "${LM[@]}" --print-jobs >"$tmp/jobs1" 2>"$tmp/par.log" &&
    "${runner[@]}" <"$tmp/jobs1" >>"$tmp/par.log" 2>&1 &&
    "$NNOPT" sweep --out "$tmp/par" --threads 1 --print-jobs >"$tmp/jobs2" 2>>"$tmp/par.log" &&
    "${runner[@]}" <"$tmp/jobs2" >>"$tmp/par.log" 2>&1 &&
    [ "$(wc -l <"$tmp/jobs1")" = 4 ] && [ "$(wc -l <"$tmp/jobs2")" = 2 ] && grep -q 'seed runs\|more runs' "$tmp/par.log" &&
    same_runs "$tmp/ref" "$tmp/par"
check $? "--print-jobs run by ${runner[0]} (4 tuning jobs, then 2 seed jobs) gives the same runs as --jobs" "$tmp/par.log"

# 9. the lock: a second writer is refused, naming the holder; a stale lock (SIGKILL) is taken over
ONE=(--workload ptb-lstm --preset tiny --train-tokens 20000 --eval-tokens 500 --epochs 3 --threads 1 --save-every 5)
"$NNOPT" train "${ONE[@]}" --out "$tmp/lock" >"$tmp/lock1.log" 2>&1 &
pid=$!
for _ in $(seq 200); do [ -s "$tmp/lock/.lock" ] && [ -f "$tmp/lock/checkpoint.nnck" ] && break; sleep 0.05; done
"$NNOPT" train "${ONE[@]}" --out "$tmp/lock" >"$tmp/lock2.log" 2>&1
rc=$?
kill -KILL $pid; wait $pid 2>/dev/null
"$NNOPT" train --resume "$tmp/lock/checkpoint.nnck" --max-steps 20 >"$tmp/lock3.log" 2>&1
rc3=$?
[ $rc = 75 ] && grep -q "is in use by another process: pid $pid on " "$tmp/lock2.log" &&
    [ $rc3 = 0 ] && grep -q "taking over the stale lock of $tmp/lock: pid $pid on " "$tmp/lock3.log" && [ ! -s "$tmp/lock/.lock" ]
check $? "a second writer of a run exits 75 naming the holder's pid; after SIGKILL the stale lock is taken over" "$tmp/lock3.log"

# 10. a run killed outside the sweep is recorded as failed, not retried until --retry-failed
F=(--workload ptb-lstm --preset tiny --train-tokens 20000 --eval-tokens 500 --epochs 3 --threads 1 --save-every 5)
"$NNOPT" sweep --out "$tmp/fail" "${F[@]}" >"$tmp/fail.log" 2>&1 &
pid=$!
lock=$tmp/fail/seed=1/.lock
for _ in $(seq 400); do [ -s "$lock" ] && [ -f "$tmp/fail/seed=1/checkpoint.nnck" ] && break; sleep 0.05; done
kill -KILL "$(sed 's/^pid \([0-9]*\) .*/\1/' "$lock")"
wait $pid
rc=$?
failed_text=$(cat "$tmp/fail/seed=1/failed" 2>/dev/null)
"$NNOPT" sweep --out "$tmp/fail" >"$tmp/fail2.log" 2>&1
rc2=$?
"$NNOPT" sweep --out "$tmp/fail" --retry-failed >"$tmp/fail3.log" 2>&1
rc3=$?
[ $rc = 1 ] && [[ $failed_text == *"killed by signal 9"* ]] && [ $rc2 = 1 ] && ! grep -q started "$tmp/fail2.log" &&
    [ $rc3 = 0 ] && grep -q resumed "$tmp/fail3.log" && [ ! -f "$tmp/fail/seed=1/failed" ] &&
    grep -q '"status":[[:space:]]*"done"' "$tmp/fail/seed=1/summary.json"
check $? "a run killed by SIGKILL is recorded as failed (exit 1), kept failed, and resumed by --retry-failed" "$tmp/fail3.log"

# 11. one report over two workloads: a table each and the performance profile
"$NNOPT" report "$tmp/toy" "$tmp/ref" --out "$tmp/both" >"$tmp/both.log" 2>&1 &&
    grep -q '^## toy-sum' "$tmp/both/report.md" && grep -q '^## ptb-lstm' "$tmp/both/report.md" &&
    grep -q '^## Performance profile' "$tmp/both/report.md" && [ -f "$tmp/both/profile.dat" ]
check $? "a report over two workloads has a table for each and a performance profile" "$tmp/both.log"

# 12. provenance in summary.json
s=$tmp/toy/sgd/lr=0.1,seed=1/summary.json
commit=$(json "$s" commit)
want=unknown
git rev-parse --short=12 HEAD >/dev/null 2>&1 && want=$(git rev-parse --short=12 HEAD)
[ "${commit%-dirty}" = "$want" ] && [ -n "$(json "$s" cpu)" ] && [ -n "$(json "$s" blas)" ] &&
    [ "$(json "$s" seed)" = 1 ] && [ -n "$(json "$s" started)" ] && [ -n "$(json "$s" ended)" ] &&
    grep -q '"threads":[[:space:]]*1' "$s" && grep -q '"command_line"' "$s" && grep -q '"vector_extensions"' "$s"
check $? "summary.json's provenance: commit ($commit), CPU, BLAS, seed, times, threads, command line" "$s"

# 13-17. bad input: each a clear error before any run starts
fails() { # description, message wanted, command...
    local what=$1 want=$2
    shift 2
    "$@" >"$tmp/bad.log" 2>&1
    local rc=$?
    [ $rc != 0 ] && grep -q -- "$want" "$tmp/bad.log" &&
        { [[ $what != *metric* ]] || grep -q "has no such evaluation column (it has full_loss, x_norm)" "$tmp/metric.log"; }
    check $? "$what" "$tmp/bad.log"
}
"$NNOPT" sweep --out "$tmp/bad1" "${TOY[@]}" --grid nosuch=1,2 >"$tmp/bad.log" 2>&1
[ $? != 0 ] && grep -q "unknown option '--nosuch'" "$tmp/bad.log" && [ ! -e "$tmp/bad1" ]
check $? "a grid axis that is not a flag fails, naming it, before anything is written" "$tmp/bad.log"
fails "a grid larger than --max-runs is refused" "more than --max-runs 1000" \
    "$NNOPT" sweep --out "$tmp/bad2" "${TOY[@]}" --grid lr=lin:0.01:1:40 --grid seed=lin:1:40:40
fails "another spec on a sweep's directory is refused" "holds another sweep" \
    "$NNOPT" sweep --out "$tmp/toy" "${TOY[@]}" --grid lr=0.5
fails "a report over a directory without runs is refused" "no runs there" \
    "$NNOPT" report "$tmp/bad2"
"$NNOPT" report "$tmp/toy" --metric nosuch >"$tmp/metric.log" 2>&1 && echo "# --metric nosuch passed"
fails "--target over two workloads is refused, and an unknown --metric lists the columns" "applies to one workload" \
    "$NNOPT" report "$tmp/toy" "$tmp/ref" --target 1 --out "$tmp/bad3"
