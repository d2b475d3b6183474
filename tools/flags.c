#define _POSIX_C_SOURCE 200809L
#include "flags.h"
#include "cli.h"
#include "nn/check.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { CODE0 = 256 };   // getopt_long codes: CODE0 + the row's index over all tables, then skip, then help
enum { HELP_WIDTH = 100, HELP_MAX_COL = 28 };

#define FIELD(T, f, base) ((T *)(void *)((char *)(base) + (f)->offset))

// The table range as a long, clamped: a double beyond LONG_MAX has no long value (converting it is undefined).
static long clamp_long(double x, long lo, long hi) {
    return x <= (double)lo ? lo : x >= (double)hi ? hi : (long)x;
}

// A control character (a newline, a tab, an escape) has no faithful form in every file a value reaches (a CSV row, a
// job line, a Markdown cell, a gnuplot title): refused here, before anything runs. Any length and any other byte
// (quotes, commas, backslashes, '%', UTF-8) is kept exactly.
static void check_text(const char *flag, const char *value) {
    for (const char *c = value; *c; c++)
        NN_CHECK((unsigned char)*c >= 32 && *c != 127, "%s: byte %zu of its value is the control character 0x%02x; "
                 "values may not contain control characters (newlines, tabs, escapes)", flag, (size_t)(c - value),
                 (unsigned char)*c);
}

static void set_row(const FlagSpec *f, void *base, const char *value) {
    char flag[96];
    snprintf(flag, sizeof flag, "--%s", f->name);
    long lo = clamp_long(f->lo, LONG_MIN, LONG_MAX), hi = clamp_long(f->hi, LONG_MIN, LONG_MAX);
    int ilo = (int)clamp_long(f->lo, INT_MIN, INT_MAX), ihi = (int)clamp_long(f->hi, INT_MIN, INT_MAX);
    switch (f->type) {
    case FLAG_INT: *FIELD(int, f, base) = (int)cli_long(flag, value, ilo, ihi); break;
    case FLAG_LONG: *FIELD(long, f, base) = cli_long(flag, value, lo, hi); break;
    case FLAG_FLOAT: *FIELD(float, f, base) = (float)cli_double(flag, value, f->lo, f->hi); break;
    case FLAG_U64: *FIELD(uint64_t, f, base) = cli_u64(flag, value); break;
    case FLAG_STRING: check_text(flag, value), *FIELD(const char *, f, base) = value; break;
    case FLAG_SET: *FIELD(int, f, base) = 1; break;
    case FLAG_CLEAR: *FIELD(int, f, base) = 0; break;
    case FLAG_DOUBLES: {
        DoubleList *l = FIELD(DoubleList, f, base);
        l->n = cli_list_double(flag, value, f->lo, f->hi, l->v, FLAG_MAX_LIST);
        break;
    }
    case FLAG_EPOCHS:
    case FLAG_INTS: {
        IntList *l = FIELD(IntList, f, base);
        l->all = f->type == FLAG_EPOCHS && strcmp(value, "all") == 0;
        l->n = l->all ? 0 : cli_list_int(flag, value, ilo, ihi, l->v, FLAG_MAX_LIST);
        break;
    }
    }
}

// A NULL default: zero, an empty list, a NULL string (typed stores: a NULL pointer need not be all-zero bits).
static void zero_row(const FlagSpec *f, void *base) {
    switch (f->type) {
    case FLAG_LONG: *FIELD(long, f, base) = 0; break;
    case FLAG_FLOAT: *FIELD(float, f, base) = 0; break;
    case FLAG_U64: *FIELD(uint64_t, f, base) = 0; break;
    case FLAG_STRING: *FIELD(const char *, f, base) = NULL; break;
    case FLAG_DOUBLES: *FIELD(DoubleList, f, base) = (DoubleList){0}; break;
    case FLAG_INTS:
    case FLAG_EPOCHS: *FIELD(IntList, f, base) = (IntList){0}; break;
    default: *FIELD(int, f, base) = 0; break; // INT, SET
    }
}

void flags_defaults(const FlagTable *t, int nt) {
    for (int k = 0; k < nt; k++)
        for (int i = 0; i < t[k].n; i++) {
            const FlagSpec *f = &t[k].rows[i];
            if (f->type == FLAG_CLEAR) *FIELD(int, f, t[k].base) = 1; // the field is on until --no-x
            else if (f->def && f->type != FLAG_SET) set_row(f, t[k].base, f->def);
            else zero_row(f, t[k].base);
        }
}

