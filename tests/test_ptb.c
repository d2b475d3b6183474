// The PTB module against hand-computed references: vocabulary ids and token streams of tiny corpora written to a
// temporary directory, stream splitting and exact windows, the data-directory search order, every fatal error, and
// the real corpus's counts from /work/shared/data/README.md.
// N=streams T=window length L=tokens per stream
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "data/ptb.h"
#include "nn/check.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const PROBE = "ptb/ptb.train.txt.gz";

// Writes DIR/ptb/ptb.{train,valid,test}.txt[.gz]; a NULL text leaves that file out.
static void write_ptb(const char *dir, const char *const text[3], const int gz[3]) {
    static const char *const name[3] = {"train", "valid", "test"};
    for (int k = 0; k < 3; k++) {
        if (!text[k]) continue;
        char rel[64];
        snprintf(rel, sizeof rel, "ptb/ptb.%s.txt%s", name[k], gz[k] ? ".gz" : "");
        free(tu_write(dir, rel, text[k], strlen(text[k]), gz[k]));
    }
}

static void assert_ids(const int *got, const int *want, long n) {
    for (long i = 0; i < n; i++)
        if (got[i] != want[i]) fail_msg("id %ld: got %d, want %d", i, got[i], want[i]);
}

// A few thousand words of deterministic pseudo-random text: large enough that half a gzip file cuts the stream.
static char *random_text(size_t *len) {
    static const char *const w[] = {"the", "market", "shares", "<unk>", "N", "rose", "fell", "in", "of", "a",
                                    "company", "said", "year", "billion", "million", "stock", "price", "new"};
    size_t cap = 1 << 16, n = 0;
    char *s = nn_malloc(cap);
    uint32_t r = 12345;
    for (int line = 0; line < 400; line++) {
        n += (size_t)snprintf(s + n, cap - n, " ");
        for (int i = 0; i < 12; i++) {
            r = r * 1664525u + 1013904223u;
            n += (size_t)snprintf(s + n, cap - n, "%s ", w[(r >> 16) % (sizeof w / sizeof *w)]);
        }
        n += (size_t)snprintf(s + n, cap - n, "\n");
    }
    NN_CHECK(n < cap - 1, "random_text overflowed");
    *len = n;
    return s;
}

// ---- vocabulary and ids ----

static void test_tiny_corpus(void **state) {
    (void)state;
    char *dir = tu_mkdtemp();
    // train gzip, valid plain (with an empty line, a tab, CRLF and an unterminated last line), test gzip
    const char *text[3] = {" the cat sat \n the dog sat \n a cat \n", " a dog \n\n the\tcat\r\n sat", " dog \n"};
    write_ptb(dir, text, (int[]){1, 0, 1});
    PtbCorpus c;
    ptb_load(&c, dir);
    // ids by first appearance in train: the=0 cat=1 sat=2 <eos>=3 (end of line 1) dog=4 a=5
    const char *words[] = {"the", "cat", "sat", "<eos>", "dog", "a"};
    assert_int_equal(6, c.vocab.size);
    for (int i = 0; i < 6; i++) {
        assert_string_equal(words[i], c.vocab.words[i]);
        assert_int_equal(i, vocab_lookup(&c.vocab, words[i]));
    }
    assert_int_equal(-1, vocab_lookup(&c.vocab, "cow"));
    assert_int_equal(-1, vocab_lookup(&c.vocab, "ca"));  // a prefix of "cat" is another word
    assert_int_equal(-1, vocab_lookup(&c.vocab, "cats")); // and so is an extension
    const int train[] = {0, 1, 2, 3, 0, 4, 2, 3, 5, 1, 3};
    const int valid[] = {5, 4, 3, 3, 0, 1, 3, 2, 3}; // the empty line is one <eos>; so is the unterminated end
    const int test[] = {4, 3};
    assert_int_equal(11, c.len[PTB_TRAIN]), assert_ids(c.split[PTB_TRAIN], train, 11);
    assert_int_equal(9, c.len[PTB_VALID]), assert_ids(c.split[PTB_VALID], valid, 9);
    assert_int_equal(2, c.len[PTB_TEST]), assert_ids(c.split[PTB_TEST], test, 2);
    ptb_free(&c);
    assert_null(c.split[0]);
    tu_rmtree(dir);
    free(dir);
}

