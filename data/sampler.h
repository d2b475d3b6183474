// Sampling orders over m batches (for the language model: the bptt windows of the N streams).
//   cyclic:  the same order 0..m-1 every epoch: the incremental gradient method (IGC in Qian et al. 2021)
//   shuffle: a new random permutation every epoch: random reshuffling
//   replace: m independent uniform draws per epoch: SGD with replacement
#ifndef DATA_SAMPLER_H
#define DATA_SAMPLER_H

#include "nn/rng.h"

typedef enum { ORDER_CYCLIC, ORDER_SHUFFLE, ORDER_REPLACE } Order;

typedef struct {
    Order order;
    long m;
    long *perm; // [m] this epoch's order (shuffle)
    Rng rng;
} Sampler;

Order sampler_order(const char *name); // "cyclic" | "shuffle" | "replace"; fatal with the list otherwise
void sampler_init(Sampler *s, Order order, long m, uint64_t seed);
void sampler_epoch(Sampler *s);          // call at the start of every epoch
long sampler_next(Sampler *s, long i);   // the batch index of the i-th step of the epoch
void sampler_free(Sampler *s);

#endif
