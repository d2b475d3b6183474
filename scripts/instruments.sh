#!/usr/bin/env bash
# The instruments of the README's "Gradient noise, noise scale and smoothness" section, reproduced on real data:
# the LSTM (zaremba-small, with Zhang et al.'s lr 30 and clip 0.25) and ResNet-20, each one `nnopt gradstats` run
# that measures the exact noise statistics at the start and after epochs 1 and 2 (LSTM) or 1 and 3 (ResNet-20) and
# the local smoothness every 50 (40) steps. About 40 minutes on 2 cores. The figures are copied to
# docs/figures/instruments/ and the figures' numbers printed at the end.
# Usage: scripts/instruments.sh [OUT]   (default runs/instruments; NNOPT=path/to/nnopt to use another binary)
set -euo pipefail
cd "$(dirname "$0")/.."
NNOPT=${NNOPT:-./nnopt}
OUT=${1:-runs/instruments}
FIG=docs/figures/instruments
mkdir -p "$OUT" "$FIG"

"$NNOPT" gradstats --preset zaremba-small --lr 30 --clip 0.25 --stats-epochs 0,1,2 --stats-tokens 400000 \
    --batch-sizes 5,20 --smooth-every 50 --smooth-fraction 0.05 --threads 2 --out "$OUT/lstm" | grep -v '^epoch .* step '
"$NNOPT" gradstats --preset resnet20 --stats-epochs 0,1,3 --stats-images 10000 --batch-sizes 32,128 \
    --smooth-every 40 --smooth-fraction 0.2 --threads 2 --out "$OUT/resnet20" | grep -v '^epoch .* step '

for m in lstm resnet20; do
    "$NNOPT" figures "$OUT/$m" >/dev/null # (gradstats drew them already; this also draws them where it did not)
    for f in smoothness.png noise_tail_b20.png noise_hist_b20.png noise_tail_b128.png noise_hist_b128.png \
             noise_tail_b32.png noise_tail_b5.png; do
        [ -f "$OUT/$m/$f" ] && cp "$OUT/$m/$f" "$FIG/${m}_$f"
    done
    echo "== $m: gradstats.csv (epoch, batch size, noise rms, B_simple, q99/q50, Hill [lo, hi], stable [lo, hi], s)"
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
             { printf "%s %s %s %s %s %s [%s %s] %s [%s %s] %s\n", $1, $2, $c["noise_rms"], $c["b_simple"],
               $c["noise_q99_q50"], $c["hill_alpha"], $c["hill_lo"], $c["hill_hi"], $c["stable_alpha"],
               $c["stable_lo"], $c["stable_hi"], $c["seconds"] }' "$OUT/$m/gradstats.csv"
    echo "== $m: smoothness envelope (summary.json)"
    grep -A6 '"smoothness"' "$OUT/$m/summary.json"
    echo "== $m: seconds per smoothness measurement (mean), training $(grep -o '"train_[a-z]*_per_s":[^,]*' "$OUT/$m/summary.json")"
    awk -F, 'NR > 1 { s += $7; n++ } END { printf "%.2f s over %d measurements\n", s / n, n }' "$OUT/$m/smoothness.csv"
    echo "== $m: online noise scale (steps.csv, mean of the last 100 steps of each epoch)"
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
             { e = $2; v[e, ++n[e]] = $c["noise_scale"] }
             END { for (e = 1; e in n; e++) { s = 0; k = 0; for (i = n[e] - 99; i <= n[e]; i++) if (i > 0) { s += v[e, i]; k++ }
                   printf "epoch %d: %.4g\n", e, s / k } }' "$OUT/$m/steps.csv"
done
