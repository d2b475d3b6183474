// The flag-table parser (tools/flags.c) on hostile command lines, over the real tables: the trainer's and a
// workload's (the first byte chooses which), with the presets' skipped names. The input after that byte is split at
// NUL bytes into arguments. Whatever it accepts must come back unchanged, as a checkpoint and --resume rely on:
// the configuration's JSON parses, every field reads back equal (strings byte for byte, floats and doubles exactly,
// u64 seeds digit for digit), a checkpoint's comparison finds it equal to itself, and --help's usage prints it.
// A mismatch aborts, which libFuzzer reports as a crash.
#include "fuzz.h"
#include "nn/checkpoint.h"
#include "tools/flags.h"
#include "tools/run_config.h"
#include "tools/workloads/workload.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const fuzz_name = "flags";

static void expect(int ok) {
    if (!ok) abort();
}

static void expect_number(const cJSON *v, double x) { expect(cJSON_IsNumber(v) && v->valuedouble == x); }

// Row f of the struct at base against its value in the JSON read back (parsed) and as built (raw numbers).
static void check_row(const FlagSpec *f, const void *base, const cJSON *parsed, const cJSON *built) {
    char key[FLAG_KEY_MAX];
    flags_key(f, key, sizeof key);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(parsed, key);
    const void *p = (const char *)base + f->offset;
    switch (f->type) {
    case FLAG_INT: expect_number(v, *(const int *)p); break;
    case FLAG_LONG: expect_number(v, (double)*(const long *)p); break;
    case FLAG_FLOAT: expect(cJSON_IsNumber(v) && (float)v->valuedouble == *(const float *)p); break;
    case FLAG_U64: { // cJSON reads numbers as doubles: the digits are checked in the raw text as built
        const cJSON *raw = cJSON_GetObjectItemCaseSensitive(built, key);
        expect(cJSON_IsNumber(v) && cJSON_IsRaw(raw) && strtoull(raw->valuestring, NULL, 10) == *(const uint64_t *)p);
        break;
    }
    case FLAG_STRING: {
        const char *s = *(const char *const *)p;
        expect(s ? cJSON_IsString(v) && strcmp(v->valuestring, s) == 0 : cJSON_IsNull(v));
        break;
    }
    case FLAG_SET:
    case FLAG_CLEAR: expect(cJSON_IsBool(v) && cJSON_IsTrue(v) == (*(const int *)p != 0)); break;
    case FLAG_DOUBLES: {
        const DoubleList *l = p;
        expect(cJSON_IsArray(v) && cJSON_GetArraySize(v) == l->n);
        for (int i = 0; i < l->n; i++) expect_number(cJSON_GetArrayItem(v, i), l->v[i]);
        break;
    }
    case FLAG_INTS:
    case FLAG_EPOCHS: {
        const IntList *l = p;
        if (l->all) {
            expect(cJSON_IsString(v) && strcmp(v->valuestring, "all") == 0);
            break;
        }
        expect(cJSON_IsArray(v) && cJSON_GetArraySize(v) == l->n);
        for (int i = 0; i < l->n; i++) expect_number(cJSON_GetArrayItem(v, i), l->v[i]);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 4096) return 0;
    static char *text;    // what a fatal error leaves behind (it longjmps past the frees) is freed at the next input
    static RunConfig cfg; // the trainer's struct; cfg.wl the workload's
    free(text), free(cfg.wl);
    memset(&cfg, 0, sizeof cfg);
    cfg.ops = workloads[data[0] % nworkloads];
    cfg.wl = calloc(1, cfg.ops->config_size);
    text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *argv[66] = {"nnopt train"};
    int argc = 1;
    for (char *s = text; s < text + size && argc < 65; s += strlen(s) + 1)
        if (!fuzz_is_help(s)) argv[argc++] = s;
    argv[argc] = NULL;
    FlagTable t[FLAG_MAX_TABLES];
    int nt = run_config_tables(&cfg, t);
    if (FUZZ_GUARD()) return 0;
    flags_defaults(t, nt);
    flags_parse(t, nt, argc, argv, (const char *const[]){"preset", "workload", NULL}, "nnopt train", NULL);
    nn_set_fatal_hook(NULL); // from here on nothing may fail

    cJSON *built = cJSON_CreateObject();
    flags_to_json(t, nt, built);
    char *json = cJSON_PrintUnformatted(built);
    cJSON *parsed = cJSON_Parse(json);
    expect(json && parsed);
    for (int k = 0; k < nt; k++)
        for (int i = 0; i < t[k].n; i++)
            if (!(t[k].rows[i].rules & FLAG_NO_JSON)) check_row(&t[k].rows[i], t[k].base, parsed, built);
    char err[512];
    expect(ckpt_config_diff(json, json, NULL, err, sizeof err) == 0);
    char store[32][FLAG_KEY_MAX];
    const char *keys[32];
    flags_resumable_keys(t, nt, store, keys, 32);
    static FILE *null;
    if (!null) null = fopen("/dev/null", "w");
    flags_usage(null, t, nt, "nnopt train", NULL);
    cJSON_Delete(parsed), cJSON_Delete(built), free(json);
    return 0;
}
