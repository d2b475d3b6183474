#include "noise.h"
#include "rng.h"

#include <math.h>
#include <string.h>
#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#if defined(__GNUC__) && !defined(__clang__)
// gcc notes that wide vectors are passed differently without AVX or AVX-512; they never leave this file
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

// A group's 16 lanes are computed W at a time as GNU C vectors (gcc and clang): all 16 in one register where the
// CPU has AVX-512, in two parts of 8 elsewhere (gcc lowers 64-byte vector types badly without AVX-512: the noise
// took 4 times as long in an AVX2 build). Each lane does the same arithmetic either way: the same bits on every
// path. Casts between same-sized vector types reinterpret the bits.
#if defined(__AVX512F__)
#define W 16
#else
#define W 8
#endif
enum { PARTS = NOISE_LANES / W };
typedef uint32_t vu __attribute__((vector_size(4 * W)));
typedef int32_t vi __attribute__((vector_size(4 * W)));
typedef float vf __attribute__((vector_size(4 * W)));
#define LANES_INLINE static inline __attribute__((always_inline))

LANES_INLINE vf splat(float v) {
    vf out;
    for (int l = 0; l < W; l++) out[l] = v;
    return out;
}

// a b + c with one rounding where the CPU has fused multiply-adds (one instruction for the lanes), else with two.
// Written out rather than left to -ffp-contract: compilers fuse differently in different places, and the same value
// made in two functions would then differ in its last bits.
#if defined(__FMA__) || defined(__FP_FAST_FMAF)
#define NOISE_FMA 1
#else
#define NOISE_FMA 0
#endif
LANES_INLINE vf fma_lanes(vf a, vf b, vf c) {
#if NOISE_FMA
    for (int l = 0; l < W; l++) c[l] = __builtin_fmaf(a[l], b[l], c[l]);
    return c;
#else
    return a * b + c;
#endif
}

// ln by table, as glibc's logf: f = 2^k z with z in [OFF, 2 OFF), OFF = 0.69921875, cut into 16 pieces by the
// bits of z - OFF; piece i has a centre c_i (1 itself for the piece that holds 1, so that f near 1 loses nothing)
// and ln f = k ln 2 - ln(1/c_i) + log1p(z/c_i - 1), |z/c_i - 1| < 0.031. Entries are 1/c_i rounded to float and the
// logarithm of that float (tests/test_noise.c recomputes every entry).
enum { LOG_OFF = 0x3f330000 };
static const float log_invc[16] = {
    0x1.661ec6p+0f, 0x1.571ed4p+0f, 0x1.49539ep+0f, 0x1.3c995ap+0f, 0x1.30d19p+0f,  0x1.25e228p+0f,
    0x1.1bb4a4p+0f, 0x1.12358ep+0f, 0x1.0953f4p+0f, 0x1p+0f,        0x1.e573acp-1f, 0x1.ca4b3p-1f,
    0x1.b20364p-1f, 0x1.9c2d14p-1f, 0x1.886e6p-1f,  0x1.767dcep-1f};
static const float log_ln_invc[16] = {
    0x1.57bf74p-2f, 0x1.2bef08p-2f, 0x1.01eae4p-2f, 0x1.b31d84p-3f,  0x1.6574ecp-3f,  0x1.1aa2bep-3f,
    0x1.a4e764p-4f, 0x1.1973b6p-4f, 0x1.252f4p-5f,  0x0p+0f,         -0x1.b42dep-5f,  -0x1.c5e54cp-4f,
    -0x1.526e5ep-3f, -0x1.bc286cp-3f, -0x1.1058bep-2f, -0x1.40430ap-2f};
// sqrt(2) cos and sqrt(2) sin at the centres of 32 sectors, (2 j + 1) pi / 32 (the sqrt(2) of r = sqrt(2) sqrt(-ln u1)
// folded in)
#define Q0 0x1.684b9cp+0f
#define Q1 0x1.5a730cp+0f
#define Q2 0x1.3f4a24p+0f
#define Q3 0x1.17dc14p+0f
#define Q4 0x1.cb598cp-1f
#define Q5 0x1.5553e4p-1f
#define Q6 0x1.a4608ap-2f
#define Q7 0x1.1be352p-3f
static const float sector_cos[32] = {Q0,  Q1,  Q2,  Q3,  Q4,  Q5,  Q6,  Q7,  -Q7, -Q6, -Q5, -Q4, -Q3, -Q2, -Q1, -Q0,
                                     -Q0, -Q1, -Q2, -Q3, -Q4, -Q5, -Q6, -Q7, Q7,  Q6,  Q5,  Q4,  Q3,  Q2,  Q1,  Q0};
