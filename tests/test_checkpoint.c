// Checkpoint files: bit-exact round trips of every dtype and of parameter arenas; refusal, with a message naming
// the file, offset and tensor, of every truncation and every single flipped bit of a small checkpoint; refusal of
// another shape, tensor set or configuration; and atomic replacement: failed writes (missing or unwritable
// directory, full disk through RLIMIT_FSIZE, a process killed before or after its commit or at random instants)
// never damage the previous file, and a committed one replaces it.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/check.h"
#include "nn/checkpoint.h"
#include "nn/params.h"
#include "nn/rng.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static const char *const CONFIG = "{\"preset\": \"tiny\", \"hidden\": 650, \"optim\": \"adam\", \"epochs\": 39}";

static unsigned char *slurp(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *s = nn_malloc((size_t)n + 1);
    *len = fread(s, 1, (size_t)n, f);
    fclose(f);
    return s;
}

// Entries of dir, "." and ".." aside.
static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

// The tensors of the small sample checkpoint: every dtype, a scalar, an empty tensor, special float values.
static const float W[2][3] = {{1.5f, -0.0f, INFINITY}, {1e-40f /* denormal */, NAN, -7.0f}};
static const double LR = 0.123456789012345678;
static const int32_t POS[4] = {-1, 0, 2147483647, -2147483647 - 1};
static const uint64_t RNG_STATE[4] = {0x0123456789abcdefull, 0xfedcba9876543210ull, 1, UINT64_MAX};
static const char *const JSON = "{\"step\": 1234, \"note\": \"text\"}";

static void write_sample(const char *path) {
    CkptWriter *w = ckpt_begin(path, CONFIG);
    ckpt_put_f32(w, "w", 2, (int[]){2, 3}, &W[0][0]);
    ckpt_put_f64(w, "lr", 0, NULL, &LR);
    ckpt_put_i32(w, "data/pos", 1, (int[]){4}, POS);
    ckpt_put_u64(w, "rng/dropout", 1, (int[]){4}, RNG_STATE);
    ckpt_put_bytes(w, "meta.json", JSON, strlen(JSON));
    ckpt_put_f32(w, "empty", 2, (int[]){0, 5}, NULL);
    ckpt_commit(w);
}

static const char *const SAMPLE_NAMES[] = {"w", "lr", "data/pos", "rng/dropout", "meta.json", "empty"};
enum { SAMPLE_N = 6 };

// A temporary directory with the sample written as dir/ckpt.bin.
typedef struct { char *dir, *path; unsigned char *bytes; size_t len; } Sample;

static Sample sample_new(void) {
    Sample s;
    s.dir = tu_mkdtemp();
    s.path = tu_path(s.dir, "ckpt.bin");
    write_sample(s.path);
    s.bytes = slurp(s.path, &s.len);
    assert_non_null(s.bytes);
    return s;
}

static void sample_free(Sample *s) {
    tu_rmtree(s->dir);
    free(s->dir), free(s->path), free(s->bytes);
}

static void test_round_trip(void **state) {
    (void)state;
    Sample s = sample_new();
    printf("# sample checkpoint: %zu bytes\n", s.len);
    assert_memory_equal(s.bytes, "NNCK\1\0\0\0", 8);
    struct stat st;
    assert_int_equal(0, stat(s.path, &st));
    assert_int_equal(0644, st.st_mode & 0777);

    CkptReader *r = ckpt_open(s.path);
    assert_string_equal(ckpt_config(r), CONFIG);
    assert_int_equal(SAMPLE_N, ckpt_count(r));
    for (int i = 0; i < SAMPLE_N; i++) { // file order is put order
        assert_string_equal(ckpt_info(r, i)->name, SAMPLE_NAMES[i]);
        assert_int_equal(i, ckpt_find(r, SAMPLE_NAMES[i]));
    }
    assert_null(ckpt_info(r, SAMPLE_N));
    assert_true(ckpt_has(r, "rng/dropout"));
    assert_false(ckpt_has(r, "rng"));
    assert_int_equal(-1, ckpt_find(r, "zzz"));
    const CkptInfo *wi = ckpt_info(r, 0);
    assert_int_equal(CKPT_F32, wi->dtype);
    assert_int_equal(2, wi->ndim);
    assert_int_equal(2, wi->dims[0]);
    assert_int_equal(3, wi->dims[1]);
    assert_int_equal(24, wi->nbytes);

    float w[2][3];
    double lr;
    int32_t pos[4];
    uint64_t rs[4];
    ckpt_get_f32(r, "w", 2, (int[]){2, 3}, &w[0][0]);
    ckpt_get_f64(r, "lr", 0, NULL, &lr);
    ckpt_get_i32(r, "data/pos", 1, (int[]){4}, pos);
    ckpt_get_u64(r, "rng/dropout", 1, (int[]){4}, rs);
    size_t jlen;
    char *json = ckpt_get_bytes(r, "meta.json", &jlen);
    float none[1] = {42.0f};
    ckpt_get_f32(r, "empty", 2, (int[]){0, 5}, none);
    assert_memory_equal(w, W, sizeof W); // bit-exact: NaN, -0, inf, denormal
    assert_memory_equal(&lr, &LR, sizeof lr);
    assert_memory_equal(pos, POS, sizeof pos);
    assert_memory_equal(rs, RNG_STATE, sizeof rs);
    assert_int_equal(strlen(JSON), jlen);
    assert_string_equal(json, JSON);
    assert_true(none[0] == 42.0f); // an empty tensor writes nothing
    ckpt_expect_all_read(r);        // returns: every tensor was read
    free(json);
    ckpt_close(r);
    sample_free(&s);
}

