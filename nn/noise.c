#include "noise.h"
#include "rng.h"

#include <math.h>
#include <string.h>

// 16 lanes as GNU C vectors (gcc and clang): one instruction per operation where the CPU has 512-bit vectors, two
// or four elsewhere. Casts between same-sized vector types reinterpret the bits.
typedef uint32_t u32x16 __attribute__((vector_size(64)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef float f32x16 __attribute__((vector_size(64)));
typedef float f32x8 __attribute__((vector_size(32)));
typedef double f64x8 __attribute__((vector_size(64)));
#define LANES_INLINE static inline __attribute__((always_inline))

void noise_start(NoiseStream *st, uint64_t key, uint64_t block) {
    uint64_t seq = block; // the block's own splitmix64 sequence, offset by a mix of the key
    uint64_t base = rng_splitmix64(&key);
    seq = base ^ rng_splitmix64(&seq);
    for (int l = 0; l < NOISE_LANES; l++) {
        for (int w = 0; w < 4; w += 2) {
            uint64_t z = rng_splitmix64(&seq);
            st->s[w][l] = (uint32_t)z, st->s[w + 1][l] = (uint32_t)(z >> 32);
        }
        if (!(st->s[0][l] | st->s[1][l] | st->s[2][l] | st->s[3][l])) st->s[0][l] = 1; // never the all-zero state
    }
}

// One xoshiro128+ output per lane.
LANES_INLINE u32x16 next(u32x16 s[4]) {
    u32x16 out = s[0] + s[3], t = s[1] << 9;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >> 21);
    return out;
}

// ln u for u in (0, 1] (Cephes logf): u = 2^e m with m in [sqrt(1/2), sqrt(2)), ln m = x - x^2/2 + x^3 P(x),
// x = m - 1, and e ln 2 added in two parts.
LANES_INLINE f32x16 log_lanes(f32x16 u) {
    i32x16 bits = (i32x16)u;
    i32x16 e = (bits >> 23) - 126;                            // u = 2^e m, m in [0.5, 1)
    f32x16 m = (f32x16)((bits & 0x007fffff) | 0x3f000000);
    i32x16 small = m < 0.707106781186547524f;                 // -1 where m < sqrt(1/2): use 2m, e - 1
    e += small;
    f32x16 x = m + (f32x16)((i32x16)m & small) - 1.0f;
    f32x16 ef = __builtin_convertvector(e, f32x16), z = x * x;
    f32x16 p = 7.0376836292e-2f * x - 1.1514610310e-1f;
    p = p * x + 1.1676998740e-1f;
    p = p * x - 1.2420140846e-1f;
    p = p * x + 1.4249322787e-1f;
    p = p * x - 1.6668057665e-1f;
    p = p * x + 2.0000714765e-1f;
    p = p * x - 2.4999993993e-1f;
    p = p * x + 3.3333331174e-1f;
    f32x16 y = p * x * z + ef * -2.12194440e-4f - 0.5f * z;
    return x + y + ef * 0.693359375f;
}

// The uniforms of each lane's pair from its two outputs, and r^2 = -2 ln u1.
LANES_INLINE f32x16 radius_sq(u32x16 a, u32x16 b, f32x16 *u2) {
    f32x16 u1 = __builtin_convertvector((a >> 8) + 1, f32x16) * 0x1p-24f;
    *u2 = __builtin_convertvector(b >> 8, f32x16) * 0x1p-24f;
    return -2.0f * log_lanes(u1);
}

LANES_INLINE void box_muller(u32x16 a, u32x16 b, float out[NOISE_GROUP]) {
    f32x16 u2, r = radius_sq(a, b, &u2);
    for (int l = 0; l < NOISE_LANES; l++) r[l] = sqrtf(r[l]); // vectorised: one root instruction
    // 2 pi u2 = q pi/2 + a, q = round(4 u2), |a| <= pi/4; sin and cos of a by Cephes' sinf/cosf polynomials
    f32x16 t = 4.0f * u2;
    i32x16 q = __builtin_convertvector(t + 0.5f, i32x16); // t >= 0: truncation rounds
    f32x16 x = (t - __builtin_convertvector(q, f32x16)) * 1.57079632679489662f, z = x * x;
    f32x16 sn = ((-1.9515295891e-4f * z + 8.3321608736e-3f) * z - 1.6666654611e-1f) * z * x + x;
    f32x16 cs = ((2.443315711809948e-5f * z - 1.388731625493765e-3f) * z + 4.166664568298827e-2f) * z * z -
                0.5f * z + 1.0f;
    // the quadrant: (cos, sin) of q pi/2 + x is (c, s), (-s, c), (-c, -s), (s, -c) for q = 0..3 (mod 4)
    u32x16 qu = (u32x16)q, swap = -(qu & 1), ci = (u32x16)cs, si = (u32x16)sn;
    u32x16 cosv = (ci & ~swap) | (si & swap), sinv = (si & ~swap) | (ci & swap);
    cosv ^= ((qu + 1) & 2) << 30, sinv ^= (qu & 2) << 30; // sign flips: cos for q = 1, 2; sin for q = 2, 3
    f32x16 c = r * (f32x16)cosv, s = r * (f32x16)sinv;
    memcpy(out, &c, sizeof c), memcpy(out + NOISE_LANES, &s, sizeof s);
}

void noise_from_bits(const uint32_t a[NOISE_LANES], const uint32_t b[NOISE_LANES], float out[NOISE_GROUP]) {
    u32x16 va, vb;
    memcpy(&va, a, sizeof va), memcpy(&vb, b, sizeof vb);
    box_muller(va, vb, out);
}

void noise_fill(NoiseStream *st, float *out, size_t len) {
    u32x16 s[4]; // in registers across the groups
    memcpy(s, st->s, sizeof s);
    size_t i = 0;
    for (; i + NOISE_GROUP <= len; i += NOISE_GROUP) {
        u32x16 a = next(s), b = next(s);
        box_muller(a, b, out + i);
    }
    if (i < len) {
        float z[NOISE_GROUP];
        u32x16 a = next(s), b = next(s);
        box_muller(a, b, z);
        memcpy(out + i, z, (len - i) * sizeof(float));
    }
    memcpy(st->s, s, sizeof s);
}

double noise_sum_squares(uint64_t key, uint64_t block, size_t len) {
    NoiseStream st;
    noise_start(&st, key, block);
    u32x16 s[4];
    memcpy(s, st.s, sizeof s);
    // The pairs' r^2 = -2 ln u1 add up to -2 ln of the product of the u1: each lane multiplies its u1 (exact
    // floats) into a running product, one rounding each, and every 4 groups moves the product's exponent into an
    // integer, before 4 factors as small as 2^-24 could take it below the smallest normal float (2^-126). Two
    // operations a pair instead of a logarithm.
    f32x16 product = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    i32x16 exponent = {0};
    size_t i = 0;
    for (int since = 0; i + NOISE_GROUP <= len; i += NOISE_GROUP) {
        u32x16 a = next(s);
        next(s); // the angles' outputs: drawn, as noise_fill draws them, and not needed
        product *= __builtin_convertvector((a >> 8) + 1, f32x16) * 0x1p-24f;
        if (++since == 4) {
            i32x16 bits = (i32x16)product; // product = 2^(e - 127) m, m in [1, 2)
            exponent += (bits >> 23) - 127, product = (f32x16)((bits & 0x007fffff) | 0x3f800000);
            since = 0;
        }
    }
    double sum = 0;
    for (int l = 0; l < NOISE_LANES; l++) sum -= 2 * (exponent[l] * 0.69314718055994531 + log((double)product[l]));
    if (i < len) {
        memcpy(st.s, s, sizeof s);
        float z[NOISE_GROUP];
        noise_fill(&st, z, len - i);
        for (size_t j = 0; j < len - i; j++) sum += (double)z[j] * z[j];
    }
    return sum;
}
