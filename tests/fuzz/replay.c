// Runs a fuzz target over files without libFuzzer: `make test` replays the committed corpus and the inputs that once
// crashed (tests/fuzz/corpus/<target>/, or the files given), so every finding stays a regression test. One TAP line
// per file: "ok" means no crash and no sanitizer report (a fatal error is a fine answer to a bad file).
#define _DEFAULT_SOURCE
#include "fuzz.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Under AddressSanitizer (make check): a fatal error longjmps past the frees of the code it interrupts (fuzz.h), so
// leak checking would report those, not bugs. ASan reads this hook at start-up; other builds never call it.
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "detect_leaks=0"; }

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    char dir[256], *files[1024];
    int n = 0;
    if (argc > 1) {
        for (int i = 1; i < argc && n < 1024; i++) files[n++] = strdup(argv[i]);
    } else { // run from the repository root, as make test does
        snprintf(dir, sizeof dir, "tests/fuzz/corpus/%s", fuzz_name);
        DIR *d = opendir(dir);
        if (!d) {
            printf("1..0 # skip no corpus at %s\n", dir);
            return 0;
        }
        for (struct dirent *e; (e = readdir(d)) && n < 1024;)
            if (e->d_name[0] != '.') {
                files[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
                sprintf(files[n++], "%s/%s", dir, e->d_name);
            }
        closedir(d);
        qsort(files, (size_t)n, sizeof *files, by_name);
    }
    printf("1..%d\n", n);
    for (int i = 1; i <= n; i++) {
        FILE *f = fopen(files[i - 1], "rb");
        if (!f) {
            printf("not ok %d - cannot open %s\n", i, files[i - 1]);
            continue;
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        uint8_t *buf = malloc(n ? (size_t)n : 1);
        size_t got = fread(buf, 1, (size_t)n, f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, got);
        free(buf);
        fflush(stdout);
        printf("ok %d - %s: %s (%zu bytes)\n", i, fuzz_name, files[i - 1], got);
        free(files[i - 1]);
    }
    return 0;
}
