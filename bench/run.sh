#!/usr/bin/env bash
# Usage: bench/run.sh NNOPT_BINARY [README]
# Tokens/s of the Zaremba LSTM LM presets and the Transformer's (`nnopt bench --preset P --threads 2`) and images/s
# of the CIFAR ResNets at batch 128 (`nnopt bench --preset M --threads 2`) against PyTorch (bench/lm_torch.py,
# bench/tfm_torch.py, bench/cifar_torch.py) run in separate processes under several threading settings; the FMA peak
# (`nnopt bench --peak`), the products' GFLOP/s, and the optimizer steps against their memory-traffic floors
# (`nnopt bench-optim`). Prints every result line, then tables of nnopt, the best torch setting and the ratio
# nnopt / best torch, for training and evaluation. With README, the same tables in markdown, headed by the date, the
# commit and the CPU, replace what lies between its "<!-- bench:begin -->" and "<!-- bench:end -->" lines (written
# to a temporary file, then renamed). BENCH_FROM=LOG measures nothing and makes the tables from the result lines of
# an earlier run's output (LOG), e.g. to write them into the README again. Exits non-zero if nnopt fails.
set -euo pipefail
NNOPT=${1:?usage: bench/run.sh NNOPT_BINARY [README]}
README=${2:-}
if [ -n "$README" ]; then
  grep -q '^<!-- bench:begin -->$' "$README" && grep -q '^<!-- bench:end -->$' "$README" ||
    { echo "bench/run.sh: $README has no <!-- bench:begin --> and <!-- bench:end --> lines" >&2; exit 1; }
fi
PY=/usr/bin/python3
TORCH_SCRIPT=$(dirname "$0")/lm_torch.py
CIFAR_TORCH_SCRIPT=$(dirname "$0")/cifar_torch.py
TFM_TORCH_SCRIPT=$(dirname "$0")/tfm_torch.py
# what to measure; the environment can narrow it (BENCH_LM_PRESETS= bench/run.sh ./nnopt: the ResNets only)
PRESETS=${BENCH_LM_PRESETS-zaremba-small zaremba-medium}
TFM_PRESETS=${BENCH_TFM_PRESETS-tfm-small}
MODELS=${BENCH_CIFAR_MODELS-resnet8 resnet20}

# PyTorch threading settings: "<name> <torch script args> <environment>". Each runs in a fresh process, because the
# BLAS reads its thread count once when it loads and inter-op threads can be set only once per process.
#   1        torch.set_num_threads(1), set_num_interop_threads(1), and OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=
#            MKL_NUM_THREADS=1: Debian's torch runs matrix products in OpenBLAS (pthreads), which ignores
#            set_num_threads and takes its thread count from those variables, so without them "1 thread" would
#            still run its products on every core. MKL_NUM_THREADS only matters for an MKL build.
#   2        the same with 2: torch's OpenMP element-wise ops and the BLAS each use 2 threads; plus
#            OMP_WAIT_POLICY=PASSIVE so that idle OpenMP workers sleep instead of spinning: otherwise they spin on the
#            cores OpenBLAS's own threads need, and 2 threads run 2-3x slower than 1 (measured on our 2-core VM).
#   default  no call, no variable: torch picks its own intra-op count (1 on our 2-core VM) and the BLAS uses
#            every core.
SETTINGS=(
  "1|--threads 1 --interop 1|OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1"
  "2|--threads 2 --interop 1|OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 MKL_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE"
  "default|--threads 0|"
)
UNSET="-u OMP_NUM_THREADS -u OPENBLAS_NUM_THREADS -u MKL_NUM_THREADS -u GOTO_NUM_THREADS -u OMP_WAIT_POLICY"

