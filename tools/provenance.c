#define _POSIX_C_SOURCE 200809L
#include "provenance.h"
#include "dist.h"
#include "build_info.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "nn/parallel.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int saved_argc;
static char **saved_argv;

void provenance_set_argv(int argc, char **argv) { saved_argc = argc, saved_argv = argv; }

const char *provenance_commit(void) { return NNOPT_COMMIT; }

const char *provenance_program(void) { return saved_argc > 0 ? saved_argv[0] : "nnopt"; }

double wall_clock_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void add_string(cJSON *obj, const char *key, const char *v) {
    NN_CHECK(v ? cJSON_AddStringToObject(obj, key, v) != NULL : cJSON_AddNullToObject(obj, key) != NULL,
             "provenance: out of memory");
}

// "2026-12-01T23:52:39Z"; null when t < 0
static void add_time(cJSON *obj, const char *key, double t) {
    if (t < 0) return add_string(obj, key, NULL);
    time_t s = (time_t)t;
    struct tm tm;
    char text[32];
    gmtime_r(&s, &tm);
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    add_string(obj, key, text);
}

// /proc/cpuinfo's first "model name" (x86) or "Model"/"cpu model" line, whitespace trimmed; NULL when absent.
static char *cpu_model(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return NULL;
    char line[512], *model = NULL;
    while (!model && fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (!colon || !(strncmp(line, "model name", 10) == 0 || strncmp(line, "Model", 5) == 0 ||
                        strncmp(line, "cpu model", 9) == 0))
            continue;
        char *v = colon + 1, *end = v + strlen(v);
        while (*v == ' ' || *v == '\t') v++;
        while (end > v && (end[-1] == '\n' || end[-1] == ' ')) *--end = 0;
        model = strdup(v);
    }
    fclose(f);
    return model;
}

// The vector extensions the build was compiled to use (-march), as one space-separated string.
static const char compiled_extensions[] = ""
#ifdef __SSE4_2__
    " sse4.2"
#endif
#ifdef __AVX__
    " avx"
#endif
#ifdef __AVX2__
    " avx2"
#endif
#ifdef __FMA__
    " fma"
#endif
#ifdef __AVX512F__
    " avx512f"
#endif
#ifdef __AVX512BW__
    " avx512bw"
#endif
#ifdef __AVX512VL__
    " avx512vl"
#endif
#ifdef __AVX512VNNI__
    " avx512vnni"
#endif
    ;

// The vector extensions this CPU has (cpuid), and those the build uses.
static void add_vector_extensions(cJSON *obj) {
    cJSON *have = cJSON_AddArrayToObject(obj, "vector_extensions"), *built;
    NN_CHECK(have, "provenance: out of memory");
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
#define HAVE(name) if (__builtin_cpu_supports(name)) cJSON_AddItemToArray(have, cJSON_CreateString(name))
    HAVE("sse4.2"); HAVE("avx"); HAVE("avx2"); HAVE("fma");
    HAVE("avx512f"); HAVE("avx512bw"); HAVE("avx512vl"); HAVE("avx512vnni");
#undef HAVE
#endif
    NN_CHECK(built = cJSON_AddArrayToObject(obj, "vector_extensions_compiled"), "provenance: out of memory");
    char list[sizeof compiled_extensions];
    memcpy(list, compiled_extensions, sizeof list);
    char *save = NULL;
    for (char *t = strtok_r(list, " ", &save); t; t = strtok_r(NULL, " ", &save))
        cJSON_AddItemToArray(built, cJSON_CreateString(t));
}

static void add_argv(cJSON *obj, const char *key, int argc, char *const *argv) {
    cJSON *a = cJSON_AddArrayToObject(obj, key);
    NN_CHECK(a, "provenance: out of memory");
    for (int i = 0; i < argc; i++) cJSON_AddItemToArray(a, cJSON_CreateString(argv[i]));
}

void provenance_add_json(cJSON *obj, const char *seed, double started, double ended, const char *run_argv,
                         size_t run_argv_len) {
    add_string(obj, "commit", NNOPT_COMMIT);
#if defined(__clang__)
    add_string(obj, "compiler", "clang " __clang_version__);
#elif defined(__GNUC__)
    add_string(obj, "compiler", "gcc " __VERSION__);
#else
    add_string(obj, "compiler", NNOPT_CC);
#endif
    add_string(obj, "cflags", NNOPT_CFLAGS);
    char *model = cpu_model();
    add_string(obj, "cpu", model);
    free(model);
    add_vector_extensions(obj);
    add_string(obj, "blas", openblas_get_config());
    add_string(obj, "blas_core", openblas_get_corename());
    add_string(obj, "openblas_coretype", getenv("OPENBLAS_CORETYPE"));
    add_string(obj, "gemm_kernel", nn_gemm_kernel()); // nn/blas.h: nnopt's AVX-512 product or OpenBLAS
    NN_CHECK(cJSON_AddNumberToObject(obj, "threads", nn_get_threads()), "provenance: out of memory");
    NN_CHECK(cJSON_AddNumberToObject(obj, "mpi_ranks", dist_size()), "provenance: out of memory"); // tools/dist.h
    add_string(obj, "seed", seed);
    char host[256] = "";
    add_string(obj, "host", gethostname(host, sizeof host - 1) == 0 ? host : NULL);
    add_time(obj, "started", started);
    add_time(obj, "ended", ended);
    add_argv(obj, "command_line", saved_argc, saved_argv);
    cJSON *run = cJSON_AddArrayToObject(obj, "run_command_line");
    NN_CHECK(run, "provenance: out of memory");
    for (size_t at = 0; run_argv && at < run_argv_len; at += strlen(run_argv + at) + 1)
        cJSON_AddItemToArray(run, cJSON_CreateString(run_argv + at));
}

void provenance_command_text(char *buf, size_t cap) {
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < saved_argc; i++) {
        size_t n = strlen(saved_argv[i]);
        if (at + n + 2 > cap) { // a description for people: cut, and say so
            snprintf(buf + (at < cap - 4 ? at : cap - 4), 4, "...");
            return;
        }
        buf[at++] = ' ';
        memcpy(buf + at, saved_argv[i], n + 1);
        at += n;
    }
}
