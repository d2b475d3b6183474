#!/bin/bash
# Every file the program writes, as a class: for each command that writes files and each file it writes, (a) a full
# disk for that file alone (tests/shims/full_disk.c points its descriptor at /dev/full) and (b) that file's name
# taken by a directory (its rename fails: works as root, where permissions do not stop writes): the command fails
# with an error naming the file, the previous version is byte-identical and no temporary file is left. Then per
# command, with every previous file checked: a full disk from the first byte (ulimit -f 0), the output directory
# unwritable (chattr +i; chmod for non-root) and an output directory under a regular file. TAP output.
NNOPT=${NNOPT:-./nnopt}
tmp=$(mktemp -d) || exit 1
[ -n "$KEEP" ] && echo "# outputs in $tmp" || trap 'chattr -R -i "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
n=0
. "$(dirname "$0")/tap.sh"
${CC:-cc} -shared -fPIC -O1 -o "$tmp/shim.so" "$(dirname "$0")/shims/full_disk.c" -ldl ||
    { echo "not ok 1 - cannot build tests/shims/full_disk.c"; echo "1..1"; exit 1; }
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" # the shim comes before libasan
mkdir -p "$tmp/out" "$tmp/nobin" # PATH without gnuplot: the scripts are written, no figures drawn
TOY=(--workload toy-sum --preset tiny --threads 1)

# The commands, each writing into $1, and the files each writes there (beside others the same writers make).
cmd_train() { "$NNOPT" train "${TOY[@]}" --epochs 3 --stats-epochs all --smooth-every 1 --save-epochs --overwrite --out "$1"; }
cmd_figures() { "$NNOPT" figures "$1"; }
cmd_compare() { "$NNOPT" compare "${TOY[@]}" --clip 1 --steps 16 --out "$1"; }
cmd_sweep() { "$NNOPT" sweep --out "$1" "${TOY[@]}" --epochs 1 --grid lr=0.1,0.2 --print-jobs; }
cmd_report() { "$NNOPT" report "$tmp/sweep" --out "$1"; }
files_train="steps.csv epochs.csv gradstats.csv gradstats_batches.csv smoothness.csv smoothness.gp summary.json
             checkpoint.nnck"
files_figures="gradstats.gp noise_tail.dat noise_hist.dat"
files_compare="compare.nnck summary.md plots.gp"
files_sweep="sweep.json"
files_report="report.md toy-sum_lr.dat toy-sum_curves.dat report.gp"

# The previous versions: each command run once into base/<cmd> (sweep's starts empty: it writes sweep.json once).
PATH=$tmp/nobin "$NNOPT" sweep --out "$tmp/sweep" "${TOY[@]}" --epochs 1 --grid lr=0.1,0.2 >"$tmp/log" 2>&1 ||
    { not_ok "set-up: a sweep" "$tmp/log"; echo "1..$n"; exit 1; }
mkdir -p "$tmp/base/sweep"
for c in train figures compare report; do
    d=$tmp/base/$c
    [ $c = figures ] && { cmd_train "$d" >/dev/null 2>&1 || exit 1; }
    PATH=$tmp/nobin cmd_$c "$d" >"$tmp/log" 2>&1 || { not_ok "set-up: $c" "$tmp/log"; echo "1..$n"; exit 1; }
done

# A fresh copy of base/$1 in $2 where each file the command writes holds a distinct previous version, and the
# checksums of all (but the lock, whose holder line is rewritten by design, and a stopped run's .partial rows).
fresh() {
    local f files
    rm -rf "$2" && cp -a "$tmp/base/$1" "$2" || return 1
    eval "files=\$files_$1"
    for f in $files; do [ -f "$2/$f" ] && echo "previous $f" >"$2/$f"; done
    (cd "$2" && find . -type f ! -name .lock ! -name '*.partial' -exec sha1sum {} + | sort) >"$tmp/before"
}
unchanged() { (cd "$1" && find . -type f ! -name .lock ! -name '*.partial' -exec sha1sum {} + | sort) | cmp -s - "$tmp/before"; }
no_tmp() { [ -z "$(find "$1" -name '*.tmp.*')" ]; }
fails_naming() { [ "$1" -ne 0 ] && grep -qF -- "$2" "$3"; } # status, text, log

