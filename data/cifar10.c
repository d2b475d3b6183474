// CIFAR-10: file lookup, streaming record reader through zlib, per-channel statistics, batch assembly with
// torchvision-style augmentation (RandomCrop(32, padding=4), RandomHorizontalFlip, Normalize).
// n=images N=batch C=3 channels H=W=32 P=3072 pixel bytes per image R=3073 bytes per record
#define _POSIX_C_SOURCE 200809L
#include "cifar10.h"

#include "nn/check.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

const char *const cifar_class_names[CIFAR_CLASSES] = {"airplane", "automobile", "bird", "cat", "deer",
                                                      "dog", "frog", "horse", "ship", "truck"};

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

char *cifar_path(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 32;
    char *p = nn_malloc(n);
    snprintf(p, n, "%s/cifar10/%s.bin.gz", dir, name);
    if (is_file(p)) return p;
    p[strlen(p) - 3] = '\0'; // the plain .bin
    NN_CHECK(is_file(p), "missing '%s.gz' (and '%s'): a CIFAR-10 binary batch file; run 'make data' "
             "(scripts/fetch_data.sh) to download it, or pass --data pointing at a directory holding cifar10/",
             p, p);
    return p;
}

// zlib's error text begins with "<path>: "; drop that so a message names the file once.
static const char *gz_reason(gzFile gz, const char *path, int *zerr) {
    const char *msg = gzerror(gz, zerr);
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' ? msg + n + 2 : msg;
}

static void set_reserve(CifarSet *s, long n, long *cap) {
    if (n <= *cap) return;
    *cap = n;
    s->pixels = nn_realloc(s->pixels, (size_t)n * CIFAR_PIXELS);
    s->labels = nn_realloc(s->labels, (size_t)n);
}

