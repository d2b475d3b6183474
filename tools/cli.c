#define _DEFAULT_SOURCE // sysconf(_SC_PHYS_PAGES)
#include "cli.h"
#include "nn/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

long cli_long(const char *flag, const char *s, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    NN_CHECK(*s && !*end && !errno, "%s '%s': expected an integer in [%ld, %ld]", flag, s, lo, hi);
    NN_CHECK(v >= lo && v <= hi, "%s %ld: accepted [%ld, %ld]", flag, v, lo, hi);
    return v;
}

double cli_double(const char *flag, const char *s, double lo, double hi) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    NN_CHECK(*s && !*end && !errno && v == v, "%s '%s': expected a number in [%g, %g]", flag, s, lo, hi);
    NN_CHECK(v >= lo && v <= hi, "%s %g: accepted [%g, %g]", flag, v, lo, hi);
    return v;
}

uint64_t cli_u64(const char *flag, const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    NN_CHECK(*s && *s != '-' && !*end && !errno, "%s '%s': expected a non-negative integer", flag, s);
    return (uint64_t)v;
}

// Splits s at commas and parses each item with `parse` (which is fatal on a bad item).
static int cli_list(const char *flag, const char *s, int max, void (*parse)(const char *item, int i, void *ctx),
                    void *ctx) {
    NN_CHECK(*s, "%s: expected a comma-separated list of 1 to %d values", flag, max);
    char *copy = nn_strdup(s), *item = copy;
    int n = 0;
    for (;;) {
        char *comma = strchr(item, ',');
        if (comma) *comma = '\0';
        NN_CHECK(n < max, "%s '%s': at most %d values", flag, s, max);
        parse(item, n++, ctx);
        if (!comma) break;
        item = comma + 1;
    }
    free(copy);
    return n;
}

typedef struct { const char *flag; double lo, hi; void *out; } ListCtx;

static void parse_int_item(const char *item, int i, void *ctx) {
    ListCtx *c = ctx;
    ((int *)c->out)[i] = (int)cli_long(c->flag, item, (long)c->lo, (long)c->hi);
}

static void parse_double_item(const char *item, int i, void *ctx) {
    ListCtx *c = ctx;
    ((double *)c->out)[i] = cli_double(c->flag, item, c->lo, c->hi);
}

int cli_list_int(const char *flag, const char *s, int lo, int hi, int *out, int max) {
    ListCtx c = {flag, lo, hi, out};
    return cli_list(flag, s, max, parse_int_item, &c);
}

int cli_list_double(const char *flag, const char *s, double lo, double hi, double *out, int max) {
    ListCtx c = {flag, lo, hi, out};
    return cli_list(flag, s, max, parse_double_item, &c);
}

static long gcd(long a, long b) { return b ? gcd(b, a % b) : a; }

long cli_lcm(const int *v, int n, long cap) {
    long lcm = 1;
    for (int i = 0; i < n && lcm <= cap; i++) lcm = lcm / gcd(lcm, v[i]) * v[i];
    return lcm;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void make_dirs(const char *path) {
    char *p = nn_strdup(path);
    for (char *s = p + 1;; s++) {
        int last = *s == '\0';
        if (*s == '/' || last) {
            *s = '\0';
            if (mkdir(p, 0755) != 0 && errno != EEXIST)
                NN_FATAL("cannot create directory '%s': %s", p, strerror(errno));
            if (last) break;
            *s = '/';
        }
    }
    struct stat st;
    NN_CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "'%s' exists and is not a directory", path);
    free(p);
}

void check_memory(double bytes, const char *what) {
    double have = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    NN_CHECK(have <= 0 || bytes < 0.9 * have, "the model needs %.1f GiB of memory and this machine has %.1f GiB; "
             "reduce %s", bytes / (1 << 30), have / (1 << 30), what);
}

char *cli_shell_quote(const char *s) {
    char *q = nn_malloc(4 * strlen(s) + 3), *o = q;
    *o++ = '\'';
    for (; *s; s++) {
        if (*s == '\'') memcpy(o, "'\\''", 4), o += 4;
        else *o++ = *s;
    }
    *o++ = '\'', *o = 0;
    return q;
}

char *cli_read_if_present(const char *dir, const char *name) {
    char *path = nn_join_path(dir, name), *text = NULL;
    size_t len;
    if (access(path, F_OK) == 0) text = nn_read_gz(path, &len);
    free(path);
    return text;
}
