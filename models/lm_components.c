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
    c->batch_windows = nn_malloc((size_t)b * sizeof(long));
}

void lm_components_free(LmComponents *c) {
    free(c->x), free(c->y), free(c->batch_windows);
}

double lm_windows_grad(LstmLM *model, const int *ids, int T, const long *windows, int b, int *x, int *y) {
    NN_CHECK(T <= model->cfg.bptt && b <= model->cfg.batch, "lm_windows_grad: %d windows of %d tokens; the model "
             "holds %d x %d rows", b, T, model->cfg.batch, model->cfg.bptt);
    for (int s = 0; s < b; s++) {
        const int *w = ids + windows[s] * T;
        for (int t = 0; t < T; t++) x[t * b + s] = w[t], y[t * b + s] = w[t + 1];
    }
    lm_reset_state(model); // every f_i starts from a zero state: a function of the parameters alone
    double loss = lm_forward(model, x, y, T, b, PASS_STATS);
    lm_backward(model, x, T, b);
    return loss;
}

const float *lm_component_grad(void *components, long i) {
    LmComponents *c = components;
    for (int s = 0; s < c->b; s++) c->batch_windows[s] = s * c->m + i;
    params_zero_grad(&c->model->params);
    lm_windows_grad(c->model, c->ids, c->T, c->batch_windows, c->b, c->x, c->y);
    return c->model->params.grad;
}
