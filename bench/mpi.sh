#!/usr/bin/env bash
# Usage: bench/mpi.sh PLAIN_NNOPT MPI_NNOPT [README]   (make bench-mpi)
# Data parallelism on this machine and a model of it on a cluster (tools/dist.h).
# 1. zaremba-small and zaremba-medium training tokens/s: one process on 2 threads (--grad-blocks 1, and 2), and
#    2 MPI ranks x 1 thread (--grad-blocks 2: the bits of the run before it); the time in the ordered block sums
#    (all-to-all, sums, all-gather) per step and its share. Each configuration twice, alternated.
# 2. zaremba-medium on one process and one thread with --grad-blocks G = 1, 2, 4, 5, 10, 20: a block's forward and
#    backward time at N / G streams (what each of P = G ranks computes), and the rest of a step (clipping, the
#    optimizer, the online statistics: every rank repeats it). With the all-reduce's bytes over a network
#    (2 (P-1)/P of the 4n-byte gradient per rank, 2 (P-1) messages), the modelled step time on P nodes.
# With README, the tables, headed by the date, commit and CPU, replace what lies between its "<!-- mpi:begin -->"
# and "<!-- mpi:end -->" lines. MPI_FROM=LOG makes the tables from an earlier run's output without measuring.
set -euo pipefail
PLAIN=${1:?usage: bench/mpi.sh PLAIN_NNOPT MPI_NNOPT [README]}
MPI=${2:?usage: bench/mpi.sh PLAIN_NNOPT MPI_NNOPT [README]}
README=${3:-}
if [ -n "$README" ]; then
  grep -q '^<!-- mpi:begin -->$' "$README" && grep -q '^<!-- mpi:end -->$' "$README" ||
    { echo "bench/mpi.sh: $README has no <!-- mpi:begin --> and <!-- mpi:end --> lines" >&2; exit 1; }
fi
STEPS_SMALL=${MPI_STEPS_SMALL:-300}
STEPS_MEDIUM=${MPI_STEPS_MEDIUM:-60}
STEPS_MODEL=${MPI_STEPS_MODEL:-12}
tmp=$(mktemp -d)
results=$tmp/results
trap 'rm -rf "$tmp"' EXIT

num() { sed -n "s/.*\"$2\":[[:space:]]*\([-0-9.e+]*\).*/\1/p" "$1" | head -1; }
# run NAME PRESET STEPS BLOCKS RANKS THREADS: one training run, its result line into $results
run() {
  local out=$tmp/$1 cmd=("$PLAIN")
  [ "$5" -gt 1 ] && cmd=(mpirun --allow-run-as-root --oversubscribe -np "$5" "$MPI")
  "${cmd[@]}" train --preset "$2" --max-steps "$3" --grad-blocks "$4" --threads "$6" --eval-tokens 2000 \
    --out "$out" --overwrite >"$out.log" 2>&1 || { cat "$out.log" >&2; exit 1; }
  local s=$out/summary.json
  echo "run name=$1 preset=$2 blocks=$4 ranks=$5 threads=$6 steps=$(num "$s" steps)" \
       "tok_s=$(num "$s" train_tokens_per_s) train_s=$(num "$s" train_seconds) batch_s=$(num "$s" batch_seconds)" \
       "sums_s=$(num "$s" block_sum_seconds) params=$(num "$s" parameters)" >>"$results"
  tail -1 "$results"
}

if [ -n "${MPI_FROM:-}" ]; then
  cp "$MPI_FROM" "$results"
else
  : >"$results"
  echo "meta commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown) date=$(date -u +%Y-%m-%d)" >>"$results"
  cat "$results" # this output, saved, is a LOG for MPI_FROM
  for preset in zaremba-small zaremba-medium; do
    steps=$STEPS_SMALL; [ $preset = zaremba-medium ] && steps=$STEPS_MEDIUM
    for rep in 1 2; do
      run "$preset-1x2-g1-$rep" $preset "$steps" 1 1 2
      run "$preset-1x2-g2-$rep" $preset "$steps" 2 1 2
      run "$preset-2x1-g2-$rep" $preset "$steps" 2 2 1
    done
  done
  for g in 1 2 4 5 10 20; do run "model-g$g" zaremba-medium "$STEPS_MODEL" "$g" 1 1; done
fi

cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
block=$tmp/block
awk -v cpu="${cpu:-unknown}, $(nproc) cores" -v mpi="$(mpirun --version 2>/dev/null | head -1)" '
  { delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
  $1 == "meta" { commit = f["commit"]; date = f["date"] }
  $1 == "run" && f["name"] !~ /^model/ {
    split(f["name"], part, "-"); key = f["preset"] " " part[3] " " part[4]
    if (!(key in n)) order[++keys] = key
    n[key]++; tok[key, n[key]] = f["tok_s"]; step_ms[key, n[key]] = 1000 * f["train_s"] / f["steps"]
    sums_ms[key, n[key]] = f["sums_s"] == "" ? 0 : 1000 * f["sums_s"] / f["steps"]
    desc[key] = f["ranks"] " x " f["threads"] " thread" (f["threads"] > 1 ? "s" : "") ", G = " f["blocks"]
    preset[key] = f["preset"]
  }
  $1 == "run" && f["name"] ~ /^model/ {
    g = f["blocks"]; G[++ng] = g; params = f["params"]; steps = f["steps"]
    block_ms[g] = 1000 * f["batch_s"] / steps / g
    rest_ms[g] = 1000 * (f["train_s"] - f["batch_s"] - (f["sums_s"] == "" ? 0 : f["sums_s"])) / steps
    sum_ms[g] = f["sums_s"] == "" ? 0 : 1000 * f["sums_s"] / steps
  }
  function range(a, b) { return a == b || b == "" ? sprintf("%.0f", a) : sprintf("%.0f, %.0f", a, b) }
  function ranged(a, b, d) { return sprintf("%." d "f, %." d "f", a, b) }
  END {
    printf "Measured %s, commit %s, %s, %s; `make bench-mpi` wrote these tables. ", date, commit, cpu, mpi
    print "Training steps only (evaluation is not shared out), two runs of each, alternated.\n"
    print "| preset | processes x threads | tokens/s | ms per step | of which in the block sums | share |"
    print "| --- | --- | --- | --- | --- | --- |"
    for (i = 1; i <= keys; i++) { k = order[i]
      printf "| %s | %s | %s | %s | %s | %s |\n", preset[k], desc[k], range(tok[k, 1], tok[k, 2]),
        range(step_ms[k, 1], step_ms[k, 2]), ranged(sums_ms[k, 1], sums_ms[k, 2], 1),
        sprintf("%.1f%%, %.1f%%", 100 * sums_ms[k, 1] / step_ms[k, 1], 100 * sums_ms[k, 2] / step_ms[k, 2]) }
    bytes = 4 * params
    printf "\nA model of zaremba-medium (%.1f M parameters, a %.0f MB gradient) on P nodes, one rank each, ", \
      params / 1e6, bytes / 1e6
    printf "from measurements on one process and one thread here: with G = P blocks of 20 / P streams, a rank "
    printf "computes one block (measured: the forward and backward time of a run with G blocks, over G), then "
    printf "repeats the rest of the step (clipping, the SGD update, the online statistics: measured), and the "
    printf "ordered sums move 2 (P - 1) / P of the gradient per rank in 2 (P - 1) messages; local packing and "
    printf "summing as measured for G = 2 on one process. Bandwidth and latency: 10 Gb Ethernet (1.25 GB/s, "
    printf "50 us) and 100 Gb InfiniBand (12.5 GB/s, 2 us).\n\n"
    print "| P | streams per rank | block ms | rest ms | comm ms, 10GbE | step ms | speed-up | comm ms, IB | step ms | speed-up |"
    print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    t1 = block_ms[1] + rest_ms[1]
    for (i = 1; i <= ng; i++) { g = G[i]
      local = g > 1 ? sum_ms[2] : 0
      e = g > 1 ? 1000 * (2 * (g - 1) / g * bytes / 1.25e9 + 2 * (g - 1) * 50e-6) + local : 0
      b = g > 1 ? 1000 * (2 * (g - 1) / g * bytes / 12.5e9 + 2 * (g - 1) * 2e-6) + local : 0
      te = block_ms[g] + rest_ms[1] + e; tb = block_ms[g] + rest_ms[1] + b
      printf "| %d | %d | %.0f | %.0f | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |\n", g, 20 / g, block_ms[g],
        rest_ms[1], e, te, t1 / te, b, tb, t1 / tb }
  }' "$results" > "$block"
cat "$block"
if [ -n "$README" ]; then
  awk -v block="$block" '
    $0 == "<!-- mpi:end -->" { while ((getline line < block) > 0) print line; skip = 0 }
    !skip { print }
    $0 == "<!-- mpi:begin -->" { skip = 1 }' "$README" > "$README.mpi.tmp" && mv "$README.mpi.tmp" "$README"
  echo "bench/mpi.sh: wrote the tables into $README"
fi
