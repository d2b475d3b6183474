// The flag tables (tools/flags.h): defaults, parsing of every type, range and input errors naming the flag,
// abbreviations, --help and the usage, the JSON configuration and the resume keys.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/check.h"
#include "testutil.h"
#include "tools/flags.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    int hidden, tied, augment;
    long max_steps;
    float lr, min_lr;
    uint64_t seed;
    const char *out, *data, *resume;
    IntList milestones, sizes, stats;
    DoubleList eta;
} Cfg;

typedef struct {
    int layers, grad_stats, threads;
} Wl;

#define C(f) offsetof(Cfg, f)
static const FlagSpec cfg_rows[] = {
    {"hidden", FLAG_INT, C(hidden), 1, 1 << 16, "32", 0, "N", "hidden size"},
    {"max-steps", FLAG_LONG, C(max_steps), 0, 1L << 40, "0", FLAG_RESUMABLE, "N", "stop after N steps; 0 = never"},
    {"lr", FLAG_FLOAT, C(lr), 0, 1e6, "0.1", 0, "X", "learning rate"},
    {"min-lr", FLAG_FLOAT, C(min_lr), 0, 1e6, NULL, 0, "X", "cosine: the final learning rate"},
    {"milestones", FLAG_INTS, C(milestones), 1, 1000, NULL, 0, "E,..", "multistep: the epochs"},
    {"seed", FLAG_U64, C(seed), 0, 0, "1", 0, "N", "random seed"},
    {"out", FLAG_STRING, C(out), 0, 0, "runs/x", FLAG_RESUMABLE, "DIR", "where the outputs go"},
    {"data", FLAG_STRING, C(data), 0, 0, NULL, 0, "DIR", "data root"},
    {"resume", FLAG_STRING, C(resume), 0, 0, NULL, FLAG_NO_JSON, "PATH", "continue a run"},
    {"tied", FLAG_SET, C(tied), 0, 0, NULL, 0, NULL, "tie the decoder to the embedding"},
    {"no-augment", FLAG_CLEAR, C(augment), 0, 0, NULL, 0, NULL, "no random crops and flips"},
    {"batch-sizes", FLAG_INTS, C(sizes), 1, 1 << 16, "4,8", 0, "B,..", "batch sizes of the statistics"},
    {"eta", FLAG_DOUBLES, C(eta), 1e-30, 1e30, "0.25", 0, "X,..",
     "clipping thresholds of the descent quantity, a long help text that does not fit on one line of the usage "
     "and must wrap at a space, its continuation lines indented to the column of the help texts"},
    {"stats-epochs", FLAG_EPOCHS, C(stats), 0, 100000, "all", 0, "K,..", "exact statistics after these epochs"},
};
#undef C
static const FlagSpec wl_rows[] = {
    {"layers", FLAG_INT, offsetof(Wl, layers), 1, 8, "2", 0, "N", "LSTM layers"},
    {"no-grad-stats", FLAG_CLEAR, offsetof(Wl, grad_stats), 0, 0, NULL, FLAG_RESUMABLE, NULL, "skip the cosines"},
    {"threads", FLAG_INT, offsetof(Wl, threads), 0, 1024, "0", FLAG_RESUMABLE, "N", "threads; 0 = all cores"},
};
#define NCFG (int)(sizeof cfg_rows / sizeof *cfg_rows)
#define NWL (int)(sizeof wl_rows / sizeof *wl_rows)

static const char *const skip[] = {"preset", NULL};

typedef struct {
    Cfg c;
    Wl w;
    FlagTable t[2];
} Run;

static void run_init(Run *r) {
    memset(r, 0x5a, sizeof *r); // garbage: the defaults must set every field
    r->t[0] = (FlagTable){cfg_rows, NCFG, &r->c, "trainer flags:"};
    r->t[1] = (FlagTable){wl_rows, NWL, &r->w, "model flags:"};
    flags_defaults(r->t, 2);
}

// argv is NULL-terminated, argv[0] the program.
static void run_parse(Run *r, char **argv) {
    int argc = 0;
    while (argv[argc]) argc++;
    flags_parse(r->t, 2, argc, argv, skip, "prog", "usage: prog [--preset NAME] [flags]\n"
                                                    "  (flags override it)\n");
}

#define ARGV(...) ((char *[]){"prog", __VA_ARGS__, NULL})

