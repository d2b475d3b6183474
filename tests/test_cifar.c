// The CIFAR-10 module against constructed files and hand-computed references: record layout (label, R/G/B planes)
// from plain and gzip files, every fatal error on a bad file, per-channel statistics, normalisation, the crop/flip
// augmentation against an explicit padded-image reference, batch index lists for the three orders, and the real
// test_batch_first1000 against /work/shared/data/README.md.
// n=images N=batch C=3 channels H=W=32 P=3072 pixel bytes per image R=3073 bytes per record
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/cifar10.h"
#include "data/ptb.h"
#include "nn/check.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// The byte of image i, channel c, row y, column x in the synthetic files: a hash, so that no two of (image, plane,
// row, column) swapped or mirrored give the same picture.
static uint8_t px(long i, int c, int y, int x) {
    uint32_t h = (uint32_t)(i * 1000003 + c * 7919 + y * 131 + x * 17 + 12345);
    h ^= h >> 13, h *= 0x5bd1e995u, h ^= h >> 15;
    return (uint8_t)h;
}
static uint8_t label_of(long i) { return (uint8_t)((i * 7 + 3) % 10); }

// n records in the file layout: label, then R, G, B planes of 32x32 row-major. Images are numbered from `first`.
static uint8_t *make_records(long first, long n, size_t *len) {
    *len = (size_t)n * CIFAR_RECORD;
    uint8_t *buf = nn_malloc(*len);
    for (long r = 0; r < n; r++) {
        uint8_t *rec = buf + (size_t)r * CIFAR_RECORD;
        rec[0] = label_of(first + r);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) rec[1 + c * 1024 + y * 32 + x] = px(first + r, c, y, x);
    }
    return buf;
}

// Writes DIR/cifar10/NAME.bin[.gz] holding images first..first+n-1; returns the malloc'd path.
static char *write_cifar(const char *dir, const char *name, long first, long n, int gz) {
    size_t len;
    uint8_t *buf = make_records(first, n, &len);
    char rel[128];
    snprintf(rel, sizeof rel, "cifar10/%s.bin%s", name, gz ? ".gz" : "");
    char *path = tu_write(dir, rel, buf, len, gz);
    free(buf);
    return path;
}

static void assert_images(const CifarSet *s, long from, long first, long n) {
    for (long r = 0; r < n; r++) {
        if (s->labels[from + r] != label_of(first + r))
            fail_msg("record %ld: label %d, want %d", r, s->labels[from + r], label_of(first + r));
        const uint8_t *img = s->pixels + (size_t)(from + r) * CIFAR_PIXELS;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    if (img[(c * 32 + y) * 32 + x] != px(first + r, c, y, x))
                        fail_msg("record %ld c=%d y=%d x=%d: %d, want %d", r, c, y, x, img[(c * 32 + y) * 32 + x],
                                 px(first + r, c, y, x));
    }
}

// ---- parsing ----

static void test_record_layout(void **state) {
    (void)state;
    char *dir = tu_mkdtemp();
    // one hand-made record: label 7; R(y=1, x=2) = 200, G(y=31, x=0) = 100, B(y=31, x=31) = 50, the rest 0
    uint8_t rec[CIFAR_RECORD] = {7};
    rec[1 + 0 * 1024 + 1 * 32 + 2] = 200, rec[1 + 1 * 1024 + 31 * 32 + 0] = 100, rec[1 + 2 * 1024 + 31 * 32 + 31] = 50;
    char *path = tu_write(dir, "one.bin", rec, sizeof rec, 0);
    CifarSet s = {0};
    cifar_read_file(&s, path, 0);
    assert_int_equal(1, s.n);
    assert_int_equal(7, s.labels[0]);
    long nonzero = 0;
    for (int k = 0; k < CIFAR_PIXELS; k++) nonzero += s.pixels[k] != 0;
    assert_int_equal(3, nonzero);
    assert_int_equal(200, s.pixels[(0 * 32 + 1) * 32 + 2]); // [c][y][x]
    assert_int_equal(100, s.pixels[(1 * 32 + 31) * 32 + 0]);
    assert_int_equal(50, s.pixels[(2 * 32 + 31) * 32 + 31]);
    cifar_set_free(&s);
    assert_null(s.pixels);
    assert_int_equal(0, s.n);
    tu_rmtree(dir);
    free(dir), free(path);
}

