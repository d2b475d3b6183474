#include "sampler.h"
#include "nn/check.h"

#include <stdlib.h>
#include <string.h>

Order sampler_order(const char *name) {
    static const char *const names[] = {"cyclic", "shuffle", "replace"};
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) return (Order)i;
    NN_FATAL("--order '%s': accepted cyclic (the same batch order every epoch, incremental gradient), shuffle "
             "(random reshuffling each epoch), replace (batches drawn uniformly with replacement)", name);
}

void sampler_init(Sampler *s, Order order, long m, uint64_t seed) {
    NN_CHECK(m >= 1 && m < (1L << 32), "sampler: %ld batches (1..2^32 accepted)", m);
    memset(s, 0, sizeof *s);
    s->order = order, s->m = m;
    rng_seed(&s->rng, seed);
    if (order == ORDER_SHUFFLE) {
        s->perm = nn_malloc((size_t)m * sizeof *s->perm);
        for (long i = 0; i < m; i++) s->perm[i] = i;
    }
}

void sampler_epoch(Sampler *s) {
    if (s->order != ORDER_SHUFFLE) return;
    for (long i = s->m - 1; i > 0; i--) { // Fisher-Yates
        long j = (long)rng_below(&s->rng, (uint32_t)(i + 1));
        long t = s->perm[i];
        s->perm[i] = s->perm[j], s->perm[j] = t;
    }
}

long sampler_next(Sampler *s, long i) {
    switch (s->order) {
    case ORDER_SHUFFLE: return s->perm[i];
    case ORDER_REPLACE: return (long)rng_below(&s->rng, (uint32_t)s->m);
    default: return i;
    }
}

void sampler_free(Sampler *s) {
    free(s->perm);
    s->perm = NULL;
}