int flags_set(const FlagTable *t, int nt, const char *name, const char *value) {
    for (int k = 0; k < nt; k++)
        for (int i = 0; i < t[k].n; i++)
            if (strcmp(t[k].rows[i].name, name) == 0) {
                set_row(&t[k].rows[i], t[k].base, value);
                return 1;
            }
    return 0;
}

static int takes_value(FlagType type) { return type != FLAG_SET && type != FLAG_CLEAR; }

// Every row, then the skipped names, then "help", each with its own code: getopt_long refuses an abbreviation
// matching several options only when they differ in code (or in has_arg), so shared codes would let --mi pass.
static struct option *build_options(const FlagTable *t, int nt, const char *const *skip, int *nrows) {
    int n = 0, ns = 0;
    for (int k = 0; k < nt; k++) n += t[k].n;
    while (skip && skip[ns]) ns++;
    struct option *o = nn_calloc((size_t)(n + ns + 2), sizeof *o), *p = o;
    for (int k = 0; k < nt; k++)
        for (int i = 0; i < t[k].n; i++, p++)
            *p = (struct option){t[k].rows[i].name, takes_value(t[k].rows[i].type) ? required_argument : no_argument,
                                 NULL, CODE0 + (int)(p - o)};
    for (int i = 0; i < ns; i++, p++) *p = (struct option){skip[i], required_argument, NULL, CODE0 + (int)(p - o)};
    *p = (struct option){"help", no_argument, NULL, CODE0 + (int)(p - o)};
    *nrows = n;
    return o;
}

// getopt_long returned '?': optopt is the code of a known option that lacked (or was given) a value, a short
// option's letter, or 0 for an unknown or ambiguous long option (argv[optind - 1], cut at '=').
static _Noreturn void bad_option(const struct option *o, int nopts, char **argv) {
    char name[128];
    if (optopt > 0 && optopt < CODE0) snprintf(name, sizeof name, "-%c", optopt);
    else snprintf(name, sizeof name, "%.*s", (int)strcspn(argv[optind - 1], "="), argv[optind - 1]);
    int known = optopt >= CODE0 && optopt < CODE0 + nopts, has_arg = known && o[optopt - CODE0].has_arg;
    free((void *)o);
    if (known && has_arg) NN_FATAL("option '%s' needs a value (see the list above)", name);
    if (known) NN_FATAL("option '%s' takes no value (see the list above)", name);
    NN_FATAL("unknown option '%s' (see the list above)", name);
}

void flags_parse(const FlagTable *t, int nt, int argc, char **argv, const char *const *skip, const char *prog,
                 const char *usage_head) {
    int nrows, c, ns = 0;
    while (skip && skip[ns]) ns++;
    struct option *o = build_options(t, nt, skip, &nrows);
    optind = 0; // 0, not 1: glibc then resets all its state (an earlier parse may have permuted another argv)
    opterr = 0; // our own messages, with the usage
    while ((c = getopt_long(argc, argv, "", o, NULL)) != -1) {
        int i = c - CODE0;
        if (c == '?' || i < 0) {
            flags_usage(stderr, t, nt, prog, usage_head);
            bad_option(o, nrows + ns + 1, argv);
        }
        if (i == nrows + ns) {
            flags_usage(stdout, t, nt, prog, usage_head);
            free(o);
            exit(0);
        }
        if (i >= nrows) { // a skipped name: the caller read it from argv by its full name, so it must be written so
            const char *arg = optarg == argv[optind - 1] ? argv[optind - 2] : argv[optind - 1], *name = skip[i - nrows];
            size_t len = strlen(name);
            NN_CHECK(strncmp(arg + 2, name, len) == 0 && (arg[2 + len] == '\0' || arg[2 + len] == '='),
                     "'%.*s': write --%s in full", (int)strcspn(arg, "="), arg, name);
        }
        for (int k = 0; k < nt && i < nrows; i -= t[k++].n) // the row's table (skipped names fall through)
            if (i < t[k].n) {
                set_row(&t[k].rows[i], t[k].base, optarg);
                break;
            }
    }
    free(o);
    NN_CHECK(optind == argc, "unexpected argument '%s' (flags start with --; see %s --help)", argv[optind], prog);
}