// 300 records (more than one 128-record read chunk, and not a multiple of it) from a plain and a gzip file.
static void test_plain_and_gzip_identical(void **state) {
    (void)state;
    enum { NREC = 300 };
    char *dir = tu_mkdtemp();
    char *plain = write_cifar(dir, "a", 0, NREC, 0), *gz = write_cifar(dir, "b", 0, NREC, 1);
    CifarSet a = {0}, b = {0};
    cifar_read_file(&a, plain, NREC);
    cifar_read_file(&b, gz, 0);
    assert_int_equal(NREC, a.n);
    assert_int_equal(NREC, b.n);
    assert_images(&a, 0, 0, NREC);
    assert_memory_equal(a.pixels, b.pixels, (size_t)NREC * CIFAR_PIXELS);
    assert_memory_equal(a.labels, b.labels, NREC);
    // appending: a second file's records follow the first's
    cifar_read_file(&a, gz, NREC);
    assert_int_equal(2 * NREC, a.n);
    assert_images(&a, NREC, 0, NREC);
    cifar_set_free(&a), cifar_set_free(&b);
    tu_rmtree(dir);
    free(dir), free(plain), free(gz);
}

// cifar_load: five train files in order, then test; .bin.gz and .bin mixed; the .gz wins when both exist.
static void test_load_dir(void **state) {
    (void)state;
    enum { PER = 4 };
    char *dir = tu_mkdtemp();
    for (int k = 0; k < 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d", k + 1);
        free(write_cifar(dir, name, 100 * (k + 1), PER, k % 2));
    }
    free(write_cifar(dir, "test_batch", 900, PER, 1));
    free(write_cifar(dir, "test_batch", 0, PER, 0)); // a stale plain copy beside the .gz: ignored

    char *p = cifar_path(dir, "data_batch_2"), *want = tu_path(dir, "cifar10/data_batch_2.bin.gz");
    assert_string_equal(want, p);
    free(p), free(want);
    p = cifar_path(dir, "data_batch_1"), want = tu_path(dir, "cifar10/data_batch_1.bin");
    assert_string_equal(want, p);
    free(p), free(want);

    Cifar10 c;
    cifar_load(&c, dir, PER);
    assert_int_equal(5 * PER, c.train.n);
    for (int k = 0; k < 5; k++) assert_images(&c.train, k * PER, 100 * (k + 1), PER);
    assert_int_equal(PER, c.test.n);
    assert_images(&c.test, 0, 900, PER);
    CifarStats st = cifar_stats(&c.train);
    assert_memory_equal(&st, &c.stats, sizeof st);
    cifar_free(&c);
    assert_null(c.train.pixels);
    tu_rmtree(dir);
    free(dir);
}

// ---- fatal errors ----

typedef struct {
    const char *path;
    long records;
} ReadArgs;

static void read_file(void *arg) {
    const ReadArgs *a = arg;
    CifarSet s = {0};
    cifar_read_file(&s, a->path, a->records);
}
static void load(void *dir) {
    Cifar10 c;
    cifar_load(&c, dir, 0);
}

// Writes `len` bytes of `buf` to DIR/REL and expects reading it (with `records`) to fail naming it and `what`.
static void expect_bad(const char *dir, const char *rel, const void *buf, size_t len, int gz, long records,
                       const char *what, const char *what2) {
    char *path = tu_write(dir, rel, buf, len, gz);
    expect_fatal(read_file, &(ReadArgs){path, records}, path, what, what2, NULL);
    free(path);
}

