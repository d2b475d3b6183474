#include "lm_components.h"
#include "nn/check.h"

#include <stdlib.h>

void lm_components_init(LmComponents *c, LstmLM *model, const int *ids, long windows, int T, int b) {
    NN_CHECK(b >= 1 && windows >= b && windows % b == 0,
             "batch size %d must divide the %ld windows of the statistics data set", b, windows);
    NN_CHECK(T <= model->cfg.bptt && b <= model->cfg.batch,
             "the statistics model holds %d x %d rows, batches need %d x %d", model->cfg.bptt, model->cfg.batch,
             T, b);
    *c = (LmComponents){.model = model, .ids = ids, .windows = windows, .m = windows / b, .T = T, .b = b};
    c->x = nn_malloc((size_t)T * b * sizeof(int));
    c->y = nn_malloc((size_t)T * b * sizeof(int));
}

void lm_components_free(LmComponents *c) {
    free(c->x);
    free(c->y);
}

const float *lm_component_grad(void *components, long i) {
    LmComponents *c = components;
    int T = c->T, b = c->b;
    for (int s = 0; s < b; s++) {
        const int *w = c->ids + (s * c->m + i) * T;
        for (int t = 0; t < T; t++) c->x[t * b + s] = w[t], c->y[t * b + s] = w[t + 1];
    }
    Params *P = &c->model->params;
    params_zero_grad(P);
    lm_reset_state(c->model);
    lm_forward(c->model, c->x, c->y, T, b, PASS_STATS);
    lm_backward(c->model, c->x, T, b);
    return P->grad;
}
