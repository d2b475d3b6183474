// `nnopt bench-optim`: nanoseconds per parameter per step of every optimizer on zaremba-small's parameter count,
// each as a multiple of its own memory-traffic floor: the bytes per parameter it must read and write (4 per float
// array read, 4 per array written; a norm that the update depends on costs one more read of what it is taken of)
// divided by the bandwidth of a plain copy (8 bytes per float moved) measured in the same run. --threads N (1) for
// the copy and the optimizers alike (both share out blocks of NN_FLAT_BLOCK: a second core adds bandwidth to the
// one and arithmetic to the other); each figure is the best of --steps (50) runs.
#include "cli.h"
#include "nn/check.h"
#include "nn/noise.h"
#include "nn/parallel.h"
#include "optim/clip.h"
#include "optim/optimizer.h"

#include <stdlib.h>
#include <string.h>

static double per_param_ns(double seconds, long steps, size_t n) { return seconds / (double)steps / n * 1e9; }

typedef struct {
    float *y;
    const float *x;
    size_t n;
    int plain; // y = x + 0 in a loop (which the compiler may not turn into memcpy), else memcpy
} CopyJob;

static void copy_range(void *ctx, size_t lo, size_t hi) {
    const CopyJob *j = ctx;
    if (!j->plain) {
        memcpy(j->y + lo, j->x + lo, (hi - lo) * sizeof(float));
        return;
    }
    float *restrict y = j->y;
    const float *restrict x = j->x;
    for (size_t i = lo; i < hi; i++) y[i] = x[i] + 0.0f;
}