static const float sector_sin[32] = {Q7,  Q6,  Q5,  Q4,  Q3,  Q2,  Q1,  Q0,  Q0,  Q1,  Q2,  Q3,  Q4,  Q5,  Q6,  Q7,
                                     -Q7, -Q6, -Q5, -Q4, -Q3, -Q2, -Q1, -Q0, -Q0, -Q1, -Q2, -Q3, -Q4, -Q5, -Q6, -Q7};

void noise_tables(const float **invc, const float **ln_invc, const float **cos_sqrt2, const float **sin_sqrt2) {
    *invc = log_invc, *ln_invc = log_ln_invc, *cos_sqrt2 = sector_cos, *sin_sqrt2 = sector_sin;
}

// The tables in registers for a whole pass. A lookup is exact on every path: with AVX-512 one vpermps (16 entries)
// or vpermt2ps (32); with AVX2 two or four vpermps and blends; elsewhere a loop over the lanes.
typedef struct {
    vf invc[16 / W], ln_invc[16 / W], cos[32 / W], sin[32 / W];
} Tables;

// The sector tables times scale, which multiplies every value (1 is exact).
static void load_tables(Tables *t, float scale) {
    memcpy(t->invc, log_invc, sizeof t->invc), memcpy(t->ln_invc, log_ln_invc, sizeof t->ln_invc);
    memcpy(t->cos, sector_cos, sizeof t->cos), memcpy(t->sin, sector_sin, sizeof t->sin);
    for (int q = 0; q < 16 / W; q++) t->invc[q] *= 0x1p-24f; // exact
    for (int q = 0; q < 32 / W; q++) t->cos[q] *= scale, t->sin[q] *= scale;
}

#if W == 8 && defined(__AVX2__)
// AVX2: of two 8-entry vectors, the one bit `bit` of i picks (its sign bit moved to the float's)
LANES_INLINE vf pick8(vf lo, vf hi, vu i, int bit) {
    return (vf)_mm256_blendv_ps((__m256)lo, (__m256)hi, (__m256)(i << (31 - bit)));
}
LANES_INLINE vf perm8(vf t, vu i) { return (vf)_mm256_permutevar8x32_ps((__m256)t, (__m256i)i); }
#endif

// t[i mod 16]
LANES_INLINE vf lookup16(const vf *t, vu i) {
#if W == 16
    return (vf)_mm512_permutexvar_ps((__m512i)i, (__m512)t[0]);
#elif defined(__AVX2__)
    return pick8(perm8(t[0], i), perm8(t[1], i), i, 3);
#else
    vf out;
    for (int l = 0; l < W; l++) out[l] = t[(i[l] & 15) / W][i[l] % W];
    return out;
#endif
}

// t[j mod 32]
LANES_INLINE vf lookup32(const vf *t, vu j) {
#if W == 16
    return (vf)_mm512_permutex2var_ps((__m512)t[0], (__m512i)j, (__m512)t[1]);
#elif defined(__AVX2__)
    vf low = pick8(perm8(t[0], j), perm8(t[1], j), j, 3), high = pick8(perm8(t[2], j), perm8(t[3], j), j, 3);
    return pick8(low, high, j, 4);
#else
    vf out;
    for (int l = 0; l < W; l++) out[l] = t[(j[l] & 31) / W][j[l] % W];
    return out;
#endif
}

