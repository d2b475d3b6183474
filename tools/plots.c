#include "plots.h"
#include "cli.h"
#include "nn/atomic_file.h"
#include "nn/check.h"

#include <stdlib.h>
#include <string.h>

FILE *plot_open(AtomicFile *gp, const char *dir, const char *script, const char *by) {
    char *path = nn_join_path(dir, script);
    FILE *f = atomic_open(gp, path);
    free(path);
    fprintf(f, "# gnuplot script written by %s; run it in this directory: gnuplot %s\n"
               "set datafile separator ','\nset terminal pngcairo size 900,560 noenhanced\nset key top right\n"
               "set grid\nset style data lines\n", by, script);
    return f;
}

// Single quotes, in which gnuplot changes nothing (in double quotes it would run `commands`); a quote or a control
// character, which single quotes cannot hold, joins them as a double-quoted escape: 'it'."\047".'s'."\012".'b'.
char *gp_quote(const char *s) {
    char *q = nn_malloc(12 * strlen(s) + 3), *o = q;
    *o++ = '\'';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\'' || c < 32 || c == 127) o += sprintf(o, "'.\"\\%03o\".'", c);
        else *o++ = (char)c;
    }
    *o++ = '\'', *o = 0;
    return q;
}

void plot_gradstats(FILE *f, const char *csv, const char *prefix, const char *label, const int *batch_sizes, int nb) {
    const char *what[2][3] = {{"mean_cos.png", "mean cos(g_i, grad f)  (A3)", "5"},
                              {"norm_ratio.png", "min_i ||g_i|| / max_i ||g_i||  (A4)", "9"}};
    // epochs start at 0; the margins keep a single measured epoch from an empty x range (a gnuplot warning)
    fprintf(f, "set style data linespoints\nset xlabel 'epoch k (statistics at x_k)'\nset xtics 1\n"
               "set xrange [-0.5:*]\nset offsets 0, 0.5, 0, 0\nset key outside right top\n");
    for (int w = 0; w < 2; w++) {
        char *title = gp_quote(label);
        fprintf(f, "set output '%s%s'\nset title '%s, '.%s\nset ylabel '%s'\nplot ", prefix, what[w][0], what[w][1],
                title, what[w][1]);
        free(title);
        for (int b = 0; b < nb; b++) // every nb-th row from row b is batch size b
            fprintf(f, "%s'%s' skip 1 every %d::%d using 1:%s title 'batch %d' lw 2", b ? ", \\\n     " : "", csv, nb,
                    b, what[w][2], batch_sizes[b]);
        fprintf(f, "\n");
    }
}

void plot_close(AtomicFile *gp) { atomic_commit(gp); }

int plot_run(const char *dir, const char *script) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("note: gnuplot is not installed, so no figures; apt-get install -y gnuplot-nox, then run "
               "gnuplot %s in %s\n", script, dir);
        return 0;
    }
    char *qdir = cli_shell_quote(dir), *qscript = cli_shell_quote(script); // any directory name, whole
    size_t n = strlen(qdir) + strlen(qscript) + 32;
    char *cmd = nn_malloc(n);
    snprintf(cmd, n, "cd %s && gnuplot %s", qdir, qscript);
    NN_CHECK(system(cmd) == 0, "gnuplot failed on %s/%s", dir, script);
    free(cmd), free(qdir), free(qscript);
    return 1;
}
