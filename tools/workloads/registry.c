// Every workload nnopt trains: `nnopt train --preset NAME` finds its workload here, and the CLI, resume and kill
// tests loop over this list (tests/workloads.sh), so a new row inherits every guarantee.
#include "workload.h"
#include "nn/check.h"

#include <stdio.h>
#include <string.h>

extern const WorkloadOps ptb_lstm_ops, ptb_transformer_ops, cifar_resnet_ops, toy_sum_ops;

const WorkloadOps *const workloads[] = {&ptb_lstm_ops, &ptb_transformer_ops, &cifar_resnet_ops, &toy_sum_ops};
const int nworkloads = sizeof workloads / sizeof workloads[0];

static void list_names(char *buf, size_t n) {
    buf[0] = '\0';
    for (int i = 0; i < nworkloads; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? ", " : "", workloads[i]->name);
}

const WorkloadOps *workload_find(const char *name) {
    for (int i = 0; i < nworkloads; i++)
        if (strcmp(workloads[i]->name, name) == 0) return workloads[i];
    char names[512];
    list_names(names, sizeof names);
    NN_FATAL("unknown workload '%s'; accepted: %s", name, names);
}

const Preset *workload_preset(const WorkloadOps *ops, const char *preset) {
    for (int k = 0; k < ops->npresets; k++)
        if (strcmp(ops->presets[k].name, preset) == 0) return &ops->presets[k];
    return NULL;
}

const WorkloadOps *workload_of_preset(const char *preset, const WorkloadOps *given) {
    char names[1024] = "";
    if (given) {
        if (workload_preset(given, preset)) return given;
        for (int k = 0; k < given->npresets; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "",
                     given->presets[k].name);
        NN_FATAL("workload %s has no preset '%s'; accepted: %s", given->name, preset, names);
    }
    const WorkloadOps *found = NULL;
    int count = 0;
    for (int i = 0; i < nworkloads; i++)
        if (workload_preset(workloads[i], preset)) {
            found = workloads[i], count++;
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", count > 1 ? ", " : "",
                     workloads[i]->name);
        }
    NN_CHECK(count <= 1, "preset '%s' belongs to several workloads (%s): choose one with --workload", preset, names);
    if (found) return found;
    for (int i = 0; i < nworkloads; i++)
        for (int k = 0; k < workloads[i]->npresets; k++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "",
                     workloads[i]->presets[k].name);
    NN_FATAL("unknown preset '%s'; accepted: %s", preset, names);
}

int cmd_workloads(int argc, char **argv) {
    int tests = argc == 2 && strcmp(argv[1], "--tests") == 0;
    NN_CHECK(argc == 1 || tests, "usage: nnopt workloads [--tests]");
    for (int i = 0; i < nworkloads; i++) {
        const WorkloadOps *w = workloads[i];
        if (tests) {
            printf("%s\t--workload=%s %s\n", w->name, w->name, w->test_flags);
            continue;
        }
        printf("%s: %s\n  presets:", w->name, w->about);
        for (int k = 0; k < w->npresets; k++)
            printf(" %s%s", w->presets[k].name, strcmp(w->presets[k].name, w->default_preset) ? "" : " (default)");
        printf("\n  nnopt train --workload %s --help: its flags\n", w->name);
    }
    return 0;
}