// 3000 distinct words force the hash table to grow several times; every id must survive the rehashing.
static void test_vocab_growth(void **state) {
    (void)state;
    enum { WORDS = 3000, PER_LINE = 100 };
    size_t cap = WORDS * 8, n = 0;
    char *s = nn_malloc(cap);
    for (int i = 0; i < WORDS; i++)
        n += (size_t)snprintf(s + n, cap - n, " w%d%s", i, (i + 1) % PER_LINE ? "" : " \n");
    char *dir = tu_mkdtemp();
    write_ptb(dir, (const char *const[]){s, " w7 w2999 \n", " w10 \n"}, (int[]){1, 1, 1});
    PtbCorpus c;
    ptb_load(&c, dir);
    // line 1 is w0..w99 (ids 0..99), then <eos> = 100, so w_i has id i + 1 from i = 100 on
    assert_int_equal(WORDS + 1, c.vocab.size);
    assert_int_equal(100, vocab_lookup(&c.vocab, "<eos>"));
    for (int i = 0; i < WORDS; i++) {
        char w[16];
        snprintf(w, sizeof w, "w%d", i);
        int id = i + (i >= 100);
        if (vocab_lookup(&c.vocab, w) != id) fail_msg("'%s': id %d, want %d", w, vocab_lookup(&c.vocab, w), id);
        assert_string_equal(w, c.vocab.words[id]);
    }
    assert_int_equal(-1, vocab_lookup(&c.vocab, "w3000"));
    assert_int_equal(WORDS + WORDS / PER_LINE, c.len[PTB_TRAIN]);
    assert_ids(c.split[PTB_VALID], (const int[]){7, 3000, 100}, 3);
    assert_ids(c.split[PTB_TEST], (const int[]){10, 100}, 2);
    ptb_free(&c);
    tu_rmtree(dir);
    free(dir), free(s);
}

// A two-slot table holding one word: its proper prefixes start their probe in its slot about half the time, where a
// lookup that compared only the first strlen(prefix) bytes would return the word's id.
static void test_vocab_prefix_collision(void **state) {
    (void)state;
    char word[] = "abcdefghijklmnop";
    char *words[] = {word};
    int table[2] = {0, -1};
    Vocab v = {.words = words, .size = 1, .table = table, .table_cap = 2};
    if (vocab_lookup(&v, word) != 0) table[0] = -1, table[1] = 0; // the word must sit in its home slot
    assert_int_equal(0, vocab_lookup(&v, word));
    for (int n = 0; n < 16; n++) {
        char prefix[17];
        memcpy(prefix, word, (size_t)n), prefix[n] = '\0';
        if (vocab_lookup(&v, prefix) != -1) fail_msg("'%s' found as '%s'", prefix, word);
    }
    assert_int_equal(-1, vocab_lookup(&v, "abcdefghijklmnopq"));
}

// ---- streams and windows ----

static void test_windows_tiny_corpus(void **state) {
    (void)state;
    // the tiny train ids 0 1 2 3 0 4 2 3 5 1 3 in N=2 streams of L=5: [0 1 2 3 0] [4 2 3 5 1], the last 3 dropped
    const int ids[] = {0, 1, 2, 3, 0, 4, 2, 3, 5, 1, 3};
    PtbStreams s;
    ptb_streams_init(&s, ids, 11, 2, 3);
    assert_int_equal(5, s.L);
    assert_int_equal(2, s.nwindows); // L-1 = 4 input positions: a window of 3, then one of 1
    int x[6], y[6];
    assert_int_equal(3, ptb_window(&s, 0, x, y));
    assert_ids(x, (const int[]){0, 4, 1, 2, 2, 3}, 6); // x[t*N + j]
    assert_ids(y, (const int[]){1, 2, 2, 3, 3, 5}, 6);
    assert_int_equal(1, ptb_window(&s, 1, x, y));
    assert_ids(x, (const int[]){3, 5}, 2);
    assert_ids(y, (const int[]){0, 1}, 2);
}