have_torch=1
$PY -c 'import torch' 2>/dev/null ||
  { have_torch=0; echo "# PyTorch not found (apt-get install python3-torch); reference skipped"; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
if [ -n "${BENCH_FROM:-}" ]; then
  grep -E '^(meta|peak|nnopt|torch|bench-optim|bench-optim-noise) ' "$BENCH_FROM" > "$results" ||
    { echo "bench/run.sh: no result lines in $BENCH_FROM" >&2; exit 1; }
  PRESETS= TFM_PRESETS= MODELS=
else
  # what was measured, for the tables: the commit (marked when the tree has changes) and the day
  commit=$(git -C "$(dirname "$0")" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  git -C "$(dirname "$0")" diff --quiet HEAD -- . ':!README.md' 2>/dev/null || commit="$commit+changes"
  echo "meta commit=$commit date=$(date -u +%Y-%m-%d)" | tee -a "$results"
  # the FMA peak on the threads nnopt uses: what the products' GFLOP/s are measured against
  "$NNOPT" bench --peak --threads 2 | tee -a "$results"
fi
# nnopt's line for preset $1, then torch's under every setting: $2 the torch script, the rest its arguments
measure() {
  local preset=$1 script=$2 line s name args vars
  shift 2
  line=$("$NNOPT" bench --preset "$preset" --threads 2 | grep "^nnopt $preset ") ||
    { echo "bench/run.sh: '$NNOPT bench --preset $preset --threads 2' failed or printed no result line" >&2; exit 1; }
  echo "$line" | tee -a "$results"
  [ $have_torch = 1 ] || return 0
  for s in "${SETTINGS[@]}"; do
    IFS='|' read -r name args vars <<< "$s"
    # shellcheck disable=SC2086  # word splitting of $UNSET $vars $args is intended
    if line=$(env $UNSET $vars $PY "$script" "$@" $args | grep "^torch $preset "); then
      echo "$line setting=$name" | tee -a "$results"
    else
      echo "# torch $preset setting $name failed; left out"
    fi
  done
}
for preset in $PRESETS; do measure "$preset" "$TORCH_SCRIPT" --preset "$preset"; done
for preset in $TFM_PRESETS; do measure "$preset" "$TFM_TORCH_SCRIPT" --preset "$preset"; done
for model in $MODELS; do measure "$model" "$CIFAR_TORCH_SCRIPT" --model "$model"; done

# Tables: per preset (model) and metric, nnopt, the best torch setting and nnopt / best torch; one table for the
# language model (tokens/s, lines with train_tok_s) and one for the ResNets (images/s, lines with train_img_s).
table() { # UNIT (tok or img) HEADING
awk -v unit="$1" -v heading="$2" '
  { delete f; for (i = 3; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
  !(("train_" unit "_s") in f) { next }
  $1 == "nnopt" { order[++n] = $2; nn_tr[$2] = f["train_" unit "_s"]; nn_ev[$2] = f["eval_" unit "_s"] }
  $1 == "torch" {
    if (f["train_" unit "_s"] + 0 > bt_tr[$2] + 0) { bt_tr[$2] = f["train_" unit "_s"]; st_tr[$2] = f["setting"] }
    if (f["eval_" unit "_s"] + 0 > bt_ev[$2] + 0) { bt_ev[$2] = f["eval_" unit "_s"]; st_ev[$2] = f["setting"] }
  }
  function cell(nn, bt, st) {
    if (bt == "") return sprintf("%10.1f %10s %-9s %6s", nn, "-", "", "-")
    return sprintf("%10.1f %10.1f %-9s %6.2f", nn, bt, "(" st ")", nn / bt)
  }
  END {
    if (n == 0) exit
    printf "\n%-15s | %-38s | %s\n", "", "training " heading, "evaluation " heading
    h = sprintf("%10s %10s %-9s %6s", "nnopt", "best torch", "(threads)", "ratio")
    printf "%-15s | %s | %s\n", "preset", h, h
    for (i = 1; i <= n; i++) { p = order[i]
      printf "%-15s | %s | %s\n", p, cell(nn_tr[p], bt_tr[p], st_tr[p]), cell(nn_ev[p], bt_ev[p], st_ev[p]) }
  }' "$results"
}
table tok "tokens/s"
table img "images/s (batch 128)"

# Optimizer steps: nanoseconds per parameter on zaremba-small's parameter count, against each one's floor.
echo
if [ -z "${BENCH_FROM:-}" ]; then
  "$NNOPT" bench-optim | tee -a "$results" || { echo "bench/run.sh: '$NNOPT bench-optim' failed" >&2; exit 1; }
fi
[ -n "$README" ] || exit 0

# The README's tables: throughput against PyTorch, the products' GFLOP/s against the FMA peak, the optimizers.
cpu=$(LC_ALL=C lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -1)
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
case "$flags" in *avx512f*) isa="AVX-512";; *avx2*) isa="AVX2";; *) isa="no AVX2";; esac
block=$(mktemp)
trap 'rm -f "$results" "$block"' EXIT
awk -v cpu="${cpu:-unknown} ($isa, $(nproc) cores)" \
    -v coretype="${OPENBLAS_CORETYPE:-unset}" '
  { delete f; for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] } }
  $1 == "meta" { split($2, kv, "="); commit = kv[2]; split($3, kv, "="); date = kv[2] }
  $1 == "peak" { p256 = f["avx2_gflops"]; p512 = f["avx512_gflops"]; pthreads = f["threads"] }
  $1 == "nnopt" {
    u = ("train_tok_s" in f) ? "tok" : "img"; order[++n] = $2; unit[$2] = u == "tok" ? "tokens/s" : "images/s"
    nn_tr[$2] = f["train_" u "_s"]; nn_ev[$2] = f["eval_" u "_s"]; gf_tr[$2] = f["train_gflops"]
    gf_ev[$2] = f["eval_gflops"]; gemm = f["gemm"]
  }
  $1 == "torch" {
    u = ("train_tok_s" in f) ? "tok" : "img"
    if (f["train_" u "_s"] + 0 > bt_tr[$2] + 0) { bt_tr[$2] = f["train_" u "_s"]; st_tr[$2] = f["setting"] }
    if (f["eval_" u "_s"] + 0 > bt_ev[$2] + 0) { bt_ev[$2] = f["eval_" u "_s"]; st_ev[$2] = f["setting"] }
  }
  $1 == "bench-optim" && $2 ~ /^params=/ { copy = f["copy_ns"]; split($2, kv, "="); params = kv[2] }
  $1 == "bench-optim" && $2 !~ /^params=/ { opt[++m] = $2; ons[$2] = f["ns_per_param"]; ofl[$2] = f["floor_ns"]
    split($5, b, "("); obytes[$2] = b[2] + 0; oxf[$2] = f["x_floor"] }
  $1 == "bench-optim-noise" { noise_values = f["values_ns"]; noise_norm = f["ball_norm_ns"] }
  function num(x) { # 1234567 -> 1,234,567
    x = sprintf("%.0f", x)
    while (match(x, /[0-9][0-9][0-9][0-9](,|$)/)) x = substr(x, 1, RSTART) "," substr(x, RSTART + 1)
    return x
  }
  function vs(nn, bt, st) { return bt == "" ? "- | - " : sprintf("%s (%s) | %.2f", num(bt), st, nn / bt) }
  END {
    if (commit == "") {
      print "bench/run.sh: the results have no meta line (commit, date)" > "/dev/stderr"; exit 1
    }
    peak = p512 > 0 ? p512 : p256
    printf "Measured %s, commit %s, %s; `make bench` wrote these tables. ", date, commit, cpu
    printf "nnopt `--threads 2`, its products in `%s`", gemm
    printf " (OPENBLAS_CORETYPE=%s); PyTorch in three threading settings, the best shown.\n\n", coretype
    print "| workload | unit | train nnopt | best torch (threads) | ratio | eval nnopt | best torch (threads) | ratio |"
    print "| --- | --- | --- | --- | --- | --- | --- | --- |"
    for (i = 1; i <= n; i++) { p = order[i]
      printf "| %s | %s | %s | %s | %s | %s |\n", p, unit[p], num(nn_tr[p]), vs(nn_tr[p], bt_tr[p], st_tr[p]),
        num(nn_ev[p]), vs(nn_ev[p], bt_ev[p], st_ev[p]) }
    printf "\nThe matrix products'\'' flops (2 per multiply-add, counted by nnopt) over the whole step'\''s time, "
    printf "against the FMA peak on %d threads (`nnopt bench --peak`): ", pthreads
    printf "%.0f GFLOP/s with AVX2, %.0f with AVX-512.\n\n", p256, p512
    print "| workload | train GFLOP/s | share of peak | eval GFLOP/s | share of peak |"
    print "| --- | --- | --- | --- | --- |"
    for (i = 1; i <= n; i++) { p = order[i]
      printf "| %s | %.1f | %.0f%% | %.1f | %.0f%% |\n", p, gf_tr[p], 100 * gf_tr[p] / peak, gf_ev[p],
        100 * gf_ev[p] / peak }
    printf "\nOptimizer steps over %s parameters on one thread (`nnopt bench-optim`, best of 50), ", num(params)
    printf "against each one'\''s floor: the bytes it must read and write per parameter over the bandwidth of a "
    printf "plain copy (%.3f ns per float copied).\n\n", copy
    print "| optimizer | ns per parameter | bytes | floor (ns) | x floor |"
    print "| --- | --- | --- | --- | --- |"
    for (i = 1; i <= m; i++) {
      o = opt[i]; printf "| %s | %.3f | %d | %.3f | %.2f |\n", o, ons[o], obytes[o], ofl[o], oxf[o]
    }
    if (noise_values != "") {
      printf "\nPerturbed SGD'\''s noise alone, on one thread: %.3f ns a value made into L1 (no memory traffic), ", noise_values
      printf "and %.3f ns a parameter for the ball'\''s norm (`noise=0`: a pass over the radii). ", noise_norm
      print "Its floor above counts only its 12 bytes."
    }
  }' "$results" > "$block"
tmp="$README.bench.tmp"
awk -v block="$block" '
  $0 == "<!-- bench:end -->" { while ((getline line < block) > 0) print line; skip = 0 }
  !skip { print }
  $0 == "<!-- bench:begin -->" { skip = 1 }' "$README" > "$tmp" && mv "$tmp" "$README"
echo "bench/run.sh: wrote the tables into $README"
