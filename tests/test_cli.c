// The nnopt program end to end: bad input fails with a message that says what is wrong, and a tiny training run
// on the real PTB data writes its CSV and summary and repeats itself exactly with the same seed.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/check.h"
#include "nn/checkpoint.h"
#include "testutil.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

static void test_bad_input(void **state) {
    (void)state;
    tu_expect_failure("", "usage: nnopt COMMAND");
    tu_expect_failure("frobnicate", "unknown command 'frobnicate'");
    tu_expect_failure("train-lm --preset huge",
                      "workload ptb-lstm has no preset 'huge'; accepted: tiny, toy, zaremba-small");
    tu_expect_failure("train --pres tiny --workload toy-sum", "'--pres': write --preset in full");
    tu_expect_failure("train --preset tiny", "preset 'tiny' belongs to several workloads");
    tu_expect_failure("train-lm --preset tiny --hidden 0", "--hidden 0: accepted [1,");
    tu_expect_failure("train-lm --preset tiny --batch -3", "--batch -3: accepted [1,");
    tu_expect_failure("train-lm --preset tiny --lr abc", "--lr 'abc': expected a number");
    tu_expect_failure("train-lm --preset tiny --dropout 1.5", "--dropout 1.5: accepted [0, 0.999]");
    tu_expect_failure("train-lm --preset tiny --frob 3", "unknown option '--frob'");
    tu_expect_failure("train-lm --preset tiny --epochs", "needs a value");
    tu_expect_failure("train-lm --preset tiny extra", "unexpected argument 'extra'");
    tu_expect_failure("train-lm --preset tiny --optim adamx", "unknown optimizer 'adamx'");
    tu_expect_failure("train-lm --preset tiny --clip-mode max", "--clip-mode 'max': accepted norm");
    tu_expect_failure("train-lm --preset tiny --order random", "--order 'random': accepted cyclic");
    tu_expect_failure("train-lm --preset tiny --optim adam --optim-args beta1=2", "adam beta1=2: accepted [0, 1)");
    tu_expect_failure("train-lm --preset tiny --plateau-factor 0.5", "--plateau-factor 0.5: accepted [1,");
    // the names are checked before the data is looked for
    tu_expect_failure("train-lm --preset tiny --milestones 5,2 --data /nonexistent-dir",
                      "--milestones '5,2' must ascend");
    // an ambiguous abbreviation of a shared flag (--milestones or --min-lr) is refused, not taken as the first
    tu_expect_failure("train-lm --preset tiny --mi 3", "unknown option '--mi'");
    tu_expect_failure("train-lm --preset tiny --data /nonexistent-dir", "/nonexistent-dir");
    // checked before allocating: no machine has 1.6e14 bytes, and the kernel must not get to kill the process
    tu_expect_failure("train-lm --preset tiny --batch 65536 --bptt 65536",
                      "reduce --batch, --eval-batch, --batch-sizes, --bptt");
}

// The loss column of steps.csv (column 4), one line per step.
static char *loss_column(const char *csv) {
    char *out = nn_calloc(strlen(csv) + 1, 1), *o = out;
    const char *line = strchr(csv, '\n'); // skip the header
    while (line && line[1]) {
        line++;
        const char *f = line;
        for (int k = 0; k < 3 && f; k++) f = strchr(f, ',') + 1;
        size_t len = strcspn(f, ",");
        memcpy(o, f, len), o += len, *o++ = '\n';
        line = strchr(line, '\n');
    }
    return out;
}

// Runs the tiny preset into a fresh directory and returns its steps.csv; *dir receives the directory.
static char *tiny_run(char **dir, int seed) {
    *dir = tu_mkdtemp(); // private: concurrent test runs must not share output files
    char args[512], *out;
    snprintf(args, sizeof args, "train-lm --preset tiny --max-steps 25 --seed %d --out %s/run", seed, *dir);
    int rc = tu_run_nnopt(&out, args);
    if (rc) printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "config {\"workload\":\"ptb-lstm\",\"preset\":\"tiny\"")); // the configuration first
    char want[32];
    snprintf(want, sizeof want, "\"seed\":%d", seed);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "valid_ppl"));
    assert_non_null(strstr(out, "test_ppl"));
    free(out);
    char *path = tu_path(*dir, "run/steps.csv"), *csv = tu_read_file(path);
    assert_non_null(csv);
    free(path);
    return csv;
}