for c in train figures compare sweep report; do
    eval "files=\$files_$c"
    for f in $files; do
        d=$tmp/out/$c; fresh $c "$d"
        had=0; [ -e "$d/$f" ] && had=1 && cp "$d/$f" "$tmp/prev"
        PATH=$tmp/nobin LD_PRELOAD=$tmp/shim.so NNOPT_FULL_FILE=$f cmd_$c "$d" >"$tmp/log" 2>&1; rc=$?
        ok=0
        fails_naming $rc "'$d/$f" "$tmp/log" && grep -q "No space left on device" "$tmp/log" || ok=1
        if [ $had = 1 ]; then cmp -s "$d/$f" "$tmp/prev" || ok=1; else [ ! -e "$d/$f" ] || ok=1; fi
        no_tmp "$d" || ok=1
        check $ok "$c, $f on a full disk: fails naming it, previous version intact, no temporary file" "$tmp/log"

        fresh $c "$d"; rm -f "$d/$f"; mkdir "$d/$f"; echo keep >"$d/$f/keep"
        PATH=$tmp/nobin cmd_$c "$d" >"$tmp/log" 2>&1; rc=$?
        ok=0
        fails_naming $rc "'$d/$f" "$tmp/log" && [ "$(cat "$d/$f/keep")" = keep ] && no_tmp "$d" || ok=1
        check $ok "$c, $f unwritable (a directory holds its name): fails naming it, nothing replaced" "$tmp/log"
    done
done

# Can this machine make a directory unwritable (root ignores permissions, not the immutable attribute)?
mkdir "$tmp/probe"
if chattr +i "$tmp/probe" 2>/dev/null && ! touch "$tmp/probe/x" 2>/dev/null; then
    lock_dir() { find "$1" -type d -exec chattr +i {} +; }; unlock_dir() { chattr -R -i "$1"; }
elif [ "$(id -u)" != 0 ]; then
    lock_dir() { find "$1" -type d -exec chmod 555 {} +; }; unlock_dir() { find "$1" -type d -exec chmod 755 {} +; }
fi
chattr -i "$tmp/probe" 2>/dev/null
echo x >"$tmp/afile"
for c in train figures compare sweep report; do
    d=$tmp/out/$c; fresh $c "$d"
    # through a pipe: the limit would stop the log file too
    (trap '' XFSZ; ulimit -f 0; PATH=$tmp/nobin cmd_$c "$d") 2>&1 | cat >"$tmp/log"; rc=${PIPESTATUS[0]}
    fails_naming $rc "$d/" "$tmp/log" && grep -q "File too large" "$tmp/log" && unchanged "$d" && no_tmp "$d"
    check $? "$c on a disk full from the first byte (ulimit -f 0): fails naming a file, every file intact" "$tmp/log"

    if [ "$(type -t lock_dir)" = function ]; then
        fresh $c "$d"; lock_dir "$d"
        PATH=$tmp/nobin cmd_$c "$d" >"$tmp/log" 2>&1; rc=$?
        unlock_dir "$d"
        fails_naming $rc "$d/" "$tmp/log" && unchanged "$d" && no_tmp "$d"
        check $? "$c into an unwritable directory: fails naming a file, every file intact" "$tmp/log"
    else
        n=$((n + 1)); echo "ok $n - # SKIP $c into an unwritable directory: root without chattr +i"
    fi
    [ $c = figures ] && continue # it reads its directory first
    PATH=$tmp/nobin cmd_$c "$tmp/afile/sub" >"$tmp/log" 2>&1; rc=$?
    fails_naming $rc "$tmp/afile" "$tmp/log" && grep -q "Not a directory" "$tmp/log" && [ -f "$tmp/afile" ]
    check $? "$c with its output under a regular file: refused naming it" "$tmp/log"
done

# A new run never replaces what its --out holds unless told to: a finished run, a diverged one, a stopped one (its
# checkpoint) are refused with every file byte-identical; --overwrite replaces them; --resume continues the stopped one.
plain() { "$NNOPT" train "${TOY[@]}" --epochs 2 --out "$@"; }
d=$tmp/guard
for kind in done diverged stopped; do
    rm -rf "$d" && mkdir -p "$d"
    case $kind in
        done) plain "$d" >"$tmp/log" 2>&1 ;;
        diverged) plain "$d" --lr 1e5 >"$tmp/log" 2>&1 ;;
        stopped) plain "$d" --save-every 1 >"$tmp/log" 2>&1 && rm "$d/summary.json" ;;
    esac
    [ $kind = stopped ] || grep -qE "\"status\":[[:space:]]*\"$kind\"" "$d/summary.json" || { not_ok "set-up: a $kind run" "$tmp/log"; continue; }
    (cd "$d" && find . -type f ! -name .lock -exec sha1sum {} + | sort) >"$tmp/before"
    plain "$d" --seed 2 >"$tmp/log" 2>&1; rc=$?
    want="holds a finished run (summary.json: $kind)"; [ $kind = stopped ] && want="--resume $d/checkpoint.nnck"
    fails_naming $rc "$want" "$tmp/log" && unchanged "$d"
    check $? "train into a $kind run: refused ($want), every file intact" "$tmp/log"
done
"$NNOPT" train --resume "$d/checkpoint.nnck" >"$tmp/log" 2>&1 && grep -q '"done"' "$d/summary.json"
check $? "train --resume continues the stopped run the refusal names" "$tmp/log"
plain "$d" --seed 2 --overwrite >"$tmp/log" 2>&1 && grep -qE '"seed":[[:space:]]*2' "$d/summary.json"
check $? "train --overwrite replaces a finished run" "$tmp/log"
echo "1..$n"