static void test_missing_and_empty(void **state) {
    (void)state;
    char *dir = tu_mkdtemp();
    char *want = tu_path(dir, "cifar10/data_batch_1.bin");
    expect_fatal(load, dir, want, "make data", NULL);
    free(want);
    for (int k = 1; k <= 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d", k);
        free(write_cifar(dir, name, 0, 1, 1));
    }
    want = tu_path(dir, "cifar10/test_batch.bin"); // train complete, test missing
    expect_fatal(load, dir, want, "make data", NULL);
    char *nowhere = tu_path(dir, "nonexistent.bin");
    expect_fatal(read_file, &(ReadArgs){nowhere, 0}, nowhere, "No such file", NULL);
    expect_bad(dir, "empty.bin", "", 0, 0, 0, "is empty", NULL);
    expect_bad(dir, "empty.bin.gz", "", 0, 0, 0, "is empty", NULL);    // not even a gzip header
    expect_bad(dir, "empty2.bin.gz", "", 0, 1, 0, "holds no data", NULL); // valid gzip of nothing
    tu_rmtree(dir);
    free(dir), free(want), free(nowhere);
}

static void test_bad_sizes(void **state) {
    (void)state;
    char *dir = tu_mkdtemp();
    size_t len;
    uint8_t *buf = make_records(0, 3, &len);
    // cut 100 bytes into the third record: record 2 starts at byte 6146 and has 2973 of its bytes
    expect_bad(dir, "cut.bin", buf, len - 100, 0, 0, "ends inside record 2", "2973 of its 3073 bytes");
    expect_bad(dir, "cut.bin", buf, len - 100, 0, 0, "byte offset 6146", "truncated");
    expect_bad(dir, "cut.bin.gz", buf, len - 100, 1, 0, "ends inside record 2", "truncated");
    expect_bad(dir, "cut.bin", buf, 1, 0, 0, "ends inside record 0", "1 of its 3073 bytes");
    // whole records, but not as many as the file must hold: a download cut at a record boundary
    expect_bad(dir, "short.bin", buf, len, 0, 4, "holds 3 records (9219 bytes), expected 4", "incomplete");
    expect_bad(dir, "short.bin.gz", buf, len, 1, 10000, "holds 3 records", "expected 10000");
    expect_bad(dir, "long.bin", buf, len, 0, 2, "holds 3 records", "expected 2");
    free(buf);
    // CIFAR-100's 3074-byte records get a hint
    uint8_t zeros[2 * 3074] = {0};
    expect_bad(dir, "c100.bin", zeros, sizeof zeros, 0, 0, "not a whole number of 3073-byte records", "CIFAR-100");
    tu_rmtree(dir);
    free(dir);
}

static void test_bad_labels(void **state) {
    (void)state;
    char *dir = tu_mkdtemp();
    size_t len;
    uint8_t *buf = make_records(0, 5, &len);
    buf[2 * CIFAR_RECORD] = 10; // record 2 at byte 6146
    expect_bad(dir, "l10.bin", buf, len, 0, 0, "record 2 (byte offset 6146) has label 10", "0-9");
    buf[4 * CIFAR_RECORD] = 255; // the first bad record is the one reported
    expect_bad(dir, "l10.bin.gz", buf, len, 1, 5, "record 2 (byte offset 6146) has label 10", NULL);
    buf[2 * CIFAR_RECORD] = 9; // 9 is fine: now record 4
    expect_bad(dir, "l255.bin", buf, len, 0, 0, "record 4 (byte offset 12292) has label 255", NULL);
    free(buf);
    tu_rmtree(dir);
    free(dir);
}

static void cut_half(const char *path, long size) { NN_CHECK(truncate(path, size / 2) == 0, "truncate"); }
static void cut_header(const char *path, long size) { (void)size; NN_CHECK(truncate(path, 5) == 0, "truncate"); }
static void cut_trailer(const char *path, long size) { NN_CHECK(truncate(path, size - 4) == 0, "truncate"); }
static void flip_bytes(const char *path, long at) {
    FILE *f = nn_fopen(path, "r+b");
    unsigned char b[16];
    NN_CHECK(fseek(f, at, SEEK_SET) == 0 && fread(b, 1, 16, f) == 16, "read");
    for (int i = 0; i < 16; i++) b[i] ^= 0xff;
    NN_CHECK(fseek(f, at, SEEK_SET) == 0 && fwrite(b, 1, 16, f) == 16, "write");
    nn_fclose(f, path);
}
static void flip_middle(const char *path, long size) { flip_bytes(path, size / 2); }
static void flip_crc(const char *path, long size) { flip_bytes(path, size - 16); } // the end of the data + crc

