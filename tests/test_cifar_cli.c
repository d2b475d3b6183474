// `nnopt train-cifar` and `nnopt bench --preset` end to end: bad input fails with a message that says what is wrong,
// a tiny run on the real CIFAR-10 files (found by the normal data search: ../shared/data from the repository root)
// writes its CSVs and summary and repeats itself exactly with the same seed, a diverging run exits with status 3,
// the exact gradient statistics have the expected rows, descent 1 above every norm, and leave the run unchanged, and
// --resume refuses checkpoints of other runs or damaged ones (tests/test_cifar_resume.sh tests exact resumes).
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "nn/check.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

// dir/rel's content (must exist).
static char *read_in(const char *dir, const char *rel) {
    char *path = tu_path(dir, rel), *s = tu_read_file(path);
    if (!s) printf("# missing %s\n", path);
    assert_non_null(s);
    free(path);
    return s;
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

// Columns [first, last] (0-based) of every line of a CSV, the header included, one line each.
static char *columns(const char *csv, int first, int last) {
    char *out = nn_calloc(strlen(csv) + 1, 1), *o = out;
    for (const char *line = csv; *line; line = strchr(line, '\n') + 1) {
        size_t len = strcspn(line, "\n");
        int col = 0;
        for (size_t i = 0; i < len; i++) {
            if (line[i] == ',') col++;
            if (col >= first && col <= last && !(line[i] == ',' && col == first)) *o++ = line[i];
        }
        *o++ = '\n';
        if (!line[len]) break;
    }
    return out;
}

static void test_bad_input(void **state) {
    (void)state;
    tu_expect_failure("train-cifar --preset resnet9",
                      "workload cifar-resnet has no preset 'resnet9'; accepted: tiny, resnet8, resnet20, "
                      "resnet32");
    tu_expect_failure("train-cifar --preset tiny --width 0", "--width 0: accepted [0.001, 64]");
    tu_expect_failure("train-cifar --preset tiny --width abc", "--width 'abc': expected a number");
    tu_expect_failure("train-cifar --preset tiny --model resnet9", "unknown model 'resnet9'; accepted: resnet8");
    tu_expect_failure("train-cifar --preset tiny --batch 0", "--batch 0: accepted [1,");
    tu_expect_failure("train-cifar --preset tiny --frob 3", "unknown option '--frob'");
    tu_expect_failure("train-cifar --preset tiny --epochs", "needs a value");
    tu_expect_failure("train-cifar --preset tiny extra", "unexpected argument 'extra'");
    tu_expect_failure("train-cifar --preset tiny --optim adamx", "unknown optimizer 'adamx'");
    tu_expect_failure("train-cifar --preset tiny --optim-args momentum=2", "sgd momentum=2: accepted [0, 1)");
    tu_expect_failure("train-cifar --preset tiny --clip-mode max", "--clip-mode 'max': accepted norm");
    tu_expect_failure("train-cifar --preset tiny --order random", "--order 'random': accepted cyclic");
    tu_expect_failure("train-cifar --preset tiny --schedule plateau",
                      "--schedule plateau: this workload has no validation");
    tu_expect_failure("train-cifar --preset tiny --milestones 5,2", "--milestones '5,2' must ascend");
    tu_expect_failure("train-cifar --preset tiny --mi 3", "unknown option '--mi'"); // --milestones or --min-lr?
    tu_expect_failure("train-cifar --preset tiny --train-images 60000", "--train-images 60000: accepted [0, 50000]");
    tu_expect_failure("train-cifar --preset tiny --train-images 10", "--train-images 10 is fewer than one batch of "
                   "--batch 32");
    tu_expect_failure("train-cifar --preset tiny --stats-epochs 3", "--stats-epochs 3: the run has only 2 epochs");
    tu_expect_failure("train-cifar --preset tiny --stats-epochs 0 --batch-sizes 0", "--batch-sizes 0: accepted [1,");
    tu_expect_failure("train-cifar --preset tiny --stats-epochs 0 --stats-images 100 --batch-sizes 64,48",
                   "fewer than the least common multiple 192 of the batch sizes");
    tu_expect_failure("train-cifar --preset tiny --data /nonexistent-dir", "/nonexistent-dir");
    // checked before allocating: no machine has the ~1e14 bytes, and the kernel must not get to kill the process
    tu_expect_failure("train-cifar --preset tiny --width 64 --batch 20000 --train-images 20000",
                   "reduce --batch, --batch-sizes or --width");
    tu_expect_failure("bench --preset tiny --workload cifar-resnet --model resnet9", "unknown model 'resnet9'");
    char *out;
    assert_int_equal(tu_run_nnopt(&out, "train-cifar --help"), 0);
    assert_non_null(strstr(out, "--train-images N"));
    assert_non_null(strstr(out, "momentum=0.9,weight_decay=5e-4")); // the defaults are listed
    assert_non_null(strstr(out, "--save-every N"));
    assert_non_null(strstr(out, "--save-epochs"));
    assert_non_null(strstr(out, "--resume PATH"));
    free(out);
}

// Runs the tiny preset with `extra` flags into dir/run; returns the output.
static char *tiny_run(const char *dir, int seed, const char *extra) {
    char args[1024], *out;
    snprintf(args, sizeof args, "train-cifar --preset tiny --seed %d --out %s/run %s", seed, dir, extra);
    int rc = tu_run_nnopt(&out, args);
    if (rc) printf("%s", out);
    assert_int_equal(rc, 0);
    // the configuration first
    assert_true(starts_with(out, "config {\"workload\":\"cifar-resnet\",\"preset\":\"tiny\""));
    char want[32];
    snprintf(want, sizeof want, "\"seed\":%d", seed);
    assert_non_null(strstr(out, want));
    assert_non_null(strstr(out, "512 training images, 256 test images"));
    return out;
}

// Four tiny runs: seed 7 twice, seed 8, and seed 7 with exact statistics at x_0 and x_1. The same seed and threads
// give the same losses; the statistics have their rows, and measuring them changes nothing in the run.
static void test_tiny_runs(void **state) {
    (void)state;
    char *dir[4], *out[4], *steps[4], *epochs[4];
    const char *stats = "--stats-epochs 0,1 --batch-sizes 8,16 --stats-images 100 --eta 0.001,1e6";
    for (int r = 0; r < 4; r++) {
        dir[r] = tu_mkdtemp(); // private: concurrent test runs must not share output files
        out[r] = tiny_run(dir[r], r == 2 ? 8 : 7, r == 3 ? stats : "");
        steps[r] = read_in(dir[r], "run/steps.csv");
        epochs[r] = read_in(dir[r], "run/epochs.csv");
    }
    const char *header = "step,epoch,lr,loss,batch_acc,grad_norm,clipped,images_per_s,clip_factor,grad_norm_clipped,"
                         "cos_prev,cos_update,noise_scale\n";
    assert_true(starts_with(steps[0], header));
    assert_int_equal(tu_count_lines(steps[0]), 1 + 2 * 16); // 512 images / 32 per batch, 2 epochs
    assert_true(starts_with(epochs[0], "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,seconds\n"));
    assert_int_equal(tu_count_lines(epochs[0]), 1 + 2);
    char *summary = read_in(dir[0], "run/summary.json");
    tu_assert_json(summary, "status", "\"done\"");
    tu_assert_json(summary, "steps", "32");
    char *acc = tu_json_value(summary, "test_acc");
    assert_true(strncmp(acc, "0.", 2) == 0);
    free(acc);
    free(summary);

    // loss and batch accuracy (columns 3-4); epochs.csv without its wall-clock column
    char *loss[4], *eval[4];
    for (int r = 0; r < 4; r++) loss[r] = columns(steps[r], 3, 4), eval[r] = columns(epochs[r], 0, 6);
    printf("# losses of run 0: %.60s...\n# %s", loss[0] + strcspn(loss[0], "\n") + 1, eval[0]);
    assert_string_equal(loss[0], loss[1]);      // same seed, same threads: the same losses to the last digit
    assert_true(strcmp(loss[0], loss[2]) != 0); // another seed: other losses
    assert_string_equal(eval[0], eval[1]);
    // the statistics at x_0 and x_1 run training-mode forwards; with the running statistics restored, training and
    // the test evaluations (which use them) are exactly those of the run without statistics
    assert_string_equal(loss[0], loss[3]);
    assert_string_equal(eval[0], eval[3]);

    assert_non_null(strstr(out[3], "gradstats: 96 images, batch sizes 8 16")); // 100 cut to a multiple of 16
    char *gs = read_in(dir[3], "run/gradstats.csv");
    printf("# %s", gs);
    assert_true(starts_with(gs, "epoch,batch_size,batches,full_grad_norm,mean_cos,frac_pos_cos,min_norm,max_norm,"
                                "min_max_ratio,descent_eta_0.001,descent_eta_1e+06,noise_rms,b_simple,noise_q99_q50,"
                                "hill_alpha,hill_lo,hill_hi,stable_alpha,stable_lo,stable_hi,seconds\n"));
    assert_int_equal(tu_count_lines(gs), 1 + 2 * 2);
    int epoch[4], b[4];
    long m[4];
    double full[4], mean_cos[4], pos[4], mn[4], mx[4], ratio[4], d_small[4], d_big[4];
    const char *line = strchr(gs, '\n') + 1;
    for (int r = 0; r < 4; r++, line = strchr(line, '\n') + 1)
        assert_int_equal(sscanf(line, "%d,%d,%ld,%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &epoch[r], &b[r], &m[r], &full[r],
                                &mean_cos[r], &pos[r], &mn[r], &mx[r], &ratio[r], &d_small[r], &d_big[r]), 11);
    for (int r = 0; r < 4; r++) {
        assert_int_equal(epoch[r], r / 2);
        assert_int_equal(b[r], r % 2 ? 16 : 8);
        assert_int_equal(m[r], 96 / b[r]);
        assert_true(mean_cos[r] > -1 && mean_cos[r] < 1 && pos[r] >= 0 && pos[r] <= 1);
        assert_true(mn[r] > 0.001 && mn[r] <= mx[r] && ratio[r] > 0 && ratio[r] <= 1);
        assert_float_equal(d_big[r], 1.0, 1e-6); // eta above every norm: the clipped sum is the plain sum
        // eta below every norm: (eta / m) sum_i cos_i / ||grad f|| (Qian et al. 2021, eq. 29)
        assert_float_equal(d_small[r], 0.001 * mean_cos[r] / full[r], 1e-4 * fabs(d_small[r]) + 1e-9);
    }
    // batchnorm's batch statistics make f depend on the partition: each batch size has its own full gradient
    assert_true(full[0] != full[1]);
    assert_true(full[0] != full[2]); // x_1 is not x_0
    free(gs);
    gs = read_in(dir[3], "run/gradstats_batches.csv");
    assert_int_equal(tu_count_lines(gs), 1 + 2 * (12 + 6));
    free(gs);
    for (int r = 0; r < 4; r++) {
        tu_rmtree(dir[r]);
        free(dir[r]), free(out[r]), free(steps[r]), free(epochs[r]), free(loss[r]), free(eval[r]);
    }
}

// A diverging run stops at once with its own exit status and says so in its summary.
static void test_divergence(void **state) {
    (void)state;
    char *out, *dir = tu_mkdtemp(), args[512];
    snprintf(args, sizeof args, "train-cifar --preset tiny --lr 1000000 --out %s/run", dir);
    int rc = tu_run_nnopt(&out, args);
    const char *msg = strstr(out, "error");
    printf("# exit %d: %.*s\n", rc, msg ? (int)strcspn(msg, "\n") : 0, msg ? msg : "");
    assert_int_equal(rc, 3);
    assert_non_null(strstr(out, "the run diverged. Hint: lower --lr or enable clipping"));
    free(out);
    char *summary = read_in(dir, "run/summary.json");
    tu_assert_json(summary, "status", "\"diverged\"");
    tu_assert_json(summary, "test_acc", "null");
    free(summary);
    tu_rmtree(dir), free(dir);
}

// --resume refuses a checkpoint that does not fit, naming the field or the file: another model or optimizer, a
// train-lm checkpoint, a damaged or missing file. A resume may change --epochs, --max-steps and --threads.
static void test_resume_refusals(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), args[1024], *out;
    snprintf(args, sizeof args, "train-cifar --preset tiny --max-steps 4 --save-every 2 --out %s/run", dir);
    int rc = tu_run_nnopt(&out, args);
    if (rc) printf("%s", out);
    assert_int_equal(rc, 0);
    free(out);
    snprintf(args, sizeof args, "train-cifar --resume %s/run/checkpoint.nnck --width 0.5", dir);
    tu_expect_failure(args, "field 'width' is 0.25 in the checkpoint, 0.5 in this run");
    snprintf(args, sizeof args, "train-cifar --resume %s/run/checkpoint.nnck --optim adam --optim-args beta1=0.9", dir);
    tu_expect_failure(args, "field 'optim'");
    snprintf(args, sizeof args, "train-cifar --resume %s/run/checkpoint.nnck --no-augment", dir);
    tu_expect_failure(args, "field 'augment'");
    snprintf(args, sizeof args, "train-cifar --resume %s/run/checkpoint.nnck --seed 2", dir);
    tu_expect_failure(args, "field 'seed'");
    // what may change: more steps, other threads; the run continues where it stopped (the final checkpoint of a
    // run cut short by --max-steps is at the start of the next epoch, as train-lm's: its epoch 1 ended, evaluated)
    snprintf(args, sizeof args, "train-cifar --resume %s/run/checkpoint.nnck --max-steps 6 --threads 1", dir);
    rc = tu_run_nnopt(&out, args);
    if (rc) printf("%s", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "resumed from"));
    assert_non_null(strstr(out, "epoch 2, 4 steps done"));
    free(out);
    char *steps = read_in(dir, "run/steps.csv");
    assert_int_equal(tu_count_lines(steps), 1 + 6);
    free(steps);
    // a language-model checkpoint: another configuration altogether
    snprintf(args, sizeof args, "train-lm --preset tiny --max-steps 2 --save-every 2 --eval-tokens 200 --out %s/lm",
             dir);
    rc = tu_run_nnopt(&out, args);
    if (rc) printf("%s", out);
    assert_int_equal(rc, 0);
    free(out);
    snprintf(args, sizeof args, "train-cifar --resume %s/lm/checkpoint.nnck", dir);
    tu_expect_failure(args, "nnopt train-cifar trains the workload cifar-resnet, not ptb-lstm");
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
    snprintf(args, sizeof args, "train-cifar --resume %s", path);
    tu_expect_failure(args, "checkpoint.nnck' is damaged: byte "); // names the file and says what is wrong with it
    tu_expect_failure("train-cifar --resume /nonexistent/checkpoint.nnck", "/nonexistent/checkpoint.nnck");
    free(path);
    tu_rmtree(dir), free(dir);
}

