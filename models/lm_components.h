// The language-modelling objective as a finite sum f = (1/m) sum_i f_i, for exact gradient statistics
// (optim/exactstats.h): the first W*T+1 tokens are cut into W windows of T tokens; with batch size b there are
// m = W/b batches, and batch i holds windows s*m + i for s = 0..b-1 (the N-stream layout of training: stream s
// covers a contiguous stretch of the text). Every window starts from a zero state and dropout is off, so each f_i
// is a deterministic function of x and grad f is the same for every b that divides W.
// W=windows T=window length b=batch size m=batches
#ifndef MODELS_LM_COMPONENTS_H
#define MODELS_LM_COMPONENTS_H

#include "models/lstm_lm.h"

typedef struct {
    LstmLM *model;       // its buffers must hold T x b rows (PASS_STATS: no dropout)
    const int *ids;      // [W*T+1] token ids
    long windows, m;     // W, m = W / b
    int T, b;
    int *x, *y;          // [T,b] the current batch
    long *batch_windows; // [b] the current batch's windows
} LmComponents;

// Fatal unless b divides W and the model is large enough.
void lm_components_init(LmComponents *c, LstmLM *model, const int *ids, long windows, int T, int b);
void lm_components_free(LmComponents *c);
// Gradient of the mean loss of batch i at the model's parameters: a BatchGradFn; returns model->params.grad.
const float *lm_component_grad(void *components, long i);
// The batch of b windows of T tokens of the text ids: stream s reads window windows[s] (tokens windows[s]*T ..
// +T, targets one further), from a zero state without dropout (PASS_STATS). Adds the gradient of the mean loss to
// model->params.grad and returns that loss. x, y: [T*b] scratch.
double lm_windows_grad(LstmLM *model, const int *ids, int T, const long *windows, int b, int *x, int *y);

#endif
