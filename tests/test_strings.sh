#!/bin/bash
# Hostile strings through every format that holds them, as a class: each string of the table below, given as a run's
# --label, as its --out directory, as a sweep's method name and as an optimizer argument, comes back exactly from
# summary.json, from the checkpoint (resumed), from report.md's table and report.gp's titles (drawn by gnuplot as
# SVG), from compare's summary.md and from `nnopt sweep --print-jobs`'s shell lines; or it is refused with a message
# before anything is written. Decoding: Python's json and shlex, CommonMark's escapes, gnuplot itself. TAP output.
NNOPT=${NNOPT:-./nnopt}
tmp=$(mktemp -d) || exit 1
[ -n "$KEEP" ] && echo "# outputs in $tmp" || trap 'rm -rf "$tmp"' EXIT
n=0
. "$(dirname "$0")/tap.sh"
TOY=(--workload toy-sum --preset tiny --threads 1)
long=$(for i in $(seq 300); do printf "%s" "'\"|,\\%sé\`*"; done) # 3,000 bytes
names=(quotes comma backslash utf8 percent gnuplot markdown spaces long)
strings=("it's \"quoted\"" "a,b,,c" 'back\slash\\n\' "naïve ✓ 日本語" "%s %n %d %% %" "@x \$y {z} ^_ & ~ # ;'" \
         '| * _ [l](x) <b> &amp; `c` ``' "  padded  " "$long")
ctl_names=(newline tab soh escape del)
ctl=($'a\nb' $'a\tb' $'a\x01b' $'\x1b[31mred' $'a\x7f')

# python3 checks: $1 a program reading the expected string from the file named by argv[1]
py() { python3 -c "$1" "${@:2}"; }
json_label='import json,sys; s=open(sys.argv[1],"rb").read().decode(); d=json.load(open(sys.argv[2])); sys.exit(d["config"][sys.argv[3]] != s)'
# CommonMark's inverse of md_text: every backslash before ASCII punctuation, and every &#N;, decoded
md='
import re,sys,string
def text(s): return re.sub(r"\\([%s])|&#(\d+);" % re.escape(string.punctuation), lambda m: m.group(1) or chr(int(m.group(2))), s)
def cells(row): return [text(c.strip()) for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]
def code(s):
    m = re.fullmatch(r"(`+)(.*?)\1", s, re.S); c = m.group(2)
    return c[1:-1] if c.startswith(" ") and c.endswith(" ") and c.strip() else c
'

for i in "${!names[@]}"; do
    s=${strings[$i]}; printf "%s" "$s" >"$tmp/s$i"
    d=$tmp/runs/r$i
    "$NNOPT" train "${TOY[@]}" --epochs 2 --save-epochs --label "$s" --out "$d" >"$tmp/log" 2>&1 &&
        py "$json_label" "$tmp/s$i" "$d/summary.json" label &&
        "$NNOPT" train --resume "$d/checkpoint.nnck" --epochs 3 >>"$tmp/log" 2>&1 &&
        py "$json_label" "$tmp/s$i" "$d/summary.json" label && grep -q '"steps":	24' "$d/summary.json"
    check $? "${names[$i]} as --label: summary.json and the checkpoint (resumed) give it back" "$tmp/log"

    o=$tmp/o/$s
    if [ ${#s} -le 200 ]; then
        "$NNOPT" train "${TOY[@]}" --out "$o" >"$tmp/log" 2>&1 && py "$json_label" <(printf "%s" "$o") "$o/summary.json" out
        check $? "${names[$i]} in --out: the run writes there, summary.json gives the path back" "$tmp/log"
        "$NNOPT" compare "${TOY[@]}" --clip 1 --steps 8 --no-plots --out "$o/c" >"$tmp/log" 2>&1 &&
            py "$md"'
import json; want=open(sys.argv[1],"rb").read().decode()+"/c"
line=[l for l in open(sys.argv[2], encoding="utf-8") if l.startswith("Shared configuration")][0]
sys.exit(json.loads(code(line.split(": ",1)[1].strip()[:-0 or None]))["out"] != want)' <(printf "%s" "$o") "$o/c/summary.md"
        check $? "${names[$i]} in compare's --out: summary.md's configuration gives the path back" "$tmp/log"
        "$NNOPT" sweep --out "$o/s" "${TOY[@]}" --epochs 1 --method "$s" --grid lr=0.1,0.2 --print-jobs \
            >"$tmp/jobs" 2>"$tmp/log" && py '
import shlex,sys
out=open(sys.argv[1],"rb").read().decode()+"/s"; method=open(sys.argv[2],"rb").read().decode()
lines=open(sys.argv[3],encoding="utf-8").read().splitlines()
ok=len(lines)==2 and all(shlex.split(l)[2:4]==["--out",out] and shlex.split(l)[5].startswith(method+"/lr=") for l in lines)
sys.exit(not ok)' <(printf "%s" "$o") "$tmp/s$i" "$tmp/jobs"
        check $? "${names[$i]} in sweep's --out and --method: --print-jobs lines split back into them" "$tmp/jobs"
    else
        before=$(ls -A "$tmp/o" | wc -l)
        "$NNOPT" train "${TOY[@]}" --out "$o" >"$tmp/log" 2>&1
        [ $? -ne 0 ] && grep -q "File name too long" "$tmp/log" && [ "$(ls -A "$tmp/o" | wc -l)" = "$before" ]
        check $? "${names[$i]} in --out: refused by the file system, naming it, before anything is written" "$tmp/log"
        "$NNOPT" sweep --out "$tmp/sw" "${TOY[@]}" --method "$s" --grid lr=0.1 >"$tmp/log" 2>&1
        [ $? -ne 0 ] && grep -q "at most 200 bytes" "$tmp/log" && [ ! -e "$tmp/sw" ]
        check $? "${names[$i]} as a sweep's method name: refused before anything is written" "$tmp/log"
    fi
    "$NNOPT" train "${TOY[@]}" --optim sgd --optim-args "momentum=$s" --out "$tmp/oa" >"$tmp/log" 2>&1
    [ $? -ne 0 ] && grep -q "optim" "$tmp/log" && [ ! -e "$tmp/oa" ]
    check $? "${names[$i]} as an optimizer argument: refused before anything is written" "$tmp/log"
done

# nnopt report over the runs: each label a method, in report.md's table and as report.gp's titles
"$NNOPT" report "$tmp/runs" --out "$tmp/rep" >"$tmp/log" 2>&1; check $? "nnopt report over the labelled runs" "$tmp/log"
for i in "${!names[@]}"; do
    py "$md"'
want=open(sys.argv[1],"rb").read().decode()
rows=[cells(l) for l in open(sys.argv[2],encoding="utf-8") if l.startswith("| ") and not l.startswith("| method")]
sys.exit(not any(r and r[0]==want and len(r)==len(rows[0]) for r in rows))' "$tmp/s$i" "$tmp/rep/report.md"
    check $? "${names[$i]} as a label: report.md's table cell gives it back" "$tmp/rep/report.md"
done
if command -v gnuplot >/dev/null; then
    sed 's/^set terminal .*/set terminal svg noenhanced/' "$tmp/rep/report.gp" >"$tmp/rep/svg.gp"
    (cd "$tmp/rep" && gnuplot svg.gp) >"$tmp/log" 2>&1
    for i in "${!names[@]}"; do
        py '
import sys,glob,xml.etree.ElementTree as ET
want=open(sys.argv[1],"rb").read().decode()
texts={"".join(t.itertext()) for f in glob.glob(sys.argv[2]+"/*.png") for t in ET.parse(f).iter("{http://www.w3.org/2000/svg}text")}
sys.exit(want not in texts)' "$tmp/s$i" "$tmp/rep"
        check $? "${names[$i]} as a label: report.gp's titles, drawn by gnuplot, give it back" "$tmp/log"
    done
else
    n=$((n + 1)); echo "ok $n - # SKIP report.gp's titles: gnuplot is not installed"
fi

for i in "${!ctl_names[@]}"; do
    for flag in --label --out --data; do
        v=${ctl[$i]}; [ $flag != --label ] && v=$tmp/c$v
        "$NNOPT" train "${TOY[@]}" $flag "$v" --out "$tmp/ctl" >"$tmp/log" 2>&1
        [ $? -ne 0 ] && grep -q "control character" "$tmp/log" && [ ! -e "$tmp/ctl" ] && [ -z "$(ls "$tmp" | grep '^c')" ]
        check $? "${ctl_names[$i]} in $flag: refused before anything is written" "$tmp/log"
    done
    "$NNOPT" sweep --out "$tmp/ctl" "${TOY[@]}" --method "${ctl[$i]}" --grid lr=0.1 >"$tmp/log" 2>&1
    [ $? -ne 0 ] && grep -q "control character" "$tmp/log" && [ ! -e "$tmp/ctl" ]
    check $? "${ctl_names[$i]} in a sweep's method name: refused before anything is written" "$tmp/log"
done
echo "1..$n"