// A valid gzip file of 40 records (~120 KB: hashed pixels barely compress) with `mangle` applied.
static void expect_bad_gzip(void (*mangle)(const char *path, long size), const char *what, const char *what2) {
    char *dir = tu_mkdtemp();
    char *path = write_cifar(dir, "data_batch_1", 0, 40, 1);
    struct stat st;
    NN_CHECK(stat(path, &st) == 0 && st.st_size > 100000, "gzip file too small to cut");
    mangle(path, (long)st.st_size);
    expect_fatal(read_file, &(ReadArgs){path, 40}, path, what, "make data", what2, NULL);
    tu_rmtree(dir);
    free(dir), free(path);
}

static void test_bad_gzip(void **state) {
    (void)state;
    expect_bad_gzip(cut_half, "unexpected end of file", NULL); // zlib's words for a truncated stream
    expect_bad_gzip(cut_header, "unexpected end of file", "after 0 decompressed bytes");
    // all the data is there, the trailer (crc, length) is not
    expect_bad_gzip(cut_trailer, "unexpected end of file", "after 122920 decompressed bytes, 40 whole records");
    expect_bad_gzip(flip_middle, "corrupt", NULL);
    expect_bad_gzip(flip_crc, "corrupt", NULL);
    char *dir = tu_mkdtemp();
    size_t len;
    uint8_t *buf = make_records(0, 2, &len);
    expect_bad(dir, "plain.bin.gz", buf, len, 0, 0, "not gzip", NULL); // an uncompressed file named .gz
    free(buf);
    tu_rmtree(dir);
    free(dir);
}

// ---- statistics and normalisation ----

// Two images built so that every statistic is a round number: per channel the pixel values are symmetric around
// the mean, so every pixel normalises to -1 or +1.
//   R: image 0 all 0, image 1 all 255       -> mean 127.5/255 = 0.5,  std 0.5
//   G: every image's left half 0, right 102 -> mean 51/255 = 0.2,     std 51/255 = 0.2
//   B: image 0 all 10, image 1 all 30       -> mean 20/255,           std 10/255
static CifarSet round_set(void) {
    CifarSet s = {nn_calloc(2, CIFAR_PIXELS), nn_calloc(2, 1), 2};
    for (int i = 0; i < 2; i++) {
        uint8_t *img = s.pixels + i * CIFAR_PIXELS;
        s.labels[i] = (uint8_t)(4 + i);
        for (int k = 0; k < 1024; k++) {
            img[k] = i ? 255 : 0;
            img[1024 + k] = k % 32 >= 16 ? 102 : 0;
            img[2048 + k] = i ? 30 : 10;
        }
    }
    return s;
}

static void test_stats_hand(void **state) {
    (void)state;
    CifarSet s = round_set();
    CifarStats st = cifar_stats(&s);
    const double mean[3] = {0.5, 0.2, 20.0 / 255}, sd[3] = {0.5, 0.2, 10.0 / 255};
    for (int c = 0; c < 3; c++) {
        assert_float_equal(mean[c], st.mean[c], 1e-7);
        assert_float_equal(sd[c], st.std[c], 1e-7);
    }
    // no augmentation: every pixel is -1 (image 0, or G's left half) or +1; labels follow idx
    float x[3 * CIFAR_PIXELS];
    int y[3];
    cifar_batch(&s, &st, (const long[]){1, 0, 1}, 3, NULL, x, y);
    assert_int_equal(5, y[0]), assert_int_equal(4, y[1]), assert_int_equal(5, y[2]);
    for (int b = 0; b < 3; b++) {
        int img = b != 1;
        for (int c = 0; c < 3; c++)
            for (int k = 0; k < 1024; k++) {
                float want = c == 1 ? (k % 32 >= 16 ? 1.f : -1.f) : (img ? 1.f : -1.f);
                float got = x[(b * 3 + c) * 1024 + k];
                if (fabsf(got - want) > 1e-5f) fail_msg("b=%d c=%d k=%d: %g, want %g", b, c, k, got, want);
            }
    }
    cifar_set_free(&s);
}

