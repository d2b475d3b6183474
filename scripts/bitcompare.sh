#!/usr/bin/env bash
# Checks that a refactor of tools/ leaves every result bit-identical: builds BASE_COMMIT (default a742b65) in a
# git worktree and NEW_TREE (default: this repository's working tree, uncommitted changes included) side by side,
# runs the same short training scenarios with both, and compares their CSVs (timing columns removed) and the crc32
# of their final parameters and optimizer state.
# Usage: scripts/bitcompare.sh [BASE_COMMIT] [NEW_TREE]      exit status 0: all identical, 1: some differ
# Both are built here, on the same machine, because -march=native code (and so every float) differs across CPUs.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE=${1:-a742b65}
NEW_TREE=$(cd "${2:-$ROOT}" && pwd) || exit 2
die() { echo "bitcompare: $*" >&2; exit 2; }

# Data: explicit --data everywhere, so that both binaries read the same files whatever their defaults become.
if [ -n "${NNOPT_DATA:-}" ]; then DATA=$NNOPT_DATA
elif [ -d "$ROOT/data/ptb" ]; then DATA=$ROOT/data
else DATA=$(cd "$ROOT/.." && pwd)/shared/data; fi
[ -d "$DATA/ptb" ] && [ -d "$DATA/cifar10" ] || die "no ptb/ and cifar10/ under $DATA (set NNOPT_DATA)"

TMP=$(mktemp -d /tmp/bitcompare.XXXXXX)
build() { # dir make-args...: a failed build ends the script (there is nothing to compare)
    local dir=$1; shift
    echo "building $dir (make -j2 $*)"
    make -C "$dir" -j2 "$@" >"$TMP/build-$(basename "$dir").log" 2>&1 ||
        { tail -20 "$TMP/build-$(basename "$dir").log"; die "build failed in $dir (log in $TMP)"; }
}

# The base: its own detached worktree, kept between runs so that later runs rebuild nothing.
SHA=$(git -C "$ROOT" rev-parse --verify --quiet "$BASE^{commit}") || die "unknown commit $BASE"
BASE_TREE=/tmp/nnopt-base-$SHA
if [ ! -d "$BASE_TREE" ]; then
    git -C "$ROOT" worktree prune # forget a worktree whose directory was deleted, or `add` refuses the path
    git -C "$ROOT" worktree add --detach "$BASE_TREE" "$SHA" >"$TMP/worktree.log" 2>&1 ||
        { cat "$TMP/worktree.log"; die "git worktree add failed"; }
fi
build "$BASE_TREE"
# The new tree: its own build directory, so the developer's build/ and ./nnopt are left alone. With
# BUILD != build the Makefile names the binary $(BUILD)/nnopt.
build "$NEW_TREE" BUILD=build-bitcmp
BIN_base=$BASE_TREE/nnopt
BIN_new=$NEW_TREE/build-bitcmp/nnopt

# The scenarios: each a few seconds, together covering dropout, the exact gradient statistics, shuffle and cyclic
# orders, momentum, Adam, tied weights, clipping, the plateau, cosine and multistep schedules, two threads, the
# gradstats command and a resume. Only flags that both the old and the new program accept.
SCENARIOS=(lm-dropout lm-shuffle lm-adam-tied cifar cifar-clip-cyclic gradstats lm-resume)
LM1=(--preset tiny --dropout 0.3 --train-tokens 20000 --epochs 2 --stats-epochs 0,1,2 --batch-sizes 2,4
     --stats-tokens 4000 --eta 0.1,1 --save-epochs --eval-tokens 3000 --threads 1)
run_scenario() { # name binary outdir: runs it, stdout and stderr into outdir.log; returns the exit status
    local bin=$2 out=$3 io=(--data "$DATA" --out "$3")
    case $1 in
    lm-dropout) "$bin" train-lm "${LM1[@]}" --max-steps 0 "${io[@]}" ;;
    lm-shuffle) # 4 epochs: the plateau schedule divides the lr once (after epoch 3)
        "$bin" train-lm --preset tiny --order shuffle --optim sgd --optim-args momentum=0.9 --schedule plateau \
            --train-tokens 20000 --epochs 4 --max-steps 0 --save-epochs --eval-tokens 3000 --threads 2 "${io[@]}" ;;
    lm-adam-tied)
        "$bin" train-lm --preset tiny --optim adam --lr 0.002 --tied --clip 0 --train-tokens 16000 --epochs 2 \
            --max-steps 0 --save-epochs --threads 1 "${io[@]}" ;;
    cifar)
        "$bin" train-cifar --preset tiny --epochs 3 --stats-epochs 0,2,3 --batch-sizes 8,16 --stats-images 256 \
            --save-epochs --threads 1 "${io[@]}" ;;
    cifar-clip-cyclic) # --optim-args "": the preset's momentum and weight decay are SGD's
        "$bin" train-cifar --preset tiny --clip 1 --order cyclic --optim adam --optim-args "" --lr 0.001 \
            --schedule multistep --milestones 1 --save-epochs --threads 2 "${io[@]}" ;;
    gradstats) # draws PNGs too when gnuplot is installed; they are not compared
        "$bin" gradstats --preset toy --train-tokens 8000 --stats-tokens 2000 --batch-sizes 2,4 --epochs 2 \
            --max-steps 0 --save-epochs --threads 1 "${io[@]}" ;;
    lm-resume) # stops after 30 steps (checkpoints every 10), then resumes to the end; status: the first failure
        "$bin" train-lm "${LM1[@]}" --max-steps 30 --save-every 10 "${io[@]}"; local rc=$?
        "$bin" train-lm --resume "$out/checkpoint.nnck" --max-steps 0 --threads 1 --data "$DATA"
        return $((rc ? rc : $?)) ;;
    esac >"$out.log" 2>&1
}

