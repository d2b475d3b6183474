// The table of optimizers: name -> constructor, hyper-parameters and their defaults.
#include "optimizer.h"
#include "nn/check.h"

#include <stdio.h>
#include <string.h>

Optimizer *optim_sgd_create(void);

typedef struct {
    const char *name;
    const char *params; // hyper-parameters with defaults, as shown by `nnopt optimizers`
    const char *rule;
    Optimizer *(*create)(void);
} OptimEntry;

static const OptimEntry registry[] = {
    {"sgd", "lr (from --lr)", "x -= lr * g", optim_sgd_create},
};
static const int nregistry = sizeof registry / sizeof registry[0];

Optimizer *optim_create(const char *name, const char *args) {
    for (int i = 0; i < nregistry; i++) {
        if (strcmp(name, registry[i].name) != 0) continue;
        NN_CHECK(!args || !*args, "optimizer '%s' takes no --optim-args yet (got '%s'); its hyper-parameters: %s",
                 name, args, registry[i].params);
        return registry[i].create();
    }
    char valid[256] = "";
    for (int i = 0; i < nregistry; i++) {
        strncat(valid, i ? ", " : "", sizeof valid - strlen(valid) - 1);
        strncat(valid, registry[i].name, sizeof valid - strlen(valid) - 1);
    }
    NN_FATAL("unknown optimizer '%s'; accepted: %s", name, valid);
}

void optim_free(Optimizer *o) {
    if (o) o->free(o);
}

void optim_list(FILE *out) {
    for (int i = 0; i < nregistry; i++)
        fprintf(out, "  %-10s %-30s %s\n", registry[i].name, registry[i].rule, registry[i].params);
}
