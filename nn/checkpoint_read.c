// Checkpoint files, reading (the format is documented in checkpoint.h). The parser works on a buffer and returns
// messages (fuzzable, never exits); the fatal API is a thin layer on top.
#define _POSIX_C_SOURCE 200809L
#include "checkpoint_format.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

// ---------------------------------------------------------------------------------------------------------------
// Reader: parse and validate a whole buffer, returning a message instead of exiting.

typedef struct {
    CkptInfo info;
    size_t payload;           // offset of the zlib stream
    uint64_t zlen;
    uint32_t crc, zcrc;       // of the raw bytes, of the compressed ones
    char name[CKPT_MAX_NAME + 1];
    int read;                 // copied out by ckpt_read (for ckpt_expect_all_read)
} Tensor;

struct CkptReader {
    char *label;              // the path, or the caller's label
    const unsigned char *buf; // [len] the file
    size_t len;
    unsigned char *owned;     // buf when ckpt_open loaded it
    char *config;
    Tensor *t;                // [n] in file order
    int n;
    Tensor **by_name;         // [n] sorted by name, for binary search
    z_stream z;
    int z_ready;
};

typedef struct {
    CkptReader *r;
    size_t off;               // read position
    const char *tensor;       // what is being parsed, for messages: "tensor 'x'" context or NULL
    char *err;
    size_t errcap;
} Cursor;

// "checkpoint '<label>'<how> byte <off>: [<tensor>: ]<message>"
__attribute__((format(printf, 4, 0))) static int vfail(Cursor *c, size_t off, const char *how, const char *fmt,
                                                       va_list ap) {
    size_t n = (size_t)snprintf(c->err, c->errcap, "checkpoint '%s'%s byte %zu: %s%s", c->r->label, how, off,
                                c->tensor ? c->tensor : "", c->tensor ? ": " : "");
    if (n < c->errcap) vsnprintf(c->err + n, c->errcap - n, fmt, ap);
    return -1;
}

// Every defect a damaged file can show says "is damaged" (one phrase, so a user and a test can tell damage from a
// mismatch of model or configuration): truncation, a crc32, zlib, an impossible length or name.
__attribute__((format(printf, 3, 4))) static int parse_fail(Cursor *c, size_t off, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(c, off, " is damaged:", fmt, ap);
    va_end(ap);
    return -1;
}

// Refusals that need not be damage: the magic and the version (another kind of file, a newer format; their messages
// name damage as one explanation) and zlib's own failures (out of memory).
__attribute__((format(printf, 3, 4))) static int refuse(Cursor *c, size_t off, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(c, off, ",", fmt, ap);
    va_end(ap);
    return -1;
}

// 0 when `n` more bytes exist at the read position, else a truncation message.
static int need(Cursor *c, uint64_t n, const char *what) {
    size_t left = c->r->len - c->off;
    if (n <= left) return 0;
    return parse_fail(c, c->off, "the file is truncated: %s needs %llu bytes, %zu remain", what,
                      (unsigned long long)n, left);
}

static int take_u32(Cursor *c, uint32_t *v, const char *what) {
    if (need(c, 4, what)) return -1;
    *v = get_u32(c->r->buf + c->off), c->off += 4;
    return 0;
}

static int take_u64(Cursor *c, uint64_t *v, const char *what) {
    if (need(c, 8, what)) return -1;
    *v = get_u64(c->r->buf + c->off), c->off += 8;
    return 0;
}

