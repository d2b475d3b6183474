#include "noise_plots.h"
#include "cli.h"
#include "plots.h"
#include "nn/atomic_file.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SHOWN = 4, BINS = 40 };

typedef struct {
    int epoch, b;
    long n, cap;
    double *noise;
} Group; // the noise norms of one measurement: an epoch and a batch size

static int ascending(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The rows of gradstats_batches.csv (epoch,batch_size,batch,norm,cos,noise) grouped by epoch and batch size.
static Group *read_groups(const char *dir, int *ngroups) {
    char *text = cli_read_if_present(dir, "gradstats_batches.csv");
    Group *g = NULL;
    int n = 0;
    for (char *line = text ? strchr(text, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
        int epoch, b;
        double noise;
        if (sscanf(line + 1, "%d,%d,%*d,%*f,%*f,%lf", &epoch, &b, &noise) != 3) continue;
        if (!n || g[n - 1].epoch != epoch || g[n - 1].b != b) {
            g = nn_realloc(g, (size_t)(n + 1) * sizeof *g);
            g[n++] = (Group){.epoch = epoch, .b = b};
        }
        Group *last = &g[n - 1];
        if (last->n == last->cap)
            last->cap = last->cap ? 2 * last->cap : 256, last->noise = nn_realloc(last->noise, (size_t)last->cap * 8);
        last->noise[last->n++] = noise;
    }
    free(text);
    *ngroups = n;
    return g;
}

// Up to MAX_SHOWN of batch size b's groups, spread over the epochs measured: their indices into g.
static int pick(const Group *g, int n, int b, int *shown) {
    int all[4096], k = 0;
    for (int i = 0; i < n && k < 4096; i++)
        if (g[i].b == b && g[i].n >= 2) all[k++] = i;
    int count = k < MAX_SHOWN ? k : MAX_SHOWN;
    for (int j = 0; j < count; j++) shown[j] = all[count > 1 ? (long)j * (k - 1) / (count - 1) : 0];
    return count;
}

// One gnuplot block per group: the norms over their rms, sorted, with the fraction of batches at or above each;
// and the histogram's density over BINS bins of [0, the largest].
static void write_group(FILE *tail, FILE *hist, Group *g) {
    double ms = 0;
    for (long i = 0; i < g->n; i++) ms += g->noise[i] * g->noise[i] / (double)g->n;
    double rms = sqrt(ms) > 0 ? sqrt(ms) : 1;
    qsort(g->noise, (size_t)g->n, sizeof(double), ascending);
    fprintf(tail, "# epoch %d, batch size %d: noise norm / rms, fraction of batches at or above it\n", g->epoch, g->b);
    for (long i = 0; i < g->n; i++)
        if (g->noise[i] > 0) fprintf(tail, "%.6g %.6g\n", g->noise[i] / rms, (double)(g->n - i) / (double)g->n);
    fprintf(tail, "\n\n");
    double width = g->noise[g->n - 1] / rms / BINS;
    long count[BINS] = {0};
    for (long i = 0; i < g->n; i++) {
        int k = width > 0 ? (int)(g->noise[i] / rms / width) : 0;
        count[k < BINS ? k : BINS - 1]++;
    }
    fprintf(hist, "# epoch %d, batch size %d: bin centre (noise norm / rms), density\n", g->epoch, g->b);
    for (int k = 0; k < BINS; k++)
        if (count[k]) fprintf(hist, "%.6g %.6g\n", (k + 0.5) * width, (double)count[k] / ((double)g->n * width));
    fprintf(hist, "\n\n");
}

int plot_noise(FILE *f, const char *dir, const int *batch_sizes, int nb, const char *label) {
    int n, figures = 0, block = 0;
    Group *g = read_groups(dir, &n);
    AtomicFile out[2];
    char *path[2] = {nn_join_path(dir, "noise_tail.dat"), nn_join_path(dir, "noise_hist.dat")};
    char *title = gp_quote(label);
    FILE *tail = atomic_open(&out[0], path[0]), *hist = atomic_open(&out[1], path[1]);
    fprintf(tail, "# written by nnopt gradstats from gradstats_batches.csv\n");
    fprintf(hist, "# written by nnopt gradstats from gradstats_batches.csv\n");
    for (int bi = 0; bi < nb; bi++) {
        int shown[MAX_SHOWN], count = pick(g, n, batch_sizes[bi], shown);
        if (!count) continue;
        for (int j = 0; j < count; j++) write_group(tail, hist, &g[shown[j]]);
        const char *fig[2][5] = {
            {"noise_tail", "log-log: a power-law tail is a line of slope -alpha", "fraction of batches above",
             "noise_tail.dat", "erfc(x / sqrt(2))"},
            {"noise_hist", "density, log scale", "density", "noise_hist.dat", "sqrt(2 / pi) * exp(-x * x / 2)"}};
        for (int w = 0; w < 2; w++) {
            fprintf(f, "reset\nset datafile separator whitespace\nset terminal pngcairo size 900,560 noenhanced\n"
                       "set grid\nset key %s\nset output '%s_b%d.png'\n"
                       "set title \"noise norms ||g_i - grad f|| / rms over the batches, batch size %d, \".%s."
                       "\"\\n(%s)\"\n"
                       "set xlabel '||g_i - grad f|| / rms'\nset ylabel '%s'\n%s\nset samples 400\n"
                       "set arrow from 1, graph 0 to 1, graph 1 nohead dt 3 lc rgb 'black'\nplot ",
                    w == 0 ? "top right" : "bottom left", fig[w][0], batch_sizes[bi], batch_sizes[bi], title,
                    fig[w][1], fig[w][2],
                    w == 0 ? "set logscale xy\nset xrange [0.1:*]" : "set logscale y\nset xrange [0:*]");
            for (int j = 0; j < count; j++)
                fprintf(f, "'%s' index %d using 1:2 with %s lw 2 title 'epoch %d', \\\n     ", fig[w][3],
                        block + j, w == 0 ? "lines" : "linespoints", g[shown[j]].epoch);
            fprintf(f, "%s with lines dt 2 lw 2 lc rgb 'black' title 'Gaussian, rank one (widest of this trace)', "
                       "\\\n     keyentry with lines dt 3 lc rgb 'black' title 'Gaussian, isotropic (at the rms)'\n",
                    fig[w][4]);
            figures++;
        }
        block += count;
    }
    atomic_commit(&out[0]), atomic_commit(&out[1]);
    free(path[0]), free(path[1]), free(title);
    for (int i = 0; i < n; i++) free(g[i].noise);
    free(g);
    return figures;
}
