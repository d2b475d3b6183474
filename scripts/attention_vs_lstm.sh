#!/bin/sh
# Is the gap between SGD and Adam larger on attention than on an LSTM? (the ACClip paper's claim, at laptop scale)
# SGD, clipped SGD, Adam and ACClip train tfm-small (4.96M parameters) and zaremba-small (4.65M) on the same PTB
# text for the same budget of 409,600 training tokens (tfm-small: 200 steps of 32 x 64 tokens; zaremba-small: 1,024
# steps of 20 x 20), under the same schedule for every method (linear warm-up over the first 10% of the steps, then
# cosine to 0). Each method is tuned on a 4-5 point learning-rate grid at seed 1 (wide enough that no chosen rate is
# at its edge) and its best rate (final validation loss) rerun at seeds 2 and 3, then `nnopt report` per model.
# Clipped SGD clips at each preset's threshold (zaremba-small 0.25, tfm-small 1); the others do not clip. The
# optimizers run at PyTorch's defaults without weight decay (tfm-small's preset AdamW arguments are replaced).
# Then the Transformer's gradient noise: `nnopt gradstats` with the preset (AdamW) for 2 epochs, the noise norms
# ||g_B - grad f|| over the first 150,000 training tokens in batches of 2 and 6 windows (128 and 384 tokens) at
# initialisation and after each epoch: tail indices and q99/median, as scripts/instruments.sh measures the LSTM's
# (batches of 100 and 400 tokens). Running it again continues the sweeps where they stopped (finished runs are
# kept). About 3 hours of CPU.
# Usage: scripts/attention_vs_lstm.sh [OUT]   (default runs/attention-vs-lstm; JOBS=2 runs at a time)
set -eu
nnopt=${NNOPT:-./nnopt}
out=${1:-runs/attention-vs-lstm}
jobs=${JOBS:-2}
common="--epochs 1 --schedule cosine --seeds 3"

"$nnopt" sweep --out "$out/tfm-small" --jobs "$jobs" --preset tfm-small --max-steps 200 --warmup 20 $common \
    --optim-args weight_decay=0 \
    --method sgd      --optim sgd    --clip 0 --grid lr=0.1,0.3,1,3 \
    --method sgd-clip --optim sgd    --clip 1 --grid lr=0.3,1,3,10 \
    --method adam     --optim adam   --clip 0 --grid lr=0.0005,0.001,0.002,0.004 \
    --method acclip   --optim acclip --clip 0 --grid lr=0.1,0.3,1,3,10
"$nnopt" report "$out/tfm-small"

"$nnopt" sweep --out "$out/zaremba-small" --jobs "$jobs" --preset zaremba-small --max-steps 1024 --warmup 102 $common \
    --method sgd      --optim sgd    --clip 0    --grid lr=1,3,10,30,100 \
    --method sgd-clip --optim sgd    --clip 0.25 --grid lr=10,20,40,80 \
    --method adam     --optim adam   --clip 0    --grid lr=0.001,0.002,0.004,0.008 \
    --method acclip   --optim acclip --clip 0    --grid lr=10,20,40,80,160
"$nnopt" report "$out/zaremba-small"

[ -e "$out/tfm-small-noise" ] ||
    "$nnopt" gradstats --preset tfm-small --epochs 2 --stats-epochs 0,1,2 --stats-tokens 150000 --batch-sizes 2,6 \
        --out "$out/tfm-small-noise" | grep -v '^epoch .* step '
