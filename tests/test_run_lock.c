// The run lock (tools/run_lock.h): a second writer is refused and told who holds the directory; the lock dies with
// its holder (SIGKILL), and the next writer takes the stale lock over; a clean release leaves nothing stale.
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"
#include "tools/provenance.h"
#include "tools/run_lock.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

// A child that takes dir's lock, says so through the pipe, and waits to be killed.
static pid_t holder_process(const char *dir) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        RunLock lk;
        char holder[256];
        char ok = run_lock_try(&lk, dir, holder, sizeof holder) == 0 ? 'y' : 'n';
        if (write(fds[1], &ok, 1) != 1) _exit(2);
        for (;;) pause();
    }
    close(fds[1]);
    char ok = 0;
    assert_int_equal(read(fds[0], &ok, 1), 1);
    close(fds[0]);
    assert_int_equal(ok, 'y');
    return pid;
}

static void test_second_writer_refused_then_stale_taken_over(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), *run = tu_path(dir, "runs/a"), holder[1024], want[64];
    pid_t pid = holder_process(run);
    snprintf(want, sizeof want, "pid %ld on ", (long)pid);
    RunLock lk;
    assert_int_equal(run_lock_try(&lk, run, holder, sizeof holder), 1);
    printf("# refused: held by %s\n", holder);
    assert_non_null(strstr(holder, want));
    assert_non_null(strstr(holder, "test_run_lock")); // the holder's command line
    assert_int_equal(lk.fd, -1);
    assert_int_equal(run_lock_held(run, holder, sizeof holder), 1);
    assert_non_null(strstr(holder, want));

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    assert_int_equal(run_lock_held(run, holder, sizeof holder), 0); // the kernel released it with the process
    char *lock = tu_path(run, ".lock"), *text = tu_read_file(lock);
    assert_non_null(strstr(text, want)); // ... and its file still names the dead holder: stale
    free(text);
    assert_int_equal(run_lock_try(&lk, run, holder, sizeof holder), 0);
    assert_true(lk.fd >= 0);
    snprintf(want, sizeof want, "pid %ld on ", (long)getpid());
    text = tu_read_file(lock);
    assert_non_null(strstr(text, want)); // taken over: the file names this process now
    free(text);

    run_lock_release(&lk);
    assert_int_equal(lk.fd, -1);
    text = tu_read_file(lock);
    assert_string_equal(text, ""); // nothing stale after a clean release
    free(text);
    assert_int_equal(run_lock_try(&lk, run, holder, sizeof holder), 0);
    run_lock_release(&lk);
    free(lock), free(run);
    tu_rmtree(dir);
    free(dir);
}

// Within one process two holders conflict too (flock is per open file): a run cannot be opened twice.
static void test_same_process_twice(void **state) {
    (void)state;
    char *dir = tu_mkdtemp(), holder[512];
    RunLock a, b;
    assert_int_equal(run_lock_try(&a, dir, holder, sizeof holder), 0);
    assert_int_equal(run_lock_try(&b, dir, holder, sizeof holder), 1);
    run_lock_release(&a);
    assert_int_equal(run_lock_try(&b, dir, holder, sizeof holder), 0);
    run_lock_release(&b);
    tu_rmtree(dir);
    free(dir);
}

int main(int argc, char **argv) {
    provenance_set_argv(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_writer_refused_then_stale_taken_over),
        cmocka_unit_test(test_same_process_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
