#include "tail_index.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define Z95 1.959963984540054 // the two-sided 95% normal quantile

static const TailIndex undefined = {NAN, NAN, NAN, 0};

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *sorted_copy(const double *x, long n) {
    double *s = nn_malloc((size_t)(n > 0 ? n : 1) * sizeof(double));
    memcpy(s, x, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), ascending);
    return s;
}

// The interval of alpha from one of 1/alpha: c +- Z95 se, inverted (an upper end at or below 0 is no bound).
static TailIndex from_inverse(double c, double se, long k) {
    double lo = c + Z95 * se, hi = c - Z95 * se; // of 1/alpha: the low end of alpha comes from the high one
    return (TailIndex){.alpha = c > 0 ? 1 / c : INFINITY, .lo = lo > 0 ? 1 / lo : INFINITY,
                       .hi = hi > 0 ? 1 / hi : INFINITY, .k = k};
}

TailIndex tail_hill(const double *x, long n, long k) {
    if (k < 1 || k >= n) return undefined;
    double *s = sorted_copy(x, n);
    double threshold = s[n - k - 1], sum = 0;
    for (long j = n - k; j < n; j++) sum += log(s[j] / threshold);
    free(s);
    if (!(threshold > 0) || !(sum > 0)) return undefined;
    double c = sum / (double)k; // 1/alpha^, whose standard error is (1/alpha) / sqrt(k)
    return from_inverse(c, c / sqrt((double)k), k);
}

long tail_hill_k(long n) {
    if (n < 20) return 0;
    long k = lround(sqrt((double)n));
    return k < 10 ? 10 : k;
}

TailIndex tail_stable_blocks(const double *log_x, const double *log_y, long k1, long blocks) {
    if (k1 < 2 || blocks < 2) return undefined;
    double sum = 0, sq = 0;
    for (long j = 0; j < blocks; j++) {
        double mean_x = 0;
        for (long i = 0; i < k1; i++) mean_x += log_x[j * k1 + i];
        double d = log_y[j] - mean_x / (double)k1;
        sum += d, sq += d * d;
    }
    double mean = sum / (double)blocks, var = (sq - sum * mean) / (double)(blocks - 1);
    double se = sqrt(var > 0 ? var : 0) / sqrt((double)blocks);
    return from_inverse(mean / log((double)k1), se / log((double)k1), k1);
}

double tail_quantile(const double *x, long n, double q) {
    if (n < 1) return NAN;
    double *s = sorted_copy(x, n), at = q * (double)(n - 1);
    long i = (long)floor(at);
    double v = i + 1 < n ? s[i] + (at - (double)i) * (s[i + 1] - s[i]) : s[n - 1];
    free(s);
    return v;
}

double stable_draw(Rng *r, double alpha) {
    const double pi = 3.141592653589793;
    double v = pi * ((double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0) - 0.5); // [-pi/2, pi/2)
    if (v <= -pi / 2) v = 0; // the one value where cos(v) = 0
    double w = -log(((double)(rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0)); // Exp(1), never 0
    if (alpha == 1) return tan(v);
    return sin(alpha * v) / pow(cos(v), 1 / alpha) * pow(cos(v - alpha * v) / w, (1 - alpha) / alpha);
}
