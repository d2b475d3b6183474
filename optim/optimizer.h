// The optimizer interface: an optimizer sees only the flat parameter and gradient arrays and the list of named
// views; it never sees a model or a data set. Adding a method is one file and one row in optim/registry.c.
#ifndef OPTIM_OPTIMIZER_H
#define OPTIM_OPTIMIZER_H

#include "nn/params.h"
#include <stddef.h>
#include <stdio.h>

typedef struct Optimizer {
    const char *name;
    // param -= update(grad); n = number of elements of param/grad, views = the named tensors inside them.
    // State (momentum, moments) is allocated at the first step, as torch.optim does.
    void (*step)(struct Optimizer *o, float *param, const float *grad, size_t n, const ParamView *views, int nviews,
                 float lr);
    void (*free)(struct Optimizer *o);
} Optimizer;

// Creates an optimizer by name with "key=value,..." hyper-parameters (PyTorch's names; booleans 0/1; Adam's betas
// as beta1=, beta2=). The learning rate comes from --lr and the schedule, not from here. An unknown name or key,
// or a value out of range, is fatal and lists what is accepted.
Optimizer *optim_create(const char *name, const char *args);
void optim_free(Optimizer *o);
void optim_list(FILE *out); // every optimizer with its update rule, hyper-parameters and defaults

#endif