// A tensor of 300k random floats spans several deflate and inflate buffers.
static void test_large_tensor(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "big.ckpt");
    enum { N = 300000 };
    float *x = nn_malloc(N * sizeof *x), *y = nn_malloc(N * sizeof *y);
    Rng rng;
    rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) x[i] = rng_normal(&rng);
    for (int i = 0; i < N / 2; i += 1000) x[i] = 0.0f;
    CkptWriter *w = ckpt_begin(path, "{}");
    ckpt_put_f32(w, "x", 3, (int[]){3, 100, 1000}, x);
    ckpt_commit(w);
    CkptReader *r = ckpt_open(path);
    ckpt_get_f32(r, "x", 3, (int[]){3, 100, 1000}, y);
    assert_memory_equal(x, y, N * sizeof *x);
    ckpt_close(r);
    tu_rmtree(dir);
    free(dir), free(path), free(x), free(y);
}

// extra: 1 adds a tensor, -1 leaves "conv.weight" out.
static void build_params(Params *p, int hidden, int extra) {
    params_init(p);
    params_add(p, "embed.weight", 2, (int[]){10, hidden});
    params_add(p, "rnn.bias", 1, (int[]){4 * hidden});
    if (extra >= 0) params_add(p, "conv.weight", 4, (int[]){2, 3, 2, 2});
    if (extra > 0) params_add(p, "decoder.bias", 1, (int[]){10});
    params_alloc(p);
}

static void test_params_round_trip(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "p.ckpt");
    Params a, b;
    build_params(&a, 8, 0);
    build_params(&b, 8, 0);
    float *m = nn_alloc_floats(a.n), *m2 = nn_alloc_floats(a.n);
    for (size_t i = 0; i < a.n; i++) a.param[i] = (float)i * 0.5f - 3.0f, m[i] = 1.0f / (float)(i + 1);
    CkptWriter *w = ckpt_begin(path, CONFIG);
    ckpt_put_params(w, "param/", &a);
    ckpt_put_views(w, "adam/m/", a.views, a.nviews, m); // optimizer state laid out like the parameters
    ckpt_commit(w);

    CkptReader *r = ckpt_open(path);
    assert_int_equal(2 * a.nviews, ckpt_count(r));
    assert_true(ckpt_has(r, "param/rnn.bias"));
    assert_true(ckpt_has(r, "adam/m/conv.weight"));
    assert_int_equal(4, ckpt_info(r, ckpt_find(r, "param/conv.weight"))->ndim);
    ckpt_get_params(r, "param/", &b);
    ckpt_get_views(r, "adam/m/", b.views, b.nviews, m2);
    assert_memory_equal(a.param, b.param, a.n * sizeof(float));
    assert_memory_equal(m, m2, a.n * sizeof(float));
    ckpt_expect_all_read(r);
    ckpt_close(r);
    params_free(&a), params_free(&b);
    free(m), free(m2);
    tu_rmtree(dir);
    free(dir), free(path);
}

// Readers opened by children of expect_fatal, kept reachable so the sanitizer's leak check stays quiet at their exit.
static CkptReader *volatile child_reader; // volatile: a store never read back would be optimised away

static void open_path(void *path) { child_reader = ckpt_open(path); }