static void test_windows_exact(void **state) {
    (void)state;
    int ids[23];
    for (int i = 0; i < 23; i++) ids[i] = 100 + i;
    // N=3: L=7, streams start at 100, 107, 114; ids 121, 122 dropped. T=4: windows of 4 and 2.
    PtbStreams s;
    ptb_streams_init(&s, ids, 23, 3, 4);
    assert_int_equal(7, s.L);
    assert_int_equal(2, s.nwindows);
    int x[12], y[12];
    assert_int_equal(4, ptb_window(&s, 0, x, y));
    assert_ids(x, (const int[]){100, 107, 114, 101, 108, 115, 102, 109, 116, 103, 110, 117}, 12);
    assert_ids(y, (const int[]){101, 108, 115, 102, 109, 116, 103, 110, 117, 104, 111, 118}, 12);
    assert_int_equal(2, ptb_window(&s, 1, x, y));
    assert_ids(x, (const int[]){104, 111, 118, 105, 112, 119}, 6);
    assert_ids(y, (const int[]){105, 112, 119, 106, 113, 120}, 6);

    // L-1 a multiple of T: no short window. T beyond the stream: one window of L-1.
    ptb_streams_init(&s, ids, 9, 2, 3); // L=4
    assert_int_equal(1, s.nwindows);
    assert_int_equal(3, ptb_window(&s, 0, x, y));
    assert_ids(x, (const int[]){100, 104, 101, 105, 102, 106}, 6);
    assert_ids(y, (const int[]){101, 105, 102, 106, 103, 107}, 6);
    ptb_streams_init(&s, ids, 23, 1, 50); // one stream of 23
    assert_int_equal(1, s.nwindows);
    int xl[22], yl[22];
    assert_int_equal(22, ptb_window(&s, 0, xl, yl));
    assert_ids(xl, ids, 22), assert_ids(yl, ids + 1, 22);
    ptb_streams_init(&s, ids, 4, 2, 1); // the minimum: two streams of 2 tokens, one window of 1
    assert_int_equal(1, s.nwindows);
    assert_int_equal(1, ptb_window(&s, 0, x, y));
    assert_ids(x, (const int[]){100, 102}, 2), assert_ids(y, (const int[]){101, 103}, 2);
}

// ---- data directory search ----

typedef struct {
    char *saved_cwd, *saved_env;
} EnvSave;

static EnvSave env_save(void) {
    const char *e = getenv("NNOPT_DATA");
    EnvSave s = {getcwd(NULL, 0), e ? nn_strdup(e) : NULL};
    NN_CHECK(s.saved_cwd, "getcwd failed");
    return s;
}

static void env_restore(EnvSave *s) {
    NN_CHECK(chdir(s->saved_cwd) == 0, "cannot return to '%s'", s->saved_cwd);
    if (s->saved_env) setenv("NNOPT_DATA", s->saved_env, 1);
    else unsetenv("NNOPT_DATA");
    free(s->saved_cwd), free(s->saved_env);
}

static void find_in(void *cwd) {
    NN_CHECK(chdir(cwd) == 0, "chdir");
    unsetenv("NNOPT_DATA");
    data_find_dir(NULL, PROBE);
}
static void find_flag(void *flag) { data_find_dir(flag, PROBE); }
static void find_env(void *dir) {
    setenv("NNOPT_DATA", dir, 1);
    data_find_dir(NULL, PROBE);
}

static void test_find_dir(void **state) {
    (void)state;
    EnvSave saved = env_save();
    char *t = tu_mkdtemp();
    char *a = tu_path(t, "a"), *b = tu_path(t, "b"), *w = tu_path(t, "w"), *sub = tu_path(t, "w/sub");
    free(tu_write(t, "a/ptb/ptb.train.txt.gz", " x \n", 4, 1));
    free(tu_write(t, "b/ptb/ptb.train.txt", " x \n", 4, 0)); // the plain text counts too
    free(tu_write(t, "shared/data/ptb/ptb.train.txt.gz", " x \n", 4, 1));
    NN_CHECK(mkdir(w, 0755) == 0 && mkdir(sub, 0755) == 0, "mkdir");

    char *got;
    unsetenv("NNOPT_DATA");
    assert_string_equal(a, got = data_find_dir(a, PROBE)), free(got);
    assert_string_equal(b, got = data_find_dir(b, PROBE)), free(got);
    setenv("NNOPT_DATA", b, 1);
    assert_string_equal(b, got = data_find_dir(NULL, PROBE)), free(got);
    assert_string_equal(a, got = data_find_dir(a, PROBE)), free(got); // --data before $NNOPT_DATA
    assert_string_equal(b, got = data_find_dir("", PROBE)), free(got); // an empty --data is no --data
    unsetenv("NNOPT_DATA");
    // from t/w: ../shared/data is t/shared/data; once t/w/data exists, ./data comes first
    NN_CHECK(chdir(w) == 0, "chdir");
    assert_string_equal("../shared/data", got = data_find_dir(NULL, PROBE)), free(got);
    free(tu_write(w, "data/ptb/ptb.train.txt", " x \n", 4, 0));
    assert_string_equal("./data", got = data_find_dir(NULL, PROBE)), free(got);
    env_restore(&saved);

    // an explicit directory lacking the files is fatal, never a silent fallback to ./data or ../shared/data
    expect_fatal(find_flag, t, t, "--data", PROBE, "make data", NULL);
    char *nowhere = tu_path(t, "nonexistent");
    expect_fatal(find_flag, nowhere, nowhere, "does not exist", "make data", NULL);
    expect_fatal(find_env, t, t, "$NNOPT_DATA", PROBE, "make data", NULL);
    // t/w/sub has no ./data and no ../shared/data: every place tried is listed
    expect_fatal(find_in, sub, PROBE, "--data", "$NNOPT_DATA", "./data", "../shared/data", "make data", NULL);

    tu_rmtree(t);
    free(t), free(a), free(b), free(w), free(sub), free(nowhere);
}

