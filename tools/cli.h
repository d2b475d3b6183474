// Strict command-line value parsing: the whole string must be a number in range, else a fatal error that names
// the flag, the value and what is accepted.
#ifndef TOOLS_CLI_H
#define TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

long cli_long(const char *flag, const char *s, long lo, long hi);
double cli_double(const char *flag, const char *s, double lo, double hi);
uint64_t cli_u64(const char *flag, const char *s);
// A comma-separated list of 1..max values, each in [lo, hi], into out; returns the count.
int cli_list_int(const char *flag, const char *s, int lo, int hi, int *out, int max);
int cli_list_double(const char *flag, const char *s, double lo, double hi, double *out, int max);
// The least common multiple of v[0..n), or the first partial one above cap (the caller refuses it; stopping there
// also keeps the product from overflowing).
long cli_lcm(const int *v, int n, long cap);
double now_seconds(void); // monotonic clock
// dir/name, whole and NUL-terminated (nn_read_gz: fatal, naming it, when it cannot be read), or NULL when there is
// no such file.
char *cli_read_if_present(const char *dir, const char *name);
char *cli_shell_quote(const char *s); // one single-quoted shell word ('it'\''s'), malloc'd
void make_dirs(const char *path); // mkdir -p; fatal with the path and errno text
// Fatal, naming what to reduce, when `bytes` would not fit in this machine's physical memory (the kernel would
// otherwise kill the process while it fills its buffers).
void check_memory(double bytes, const char *what);

#endif