int cmd_bench_optim(int argc, char **argv) {
    long steps = 50;
    int threads = 1;
    size_t n = 4653200; // zaremba-small
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) steps = cli_long("--steps", argv[++i], 1, 100000);
        else if (strcmp(argv[i], "--params") == 0 && i + 1 < argc)
            n = (size_t)cli_long("--params", argv[++i], 1, 1L << 31);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (int)cli_long("--threads", argv[++i], 1, 256);
        else NN_FATAL("bench-optim: unknown argument '%s'; accepted: --steps N (50), --params N (4653200), "
                      "--threads N (1)", argv[i]);
    }
    nn_set_threads(threads);
    float *x = nn_alloc_floats(n), *g = nn_alloc_floats(n), *g0 = nn_alloc_floats(n), *y = nn_alloc_floats(n);
    for (size_t i = 0; i < n; i++) g0[i] = 1e-3f * (float)((i * 2654435761u) % 2001) - 1.0f, x[i] = 0.01f;
    ParamView view = {.name = "all", .offset = 0, .size = n};

    // the copy: the faster of memcpy and a plain loop (y = x + 0, which the compiler may not turn into memcpy), best
    // of `steps` each, so that the floor is as low as this machine's bandwidth allows
    double copy = 1e30;
    for (long s = 0; s < steps; s++) {
        CopyJob by_memcpy = {y, x, n, 0}, by_loop = {y, x, n, 1};
        double t0 = now_seconds();
        nn_parallel_ranges(n, copy_range, &by_memcpy);
        double t1 = now_seconds();
        nn_parallel_ranges(n, copy_range, &by_loop);
        double t2 = now_seconds(), best = t1 - t0 < t2 - t1 ? t1 - t0 : t2 - t1;
        if (best < copy) copy = best;
    }
    copy = per_param_ns(copy, 1, n);
    printf("bench-optim params=%zu threads=%d copy_ns=%.3f (a copy of one array: %.1f GB/s moved)\n", n, threads,
           copy, 8 / copy);
    // bytes per parameter: x and g read, x written (12), plus 8 per state array (read and written), plus 4 per
    // norm of g or of the momentum that the update needs before it can start (a pass of its own)
    const struct { const char *label, *name, *args; float clip; int bytes; } cases[] = {
        {"sgd", "sgd", "", 0, 12},
        {"sgd+clip", "sgd", "", 1e-3f, 16},             // the global norm of g first
        {"sgd-momentum", "sgd", "momentum=0.9", 0, 20}, // momentum_buffer
        {"adam", "adam", "", 0, 28},                    // exp_avg, exp_avg_sq
        {"adamw", "adamw", "", 0, 28},
        {"adagrad", "adagrad", "", 0, 20},              // sum
        {"rmsprop", "rmsprop", "", 0, 20},              // square_avg
        {"acclip", "acclip", "", 0, 28},                // m, tau
        {"normalized", "normalized", "", 0, 16},        // ||g|| first
        {"lamb", "lamb", "", 0, 40},                    // m, v updated with the tensors' norms, then x from m, v
        {"sgdclip", "sgdclip", "", 0, 24},              // m updated with ||m||, then x from m
        {"momclip", "momclip", "", 0, 24},
        {"mixclip", "mixclip", "", 0, 28},              // as sgdclip, and g read again for the mixed update
        {"perturbed", "perturbed", "", 0, 12},          // the noise is made, not read (the floor ignores that work);
        {"perturbed-gauss", "perturbed", "noise=1", 0, 12}, // the ball (above) needs its norm first, Gaussian not
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        Optimizer *o = optim_create(cases[k].name, cases[k].args);
        o->step(o, x, g0, n, &view, 1, 1e-4f); // allocates its state outside the timing
        double best = 1e30; // the best step, as for the copy: noise on a shared machine only ever adds time
        for (long s = 0; s < steps; s++) {
            memcpy(g, g0, n * sizeof(float)); // clipping scales g in place: restore it (not timed)
            double t0 = now_seconds();
            if (cases[k].clip > 0 && o->step_scaled) { // as training clips: the factor goes into the step
                float factor = optim_clip_factor(CLIP_NORM, g, n, cases[k].clip, NULL);
                o->step_scaled(o, x, g, factor, n, &view, 1, 1e-4f);
            } else {
                if (cases[k].clip > 0) optim_clip(CLIP_NORM, g, n, &view, 1, cases[k].clip, NULL);
                o->step(o, x, g, n, &view, 1, 1e-4f);
            }
            double t1 = now_seconds();
            if (t1 - t0 < best) best = t1 - t0;
        }
        double ns = per_param_ns(best, 1, n), floor = cases[k].bytes / 8.0 * copy;
        printf("bench-optim %-15s ns_per_param=%.3f floor_ns=%.3f (%d bytes) x_floor=%.2f threads=%d\n",
               cases[k].label, ns, floor, cases[k].bytes, ns / floor, threads);
        optim_free(o);
    }
    // Perturbed's noise alone, on this thread: the n values made into a buffer that stays in L1 (no memory
    // traffic), and the ball's norm pass over the radii. Its floor above counts neither.
    enum { CHUNK = 4096 };
    double values = 1e30, norm = 1e30;
    for (long s = 0; s < steps; s++) {
        double t0 = now_seconds(), sq = 0;
        for (size_t lo = 0; lo < n; lo += NN_FLAT_BLOCK) {
            NoiseStream st;
            noise_start(&st, (uint64_t)s, lo / NN_FLAT_BLOCK);
            size_t hi = n - lo < NN_FLAT_BLOCK ? n : lo + NN_FLAT_BLOCK;
            for (size_t i = lo; i < hi; i += CHUNK) noise_fill(&st, y, hi - i < CHUNK ? hi - i : CHUNK);
        }
        double t1 = now_seconds();
        for (size_t lo = 0; lo < n; lo += NN_FLAT_BLOCK)
            sq += noise_sum_squares((uint64_t)s, lo / NN_FLAT_BLOCK, n - lo < NN_FLAT_BLOCK ? n - lo : NN_FLAT_BLOCK);
        double t2 = now_seconds();
        if (!(sq > 0)) NN_FATAL("bench-optim: the noise's sum of squares is %g", sq);
        if (t1 - t0 < values) values = t1 - t0;
        if (t2 - t1 < norm) norm = t2 - t1;
    }
    printf("bench-optim-noise values_ns=%.3f ball_norm_ns=%.3f threads=1 (N(0, 1) values into L1, and the ball's "
           "norm pass, per parameter)\n", per_param_ns(values, 1, n), per_param_ns(norm, 1, n));
    free(x), free(g), free(g0), free(y);
    return 0;
}
