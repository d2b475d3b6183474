#define _POSIX_C_SOURCE 200809L // strtok_r
// The table of optimizers: name -> constructor, hyper-parameters with defaults and accepted ranges.
#include "optimizer.h"
#include "nn/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HYPER 8

typedef struct {
    const char *key;
    double def, lo, hi;
    int open;    // OPEN_HI: the range is [lo, hi), OPEN_LO: (lo, hi]; both: (lo, hi)
} Hyper;

typedef struct {
    const char *name, *rule;
    Hyper hyper[MAX_HYPER]; // ends at the first entry without a key
    Optimizer *(*create)(const double *h); // h: values in the order of `hyper`
} OptimEntry;

Optimizer *optim_sgd_create(const double *h);
Optimizer *optim_adam_create(const double *h);
Optimizer *optim_adamw_create(const double *h);
Optimizer *optim_adagrad_create(const double *h);
Optimizer *optim_rmsprop_create(const double *h);
Optimizer *optim_acclip_create(const double *h);
Optimizer *optim_normalized_create(const double *h);
Optimizer *optim_lamb_create(const double *h);
Optimizer *optim_sgdclip_create(const double *h);
Optimizer *optim_momclip_create(const double *h);
Optimizer *optim_mixclip_create(const double *h);
Optimizer *optim_perturbed_create(const double *h);

#define BIG 1e30
enum { OPEN_HI = 1, OPEN_LO = 2 };
// Every eps is > 0: with eps = 0 a coordinate whose gradient has always been 0 steps by 0 / 0 = NaN.
static const OptimEntry registry[] = {
    {"sgd", "b = mu b + (1-dampening) g; x -= lr (nesterov ? g + mu b : b)",
     {{"momentum", 0, 0, 1, OPEN_HI}, {"dampening", 0, 0, 1, 0}, {"nesterov", 0, 0, 1, 0},
      {"weight_decay", 0, 0, BIG, 0}},
     optim_sgd_create},
    {"adam", "m,v = EMAs of g, g^2; x -= lr m^ / (sqrt(v^) + eps)",
     {{"beta1", 0.9, 0, 1, OPEN_HI}, {"beta2", 0.999, 0, 1, OPEN_HI}, {"eps", 1e-8, 0, BIG, OPEN_LO},
      {"weight_decay", 0, 0, BIG, 0}, {"amsgrad", 0, 0, 1, 0}},
     optim_adam_create},
    {"adamw", "x *= 1 - lr wd; then adam",
     {{"beta1", 0.9, 0, 1, OPEN_HI}, {"beta2", 0.999, 0, 1, OPEN_HI}, {"eps", 1e-8, 0, BIG, OPEN_LO},
      {"weight_decay", 0.01, 0, BIG, 0}, {"amsgrad", 0, 0, 1, 0}},
     optim_adamw_create},
    {"adagrad", "s += g^2; x -= lr / (1 + (t-1) lr_decay) g / (sqrt(s) + eps)",
     {{"lr_decay", 0, 0, BIG, 0}, {"weight_decay", 0, 0, BIG, 0}, {"initial_accumulator_value", 0, 0, BIG, 0},
      {"eps", 1e-10, 0, BIG, OPEN_LO}},
     optim_adagrad_create},
    {"rmsprop", "s = alpha s + (1-alpha) g^2; x -= lr g / (sqrt(s) + eps)",
     {{"alpha", 0.99, 0, 1, OPEN_HI}, {"eps", 1e-8, 0, BIG, OPEN_LO}, {"weight_decay", 0, 0, BIG, 0},
      {"momentum", 0, 0, 1, OPEN_HI}, {"centered", 0, 0, 1, 0}},
     optim_rmsprop_create},
    {"acclip", "m = EMA of g; tau^a = EMA of |g|^a; x -= lr min(tau / (|m| + eps), 1) m; bias_correction=1: "
               "both / (1-b^t)",
     {{"beta1", 0.9, 0, 1, OPEN_HI}, {"beta2", 0.99, 0, 1, OPEN_HI}, {"eps", 1e-5, 0, BIG, OPEN_LO},
      {"alpha", 1, 1, 2, 0}, {"weight_decay", 0, 0, BIG, 0}, {"bias_correction", 0, 0, 1, 0}},
     optim_acclip_create},
    {"normalized", "x -= lr g / (||g|| + b)", {{"b", 0, 0, BIG, 0}}, optim_normalized_create},
    {"lamb", "adam direction r per tensor; x -= lr ||x|| / ||r + wd x|| (r + wd x)",
     {{"beta1", 0.9, 0, 1, OPEN_HI}, {"beta2", 0.999, 0, 1, OPEN_HI}, {"eps", 1e-6, 0, BIG, OPEN_LO},
      {"weight_decay", 0, 0, BIG, 0}},
     optim_lamb_create},
    // soft=0 is the hard factor of the paper's Algorithm 1 (optim/clipmom.c); momclip is the same update as sgdclip
    {"sgdclip", "m = beta m + (1-beta) g; x -= h(||m||) m; h(r) = min(lr, gamma/r), soft=1: lr/(1 + lr r/gamma)",
     {{"beta", 0.9, 0, 1, OPEN_HI}, {"gamma", 1, 0, BIG, 0}, {"per_layer", 0, 0, 1, 0}, {"soft", 0, 0, 1, 0}},
     optim_sgdclip_create},
    {"momclip", "m = beta m + (1-beta) g; x -= h(||m||) m; h(r) = min(lr, gamma/r), soft=1: lr/(1 + lr r/gamma)",
     {{"beta", 0.9, 0, 1, OPEN_HI}, {"gamma", 1, 0, BIG, 0}, {"per_layer", 0, 0, 1, 0}, {"soft", 0, 0, 1, 0}},
     optim_momclip_create},
    {"mixclip", "x -= nu h(||m||) m + (1-nu) h(||g||) g; h(r) = min(lr, gamma/r), soft=1: lr/(1 + lr r/gamma)",
     {{"beta", 0.9, 0, 1, OPEN_HI}, {"gamma", 1, 0, BIG, 0}, {"nu", 0.7, 0, 1, 0}, {"per_layer", 0, 0, 1, 0},
      {"soft", 0, 0, 1, 0}},
     optim_mixclip_create},
    {"perturbed", "x -= lr (g + xi) every step, xi uniform in a ball of radius r (noise=0) or N(0, r^2/d) (noise=1)",
     {{"r", 0.01, 0, BIG, 0}, {"noise", 0, 0, 1, 0}, {"seed", 1, 0, 4e9, 0}}, optim_perturbed_create},
};
static const int nregistry = sizeof registry / sizeof registry[0];