static void test_defaults(void **state) {
    (void)state;
    Run r;
    run_init(&r);
    assert_int_equal(r.c.hidden, 32);
    assert_int_equal(r.c.max_steps, 0);
    assert_true(r.c.lr == 0.1f);
    assert_true(r.c.min_lr == 0.0f);
    assert_int_equal(r.c.milestones.n, 0);
    assert_int_equal(r.c.milestones.all, 0);
    assert_true(r.c.seed == 1);
    assert_string_equal(r.c.out, "runs/x");
    assert_null(r.c.data);
    assert_null(r.c.resume);
    assert_int_equal(r.c.tied, 0);
    assert_int_equal(r.c.augment, 1);
    assert_int_equal(r.c.sizes.n, 2);
    assert_int_equal(r.c.sizes.v[0], 4);
    assert_int_equal(r.c.sizes.v[1], 8);
    assert_int_equal(r.c.eta.n, 1);
    assert_true(r.c.eta.v[0] == 0.25);
    assert_int_equal(r.c.stats.all, 1);
    assert_int_equal(r.c.stats.n, 0);
    assert_int_equal(r.w.layers, 2);
    assert_int_equal(r.w.grad_stats, 1);
    assert_int_equal(r.w.threads, 0);
}

static void test_every_type(void **state) {
    (void)state;
    Run r;
    run_init(&r);
    run_parse(&r, ARGV("--hidden", "64", "--max-steps=1099511627776", "--lr=1e-3", "--min-lr", "0.5",
                       "--milestones=5,10,15", "--seed=42", "--out", "dir/a b", "--data=", "--resume=ck.nnck",
                       "--tied", "--no-augment", "--batch-sizes=1,2,3,4,5,6,7,65536", "--eta=1e-30,1e30",
                       "--stats-epochs=0,7", "--layers=8", "--no-grad-stats", "--threads=1024", "--preset=tiny"));
    assert_int_equal(r.c.hidden, 64);
    assert_true(r.c.max_steps == 1099511627776L);
    assert_true(r.c.lr == (float)1e-3);
    assert_true(r.c.min_lr == 0.5f);
    assert_int_equal(r.c.milestones.n, 3);
    assert_int_equal(r.c.milestones.v[2], 15);
    assert_true(r.c.seed == 42);
    assert_string_equal(r.c.out, "dir/a b");
    assert_string_equal(r.c.data, "");
    assert_string_equal(r.c.resume, "ck.nnck");
    assert_int_equal(r.c.tied, 1);
    assert_int_equal(r.c.augment, 0);
    assert_int_equal(r.c.sizes.n, 8); // FLAG_MAX_LIST items
    assert_int_equal(r.c.sizes.v[0], 1);
    assert_int_equal(r.c.sizes.v[7], 65536);
    assert_int_equal(r.c.eta.n, 2);
    assert_true(r.c.eta.v[0] == 1e-30 && r.c.eta.v[1] == 1e30);
    assert_int_equal(r.c.stats.all, 0);
    assert_int_equal(r.c.stats.n, 2);
    assert_int_equal(r.c.stats.v[0], 0);
    assert_int_equal(r.c.stats.v[1], 7);
    assert_int_equal(r.w.layers, 8);
    assert_int_equal(r.w.grad_stats, 0);
    assert_int_equal(r.w.threads, 1024);
}

static void test_later_flags_win(void **state) {
    (void)state;
    Run r;
    run_init(&r);
    run_parse(&r, ARGV("--hidden=3", "--hidden", "4", "--stats-epochs=1,2", "--stats-epochs=all", "--eta=1,2,3",
                       "--eta=5"));
    assert_int_equal(r.c.hidden, 4);
    assert_int_equal(r.c.stats.all, 1);
    assert_int_equal(r.c.stats.n, 0);
    assert_int_equal(r.c.eta.n, 1);
    assert_true(r.c.eta.v[0] == 5);
    run_parse(&r, ARGV("--stats-epochs=all", "--stats-epochs=2,3")); // a second parse in the same process
    assert_int_equal(r.c.stats.all, 0);
    assert_int_equal(r.c.stats.n, 2);
    assert_int_equal(r.c.stats.v[1], 3);
    assert_int_equal(r.c.hidden, 4); // untouched by the second parse
}