void noise_start(NoiseStream *st, uint64_t key, uint64_t block) {
    uint64_t seq = block; // the block's own splitmix64 sequence, offset by a mix of the key
    uint64_t base = rng_splitmix64(&key);
    seq = base ^ rng_splitmix64(&seq);
    for (int g = 0; g < 2; g++)
        for (int l = 0; l < NOISE_LANES; l++) {
            uint32_t *s[4] = {&st->s[g][0][l], &st->s[g][1][l], &st->s[g][2][l], &st->s[g][3][l]};
            for (int w = 0; w < 4; w += 2) {
                uint64_t z = rng_splitmix64(&seq);
                *s[w] = (uint32_t)z, *s[w + 1] = (uint32_t)(z >> 32);
            }
            if (!(*s[0] | *s[1] | *s[2] | *s[3])) *s[0] = 1; // never the all-zero state
        }
}

// A stream's state as vectors, part p's lanes in s[p], and back.
typedef struct {
    vu s[PARTS][4];
} Lanes;

static void lanes_in(Lanes *v, const uint32_t s[4][NOISE_LANES]) {
    for (int p = 0; p < PARTS; p++)
        for (int w = 0; w < 4; w++) memcpy(&v->s[p][w], s[w] + p * W, sizeof(vu));
}

static void lanes_out(const Lanes *v, uint32_t s[4][NOISE_LANES]) {
    for (int p = 0; p < PARTS; p++)
        for (int w = 0; w < 4; w++) memcpy(s[w] + p * W, &v->s[p][w], sizeof(vu));
}

// One xoshiro128+ output per lane. (Plain xors: on this Zen 5 the three-input vpternlogd shares the multiply-add
// ports, and plain xors do not.)
LANES_INLINE vu next(vu s[4]) {
    vu out = s[0] + s[3], t = s[1] << 9;
    s[2] ^= s[0], s[3] ^= s[1], s[1] ^= s[2], s[0] ^= s[3], s[2] ^= t;
    s[3] = (s[3] << 11) | (s[3] >> 21);
    return out;
}

// The top 24 bits of a, plus 1: F in [1, 2^24], u1 = F / 2^24 in (0, 1]. Exact.
LANES_INLINE vf radius_integer(vu a) { return __builtin_convertvector((a >> 8) + 1, vf); }

// -ln u1 = -ln(F / 2^24) for F in [1, 2^24]: the division by 2^24 is taken from the exponent in integer arithmetic
// (OFF scaled by 2^24, the table's 1/c_i by 2^-24 in load_tables), so F near 2^24 has k = 0 and loses nothing.
LANES_INLINE vf minus_log_u1(const Tables *t, vf F) {
    vi bits = (vi)F, tmp = bits - (LOG_OFF + (24 << 23));
    vu piece = (vu)tmp >> 19; // its low 4 bits
    vi k = tmp >> 23;
    vf z = (vf)(bits - (tmp & (int32_t)0xff800000)); // in 2^24 [OFF, 2 OFF)
    vf invc = lookup16(t->invc, piece), ln_invc = lookup16(t->ln_invc, piece);
#if NOISE_FMA
    vf r = fma_lanes(z, invc, splat(-1.0f)); // one rounding
#else
    vf r; // the product is exact in double, so again one rounding
    for (int l = 0; l < W; l++) r[l] = (float)((double)z[l] * invc[l] - 1.0);
#endif
    // log1p(r) = r - r^2/2 + r^3 (c3 + c4 r), c3 and c4 fitted for relative error over the pieces' range of r,
    // [-0.0223, 0.0306]: at most 2.6e-8 (Taylor's 1/3, -1/4 give 1.7e-7)
    vf p = fma_lanes(r, splat(-0x1.fbc82p-3f), splat(0x1.556e18p-2f));
    p = fma_lanes(p, r, splat(-0.5f));
    vf log1p_r = fma_lanes(p, r * r, r), kf = __builtin_convertvector(k, vf);
    return fma_lanes(kf, splat(-0x1.62e43p-1f), ln_invc) - log1p_r;
}

// A pair's radius over sqrt(2), sqrt(-ln u1) (the sqrt(2) is in the sector tables), from its radius output.
LANES_INLINE vf radius_of(const Tables *t, vu a) {
    vf r = minus_log_u1(t, radius_integer(a));
    for (int l = 0; l < W; l++) r[l] = sqrtf(r[l]); // vectorised: one root instruction
    return r;
}

