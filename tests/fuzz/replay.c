// Runs a fuzz target over files without libFuzzer: `make test` replays the committed corpus and the inputs that once
// crashed (tests/fuzz/corpus/<target>/, or the files given), so every finding stays a regression test. One TAP line
// per file: "ok" when the input ran to the end (a fatal error is a fine answer to a bad file), "not ok" when it
// crashed, hung, or exited non-zero (a sanitizer report); each runs in a child process, so the others still run.
// A missing or empty corpus is a failure too: replaying nothing would pass without testing anything. Exits 1 when
// any line is "not ok" (tests/run.sh counts those lines, and a non-zero exit).
#define _DEFAULT_SOURCE
#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_FILES = 4096, HANG_SECONDS = 60 };

// Under AddressSanitizer (make check): a fatal error longjmps past the frees of the code it interrupts (fuzz.h), so
// leak checking would report those, not bugs. ASan reads this hook at start-up; other builds never call it.
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Runs the target on one file in a child process. Returns 0 when it ran to the end, else -1 with the reason in why.
static int run_one(const char *path, size_t *size, char *why, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, cap, "cannot open it: %s", strerror(errno));
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    *size = n > 0 ? fread(buf, 1, (size_t)n, f) : 0;
    fclose(f);
    fflush(stdout), fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, cap, "fork failed: %s", strerror(errno));
        free(buf);
        return -1;
    }
    if (pid == 0) {
        alarm(HANG_SECONDS);
        int null = open("/dev/null", O_WRONLY); // the target's own output would mix with the TAP lines
        if (null >= 0) dup2(null, STDOUT_FILENO);
        LLVMFuzzerTestOneInput(buf, *size);
        exit(0);
    }
    free(buf);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(why, cap, "waitpid failed: %s", strerror(errno));
            return -1;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(why, cap, "hung (no answer in %d s)", HANG_SECONDS);
    else if (WIFSIGNALED(status))
        snprintf(why, cap, "crashed: signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(why, cap, "exited with status %d (a sanitizer report?)", WEXITSTATUS(status));
    return -1;
}

int main(int argc, char **argv) {
    char dir[256], *files[MAX_FILES];
    int n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && n < MAX_FILES; i++) files[n++] = strdup(argv[i]);
    } else { // run from the repository root, as make test does
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", fuzz_name);
        DIR *d = opendir(dir);
        if (!d) {
            printf("1..1\nnot ok 1 - %s: no corpus at %s (%s; run from the repository root)\n", fuzz_name, dir,
                   strerror(errno));
            return 1;
        }
        for (struct dirent *e; (e = readdir(d));)
            if (e->d_name[0] != '.') {
                if (n == MAX_FILES) { // replaying part of it would pass without testing the rest
                    printf("1..1\nnot ok 1 - %s: more than %d files in %s: minimise it (make fuzz-minimize)\n",
                           fuzz_name, MAX_FILES, dir);
                    return 1;
                }
                files[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
                sprintf(files[n++], "%s/%s", dir, e->d_name);
            }
        closedir(d);
        if (n == 0) {
            printf("1..1\nnot ok 1 - %s: the corpus %s is empty\n", fuzz_name, dir);
            return 1;
        }
        qsort(files, (size_t)n, sizeof *files, by_name);
    }
    printf("1..%d\n", n);
    int failed = 0;
    for (int i = 1; i <= n; i++) {
        char why[160];
        size_t size = 0;
        if (run_one(files[i - 1], &size, why, sizeof why) == 0) {
            printf("ok %d - %s: %s (%zu bytes)\n", i, fuzz_name, files[i - 1], size);
        } else {
            printf("not ok %d - %s: %s: %s\n", i, fuzz_name, files[i - 1], why);
            failed++;
        }
        free(files[i - 1]);
    }
    return failed ? 1 : 0;
}