typedef struct {
    FILE *out;
    int at, col, fresh; // fresh: nothing written since the last break, so no space before the next word
} Wrap;

// The words of s, breaking lines before HELP_WIDTH columns and at every '\n' of s (runs of spaces collapse).
static void wrap(Wrap *w, const char *s) {
    while (*s) {
        size_t len = strcspn(s, " \n");
        if (*s == '\n' || (len && !w->fresh && w->at + 1 + (int)len > HELP_WIDTH)) {
            w->at = fprintf(w->out, "\n%*s", w->col, "") - 1;
            w->fresh = 1;
        }
        if (len) {
            w->at += fprintf(w->out, "%s%.*s", w->fresh ? "" : " ", (int)len, s);
            w->fresh = 0;
        }
        s += len ? len : 1;
    }
}

static const char *arg_name(const FlagSpec *f) {
    static const char *const names[] = {"N", "N", "X", "N", "S", "", "", "N,..", "X,..", "K,..|all"};
    return !takes_value(f->type) ? "" : f->arg ? f->arg : names[f->type];
}

static cJSON *row_json(const FlagSpec *f, const void *base);

// A field's value as --help shows it (malloc'd): a string as it is, anything else as its JSON; NULL when unset.
static char *value_text(const FlagSpec *f, const void *base) {
    const void *p = (const char *)base + f->offset;
    if (f->type == FLAG_STRING) {
        const char *v = *(const char *const *)p;
        return v && *v ? nn_strdup(v) : NULL;
    }
    if (f->type == FLAG_SET || f->type == FLAG_CLEAR) return NULL; // the flag's name says what it does
    if ((f->type == FLAG_INTS || f->type == FLAG_DOUBLES || f->type == FLAG_EPOCHS) && !((const IntList *)p)->n &&
        !(f->type != FLAG_DOUBLES && ((const IntList *)p)->all))
        return NULL;
    cJSON *j = row_json(f, base);
    char *text = cJSON_IsString(j) ? nn_strdup(j->valuestring) : j ? cJSON_PrintUnformatted(j) : NULL;
    if (cJSON_IsArray(j) && text) { // as on the command line: "[5,10]" -> "5,10"
        memmove(text, text + 1, strlen(text));
        text[strlen(text) - 1] = '\0';
    }
    cJSON_Delete(j);
    return text;
}

void flags_usage(FILE *out, const FlagTable *t, int nt, const char *prog, const char *usage_head) {
    int col = 0;
    for (int k = 0; k < nt; k++)
        for (int i = 0; i < t[k].n; i++) {
            const char *arg = arg_name(&t[k].rows[i]);
            int len = 6 + (int)strlen(t[k].rows[i].name) + (*arg ? 1 + (int)strlen(arg) : 0); // "  --NAME ARG  "
            col = len > col ? len : col;
        }
    col = col < HELP_MAX_COL ? col : HELP_MAX_COL;
    if (usage_head) fputs(usage_head, out); // the caller's own "usage: ..." line and notes
    else fprintf(out, "usage: %s [flags]\n", prog);
    for (int k = 0; k < nt; k++) {
        if (t[k].title) fprintf(out, "\n%s\n", t[k].title);
        for (int i = 0; i < t[k].n; i++) {
            const FlagSpec *f = &t[k].rows[i];
            const char *arg = arg_name(f);
            Wrap w = {out, fprintf(out, "  --%s%s%s", f->name, *arg ? " " : "", arg), col, 1};
            // with a base (a parsed configuration), the value in force: the workload's and preset's, not the row's
            char *value = t[k].base ? value_text(f, t[k].base) : f->def && *f->def ? nn_strdup(f->def) : NULL;
            if ((f->help && *f->help) || value) w.at += fprintf(out, "%*s", w.at < col ? col - w.at : 1, "");
            wrap(&w, f->help ? f->help : "");
            if (value) {
                char *def = nn_malloc(strlen(value) + 16);
                sprintf(def, "(default: %s)", value);
                wrap(&w, def);
                free(def), free(value);
            }
            if (f->rules & FLAG_RESUMABLE) wrap(&w, "[--resume may change it]");
            fputc('\n', out);
        }
    }
}

