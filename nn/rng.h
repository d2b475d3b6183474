// Seeded random numbers with explicit state (no global RNG): xoshiro256** seeded through splitmix64.
#ifndef NN_RNG_H
#define NN_RNG_H

#include <stdint.h>

typedef struct { uint64_t s[4]; } Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_splitmix64(uint64_t *x); // the next output of the splitmix64 sequence at *x (Steele et al.)
uint64_t rng_next(Rng *r);
float rng_uniform(Rng *r);                 // [0, 1), 24 random bits
float rng_uniform_range(Rng *r, float lo, float hi);
float rng_normal(Rng *r);                  // N(0, 1), Box-Muller
uint32_t rng_below(Rng *r, uint32_t n);    // uniform in [0, n), unbiased

#endif
