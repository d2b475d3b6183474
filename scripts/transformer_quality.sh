#!/bin/sh
# The Transformer's quality figure in the README: trains `nnopt train --preset tfm-small` into OUT when OUT does
# not exist (about 50 minutes on 2 cores), then draws the training and validation perplexity per epoch of OUT's
# epochs.csv, beside zaremba-small's when ZAREMBA names a zaremba-small run directory. An existing OUT is only read:
# a stopped run there is resumed with `nnopt train --resume OUT/checkpoint.nnck`, never restarted over.
# Usage: scripts/transformer_quality.sh [OUT]   (default runs/tfm-small); figure: docs/figures/transformer/.
set -eu
nnopt=${NNOPT:-./nnopt}
out=${1:-runs/tfm-small}
fig=docs/figures/transformer/tfm-small-curve.png
[ -e "$out" ] || "$nnopt" train --preset tfm-small --out "$out"
command -v gnuplot >/dev/null || { echo "gnuplot not found: apt-get install gnuplot-nox; $out/epochs.csv has the values"; exit 1; }
mkdir -p "$(dirname "$fig")"
extra=""
[ -n "${ZAREMBA:-}" ] && extra=", '${ZAREMBA}/epochs.csv' skip 1 using 1:(exp(\$4)) title 'zaremba-small train' dt 2 lw 2, '${ZAREMBA}/epochs.csv' skip 1 using 1:6 title 'zaremba-small valid' dt 2 lw 2"
gnuplot <<GP
set terminal pngcairo size 900,560 noenhanced
set output '$fig'
set datafile separator ','
set title 'tfm-small on PTB: perplexity per epoch (train: with dropout, running mean over the epoch)'
set xlabel 'epoch'
set ylabel 'perplexity'
set logscale y
set grid
set key top right
plot '$out/epochs.csv' skip 1 using 1:(exp(\$4)) title 'tfm-small train' with linespoints lw 2, \
     '$out/epochs.csv' skip 1 using 1:6 title 'tfm-small valid (sliding window, stride 32)' with linespoints lw 2 $extra
GP
echo "wrote $fig"