static void test_tiny_run_is_reproducible(void **state) {
    (void)state;
    char *dir[3], *csv[3];
    for (int r = 0; r < 3; r++) csv[r] = tiny_run(&dir[r], r < 2 ? 7 : 8);
    const char *header = "step,epoch,lr,loss,grad_norm,clipped,tokens_per_s,clip_factor,grad_norm_clipped,cos_prev,"
                         "cos_update,noise_scale\n";
    assert_true(strncmp(csv[0], header, strlen(header)) == 0);
    int lines = 0;
    for (const char *p = csv[0]; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 26); // header + 25 steps
    char *l0 = loss_column(csv[0]), *l1 = loss_column(csv[1]), *l2 = loss_column(csv[2]);
    printf("# losses of run 0: %.40s...\n", l0);
    assert_string_equal(l0, l1);     // same seed, same threads: the same losses to the last printed digit
    assert_true(strcmp(l0, l2) != 0); // another seed: other losses
    char *path = tu_path(dir[0], "run/summary.json"), *summary = tu_read_file(path);
    assert_non_null(summary);
    tu_assert_json(summary, "status", "\"done\"");
    tu_assert_json(summary, "steps", "25");
    free(path), free(summary), free(l0), free(l1), free(l2);
    for (int r = 0; r < 3; r++) tu_rmtree(dir[r]), free(dir[r]), free(csv[r]);
}

// A diverging run stops at once with its own exit status, whether the loss became infinite or just absurd.
static void test_divergence(void **state) {
    (void)state;
    char *out, *dir = tu_mkdtemp(), args[512];
    snprintf(args, sizeof args, "train-lm --preset tiny --lr 1000000 --clip 0 --out %s/run", dir);
    int rc = tu_run_nnopt(&out, args);
    const char *msg = strstr(out, "error");
    printf("# exit %d: %.*s\n", rc, msg ? (int)strcspn(msg, "\n") : 0, msg ? msg : "");
    assert_int_equal(rc, 3);
    assert_non_null(strstr(out, "the run diverged. Hint: lower --lr or enable clipping"));
    free(out);
    char *path = tu_path(dir, "run/summary.json"), *summary = tu_read_file(path);
    assert_non_null(summary);
    tu_assert_json(summary, "status", "\"diverged\"");
    free(path), free(summary);
    tu_rmtree(dir), free(dir);
}

static void test_gradstats_bad_input(void **state) {
    (void)state;
    tu_expect_failure("gradstats --preset tiny --workload ptb-lstm --batch-sizes 0", "--batch-sizes 0: accepted [1,");
    tu_expect_failure("gradstats --preset tiny --workload ptb-lstm --batch-sizes 5,x",
                      "--batch-sizes 'x': expected an integer");
    tu_expect_failure("gradstats --preset tiny --workload ptb-lstm --batch-sizes ''",
                      "--batch-sizes: expected a comma-separated list");
    tu_expect_failure("gradstats --preset tiny --workload ptb-lstm --eta 0", "--eta 0: accepted [");
    tu_expect_failure("train-lm --preset tiny --stats-epochs 3", "--stats-epochs 3: the run has only 1 epochs");
    tu_expect_failure("gradstats --preset tiny --workload ptb-lstm --stats-epochs 0 --stats-tokens 100 "
                      "--batch-sizes 7,3",
                   "fewer than the least common multiple 21 of the batch sizes");
}