static void test_bad_magic_and_version(void **state) {
    (void)state;
    Sample s = sample_new();
    char err[512];
    unsigned char *b = nn_malloc(s.len);

    memcpy(b, s.bytes, s.len);
    b[1] = 'X';
    assert_null(ckpt_open_mem(b, s.len, "m", err, sizeof err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "checkpoint 'm', byte 0: not an nnopt checkpoint"));
    assert_non_null(strstr(err, "magic number is damaged"));
    // a gzip file given by mistake
    assert_null(ckpt_open_mem("\x1f\x8b\x08\x00\x00\x00\x00\x00", 8, "m", err, sizeof err));
    assert_non_null(strstr(err, "not an nnopt checkpoint"));

    memcpy(b, s.bytes, s.len);
    b[4] = 2; // version 2: refused as newer (or damaged) before any crc says damaged
    assert_null(ckpt_open_mem(b, s.len, "m", err, sizeof err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "byte 4: format version 2 (written by a newer nnopt, or its version field is "
                                "damaged); this build reads version 1"));
    char *newer = tu_write(s.dir, "newer.ckpt", b, s.len, 0);
    expect_fatal(open_path, newer, newer, "format version 2", "newer nnopt", NULL);

    b[4] = 0;
    assert_null(ckpt_open_mem(b, s.len, "m", err, sizeof err));
    assert_non_null(strstr(err, "format version 0 is unknown"));

    expect_fatal(open_path, s.dir, s.dir, "not a regular file", NULL);
    char *missing = tu_path(s.dir, "missing.ckpt");
    expect_fatal(open_path, missing, missing, "No such file or directory", NULL);
    free(b), free(newer), free(missing);
    sample_free(&s);
}

// Every proper prefix of the file, from empty to one byte short, is refused as truncated; so is an extra byte.
static void test_truncation_at_every_offset(void **state) {
    (void)state;
    Sample s = sample_new();
    char err[512];
    for (size_t len = 0; len < s.len; len++) {
        unsigned char *cut = nn_malloc(len + 1); // exact size: ASan sees any read past the prefix
        memcpy(cut, s.bytes, len);
        CkptReader *r = ckpt_open_mem(cut, len, "cut", err, sizeof err);
        if (r || !strstr(err, "truncated") || !strstr(err, "checkpoint 'cut' is damaged"))
            fail_msg("prefix of %zu bytes: %s", len, r ? "accepted" : err);
        if (len == 0 || len == 10 || len == s.len / 2 || len == s.len - 1) printf("# %zu bytes: %s\n", len, err);
        free(cut);
    }
    unsigned char *longer = nn_malloc(s.len + 1);
    memcpy(longer, s.bytes, s.len);
    longer[s.len] = 0;
    assert_null(ckpt_open_mem(longer, s.len + 1, "long", err, sizeof err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "1 unexpected bytes after the last of 6 tensors"));
    CkptReader *r = ckpt_open_mem(longer, s.len, "exact", err, sizeof err); // the same bytes, exact length
    assert_non_null(r);
    ckpt_close(r);
    free(longer);

    // through the file: the message names the path; a writer killed mid-file leaves such a file at the temp name
    char *half = tu_write(s.dir, "half.ckpt", s.bytes, s.len / 2, 0);
    expect_fatal(open_path, half, half, "' is damaged: byte ", "truncated", "use another checkpoint", NULL);
    free(half);
    sample_free(&s);
}

// Start and end (exclusive) of tensor i's zlib payload in the file.
static void payload_range(const CkptReader *r, size_t file_len, int i, size_t *start, size_t *end) {
    const CkptInfo *t = ckpt_info(r, i);
    *start = t->offset + 4 + strlen(t->name) + 8 + 8 * (size_t)t->ndim + 28;
    *end = i + 1 < ckpt_count(r) ? ckpt_info(r, i + 1)->offset : file_len;
}