// Inflates tensor t's payload into dst (or into the reader's scratch when dst is NULL, to validate), checking the
// exact length, that the stream ends where the record does, and the crc32.
static int inflate_tensor(CkptReader *r, const Tensor *t, unsigned char *dst, char *err, size_t errcap) {
    Cursor c = {r, t->payload, NULL, err, errcap};
    char ctx[CKPT_MAX_NAME + 16];
    snprintf(ctx, sizeof ctx, "tensor '%s'", t->info.name);
    c.tensor = ctx;
    unsigned char scratch[1 << 14];
    if (!r->z_ready) {
        memset(&r->z, 0, sizeof r->z);
        if (inflateInit(&r->z) != Z_OK) return refuse(&c, t->payload, "zlib inflateInit failed");
        r->z_ready = 1;
    } else if (inflateReset(&r->z) != Z_OK) {
        return refuse(&c, t->payload, "zlib inflateReset failed");
    }
    const unsigned char *in = r->buf + t->payload;
    uint64_t in_left = t->zlen, out_done = 0, raw = t->info.nbytes;
    uint32_t crc = 0;
    int zr = Z_OK;
    while (zr != Z_STREAM_END) {
        if (r->z.avail_in == 0 && in_left) {
            unsigned k = in_left > (1u << 30) ? 1u << 30 : (unsigned)in_left;
            r->z.next_in = (unsigned char *)in, r->z.avail_in = k;
            in += k, in_left -= k;
        }
        // Output room: the rest of dst (capped to 32 bits), or the scratch; one spare byte detects overlong data.
        unsigned char *out;
        uint64_t room = raw - out_done;
        if (dst) {
            out = room ? dst + out_done : scratch;
            room = room ? (room > (1u << 30) ? 1u << 30 : room) : 1;
        } else {
            out = scratch;
            room = sizeof scratch;
        }
        r->z.next_out = out, r->z.avail_out = (unsigned)room;
        unsigned in_before = r->z.avail_in;
        zr = inflate(&r->z, Z_NO_FLUSH);
        uint64_t got = room - r->z.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            return parse_fail(&c, t->payload + (size_t)(t->zlen - in_left - r->z.avail_in),
                              "zlib data error (%s) after %llu of %llu bytes", r->z.msg ? r->z.msg : "corrupt stream",
                              (unsigned long long)(out_done + got), (unsigned long long)raw);
        if (out_done + got > raw)
            return parse_fail(&c, t->payload, "the payload inflates to more than the %llu bytes of its shape",
                              (unsigned long long)raw);
        crc = crc_bytes(crc, out, got);
        out_done += got;
        if (zr == Z_STREAM_END) break;
        if (got == 0 && in_before == r->z.avail_in) // no progress: the input ran out before the stream's end
            return parse_fail(&c, t->payload + (size_t)t->zlen,
                              "the payload ends in the middle of its zlib stream (%llu of %llu bytes inflated)",
                              (unsigned long long)out_done, (unsigned long long)raw);
    }
    if (r->z.avail_in || in_left)
        return parse_fail(&c, t->payload + (size_t)(t->zlen - in_left - r->z.avail_in),
                          "the zlib stream ends %llu bytes before its record does",
                          (unsigned long long)(in_left + r->z.avail_in));
    if (out_done != raw)
        return parse_fail(&c, t->payload, "the payload inflates to %llu bytes, its shape needs %llu",
                          (unsigned long long)out_done, (unsigned long long)raw);
    if (crc != t->crc)
        return parse_fail(&c, t->payload, "crc32 mismatch (stored %08x, data %08x)", (unsigned)t->crc,
                          (unsigned)crc);
    // Inflate ignores some bits (the padding after the final block): the crc of the stored bytes sees every one.
    uint32_t zcrc = crc_bytes(0, r->buf + t->payload, t->zlen);
    if (zcrc != t->zcrc)
        return parse_fail(&c, t->payload, "crc32 mismatch of the compressed bytes (stored %08x, data %08x)",
                          (unsigned)t->zcrc, (unsigned)zcrc);
    return 0;
}

static int cmp_tensor_name(const void *a, const void *b) {
    return strcmp((*(Tensor *const *)a)->name, (*(Tensor *const *)b)->name);
}