// The statistics of the hashed images against a two-pass double computation.
static void test_stats_two_pass(void **state) {
    (void)state;
    size_t len;
    uint8_t *buf = make_records(0, 50, &len);
    char *dir = tu_mkdtemp();
    char *path = tu_write(dir, "s.bin", buf, len, 0);
    CifarSet s = {0};
    cifar_read_file(&s, path, 50);
    CifarStats st = cifar_stats(&s);
    for (int c = 0; c < 3; c++) {
        double m = 0, v = 0, count = 50.0 * 1024;
        for (long i = 0; i < 50; i++)
            for (int k = 0; k < 1024; k++) m += px(i, c, k / 32, k % 32) / 255.0;
        m /= count;
        for (long i = 0; i < 50; i++)
            for (int k = 0; k < 1024; k++) v += pow(px(i, c, k / 32, k % 32) / 255.0 - m, 2);
        printf("# channel %d: mean %.6f std %.6f (two-pass %.6f %.6f)\n", c, st.mean[c], st.std[c], m,
               sqrt(v / count));
        assert_float_equal(m, st.mean[c], 1e-6);
        assert_float_equal(sqrt(v / count), st.std[c], 1e-6);
    }
    cifar_set_free(&s);
    tu_rmtree(dir);
    free(dir), free(path), free(buf);
}

// ---- augmentation ----

// The reference transform, step by step as torchvision does it: pad the raw image with 4 zero pixels, crop 32x32 at
// (dy, dx), mirror the columns when flip, then normalise in double.
static void reference_image(const uint8_t *img, const CifarStats *st, int dy, int dx, int flip, float *out) {
    uint8_t padded[3][40][40] = {{{0}}}, crop[3][32][32];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) padded[c][y + 4][x + 4] = img[(c * 32 + y) * 32 + x];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) crop[c][y][x] = padded[c][y + dy][x + dx];
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                uint8_t p = crop[c][y][flip ? 31 - x : x];
                out[(c * 32 + y) * 32 + x] = (float)((p / 255.0 - st->mean[c]) / st->std[c]);
            }
}

// The same transform pixel by pixel, stopping at the first difference: cheap enough to try all 162 per image.
static int matches(const uint8_t *img, const CifarStats *st, int dy, int dx, int flip, const float *out) {
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 32; i++)
            for (int j = 0; j < 32; j++) {
                int pi = i + dy, pj = (flip ? 31 - j : j) + dx; // in the 40x40 padded image
                int inside = pi >= 4 && pi < 36 && pj >= 4 && pj < 36;
                uint8_t p = inside ? img[(c * 32 + pi - 4) * 32 + pj - 4] : 0;
                if (fabs((p / 255.0 - st->mean[c]) / st->std[c] - out[(c * 32 + i) * 32 + j]) > 1e-5) return 0;
            }
    return 1;
}