void cifar_read_file(CifarSet *s, const char *path, long records) {
    NN_CHECK(records >= 0, "cifar_read_file: records must be >= 0 (0 = any count), got %ld", records);
    struct stat st;
    NN_CHECK(stat(path, &st) == 0, "cannot read '%s': %s; run 'make data' (scripts/fetch_data.sh) to download "
             "CIFAR-10, or pass --data pointing at a directory holding cifar10/", path, strerror(errno));
    NN_CHECK(st.st_size > 0, "'%s' is empty (0 bytes); expected CIFAR-10 records of 3073 bytes (1 label byte, "
             "3072 pixel bytes); re-download it with 'make data'", path);
    nn_check_gzip_magic(path);
    gzFile gz = gzopen(path, "rb");
    NN_CHECK(gz, "cannot open '%s': %s", path, strerror(errno));

    long cap = s->n, start = s->n;
    // the records expected, else the file's size in records: exact for a plain file, a first guess for gzip (the
    // loop doubles it); not a fixed guess, which would cost a small file megabytes
    set_reserve(s, start + (records ? records : (long)(st.st_size / CIFAR_RECORD) + 1), &cap);
    // One record per gzread: as fast as larger reads (zlib buffers 16 KB of output, which also bounds how far past
    // the reported offset a corruption can be detected; a crc error shows only at the end).
    uint8_t rec[CIFAR_RECORD];
    size_t off = 0;        // bytes of decompressed data read so far
    long bad = -1;         // the first record with a label outside 0-9, reported after the stream checks pass,
    int bad_label = 0;     // so that corruption caught only by the final crc is reported as corruption
    int got;
    for (;;) {
        got = gzread(gz, rec, CIFAR_RECORD);
        if (got < 0) break;
        off += (size_t)got;
        if (got < CIFAR_RECORD) break; // gzread returns less only at the end of the data or on an error
        if (s->n == cap) set_reserve(s, cap ? 2 * cap : 1024, &cap);
        if (rec[0] >= CIFAR_CLASSES && bad < 0) bad = s->n - start, bad_label = rec[0];
        s->labels[s->n] = rec[0];
        memcpy(s->pixels + (size_t)s->n * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
        s->n++;
    }
    // gzread returns short at a clean end and also at a truncated stream; gzerror tells them apart. Closed before any
    // error: a caller that catches fatal errors (the fuzzers) would leak a descriptor and zlib's buffers per file.
    int zerr;
    char msg[256];
    snprintf(msg, sizeof msg, "%s", gz_reason(gz, path, &zerr));
    int closed = gzclose(gz);
    NN_CHECK(got >= 0, "'%s' is corrupt: %s (detected after %zu decompressed bytes, %zu whole records); "
             "re-download it with 'make data'", path, msg, off, off / CIFAR_RECORD);
    NN_CHECK(zerr == Z_OK || zerr == Z_STREAM_END, "'%s' is truncated or corrupt: %s (detected after %zu "
             "decompressed bytes, %zu whole records); re-download it with 'make data'", path, msg, off,
             off / CIFAR_RECORD);
    NN_CHECK(closed == Z_OK, "'%s' is truncated or corrupt (the gzip trailer check failed after %zu bytes); "
             "re-download it with 'make data'", path, off);

    long got_records = s->n - start;
    size_t part = off % CIFAR_RECORD;
    if (part)
        NN_FATAL("'%s' ends inside record %ld: it has %zu of its 3073 bytes (at byte offset %zu of the data); "
                 "%zu bytes are not a whole number of 3073-byte records (1 label byte + 3072 pixel bytes): %s; "
                 "re-download it with 'make data'", path, got_records, part, off - part, off,
                 off % 3074 == 0 ? "they are a whole number of 3074-byte records, CIFAR-100's layout (two label "
                 "bytes), not CIFAR-10's" : "the file is truncated");
    NN_CHECK(got_records > 0, "'%s' holds no data (0 bytes after decompression); expected CIFAR-10 records of "
             "3073 bytes; re-download it with 'make data'", path);
    NN_CHECK(records == 0 || got_records == records, "'%s' holds %ld records (%zu bytes), expected %ld (%zu bytes): "
             "each original CIFAR-10 batch file holds %d records of 3073 bytes; %s; re-download it with "
             "'make data'", path, got_records, off, records, (size_t)records * CIFAR_RECORD, CIFAR_FILE_RECORDS,
             got_records < records ? "the file is incomplete" : "this is not one batch file");
    NN_CHECK(bad < 0, "'%s' record %ld (byte offset %zu) has label %d; CIFAR-10 labels are 0-9 (is this CIFAR-100, "
             "or not a CIFAR-10 binary file?); re-download it with 'make data'", path, bad,
             (size_t)bad * CIFAR_RECORD, bad_label);
    if (cap > s->n) { // give back the unused part of the doubling
        s->pixels = nn_realloc(s->pixels, (size_t)s->n * CIFAR_PIXELS);
        s->labels = nn_realloc(s->labels, (size_t)s->n);
    }
}

void cifar_set_free(CifarSet *s) {
    free(s->pixels), free(s->labels);
    memset(s, 0, sizeof *s);
}

CifarStats cifar_stats(const CifarSet *s) {
    NN_CHECK(s->n > 0, "cifar_stats: the set holds no images");
    uint64_t sum[CIFAR_C] = {0}, sumsq[CIFAR_C] = {0};
    for (long i = 0; i < s->n; i++)
        for (int c = 0; c < CIFAR_C; c++) {
            const uint8_t *p = s->pixels + (size_t)i * CIFAR_PIXELS + c * CIFAR_H * CIFAR_W;
            uint32_t a = 0, b = 0; // per plane at most 1024 * 255^2 < 2^32
            for (int k = 0; k < CIFAR_H * CIFAR_W; k++) a += p[k], b += (uint32_t)p[k] * p[k];
            sum[c] += a, sumsq[c] += b;
        }
    CifarStats st;
    double count = (double)s->n * CIFAR_H * CIFAR_W;
    for (int c = 0; c < CIFAR_C; c++) {
        double mean = (double)sum[c] / count;            // in 0..255
        double var = (double)sumsq[c] / count - mean * mean; // E[x^2] - E[x]^2 (population)
        st.mean[c] = (float)(mean / 255.0);
        st.std[c] = (float)(sqrt(var > 0 ? var : 0) / 255.0);
    }
    return st;
}

void cifar_load(Cifar10 *c, const char *dir, long records_per_file) {
    memset(c, 0, sizeof *c);
    // resolve every path first, so a missing file is reported before seconds of decompression
    char *path[6];
    for (int k = 0; k < 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d", k + 1);
        path[k] = cifar_path(dir, name);
    }
    path[5] = cifar_path(dir, "test_batch");
    for (int k = 0; k < 5; k++) cifar_read_file(&c->train, path[k], records_per_file);
    cifar_read_file(&c->test, path[5], records_per_file);
    for (int k = 0; k < 6; k++) free(path[k]);
    c->stats = cifar_stats(&c->train);
}

void cifar_free(Cifar10 *c) {
    cifar_set_free(&c->train), cifar_set_free(&c->test);
}

int cifar_batch_indices(Sampler *smp, long b, int N, long *idx) {
    NN_CHECK(N >= 1, "batch size must be >= 1 (got %d)", N);
    NN_CHECK(b >= 0 && b * N < smp->m, "batch %ld of %d images is out of range: the epoch has %ld images, so "
             "batches 0..%ld", b, N, smp->m, (smp->m + N - 1) / N - 1);
    long count = smp->m - b * N < N ? smp->m - b * N : N;
    for (long j = 0; j < count; j++) idx[j] = sampler_next(smp, b * N + j);
    return (int)count;
}

// One output row of one channel: out[j] = src[q0 + dq*j] * scale + shift for j in [lo, hi), the pad value
// (raw 0 normalised: shift) elsewhere. Split into a forward and a mirrored loop so the inner loops are branch-free.
static void fill_row(float *out, const uint8_t *src, int lo, int hi, int q0, int mirror, float scale, float shift) {
    for (int j = 0; j < lo; j++) out[j] = shift;
    if (mirror)
        for (int j = lo; j < hi; j++) out[j] = (float)src[q0 - j] * scale + shift;
    else
        for (int j = lo; j < hi; j++) out[j] = (float)src[q0 + j] * scale + shift;
    for (int j = hi; j < CIFAR_W; j++) out[j] = shift;
}

void cifar_batch(const CifarSet *s, const CifarStats *st, const long *idx, int N, Rng *aug, float *x, int *y) {
    // x = (p/255 - mean) / std = p * scale + shift
    float scale[CIFAR_C], shift[CIFAR_C];
    for (int c = 0; c < CIFAR_C; c++) {
        NN_CHECK(st->std[c] > 0 && isfinite(st->std[c]) && isfinite(st->mean[c]), "cifar_batch: channel %d has "
                 "mean %g, std %g: normalising needs a finite std > 0 (a constant channel in the training set?)",
                 c, (double)st->mean[c], (double)st->std[c]);
        scale[c] = (float)(1.0 / (255.0 * st->std[c]));
        shift[c] = (float)(-(double)st->mean[c] / st->std[c]);
    }
    for (int b = 0; b < N; b++) {
        NN_CHECK(idx[b] >= 0 && idx[b] < s->n, "cifar_batch: image index %ld (batch position %d) is out of range "
                 "0..%ld", idx[b], b, s->n - 1);
        const uint8_t *img = s->pixels + (size_t)idx[b] * CIFAR_PIXELS;
        y[b] = s->labels[idx[b]];
        int dy = CIFAR_PAD, dx = CIFAR_PAD, flip = 0; // no augmentation: the centre crop of the padded image
        if (aug) {
            dy = (int)rng_below(aug, 2 * CIFAR_PAD + 1);
            dx = (int)rng_below(aug, 2 * CIFAR_PAD + 1);
            flip = (int)(rng_next(aug) >> 63);
        }
        // output column j reads source column q = q0 + j (forward) or q0 - j (mirrored), valid for j in [lo, hi)
        int q0 = flip ? CIFAR_W - 1 + dx - CIFAR_PAD : dx - CIFAR_PAD;
        int lo = flip ? q0 - (CIFAR_W - 1) : -q0, hi = flip ? q0 + 1 : CIFAR_W - q0;
        lo = lo < 0 ? 0 : lo, hi = hi > CIFAR_W ? CIFAR_W : hi;
        for (int c = 0; c < CIFAR_C; c++)
            for (int i = 0; i < CIFAR_H; i++) {
                float *out = x + (((size_t)b * CIFAR_C + c) * CIFAR_H + i) * CIFAR_W;
                int r = i + dy - CIFAR_PAD; // source row
                if (r < 0 || r >= CIFAR_H) fill_row(out, img, 0, 0, 0, 0, 0, shift[c]);
                else fill_row(out, img + (c * CIFAR_H + r) * CIFAR_W, lo, hi, q0, flip, scale[c], shift[c]);
            }
    }
}