static int parse_record(Cursor *c, Tensor *t, int i, uint32_t count) {
    char ctx[64];
    snprintf(ctx, sizeof ctx, "tensor #%d of %u", i, count);
    c->tensor = ctx;
    size_t start = c->off;
    uint32_t nlen, dtype, ndim;
    if (take_u32(c, &nlen, "the name length")) return -1;
    if (nlen < 1 || nlen > CKPT_MAX_NAME)
        return parse_fail(c, start, "name length %u (1..%d accepted)", (unsigned)nlen, CKPT_MAX_NAME);
    if (need(c, nlen, "the name")) return -1;
    memcpy(t->name, c->r->buf + c->off, nlen);
    t->name[nlen] = '\0';
    c->off += nlen;
    int printable = name_ok(t->name, nlen);
    char named[CKPT_MAX_NAME + 64];
    if (printable) { // the name as read, not yet verified: with the index, in case a damaged name misleads
        snprintf(named, sizeof named, "tensor #%d of %u '%s'", i, count, t->name);
        c->tensor = named;
    }
    if (take_u32(c, &dtype, "the dtype") || take_u32(c, &ndim, "the number of dimensions")) return -1;
    if (ndim > CKPT_MAX_DIMS)
        return parse_fail(c, c->off - 4, "%u dimensions (0..%d accepted)", (unsigned)ndim, CKPT_MAX_DIMS);
    for (uint32_t d = 0; d < ndim; d++)
        if (take_u64(c, &t->info.dims[d], "a dimension")) return -1;
    uint64_t raw;
    uint32_t meta_crc;
    if (take_u64(c, &raw, "the raw length") || take_u64(c, &t->zlen, "the compressed length") ||
        take_u32(c, &t->crc, "the raw crc32") || take_u32(c, &t->zcrc, "the compressed crc32") ||
        take_u32(c, &meta_crc, "the record crc32"))
        return -1;
    // The record's own crc first: a flipped bit in a name or a dimension reads as damage, not as another model.
    uint32_t crc = crc_bytes(0, c->r->buf + start, c->off - 4 - start);
    if (crc != meta_crc)
        return parse_fail(c, start, "record header crc32 mismatch (stored %08x, computed %08x)", (unsigned)meta_crc,
                          (unsigned)crc);
    if (!printable) return parse_fail(c, start + 4, "the name is not printable ASCII without spaces");
    snprintf(named, sizeof named, "tensor '%s'", t->name);
    if (!dtype_ok((int)dtype))
        return parse_fail(c, start + 4 + nlen, "unknown dtype %u (1..%d accepted)", (unsigned)dtype, CKPT_NDTYPES - 1);
    uint64_t want;
    if (!raw_size((CkptDtype)dtype, (int)ndim, t->info.dims, &want) || raw != want)
        return parse_fail(c, start, "raw length %llu does not match its %s shape", (unsigned long long)raw,
                          DTYPE_NAME[dtype]);
    if (need(c, t->zlen, "the compressed payload")) return -1;
    t->payload = c->off;
    c->off += (size_t)t->zlen;
    t->info.name = t->name;
    t->info.dtype = (CkptDtype)dtype;
    t->info.ndim = (int)ndim;
    t->info.nbytes = raw;
    t->info.offset = start;
    return 0;
}

static int parse(CkptReader *r, char *err, size_t errcap) {
    Cursor c = {r, 0, NULL, err, errcap};
    const unsigned char *b = r->buf;
    size_t have = r->len < 4 ? r->len : 4;
    if (memcmp(b, MAGIC, have) != 0)
        return refuse(&c, 0, "not an nnopt checkpoint (it does not start with \"NNCK\"): another kind of file, or "
                      "one whose magic number is damaged");
    uint32_t version, clen, count, hcrc;
    if (need(&c, 4, "the magic")) return -1;
    c.off = 4;
    if (take_u32(&c, &version, "the version")) return -1;
    if (version != CKPT_VERSION)
        return refuse(&c, 4, "format version %u%s; this build reads version %d", (unsigned)version,
                      version > CKPT_VERSION ? " (written by a newer nnopt, or its version field is damaged)"
                                             : " is unknown (its version field is damaged)", CKPT_VERSION);
    if (take_u32(&c, &clen, "the configuration length") || need(&c, clen, "the configuration")) return -1;
    if (memchr(b + c.off, '\0', clen))
        return parse_fail(&c, (size_t)((const unsigned char *)memchr(b + c.off, '\0', clen) - b),
                          "NUL byte in the configuration text");
    r->config = nn_malloc((size_t)clen + 1);
    memcpy(r->config, b + c.off, clen);
    r->config[clen] = '\0';
    c.off += clen;
    if (take_u32(&c, &count, "the tensor count") || take_u32(&c, &hcrc, "the header crc32")) return -1;
    uint32_t crc = crc_bytes(0, b, c.off - 4);
    if (crc != hcrc)
        return parse_fail(&c, c.off - 4, "header crc32 mismatch (stored %08x, computed %08x) over the "
                          "configuration and the tensor count", (unsigned)hcrc, (unsigned)crc);
    // Bound the table by what the file can hold (a record is at least 41 bytes) before allocating it.
    size_t min_record = 4 + 1 + 4 + 4 + 8 + 8 + 4 + 4 + 4;
    if (count > (r->len - c.off) / min_record)
        return parse_fail(&c, c.off - 8, "the file is truncated: %u tensors cannot fit in the %zu bytes left",
                          (unsigned)count, r->len - c.off);
    r->t = nn_calloc(count ? count : 1, sizeof *r->t);
    r->by_name = nn_calloc(count ? count : 1, sizeof *r->by_name);
    for (uint32_t i = 0; i < count; i++) {
        if (parse_record(&c, &r->t[i], (int)i, count)) return -1;
        r->n = (int)i + 1;
        if (inflate_tensor(r, &r->t[i], NULL, err, errcap)) return -1;
    }
    c.tensor = NULL;
    if (c.off != r->len)
        return parse_fail(&c, c.off, "%zu unexpected bytes after the last of %u tensors", r->len - c.off,
                          (unsigned)count);
    for (int i = 0; i < r->n; i++) r->by_name[i] = &r->t[i];
    qsort(r->by_name, (size_t)r->n, sizeof *r->by_name, cmp_tensor_name);
    for (int i = 1; i < r->n; i++) {
        const Tensor *a = r->by_name[i - 1], *t = r->by_name[i];
        if (strcmp(a->name, t->name) == 0) {
            c.tensor = NULL;
            return parse_fail(&c, t->info.offset > a->info.offset ? t->info.offset : a->info.offset,
                              "tensor '%s' appears twice", t->name);
        }
    }
    return 0;
}

