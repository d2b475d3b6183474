#include "grid.h"
#include "cli.h"
#include "nn/check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_value(GridAxis *a, const char *spec, const char *v, size_t len) {
    NN_CHECK(len > 0, "--grid '%s': an empty value (values are separated by ',', or by ';' when one holds a comma)",
             spec);
    NN_CHECK(a->n < GRID_MAX_VALUES, "--grid '%s': more than %d values", spec, GRID_MAX_VALUES);
    for (int i = 0; i < a->n; i++)
        NN_CHECK(strlen(a->values[i]) != len || memcmp(a->values[i], v, len) != 0,
                 "--grid '%s': the value '%.*s' twice", spec, (int)len, v);
    a->values = nn_realloc(a->values, (size_t)(a->n + 1) * sizeof(char *));
    char *s = a->values[a->n++] = nn_malloc(len + 1);
    memcpy(s, v, len);
    s[len] = 0;
}

// "log:LO:HI:N" or "lin:LO:HI:N"
static void add_range(GridAxis *a, const char *spec, const char *range) {
    int logspaced = range[1] == 'o';
    char lo_text[64], hi_text[64], n_text[32], extra;
    NN_CHECK(sscanf(range + 4, "%63[^:]:%63[^:]:%31[^:]%c", lo_text, hi_text, n_text, &extra) == 3,
             "--grid '%s': expected %s:LO:HI:N", spec, logspaced ? "log" : "lin");
    double lo = cli_double("--grid low end", lo_text, logspaced ? 1e-300 : -1e300, 1e300);
    double hi = cli_double("--grid high end", hi_text, logspaced ? 1e-300 : -1e300, 1e300);
    int n = (int)cli_long("--grid count", n_text, 1, GRID_MAX_VALUES);
    NN_CHECK(n == 1 || lo != hi, "--grid '%s': %d values between equal ends", spec, n);
    for (int i = 0; i < n; i++) {
        double t = n == 1 ? 0 : (double)i / (n - 1);
        double v = logspaced ? exp(log(lo) + t * (log(hi) - log(lo))) : lo + t * (hi - lo);
        if (i == n - 1) v = hi; // the end as written, not as rounded
        char text[32];
        snprintf(text, sizeof text, "%.4g", v);
        add_value(a, spec, text, strlen(text)); // 4 digits: a too-fine range repeats a value, and says so
    }
}

void grid_axis_parse(GridAxis *a, const char *spec) {
    *a = (GridAxis){0};
    const char *eq = strchr(spec, '=');
    NN_CHECK(eq && eq > spec, "--grid '%s': expected FLAG=V1,V2,... or FLAG=log:LO:HI:N (e.g. --grid lr=0.1,0.3,1)",
             spec);
    a->name = nn_malloc((size_t)(eq - spec) + 1);
    memcpy(a->name, spec, (size_t)(eq - spec));
    a->name[eq - spec] = 0;
    if (strncmp(a->name, "--", 2) == 0) memmove(a->name, a->name + 2, strlen(a->name) - 1);
    const char *v = eq + 1;
    if (strncmp(v, "log:", 4) == 0 || strncmp(v, "lin:", 4) == 0) return add_range(a, spec, v);
    char sep = strchr(v, ';') ? ';' : ',';
    for (;;) {
        const char *end = strchr(v, sep);
        size_t len = end ? (size_t)(end - v) : strlen(v);
        add_value(a, spec, v, len);
        if (!end) break;
        v = end + 1;
    }
}

void grid_axis_free(GridAxis *a) {
    for (int i = 0; i < a->n; i++) free(a->values[i]);
    free(a->values), free(a->name);
    *a = (GridAxis){0};
}

char *grid_escape(const char *s) {
    size_t n = strlen(s);
    char *out = nn_malloc(3 * n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    (c && strchr("._+=-", c) && !(i == 0 && c == '.'));
        if (plain) *o++ = (char)c;
        else o += sprintf(o, "%%%02X", c);
    }
    *o = 0;
    return out;
}