// A run that diverges after a checkpoint leaves it untouched, says so, and the checkpoint still holds the last good
// step: resuming it repeats the same divergence at the same step.
static void test_divergence_keeps_checkpoint(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), args[1024], *out;
    snprintf(args, sizeof args, "train-cifar --preset tiny --lr 50 --save-every 1 --out %s/run", dir);
    int rc = tu_run_nnopt(&out, args);
    const char *msg = strstr(out, "error");
    printf("# exit %d: %.*s\n", rc, msg ? (int)strcspn(msg, "\n") : 0, msg ? msg : "");
    assert_int_equal(rc, 3);
    assert_non_null(strstr(out, "at step 2 (epoch 1)"));
    assert_non_null(strstr(out, "checkpoint.nnck, is untouched."));
    free(out);
    snprintf(args, sizeof args, "train-cifar --resume %s/run/checkpoint.nnck", dir);
    rc = tu_run_nnopt(&out, args);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(out, "epoch 1, 1 steps done"));
    assert_non_null(strstr(out, "at step 2 (epoch 1)"));
    free(out);
    tu_rmtree(dir), free(dir);
}

// The benchmark prints its result line (a small model, so that it is fast under the sanitizers too).
static void test_bench(void **state) {
    (void)state;
    char *out;
    int rc = tu_run_nnopt(&out, "bench --preset resnet8 --width 0.25 --batch 16 --steps 2 --threads 1");
    if (rc) printf("%s", out);
    assert_int_equal(rc, 0);
    double train = 0, eval = 0;
    const char *line = strstr(out, "\nnnopt resnet8 threads=1 ");
    assert_non_null(line);
    assert_int_equal(sscanf(line, "\nnnopt resnet8 threads=1 train_img_s=%lf eval_img_s=%lf", &train, &eval), 2);
    assert_true(train > 0 && eval > train); // evaluation is a forward pass only
    free(out);
}

