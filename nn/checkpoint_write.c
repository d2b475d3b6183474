// Checkpoint files, writing (the format is documented in checkpoint.h): streamed through deflate into a temporary
// file, then fsync, rename and a directory fsync.
#define _POSIX_C_SOURCE 200809L
#include "checkpoint_format.h"
#include "atomic_file.h"
#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

// ---------------------------------------------------------------------------------------------------------------
// Writer

struct CkptWriter {
    char *path, *tmp;
    int fd;
    uint64_t pos;             // bytes written to the temporary file
    uint64_t count_offset;    // where the tensor count goes at commit
    uint32_t prefix_crc;      // crc32 of the header bytes before the count
    uint32_t count;
    char **names;             // [count], for the duplicate check at commit
    size_t cap;
    z_stream z;
    unsigned char *zbuf;      // [ZCHUNK]
};

// Every writer error ends here: remove the temporary file so nothing half-written is left, then exit.
__attribute__((format(printf, 2, 3))) _Noreturn static void writer_fail(CkptWriter *w, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    NN_FATAL("writing checkpoint '%s' failed: %s (the previous checkpoint, if any, is intact)", w->path, msg);
}

static void writer_write(CkptWriter *w, const void *data, size_t n) {
    const char *p = data;
    while (n) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) writer_fail(w, "%s", k < 0 ? strerror(errno) : "write returned 0");
        p += k, n -= (size_t)k, w->pos += (uint64_t)k;
    }
}

static void writer_pwrite(CkptWriter *w, const void *data, size_t n, uint64_t offset) {
    const char *p = data;
    while (n) {
        ssize_t k = pwrite(w->fd, p, n, (off_t)offset);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) writer_fail(w, "%s", k < 0 ? strerror(errno) : "pwrite returned 0");
        p += k, n -= (size_t)k, offset += (uint64_t)k;
    }
}

CkptWriter *ckpt_begin(const char *path, const char *config) {
    size_t clen = strlen(config);
    NN_CHECK(clen < UINT32_MAX, "checkpoint '%s': configuration of %zu bytes is too long", path, clen);
    CkptWriter *w = nn_calloc(1, sizeof *w);
    w->path = nn_strdup(path);
    w->fd = nn_tmp_beside(path, &w->tmp);
    NN_CHECK(w->fd >= 0, "cannot create checkpoint '%s': creating a temporary file beside it failed: %s", path,
             strerror(errno));
    w->z.zalloc = Z_NULL, w->z.zfree = Z_NULL, w->z.opaque = Z_NULL;
    if (deflateInit2(&w->z, ZLEVEL, Z_DEFLATED, 15, 8, ZSTRATEGY) != Z_OK) writer_fail(w, "zlib deflateInit failed");
    w->zbuf = nn_malloc(ZCHUNK);

    unsigned char head[12];
    memcpy(head, MAGIC, 4);
    put_u32(head + 4, CKPT_VERSION);
    put_u32(head + 8, (uint32_t)clen);
    w->prefix_crc = crc_bytes(crc_bytes(0, head, 12), config, clen);
    writer_write(w, head, 12);
    writer_write(w, config, clen);
    w->count_offset = w->pos;
    unsigned char placeholder[8] = {0}; // count and header crc, known at commit
    writer_write(w, placeholder, 8);
    return w;
}

