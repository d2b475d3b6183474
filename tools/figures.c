#include "figures.h"
#include "cli.h"
#include "noise_plots.h"
#include "plots.h"
#include "smoothness.h"
#include "nn/check.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void figures_gradstats(const char *dir, const char *label, const int *batch_sizes, int nb) {
    AtomicFile gp;
    FILE *f = plot_open(&gp, dir, "gradstats.gp", "nnopt gradstats");
    plot_gradstats(f, "gradstats.csv", "", label, batch_sizes, nb);
    int noise = plot_noise(f, dir, batch_sizes, nb, label);
    plot_close(&gp);
    if (plot_run(dir, "gradstats.gp"))
        printf("wrote %s/mean_cos.png, norm_ratio.png%s\n", dir,
               noise ? " and the noise figures noise_hist_b<B>.png, noise_tail_b<B>.png" : "");
}

void figures_label(char *buf, size_t size, const char *preset, const char *optim, double lr, double clip) {
    snprintf(buf, size, "%s, %s lr %g clip %g", preset, optim, lr, clip);
}

static const cJSON *field(const cJSON *config, const char *name, const char *dir) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(config, name);
    NN_CHECK(v, "%s/summary.json: its config has no '%s' (written by an nnopt before the instruments?)", dir, name);
    return v;
}

int cmd_figures(int argc, char **argv) {
    NN_CHECK(argc == 2 && strncmp(argv[1], "--", 2) != 0, "usage: nnopt figures DIR   (a run directory: draws the "
             "figures of its gradstats.csv, gradstats_batches.csv and smoothness.csv)");
    const char *dir = argv[1];
    char *text = cli_read_if_present(dir, "summary.json");
    NN_CHECK(text, "%s: no summary.json (not a run directory?)", dir);
    cJSON *summary = cJSON_Parse(text);
    free(text);
    NN_CHECK(summary, "%s/summary.json: not valid JSON", dir);
    const cJSON *config = field(summary, "config", dir);
    char label[512];
    figures_label(label, sizeof label, cJSON_GetStringValue(field(config, "preset", dir)),
                  cJSON_GetStringValue(field(config, "optim", dir)), field(config, "lr", dir)->valuedouble,
                  field(config, "clip", dir)->valuedouble);
    int drawn = 0, bs[64], nb = 0;
    char *path = nn_join_path(dir, "gradstats_batches.csv");
    if (access(path, F_OK) == 0) {
        const cJSON *b;
        cJSON_ArrayForEach(b, field(config, "batch_sizes", dir)) if (nb < 64) bs[nb++] = b->valueint;
        figures_gradstats(dir, label, bs, nb);
        drawn = 1;
    }
    free(path);
    path = nn_join_path(dir, "smoothness.csv");
    if (access(path, F_OK) == 0) {
        SmoothFit f = smoothness_fit_file(path, (float)field(config, "smooth_quantile", dir)->valuedouble);
        NN_CHECK(f.n >= 2, "%s: fewer than 2 usable rows, nothing to fit", path);
        smoothness_draw(dir, &f, label);
        drawn = 1;
    }
    free(path);
    cJSON_Delete(summary);
    NN_CHECK(drawn, "%s: no gradstats_batches.csv or smoothness.csv (a run with --stats-epochs or --smooth-every "
             "writes them)", dir);
    return 0;
}
