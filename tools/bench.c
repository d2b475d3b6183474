// `nnopt bench --preset NAME [--steps N] [flags]`: training and evaluation throughput of any workload's preset, on
// its first batch of real data (the cost does not depend on the data). Training = zero the gradient, the workload's
// PASS_TRAIN batch (forward and backward), clip and the run's optimizer step; evaluation = a PASS_EVAL batch. Prints
// "nnopt PRESET threads=N train_U_s=X eval_U_s=Y train_gflops=F eval_gflops=G gemm=KERNEL" with U the short unit
// bench/run.sh and the PyTorch scripts use; F and G count the flops of the matrix products (nn_gemm_macs, 2 per
// multiply-add) over the whole step's time. `nnopt bench --peak [--threads N]` prints the FMA peak instead.
#include "cli.h"
#include "fma_peak.h"
#include "run_config.h"
#include "train_common.h"
#include "workloads/workload.h"
#include "nn/blas.h"
#include "nn/check.h"

#include <stdlib.h>
#include <string.h>

// Seconds per call of one kind of step: 2 warm-up calls, then `steps` timed ones (0: at least 3 and 2 seconds);
// *macs gets the matrix products' multiply-adds per timed call.
static double time_steps(const RunConfig *cfg, Workload *w, TrainParts *parts, const long *ids, int k, Pass pass,
                         long steps, double *macs) {
    const WorkloadOps *ops = cfg->ops;
    Params *P = ops->params(w);
    double t = 0;
    long done = 0;
    long long macs0 = 0;
    for (long s = 0; steps ? s < steps + 2 : (done < 3 || t < 2.0); s++) {
        double t0 = now_seconds();
        if (pass == PASS_TRAIN) {
            params_zero_grad(P);
            StepResult r = {.loss = ops->batch(w, PASS_TRAIN, ids, k).loss};
            train_clip_and_step(&r, P, parts, &cfg->setup, NULL, cfg->setup.lr);
        } else {
            ops->batch(w, PASS_EVAL, ids, k);
        }
        if (s >= 2) t += now_seconds() - t0, done++;
        if (s == 1) macs0 = nn_gemm_macs();
    }
    *macs = (double)(nn_gemm_macs() - macs0) / (double)done;
    return t / (double)done;
}

// `nnopt bench --peak [--threads N]`: the FMA peak at 256 and 512 bits on N threads (default 1), one line.
static int print_peak(int argc, char **argv) {
    int threads = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = (int)cli_long("--threads", argv[++i], 1, 64);
        else if (strcmp(argv[i], "--peak") != 0)
            NN_FATAL("bench --peak: unknown argument '%s'; accepted: --threads N", argv[i]);
    }
    printf("peak threads=%d avx2_gflops=%.1f avx512_gflops=%.1f\n", threads, fma_peak_gflops(256, threads),
           fma_peak_gflops(512, threads));
    return 0;
}

int cmd_bench(int argc, char **argv) {
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--peak") == 0) return print_peak(argc, argv);
    long steps = 0; // --steps is bench's own flag; everything else is a training flag
    char **rest = nn_malloc((size_t)(argc + 1) * sizeof *rest);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = cli_long("--steps", argv[++i], 1, 1000000);
        else rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    RunConfig cfg;
    run_config_parse(&cfg, nrest, rest, "nnopt bench [--steps N]   (or: nnopt bench --peak [--threads N])", NULL);
    nn_set_threads(cfg.threads);
    const WorkloadOps *ops = cfg.ops;
    Workload *w = ops->create(&cfg);
    int k = ops->units_per_step(w);
    long *ids = nn_malloc((size_t)k * sizeof(long));
    for (int j = 0; j < k; j++) ids[j] = j;
    TrainParts parts;
    TrainSetup setup = cfg.setup;
    setup.schedule = "constant", setup.warmup = 0;
    train_parts_init(&parts, &setup, 1L << 40);
    long examples = ops->batch(w, PASS_EVAL, ids, k).examples;
    double m_train, m_eval;
    double t_train = time_steps(&cfg, w, &parts, ids, k, PASS_TRAIN, steps, &m_train);
    double t_eval = time_steps(&cfg, w, &parts, ids, k, PASS_EVAL, steps, &m_eval);
    const char *unit = strcmp(ops->unit, "tokens") == 0 ? "tok" : strcmp(ops->unit, "images") == 0 ? "img" : ops->unit;
    printf("# nnopt %s (%s): %zu parameters, %ld %s per step\n", cfg.preset, ops->name, ops->params(w)->n, examples,
           ops->unit);
    printf("nnopt %s threads=%d train_%s_s=%.1f eval_%s_s=%.1f train_gflops=%.1f eval_gflops=%.1f gemm=%s\n",
           cfg.preset, cfg.threads, unit, (double)examples / t_train, unit, (double)examples / t_eval,
           2 * m_train / t_train / 1e9, 2 * m_eval / t_eval / 1e9, nn_gemm_kernel());
    free(ids), free(rest);
    train_parts_free(&parts);
    ops->destroy(w);
    run_config_free(&cfg);
    return 0;
}
