#include "params.h"
#include "parallel.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void params_init(Params *p) { memset(p, 0, sizeof *p); }

int params_add(Params *p, const char *name, int ndim, const int *shape) {
    NN_CHECK(!p->allocated, "params_add('%s') after params_alloc", name);
    NN_CHECK(ndim >= 1 && ndim <= NN_MAX_DIMS, "tensor '%s': %d dimensions (1..%d accepted)", name, ndim,
             NN_MAX_DIMS);
    NN_CHECK(strlen(name) < sizeof p->views[0].name, "tensor name '%s' too long", name);
    NN_CHECK(params_find(p, name) < 0, "tensor '%s' declared twice", name);
    if (p->nviews == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 16;
        p->views = nn_realloc(p->views, (size_t)p->cap * sizeof *p->views);
    }
    ParamView *v = &p->views[p->nviews];
    memset(v, 0, sizeof *v);
    snprintf(v->name, sizeof v->name, "%s", name);
    v->ndim = ndim;
    v->size = 1;
    for (int d = 0; d < ndim; d++) {
        NN_CHECK(shape[d] > 0, "tensor '%s': dimension %d is %d (must be positive)", name, d, shape[d]);
        v->shape[d] = shape[d];
        v->size *= (size_t)shape[d];
    }
    v->offset = p->n;
    p->n += v->size;
    return p->nviews++;
}

void params_alloc(Params *p) {
    NN_CHECK(!p->allocated, "params_alloc called twice");
    p->param = nn_alloc_floats(p->n);
    p->grad = nn_alloc_floats(p->n);
    p->allocated = 1;
}

float *params_ptr(const Params *p, int view) { return p->param + p->views[view].offset; }
float *params_grad(const Params *p, int view) { return p->grad + p->views[view].offset; }

int params_find(const Params *p, const char *name) {
    for (int i = 0; i < p->nviews; i++)
        if (strcmp(p->views[i].name, name) == 0) return i;
    return -1;
}

static void zero_blocks(void *ctx, long begin, long end) {
    const Params *p = ctx;
    size_t lo = (size_t)begin * NN_FLAT_BLOCK, hi = (size_t)end * NN_FLAT_BLOCK < p->n ? (size_t)end * NN_FLAT_BLOCK
                                                                                        : p->n;
    memset(p->grad + lo, 0, (hi - lo) * sizeof(float));
}

void params_zero_grad(Params *p) { nn_parallel_blocks(p->n, zero_blocks, p); }

void params_free(Params *p) {
    free(p->param);
    free(p->grad);
    free(p->views);
    memset(p, 0, sizeof *p);
}
