// The optimizer interface: an optimizer sees only the flat parameter and gradient arrays and the list of named
// views; it never sees a model or a data set. Adding a method is one file and one row in optim/registry.c.
#ifndef OPTIM_OPTIMIZER_H
#define OPTIM_OPTIMIZER_H

#include "nn/params.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// One piece of an optimizer's state, for checkpoints (optim_save_state / optim_load_state): a flat array laid out
// like the parameters, a step counter, or raw words (an RNG). Only the member that applies is set.
typedef struct {
    const char *name;  // PyTorch's state key where there is one ("exp_avg", "momentum_buffer", "step")
    float **vec;       // the optimizer's pointer to an [n] array (NULL before the first step allocates it)
    long *count;
    uint64_t *words;
    int nwords;
} OptimStateItem;

#define OPTIM_MAX_STATE 8

typedef struct Optimizer {
    const char *name;
    // param -= update(grad); n = number of elements of param/grad, views = the named tensors inside them.
    // State (momentum, moments) is allocated at the first step, as torch.optim does.
    void (*step)(struct Optimizer *o, float *param, const float *grad, size_t n, const ParamView *views, int nviews,
                 float lr);
    void (*free)(struct Optimizer *o);
    // Lists the state (NULL when there is none) into items, returns the count. With allocate != 0 it first
    // allocates its arrays as its first step would, so a checkpoint can be loaded before any step.
    int (*state)(struct Optimizer *o, size_t n, int allocate, OptimStateItem *items);
    // Optional (NULL where not offered): step with grad_scale * grad in place of grad, each element multiplied in
    // float before use, so the same bits as scaling grad in place and calling step. Global-norm clipping passes its
    // factor here instead of a pass that rewrites grad.
    void (*step_scaled)(struct Optimizer *o, float *param, const float *grad, float grad_scale, size_t n,
                        const ParamView *views, int nviews, float lr);
} Optimizer;

// Creates an optimizer by name with "key=value,..." hyper-parameters (PyTorch's names; booleans 0/1; Adam's betas
// as beta1=, beta2=). The learning rate comes from --lr and the schedule, not from here. An unknown name or key,
// or a value out of range, is fatal and lists what is accepted.
Optimizer *optim_create(const char *name, const char *args);
void optim_free(Optimizer *o);
void optim_list(FILE *out); // every optimizer with its update rule, hyper-parameters and defaults

struct CkptWriter;
struct CkptReader;
// The state as checkpoint tensors "optim/<item>/<view name>" (arrays) and "optim/<item>" (counters, words).
void optim_save_state(Optimizer *o, struct CkptWriter *w, const ParamView *views, int nviews, size_t n);
// Restores what optim_save_state wrote; fatal, naming the tensor, when it does not fit this optimizer.
void optim_load_state(Optimizer *o, struct CkptReader *r, const ParamView *views, int nviews, size_t n);

#endif