// The fewest digits (6..9) that read back as the same float: 0.1f is 0.1, not 0.100000001. As a cJSON number:
// cJSON prints up to 15 digits exactly, so the text keeps these digits.
static cJSON *float_json(float v) {
    char buf[32];
    for (int p = 6; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
    return cJSON_CreateNumber(strtod(buf, NULL));
}

// cJSON 1.7.15 prints a double with 15 digits whenever they read back within one ulp (it compares with a
// tolerance): 0.30000000000000004 would come back as 0.3. Those that need 16 or 17 digits go as raw text.
static cJSON *double_json(double v) {
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (!isfinite(v) || strtod(buf, NULL) == v) return cJSON_CreateNumber(v);
    snprintf(buf, sizeof buf, "%.16g", v);
    if (strtod(buf, NULL) != v) snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_CreateRaw(buf);
}

static cJSON *row_json(const FlagSpec *f, const void *base) {
    const void *p = (const char *)base + f->offset;
    char buf[32];
    switch (f->type) {
    case FLAG_INT: return cJSON_CreateNumber(*(const int *)p);
    case FLAG_LONG: return cJSON_CreateNumber((double)*(const long *)p); // exact: the ranges are below 2^53
    case FLAG_FLOAT: return float_json(*(const float *)p);
    case FLAG_U64: // raw digits: a double holds integers exactly only up to 2^53
        snprintf(buf, sizeof buf, "%" PRIu64, *(const uint64_t *)p);
        return cJSON_CreateRaw(buf);
    case FLAG_STRING: {
        const char *s = *(const char *const *)p;
        return s ? cJSON_CreateString(s) : cJSON_CreateNull();
    }
    case FLAG_SET:
    case FLAG_CLEAR: return cJSON_CreateBool(*(const int *)p);
    case FLAG_DOUBLES: {
        const DoubleList *l = p;
        cJSON *a = cJSON_CreateArray();
        for (int i = 0; a && i < l->n; i++) NN_CHECK(cJSON_AddItemToArray(a, double_json(l->v[i])), "out of memory");
        return a;
    }
    case FLAG_INTS:
    case FLAG_EPOCHS: {
        const IntList *l = p;
        return l->all ? cJSON_CreateString("all") : cJSON_CreateIntArray(l->v, l->n);
    }
    }
    return NULL;
}

void flags_to_json(const FlagTable *t, int nt, struct cJSON *obj) {
    char key[128];
    for (int k = 0; k < nt; k++)
        for (int i = 0; i < t[k].n; i++) {
            const FlagSpec *f = &t[k].rows[i];
            if (f->rules & FLAG_NO_JSON) continue;
            cJSON *item = row_json(f, t[k].base);
            NN_CHECK(item && cJSON_AddItemToObject(obj, flags_key(f, key, sizeof key), item),
                     "out of memory writing the configuration (--%s)", f->name);
        }
}

// The keys live as long as the process (interned: the checkpoint holds the pointers; a few dozen short names).
int flags_resumable_keys(const FlagTable *t, int nt, char (*store)[FLAG_KEY_MAX], const char **keys, int max) {
    int n = 0;
    for (int k = 0; k < nt; k++)
        for (int i = 0; i < t[k].n; i++)
            if (t[k].rows[i].rules & FLAG_RESUMABLE) {
                // a silently shorter list would make --resume refuse a flag its table allows
                NN_CHECK(n + 1 < max, "more than %d resumable flags (--%s): enlarge the caller's array", max - 1,
                         t[k].rows[i].name);
                keys[n] = flags_key(&t[k].rows[i], store[n], FLAG_KEY_MAX);
                n++;
            }
    if (max > 0) keys[n] = NULL;
    return n;
}

const char *flags_key(const FlagSpec *f, char *buf, size_t n) {
    const char *name = f->name;
    if (f->type == FLAG_CLEAR && strncmp(name, "no-", 3) == 0) name += 3; // the key is the field: --no-x clears x
    NN_CHECK(strlen(name) < n, "flag name '%s' is longer than its key buffer (%zu)", f->name, n);
    size_t i = 0;
    for (; name[i]; i++) buf[i] = name[i] == '-' ? '_' : name[i];
    buf[i] = '\0';
    return buf;
}
