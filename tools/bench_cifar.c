// `nnopt bench --model resnet20`: training and evaluation images/s of a CIFAR ResNet on random images and labels
// (the cost does not depend on the data). Training = zero grads, forward with batch statistics, backward, clip (when
// --clip is set), the run's optimizer step (the presets' SGD with momentum and weight decay); evaluation = forward
// with the running statistics. Batches are made once, so the data pipeline (cifar_batch: about 1% of a ResNet-8
// step) is not timed, as in bench/cifar_torch.py.
#include "cifar_config.h"
#include "cli.h"
#include "train_common.h"
#include "data/cifar10.h"
#include "nn/blas.h"
#include "nn/check.h"

#include <stdlib.h>
#include <string.h>

int cmd_bench_cifar(int argc, char **argv) {
    // --steps is bench's own flag; everything else is a train-cifar flag
    long steps = 0;
    char **rest = nn_malloc((size_t)(argc + 1) * sizeof *rest);
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = cli_long("--steps", argv[++i], 1, 1000000);
        else rest[nrest++] = argv[i];
    }
    rest[nrest] = NULL;
    CifarRunConfig cfg;
    cifar_config_parse(&cfg, nrest, rest, "nnopt bench --model NAME [--steps N]");
    nn_set_threads(cfg.threads);

    int N = cfg.batch;
    ResNetConfig mc = cifar_config_model(&cfg, N);
    ResNet m;
    resnet_init(&m, &mc);
    Rng rng;
    rng_seed(&rng, cfg.seed);
    resnet_init_he(&m, &rng);
    // a few seconds per configuration on 2 cores: ResNet-8 trains ~3x as fast as ResNet-20 (bench/cifar_torch.py
    // times as many steps)
    if (steps == 0) steps = mc.blocks <= 1 ? 12 : mc.blocks <= 3 ? 5 : 3;
    const int warmup = 2;
    TrainParts parts;
    cfg.setup.schedule = "constant";
    train_parts_init(&parts, &cfg.setup, warmup + steps);
    float *x = nn_alloc_floats((size_t)N * CIFAR_PIXELS);
    int *y = nn_malloc((size_t)N * sizeof(int));
    for (long i = 0; i < (long)N * CIFAR_PIXELS; i++) x[i] = rng_normal(&rng);
    for (int i = 0; i < N; i++) y[i] = (int)rng_below(&rng, CIFAR_CLASSES);

    double t_train = 0, t_eval = 0, loss = 0;
    for (long s = 0; s < warmup + steps; s++) {
        double t = now_seconds();
        params_zero_grad(&m.params);
        StepResult r = {.loss = resnet_forward(&m, x, y, N, 1)};
        resnet_backward(&m);
        train_clip_and_step(&r, &m.params, &parts, &cfg.setup, NULL, cfg.setup.lr);
        if (s >= warmup) t_train += now_seconds() - t;
        loss = r.loss;
    }
    for (long s = 0; s < warmup + steps; s++) {
        double t = now_seconds();
        resnet_forward(&m, x, y, N, 0);
        if (s >= warmup) t_eval += now_seconds() - t;
    }
    printf("# nnopt %s width %g: %ld parameters, batch %d, %d warmup + %ld timed steps, last training loss %.3f\n",
           cfg.model, cfg.width, resnet_param_count(&m), N, warmup, steps, loss);
    printf("nnopt %s threads=%d train_img_s=%.1f eval_img_s=%.1f\n", cfg.model, cfg.threads,
           (double)N * steps / t_train, (double)N * steps / t_eval);
    free(x), free(y), free(rest);
    train_parts_free(&parts);
    resnet_free(&m);
    return 0;
}
