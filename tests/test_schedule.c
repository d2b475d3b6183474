// The learning-rate schedules (optim/schedule.c) against torch.optim.lr_scheduler: tests/ref/schedule.bin, written
// by tests/ref/make_schedule_fixtures.py, holds the rate torch gives in each epoch (step, multistep, plateau) or at
// each step (cosine), for the settings in each tensor's name; the script's header maps each schedule to torch's
// classes. Our rate must match to 1e-6 relative.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fixture.h"
#include "optim/schedule.h"

#include <stdio.h>

static Fixture fx;

static int setup(void **state) {
    (void)state;
    fx_load(&fx, "tests/ref/schedule.bin");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    fx_free(&fx);
    return 0;
}

// Compares schedule_lr in epochs 1..n (per_step = 0) or at steps 0..n-1 (per_step = 1) with the named tensor.
static long compare(const char *name, Schedule s, const char *milestones, int per_step) {
    const FxTensor *want = fx_get(&fx, name);
    if (milestones) schedule_milestones(&s, milestones);
    schedule_start(&s);
    float got[64];
    assert_true(want->size <= 64);
    for (long k = 0; k < want->size; k++) got[k] = per_step ? schedule_lr(&s, 1, k) : schedule_lr(&s, (int)k + 1, 0);
    return fx_compare(name, got, want->f, want->size, 1e-6, 0);
}

static void test_epoch_schedules(void **state) {
    (void)state;
    long bad = 0;
    bad += compare("lr:step:lr=20,decay_start=4,decay=0.5",
                   (Schedule){.kind = SCHED_STEP, .lr = 20, .decay_start = 4, .decay = 0.5f}, NULL, 0);
    bad += compare("lr:step:lr=1,decay_start=2,decay=0.8",
                   (Schedule){.kind = SCHED_STEP, .lr = 1, .decay_start = 2, .decay = 0.8f}, NULL, 0);
    bad += compare("lr:multistep:lr=1,milestones=2,4,gamma=0.1",
                   (Schedule){.kind = SCHED_MULTISTEP, .lr = 1, .gamma = 0.1f}, "2,4", 0);
    bad += compare("lr:multistep:lr=0.1,milestones=3,6,7,gamma=0.3",
                   (Schedule){.kind = SCHED_MULTISTEP, .lr = 0.1f, .gamma = 0.3f}, "3,6,7", 0);
    assert_int_equal(0, bad);
}

static void test_cosine(void **state) {
    (void)state;
    long bad = 0;
    bad += compare("lr:cosine:lr=1,warmup=4,total=30,min_lr=0.1",
                   (Schedule){.kind = SCHED_COSINE, .lr = 1, .warmup = 4, .total = 30, .min_lr = 0.1f}, NULL, 1);
    bad += compare("lr:cosine:lr=0.5,warmup=0,total=25,min_lr=0",
                   (Schedule){.kind = SCHED_COSINE, .lr = 0.5f, .warmup = 0, .total = 25, .min_lr = 0}, NULL, 1);
    bad += compare("lr:cosine:lr=0.3,warmup=1,total=12,min_lr=0.01",
                   (Schedule){.kind = SCHED_COSINE, .lr = 0.3f, .warmup = 1, .total = 12, .min_lr = 0.01f}, NULL, 1);
    assert_int_equal(0, bad);
}

// Epoch e trains at schedule_lr, then schedule_epoch_end sees its validation loss, as tools/trainer.c does; the
// losses include a tie with the best and an improvement below torch's default threshold (the script's header).
static long compare_plateau(const char *name, float lr, float factor) {
    const FxTensor *want = fx_get(&fx, name), *valid = fx_get(&fx, "valid");
    assert_int_equal(want->size, valid->size + 1);
    Schedule s = {.kind = SCHED_PLATEAU, .lr = lr, .plateau_factor = factor};
    schedule_start(&s);
    float got[64];
    assert_true(want->size <= 64);
    for (int e = 1; e <= want->size; e++) {
        got[e - 1] = schedule_lr(&s, e, 0);
        if (e <= valid->size) schedule_epoch_end(&s, valid->f[e - 1]);
    }
    return fx_compare(name, got, want->f, want->size, 1e-6, 0);
}

static void test_plateau(void **state) {
    (void)state;
    long bad = compare_plateau("lr:plateau:lr=20,plateau_factor=4", 20, 4);
    bad += compare_plateau("lr:plateau:lr=1,plateau_factor=3", 1, 3);
    assert_int_equal(0, bad);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_epoch_schedules),
        cmocka_unit_test(test_cosine),
        cmocka_unit_test(test_plateau),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