// --smooth-every on f = x^4/4 + x^2/2 (the l0l1 toy, one component, so f_S = f): every row's L^ equals the
// closed form (f'(x) - f'(x - h)) / h = 3x^2 - 3xh + h^2 + 1 with h = gamma ||Delta||, x recovered from the logged
// ||f'(x)|| = x^3 + x (x stays positive, so the step is -||Delta||), for clipped SGD and for Adam, whose step is not
// -lr g; and the envelope of a cloud where L^ grows with ||grad f|| has L1 > 0 and Spearman 1.
static void test_smoothness_closed_form(void **state) {
    (void)state;
    const char *optim[2] = {"--optim sgd", "--optim adam --lr 0.5 --clip 0"};
    for (int k = 0; k < 2; k++) {
        char *dir = tu_mkdtemp(), args[512], *out;
        snprintf(args, sizeof args, "train --preset l0l1 --epochs 6 %s --smooth-every 1 --smooth-fraction 1 "
                 "--smooth-gamma 0.25 --out %s/s", optim[k], dir);
        int rc = tu_run_nnopt(&out, args);
        if (rc) printf("%s", out);
        assert_int_equal(rc, 0);
        free(out);
        char *path = tu_path(dir, "s/smoothness.csv"), *csv = tu_read_file(path);
        assert_non_null(csv);
        assert_true(strncmp(csv, "step,epoch,grad_norm,step_norm,smoothness,loss,seconds\n", 55) == 0);
        assert_int_equal(tu_count_lines(csv), 7);
        const char *line = strchr(csv, '\n') + 1;
        for (int r = 0; r < 6; r++, line = strchr(line, '\n') + 1) {
            long step;
            double g, s, l, x = 10;
            assert_int_equal(sscanf(line, "%ld,%*d,%lf,%lf,%lf", &step, &g, &s, &l), 4);
            for (int it = 0; it < 60; it++) x -= (x * x * x + x - g) / (3 * x * x + 1); // Newton: x^3 + x = g
            double h = 0.25 * s, want = 3 * x * x - 3 * x * h + h * h + 1;
            printf("# %s step %ld: x %.5f, ||D|| %.5g, L^ %.6g (closed form %.6g)\n", optim[k], step, x, s, l, want);
            assert_int_equal(step, r + 1);
            assert_float_equal(l, want, 2e-4 * want);
        }
        free(path), free(csv);
        path = tu_path(dir, "s/summary.json"), csv = tu_read_file(path);
        assert_non_null(strstr(csv, "\"spearman\":\t1"));
        free(path), free(csv);
        // nnopt figures redraws from the CSV: the script holds the envelope's line
        unlink(path = tu_path(dir, "s/smoothness.gp"));
        free(path);
        snprintf(args, sizeof args, "figures %s/s", dir);
        assert_int_equal(tu_run_nnopt(&out, args), 0);
        free(out);
        path = tu_path(dir, "s/smoothness.gp"), csv = tu_read_file(path);
        assert_non_null(csv);
        assert_non_null(strstr(csv, "with lines lw 2 lc rgb 'black' title 'envelope'"));
        free(path), free(csv);
        tu_rmtree(dir), free(dir);
    }
    tu_expect_failure("train --preset l0l1 --smooth-fraction 0", "--smooth-fraction 0: accepted");
    tu_expect_failure("figures /nonexistent/run", "/nonexistent/run: no summary.json");
    tu_expect_failure("train --preset l0l1 --smooth-gamma 2", "--smooth-gamma 2: accepted");
}

// What a user sees stays clean where a value is not defined: statistics at x_0 only (no training step, one epoch
// on the figures' x axis, too few batches for Hill's estimate) print "no training steps" and "n/a", never "nan",
// and gnuplot (when installed) draws without warnings.
static void test_gradstats_at_start_is_clean(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), args[512], *out;
    snprintf(args, sizeof args, "gradstats --preset tiny --workload ptb-lstm --stats-epochs 0 --stats-tokens 1000 "
             "--batch-sizes 4,8 --out %s/g", dir);
    int rc = tu_run_nnopt(&out, args);
    printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "no training steps"));
    assert_non_null(strstr(out, "Hill n/a")); // 12 batches of 8: too few for Hill
    assert_null(strstr(out, "nan"));
    assert_null(strstr(out, "NaN"));
    assert_null(strstr(out, "Warning"));
    free(out);
    tu_rmtree(dir), free(dir);
}