// sqrt(2) (cos, sin) of the angle 2 pi b / 2^32, times the tables' scale. The top 5 bits of b pick one of 32
// sectors, the next 23 the offset from its centre, d = (pi / 16) e with e in [-1/2, 1/2) exact (an angle step of
// 2 pi 2^-28); cos and sin of the centre come from the tables, of d from polynomials (|error| < 2e-9), and the
// angle-sum formulas join them.
LANES_INLINE void angle_of(const Tables *t, vu b, vf *c0, vf *s0) {
    vu j = b >> 27;
    vf e = (vf)(((b >> 4) & 0x007fffff) | 0x3f800000) - 1.5f, e2 = e * e;
    // (pi/16)^4/24, (pi/16)^2/2; (pi/16)^5/120, (pi/16)^3/6, pi/16
    vf cos_d = fma_lanes(fma_lanes(e2, splat(0x1.03c1f0p-14f), splat(-0x1.3bd3ccp-6f)), e2, splat(1.0f));
    vf sin_d = fma_lanes(e2, splat(0x1.466bc6p-19f), splat(-0x1.4abbcep-10f));
    sin_d = fma_lanes(sin_d, e2, splat(0x1.921fb6p-3f)) * e;
    vf cj = lookup32(t->cos, j), sj = lookup32(t->sin, j);
    *c0 = fma_lanes(cj, cos_d, -(sj * sin_d));
    *s0 = fma_lanes(sj, cos_d, cj * sin_d);
}

// A group's 32 values (radius outputs of its lanes from radius, angle outputs from angle): 16 cosines, then the
// 16 sines.
LANES_INLINE void box_muller(const Tables *t, Lanes *radius, Lanes *angle, float out[NOISE_GROUP]) {
    for (int p = 0; p < PARTS; p++) {
        vf r = radius_of(t, next(radius->s[p])), c, s;
        angle_of(t, next(angle->s[p]), &c, &s);
        c *= r, s *= r;
        memcpy(out + p * W, &c, sizeof c), memcpy(out + NOISE_LANES + p * W, &s, sizeof s);
    }
}

void noise_from_bits(const uint32_t a[NOISE_LANES], const uint32_t b[NOISE_LANES], float out[NOISE_GROUP]) {
    Tables t;
    load_tables(&t, 1.0f);
    for (int p = 0; p < PARTS; p++) {
        vu va, vb;
        memcpy(&va, a + p * W, sizeof va), memcpy(&vb, b + p * W, sizeof vb);
        vf r = radius_of(&t, va), c, s;
        angle_of(&t, vb, &c, &s);
        c *= r, s *= r;
        memcpy(out + p * W, &c, sizeof c), memcpy(out + NOISE_LANES + p * W, &s, sizeof s);
    }
}

void noise_fill(NoiseStream *st, float *out, size_t len) {
    Tables t;
    load_tables(&t, 1.0f);
    Lanes radius, angle; // in registers across the groups
    lanes_in(&radius, st->s[0]), lanes_in(&angle, st->s[1]);
    for (size_t i = 0; i < len; i += NOISE_GROUP) {
        float z[NOISE_GROUP];
        box_muller(&t, &radius, &angle, i + NOISE_GROUP <= len ? out + i : z);
        if (i + NOISE_GROUP > len) memcpy(out + i, z, (len - i) * sizeof(float)); // a last partial group's head
    }
    lanes_out(&radius, st->s[0]), lanes_out(&angle, st->s[1]);
}

