// nnopt: one program, one subcommand per job.
#include "dist.h"
#include "nn/check.h"
#include "optim/optimizer.h"
#include "provenance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_train(int argc, char **argv);
int cmd_train_lm(int argc, char **argv);
int cmd_train_cifar(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_optim(int argc, char **argv);
int cmd_bench_layers(int argc, char **argv);
int cmd_toy(int argc, char **argv);
int cmd_gradstats(int argc, char **argv);
int cmd_figures(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_workloads(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_report(int argc, char **argv);

static int cmd_optimizers(int argc, char **argv) {
    (void)argc, (void)argv;
    printf("optimizers (choose with --optim NAME):\n");
    optim_list(stdout);
    return 0;
}

static const struct {
    const char *name, *help;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"train", "train a workload's preset: `nnopt train --help` lists the workloads and their presets", cmd_train},
    {"workloads", "list the workloads and their presets", cmd_workloads},
    {"train-lm", "nnopt train --workload ptb-lstm: the LSTM language model on Penn Treebank", cmd_train_lm},
    {"train-cifar", "nnopt train --workload cifar-resnet: a ResNet on CIFAR-10", cmd_train_cifar},
    {"compare", "a quick comparison at one seed and fixed learning rates: SGD, clipped SGD, Adam and ACClip on one "
     "workload (the toy LM by default), with gradient statistics and figures", cmd_compare},
    {"sweep", "a grid of runs: each method tuned on its grid, its best setting rerun with more seeds, --jobs at "
     "a time, resumable", cmd_sweep},
    {"report", "merge runs (sweeps, compare, single runs) into a comparison: tuned settings over seeds, time to "
     "target, figures", cmd_report},
    {"gradstats", "exact gradient statistics (full gradient, per-batch cosines and norms) along a training run",
     cmd_gradstats},
    {"figures", "the instruments' figures of a run directory (exact statistics, noise, smoothness), from its CSVs",
     cmd_figures},
    {"inspect", "validate a checkpoint and list its configuration and tensors (with a crc32 each)", cmd_inspect},
    {"bench", "training and evaluation throughput of a preset (tokens/s, images/s)", cmd_bench},
    {"bench-optim", "nanoseconds per parameter of optimizer steps, as multiples of their memory-traffic floors",
     cmd_bench_optim},
    {"bench-layers", "ResNet-20's layers timed one by one (convolutions, batchnorm), forward and backward",
     cmd_bench_layers},
    {"optimizers", "list the optimizers and their hyper-parameters", cmd_optimizers},
    {"toy", "clipping on toy objectives: Example 1 of Qian et al. 2021, an (L0,L1)-smooth polynomial", cmd_toy},
};
static const int ncommands = sizeof commands / sizeof commands[0];

static void usage(FILE *out) {
    fprintf(out, "usage: nnopt COMMAND [flags]   (nnopt COMMAND --help for its flags)\ncommands:\n");
    for (int i = 0; i < ncommands; i++) fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
}

// Under mpirun every rank must run the same command (the same flags: the same run).
static void check_same_command(int argc, char **argv) {
    size_t len = 0;
    for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
    char *all = nn_malloc(len), *at = all;
    for (int i = 0; i < argc; i++) {
        size_t k = strlen(argv[i]) + 1;
        memcpy(at, argv[i], k);
        at += k;
    }
    dist_check_same(all, len, "command line");
    free(all);
}

static int run_command(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (int i = 0; i < ncommands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    usage(stderr);
    NN_FATAL("unknown command '%s' (see the list above)", argv[1]);
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv); // nothing without MPI
    provenance_set_argv(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0); // progress reaches a log file line by line, as on a terminal
    check_same_command(argc, argv);
    int status = run_command(argc, argv);
    dist_finalize();
    return status;
}