// ---- fatal errors on bad files and bad sizes ----

static void load(void *dir) {
    PtbCorpus c;
    ptb_load(&c, dir);
}

static void test_missing_files(void **state) {
    (void)state;
    char *dir = tu_mkdtemp();
    char *want = tu_path(dir, "ptb/ptb.train.txt");
    expect_fatal(load, dir, want, "make data", NULL);
    free(want);
    write_ptb(dir, (const char *const[]){" a \n", NULL, " a \n"}, (int[]){1, 1, 1}); // valid missing
    want = tu_path(dir, "ptb/ptb.valid.txt");
    expect_fatal(load, dir, want, "make data", NULL);
    tu_rmtree(dir);
    free(dir), free(want);
}

// A valid gzip train file of random text with `mangle` applied; loading must fail naming the file and `what`.
static void expect_bad_train(void (*mangle)(const char *path, long size), const char *what) {
    char *dir = tu_mkdtemp();
    size_t n;
    char *text = random_text(&n);
    write_ptb(dir, (const char *const[]){text, " a \n", " a \n"}, (int[]){1, 1, 1});
    char *path = tu_path(dir, "ptb/ptb.train.txt.gz");
    struct stat st;
    NN_CHECK(stat(path, &st) == 0 && st.st_size > 1000, "gzip file too small to cut");
    mangle(path, (long)st.st_size);
    expect_fatal(load, dir, path, what, NULL);
    tu_rmtree(dir);
    free(dir), free(path), free(text);
}

static void cut_half(const char *path, long size) { NN_CHECK(truncate(path, size / 2) == 0, "truncate"); }
static void cut_header(const char *path, long size) { (void)size; NN_CHECK(truncate(path, 5) == 0, "truncate"); }
static void flip_middle(const char *path, long size) {
    FILE *f = nn_fopen(path, "r+b");
    unsigned char b[16];
    NN_CHECK(fseek(f, size / 2, SEEK_SET) == 0 && fread(b, 1, 16, f) == 16, "read");
    for (int i = 0; i < 16; i++) b[i] ^= 0xff;
    NN_CHECK(fseek(f, size / 2, SEEK_SET) == 0 && fwrite(b, 1, 16, f) == 16, "write");
    nn_fclose(f, path);
}

static void test_bad_gzip(void **state) {
    (void)state;
    expect_bad_train(cut_half, "unexpected end of file"); // zlib's words for a truncated stream
    expect_bad_train(cut_header, "unexpected end of file");
    expect_bad_train(flip_middle, "corrupt");
}

static void test_bad_text(void **state) {
    (void)state;
    char *dir = tu_mkdtemp();
    char *valid = tu_path(dir, "ptb/ptb.valid.txt.gz"), *train = tu_path(dir, "ptb/ptb.train.txt.gz");
    // a valid word that train never has: the file, the line and the word
    write_ptb(dir, (const char *const[]){" a b \n", " a \n b zebra \n", " a \n"}, (int[]){1, 1, 1});
    expect_fatal(load, dir, valid, "line 2", "'zebra'", "vocabulary", NULL);
    write_ptb(dir, (const char *const[]){"", NULL, NULL}, (int[]){1, 1, 1}); // empty train
    expect_fatal(load, dir, train, "empty", NULL);
    free(tu_write(dir, "ptb/ptb.train.txt.gz", " plain text \n", 13, 0)); // a .gz that is not gzip
    expect_fatal(load, dir, train, "not gzip", NULL);
    free(tu_write(dir, "ptb/ptb.train.txt.gz", " a\0b \n", 6, 1)); // binary inside the gzip
    expect_fatal(load, dir, train, "NUL byte at offset 2", NULL);
    tu_rmtree(dir);
    free(dir), free(valid), free(train);
}

static void streams(void *arg) {
    const int *nN = arg, ids[8] = {0};
    PtbStreams s;
    ptb_streams_init(&s, ids, nN[0], nN[1], nN[2]);
}

static void window_out_of_range(void *arg) {
    (void)arg;
    const int ids[8] = {0};
    int x[8], y[8];
    PtbStreams s;
    ptb_streams_init(&s, ids, 8, 2, 2); // L=4: 2 windows
    ptb_window(&s, 2, x, y);
}