// Every single-bit error anywhere in the file is refused; in a payload, the message names that tensor.
static void test_every_flipped_bit(void **state) {
    (void)state;
    Sample s = sample_new();
    char err[512];
    CkptReader *ok = ckpt_open_mem(s.bytes, s.len, "ok", err, sizeof err);
    assert_non_null(ok);
    unsigned char *b = nn_malloc(s.len);
    int in_payload = 0, crc_msgs = 0, zcrc_msgs = 0, zlib_msgs = 0;
    for (size_t byte = 0; byte < s.len; byte++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy(b, s.bytes, s.len);
            b[byte] ^= (unsigned char)(1u << bit);
            CkptReader *r = ckpt_open_mem(b, s.len, "flip", err, sizeof err);
            if (r) fail_msg("a flipped bit %d in byte %zu was accepted", bit, byte);
            // a flip in the magic or the version names damage as one of two explanations; any other, up front
            if (!strstr(err, byte < 8 ? "is damaged" : "checkpoint 'flip' is damaged: byte "))
                fail_msg("a flipped bit %d in byte %zu is refused without saying the file is damaged: %s", bit, byte,
                         err);
            for (int i = 0; i < ckpt_count(ok); i++) {
                size_t start, end;
                payload_range(ok, s.len, i, &start, &end);
                if (byte < start || byte >= end) continue;
                in_payload++;
                char want[300];
                snprintf(want, sizeof want, "tensor '%s'", ckpt_info(ok, i)->name);
                if (!strstr(err, want)) fail_msg("flip in the payload of '%s' at byte %zu: %s", want, byte, err);
                crc_msgs += strstr(err, "crc32 mismatch (") != NULL;
                zcrc_msgs += strstr(err, "crc32 mismatch of the compressed bytes") != NULL;
                zlib_msgs += strstr(err, "zlib") != NULL;
            }
        }
    printf("# %zu bits flipped one at a time, all refused; %d in payloads: %d by the crc32 of the data, %d by zlib, "
           "%d by the crc32 of the compressed bytes, the rest as wrong lengths\n", 8 * s.len, in_payload, crc_msgs,
           zlib_msgs, zcrc_msgs);
    // zlib's own adler32 sees every change of the inflated data first, so the crc32 of the data is tested below
    assert_true(in_payload > 0 && zlib_msgs > 0 && zcrc_msgs > 0);

    // a flip in the configuration text and one in a tensor name, as the user sees them
    size_t at = (size_t)(strstr((char *)s.bytes + 12, "650") - (char *)s.bytes);
    memcpy(b, s.bytes, s.len);
    b[at] ^= 1;
    assert_null(ckpt_open_mem(b, s.len, "f", err, sizeof err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "header crc32 mismatch"));
    memcpy(b, s.bytes, s.len);
    b[ckpt_info(ok, 2)->offset + 4] ^= 2; // "data/pos" -> "fata/pos"
    assert_null(ckpt_open_mem(b, s.len, "f", err, sizeof err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "record header crc32 mismatch"));
    size_t start, end;
    payload_range(ok, s.len, 0, &start, &end);
    // a record whose crc32 of the data disagrees with a payload that inflates fine (record crc32 recomputed)
    memcpy(b, s.bytes, s.len);
    unsigned char *raw_crc = b + start - 12, *meta_crc = b + start - 4;
    raw_crc[0] ^= 1;
    uLong crc = crc32(0, b + ckpt_info(ok, 0)->offset, (uInt)(meta_crc - b - ckpt_info(ok, 0)->offset));
    for (int k = 0; k < 4; k++) meta_crc[k] = (unsigned char)(crc >> 8 * k);
    assert_null(ckpt_open_mem(b, s.len, "f", err, sizeof err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "tensor 'w': crc32 mismatch (stored"));
    memcpy(b, s.bytes, s.len);
    b[(start + end) / 2] ^= 0x10;
    char *bad = tu_write(s.dir, "bad.ckpt", b, s.len, 0);
    expect_fatal(open_path, bad, bad, "tensor 'w'", NULL);
    ckpt_close(ok);
    free(b), free(bad);
    sample_free(&s);
}

typedef struct { const char *path, *name; int ndim; int shape[4]; int dtype; } GetCase;

static void get_case(void *arg) {
    const GetCase *c = arg;
    CkptReader *r = child_reader = ckpt_open(c->path);
    float buf[64];
    if (c->dtype == CKPT_U64) ckpt_get_u64(r, c->name, c->ndim, c->shape, (uint64_t *)buf);
    else ckpt_get_f32(r, c->name, c->ndim, c->shape, buf);
}

static void test_get_refusals(void **state) {
    (void)state;
    Sample s = sample_new();
    char err[512];
    float buf[64];
    CkptReader *r = ckpt_open(s.path);
    assert_int_equal(-1, ckpt_read(r, "w", CKPT_F32, 2, (int[]){2, 4}, buf, err, sizeof err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "tensor 'w' has shape [2, 3], expected [2, 4]: dimension 1 is 3 in the "
                                "checkpoint, 4 here"));
    assert_int_equal(-1, ckpt_read(r, "w", CKPT_F32, 1, (int[]){6}, buf, err, sizeof err));
    assert_non_null(strstr(err, "tensor 'w' has 2 dimensions [2, 3], expected 1 [6]"));
    assert_int_equal(-1, ckpt_read(r, "w", CKPT_F64, 2, (int[]){2, 3}, buf, err, sizeof err));
    assert_non_null(strstr(err, "tensor 'w' is f32, expected f64"));
    assert_int_equal(-1, ckpt_read(r, "v", CKPT_F32, 2, (int[]){2, 3}, buf, err, sizeof err));
    assert_non_null(strstr(err, "has no tensor 'v'"));
    assert_null(strstr(err, "damaged")); // a mismatch, not damage
    assert_int_equal(0, ckpt_read(r, "w", CKPT_F32, 2, (int[]){2, 3}, buf, err, sizeof err));
    ckpt_close(r);

    // ckpt_read inflates again: a borrowed buffer damaged after ckpt_open_mem validated it is refused as damaged
    unsigned char *b = nn_malloc(s.len);
    memcpy(b, s.bytes, s.len);
    r = ckpt_open_mem(b, s.len, "mem", err, sizeof err);
    assert_non_null(r);
    size_t start, end;
    payload_range(r, s.len, ckpt_find(r, "w"), &start, &end);
    b[(start + end) / 2] ^= 0x10;
    assert_int_equal(-1, ckpt_read(r, "w", CKPT_F32, 2, (int[]){2, 3}, buf, err, sizeof err));
    printf("# %s\n", err);
    assert_non_null(strstr(err, "checkpoint 'mem' is damaged: byte "));
    assert_non_null(strstr(err, "tensor 'w': "));
    ckpt_close(r);
    free(b);

    GetCase shape = {s.path, "w", 2, {3, 3}, CKPT_F32};
    expect_fatal(get_case, &shape, s.path, "tensor 'w'", "dimension 0 is 2 in the checkpoint, 3 here", NULL);
    GetCase missing = {s.path, "rng/data", 1, {4}, CKPT_U64};
    expect_fatal(get_case, &missing, s.path, "no tensor 'rng/data'", NULL);
    GetCase dtype = {s.path, "rng/dropout", 1, {4}, CKPT_F32};
    expect_fatal(get_case, &dtype, "tensor 'rng/dropout' is u64, expected f32", NULL);
    sample_free(&s);
}

