// The parameter arena: every parameter of a model lives in one contiguous float array and every gradient in a
// second array of the same layout (llm.c's malloc_and_point_parameters). Each tensor is a named view into both.
// Global-norm clipping, cosines, optimizer steps and checkpoints are then single loops over flat vectors.
#ifndef NN_PARAMS_H
#define NN_PARAMS_H

#include <stddef.h>

#define NN_MAX_DIMS 4

typedef struct {
    char name[64];             // PyTorch-style name, e.g. "rnn.weight_ih_l0"
    size_t offset;             // first element in param[] and grad[]
    size_t size;               // number of elements
    int ndim;
    int shape[NN_MAX_DIMS];    // row-major, last index contiguous
} ParamView;

typedef struct {
    float *param;              // [n] all parameters
    float *grad;               // [n] all gradients, same layout
    size_t n;
    ParamView *views;          // [nviews]
    int nviews, cap;
    int allocated;
} Params;

void params_init(Params *p);
// Declares a tensor before allocation; returns its view index. Shapes are checked here, once.
int params_add(Params *p, const char *name, int ndim, const int *shape);
// Allocates both arrays (64-byte aligned, views packed back to back, so n is the parameter count), zeroed.
void params_alloc(Params *p);
float *params_ptr(const Params *p, int view);
float *params_grad(const Params *p, int view);
int params_find(const Params *p, const char *name); // -1 when absent
void params_zero_grad(Params *p);
void params_free(Params *p);

#endif