CkptReader *ckpt_open_mem(const void *buf, size_t len, const char *label, char *err, size_t errcap) {
    CkptReader *r = nn_calloc(1, sizeof *r);
    r->label = nn_strdup(label);
    r->buf = buf ? buf : (const unsigned char *)"";
    r->len = buf ? len : 0;
    if (parse(r, err, errcap)) {
        ckpt_close(r);
        return NULL;
    }
    if (errcap) err[0] = '\0';
    return r;
}

CkptReader *ckpt_open(const char *path) {
    int fd = open(path, O_RDONLY);
    NN_CHECK(fd >= 0, "cannot open checkpoint '%s': %s", path, strerror(errno));
    struct stat st;
    NN_CHECK(fstat(fd, &st) == 0, "cannot stat checkpoint '%s': %s", path, strerror(errno));
    NN_CHECK(S_ISREG(st.st_mode), "checkpoint '%s' is not a regular file", path);
    size_t len = (size_t)st.st_size, got = 0;
    unsigned char *data = nn_malloc(len);
    while (got < len) {
        ssize_t k = read(fd, data + got, len - got);
        if (k < 0 && errno == EINTR) continue;
        NN_CHECK(k >= 0, "reading checkpoint '%s' failed: %s", path, strerror(errno));
        if (k == 0) break; // shrank while we read: the parser reports the truncation
        got += (size_t)k;
    }
    close(fd);
    char err[1024];
    CkptReader *r = ckpt_open_mem(data, got, path, err, sizeof err);
    if (!r) {
        free(data);
        NN_FATAL("%s (use another checkpoint, or start afresh)", err);
    }
    r->owned = data;
    return r;
}

void ckpt_close(CkptReader *r) {
    if (!r) return;
    if (r->z_ready) inflateEnd(&r->z);
    free(r->owned), free(r->config), free(r->t), free(r->by_name), free(r->label), free(r);
}

const char *ckpt_config(const CkptReader *r) { return r->config; }
int ckpt_count(const CkptReader *r) { return r->n; }
const CkptInfo *ckpt_info(const CkptReader *r, int i) { return i >= 0 && i < r->n ? &r->t[i].info : NULL; }