void noise_descend(NoiseStream *st, float *x, const float *g, size_t len, float lr, float k) {
    Tables t;
    load_tables(&t, lr * k); // x -= lr g + r (lr k) sqrt(2) (cos, sin): an ulp or so from lr (g + k z)
    Lanes radius, angle;
    lanes_in(&radius, st->s[0]), lanes_in(&angle, st->s[1]);
    vf minus_lr = splat(-lr);
    size_t i = 0;
    for (; i + NOISE_GROUP <= len; i += NOISE_GROUP) {
        // 4 KB ahead, within the block: the arithmetic leaves the hardware prefetcher behind (10-15% faster from
        // memory, measured on Zen 5)
        size_t ahead = i + 1024 + NOISE_GROUP <= len ? i + 1024 : i;
        __builtin_prefetch(x + ahead, 1), __builtin_prefetch(x + ahead + 16, 1);
        __builtin_prefetch(g + ahead), __builtin_prefetch(g + ahead + 16);
        for (int p = 0; p < PARTS; p++) {
            vf r = radius_of(&t, next(radius.s[p])), c, s, x0, x1, g0, g1;
            angle_of(&t, next(angle.s[p]), &c, &s);
            float *xc = x + i + p * W, *xs = xc + NOISE_LANES;
            const float *gc = g + i + p * W, *gs = gc + NOISE_LANES;
            memcpy(&x0, xc, sizeof x0), memcpy(&x1, xs, sizeof x1);
            memcpy(&g0, gc, sizeof g0), memcpy(&g1, gs, sizeof g1);
            x0 = fma_lanes(-r, c, fma_lanes(minus_lr, g0, x0)), x1 = fma_lanes(-r, s, fma_lanes(minus_lr, g1, x1));
            memcpy(xc, &x0, sizeof x0), memcpy(xs, &x1, sizeof x1);
        }
    }
    if (i < len) { // a last partial group, with its own roundings
        float z[NOISE_GROUP];
        box_muller(&t, &radius, &angle, z);
        for (size_t m = 0; i + m < len; m++) x[i + m] = (x[i + m] - lr * g[i + m]) - z[m];
    }
    lanes_out(&radius, st->s[0]), lanes_out(&angle, st->s[1]);
}

double noise_sum_squares(uint64_t key, uint64_t block, size_t len) {
    NoiseStream st;
    noise_start(&st, key, block);
    Lanes radius;
    lanes_in(&radius, st.s[0]);
    // The pairs' r^2 = -2 ln u1 add up to -2 ln of the product of the u1 = F / 2^24: each lane multiplies the
    // groups' F (exact floats in [1, 2^24]) into two running products (even and odd groups: two chains of
    // multiplications in flight), one rounding each, and every 4 groups moves their exponents into an integer (the
    // products stay under 2^49). One multiplication a pair instead of a logarithm, and no angles at all.
    vf even[PARTS], odd[PARTS];
    vi exponent[PARTS];
    for (int p = 0; p < PARTS; p++) even[p] = odd[p] = splat(1.0f), exponent[p] = (vi){0};
    size_t whole = len / NOISE_GROUP, i = 0;
    for (; i + 4 <= whole; i += 4)
        for (int p = 0; p < PARTS; p++) {
            vu *s = radius.s[p];
            even[p] *= radius_integer(next(s)), odd[p] *= radius_integer(next(s));
            even[p] *= radius_integer(next(s)), odd[p] *= radius_integer(next(s));
            vi e = (vi)even[p], o = (vi)odd[p]; // = 2^(exponent - 127) m, m in [1, 2)
            exponent[p] += ((e >> 23) - 127) + ((o >> 23) - 127);
            even[p] = (vf)((e & 0x007fffff) | 0x3f800000), odd[p] = (vf)((o & 0x007fffff) | 0x3f800000);
        }
    for (; i < whole; i++)
        for (int p = 0; p < PARTS; p++) even[p] *= radius_integer(next(radius.s[p]));
    double sum = 0;
    for (int l = 0; l < NOISE_LANES; l++) { // the 2^24 of each u1 taken out in integers, before any rounding
        int p = l / W, m = l % W;
        sum -= 2 * ((exponent[p][m] - 24 * (double)whole) * 0.69314718055994531 + log((double)even[p][m]) +
                    log((double)odd[p][m]));
    }
    if (whole * NOISE_GROUP < len) { // the last partial group: its values' own squares
        Lanes angle;
        lanes_in(&angle, st.s[1]);
        for (size_t q = 0; q < whole; q++)
            for (int p = 0; p < PARTS; p++) next(angle.s[p]);
        lanes_out(&radius, st.s[0]), lanes_out(&angle, st.s[1]);
        float z[NOISE_GROUP];
        noise_fill(&st, z, len - whole * NOISE_GROUP);
        for (size_t j = 0; j < len - whole * NOISE_GROUP; j++) sum += (double)z[j] * z[j];
    }
    return sum;
}