// `nnopt gradstats` at x_0 and x_1 on a small data set: one summary row per epoch and batch size, one row per
// batch, and a full gradient that does not depend on the batch size.
static void test_gradstats_run(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), args[512], *out;
    snprintf(args, sizeof args, "gradstats --preset tiny --workload ptb-lstm --stats-epochs 0,1 --batch-sizes 4,8 "
             "--stats-tokens 1000 "
             "--eta 0.01,100 --max-steps 10 --out %s/gs", dir);
    int rc = tu_run_nnopt(&out, args);
    if (rc) printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "gradstats: 96 windows, batch sizes 4 8")); // (1000 - 1) / 10 = 99, cut to 96
    free(out);
    char *path = tu_path(dir, "gs/gradstats.csv"), *csv = tu_read_file(path);
    assert_non_null(csv);
    printf("# %s", csv ? csv : "(none)\n");
    const char *header = "epoch,batch_size,batches,full_grad_norm,mean_cos,frac_pos_cos,min_norm,max_norm,"
                         "min_max_ratio,descent_eta_0.01,descent_eta_100,noise_rms,b_simple,noise_q99_q50,hill_alpha,"
                         "hill_lo,hill_hi,stable_alpha,stable_lo,stable_hi,seconds\n";
    assert_true(strncmp(csv, header, strlen(header)) == 0);
    assert_int_equal(tu_count_lines(csv), 5);
    int epoch[4], b[4];
    long m[4];
    double full[4], mean_cos[4], pos[4], mn[4], mx[4], ratio[4], d_small[4], d_big[4];
    const char *line = strchr(csv, '\n') + 1;
    for (int r = 0; r < 4; r++, line = strchr(line, '\n') + 1)
        assert_int_equal(sscanf(line, "%d,%d,%ld,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &epoch[r], &b[r], &m[r], &full[r],
                                &mean_cos[r], &pos[r], &mn[r], &mx[r], &ratio[r], &d_small[r], &d_big[r]), 11);
    for (int r = 0; r < 4; r++) {
        assert_int_equal(epoch[r], r / 2);
        assert_int_equal(b[r], r % 2 ? 8 : 4);
        assert_int_equal(m[r], 96 / b[r]);
        assert_true(mean_cos[r] > -1 && mean_cos[r] < 1 && pos[r] >= 0 && pos[r] <= 1);
        assert_true(mn[r] <= mx[r] && ratio[r] > 0 && ratio[r] <= 1);
        assert_float_equal(d_big[r], 1.0, 1e-9); // eta above every norm: the clipped sum is the plain sum
        // eta below every norm: (eta / m) sum_i cos_i / ||grad f|| (Qian et al. 2021, eq. 29)
        assert_float_equal(d_small[r], 0.01 * mean_cos[r] / full[r], 1e-4 * fabs(d_small[r]) + 1e-9);
    }
    assert_float_equal(full[0], full[1], 1e-5 * full[0]); // the same f for both batch sizes
    assert_true(full[0] != full[2]);                       // x_1 is not x_0
    free(path), free(csv);
    path = tu_path(dir, "gs/gradstats_batches.csv"), csv = tu_read_file(path);
    assert_non_null(csv);
    assert_int_equal(tu_count_lines(csv), 1 + 2 * (24 + 12));
    free(path), free(csv);
    tu_rmtree(dir), free(dir);
}

static void test_compare(void **state) {
    (void)state;
    tu_expect_failure("compare --budget 0", "--budget '0': expected a positive duration");
    tu_expect_failure("compare --budget 5x", "--budget '5x': expected a positive duration");
    tu_expect_failure("compare --lr 1", "nnopt compare sets --lr itself for each method");
    tu_expect_failure("compare --clip 0", "clipped SGD needs a threshold");
    char *dir = tu_mkdtemp(), args[512], *out;
    snprintf(args, sizeof args, "compare --steps 6 --train-tokens 3000 --eval-tokens 500 --hidden 8 --batch 4 "
             "--bptt 5 --batch-sizes 2,4 --no-plots --out %s/cmp", dir);
    int rc = tu_run_nnopt(&out, args);
    if (rc) printf("%s", out);
    assert_int_equal(rc, 0);
    free(out);
    char *path = tu_path(dir, "cmp/summary.md"), *md = tu_read_file(path);
    assert_non_null(md);
    printf("# %s", md ? md : "");
    const char *rows[] = {"| sgd | sgd | 5 | - | 6 |", "| sgd-clip | sgd | 20 | 0.25 | 6 |", "| adam | adam | 0.002 | - | 6 |",
                          "| acclip | acclip | 10 | - | 6 |"};
    for (int i = 0; i < 4; i++) assert_non_null(strstr(md, rows[i]));
    free(path), free(md);
    // every method wrote its CSVs; the clipped run measured both batch sizes at x_0 and x_1 (an epoch is
    // 3000/4/5 windows: 149 steps, so 6 steps end inside epoch 1)
    path = tu_path(dir, "cmp/sgd-clip/gradstats.csv"), md = tu_read_file(path);
    assert_non_null(md);
    assert_int_equal(tu_count_lines(md), 1 + 2 * 2);
    free(path), free(md);
    path = tu_path(dir, "cmp/adam/gradstats.csv"), md = tu_read_file(path);
    assert_non_null(md);
    assert_int_equal(tu_count_lines(md), 1 + 1); // the other methods: once, at the end, at the training batch size
    assert_non_null(strstr(md, "\n1,4,"));
    free(path), free(md);
    tu_rmtree(dir), free(dir);
}