typedef struct { const char *path; int hidden, extra; const char *prefix; } ParamsCase;

static void load_params(void *arg) {
    const ParamsCase *c = arg;
    static Params p; // static: reachable at a fatal exit, like child_reader
    build_params(&p, c->hidden, c->extra);
    CkptReader *r = child_reader = ckpt_open(c->path);
    ckpt_get_params(r, c->prefix, &p);
    ckpt_close(r);
    params_free(&p);
}

static void test_params_refusals(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "p.ckpt");
    Params a;
    build_params(&a, 8, 0);
    CkptWriter *w = ckpt_begin(path, CONFIG);
    ckpt_put_params(w, "param/", &a);
    ckpt_put_views(w, "sgd/momentum/", a.views, a.nviews, a.grad);
    ckpt_commit(w);
    params_free(&a);

    ParamsCase wider = {path, 16, 0, "param/"};
    expect_fatal(load_params, &wider, path, "tensor 'param/embed.weight' has shape [10, 8], expected [10, 16]",
                 "dimension 1 is 8 in the checkpoint, 16 here", NULL);
    ParamsCase more = {path, 8, 1, "param/"};
    expect_fatal(load_params, &more, path, "lacks tensor 'param/decoder.bias'", NULL);
    // a model with fewer tensors than the checkpoint is refused too, not loaded partially
    ParamsCase fewer = {path, 8, -1, "sgd/momentum/"};
    expect_fatal(load_params, &fewer, path, "has tensor 'sgd/momentum/conv.weight' [2, 3, 2, 2] that the model "
                 "does not", NULL);
    ParamsCase same = {path, 8, 0, "sgd/momentum/"};
    load_params(&same); // the control: the same model loads (a fatal error would end the test program)
    tu_rmtree(dir);
    free(dir), free(path);
}

static void check_config_of_sample(void *path) {
    CkptReader *r = child_reader = ckpt_open(path);
    ckpt_check_config(r, "{\"preset\": \"tiny\", \"hidden\": 200, \"optim\": \"adam\", \"epochs\": 39}", NULL);
}

