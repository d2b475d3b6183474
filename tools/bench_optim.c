// `nnopt bench-optim`: nanoseconds per parameter per step of optimizer steps on zaremba-small's parameter count,
// next to a plain copy of the same arrays (the memory-bandwidth floor). An optimizer step should cost one or two
// passes over its arrays.
#include "cli.h"
#include "nn/check.h"
#include "optim/clip.h"
#include "optim/optimizer.h"

#include <stdlib.h>
#include <string.h>

static double per_param_ns(double seconds, long steps, size_t n) { return seconds / (double)steps / n * 1e9; }

int cmd_bench_optim(int argc, char **argv) {
    long steps = 50;
    size_t n = 4653200; // zaremba-small
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = cli_long("--steps", argv[++i], 1, 100000);
        else if (strcmp(argv[i], "--params") == 0 && i + 1 < argc)
            n = (size_t)cli_long("--params", argv[++i], 1, 1L << 31);
        else NN_FATAL("bench-optim: unknown argument '%s'; accepted: --steps N (50), --params N (4653200)", argv[i]);
    }
    float *x = nn_alloc_floats(n), *g = nn_alloc_floats(n), *g0 = nn_alloc_floats(n), *y = nn_alloc_floats(n);
    for (size_t i = 0; i < n; i++) g0[i] = 1e-3f * (float)((i * 2654435761u) % 2001) - 1.0f, x[i] = 0.01f;
    ParamView view = {.name = "all", .offset = 0, .size = n};

    double t = now_seconds();
    for (long s = 0; s < steps; s++) memcpy(y, x, n * sizeof(float));
    double copy = per_param_ns(now_seconds() - t, steps, n);
    printf("bench-optim params=%zu copy_ns=%.3f (memcpy of one array: the floor)\n", n, copy);
    const struct { const char *label, *name, *args; float clip; } cases[] = {
        {"sgd", "sgd", "", 0}, {"sgd+clip", "sgd", "", 1e-3f}, {"sgd-momentum", "sgd", "momentum=0.9", 0},
        {"adam", "adam", "", 0}, {"acclip", "acclip", "", 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Optimizer *o = optim_create(cases[k].name, cases[k].args);
        o->step(o, x, g0, n, &view, 1, 1e-4f); // allocates its state outside the timing
        double total = 0;
        for (long s = 0; s < steps; s++) {
            memcpy(g, g0, n * sizeof(float)); // clipping scales g in place: restore it (not timed)
            double t0 = now_seconds();
            if (cases[k].clip > 0) optim_clip(CLIP_NORM, g, n, &view, 1, cases[k].clip, NULL);
            o->step(o, x, g, n, &view, 1, 1e-4f);
            total += now_seconds() - t0;
        }
        double ns = per_param_ns(total, steps, n);
        printf("bench-optim %-13s ns_per_param=%.3f  (%.2fx the copy)\n", cases[k].label, ns, ns / copy);
        optim_free(o);
    }
    free(x), free(g), free(g0), free(y);
    return 0;
}