// --resume refuses a checkpoint that does not fit: another model size, or a damaged file.
static void test_resume_refusals(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), args[512], *out;
    snprintf(args, sizeof args, "train-lm --preset tiny --max-steps 4 --save-every 2 --out %s/run", dir);
    int rc = tu_run_nnopt(&out, args);
    assert_int_equal(rc, 0);
    free(out);
    snprintf(args, sizeof args, "train-lm --resume %s/run/checkpoint.nnck --hidden 16", dir);
    tu_expect_failure(args, "field 'hidden' is 32 in the checkpoint, 16 in this run");
    snprintf(args, sizeof args, "train-lm --resume %s/run/checkpoint.nnck --optim adam", dir);
    tu_expect_failure(args, "field 'optim'");
    // flip one byte in the middle of the file
    char *path = tu_path(dir, "run/checkpoint.nnck");
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
    snprintf(args, sizeof args, "train-lm --resume %s", path);
    tu_expect_failure(args, "checkpoint.nnck' is damaged: byte "); // names the file and says what is wrong with it
    tu_expect_failure("train-lm --resume /nonexistent/checkpoint.nnck", "/nonexistent/checkpoint.nnck");
    free(path);
    tu_rmtree(dir), free(dir);
}

// A checkpoint of run format 1 (written by train-lm or train-cifar before workloads: its "tool" says so, or it has
// none) is refused with a message naming the format, not misread.
static void test_old_format_refused(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), args[512];
    const char *tools[2] = {"train-lm", "train-cifar"};
    for (int k = 0; k < 2; k++) {
        char *path = tu_path(dir, tools[k]);
        CkptWriter *w = ckpt_begin(path, "{\"preset\": \"tiny\"}");
        ckpt_put_bytes(w, "tool", tools[k], strlen(tools[k]));
        ckpt_put_bytes(w, "argv", "--preset\0tiny", 14);
        ckpt_commit(w);
        snprintf(args, sizeof args, "train --resume %s", path);
        tu_expect_failure(args, "is of run format 1 (written by nnopt train-lm or train-cifar before workloads");
        free(path);
    }
    tu_rmtree(dir), free(dir);
}

// Unusual values survive the configuration, the checkpoint and a resume exactly: an output directory of 300
// characters (several levels) with quotes, a backslash, spaces and non-ASCII letters, and the largest u64 seed (more
// digits than a double holds). Before cJSON, the JSON was assembled in fixed buffers and such a value was cut or left
// unescaped.
static void test_unusual_values(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), out[512], args[1024], *log;
    int n = snprintf(out, sizeof out, "%s/a \"quoted\" \\ dir ünï ", dir);
    for (; n < 300; n++) out[n] = n % 100 ? 'x' : '/'; // components under NAME_MAX
    out[n] = '\0';
    char *quoted = tu_shell_quote(out);
    snprintf(args, sizeof args, "train --workload toy-sum --preset tiny --epochs 2 --seed 18446744073709551615 "
             "--save-every 4 --out %s", quoted);
    int rc = tu_run_nnopt(&log, args);
    if (rc) printf("%s", log);
    assert_int_equal(rc, 0);
    free(log);
    char *summary_path = tu_path(out, "summary.json"), *summary = tu_read_file(summary_path);
    assert_non_null(summary);
    const char *seed = strstr(summary, "\"seed\":"); // as written: a parser would read it into a double
    assert_non_null(seed);
    for (seed += 7; *seed == ' ' || *seed == '\t'; seed++) {}
    assert_int_equal(strncmp(seed, "18446744073709551615,", 21), 0);
    char *config = tu_json_value(summary, "config"), *got_out = tu_json_value(config, "out");
    cJSON *s = cJSON_CreateString(out); // the directory as JSON: escaped, whole
    char *escaped = cJSON_PrintUnformatted(s);
    assert_string_equal(got_out, escaped);
    // the checkpoint holds the same configuration, so the run resumes from it (to 3 epochs)
    snprintf(args, sizeof args, "train --resume %s/checkpoint.nnck --epochs 3", quoted);
    rc = tu_run_nnopt(&log, args);
    if (rc) printf("%s", log);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(log, "resumed from"));
    free(log), free(summary), free(summary_path), free(config), free(got_out), free(escaped);
    free(quoted);
    cJSON_Delete(s);
    tu_rmtree(dir), free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_divergence),
        cmocka_unit_test(test_gradstats_bad_input),
        cmocka_unit_test(test_gradstats_run),
        cmocka_unit_test(test_smoothness_closed_form),
        cmocka_unit_test(test_gradstats_at_start_is_clean),
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_resume_refusals),
        cmocka_unit_test(test_old_format_refused),
        cmocka_unit_test(test_unusual_values),
        cmocka_unit_test(test_tiny_run_is_reproducible),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