int ckpt_find(const CkptReader *r, const char *name) {
    int lo = 0, hi = r->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(r->by_name[mid]->name, name);
        if (c == 0) return (int)(r->by_name[mid] - r->t);
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int ckpt_has(const CkptReader *r, const char *name) { return ckpt_find(r, name) >= 0; }

int ckpt_read(CkptReader *r, const char *name, CkptDtype dtype, int ndim, const int *shape, void *dst, char *err,
              size_t errcap) {
    int i = ckpt_find(r, name);
    if (i < 0) {
        snprintf(err, errcap, "checkpoint '%s' has no tensor '%s' (it holds %d tensors: written by another model "
                 "or optimizer?)", r->label, name, r->n);
        return -1;
    }
    Tensor *t = &r->t[i];
    char have[160], want[160];
    format_shape(have, sizeof have, t->info.ndim, t->info.dims);
    uint64_t dims[CKPT_MAX_DIMS] = {0};
    int wnd = ndim < 0 ? 0 : ndim > CKPT_MAX_DIMS ? CKPT_MAX_DIMS : ndim;
    for (int d = 0; d < wnd; d++) dims[d] = shape[d] < 0 ? UINT64_MAX : (uint64_t)shape[d];
    format_shape(want, sizeof want, wnd, dims);
    if (!dtype_ok((int)dtype) || t->info.dtype != dtype) {
        snprintf(err, errcap, "checkpoint '%s': tensor '%s' is %s, expected %s", r->label, name,
                 DTYPE_NAME[t->info.dtype], dtype_ok((int)dtype) ? DTYPE_NAME[dtype] : "?");
        return -1;
    }
    if (t->info.ndim != ndim) {
        snprintf(err, errcap, "checkpoint '%s': tensor '%s' has %d dimensions %s, expected %d %s", r->label, name,
                 t->info.ndim, have, ndim, want);
        return -1;
    }
    for (int d = 0; d < ndim; d++)
        if (t->info.dims[d] != dims[d]) {
            snprintf(err, errcap, "checkpoint '%s': tensor '%s' has shape %s, expected %s: dimension %d is %llu in "
                     "the checkpoint, %d here", r->label, name, have, want, d, (unsigned long long)t->info.dims[d],
                     shape[d]);
            return -1;
        }
    if (inflate_tensor(r, t, dst, err, errcap)) return -1;
    t->read = 1;
    return 0;
}

static void get_fatal(CkptReader *r, const char *name, CkptDtype dtype, int ndim, const int *shape, void *dst) {
    char err[1024];
    if (ckpt_read(r, name, dtype, ndim, shape, dst, err, sizeof err)) NN_FATAL("%s", err);
}

void ckpt_get_f32(CkptReader *r, const char *name, int ndim, const int *shape, float *dst) {
    get_fatal(r, name, CKPT_F32, ndim, shape, dst);
}
void ckpt_get_f64(CkptReader *r, const char *name, int ndim, const int *shape, double *dst) {
    get_fatal(r, name, CKPT_F64, ndim, shape, dst);
}
void ckpt_get_i32(CkptReader *r, const char *name, int ndim, const int *shape, int32_t *dst) {
    get_fatal(r, name, CKPT_I32, ndim, shape, dst);
}
void ckpt_get_u64(CkptReader *r, const char *name, int ndim, const int *shape, uint64_t *dst) {
    get_fatal(r, name, CKPT_U64, ndim, shape, dst);
}

char *ckpt_get_bytes(CkptReader *r, const char *name, size_t *len) {
    int i = ckpt_find(r, name);
    NN_CHECK(i >= 0, "checkpoint '%s' has no tensor '%s'", r->label, name);
    const CkptInfo *info = &r->t[i].info;
    NN_CHECK(info->dtype == CKPT_BYTES, "checkpoint '%s': tensor '%s' is %s, expected bytes", r->label, name,
             DTYPE_NAME[info->dtype]);
    NN_CHECK(info->dims[0] < SIZE_MAX && info->dims[0] <= INT32_MAX, "checkpoint '%s': tensor '%s' of %llu bytes is "
             "too large to load as bytes", r->label, name, (unsigned long long)info->dims[0]);
    char *s = nn_malloc((size_t)info->dims[0] + 1);
    int n = (int)info->dims[0];
    get_fatal(r, name, CKPT_BYTES, 1, &n, s);
    s[n] = '\0';
    if (len) *len = (size_t)n;
    return s;
}

void ckpt_get_views(CkptReader *r, const char *prefix, const ParamView *views, int nviews, float *flat) {
    char name[CKPT_MAX_NAME + 2], err[1024];
    char *hit = nn_calloc((size_t)r->n + 1, 1);
    for (int v = 0; v < nviews; v++) {
        snprintf(name, sizeof name, "%s%s", prefix, views[v].name);
        int i = ckpt_find(r, name);
        if (i < 0) NN_FATAL("checkpoint '%s' does not match this model: it lacks tensor '%s'", r->label, name);
        if (ckpt_read(r, name, CKPT_F32, views[v].ndim, views[v].shape, flat + views[v].offset, err, sizeof err))
            NN_FATAL("%s (this model differs from the checkpoint's)", err);
        hit[i] = 1;
    }
    size_t plen = strlen(prefix);
    for (int i = 0; i < r->n; i++) {
        const CkptInfo *info = &r->t[i].info;
        if (!hit[i] && strncmp(info->name, prefix, plen) == 0) {
            char shape[160];
            format_shape(shape, sizeof shape, info->ndim, info->dims);
            NN_FATAL("checkpoint '%s' does not match this model: it has tensor '%s' %s that the model does not",
                     r->label, info->name, shape);
        }
    }
    free(hit);
}

void ckpt_get_params(CkptReader *r, const char *prefix, Params *p) {
    ckpt_get_views(r, prefix, p->views, p->nviews, p->param);
}

void ckpt_expect_all_read(const CkptReader *r) {
    for (int i = 0; i < r->n; i++)
        NN_CHECK(r->t[i].read, "checkpoint '%s': tensor '%s' was not used by this run (its state would be lost: "
                 "another optimizer or model?)", r->label, r->t[i].name);
}

void ckpt_check_config(const CkptReader *r, const char *current, const char *const *ignore) {
    char err[1024];
    if (ckpt_config_diff(r->config, current, ignore, err, sizeof err))
        NN_FATAL("checkpoint '%s' was written with another configuration: %s", r->label, err);
}
