// Shared by the fuzz targets (tests/fuzz/fuzz_*.c, built by `make fuzz` with libFuzzer, and replayed over the
// committed corpus by tests/fuzz/replay.c in `make test`). A fatal error is an accepted outcome for hostile input:
// FUZZ_GUARD catches it (nn_set_fatal_hook + longjmp) and the target returns; a crash, a sanitizer report or a
// hang is a finding. Memory the interrupted code had allocated is not freed (run with -detect_leaks=0).
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include "nn/check.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

extern jmp_buf fuzz_jmp;
extern const char *const fuzz_name; // the target: its corpus is tests/fuzz/corpus/<fuzz_name>/
void fuzz_on_fatal(const char *message);
// A private directory for the target's temporary files, created once.
const char *fuzz_tmpdir(void);
// Writes n bytes to dir/name, creating dir's missing parents.
void fuzz_write(const char *dir, const char *name, const uint8_t *data, size_t n);

// An argument getopt_long takes for --help ("--h", "--he=x", ...): dropped from fuzzed command lines, since --help
// prints the usage and exits 0 by design.
int fuzz_is_help(const char *arg);

// Runs the statements after it with fatal errors caught: `if (FUZZ_GUARD()) return 0;`
#define FUZZ_GUARD() (nn_set_fatal_hook(fuzz_on_fatal), setjmp(fuzz_jmp) != 0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv); // fuzz_common.c: set-up before the first input

#endif