static float max_diff(const float *a, const float *b, int n) {
    float m = 0;
    for (int i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

// A single bright pixel: where it lands shows the shift, and the raw-zero padding normalises to -mean/std.
static void test_crop_moves_content(void **state) {
    (void)state;
    CifarSet s = {nn_calloc(1, CIFAR_PIXELS), nn_calloc(1, 1), 1};
    s.pixels[0] = 255;                   // R(0, 0)
    s.pixels[2048 + 5 * 32 + 30] = 255; // B(5, 30)
    const CifarStats st = {{0.5f, 0.25f, 0.125f}, {0.25f, 0.5f, 0.125f}};
    const float zero[3] = {-2.f, -0.5f, -1.f}, bright[3] = {2.f, 1.5f, 7.f}; // (0 - m)/s and (1 - m)/s
    float x[CIFAR_PIXELS];
    int y, seen_flip[2] = {0}, seen_dy[9] = {0}, seen_dx[9] = {0};
    Rng aug, draws;
    rng_seed(&aug, 5), rng_seed(&draws, 5);
    for (int t = 0; t < 400; t++) {
        cifar_batch(&s, &st, (const long[]){0}, 1, &aug, x, &y);
        int dy = (int)rng_below(&draws, 9), dx = (int)rng_below(&draws, 9), flip = (int)(rng_next(&draws) >> 63);
        seen_flip[flip]++, seen_dy[dy]++, seen_dx[dx]++;
        // the padded image is 40x40 with R(0,0) at (4,4) and B(5,30) at (9,34); crop row i reads padded row i+dy
        int ri = 4 - dy, rj = flip ? 31 - (4 - dx) : 4 - dx;
        int bi = 9 - dy, bj = flip ? 31 - (34 - dx) : 34 - dx;
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < 32; i++)
                for (int j = 0; j < 32; j++) {
                    int on = (c == 0 && i == ri && j == rj) || (c == 2 && i == bi && j == bj);
                    float want = on ? bright[c] : zero[c], got = x[(c * 32 + i) * 32 + j];
                    if (fabsf(got - want) > 1e-5f)
                        fail_msg("draw %d (dy=%d dx=%d flip=%d) c=%d (%d,%d): %g, want %g", t, dy, dx, flip, c, i, j,
                                 got, want);
                }
    }
    // every offset and both flip states occur (each offset has probability 1/9 per draw)
    for (int k = 0; k < 9; k++) assert_true(seen_dy[k] > 0 && seen_dx[k] > 0);
    assert_true(seen_flip[0] > 100 && seen_flip[1] > 100);
    cifar_set_free(&s);
}

// Hashed images through a real batch: each augmented image equals exactly one of the 162 reference transforms
// (found by search, so this does not rely on the documented order of draws), and that one is the documented draw.
static void test_augment_matches_reference(void **state) {
    (void)state;
    enum { NIMG = 20, N = 16, STEPS = 40 };
    size_t len;
    uint8_t *buf = make_records(0, NIMG, &len);
    char *dir = tu_mkdtemp();
    char *path = tu_write(dir, "a.bin", buf, len, 0);
    CifarSet s = {0};
    cifar_read_file(&s, path, NIMG);
    CifarStats st = cifar_stats(&s);
    float *x = nn_alloc_floats((size_t)N * CIFAR_PIXELS), *x2 = nn_alloc_floats((size_t)N * CIFAR_PIXELS);
    float ref[CIFAR_PIXELS];
    int y[N], y2[N], seen[9][9][2] = {{{0}}};
    long idx[N];
    Rng aug, same, draws, sampler_rng;
    rng_seed(&aug, 42), rng_seed(&same, 42), rng_seed(&draws, 42), rng_seed(&sampler_rng, 1);
    for (int t = 0; t < STEPS; t++) {
        for (int b = 0; b < N; b++) idx[b] = (long)rng_below(&sampler_rng, NIMG);
        cifar_batch(&s, &st, idx, N, &aug, x, y);
        cifar_batch(&s, &st, idx, N, &same, x2, y2); // same seed, same batch
        assert_memory_equal(x, x2, (size_t)N * CIFAR_PIXELS * sizeof *x);
        for (int b = 0; b < N; b++) {
            assert_int_equal(label_of(idx[b]), y[b]);
            const uint8_t *img = s.pixels + (size_t)idx[b] * CIFAR_PIXELS;
            int found = 0, fdy = -1, fdx = -1, fflip = -1;
            for (int dy = 0; dy < 9; dy++)
                for (int dx = 0; dx < 9; dx++)
                    for (int flip = 0; flip < 2; flip++)
                        if (matches(img, &st, dy, dx, flip, x + (size_t)b * CIFAR_PIXELS))
                            found++, fdy = dy, fdx = dx, fflip = flip;
            if (found != 1) fail_msg("step %d image %d: matches %d reference transforms, want 1", t, b, found);
            reference_image(img, &st, fdy, fdx, fflip, ref); // the whole image, through the step-by-step reference
            assert_true(max_diff(ref, x + (size_t)b * CIFAR_PIXELS, CIFAR_PIXELS) < 1e-5f);
            int dy = (int)rng_below(&draws, 9), dx = (int)rng_below(&draws, 9), flip = (int)(rng_next(&draws) >> 63);
            if (dy != fdy || dx != fdx || flip != fflip)
                fail_msg("step %d image %d: transform (%d,%d,%d), documented draw (%d,%d,%d)", t, b, fdy, fdx, fflip,
                         dy, dx, flip);
            seen[dy][dx][flip]++;
        }
    }
    long combos = 0;
    for (int a = 0; a < 9; a++)
        for (int b = 0; b < 9; b++) combos += (seen[a][b][0] > 0) + (seen[a][b][1] > 0);
    printf("# %d augmented images covered %ld of the 162 (dy, dx, flip) transforms\n", STEPS * N, combos);
    assert_true(combos > 130); // 640 uniform draws over 162 cells leave ~3 empty on average

    // a different seed gives a different batch; no augmentation is the reference's centre crop (4, 4, no flip)
    Rng other;
    rng_seed(&other, 43);
    cifar_batch(&s, &st, idx, N, &other, x2, y2);
    assert_true(max_diff(x, x2, N * CIFAR_PIXELS) > 0.1f);
    cifar_batch(&s, &st, idx, N, NULL, x, y);
    for (int b = 0; b < N; b++) {
        reference_image(s.pixels + (size_t)idx[b] * CIFAR_PIXELS, &st, 4, 4, 0, ref);
        float d = max_diff(ref, x + (size_t)b * CIFAR_PIXELS, CIFAR_PIXELS);
        if (d > 1e-5f) fail_msg("image %d without augmentation: max difference %g", b, d);
    }
    free(x), free(x2);
    cifar_set_free(&s);
    tu_rmtree(dir);
    free(dir), free(path), free(buf);
}

typedef struct {
    CifarStats st;
    long index;
} BatchArgs;

static void batch_bad(void *arg) {
    const BatchArgs *a = arg;
    CifarSet s = round_set();
    float x[CIFAR_PIXELS];
    int y;
    cifar_batch(&s, &a->st, &a->index, 1, NULL, x, &y);
}

static void test_batch_fatal(void **state) {
    (void)state;
    const CifarStats ok = {{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}}, flat = {{0.5f, 0.5f, 0.5f}, {0.25f, 0, 0.25f}};
    expect_fatal(batch_bad, &(BatchArgs){ok, 2}, "image index 2", "out of range 0..1", NULL);
    expect_fatal(batch_bad, &(BatchArgs){ok, -1}, "image index -1", NULL);
    expect_fatal(batch_bad, &(BatchArgs){flat, 0}, "channel 1", "std > 0", NULL);
}

// ---- batch index lists ----

static void test_batch_indices(void **state) {
    (void)state;
    enum { M = 10, N = 4 };
    long idx[N];
    Sampler smp;
    // cyclic: the fixed partition {0..3} {4..7} {8, 9}, the same every epoch
    sampler_init(&smp, ORDER_CYCLIC, M, 1);
    for (int e = 0; e < 2; e++) {
        sampler_epoch(&smp);
        for (long b = 0; b < 3; b++) {
            int n = cifar_batch_indices(&smp, b, N, idx);
            assert_int_equal(b < 2 ? N : 2, n);
            for (int j = 0; j < n; j++) assert_int_equal(b * N + j, idx[j]);
        }
    }
    sampler_free(&smp);
    // shuffle: each epoch's batches are slices of a permutation of the images, new every epoch
    sampler_init(&smp, ORDER_SHUFFLE, M, 3);
    long first[M];
    int differ = 0;
    for (int e = 0; e < 3; e++) {
        sampler_epoch(&smp);
        int seen[M] = {0};
        for (long b = 0; b < 3; b++) {
            int n = cifar_batch_indices(&smp, b, N, idx);
            for (int j = 0; j < n; j++) {
                assert_true(idx[j] >= 0 && idx[j] < M);
                seen[idx[j]]++;
                if (e == 0) first[b * N + j] = idx[j];
                else differ += first[b * N + j] != idx[j];
            }
        }
        for (int k = 0; k < M; k++) assert_int_equal(1, seen[k]);
    }
    assert_true(differ > 0);
    sampler_free(&smp);
    // replace: in range, and over 100 batches some batch repeats an image (P(no repeat in a batch) = 0.504)
    sampler_init(&smp, ORDER_REPLACE, M, 4);
    int repeats = 0;
    for (int t = 0; t < 100; t++) {
        assert_int_equal(N, cifar_batch_indices(&smp, 0, N, idx));
        for (int j = 0; j < N; j++) {
            assert_true(idx[j] >= 0 && idx[j] < M);
            for (int k = 0; k < j; k++) repeats += idx[k] == idx[j];
        }
    }
    assert_true(repeats > 10);
    sampler_free(&smp);
}

static void indices_out_of_range(void *arg) {
    Sampler smp;
    sampler_init(&smp, ORDER_CYCLIC, 10, 1);
    long idx[4];
    cifar_batch_indices(&smp, *(long *)arg, 4, idx);
}

static void test_batch_indices_fatal(void **state) {
    (void)state;
    expect_fatal(indices_out_of_range, &(long){3}, "batch 3 of 4 images is out of range", "batches 0..2", NULL);
    expect_fatal(indices_out_of_range, &(long){-1}, "batch -1", NULL);
}

// ---- the real data ----

static int has_first1000(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/cifar10/test_batch_first1000.bin.gz", dir);
    if (access(p, R_OK) == 0) return 1;
    p[strlen(p) - 3] = '\0';
    return access(p, R_OK) == 0;
}

// data_find_dir(NULL, ...)'s search, mirrored so that a machine without the data skips instead of dying.
static const char *real_data_dir(void) {
    const char *env = getenv("NNOPT_DATA");
    if (env && *env) return has_first1000(env) ? env : NULL;
    return has_first1000("./data") ? "./data" : has_first1000("../shared/data") ? "../shared/data" : NULL;
}

// README: test_batch_first1000 is 1,000 lossless records, the original test records 0-999; test record 0 is a cat
// starting with RGB (158,112,49), (159,111,47); test_batch.bin's records 0-999 are those same lossless records.
static void test_real_first1000(void **state) {
    (void)state;
    const char *dir = real_data_dir();
    if (!dir) {
        printf("# skipped: no cifar10/test_batch_first1000.bin[.gz] in $NNOPT_DATA (when set), else ./data or "
               "../shared/data (run 'make data')\n");
        skip();
    }
    char *path = cifar_path(dir, "test_batch_first1000");
    CifarSet s = {0};
    cifar_read_file(&s, path, 1000);
    assert_int_equal(1000, s.n);
    assert_int_equal(3, s.labels[0]);
    assert_string_equal("cat", cifar_class_names[s.labels[0]]);
    const uint8_t *p = s.pixels; // pixel k of channel c is p[c*1024 + k]
    assert_int_equal(158, p[0]), assert_int_equal(112, p[1024]), assert_int_equal(49, p[2048]);
    assert_int_equal(159, p[1]), assert_int_equal(111, p[1025]), assert_int_equal(47, p[2049]);
    long hist[10] = {0};
    for (long i = 0; i < s.n; i++) hist[s.labels[i]]++;
    printf("# %s: label histogram", path);
    for (int k = 0; k < 10; k++) printf(" %ld", hist[k]), assert_true(hist[k] > 0);
    printf("\n");
    free(path);
    char full[4096];
    snprintf(full, sizeof full, "%s/cifar10/test_batch.bin.gz", dir);
    if (access(full, R_OK) == 0) {
        CifarSet t = {0};
        cifar_read_file(&t, full, CIFAR_FILE_RECORDS);
        assert_memory_equal(s.labels, t.labels, 1000);
        assert_memory_equal(s.pixels, t.pixels, (size_t)1000 * CIFAR_PIXELS);
        long thist[10] = {0};
        for (long i = 0; i < t.n; i++) thist[t.labels[i]]++;
        for (int k = 0; k < 10; k++) assert_int_equal(1000, thist[k]); // README: 1,000 test images per class
        cifar_set_free(&t);
    } else {
        printf("# %s absent: not compared\n", full);
    }
    cifar_set_free(&s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_layout),
        cmocka_unit_test(test_plain_and_gzip_identical),
        cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_missing_and_empty),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_bad_labels),
        cmocka_unit_test(test_bad_gzip),
        cmocka_unit_test(test_stats_hand),
        cmocka_unit_test(test_stats_two_pass),
        cmocka_unit_test(test_crop_moves_content),
        cmocka_unit_test(test_augment_matches_reference),
        cmocka_unit_test(test_batch_fatal),
        cmocka_unit_test(test_batch_indices),
        cmocka_unit_test(test_batch_indices_fatal),
        cmocka_unit_test(test_real_first1000),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