static void test_abbreviations(void **state) {
    (void)state;
    Run r;
    run_init(&r);
    run_parse(&r, ARGV("--mil=1", "--min=0.25", "--hid", "7", "--preset=tiny"));
    assert_int_equal(r.c.milestones.n, 1);
    assert_int_equal(r.c.milestones.v[0], 1);
    assert_true(r.c.min_lr == 0.25f);
    assert_int_equal(r.c.hidden, 7);
}

static void parse_fatal(void *argv) {
    Run r;
    run_init(&r);
    run_parse(&r, argv);
}

static void test_bad_input(void **state) {
    (void)state;
    // --mi is both --min-lr and --milestones: refused, not taken as the first
    expect_fatal(parse_fatal, ARGV("--mi=3"), "unknown option '--mi' (see the list above)",
                 "usage: prog [--preset NAME]", NULL);
    expect_fatal(parse_fatal, ARGV("--frob", "3"), "unknown option '--frob'", "  --hidden N", NULL);
    expect_fatal(parse_fatal, ARGV("-x"), "unknown option '-x'", NULL);
    expect_fatal(parse_fatal, ARGV("--hidden"), "option '--hidden' needs a value (see the list above)", NULL);
    expect_fatal(parse_fatal, ARGV("--preset"), "option '--preset' needs a value", NULL);
    // a skipped name is read from argv by the caller, by its full name: an abbreviation would be ignored silently
    expect_fatal(parse_fatal, ARGV("--pre=tiny"), "'--pre': write --preset in full", NULL);
    expect_fatal(parse_fatal, ARGV("--pres", "tiny"), "'--pres': write --preset in full", NULL);
    expect_fatal(parse_fatal, ARGV("--tied=1"), "option '--tied' takes no value", NULL);
    expect_fatal(parse_fatal, ARGV("--hidden=3", "extra"),
                 "unexpected argument 'extra' (flags start with --; see prog --help)", NULL);
    expect_fatal(parse_fatal, ARGV("--hidden=0"), "--hidden 0: accepted [1, 65536]", NULL);
    expect_fatal(parse_fatal, ARGV("--hidden=12x"), "--hidden '12x': expected an integer in [1, 65536]", NULL);
    expect_fatal(parse_fatal, ARGV("--hidden=99999999999999999999"), "--hidden '99999999999999999999'", NULL);
    expect_fatal(parse_fatal, ARGV("--max-steps=-1"), "--max-steps -1: accepted [0, 1099511627776]", NULL);
    expect_fatal(parse_fatal, ARGV("--lr=abc"), "--lr 'abc': expected a number", NULL);
    expect_fatal(parse_fatal, ARGV("--lr=2e6"), "--lr 2e+06: accepted [0, 1e+06]", NULL);
    expect_fatal(parse_fatal, ARGV("--seed=-1"), "--seed '-1': expected a non-negative integer", NULL);
    expect_fatal(parse_fatal, ARGV("--seed=18446744073709551616"), "--seed '18446744073709551616'", NULL);
    expect_fatal(parse_fatal, ARGV("--batch-sizes=1,2,3,4,5,6,7,8,9"), "--batch-sizes '1,2,3,4,5,6,7,8,9': at most 8",
                 NULL);
    expect_fatal(parse_fatal, ARGV("--batch-sizes=4,0"), "--batch-sizes 0: accepted [1, 65536]", NULL);
    expect_fatal(parse_fatal, ARGV("--batch-sizes=4,"), "--batch-sizes '': expected an integer", NULL);
    expect_fatal(parse_fatal, ARGV("--eta="), "--eta: expected a comma-separated list of 1 to 8 values", NULL);
    expect_fatal(parse_fatal, ARGV("--eta=0"), "--eta 0: accepted [1e-30, 1e+30]", NULL);
    expect_fatal(parse_fatal, ARGV("--stats-epochs=al"), "--stats-epochs 'al': expected an integer", NULL);
    expect_fatal(parse_fatal, ARGV("--layers=9"), "--layers 9: accepted [1, 8]", NULL);
}

static void set_fatal(void *arg) {
    Run r;
    run_init(&r);
    flags_set(r.t, 2, "layers", arg);
}

