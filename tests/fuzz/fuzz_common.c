#define _DEFAULT_SOURCE // mkdtemp
#define _XOPEN_SOURCE 700 // nftw
#include "fuzz.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

jmp_buf fuzz_jmp;

void fuzz_on_fatal(const char *message) {
    (void)message;
    longjmp(fuzz_jmp, 1);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tmpdir(void) { nftw(fuzz_tmpdir(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

// In memory (tmpfs) where there is one: on a disk, every rewrite of a file costs the target a writeback.
const char *fuzz_tmpdir(void) {
    static char dir[64];
    if (!dir[0]) {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
                               ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/nnopt-fuzz.XXXXXX", base);
        if (!mkdtemp(dir)) abort();
        atexit(remove_tmpdir);
    }
    return dir;
}

// libFuzzer calls it once. The code under test prints to stderr (usage text on every bad flag, one write per
// fprintf when unbuffered): buffered, it costs a write per 64 KiB instead. Sanitizer reports bypass stdio.
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static char buf[1 << 16];
    setvbuf(stderr, buf, _IOFBF, sizeof buf);
    return 0;
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

int fuzz_is_help(const char *arg) {
    size_t n = strcspn(arg, "=");
    return n >= 3 && n <= 6 && strncmp(arg, "--help", n) == 0;
}