static void test_streams_fatal(void **state) {
    (void)state;
    expect_fatal(streams, (int[]){5, 3, 4}, "5 tokens are too few for 3 streams", "at least 6", NULL);
    expect_fatal(streams, (int[]){1, 1, 4}, "too few", NULL);
    expect_fatal(streams, (int[]){8, 0, 4}, "N >= 1", NULL);
    expect_fatal(streams, (int[]){8, 2, 0}, "T >= 1", NULL);
    expect_fatal(window_out_of_range, NULL, "window 2 is out of range", NULL);
}

// ---- the real corpus ----

static long count_id(const int *ids, long n, int id) {
    long k = 0;
    for (long i = 0; i < n; i++) k += ids[i] == id;
    return k;
}

static int has_train(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/ptb/ptb.train.txt.gz", dir);
    if (access(p, R_OK) == 0) return 1;
    p[strlen(p) - 3] = '\0';
    return access(p, R_OK) == 0;
}

// data_find_dir(NULL, ...)'s search, mirrored so that a machine without the data skips instead of dying.
static const char *real_data_dir(void) {
    const char *env = getenv("NNOPT_DATA");
    if (env && *env) return has_train(env) ? env : NULL;
    return has_train("./data") ? "./data" : has_train("../shared/data") ? "../shared/data" : NULL;
}

static void test_real_ptb(void **state) {
    (void)state;
    const char *where = real_data_dir();
    if (!where) {
        printf("# skipped: no ptb/ptb.train.txt[.gz] in $NNOPT_DATA (when set), else ./data or ../shared/data "
               "(run 'make data')\n");
        skip();
    }
    char *dir = data_find_dir(NULL, PROBE);
    assert_string_equal(where, dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    PtbCorpus c;
    ptb_load(&c, dir);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("# loaded %s/ptb in %.3f s\n", dir, (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
    // README: 9,999 distinct train words + <eos>; tokens = words + one <eos> per line
    assert_int_equal(10000, c.vocab.size);
    assert_int_equal(929589, c.len[PTB_TRAIN]);
    assert_int_equal(73760, c.len[PTB_VALID]);
    assert_int_equal(82430, c.len[PTB_TEST]);
    int eos = vocab_lookup(&c.vocab, "<eos>");
    assert_int_equal(42068, count_id(c.split[PTB_TRAIN], c.len[PTB_TRAIN], eos)); // the README's line counts
    assert_int_equal(3370, count_id(c.split[PTB_VALID], c.len[PTB_VALID], eos));
    assert_int_equal(3761, count_id(c.split[PTB_TEST], c.len[PTB_TEST], eos));
    // the first train line has 24 distinct words ("aer banknote ... wachter"), so <eos> is id 24
    assert_int_equal(24, eos);
    assert_string_equal("aer", c.vocab.words[0]);
    assert_string_equal("wachter", c.vocab.words[23]);
    for (int i = 0; i < 25; i++) assert_int_equal(i, c.split[PTB_TRAIN][i]);
    assert_true(vocab_lookup(&c.vocab, "<unk>") >= 0 && vocab_lookup(&c.vocab, "N") >= 0);
    for (int k = 0; k < 3; k++)
        for (long i = 0; i < c.len[k]; i++)
            if (c.split[k][i] < 0 || c.split[k][i] >= c.vocab.size) fail_msg("split %d id %ld out of range", k, i);
    // Zaremba's small config on train: N=20 streams of 46,479 tokens, 2,324 windows of T=20 (the last of 18)
    PtbStreams s;
    ptb_streams_init(&s, c.split[PTB_TRAIN], c.len[PTB_TRAIN], 20, 20);
    assert_int_equal(46479, s.L);
    assert_int_equal(2324, s.nwindows);
    int x[400], y[400];
    assert_int_equal(18, ptb_window(&s, s.nwindows - 1, x, y));
    assert_int_equal(c.split[PTB_TRAIN][19 * 46479 + 46478], y[17 * 20 + 19]); // the last target of the last stream
    ptb_free(&c);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_corpus),
        cmocka_unit_test(test_vocab_growth),
        cmocka_unit_test(test_vocab_prefix_collision),
        cmocka_unit_test(test_windows_tiny_corpus),
        cmocka_unit_test(test_windows_exact),
        cmocka_unit_test(test_find_dir),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_bad_gzip),
        cmocka_unit_test(test_bad_text),
        cmocka_unit_test(test_streams_fatal),
        cmocka_unit_test(test_real_ptb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
