#define _DEFAULT_SOURCE // mkdtemp
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

jmp_buf fuzz_jmp;

void fuzz_on_fatal(const char *message) {
    (void)message;
    longjmp(fuzz_jmp, 1);
}

const char *fuzz_tmpdir(void) {
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/nnopt-fuzz.XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

void fuzz_write(const char *dir, const char *name, const uint8_t *data, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    for (char *s = path + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(path, 0755);
            *s = '/';
        }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) abort();
}
