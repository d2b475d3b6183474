// The clipped-momentum family of Zhang, Jin, Fang & Wang (2020, "Improved analysis of clipping algorithms for
// non-convex optimization"), with their averaged momentum m = beta m + (1-beta) g (not PyTorch's m = mu m + g):
//   sgdclip: x -= min(lr, gamma / ||m||) m
//   mixclip: x -= nu lr / (1 + lr ||m|| / gamma) m + (1-nu) lr / (1 + lr ||g|| / gamma) g;  momclip: nu = 1
// Norms are global, or per named tensor with per_layer=1.
#include "optimizer.h"
#include "clip.h"
#include "nn/check.h"

#include <stdlib.h>

typedef struct {
    Optimizer base;
    float beta, gamma, nu;
    int per_layer, mix; // mix: the MixClip/MomClip rule, else SGDClip
    float *m;           // [n], allocated at the first step
} ClipMom;

static void update(ClipMom *c, float *x, const float *g, const float *m, size_t n, float lr) {
    double gm = optim_l2_norm(m, n);
    if (!c->mix) {
        float step = gm > 0 && c->gamma / gm < lr ? (float)(c->gamma / gm) : lr;
        for (size_t i = 0; i < n; i++) x[i] -= step * m[i];
        return;
    }
    double gg = c->nu < 1 ? optim_l2_norm(g, n) : 0;
    float km = (float)(c->nu * lr / (1 + lr * gm / c->gamma));
    float kg = (float)((1 - c->nu) * lr / (1 + lr * gg / c->gamma));
    for (size_t i = 0; i < n; i++) x[i] -= km * m[i] + kg * g[i];
}

static int clipmom_state(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    ClipMom *c = (ClipMom *)o;
    if (allocate && !c->m) c->m = nn_alloc_floats(n);
    items[0] = (OptimStateItem){.name = "momentum", .vec = &c->m};
    return 1;
}

static void clipmom_step(Optimizer *o, float *x, const float *grad, size_t n, const ParamView *views, int nviews,
                         float lr) {
    ClipMom *c = (ClipMom *)o;
    if (!c->m) c->m = nn_alloc_floats(n);
    for (size_t i = 0; i < n; i++) c->m[i] = c->beta * c->m[i] + (1.0f - c->beta) * grad[i];
    if (!c->per_layer) {
        update(c, x, grad, c->m, n, lr);
        return;
    }
    NN_CHECK(views && nviews > 0, "%s per_layer=1 needs the list of named tensors", o->name);
    for (int k = 0; k < nviews; k++) {
        size_t off = views[k].offset;
        update(c, x + off, grad + off, c->m + off, views[k].size, lr);
    }
}

static void clipmom_free(Optimizer *o) {
    free(((ClipMom *)o)->m);
    free(o);
}

static Optimizer *create(const char *name, int mix, float beta, float gamma, float nu, int per_layer) {
    NN_CHECK(gamma > 0, "%s gamma=%g: accepted (0, inf)", name, gamma);
    ClipMom *c = nn_calloc(1, sizeof *c);
    c->base = (Optimizer){name, clipmom_step, clipmom_free, clipmom_state};
    c->mix = mix, c->beta = beta, c->gamma = gamma, c->nu = nu, c->per_layer = per_layer;
    return &c->base;
}

// hyper-parameters: sgdclip, momclip (beta, gamma, per_layer); mixclip (beta, gamma, nu, per_layer)
Optimizer *optim_sgdclip_create(const double *h) {
    return create("sgdclip", 0, (float)h[0], (float)h[1], 1, h[2] != 0);
}
Optimizer *optim_momclip_create(const double *h) {
    return create("momclip", 1, (float)h[0], (float)h[1], 1, h[2] != 0);
}
Optimizer *optim_mixclip_create(const double *h) {
    return create("mixclip", 1, (float)h[0], (float)h[1], (float)h[2], h[3] != 0);
}
