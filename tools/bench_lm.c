// `nnopt bench`: training and evaluation tokens/s of a language-model preset, on random token ids (the cost does
// not depend on the data). Training = zero grads, forward, backward, clip, SGD step; evaluation = forward only.
#include "cli.h"
#include "lm_config.h"
#include "models/lstm_lm.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "optim/clip.h"
#include "optim/optimizer.h"

#include <stdlib.h>
#include <string.h>

int cmd_bench_cifar(int argc, char **argv); // bench_cifar.c

int cmd_bench(int argc, char **argv) {
    for (int i = 1; i < argc; i++) // `nnopt bench --model resnet20`: the CIFAR ResNets (tools/bench_cifar.c)
        if (strcmp(argv[i], "--model") == 0 || strncmp(argv[i], "--model=", 8) == 0)
            return cmd_bench_cifar(argc, argv);
    // --steps is bench's own flag; everything else is a train-lm flag
    long steps = 0;
    char **rest = nn_malloc((size_t)(argc + 1) * sizeof *rest);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = cli_long("--steps", argv[++i], 1, 1000000);
        else rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    LmRunConfig cfg;
    lm_config_parse(&cfg, nrest, rest, "nnopt bench [--steps N]");
    if (steps == 0) steps = cfg.hidden >= 600 ? 10 : 30;
    nn_set_threads(cfg.threads);

    int V = 10000, T = cfg.bptt, N = cfg.batch;
    LmConfig mc = lm_config_model(&cfg, V, N, "--batch, --bptt or --hidden");
    LstmLM m;
    lm_init(&m, &mc);
    Rng rng;
    rng_seed(&rng, cfg.seed);
    lm_init_uniform(&m, cfg.init_range, &rng);
    Optimizer *opt = optim_create("sgd", NULL);
    long rows = (long)T * N;
    int *x = nn_malloc((size_t)rows * sizeof(int)), *y = nn_malloc((size_t)rows * sizeof(int));
    for (long i = 0; i < rows; i++) x[i] = (int)rng_below(&rng, (uint32_t)V), y[i] = (int)rng_below(&rng, (uint32_t)V);

    double t_train = 0, t_eval = 0;
    const int warmup = 2;
    for (long s = 0; s < warmup + steps; s++) {
        double t = now_seconds();
        params_zero_grad(&m.params);
        lm_draw_masks(&m, T, N, &rng);
        lm_forward(&m, x, y, T, N, 1);
        lm_backward(&m, x, T, N);
        optim_clip_global_norm(m.params.grad, m.params.n, cfg.setup.clip, NULL);
        opt->step(opt, m.params.param, m.params.grad, m.params.n, m.params.views, m.params.nviews,
                  cfg.setup.lr);
        if (s >= warmup) t_train += now_seconds() - t;
    }
    lm_reset_state(&m);
    for (long s = 0; s < warmup + steps; s++) {
        double t = now_seconds();
        lm_forward(&m, x, y, T, N, 0);
        if (s >= warmup) t_eval += now_seconds() - t;
    }
    printf("nnopt %s threads=%d train_tok_s=%.1f eval_tok_s=%.1f\n", cfg.preset, cfg.threads,
           rows * steps / t_train, rows * steps / t_eval);
    free(x), free(y), free(rest);
    optim_free(opt);
    lm_free(&m);
    return 0;
}