# A CSV without its timing columns (chosen by header name, wherever the refactor puts them).
strip_timing() {
    awk -F, -v OFS=, 'NR == 1 { for (i = 1; i <= NF; i++) drop[i] = $i ~ /^(tokens_per_s|images_per_s|seconds)$/ }
        { line = ""; n = 0
          for (i = 1; i <= NF; i++) if (!drop[i]) line = line (n++ ? OFS : "") $i
          print line }' "$1"
}
# The final state's tensors as "name dtype shape crc32", spacing normalised and sorted: a new layout of inspect or
# another order of the tensors in the file is not a difference in the state.
final_state() { "$1" inspect "$2" 2>&1 | awk '$1 ~ /^(param|stats|optim|lstm|rng|sampler|schedule|gradstats)\// { print $1, $2, $3, $NF }' | LC_ALL=C sort; }

report() { # scenario item base-file new-file: one line, identical or DIFFERS with the first differing lines
    if diff -q "$3" "$4" >/dev/null; then printf '%-18s %-22s identical\n' "$1" "$2"; return 0; fi
    printf '%-18s %-22s DIFFERS\n' "$1" "$2"
    diff "$3" "$4" | head -8 | sed 's/^/      /'
    return 1
}

ndiff=0
for s in "${SCENARIOS[@]}"; do
    bad=0 times=""
    for side in base new; do
        bin=BIN_$side out=$TMP/$side/$s
        mkdir -p "$out"
        t0=$(date +%s%N)
        run_scenario "$s" "${!bin}" "$out"; echo $? >"$TMP/$side/$s.status"
        ms=$(( ($(date +%s%N) - t0) / 1000000 )); times+=" $side $((ms / 1000)).$((ms % 1000 / 100)) s"
        if [ -f "$out/checkpoint.nnck" ]; then final_state "${!bin}" "$out/checkpoint.nnck" >"$TMP/$side/$s.state"
        else echo "no checkpoint.nnck" >"$TMP/$side/$s.state"; fi
    done
    echo "== $s:$times"
    # A base that fails makes the scenario meaningless, even if the new program fails the same way.
    if [ "$(cat "$TMP/base/$s.status")" != 0 ]; then
        echo "$s: base exited with status $(cat "$TMP/base/$s.status"); see $TMP/base/$s.log"; bad=1
    fi
    # Likewise a base checkpoint without parameters: empty lists on both sides would pass as identical.
    grep -q '^param/' "$TMP/base/$s.state" || { echo "$s: no param/ tensors in the base checkpoint"; bad=1; }
    report "$s" "exit status" "$TMP/base/$s.status" "$TMP/new/$s.status" || bad=1
    for f in steps.csv epochs.csv gradstats.csv gradstats_batches.csv; do
        b=$TMP/base/$s/$f n=$TMP/new/$s/$f
        [ -f "$b" ] || [ -f "$n" ] || continue
        if [ -f "$b" ] && [ -f "$n" ]; then # files, not <(...): report reads them twice
            strip_timing "$b" >"$b.cmp"; strip_timing "$n" >"$n.cmp"
            report "$s" "$f" "$b.cmp" "$n.cmp" || bad=1
        else
            printf '%-18s %-22s DIFFERS (only in %s)\n' "$s" "$f" "$([ -f "$b" ] && echo base || echo new)"; bad=1
        fi
    done
    report "$s" "final state (inspect)" "$TMP/base/$s.state" "$TMP/new/$s.state" || bad=1
    ndiff=$((ndiff + bad))
done

if [ "$ndiff" = 0 ]; then
    rm -rf "$TMP"
    echo "bitcompare: ${#SCENARIOS[@]} scenarios, all identical"
    exit 0
fi
echo "bitcompare: outputs kept in $TMP"
echo "bitcompare: ${#SCENARIOS[@]} scenarios, $ndiff differ"
exit 1
