#include "fma_peak.h"
#include "cli.h"
#include "nn/parallel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#define CHAINS 12           // 2 FMA pipes x 4-5 cycles of latency, with room to spare
#define ITERATIONS 40000000 // per thread: about 0.2 s at 3 GHz
// x = x * a + b with a = 1 and b = 0 keeps every value finite and normal (no slow paths), and the compiler cannot
// fold it: a and b come from memory it cannot see through (volatile).
static volatile float one = 1.0f, zero = 0.0f;

__attribute__((target("avx2,fma"))) static float chains256(long it) {
    __m256 x[CHAINS], a = _mm256_set1_ps(one), b = _mm256_set1_ps(zero);
    for (int i = 0; i < CHAINS; i++) x[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < it; k++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) x[i] = _mm256_fmadd_ps(x[i], a, b);
    __m256 s = x[0];
    for (int i = 1; i < CHAINS; i++) s = _mm256_add_ps(s, x[i]);
    return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) static float chains512(long it) {
    __m512 x[CHAINS], a = _mm512_set1_ps(one), b = _mm512_set1_ps(zero);
    for (int i = 0; i < CHAINS; i++) x[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < it; k++)
#pragma GCC unroll 12
        for (int i = 0; i < CHAINS; i++) x[i] = _mm512_fmadd_ps(x[i], a, b);
    __m512 s = x[0];
    for (int i = 1; i < CHAINS; i++) s = _mm512_add_ps(s, x[i]);
    return _mm512_reduce_add_ps(s);
}

static volatile float sink; // the chains' results go somewhere, so that the loops are not removed

static void run_chains(void *ctx, long begin, long end) {
    int bits = *(const int *)ctx;
    for (long t = begin; t < end; t++) sink = bits == 512 ? chains512(ITERATIONS) : chains256(ITERATIONS);
}

double fma_peak_gflops(int bits, int threads) {
    __builtin_cpu_init();
    int have = bits == 512 ? __builtin_cpu_supports("avx512f")
                           : __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!have) return 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) { // the best of three: a loaded machine only ever slows a run down
        double t0 = now_seconds();
        nn_parallel_for(threads, threads, run_chains, &bits);
        double gflops = 2.0 * (bits / 32) * CHAINS * (double)ITERATIONS * threads / (now_seconds() - t0) / 1e9;
        if (gflops > best) best = gflops;
    }
    return best;
}

#else
double fma_peak_gflops(int bits, int threads) {
    (void)bits, (void)threads;
    return 0;
}
#endif
