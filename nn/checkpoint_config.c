// Checkpoint configurations compared field by field (checkpoint.h: ckpt_config_diff, ckpt_check_config).
#include "checkpoint.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------------------------
// Configuration comparison: top-level fields of a JSON object, values compared by their text.

typedef struct { const char *key, *val; size_t klen, vlen; } Field;

static const char *skip_ws(const char *s) {
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
    return s;
}

static const char *skip_string(const char *s) { // s at the opening quote; returns past the closing one
    for (s++; *s; s++) {
        if (*s == '\\' && s[1]) s++;
        else if (*s == '"') return s + 1;
    }
    return NULL;
}

static const char *skip_value(const char *s) {
    if (*s == '"') return skip_string(s);
    if (*s == '{' || *s == '[') { // nested: compared as text as a whole
        int depth = 0;
        while (*s) {
            if (*s == '"') {
                if (!(s = skip_string(s))) return NULL;
                continue;
            }
            if (*s == '{' || *s == '[') depth++;
            else if ((*s == '}' || *s == ']') && --depth == 0) return s + 1;
            s++;
        }
        return NULL;
    }
    const char *t = s;
    while (*t && *t != ',' && *t != '}' && *t != ' ' && *t != '\n' && *t != '\t' && *t != '\r') t++;
    return t > s ? t : NULL;
}

// The fields of a flat JSON object; returns the count, or -1 (with *bad = offset) when it is not one.
static int json_fields(const char *s, Field **out, size_t *bad) {
    const char *p = skip_ws(s);
    int n = 0, cap = 0;
    *out = NULL;
    if (*p++ != '{') goto fail;
    p = skip_ws(p);
    if (*p == '}') return 0;
    for (;;) {
        if (*p != '"') goto fail;
        const char *k = p, *ke = skip_string(p);
        if (!ke) goto fail;
        p = skip_ws(ke);
        if (*p++ != ':') goto fail;
        p = skip_ws(p);
        const char *v = p, *ve = skip_value(p);
        if (!ve) goto fail;
        if (n == cap) *out = nn_realloc(*out, (size_t)(cap = cap ? 2 * cap : 32) * sizeof **out);
        (*out)[n++] = (Field){k + 1, v, (size_t)(ke - k - 2), (size_t)(ve - v)};
        p = skip_ws(ve);
        if (*p == '}') return n;
        if (*p++ != ',') goto fail;
        p = skip_ws(p);
    }
fail:
    *bad = (size_t)(p - s);
    free(*out);
    *out = NULL;
    return -1;
}

static const Field *field_find(const Field *f, int n, const char *key, size_t klen) {
    for (int i = 0; i < n; i++)
        if (f[i].klen == klen && memcmp(f[i].key, key, klen) == 0) return &f[i];
    return NULL;
}

static int ignored(const char *const *ignore, const char *key, size_t klen) {
    for (; ignore && *ignore; ignore++)
        if (strlen(*ignore) == klen && memcmp(*ignore, key, klen) == 0) return 1;
    return 0;
}

int ckpt_config_diff(const char *saved, const char *current, const char *const *ignore, char *err, size_t errcap) {
    Field *a, *b;
    size_t bad;
    int na = json_fields(saved, &a, &bad);
    if (na < 0) {
        snprintf(err, errcap, "the checkpoint's configuration is not a flat JSON object (byte %zu)", bad);
        return -1;
    }
    int nb = json_fields(current, &b, &bad);
    if (nb < 0) {
        free(a);
        snprintf(err, errcap, "this run's configuration is not a flat JSON object (byte %zu)", bad);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < nb && !rc; i++) { // in this run's order, so the message names the first differing field
        if (ignored(ignore, b[i].key, b[i].klen)) continue;
        const Field *f = field_find(a, na, b[i].key, b[i].klen);
        if (!f) {
            snprintf(err, errcap, "field '%.*s' is missing in the checkpoint's configuration (this run: %.*s)",
                     (int)b[i].klen, b[i].key, (int)(b[i].vlen < 200 ? b[i].vlen : 200), b[i].val);
            rc = -1;
        } else if (f->vlen != b[i].vlen || memcmp(f->val, b[i].val, f->vlen) != 0) {
            snprintf(err, errcap, "field '%.*s' is %.*s in the checkpoint, %.*s in this run", (int)b[i].klen,
                     b[i].key, (int)(f->vlen < 200 ? f->vlen : 200), f->val, (int)(b[i].vlen < 200 ? b[i].vlen : 200),
                     b[i].val);
            rc = -1;
        }
    }
    for (int i = 0; i < na && !rc; i++)
        if (!ignored(ignore, a[i].key, a[i].klen) && !field_find(b, nb, a[i].key, a[i].klen)) {
            snprintf(err, errcap, "field '%.*s' (%.*s in the checkpoint) is missing in this run's configuration",
                     (int)a[i].klen, a[i].key, (int)(a[i].vlen < 200 ? a[i].vlen : 200), a[i].val);
            rc = -1;
        }
    free(a), free(b);
    return rc;
}
