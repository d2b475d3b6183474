// `nnopt bench-layers [--threads N] [--batch N] [--reps N] [--im2col]`: where a ResNet-20 step's time goes, layer by
// layer (--im2col: 3x3 layers through column matrices, not the direct kernels; nn/conv2d.h).
// Each distinct layer of ResNet-20 on CIFAR-10 (the stem, the 3x3 convolutions of each stage, the two stride-2
// ones, their batchnorms) is timed alone on synthetic data at the bench batch (128), forward and backward, best of
// --reps; the total weights each by how often the network has it. Products' GFLOP/s use nn_gemm_macs.
#include "cli.h"
#include "nn/batchnorm.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/conv2d.h"
#include "nn/parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int C, H, OC, stride, count; // count: how many such layers ResNet-20 has
} LayerShape;

// ResNet-20: the stem (3 -> 16), 18 block convolutions of which the first of stages 2 and 3 has stride 2
static const LayerShape shapes[] = {
    {"stem 3->16 32x32", 3, 32, 16, 1, 1},      {"stage1 16->16 32x32", 16, 32, 16, 1, 6},
    {"stage2 16->32 s2", 16, 32, 32, 2, 1},     {"stage2 32->32 16x16", 32, 16, 32, 1, 5},
    {"stage3 32->64 s2", 32, 16, 64, 2, 1},     {"stage3 64->64 8x8", 64, 8, 64, 1, 5},
};

typedef struct {
    double ms, gflops;
} Timed;

// the best of reps calls of one kind (0 conv forward, 1 conv backward, 2 bn eval, 3 bn train fwd+bwd)
static Timed time_kind(int kind, const ConvShape *s, int N, int threads, int reps, float *x, float *y, float *dx,
                       float *w, float *dw, float *scratch, float *bnp) {
    Timed best = {1e30, 0};
    int OC = s->OC, HW = s->OH * s->OW;
    for (int r = 0; r < reps; r++) {
        long long m0 = nn_gemm_macs();
        double t0 = now_seconds();
        if (kind == 0) conv2d_forward(y, scratch, x, w, NULL, N, s, threads);
        else if (kind == 1) conv2d_backward(dx, dw, NULL, scratch, y, x, w, N, s, threads);
        else if (kind == 2)
            batchnorm_forward_eval(dx, y, bnp, bnp + OC, bnp + 2 * OC, bnp + 3 * OC, 1e-5f, N, OC, HW, NULL, 1,
                                   threads);
        else {
            batchnorm_forward_train(dx, bnp + 4 * OC, bnp + 5 * OC, bnp + 2 * OC, bnp + 3 * OC, y, bnp, bnp + OC,
                                    0.1f, 1e-5f, N, OC, HW, NULL, 1, threads);
            batchnorm_backward(y, bnp + 6 * OC, bnp + 7 * OC, dx, y, bnp + 4 * OC, bnp + 5 * OC, bnp, N, OC, HW, dx,
                               threads);
        }
        double t = now_seconds() - t0;
        if (t * 1e3 < best.ms) best.ms = t * 1e3, best.gflops = 2.0 * (double)(nn_gemm_macs() - m0) / t / 1e9;
    }
    return best;
}

int cmd_bench_layers(int argc, char **argv) {
    int threads = 2, N = 128, reps = 5, direct = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = (int)cli_long("--threads", argv[++i], 1, 64);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) N = (int)cli_long("--batch", argv[++i], 2, 4096);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = (int)cli_long("--reps", argv[++i], 1, 1000);
        else if (strcmp(argv[i], "--im2col") == 0) direct = 0;
        else NN_FATAL("bench-layers: unknown argument '%s'; accepted: --threads N (2), --batch N (128), --reps N (5), "
                      "--im2col", argv[i]);
    }
    nn_set_threads(threads);
    conv2d_use_direct(direct);
    printf("# ResNet-20's layers at batch %d on %d threads, products in %s%s; ms per call (best of %d) and the\n"
           "# products' GFLOP/s; total = the sum over the network's layers (count each)\n", N, threads,
           nn_gemm_kernel(), direct ? "" : " (3x3 stride 1: column matrices)", reps);
    printf("%-22s %5s | %16s | %16s | %8s | %16s\n", "layer", "count", "conv fwd", "conv bwd", "bn eval",
           "bn train fwd+bwd");
    double total[4] = {0};
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        const LayerShape *L = &shapes[k];
        ConvShape s = conv2d_shape(L->C, L->H, L->H, L->OC, 3, 3, L->stride, 1);
        long nin = (long)N * L->C * L->H * L->H, nout = (long)N * L->OC * s.OH * s.OW;
        float *x = nn_alloc_floats(nin), *y = nn_alloc_floats(nout), *dx = nn_alloc_floats(nin > nout ? nin : nout);
        float *w = nn_alloc_floats((size_t)L->OC * L->C * 9), *dw = nn_alloc_floats((size_t)L->OC * L->C * 9);
        float *scratch = nn_alloc_floats(conv2d_scratch_floats(&s, N, threads)), *bnp = nn_alloc_floats(8L * L->OC);
        for (long i = 0; i < nin; i++) x[i] = (float)(i % 17) * 0.05f - 0.4f;
        for (long i = 0; i < (long)L->OC * L->C * 9; i++) w[i] = (float)(i % 7) * 0.02f - 0.06f;
        for (int c = 0; c < L->OC; c++) bnp[c] = 1, bnp[3 * L->OC + c] = 1; // gamma 1, running variance 1
        Timed t[4];
        for (int kind = 0; kind < 4; kind++) {
            t[kind] = time_kind(kind, &s, N, threads, reps, x, y, dx, w, dw, scratch, bnp);
            total[kind] += t[kind].ms * L->count;
        }
        printf("%-22s %5d | %7.2f %4.0f GF/s | %7.2f %4.0f GF/s | %8.2f | %16.2f\n", L->name, L->count, t[0].ms,
               t[0].gflops, t[1].ms, t[1].gflops, t[2].ms, t[3].ms);
        free(x), free(y), free(dx), free(w), free(dw), free(scratch), free(bnp);
    }
    printf("%-22s %5s | %16.2f | %16.2f | %8.2f | %16.2f\n", "total (ms)", "", total[0], total[1], total[2],
           total[3]);
    return 0;
}
