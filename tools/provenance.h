// Provenance: what a result was measured with, for summary.json and reports. The commit and build come from
// build/build_info.h (scripts/build_info.sh, at make time); the CPU from /proc/cpuinfo and cpuid; the BLAS from
// OpenBLAS itself; the command line from main.
#ifndef TOOLS_PROVENANCE_H
#define TOOLS_PROVENANCE_H

#include <stddef.h>

struct cJSON;

void provenance_set_argv(int argc, char **argv); // main's, before any command runs
// Adds {"commit", "compiler", "cflags", "cpu", "vector_extensions", "vector_extensions_compiled", "blas",
// "blas_core", "openblas_coretype", "threads", "seed", "host", "started", "ended", "command_line",
// "run_command_line"} to obj. seed: as text (a u64 that JSON readers keep exactly); started/ended: wall-clock times
// in seconds since 1970 (ended < 0: still running, null); run_argv: the run's saved command line (NUL-separated,
// resume.h), or NULL.
void provenance_add_json(struct cJSON *obj, const char *seed, double started, double ended, const char *run_argv,
                         size_t run_argv_len);
// The command line as one line of text for people (a lock's holder), " ..." when cut to cap bytes.
void provenance_command_text(char *buf, size_t cap);
double wall_clock_seconds(void); // since 1970, UTC
const char *provenance_commit(void);
const char *provenance_program(void); // argv[0]: how the user called nnopt

#endif
