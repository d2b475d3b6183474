// Standard normal noise for a whole parameter vector, one value per parameter per step, at the speed of a pass over
// memory. The values of a block of NN_FLAT_BLOCK elements depend only on a 64-bit key and the block's number, so
// threads share out the blocks and get the same bits on any thread count.
// Within a block: two xoshiro128+ streams (Blackman & Vigna) of 16 lanes each, every lane seeded by splitmix64 from
// (key, block, stream, lane); one stream gives the radii, the other the angles. Box-Muller turns 16 pairs (u1 in
// (0, 1] from the top 24 bits of a radius output, angle 2 pi b / 2^32 from all 32 bits of an angle output) into 32
// values r cos(angle) and r sin(angle), r = sqrt(-2 ln u1): the logarithm as glibc's logf, from a 16-entry table and
// a polynomial; cos and sin from the nearest of 32 sectors and polynomials of the offset (tests/test_noise.c bounds
// the error against libm over every possible u1).
#ifndef NN_NOISE_H
#define NN_NOISE_H

#include <stddef.h>
#include <stdint.h>

enum { NOISE_LANES = 16, NOISE_GROUP = 2 * NOISE_LANES };

typedef struct {
    uint32_t s[2][4][NOISE_LANES]; // xoshiro128+ states, word-major: [0] the radii's, [1] the angles'
} NoiseStream;

// The stream of block `block` under `key`.
void noise_start(NoiseStream *st, uint64_t key, uint64_t block);
// The next len values, a group of 32 at a time: each group's 16 cosines, then the sines of the same pairs. A last
// partial group is made whole and its tail dropped, so the stream always moves on by whole groups.
void noise_fill(NoiseStream *st, float *out, size_t len);
// x -= lr (g + k z) over the next len values z of the stream, made in registers as the pass goes: never stored.
void noise_descend(NoiseStream *st, float *x, const float *g, size_t len, float lr, float k);
// The transform alone, for tests: the 32 values of 16 lanes' radius outputs a and angle outputs b.
void noise_from_bits(const uint32_t a[NOISE_LANES], const uint32_t b[NOISE_LANES], float out[NOISE_GROUP]);
// Its tables, for tests: 1/c_i and ln of that for the logarithm's 16 pieces, sqrt(2) cos and sqrt(2) sin of the
// 32 sectors' centres.
void noise_tables(const float **invc, const float **ln_invc, const float **cos_sqrt2, const float **sin_sqrt2);
// The sum of squares of the first len (<= NN_FLAT_BLOCK) values of a block, in double. A pair's squares add up to
// r^2 = -2 ln u1, so whole groups need no roots, sines or cosines, nor one logarithm each: the sum is -2 ln of the
// product of the u1 (equal to the sum of the values' squares to float rounding, ~1e-7 relative); a last partial
// group is made and its squares added. Whole groups draw only the radii's stream.
double noise_sum_squares(uint64_t key, uint64_t block, size_t len);

#endif
