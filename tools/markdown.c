#include "markdown.h"
#include "nn/check.h"

#include <stdio.h>
#include <string.h>

char *md_text(const char *s) {
    size_t n = strlen(s), lead = strspn(s, " "), end = n;
    while (end > lead && s[end - 1] == ' ') end--; // a table cell drops the spaces at its ends: keep them as &#32;
    char *out = nn_malloc(6 * n + 1), *o = out; // "&#127;" is the longest
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 32 || c == 127 || (c == ' ' && (i < lead || i >= end))) o += sprintf(o, "&#%d;", c);
        else {
            if (strchr("\\`*_[]<>&!~|", c)) *o++ = '\\'; // emphasis, links, HTML, entities, code, tables
            *o++ = (char)c;
        }
    }
    *o = 0;
    return out;
}

char *md_code(const char *s) {
    size_t n = strlen(s), run = 0, longest = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 32 || c == 127) return md_text(s);
        run = c == '`' ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    // A reader strips one space from each end of a span that has one at both: pad, so that it strips ours.
    if (!n) return nn_strdup("");
    int pad = strspn(s, " ") < n;
    char *out = nn_malloc(n + 2 * longest + 5), *o = out;
    for (size_t i = 0; i <= longest; i++) *o++ = '`';
    if (pad) *o++ = ' ';
    memcpy(o, s, n), o += n;
    if (pad) *o++ = ' ';
    for (size_t i = 0; i <= longest; i++) *o++ = '`';
    *o = 0;
    return out;
}
