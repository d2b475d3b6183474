// Standard normal noise for a whole parameter vector, one value per parameter per step, at the speed of a pass over
// memory. The values of a block of NN_FLAT_BLOCK elements depend only on a 64-bit key and the block's number, so
// threads share out the blocks and get the same bits on any thread count.
// Within a block: xoshiro128+ (Blackman & Vigna) in 16 lanes, each seeded by splitmix64 from (key, block, lane);
// the top 24 bits of each output are a uniform. Box-Muller turns 16 pairs (u1 in (0, 1], u2 in [0, 1)) into 32
// values r cos(2 pi u2) and r sin(2 pi u2), r = sqrt(-2 ln u1), with Cephes' single-precision polynomials for ln,
// sin and cos (tests/test_noise.c bounds their error against libm over every possible uniform).
#ifndef NN_NOISE_H
#define NN_NOISE_H

#include <stddef.h>
#include <stdint.h>

enum { NOISE_LANES = 16, NOISE_GROUP = 2 * NOISE_LANES };

typedef struct {
    uint32_t s[4][NOISE_LANES]; // xoshiro128+ state, word-major
} NoiseStream;

// The stream of block `block` under `key`.
void noise_start(NoiseStream *st, uint64_t key, uint64_t block);
// The next len values, a group of 32 at a time: each group's 16 cosines, then the sines of the same pairs. A last
// partial group is made whole and its tail dropped, so the stream always moves on by whole groups.
void noise_fill(NoiseStream *st, float *out, size_t len);
// The transform alone, for tests: the 32 values of 16 lanes' two xoshiro128+ outputs a and b (u1 from a, u2 from b).
void noise_from_bits(const uint32_t a[NOISE_LANES], const uint32_t b[NOISE_LANES], float out[NOISE_GROUP]);
// The sum of squares of the first len (<= NN_FLAT_BLOCK) values of a block, in double. A pair's squares add up to
// r^2 = -2 ln u1, so whole groups need no roots, sines or cosines, nor one logarithm each: the sum is -2 ln of the
// product of the u1 (equal to the sum of the values' squares to float rounding, ~1e-7 relative); a last partial
// group is made and its squares added.
double noise_sum_squares(uint64_t key, uint64_t block, size_t len);

#endif