static void put_tensor(CkptWriter *w, const char *name, CkptDtype dtype, int ndim, const uint64_t *dims,
                       const void *data) {
    size_t nlen = strlen(name);
    if (!name_ok(name, nlen))
        writer_fail(w, "tensor name '%s': 1..%d printable characters without spaces accepted", name, CKPT_MAX_NAME);
    if (ndim < 0 || ndim > CKPT_MAX_DIMS)
        writer_fail(w, "tensor '%s': %d dimensions (0..%d accepted)", name, ndim, CKPT_MAX_DIMS);
    if (w->count == UINT32_MAX) writer_fail(w, "too many tensors");
    uint64_t raw;
    if (!raw_size(dtype, ndim, dims, &raw)) writer_fail(w, "tensor '%s': size overflows", name);
    if (raw && !data) writer_fail(w, "tensor '%s': no data", name);

    // Record header with placeholders for the compressed length and crcs, rewritten once the payload is out.
    unsigned char meta[4 + CKPT_MAX_NAME + 8 + 8 * CKPT_MAX_DIMS + 28];
    size_t m = 0;
    put_u32(meta, (uint32_t)nlen), m += 4;
    memcpy(meta + m, name, nlen), m += nlen;
    put_u32(meta + m, (uint32_t)dtype), m += 4;
    put_u32(meta + m, (uint32_t)ndim), m += 4;
    for (int d = 0; d < ndim; d++) put_u64(meta + m, dims[d]), m += 8;
    put_u64(meta + m, raw), m += 8;
    size_t zlen_at = m;
    m += 8 + 4 + 4 + 4;
    memset(meta + zlen_at, 0, 20);
    uint64_t record_start = w->pos;
    writer_write(w, meta, m);

    // Stream deflate: input in chunks zlib's 32-bit counters can hold, output through zbuf to the file.
    if (deflateReset(&w->z) != Z_OK) writer_fail(w, "zlib deflateReset failed");
    const unsigned char *in = data;
    uint64_t left = raw, zlen = 0;
    uint32_t crc = 0, zcrc = 0;
    int flush;
    do {
        unsigned k = left > (1u << 30) ? 1u << 30 : (unsigned)left;
        crc = crc_bytes(crc, in, k);
        w->z.next_in = (unsigned char *)in, w->z.avail_in = k; // zlib's API is not const-correct
        in += k, left -= k;
        flush = left ? Z_NO_FLUSH : Z_FINISH;
        int zr;
        do {
            w->z.next_out = w->zbuf, w->z.avail_out = ZCHUNK;
            zr = deflate(&w->z, flush);
            if (zr == Z_STREAM_ERROR) writer_fail(w, "tensor '%s': zlib deflate failed", name);
            size_t out = ZCHUNK - w->z.avail_out;
            writer_write(w, w->zbuf, out);
            zcrc = crc_bytes(zcrc, w->zbuf, out);
            zlen += out;
        } while (w->z.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
    } while (flush != Z_FINISH);

    put_u64(meta + zlen_at, zlen);
    put_u32(meta + zlen_at + 8, crc);
    put_u32(meta + zlen_at + 12, zcrc);
    put_u32(meta + zlen_at + 16, crc_bytes(0, meta, zlen_at + 16));
    writer_pwrite(w, meta, m, record_start);

    if (w->count == w->cap) w->names = nn_realloc(w->names, (w->cap = w->cap ? 2 * w->cap : 32) * sizeof *w->names);
    w->names[w->count++] = nn_strdup(name);
}

// int shapes (as in ParamView) to the file's u64 dims; negative sizes are the caller's bug.
static void put_shaped(CkptWriter *w, const char *name, CkptDtype dtype, int ndim, const int *shape,
                       const void *data) {
    uint64_t dims[CKPT_MAX_DIMS];
    if (ndim < 0 || ndim > CKPT_MAX_DIMS)
        writer_fail(w, "tensor '%s': %d dimensions (0..%d accepted)", name, ndim, CKPT_MAX_DIMS);
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) writer_fail(w, "tensor '%s': dimension %d is %d", name, d, shape[d]);
        dims[d] = (uint64_t)shape[d];
    }
    put_tensor(w, name, dtype, ndim, dims, data);
}

void ckpt_put_f32(CkptWriter *w, const char *name, int ndim, const int *shape, const float *data) {
    put_shaped(w, name, CKPT_F32, ndim, shape, data);
}
void ckpt_put_f64(CkptWriter *w, const char *name, int ndim, const int *shape, const double *data) {
    put_shaped(w, name, CKPT_F64, ndim, shape, data);
}
void ckpt_put_i32(CkptWriter *w, const char *name, int ndim, const int *shape, const int32_t *data) {
    put_shaped(w, name, CKPT_I32, ndim, shape, data);
}
void ckpt_put_u64(CkptWriter *w, const char *name, int ndim, const int *shape, const uint64_t *data) {
    put_shaped(w, name, CKPT_U64, ndim, shape, data);
}
void ckpt_put_bytes(CkptWriter *w, const char *name, const void *data, size_t len) {
    uint64_t dim = len;
    put_tensor(w, name, CKPT_BYTES, 1, &dim, data);
}

void ckpt_put_views(CkptWriter *w, const char *prefix, const ParamView *views, int nviews, const float *flat) {
    char name[CKPT_MAX_NAME + 2];
    for (int i = 0; i < nviews; i++) {
        const ParamView *v = &views[i];
        if (snprintf(name, sizeof name, "%s%s", prefix, v->name) > CKPT_MAX_NAME)
            writer_fail(w, "tensor name '%s%s' is longer than %d characters", prefix, v->name, CKPT_MAX_NAME);
        put_shaped(w, name, CKPT_F32, v->ndim, v->shape, flat + v->offset);
    }
}

void ckpt_put_params(CkptWriter *w, const char *prefix, const Params *p) {
    ckpt_put_views(w, prefix, p->views, p->nviews, p->param);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void writer_free(CkptWriter *w) {
    deflateEnd(&w->z);
    for (uint32_t i = 0; i < w->count; i++) free(w->names[i]);
    free(w->names), free(w->zbuf), free(w->tmp), free(w->path), free(w);
}

void ckpt_commit(CkptWriter *w) {
    if (w->count > 1) qsort(w->names, w->count, sizeof *w->names, cmp_str); // (names is NULL when count is 0)
    for (uint32_t i = 1; i < w->count; i++)
        if (strcmp(w->names[i - 1], w->names[i]) == 0) writer_fail(w, "tensor '%s' was put twice", w->names[i]);
    unsigned char tail[8];
    put_u32(tail, w->count);
    put_u32(tail + 4, crc_bytes(w->prefix_crc, tail, 4));
    writer_pwrite(w, tail, 8, w->count_offset);
    // nn_publish syncs the data before the rename makes it the checkpoint, or a crash could leave a renamed but
    // empty file; a full disk on delayed allocation shows up there too.
    FILE *f = fdopen(w->fd, "w");
    if (!f) writer_fail(w, "fdopen: %s", strerror(errno));
    w->fd = -1;
    char err[256];
    if (nn_publish(f, w->tmp, w->path, err, sizeof err) != 0) writer_fail(w, "%s", err);
    writer_free(w);
}

void ckpt_abort(CkptWriter *w) {
    if (w->fd >= 0) close(w->fd);
    unlink(w->tmp);
    writer_free(w);
}
