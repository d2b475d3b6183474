// Reader for the NNFX reference fixtures (tests/ref/*.bin) and the comparison tests report with; see fixture.h.
// The whole file is read into memory and parsed with a bounds check before every read, so a damaged file is
// reported with its name, the tensor reached and the byte offset, never read out of bounds.
#include "tests/fixture.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/check.h"

_Static_assert(sizeof(float) == 4 && sizeof(int) == 4, "fixtures store 4-byte float32 and int32 elements");

#define FX_VERSION 1
#define FX_MAX_FILE (1L << 30)   // far above any fixture (a few KB): a bigger file is not one of ours
#define FX_MAX_COUNT 100000
#define FX_HINT "(regenerate with: /usr/bin/python3 tests/ref/make_fixtures.py or make_optim_fixtures.py)"

typedef struct {
    const char *path;
    const unsigned char *buf;
    long len, pos;
    int index;         // tensor being parsed, -1 in the header
    const char *name;  // its name once read, for messages
} Reader;

// Fails unless `n` more bytes are available; `what` names the field being read.
static void need(const Reader *r, long n, const char *what) {
    if (n <= r->len - r->pos) return;
    if (r->index < 0)
        NN_FATAL("fixture '%s' is truncated: %s needs %ld bytes at offset %ld, file has %ld %s",
                 r->path, what, n, r->pos, r->len, FX_HINT);
    NN_FATAL("fixture '%s' is truncated: tensor %d ('%s'): %s needs %ld bytes at offset %ld, file has %ld %s",
             r->path, r->index, r->name ? r->name : "?", what, n, r->pos, r->len, FX_HINT);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t read_u32(Reader *r, const char *what) {
    need(r, 4, what);
    uint32_t v = le32(r->buf + r->pos);
    r->pos += 4;
    return v;
}

static unsigned char *read_file(const char *path, long *len) {
    FILE *f = fopen(path, "rb");
    NN_CHECK(f, "cannot open fixture '%s': %s (tests open fixtures relative to the repository root: run them "
             "from there; the files are written by tests/ref/make_fixtures.py and make_optim_fixtures.py)", path,
             strerror(errno));
    long cap = 1 << 16, n = 0;
    unsigned char *buf = nn_malloc((size_t)cap);
    for (;;) {
        if (n == cap) {
            NN_CHECK(cap < FX_MAX_FILE, "fixture '%s' is larger than %ld bytes: not a fixture file %s",
                     path, FX_MAX_FILE, FX_HINT);
            cap *= 2;
            buf = nn_realloc(buf, (size_t)cap);
        }
        size_t got = fread(buf + n, 1, (size_t)(cap - n), f);
        n += (long)got;
        if (got == 0) break;
    }
    NN_CHECK(!ferror(f), "reading fixture '%s' failed after %ld bytes", path, n);
    fclose(f);
    *len = n;
    return buf;
}

static void parse_tensor(Reader *r, FxTensor *t) {
    uint32_t name_len = read_u32(r, "the name length");
    NN_CHECK(name_len >= 1 && name_len < sizeof t->name,
             "fixture '%s': tensor %d has a name length of %u at offset %ld (accepted: 1..%zu) %s",
             r->path, r->index, name_len, r->pos - 4, sizeof t->name - 1, FX_HINT);
    need(r, name_len, "the name");
    memcpy(t->name, r->buf + r->pos, name_len);
    t->name[name_len] = '\0';
    for (uint32_t k = 0; k < name_len; k++)
        NN_CHECK(t->name[k] > ' ' && t->name[k] < 127, "fixture '%s': tensor %d's name has byte 0x%02x at "
                 "offset %ld (names are printable ASCII) %s", r->path, r->index, (unsigned char)t->name[k],
                 r->pos + (long)k, FX_HINT);
    r->pos += name_len;
    r->name = t->name;

    uint32_t dtype = read_u32(r, "the dtype");
    NN_CHECK(dtype == FX_F32 || dtype == FX_I32, "fixture '%s': tensor %d ('%s') has unknown dtype %u "
             "(accepted: 0 = float32, 1 = int32) %s", r->path, r->index, t->name, dtype, FX_HINT);
    t->dtype = (int)dtype;
    uint32_t ndim = read_u32(r, "ndim");
    NN_CHECK(ndim >= 1 && ndim <= 4, "fixture '%s': tensor %d ('%s') has ndim %u (accepted: 1..4; a scalar is "
             "ndim 1, dims [1]) %s", r->path, r->index, t->name, ndim, FX_HINT);
    t->ndim = (int)ndim;

    // The element count is checked against the bytes left after every factor, so it can neither overflow nor
    // ask for more memory than the file could fill.
    int64_t size = 1;
    for (int d = 0; d < 4; d++) t->shape[d] = 1;
    for (int d = 0; d < t->ndim; d++) {
        int32_t dim;
        uint32_t u = read_u32(r, "a dimension");
        memcpy(&dim, &u, sizeof dim);
        NN_CHECK(dim >= 0, "fixture '%s': tensor %d ('%s') has dimension %d = %d %s",
                 r->path, r->index, t->name, d, (int)dim, FX_HINT);
        t->shape[d] = (int)dim;
        size *= dim;
        NN_CHECK(size <= (r->len - r->pos) / 4, "fixture '%s': tensor %d ('%s') has %lld elements up to "
                 "dimension %d but only %ld bytes are left at offset %ld (truncated, or absurd sizes) %s",
                 r->path, r->index, t->name, (long long)size, d, r->len - r->pos, r->pos, FX_HINT);
    }
    t->size = (long)size;
    need(r, 4 * t->size, "the data");
    // Each element is assembled from its little-endian bytes, then copied into a float or int (both 4 bytes,
    // asserted above), so neither the host's byte order nor the buffer's alignment matters.
    const unsigned char *p = r->buf + r->pos;
    t->f = NULL;
    t->i = NULL;
    if (t->dtype == FX_F32) {
        t->f = nn_malloc((size_t)t->size * sizeof(float));
        for (long k = 0; k < t->size; k++) {
            uint32_t u = le32(p + 4 * k);
            memcpy(&t->f[k], &u, 4);
        }
    } else {
        t->i = nn_malloc((size_t)t->size * sizeof(int));
        for (long k = 0; k < t->size; k++) {
            uint32_t u = le32(p + 4 * k);
            memcpy(&t->i[k], &u, 4);
        }
    }
    r->pos += 4 * t->size;
}

void fx_load(Fixture *fx, const char *path) {
    long len;
    unsigned char *buf = read_file(path, &len);
    Reader r = {.path = path, .buf = buf, .len = len, .pos = 0, .index = -1, .name = NULL};

    need(&r, 4, "the magic");
    NN_CHECK(memcmp(buf, "NNFX", 4) == 0, "fixture '%s' has bad magic %02x %02x %02x %02x (want \"NNFX\"): "
             "not a fixture file %s", path, buf[0], buf[1], buf[2], buf[3], FX_HINT);
    r.pos = 4;
    uint32_t version = read_u32(&r, "the version");
    NN_CHECK(version == FX_VERSION, "fixture '%s' has version %u; this reader knows version %d %s",
             path, version, FX_VERSION, FX_HINT);
    uint32_t count = read_u32(&r, "the tensor count");
    NN_CHECK(count >= 1 && count <= FX_MAX_COUNT, "fixture '%s' declares %u tensors (accepted: 1..%d) %s",
             path, count, FX_MAX_COUNT, FX_HINT);

    fx->n = 0;
    fx->t = nn_calloc(count, sizeof *fx->t);
    for (uint32_t k = 0; k < count; k++) {
        r.index = (int)k;
        r.name = NULL;
        parse_tensor(&r, &fx->t[k]);
        fx->n = (int)k + 1;
        for (uint32_t j = 0; j < k; j++)
            NN_CHECK(strcmp(fx->t[j].name, fx->t[k].name) != 0, "fixture '%s': tensors %u and %u are both "
                     "named '%s' %s", path, j, k, fx->t[k].name, FX_HINT);
    }
    NN_CHECK(r.pos == len, "fixture '%s' has %ld unexpected bytes after its %u tensors (from offset %ld) %s",
             path, len - r.pos, count, r.pos, FX_HINT);
    free(buf);
}

const FxTensor *fx_get(const Fixture *fx, const char *name) {
    for (int k = 0; k < fx->n; k++)
        if (strcmp(fx->t[k].name, name) == 0) return &fx->t[k];
    size_t cap = 1 + (size_t)fx->n * (sizeof fx->t[0].name + 1), used = 0;
    char *list = nn_malloc(cap);
    list[0] = '\0';
    for (int k = 0; k < fx->n; k++)
        used += (size_t)snprintf(list + used, cap - used, "%s%s", k ? " " : "", fx->t[k].name);
    NN_FATAL("fixture has no tensor '%s'; it has %d: %s", name, fx->n, list);
}

void fx_free(Fixture *fx) {
    for (int k = 0; k < fx->n; k++) {
        free(fx->t[k].f);
        free(fx->t[k].i);
    }
    free(fx->t);
    fx->t = NULL;
    fx->n = 0;
}

long fx_compare(const char *what, const float *got, const float *want, long n, double rtol, double atol) {
    NN_CHECK(n >= 0 && (n == 0 || (got && want)), "fx_compare('%s'): n = %ld, got %p, want %p",
             what, n, (const void *)got, (const void *)want);
    double max_abs = 0, max_rel = 0;
    int nan = 0;
    long bad = 0;
    for (long k = 0; k < n; k++) {
        double g = got[k], w = want[k], err = fabs(g - w);
        if (isnan(err)) nan = 1;
        else if (err > max_abs) max_abs = err;
        if (w != 0 && !isnan(err) && err / fabs(w) > max_rel) max_rel = err / fabs(w);
        if (!(err <= atol + rtol * fabs(w))) bad++;   // written so that a NaN fails
    }
    if (nan) max_abs = max_rel = NAN;
    printf("# %s: n=%ld max_abs=%.3g max_rel=%.3g (rtol=%g atol=%g)", what, n, max_abs, max_rel, rtol, atol);
    if (bad) printf(" FAIL %ld of %ld", bad, n);
    printf("\n");
    long shown = 0;
    for (long k = 0; k < n && shown < 5 && bad; k++) {
        double g = got[k], w = want[k], err = fabs(g - w);
        if (err <= atol + rtol * fabs(w)) continue;
        printf("#   [%ld] got=%.9g want=%.9g\n", k, g, w);
        shown++;
    }
    fflush(stdout);
    return bad;
}