static void test_config_diff(void **state) {
    (void)state;
    char err[512];
    const char *const ignore[] = {"epochs", NULL};
    assert_int_equal(0, ckpt_config_diff(CONFIG, CONFIG, NULL, err, sizeof err));
    // the same fields, spaced differently
    assert_int_equal(0, ckpt_config_diff(CONFIG, " {\"preset\":\"tiny\",\"hidden\" : 650,\n\"optim\":\"adam\","
                                         "\"epochs\":39 } ", NULL, err, sizeof err));
    assert_int_equal(-1, ckpt_config_diff(CONFIG, "{\"preset\": \"tiny\", \"hidden\": 200, \"optim\": \"sgd\", "
                                          "\"epochs\": 39}", NULL, err, sizeof err));
    printf("# %s\n", err);
    assert_string_equal(err, "field 'hidden' is 650 in the checkpoint, 200 in this run"); // the first one differing
    const char *longer = "{\"preset\": \"tiny\", \"hidden\": 650, \"optim\": \"adam\", \"epochs\": 60}";
    assert_int_equal(-1, ckpt_config_diff(CONFIG, longer, NULL, err, sizeof err));
    assert_string_equal(err, "field 'epochs' is 39 in the checkpoint, 60 in this run");
    assert_int_equal(0, ckpt_config_diff(CONFIG, longer, ignore, err, sizeof err));
    assert_int_equal(-1, ckpt_config_diff(CONFIG, "{\"preset\": \"tiny\", \"hidden\": 650, \"optim\": \"adam\", "
                                          "\"epochs\": 39, \"tied\": true}", NULL, err, sizeof err));
    assert_string_equal(err, "field 'tied' is missing in the checkpoint's configuration (this run: true)");
    assert_int_equal(-1, ckpt_config_diff(CONFIG, "{\"preset\": \"tiny\", \"optim\": \"adam\", \"epochs\": 39}", NULL,
                                          err, sizeof err));
    assert_string_equal(err, "field 'hidden' (650 in the checkpoint) is missing in this run's configuration");
    // strings with escaped quotes and commas, and nested values, compared whole
    const char *nested = "{\"args\": \"a=1,\\\"b\\\"=2\", \"betas\": [0.9, {\"x\": \"]\"}], \"n\": null}";
    assert_int_equal(0, ckpt_config_diff(nested, nested, NULL, err, sizeof err));
    assert_int_equal(-1, ckpt_config_diff(nested, "{\"args\": \"a=1,\\\"b\\\"=2\", \"betas\": [0.9, {\"x\": \"[\"}], "
                                          "\"n\": null}", NULL, err, sizeof err));
    assert_string_equal(err, "field 'betas' is [0.9, {\"x\": \"]\"}] in the checkpoint, [0.9, {\"x\": \"[\"}] in "
                             "this run");
    assert_int_equal(-1, ckpt_config_diff("{\"a\": 1,", CONFIG, NULL, err, sizeof err));
    assert_string_equal(err, "the checkpoint's configuration is not a flat JSON object (byte 8)");
    assert_int_equal(-1, ckpt_config_diff(CONFIG, "hidden=650", NULL, err, sizeof err));
    assert_non_null(strstr(err, "this run's configuration is not a flat JSON object"));
    assert_int_equal(0, ckpt_config_diff("{}", " { } ", NULL, err, sizeof err));

    Sample s = sample_new();
    expect_fatal(check_config_of_sample, s.path, s.path, "another configuration",
                 "field 'hidden' is 650 in the checkpoint, 200 in this run", NULL);
    sample_free(&s);
}

static void read_only_w(void *path) {
    CkptReader *r = child_reader = ckpt_open(path);
    float w[6];
    ckpt_get_f32(r, "w", 2, (int[]){2, 3}, w);
    ckpt_expect_all_read(r);
}

static void test_expect_all_read(void **state) {
    (void)state;
    Sample s = sample_new();
    expect_fatal(read_only_w, s.path, s.path, "tensor 'lr' was not used by this run", NULL);
    sample_free(&s);
}

static void put_twice(void *path) {
    CkptWriter *w = ckpt_begin(path, "{}");
    float x = 1.0f;
    ckpt_put_f32(w, "a", 0, NULL, &x);
    ckpt_put_f32(w, "b", 0, NULL, &x);
    ckpt_put_f32(w, "a", 0, NULL, &x);
    ckpt_commit(w);
}

static void put_bad_name(void *path) {
    CkptWriter *w = ckpt_begin(path, "{}");
    float x = 1.0f;
    ckpt_put_f32(w, "a b", 0, NULL, &x);
}

static void test_writer_refusals(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "c.ckpt");
    expect_fatal(put_twice, path, path, "tensor 'a' was put twice", NULL);
    expect_fatal(put_bad_name, path, path, "tensor name 'a b'", NULL);
    assert_int_equal(0, count_files(dir)); // neither the checkpoint nor a temporary file
    tu_rmtree(dir);
    free(dir), free(path);
}

static void write_other(const char *path, const char *config) {
    CkptWriter *w = ckpt_begin(path, config);
    int32_t v = 7;
    ckpt_put_i32(w, "v", 0, NULL, &v);
    ckpt_commit(w);
}

