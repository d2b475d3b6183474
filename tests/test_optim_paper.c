// Optimizers torch.optim lacks, against their papers' update rules transcribed in double and run on the fixed
// gradient sequence of tests/ref/optim.bin (two named tensors "a" (3) and "b" (2x2), 25 steps, some large entries):
// LAMB, the clipped-momentum family (SGDClip, MomClip, MixClip, global and per tensor), normalized GD, per-tensor
// clipping, and perturbed SGD (statistically). Then the trajectories of tests/ref/optim_paper.bin, written by a NumPy
// script from the published algorithms: ACClip with and without bias correction, the clipped-momentum family with
// the hard (the paper's, default) and the soft factor, and LAMB (Algorithm 2 of the ICLR 2020 paper, trust ratio
// per tensor).
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "nn/check.h"
#include "optim/clip.h"
#include "optim/optimizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { P = 7, S = 25 };
static const ParamView views[2] = {{.name = "a", .offset = 0, .size = 3}, {.name = "b", .offset = 3, .size = 4}};
static float x0[P], grads[S * P];

static int setup(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/optim.bin");
    assert_int_equal(fx_get(&fx, "config")->i[0], P);
    assert_int_equal(fx_get(&fx, "config")->i[1], S);
    memcpy(x0, fx_get(&fx, "x0")->f, sizeof x0);
    memcpy(grads, fx_get(&fx, "grads")->f, sizeof grads);
    fx_free(&fx);
    return 0;
}

// Runs our optimizer over the sequence and compares every step with the reference trajectory.
static long run_and_compare(const char *name, const char *args, float lr, const double *want) {
    float x[P], got[S * P], wantf[S * P];
    memcpy(x, x0, sizeof x);
    Optimizer *o = optim_create(name, args);
    for (int t = 0; t < S; t++) {
        o->step(o, x, grads + t * P, P, views, 2, lr);
        memcpy(got + t * P, x, sizeof x);
    }
    optim_free(o);
    for (int i = 0; i < S * P; i++) wantf[i] = (float)want[i];
    char what[128];
    snprintf(what, sizeof what, "%s %s", name, args);
    return fx_compare(what, got, wantf, S * P, 2e-5, 2e-6);
}

static double norm(const double *v, int off, int len) {
    double s = 0;
    for (int i = off; i < off + len; i++) s += v[i] * v[i];
    return sqrt(s);
}

// LAMB, Algorithm 2 of You et al. (2019) with phi = identity.
static void test_lamb(void **state) {
    (void)state;
    const double lr = 0.02, b1 = 0.9, b2 = 0.999, eps = 1e-6, wd = 0.01;
    double x[P], m[P] = {0}, v[P] = {0}, u[P], want[S * P];
    for (int i = 0; i < P; i++) x[i] = x0[i];
    for (int t = 1; t <= S; t++) {
        for (int i = 0; i < P; i++) {
            double g = grads[(t - 1) * P + i];
            m[i] = b1 * m[i] + (1 - b1) * g, v[i] = b2 * v[i] + (1 - b2) * g * g;
            u[i] = (m[i] / (1 - pow(b1, t))) / (sqrt(v[i] / (1 - pow(b2, t))) + eps) + wd * x[i];
        }
        for (int k = 0; k < 2; k++) {
            int off = (int)views[k].offset, len = (int)views[k].size;
            double nx = norm(x, off, len), nu = norm(u, off, len), trust = nx > 0 && nu > 0 ? nx / nu : 1;
            for (int i = off; i < off + len; i++) x[i] -= lr * trust * u[i];
        }
        memcpy(want + (t - 1) * P, x, sizeof x);
    }
    assert_int_equal(0, run_and_compare("lamb", "weight_decay=0.01", (float)lr, want));
}

// Zhang, Jin, Fang, Wang (2020): averaged momentum, then SGDClip (hard factor) or the soft factor of the authors'
// MixClip (MomClip is nu = 1).
static void clipmom_reference(int mix, double nu, int per_layer, double lr, double beta, double gamma,
                              double *want) {
    double x[P], m[P] = {0}, g[P];
    for (int i = 0; i < P; i++) x[i] = x0[i];
    for (int t = 0; t < S; t++) {
        for (int i = 0; i < P; i++) g[i] = grads[t * P + i], m[i] = beta * m[i] + (1 - beta) * g[i];
        for (int k = 0; k < (per_layer ? 2 : 1); k++) {
            int off = per_layer ? (int)views[k].offset : 0, len = per_layer ? (int)views[k].size : P;
            double nm = norm(m, off, len), ng = norm(g, off, len);
            for (int i = off; i < off + len; i++) {
                if (!mix) x[i] -= (nm > 0 && gamma / nm < lr ? gamma / nm : lr) * m[i];
                else x[i] -= nu * lr / (1 + lr * nm / gamma) * m[i] + (1 - nu) * lr / (1 + lr * ng / gamma) * g[i];
            }
        }
        memcpy(want + t * P, x, sizeof x);
    }
}

