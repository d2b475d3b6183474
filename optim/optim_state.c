// Optimizer state in checkpoints, generic over the items each optimizer lists (optimizer.h: state()).
#include "optimizer.h"
#include "nn/check.h"
#include "nn/checkpoint.h"

#include <stdio.h>

static int items_of(Optimizer *o, size_t n, int allocate, OptimStateItem *items) {
    return o->state ? o->state(o, n, allocate, items) : 0;
}

void optim_save_state(Optimizer *o, CkptWriter *w, const ParamView *views, int nviews, size_t n) {
    OptimStateItem it[OPTIM_MAX_STATE];
    int k = items_of(o, n, 0, it);
    char name[128];
    for (int i = 0; i < k; i++) {
        if (it[i].vec) {
            if (!*it[i].vec) continue; // before the first step: nothing to save
            snprintf(name, sizeof name, "optim/%s/", it[i].name);
            ckpt_put_views(w, name, views, nviews, *it[i].vec);
            continue;
        }
        snprintf(name, sizeof name, "optim/%s", it[i].name);
        uint64_t c = it[i].count ? (uint64_t)*it[i].count : 0;
        ckpt_put_u64(w, name, 1, (int[]){it[i].count ? 1 : it[i].nwords}, it[i].count ? &c : it[i].words);
    }
}

void optim_load_state(Optimizer *o, CkptReader *r, const ParamView *views, int nviews, size_t n) {
    OptimStateItem it[OPTIM_MAX_STATE];
    int k = items_of(o, n, 0, it);
    char name[256];
    // the arrays are in the checkpoint when the saving run had stepped: then allocate them as a first step would
    int stepped = 0;
    for (int i = 0; i < k; i++) {
        snprintf(name, sizeof name, "optim/%s/%s", it[i].name, views[0].name);
        stepped |= it[i].vec && ckpt_has(r, name);
    }
    if (stepped) k = items_of(o, n, 1, it);
    for (int i = 0; i < k; i++) {
        if (it[i].vec) {
            if (!stepped) continue;
            snprintf(name, sizeof name, "optim/%s/", it[i].name);
            ckpt_get_views(r, name, views, nviews, *it[i].vec);
            continue;
        }
        snprintf(name, sizeof name, "optim/%s", it[i].name);
        if (it[i].count) {
            uint64_t c;
            ckpt_get_u64(r, name, 1, (int[]){1}, &c);
            *it[i].count = (long)c;
        } else {
            ckpt_get_u64(r, name, 1, (int[]){it[i].nwords}, it[i].words);
        }
    }
}
