#!/bin/bash
# nnopt compare stops and resumes (issue: reliability): a comparison killed with SIGKILL inside its second method and
# again inside its third, resumed each time with `compare --resume`, keeps the methods already done, resumes the
# one under way from its checkpoint, and ends with the same per-step losses, exact statistics and summary table as
# the uninterrupted comparison. SIGINT stops it with exit 130 and the command to resume. TAP output.
NNOPT=${NNOPT:-./nnopt}
echo "1..5"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# two epochs of 22 and 18 steps per method, so that the clipped run's statistics after epoch 1 fall inside the run
ARGS="--preset tiny --workload ptb-lstm --train-tokens 1700 --eval-tokens 1000 --steps 40 --batch-sizes 2,4 --no-plots --save-every 4"
METHODS="sgd sgd-clip adam acclip"
"$NNOPT" compare $ARGS --out "$tmp/a" >"$tmp/a.log" 2>&1 || { tail -5 "$tmp/a.log" | sed 's/^/# /'; echo "Bail out! uninterrupted comparison failed"; exit 1; }

rows() { cat "$1/steps.csv.partial" "$1/steps.csv" 2>/dev/null | wc -l; }
# runs "$@" in the background and kills it with SIGKILL once method dir $1 has more than $2 lines of steps
kill_at() {
    local dir=$1 target=$2
    shift 2
    "$@" >>"$tmp/b.log" 2>&1 &
    local pid=$!
    while kill -0 $pid 2>/dev/null && [ "$(rows "$dir")" -le "$target" ]; do sleep 0.01; done
    kill -KILL $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid 2>/dev/null
}
kills=0
kill_at "$tmp/b/sgd-clip" 13 "$NNOPT" compare $ARGS --out "$tmp/b"
kill_at "$tmp/b/adam" 27 "$NNOPT" compare --resume "$tmp/b/compare.nnck"
"$NNOPT" compare --resume "$tmp/b/compare.nnck" >>"$tmp/b.log" 2>&1
rc=$?
echo "# $kills processes killed with SIGKILL; the last resume exited with $rc"
if [ $rc = 0 ] && [ $kills = 2 ] && grep -q "1 of 4 methods done" "$tmp/b.log" &&
   grep -q "2 of 4 methods done" "$tmp/b.log" && [ "$(grep -c '^== sgd:' "$tmp/b.log")" = 1 ] &&
   [ "$(grep -c '^== sgd-clip: .*(resumed)' "$tmp/b.log")" = 1 ] && [ "$(grep -c '^== adam: .*(resumed)' "$tmp/b.log")" = 1 ]; then
    echo "ok 1 - killed in sgd-clip and in adam: each resume keeps the methods done and resumes the one under way"
else
    tail -5 "$tmp/b.log" | sed 's/^/# /'
    echo "not ok 1 - killed in sgd-clip and in adam: each resume keeps the methods done and resumes the one under way"
fi

# the columns that must match: steps.csv without tokens_per_s (7); gradstats.csv without seconds (the last)
same=1
for m in $METHODS; do
    diff <(cut -d, -f1-6,8- "$tmp/a/$m/steps.csv") <(cut -d, -f1-6,8- "$tmp/b/$m/steps.csv") >"$tmp/d" ||
        { same=0; echo "# $m/steps.csv differs:"; head -4 "$tmp/d" | sed 's/^/# /'; }
done
[ $same = 1 ] && echo "ok 2 - every method's per-step losses, norms and cosines equal the uninterrupted run's, bit for bit as printed" ||
    echo "not ok 2 - every method's per-step losses, norms and cosines equal the uninterrupted run's"
stats() { sed 's/,[^,]*$//' "$1"; }
if diff <(stats "$tmp/a/sgd-clip/gradstats.csv") <(stats "$tmp/b/sgd-clip/gradstats.csv") >"$tmp/d" &&
   [ "$(wc -l <"$tmp/a/sgd-clip/gradstats.csv")" = 7 ]; then
    echo "ok 3 - the clipped run's exact statistics (epochs 0, 1, 2 at batch sizes 2 and 4) are equal"
else
    head -4 "$tmp/d" | sed 's/^/# /'
    echo "not ok 3 - the clipped run's exact statistics (epochs 0, 1, 2 at batch sizes 2 and 4) are equal"
fi
# the summary table without its wall-time column (9th field of '|'-split rows)
table() { grep '^| ' "$1" | cut -d'|' -f1-8,10-; }
if diff <(table "$tmp/a/summary.md") <(table "$tmp/b/summary.md") >"$tmp/d"; then
    echo "ok 4 - summary.md's table is the same apart from wall times"
else
    sed 's/^/# /' "$tmp/d" | head
    echo "not ok 4 - summary.md's table is the same apart from wall times"
fi

# SIGINT inside the first method: exit 130, its checkpoint, and the command that resumes the comparison
"$NNOPT" compare $ARGS --save-every 0 --out "$tmp/c" >"$tmp/c.log" 2>&1 &
pid=$!
while kill -0 $pid 2>/dev/null && [ "$(rows "$tmp/c/sgd")" -le 3 ]; do sleep 0.01; done
kill -INT $pid
wait $pid
rc=$?
if [ $rc = 130 ] && grep -q "nnopt compare --resume $tmp/c/compare.nnck" "$tmp/c.log" &&
   "$NNOPT" inspect "$tmp/c/sgd/checkpoint.nnck" >/dev/null; then
    echo "ok 5 - SIGINT: exit 130, the method's checkpoint and the command to resume the comparison"
else
    tail -3 "$tmp/c.log" | sed 's/^/# /'
    echo "not ok 5 - SIGINT: exit 130 (got $rc), the method's checkpoint and the command to resume the comparison"
fi