static void test_clipped_momentum(void **state) {
    (void)state;
    double want[S * P];
    long bad = 0;
    clipmom_reference(0, 1, 0, 0.5, 0.9, 0.2, want);
    bad += run_and_compare("sgdclip", "beta=0.9,gamma=0.2", 0.5f, want);
    clipmom_reference(0, 1, 1, 0.5, 0.8, 0.2, want);
    bad += run_and_compare("sgdclip", "beta=0.8,gamma=0.2,per_layer=1", 0.5f, want);
    clipmom_reference(1, 1, 0, 0.5, 0.9, 0.3, want);
    bad += run_and_compare("momclip", "gamma=0.3,soft=1", 0.5f, want);
    clipmom_reference(1, 0.7, 0, 0.5, 0.9, 0.3, want);
    bad += run_and_compare("mixclip", "gamma=0.3,soft=1", 0.5f, want);
    clipmom_reference(1, 0.4, 1, 0.5, 0.5, 0.3, want);
    bad += run_and_compare("mixclip", "beta=0.5,gamma=0.3,nu=0.4,per_layer=1,soft=1", 0.5f, want);
    assert_int_equal(0, bad);
}

// Normalized GD, x -= lr g / (||g|| + b), and SGD after per-tensor norm clipping, both transcribed in double.
static void test_normalized_and_tensor_clip(void **state) {
    (void)state;
    double x[P], want[S * P];
    for (int i = 0; i < P; i++) x[i] = x0[i];
    for (int t = 0; t < S; t++) {
        double g[P];
        for (int i = 0; i < P; i++) g[i] = grads[t * P + i];
        double k = 0.3 / (norm(g, 0, P) + 0.5);
        for (int i = 0; i < P; i++) x[i] -= k * g[i];
        memcpy(want + t * P, x, sizeof x);
    }
    long bad = run_and_compare("normalized", "b=0.5", 0.3f, want);

    // per-tensor clipping at eta = 0.8, then plain SGD: the optimizer sees the clipped gradient
    float xf[P], got[S * P], wantf[S * P];
    for (int i = 0; i < P; i++) x[i] = xf[i] = x0[i];
    Optimizer *sgd = optim_create("sgd", NULL);
    int fired = 0;
    for (int t = 0; t < S; t++) {
        double g[P];
        float gf[P];
        for (int i = 0; i < P; i++) g[i] = gf[i] = grads[t * P + i];
        for (int v = 0; v < 2; v++) {
            int off = (int)views[v].offset, len = (int)views[v].size;
            double nv = norm(g, off, len);
            if (nv > 0.8) {
                fired++;
                for (int i = off; i < off + len; i++) g[i] *= 0.8 / nv;
            }
        }
        for (int i = 0; i < P; i++) x[i] -= 0.1 * g[i];
        optim_clip(CLIP_TENSOR, gf, P, views, 2, 0.8f, NULL);
        sgd->step(sgd, xf, gf, P, views, 2, 0.1f);
        memcpy(got + t * P, xf, sizeof xf);
        for (int i = 0; i < P; i++) wantf[t * P + i] = (float)x[i];
    }
    optim_free(sgd);
    printf("# per-tensor clipping fired %d times in %d steps x 2 tensors\n", fired, S);
    assert_true(fired > S / 2);
    bad += fx_compare("sgd after per-tensor clipping at 0.8", got, wantf, S * P, 2e-5, 2e-6);
    assert_int_equal(0, bad);
}