static int nhyper(const OptimEntry *e) {
    int k = 0;
    while (k < MAX_HYPER && e->hyper[k].key) k++;
    return k;
}

// "key=default key=default ..." of one optimizer, for messages and the listing.
static void describe(const OptimEntry *e, char *buf, size_t n) {
    buf[0] = '\0';
    for (int k = 0; k < nhyper(e); k++) {
        size_t len = strlen(buf);
        snprintf(buf + len, n - len, "%s%s=%g", k ? " " : "", e->hyper[k].key, e->hyper[k].def);
    }
    if (!buf[0]) snprintf(buf, n, "(none)");
}

static void parse_args(const OptimEntry *e, const char *args, double *h) {
    int nh = nhyper(e);
    for (int k = 0; k < nh; k++) h[k] = e->hyper[k].def;
    if (!args) return;
    char *copy = nn_strdup(args), *save = NULL, desc[512];
    describe(e, desc, sizeof desc);
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        NN_CHECK(eq, "--optim-args '%s': expected key=value pairs separated by commas; %s accepts: %s", args, e->name,
                 desc);
        *eq = '\0';
        NN_CHECK(strcmp(item, "lr") != 0, "--optim-args: the learning rate is set with --lr (and its schedule)");
        int k = 0;
        while (k < nh && strcmp(item, e->hyper[k].key) != 0) k++;
        NN_CHECK(k < nh, "optimizer '%s' has no hyper-parameter '%s'; accepted (with defaults): %s", e->name, item,
                 desc);
        char *end;
        errno = 0;
        double v = strtod(eq + 1, &end);
        const Hyper *hp = &e->hyper[k];
        NN_CHECK(eq[1] && !*end && !errno && v == v, "%s %s='%s': expected a number", e->name, item, eq + 1);
        int lo_ok = hp->open & OPEN_LO ? v > hp->lo : v >= hp->lo;
        int hi_ok = hp->open & OPEN_HI ? v < hp->hi : v <= hp->hi;
        if (!lo_ok || !hi_ok) {
            char hi[32] = "inf)";
            if (hp->hi < BIG) snprintf(hi, sizeof hi, "%g%c", hp->hi, hp->open & OPEN_HI ? ')' : ']');
            NN_FATAL("%s %s=%g: accepted %c%g, %s", e->name, item, v, hp->open & OPEN_LO ? '(' : '[', hp->lo, hi);
        }
        h[k] = v;
    }
    free(copy);
}

Optimizer *optim_create(const char *name, const char *args) {
    for (int i = 0; i < nregistry; i++) {
        if (strcmp(name, registry[i].name) != 0) continue;
        double h[MAX_HYPER];
        parse_args(&registry[i], args, h);
        return registry[i].create(h);
    }
    char valid[256] = "";
    for (int i = 0; i < nregistry; i++) {
        strncat(valid, i ? ", " : "", sizeof valid - strlen(valid) - 1);
        strncat(valid, registry[i].name, sizeof valid - strlen(valid) - 1);
    }
    NN_FATAL("unknown optimizer '%s'; accepted: %s (`nnopt optimizers` lists their hyper-parameters)", name, valid);
}

void optim_free(Optimizer *o) {
    if (o) o->free(o);
}

void optim_list(FILE *out) {
    for (int i = 0; i < nregistry; i++) {
        char desc[512];
        describe(&registry[i], desc, sizeof desc);
        fprintf(out, "  %-8s %s\n           --optim-args %s\n", registry[i].name, registry[i].rule, desc);
    }
}