static void test_flags_set(void **state) {
    (void)state;
    Run r;
    run_init(&r);
    assert_int_equal(flags_set(r.t, 2, "frob", "1"), 0);
    assert_int_equal(flags_set(r.t, 2, "hid", "1"), 0); // exact names only
    assert_int_equal(r.c.hidden, 32);
    assert_int_equal(flags_set(r.t, 2, "layers", "3"), 1); // the second table
    assert_int_equal(r.w.layers, 3);
    assert_int_equal(flags_set(r.t, 2, "tied", NULL), 1);
    assert_int_equal(r.c.tied, 1);
    assert_int_equal(flags_set(r.t, 2, "no-grad-stats", NULL), 1);
    assert_int_equal(r.w.grad_stats, 0);
    expect_fatal(set_fatal, "0", "--layers 0: accepted [1, 8]", NULL);
}

static void test_help(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), *path = tu_path(dir, "help.txt");
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(path, "w", stdout)) _exit(2);
        parse_fatal(ARGV("--hidden=3", "--help"));
        _exit(3); // --help must exit
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    char *text = tu_read_file(path);
    assert_non_null(text);
    const char *head = "usage: prog [--preset NAME] [flags]\n  (flags override it)\n\ntrainer flags:\n";
    assert_int_equal(strncmp(text, head, strlen(head)), 0); // the head verbatim, first
    assert_non_null(strstr(text, "\nmodel flags:\n  --layers N"));
    free(text);
    tu_rmtree(dir);
    free(path);
    free(dir);
}

static void test_usage(void **state) {
    (void)state;
    Run r;
    run_init(&r);
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    flags_usage(f, r.t, 2, "prog", NULL); // without a head: a usage line of its own
    fclose(f);
    printf("%s", text);
    const char *head = "usage: prog [flags]\n\ntrainer flags:\n";
    assert_int_equal(strncmp(text, head, strlen(head)), 0);
    // the column: 2 + the widest "--stats-epochs K,.." (19) + 2 spaces = 23
    assert_non_null(strstr(text, "\n  --hidden N           hidden size (default: 32)\n"));
    // with a base, the values in force: zero where the row has no default; none for a switch or an empty list
    assert_non_null(strstr(text, "\n  --min-lr X           cosine: the final learning rate (default: 0)\n"));
    assert_non_null(strstr(text, "\n  --milestones E,..    multistep: the epochs\n"));
    assert_non_null(strstr(text, "\n  --tied               tie the decoder to the embedding\n"));
    assert_non_null(strstr(text, "\n  --stats-epochs K,..  exact statistics after these epochs (default: all)\n"));
    // wrapped: 23 + 75 columns, and " fit" would pass 100
    assert_non_null(strstr(text, "\n  --eta X,..           clipping thresholds of the descent quantity, a long help "
                                 "text that does not\n                       fit on one line"));
    assert_non_null(strstr(text, " (default: 0.25)\n"));
    for (char *line = text, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        assert_non_null(end);
        assert_true(end - line <= 100);
        assert_true(end == line || end[-1] != ' '); // no trailing spaces
    }
    free(text);
}

static const char *key_text(const char *json, const char *key) {
    char want[64];
    snprintf(want, sizeof want, "\"%s\":", key);
    const char *s = strstr(json, want);
    assert_non_null(s);
    return s + strlen(want);
}