// A process that dies (exits without committing) halfway through writing a checkpoint.
static void begin_and_die(const char *path) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        CkptWriter *w = ckpt_begin(path, "{\"new\": 1}");
        ckpt_put_f32(w, "w", 2, (int[]){2, 3}, &W[0][0]);
        _exit(0);
    }
    int status;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_replace_atomically(void **state) {
    (void)state;
    Sample s = sample_new();
    size_t len;
    unsigned char *now;

    CkptWriter *w = ckpt_begin(s.path, "{\"new\": 1}");
    ckpt_put_f32(w, "w", 2, (int[]){2, 3}, &W[0][0]);
    assert_int_equal(2, count_files(s.dir)); // the old checkpoint and the temporary file
    ckpt_abort(w);
    now = slurp(s.path, &len);
    assert_true(len == s.len && memcmp(now, s.bytes, len) == 0);
    free(now);
    assert_int_equal(1, count_files(s.dir));

    begin_and_die(s.path);
    now = slurp(s.path, &len);
    assert_true(len == s.len && memcmp(now, s.bytes, len) == 0);
    free(now);
    assert_int_equal(2, count_files(s.dir)); // the crash leaves its temporary file beside, not in place
    tu_rmtree(s.dir);
    assert_int_equal(0, mkdir(s.dir, 0755));

    write_sample(s.path);
    write_other(s.path, "{\"second\": 2}");
    CkptReader *r = ckpt_open(s.path);
    assert_string_equal(ckpt_config(r), "{\"second\": 2}");
    assert_int_equal(1, ckpt_count(r));
    ckpt_close(r);
    assert_int_equal(1, count_files(s.dir));
    sample_free(&s);
}

static void write_sample_fn(void *path) { write_sample(path); }

static void test_unwritable_destination(void **state) {
    (void)state;
    Sample s = sample_new();
    char *nodir = tu_path(s.dir, "no/such/dir/ckpt.bin");
    expect_fatal(write_sample_fn, nodir, nodir, "No such file or directory", NULL);
    char *notdir = tu_path(s.dir, "ckpt.bin/ckpt.bin"); // under a regular file
    expect_fatal(write_sample_fn, notdir, notdir, "Not a directory", NULL);
    // the destination is a directory: everything is written, then the rename fails and the temporary file goes
    char *isdir = tu_path(s.dir, "sub");
    free(tu_write(s.dir, "sub/keep", "x", 1, 0));
    expect_fatal(write_sample_fn, isdir, isdir, "Is a directory", "the previous checkpoint, if any, is intact", NULL);
    assert_int_equal(2, count_files(s.dir)); // ckpt.bin and sub/
    if (geteuid() != 0) {
        assert_int_equal(0, chmod(s.dir, 0555));
        expect_fatal(write_sample_fn, s.path, s.path, "Permission denied", NULL);
        assert_int_equal(0, chmod(s.dir, 0755));
    } else {
        printf("# running as root: a read-only directory does not stop writes, that case is not tested\n");
    }
    size_t len;
    unsigned char *now = slurp(s.path, &len);
    assert_true(len == s.len && memcmp(now, s.bytes, len) == 0);
    free(now), free(nodir), free(notdir), free(isdir);
    sample_free(&s);
}

// A full disk without root: a file size limit makes write() fail with EFBIG once the temporary file reaches it.
static void write_big_with_size_limit(void *path) {
    signal(SIGXFSZ, SIG_IGN); // otherwise the kernel kills the process instead of failing the write
    struct rlimit rl = {64 << 10, 64 << 10};
    NN_CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0, "setrlimit failed, so the test cannot work: %s", strerror(errno));
    enum { N = 100000 };
    float *x = nn_malloc(N * sizeof *x);
    Rng rng;
    rng_seed(&rng, 5);
    for (int i = 0; i < N; i++) x[i] = rng_normal(&rng);
    CkptWriter *w = ckpt_begin(path, CONFIG);
    ckpt_put_f32(w, "x", 1, (int[]){N}, x);
    ckpt_commit(w);
}

static void test_full_disk(void **state) {
    (void)state;
    Sample s = sample_new();
    expect_fatal(write_big_with_size_limit, s.path, s.path, "File too large", "the previous checkpoint, if any, is "
                 "intact", NULL);
    size_t len;
    unsigned char *now = slurp(s.path, &len);
    assert_true(len == s.len && memcmp(now, s.bytes, len) == 0);
    assert_int_equal(1, count_files(s.dir)); // the temporary file was removed
    free(now);
    sample_free(&s);
}

// Two distinguishable checkpoints: config "{\"v\": k}" and a tensor filled with k.
enum { KILL_N = 1 << 16 };
static void fill_version(float *buf, int k) {
    for (int i = 0; i < KILL_N; i++) buf[i] = (float)k + (float)i * 1e-3f;
}

static CkptWriter *begin_version(const char *path, int k, float *buf) {
    fill_version(buf, k);
    char config[32];
    snprintf(config, sizeof config, "{\"v\": %d}", k);
    CkptWriter *w = ckpt_begin(path, config);
    ckpt_put_f32(w, "x", 1, (int[]){KILL_N}, buf);
    return w;
}

static void write_version(const char *path, int k, float *buf) { ckpt_commit(begin_version(path, k, buf)); }

// Where a writer process is when it is killed: at a random instant of endless replacements (version k, 1 - k, k,
// ...), or waiting, once it has written a byte to `ready_fd`, with version k written but not committed, or
// committed.
typedef enum { KILL_ANYWHERE, KILL_BEFORE_COMMIT, KILL_AFTER_COMMIT } KillPoint;

