// The machine's peak single-precision multiply-add rate, measured: independent fused multiply-add chains (enough
// to fill every FMA pipe) in registers, on `threads` threads of the pool at once, 256-bit (AVX2+FMA) and 512-bit
// (AVX-512F) wide. The reference that `nnopt bench --peak` and bench/run.sh divide achieved GFLOP/s by.
#ifndef TOOLS_FMA_PEAK_H
#define TOOLS_FMA_PEAK_H

// GFLOP/s (2 flops per lane per FMA) with vectors of `bits` (256 or 512) on `threads` threads; 0 when this CPU
// lacks the instructions.
double fma_peak_gflops(int bits, int threads);

#endif
