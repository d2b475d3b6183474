#!/bin/sh
# `make run`: the comparison protocol at toy scale (about 5 minutes on 2 cores). SGD, clipped SGD, Adam and ACClip
# train the toy LSTM language model on the first 160k PTB training tokens for 2 epochs (each token seen twice: too
# little to overfit); each method is tuned on a 3-point learning-rate grid at seed 1, and its best rate is rerun at
# seeds 2 and 3; the exact gradient statistics (per-batch cosines with the full gradient) are measured at the end of
# every run. Then nnopt report ranks the methods on the final validation loss. Running it again continues a stopped
# sweep (finished runs are kept); remove runs/main to start over.
set -eu
nnopt=${NNOPT:-./nnopt}
out=${OUT:-runs/main}
"$nnopt" sweep --out "$out" --jobs "${JOBS:-2}" \
    --preset toy --train-tokens 160000 --epochs 2 --schedule constant --clip 0 \
    --stats-epochs 2 --stats-tokens 20000 --batch-sizes 20 \
    --seeds 3 \
    --method sgd      --optim sgd    --grid lr=3,10,30 \
    --method sgd-clip --optim sgd    --clip 0.25 --grid lr=10,20,40 \
    --method adam     --optim adam   --grid lr=0.001,0.003,0.01 \
    --method acclip   --optim acclip --grid lr=10,30,100
"$nnopt" report "$out"