static void test_json(void **state) {
    (void)state;
    Run r;
    run_init(&r);
    char *big = malloc(10001); // quotes, backslashes, newlines and every other non-NUL byte, ASCII or not
    for (int i = 0; i < 10000; i++)
        big[i] = (char)(i % 5 == 0 ? '"' : i % 7 == 0 ? '\\' : i % 11 == 0 ? '\n' : 1 + i * 37 % 255);
    big[10000] = '\0';
    run_parse(&r, ARGV("--hidden=200", "--max-steps=1099511627776", "--seed=18446744073709551615", "--tied",
                       "--no-augment", "--milestones=3,5", "--eta=0.30000000000000004,0.25", "--resume=ck"));
    r.c.min_lr = 5.f / 35.f;
    r.c.out = big;
    cJSON *obj = cJSON_CreateObject();
    flags_to_json(r.t, 2, obj);
    char *text = cJSON_PrintUnformatted(obj);
    assert_non_null(text);
    assert_int_equal(strncmp(key_text(text, "lr"), "0.1,", 4), 0);
    assert_int_equal(strncmp(key_text(text, "min_lr"), "0.14285715,", 11), 0); // 8 digits suffice
    assert_int_equal(strncmp(key_text(text, "seed"), "18446744073709551615,", 21), 0);
    assert_int_equal(strncmp(key_text(text, "max_steps"), "1099511627776,", 14), 0);
    cJSON *back = cJSON_Parse(text);
    assert_non_null(back);
    assert_int_equal(cJSON_GetArraySize(back), NCFG + NWL - 1); // all but --resume
    assert_null(cJSON_GetObjectItemCaseSensitive(back, "resume"));
    assert_null(cJSON_GetObjectItemCaseSensitive(back, "no_augment"));
    assert_true(cJSON_GetObjectItemCaseSensitive(back, "hidden")->valuedouble == 200);
    assert_true(cJSON_GetObjectItemCaseSensitive(back, "max_steps")->valuedouble == 1099511627776.0);
    assert_true((float)cJSON_GetObjectItemCaseSensitive(back, "lr")->valuedouble == 0.1f);
    assert_true((float)cJSON_GetObjectItemCaseSensitive(back, "min_lr")->valuedouble == 5.f / 35.f);
    const char *out = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(back, "out"));
    assert_non_null(out);
    assert_int_equal(strlen(out), 10000);
    assert_int_equal(memcmp(out, big, 10001), 0);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(back, "data")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(back, "tied")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(back, "augment")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(back, "grad_stats")));
    cJSON *m = cJSON_GetObjectItemCaseSensitive(back, "milestones");
    assert_int_equal(cJSON_GetArraySize(m), 2);
    assert_true(cJSON_GetArrayItem(m, 1)->valuedouble == 5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(back, "batch_sizes")), 2);
    cJSON *eta = cJSON_GetObjectItemCaseSensitive(back, "eta");
    assert_true(cJSON_GetArrayItem(eta, 0)->valuedouble == 0.30000000000000004); // not 0.3: exact
    assert_true(cJSON_GetArrayItem(eta, 1)->valuedouble == 0.25);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(back, "stats_epochs")), "all");
    assert_true(cJSON_GetObjectItemCaseSensitive(back, "threads")->valuedouble == 0);
    cJSON_Delete(back);
    cJSON_Delete(obj);
    free(text);

    run_parse(&r, ARGV("--stats-epochs=0,4", "--milestones=2"));
    r.c.out = NULL;
    obj = cJSON_CreateObject();
    flags_to_json(r.t, 2, obj);
    text = cJSON_PrintUnformatted(obj);
    assert_int_equal(strncmp(key_text(text, "stats_epochs"), "[0,4],", 6), 0);
    assert_int_equal(strncmp(key_text(text, "out"), "null,", 5), 0);
    assert_int_equal(strncmp(key_text(text, "eta"), "[0.30000000000000004,0.25],", 27), 0);
    cJSON_Delete(obj);
    free(text);
    free(big);
}

static void keys_fatal(void *arg) {
    Run r;
    run_init(&r);
    const char *keys[3];
    char store[3][FLAG_KEY_MAX];
    flags_resumable_keys(r.t, 2, store, keys, *(int *)arg);
}

static void test_keys(void **state) {
    (void)state;
    Run r;
    run_init(&r);
    const char *keys[5];
    char store[5][FLAG_KEY_MAX];
    memset(keys, 0x5a, sizeof keys);
    assert_int_equal(flags_resumable_keys(r.t, 2, store, keys, 5), 4);
    assert_string_equal(keys[0], "max_steps");
    assert_string_equal(keys[1], "out");
    assert_string_equal(keys[2], "grad_stats");
    assert_string_equal(keys[3], "threads");
    assert_null(keys[4]);
    expect_fatal(keys_fatal, &(int){3}, "more than 2 resumable flags", NULL);

    char buf[16];
    assert_string_equal(flags_key(&cfg_rows[1], buf, sizeof buf), "max_steps");
    assert_string_equal(flags_key(&cfg_rows[10], buf, sizeof buf), "augment");
    assert_string_equal(flags_key(&wl_rows[1], buf, sizeof buf), "grad_stats");
    FlagSpec set = {.name = "no-x", .type = FLAG_SET}; // only FLAG_CLEAR drops "no-"
    assert_string_equal(flags_key(&set, buf, sizeof buf), "no_x");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_type),
        cmocka_unit_test(test_later_flags_win),
        cmocka_unit_test(test_abbreviations),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_flags_set),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
