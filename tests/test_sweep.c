// The sweep's parts against hand-worked answers: grid axes (lists, ranges, errors), run names (escaping that keeps
// distinct settings distinct), the points of a spec, the tuning rule (choose_setting), and a run read back from a
// directory written here (final and best metric, time to target, a diverged run last).
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "tools/grid.h"
#include "tools/run_result.h"
#include "tools/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_axis_lists_and_ranges(void **state) {
    (void)state;
    GridAxis a;
    grid_axis_parse(&a, "lr=0.1,0.3,1");
    assert_string_equal(a.name, "lr");
    assert_int_equal(a.n, 3);
    assert_string_equal(a.values[0], "0.1");
    assert_string_equal(a.values[2], "1");
    grid_axis_free(&a);
    // ';' separates when a value holds a comma
    grid_axis_parse(&a, "--optim-args=momentum=0.9,nesterov=1;momentum=0");
    assert_string_equal(a.name, "optim-args");
    assert_int_equal(a.n, 2);
    assert_string_equal(a.values[0], "momentum=0.9,nesterov=1");
    assert_string_equal(a.values[1], "momentum=0");
    grid_axis_free(&a);
    grid_axis_parse(&a, "lr=log:0.001:10:5"); // 10^-3 .. 10^1, a decade apart
    assert_int_equal(a.n, 5);
    const char *want[] = {"0.001", "0.01", "0.1", "1", "10"};
    for (int i = 0; i < 5; i++) assert_string_equal(a.values[i], want[i]);
    grid_axis_free(&a);
    grid_axis_parse(&a, "clip=lin:0:1:5");
    const char *lin[] = {"0", "0.25", "0.5", "0.75", "1"};
    for (int i = 0; i < 5; i++) assert_string_equal(a.values[i], lin[i]);
    grid_axis_free(&a);
    grid_axis_parse(&a, "lr=log:2:20:3"); // 2, 2 sqrt(10), 20
    assert_string_equal(a.values[1], "6.325");
    grid_axis_free(&a);
}

static void parse_axis(void *spec) {
    GridAxis a;
    grid_axis_parse(&a, spec);
}

static void test_axis_errors(void **state) {
    (void)state;
    expect_fatal(parse_axis, "lr", "expected FLAG=V1,V2", NULL);
    expect_fatal(parse_axis, "=1,2", "expected FLAG=V1,V2", NULL);
    expect_fatal(parse_axis, "lr=", "an empty value", NULL);
    expect_fatal(parse_axis, "lr=0.1,,1", "an empty value", NULL);
    expect_fatal(parse_axis, "lr=0.1,0.1", "the value '0.1' twice", NULL);
    expect_fatal(parse_axis, "lr=log:0:1:3", "--grid low end", NULL); // log of 0
    expect_fatal(parse_axis, "lr=log:1:1.00001:3", "twice", NULL);   // 4 digits cannot tell them apart
    expect_fatal(parse_axis, "lr=log:1:2", "expected log:LO:HI:N", NULL);
    expect_fatal(parse_axis, "lr=lin:1:2:0", "--grid count", NULL);
}

// The inverse of grid_escape, written here: distinct names must decode to distinct settings.
static char *unescape(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    for (; *s; s++) {
        if (*s == '%') {
            unsigned v;
            assert_int_equal(sscanf(s + 1, "%2X", &v), 1);
            *o++ = (char)v, s += 2;
        } else *o++ = *s;
    }
    *o = 0;
    return out;
}