// The accuracy on the first 1000 test images (the lossless ones in ../shared/data): with 1100 test images it equals
// the test accuracy of the same run evaluated on exactly the first 1000; with 1000 there are no others, so null.
static void test_first1000_accuracy(void **state) {
    (void)state;
    char *dir[2], *summary[2];
    for (int r = 0; r < 2; r++) {
        dir[r] = tu_mkdtemp();
        char args[512], *out;
        snprintf(args, sizeof args, "train-cifar --preset tiny --seed 7 --epochs 1 --test-images %d --out %s/run",
                 r == 0 ? 1000 : 1100, dir[r]);
        int rc = tu_run_nnopt(&out, args);
        if (rc) printf("%s", out);
        assert_int_equal(rc, 0);
        free(out);
        summary[r] = read_in(dir[r], "run/summary.json");
    }
    char *acc1000 = tu_json_value(summary[0], "test_acc"), *none = tu_json_value(summary[0], "test_acc_first1000");
    char *first = tu_json_value(summary[1], "test_acc_first1000");
    printf("# test_acc on 1000 images %s; test_acc_first1000 of the 1100-image run %s\n", acc1000, first);
    assert_string_equal(none, "null");
    assert_string_equal(acc1000, first);
    assert_true(strcmp(acc1000, "null") != 0);
    free(acc1000), free(none), free(first);
    for (int r = 0; r < 2; r++) tu_rmtree(dir[r]), free(dir[r]), free(summary[r]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_divergence),
        cmocka_unit_test(test_bench),
        cmocka_unit_test(test_tiny_runs),
        cmocka_unit_test(test_first1000_accuracy),
        cmocka_unit_test(test_resume_refusals),
        cmocka_unit_test(test_divergence_keeps_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