static pid_t start_writer(const char *path, int k, KillPoint at, float *buf, int ready_fd) {
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0) return pid;
    alarm(30); // never outlives a parent that failed before killing it
    if (at == KILL_ANYWHERE)
        for (;; k ^= 1) write_version(path, k, buf);
    CkptWriter *w = begin_version(path, k, buf);
    if (at == KILL_AFTER_COMMIT) ckpt_commit(w);
    if (write(ready_fd, "r", 1) != 1) _exit(1);
    for (;;) pause();
}

static void kill_writer(pid_t pid) {
    assert_int_equal(0, kill(pid, SIGKILL));
    int status;
    assert_int_equal(pid, waitpid(pid, &status, 0));
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

// Asserts that the file is one whole checkpoint, version 0 or 1, and returns which.
static int version_in_file(const char *path, const char *when, float *expect, float *got) {
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    if (!bytes) fail_msg("%s: the checkpoint is gone", when);
    char err[512];
    CkptReader *r = ckpt_open_mem(bytes, len, path, err, sizeof err);
    if (!r) fail_msg("%s: %s", when, err);
    int k = strcmp(ckpt_config(r), "{\"v\": 1}") == 0;
    assert_string_equal(ckpt_config(r), k ? "{\"v\": 1}" : "{\"v\": 0}");
    ckpt_get_f32(r, "x", 1, (int[]){KILL_N}, got);
    fill_version(expect, k);
    assert_memory_equal(got, expect, KILL_N * sizeof *got);
    ckpt_close(r);
    free(bytes);
    return k;
}

// A writer killed while it replaces the checkpoint: the file is always one complete checkpoint, the old one or the
// new one. Two kills at known points (all written but the commit: still the old; just after the commit: the new)
// make sure both are seen, so a writer that never replaced the file, or replaced it before its commit, fails; 20
// kills at random instants of endless replacements must each find a whole checkpoint too.
static void test_killed_at_random_instants(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "ckpt.bin");
    float *buf = nn_malloc(KILL_N * sizeof *buf), *got = nn_malloc(KILL_N * sizeof *got);
    write_version(path, 0, buf);
    int seen[2] = {0, 0};
    const struct { KillPoint at; const char *when; int expect; } fixed[] = {
        {KILL_BEFORE_COMMIT, "killed before the commit of version 1", 0},
        {KILL_AFTER_COMMIT, "killed after the commit of version 1", 1},
    };
    for (int i = 0; i < 2; i++) {
        int ready[2];
        assert_int_equal(0, pipe(ready));
        pid_t pid = start_writer(path, 1, fixed[i].at, buf, ready[1]);
        close(ready[1]);
        char c;
        if (read(ready[0], &c, 1) != 1) fail_msg("%s: the writer died before that point", fixed[i].when);
        close(ready[0]);
        kill_writer(pid);
        int k = version_in_file(path, fixed[i].when, buf, got);
        if (k != fixed[i].expect) fail_msg("%s: the file holds version %d", fixed[i].when, k);
        seen[k]++;
    }
    Rng rng;
    rng_seed(&rng, 11);
    int now = 1; // the version in the file; each writer starts with the other one
    for (int trial = 0; trial < 20; trial++) {
        pid_t pid = start_writer(path, 1 - now, KILL_ANYWHERE, buf, -1);
        struct timespec ts = {0, (long)(rng_below(&rng, 20000) + 200) * 1000}; // 0.2 to 20 ms
        nanosleep(&ts, NULL);
        kill_writer(pid);
        char when[64];
        snprintf(when, sizeof when, "killed at a random instant, trial %d", trial);
        now = version_in_file(path, when, buf, got);
        seen[now]++;
    }
    printf("# 22 kills: the checkpoint was whole every time (%d times version 0, %d times version 1); %d temporary "
           "files left by the kills\n", seen[0], seen[1], count_files(dir) - 1);
    assert_true(seen[0] >= 1 && seen[1] >= 1);
    tu_rmtree(dir);
    free(dir), free(path), free(buf), free(got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_large_tensor),
        cmocka_unit_test(test_params_round_trip),
        cmocka_unit_test(test_bad_magic_and_version),
        cmocka_unit_test(test_truncation_at_every_offset),
        cmocka_unit_test(test_every_flipped_bit),
        cmocka_unit_test(test_get_refusals),
        cmocka_unit_test(test_params_refusals),
        cmocka_unit_test(test_config_diff),
        cmocka_unit_test(test_expect_all_read),
        cmocka_unit_test(test_writer_refusals),
        cmocka_unit_test(test_replace_atomically),
        cmocka_unit_test(test_unwritable_destination),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_killed_at_random_instants),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