static void test_escape(void **state) {
    (void)state;
    char *e = grid_escape("optim-args=momentum=0.9,nesterov=1");
    assert_string_equal(e, "optim-args=momentum=0.9%2Cnesterov=1");
    free(e);
    e = grid_escape("../x/y z%");
    assert_string_equal(e, "%2E.%2Fx%2Fy%20z%25"); // a leading '.', '/', ' ' and '%' itself
    free(e);
    // every byte string round-trips, and only [A-Za-z0-9._+=-%] remain (no '/', no separators)
    unsigned seed = 12345;
    for (int t = 0; t < 2000; t++) {
        char s[24];
        int n = 1 + t % 23;
        for (int i = 0; i < n; i++) seed = seed * 1103515245u + 12345u, s[i] = (char)(1 + (seed >> 16) % 255);
        s[n] = 0;
        e = grid_escape(s);
        for (const char *c = e; *c; c++) assert_non_null(strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789._+=-%", *c));
        assert_true(e[0] != '.');
        char *back = unescape(e);
        assert_string_equal(back, s);
        free(back), free(e);
    }
}

static int no_runtime(void *ctx, int argc, char **argv, int i) {
    (void)ctx, (void)argc;
    return strcmp(argv[i], "--jobs") == 0 ? 2 : 0;
}

static void test_spec_points(void **state) {
    (void)state;
    char *argv[] = {"sweep", "--preset", "tiny", "--grid", "clip=0,0.5", "--jobs", "2", "--method", "sgd", "--optim",
                    "sgd", "--grid", "lr=1,2,3", "--method", "adam", "--optim=adam", "--seeds", "3", NULL};
    SweepSpec s;
    assert_int_equal(sweep_spec_parse(&s, 18, argv, no_runtime, NULL), 1);
    assert_int_equal(s.nmethods, 2);
    assert_int_equal(s.seeds, 3);
    assert_int_equal(s.shared.nflags, 2); // --preset tiny (--jobs is the runtime's)
    assert_int_equal(s.methods[0].nflags, 2);
    assert_int_equal(sweep_points(&s, 0), 6); // the shared clip axis x sgd's lr axis
    assert_int_equal(sweep_points(&s, 1), 2);
    // the last axis varies fastest: point 4 = clip 0.5 (index 1), lr 2 (index 1)
    char *name = sweep_point_name(&s, 0, 4);
    assert_string_equal(name, "clip=0.5,lr=2");
    free(name);
    int n;
    char **flags = sweep_point_flags(&s, 0, 4, &n);
    assert_int_equal(n, 2);
    assert_string_equal(flags[0], "--clip=0.5");
    assert_string_equal(flags[1], "--lr=2");
    for (int i = 0; i < n; i++) free(flags[i]);
    free(flags);
    // sweep.json round trip
    char *json = sweep_spec_json(&s), *again;
    SweepSpec t;
    sweep_spec_from_json(&t, json, "test");
    again = sweep_spec_json(&t);
    assert_string_equal(json, again);
    free(json), free(again);
    sweep_spec_free(&t);
    sweep_spec_free(&s);
}

static void test_choose_setting(void **state) {
    (void)state;
    Metric loss = {.ops = workloads[0], .column = 0}; // ptb-lstm valid_loss: lower is better
    // setting 0 ran at seeds 1, 2, 3 (1.0, 5.0, 5.0); setting 1 at seed 1 only (2.0). Seed 1 is the only one both
    // ran at: setting 0 wins on it (1.0 < 2.0), though its mean over all its seeds (3.67) is worse.
    double v[] = {1.0, 5.0, 5.0, 2.0};
    int setting[] = {0, 0, 0, 1};
    char seed[4][24] = {"1", "2", "3", "1"};
    assert_int_equal(choose_setting(&loss, v, setting, (const char (*)[24])seed, 4, 2), 0);
    // no seed in common: the mean over all of each setting's seeds (3.67 against 2.0)
    char other[4][24] = {"1", "2", "3", "4"};
    assert_int_equal(choose_setting(&loss, v, setting, (const char (*)[24])other, 4, 2), 1);
    // a diverged run (the worst value) loses to any finite one; an accuracy ranks the other way
    double d[] = {INFINITY, 7.0};
    int s2[] = {0, 1};
    char seed2[2][24] = {"1", "1"};
    assert_int_equal(choose_setting(&loss, d, s2, (const char (*)[24])seed2, 2, 2), 1);
    const WorkloadOps *cifar = NULL;
    for (int i = 0; i < nworkloads; i++)
        if (strcmp(workloads[i]->name, "cifar-resnet") == 0) cifar = workloads[i];
    Metric acc = metric_of(cifar, "test_acc", "final");
    double a[] = {0.5, 0.7};
    assert_int_equal(choose_setting(&acc, a, s2, (const char (*)[24])seed2, 2, 2), 1);
    assert_true(metric_worst(&acc) == -INFINITY);
    // ties go to the lower index
    double tie[] = {3.0, 3.0};
    assert_int_equal(choose_setting(&loss, tie, s2, (const char (*)[24])seed2, 2, 2), 0);
}

static void test_run_result(void **state) {
    (void)state;
    char *dir = tu_mkdtemp();
    const char *summary = "{\"status\": \"done\", \"workload\": \"ptb-lstm\", \"config\": {\"lr\": 20, \"clip\": 0.25, "
                          "\"optim\": \"sgd\", \"seed\": 18446744073709551615, \"label\": \"\"}, \"steps\": 40, "
                          "\"clipped_steps\": 10, \"wall_seconds\": 12.5, \"exact_mean_cos\": 0.125, "
                          "\"provenance\": {\"seed\": \"18446744073709551615\"}}\n";
    const char *epochs = "epoch,step,lr,train_loss,valid_loss,valid_ppl,seconds\n"
                         "1,10,20,6.0,5.5,244.7,3.00\n2,20,20,5.2,5.0,148.4,6.00\n3,30,20,4.9,5.1,164.0,9.00\n"
                         "4,40,20,4.8,5.3,200.3,12.0\n5,50,20"; // a row cut short by a kill: not an epoch
    free(tu_write(dir, "run/summary.json", summary, strlen(summary), 0));
    free(tu_write(dir, "run/epochs.csv", epochs, strlen(epochs), 0));
    char *run = tu_path(dir, "run"), err[256];
    RunResult r;
    assert_int_equal(run_result_read(&r, run, err, sizeof err), 0);
    assert_string_equal(r.label, "sgd-clip"); // no label: the optimizer, clipped
    assert_string_equal(r.seed, "18446744073709551615");
    assert_int_equal(r.nepochs, 4);
    assert_true(fabs(r.clip_rate - 0.25) < 1e-12);
    Metric final = metric_of(workloads[0], NULL, "final"), best = metric_of(workloads[0], "valid_loss", "best");
    assert_true(run_result_metric(&r, &final) == 5.3);
    assert_true(run_result_metric(&r, &best) == 5.0);
    long step;
    double seconds;
    assert_int_equal(run_result_time_to(&r, &final, 5.1, &step, &seconds), 0); // first reached at epoch 2
    assert_int_equal(step, 20);
    assert_true(seconds == 6.0);
    assert_int_equal(run_result_time_to(&r, &final, 4.0, &step, &seconds), -1);
    run_result_free(&r);
    summary = "{\"status\": \"diverged\", \"workload\": \"ptb-lstm\", \"config\": {\"lr\": 1e3, \"optim\": \"adam\", "
              "\"seed\": 1, \"label\": \"adam-hi\"}, \"steps\": 3}\n";
    free(tu_write(dir, "run/summary.json", summary, strlen(summary), 0));
    assert_int_equal(run_result_read(&r, run, err, sizeof err), 0);
    assert_string_equal(r.label, "adam-hi");
    assert_true(run_result_metric(&r, &final) == INFINITY);
    run_result_free(&r);
    free(tu_write(dir, "run/summary.json", "{\"status\": 1", 12, 0));
    assert_int_equal(run_result_read(&r, run, err, sizeof err), -1);
    assert_non_null(strstr(err, "not JSON"));
    // counts that are no number or beyond a long read as 0 (converting them was undefined: found by fuzzing)
    summary = "{\"status\": \"done\", \"workload\": \"ptb-lstm\", \"config\": {}}";
    epochs = "epoch,step,valid_loss\n1,nan,5\n2,1e300,4\n3,-1e300,3\n4,30,2\n";
    assert_int_equal(run_result_parse(&r, "run", summary, err, sizeof err), 0);
    run_result_parse_epochs(&r, epochs);
    assert_int_equal(r.steps, 0);
    assert_int_equal(r.nepochs, 4);
    for (int e = 0; e < 3; e++) assert_int_equal(r.epoch_step[e], 0);
    assert_int_equal(r.epoch_step[3], 30);
    run_result_free(&r);
    free(run);
    tu_rmtree(dir);
    free(dir);
}

static void from_json(void *json) {
    SweepSpec s;
    sweep_spec_from_json(&s, json, "sweep.json");
}

// sweep.json gets the command line's ranges (max_runs beyond a long's was undefined: found by fuzzing)
static void test_spec_json_ranges(void **state) {
    (void)state;
    char json[512];
    const char *bad[] = {"\"seeds\": 0, \"max_runs\": 10", "\"seeds\": 1001, \"max_runs\": 10",
                         "\"seeds\": 1, \"max_runs\": 1e300", "\"seeds\": 1, \"max_runs\": 0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(json, sizeof json, "{\"shared\": {\"name\": \"\", \"flags\": [], \"grid\": []}, \"methods\": "
                 "[{\"name\": \"\", \"flags\": [], \"grid\": []}], %s, \"metric\": \"\", \"select\": \"final\"}",
                 bad[i]);
        expect_fatal(from_json, json, "sweep.json", "out of range", NULL);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_axis_lists_and_ranges),
        cmocka_unit_test(test_axis_errors),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_spec_points),
        cmocka_unit_test(test_choose_setting),
        cmocka_unit_test(test_run_result),
        cmocka_unit_test(test_spec_json_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
