#include "plots.h"
#include "nn/check.h"

#include <stdlib.h>

FILE *plot_open(const char *dir, const char *script, const char *by) {
    char *path = nn_join_path(dir, script);
    FILE *f = nn_fopen(path, "w");
    free(path);
    fprintf(f, "# gnuplot script written by %s; run it in this directory: gnuplot %s\n"
               "set datafile separator ','\nset terminal pngcairo size 900,560 noenhanced\nset key top right\n"
               "set grid\nset style data lines\n", by, script);
    return f;
}

void plot_gradstats(FILE *f, const char *csv, const char *prefix, const char *label, const int *batch_sizes, int nb) {
    const char *what[2][3] = {{"mean_cos.png", "mean cos(g_i, grad f)  (A3)", "5"},
                              {"norm_ratio.png", "min_i ||g_i|| / max_i ||g_i||  (A4)", "9"}};
    // epochs start at 0; the margins keep a single measured epoch from an empty x range (a gnuplot warning)
    fprintf(f, "set style data linespoints\nset xlabel 'epoch k (statistics at x_k)'\nset xtics 1\n"
               "set xrange [-0.5:*]\nset offsets 0, 0.5, 0, 0\nset key outside right top\n");
    for (int w = 0; w < 2; w++) {
        fprintf(f, "set output '%s%s'\nset title '%s, %s'\nset ylabel '%s'\nplot ", prefix, what[w][0], what[w][1],
                label, what[w][1]);
        for (int b = 0; b < nb; b++) // every nb-th row from row b is batch size b
            fprintf(f, "%s'%s' skip 1 every %d::%d using 1:%s title 'batch %d' lw 2", b ? ", \\\n     " : "", csv, nb,
                    b, what[w][2], batch_sizes[b]);
        fprintf(f, "\n");
    }
}

void plot_close(FILE *f, const char *dir, const char *script) {
    char *path = nn_join_path(dir, script);
    nn_fclose(f, path);
    free(path);
}

int plot_run(const char *dir, const char *script) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("note: gnuplot is not installed, so no figures; apt-get install -y gnuplot-nox, then run "
               "gnuplot %s in %s\n", script, dir);
        return 0;
    }
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd '%s' && gnuplot '%s'", dir, script);
    NN_CHECK(system(cmd) == 0, "gnuplot failed on %s/%s", dir, script);
    return 1;
}