// Perturbed SGD: with a zero gradient and lr 1 the step is -xi. Ball noise has norm at most r (and, in d = 20000
// dimensions, almost exactly r); Gaussian noise N(0, r^2/d I) has E||xi||^2 = r^2. Same seed, same noise.
static void test_perturbed(void **state) {
    (void)state;
    enum { D = 20000 };
    float *x = nn_alloc_floats(D), *y = nn_alloc_floats(D), *g = nn_alloc_floats(D);
    Optimizer *ball = optim_create("perturbed", "r=0.5,seed=3");
    ball->step(ball, x, g, D, NULL, 0, 1.0f);
    double nb = 0;
    for (int i = 0; i < D; i++) nb += (double)x[i] * x[i];
    nb = sqrt(nb);
    printf("# ball noise: ||xi|| = %.6f for r = 0.5, d = %d\n", nb, D);
    assert_true(nb <= 0.5 + 1e-6 && nb > 0.499);
    optim_free(ball);
    double sq = 0;
    const int reps = 20;
    for (int r = 0; r < reps; r++) {
        memset(y, 0, sizeof(float) * D);
        Optimizer *gauss = optim_create("perturbed", r % 2 ? "r=2,noise=1,seed=11" : "r=2,noise=1,seed=12");
        for (int k = 0; k <= r / 2; k++) gauss->step(gauss, y, g, D, NULL, 0, 1.0f); // a different draw each rep
        double s = 0;
        for (int i = 0; i < D; i++) s += (double)y[i] * y[i];
        sq += s / (r / 2 + 1); // k+1 independent draws add their variances
        optim_free(gauss);
    }
    printf("# gaussian noise: mean ||xi||^2 = %.4f for r^2 = 4\n", sq / reps);
    assert_true(fabs(sq / reps - 4.0) < 0.1); // sd of one ||xi||^2 is 4 sqrt(2/d) = 0.04
    // reproducible: the same seed gives the same noise
    float a[8] = {0}, b[8] = {0}, z[8] = {0};
    Optimizer *p1 = optim_create("perturbed", "seed=9"), *p2 = optim_create("perturbed", "seed=9");
    p1->step(p1, a, z, 8, NULL, 0, 1.0f), p2->step(p2, b, z, 8, NULL, 0, 1.0f);
    assert_memory_equal(a, b, sizeof a);
    optim_free(p1), optim_free(p2);
    free(x), free(y), free(g);
}

// Every trajectory in tests/ref/optim_paper.bin, named "traj:<optimizer>:lr=<lr>[,<key>=<value>...]": our
// optimizer on the fixture's gradient sequence must reproduce each step's parameters to ~1e-6 relative.
static void test_published_algorithms(void **state) {
    (void)state;
    Fixture fx;
    fx_load(&fx, "tests/ref/optim_paper.bin");
    const int *cfg = fx_get(&fx, "config")->i, *vw = fx_get(&fx, "views")->i;
    const int np = cfg[0], ns = cfg[1];
    const ParamView pv[2] = {{.name = "a", .offset = (size_t)vw[0], .size = (size_t)vw[1]},
                             {.name = "b", .offset = (size_t)vw[2], .size = (size_t)vw[3]}};
    const float *start = fx_get(&fx, "x0")->f, *seq = fx_get(&fx, "grads")->f;
    float *x = nn_alloc_floats(np), *got = nn_alloc_floats((size_t)ns * np);
    long bad = 0;
    int ntraj = 0;
    for (int k = 0; k < fx.n; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s", fx.t[k].name);
        if (strncmp(name, "traj:", 5) != 0) continue;
        char *optim = name + 5, *args = strchr(optim, ':');
        *args++ = '\0';
        assert_true(strncmp(args, "lr=", 3) == 0);
        float lr = strtof(args + 3, &args);
        if (*args == ',') args++;
        Optimizer *o = optim_create(optim, args);
        memcpy(x, start, sizeof(float) * np);
        for (int t = 0; t < ns; t++) {
            o->step(o, x, seq + (size_t)t * np, (size_t)np, pv, 2, lr);
            memcpy(got + (size_t)t * np, x, sizeof(float) * np);
        }
        optim_free(o);
        bad += fx_compare(fx.t[k].name, got, fx.t[k].f, (long)ns * np, 1e-6, 1e-7);
        ntraj++;
    }
    printf("# %d trajectories of %d steps compared\n", ntraj, ns);
    assert_true(ntraj >= 17);
    assert_int_equal(0, bad);
    free(x), free(got);
    fx_free(&fx);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lamb),
        cmocka_unit_test(test_clipped_momentum),
        cmocka_unit_test(test_normalized_and_tensor_clip),
        cmocka_unit_test(test_perturbed),
        cmocka_unit_test(test_published_algorithms),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
