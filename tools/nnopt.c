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

// distributed: under mpirun the ranks train one run together (tools/dist.h); every other command runs as
// independent processes (mpirun -np P nnopt sweep: P sweep workers, which share the runs out through their locks)
static const struct {
    const char *name, *help;
    int (*run)(int argc, char **argv);
    int distributed;
} commands[] = {
    {"train", "train a workload's preset: `nnopt train --help` lists the workloads and their presets", cmd_train,
     1},
    {"workloads", "list the workloads and their presets", cmd_workloads, 0},
    {"train-lm", "nnopt train --workload ptb-lstm: the LSTM language model on Penn Treebank", cmd_train_lm, 1},
    {"train-cifar", "nnopt train --workload cifar-resnet: a ResNet on CIFAR-10", cmd_train_cifar, 1},
    {"compare", "a quick comparison at one seed and fixed learning rates: SGD, clipped SGD, Adam and ACClip on one "
     "workload (the toy LM by default), with gradient statistics and figures", cmd_compare, 0},
    {"sweep", "a grid of runs: each method tuned on its grid, its best setting rerun with more seeds, --jobs at "
     "a time, resumable", cmd_sweep, 0},
    {"report", "merge runs (sweeps, compare, single runs) into a comparison: tuned settings over seeds, time to "
     "target, figures", cmd_report, 0},
    {"gradstats", "exact gradient statistics (full gradient, per-batch cosines and norms) along a training run",
     cmd_gradstats, 1},
    {"figures", "the instruments' figures of a run directory (exact statistics, noise, smoothness), from its CSVs",
     cmd_figures, 0},
    {"inspect", "validate a checkpoint and list its configuration and tensors (with a crc32 each)", cmd_inspect, 0},
    {"bench", "training and evaluation throughput of a preset (tokens/s, images/s)", cmd_bench, 0},
    {"bench-optim", "nanoseconds per parameter of optimizer steps, as multiples of their memory-traffic floors",
     cmd_bench_optim, 0},
    {"bench-layers", "ResNet-20's layers timed one by one (convolutions, batchnorm), forward and backward",
     cmd_bench_layers, 0},
    {"optimizers", "list the optimizers and their hyper-parameters", cmd_optimizers, 0},
    {"toy", "clipping on toy objectives: Example 1 of Qian et al. 2021, an (L0,L1)-smooth polynomial", cmd_toy, 0},
};
static const int ncommands = sizeof commands / sizeof commands[0];

static void usage(FILE *out) {
    fprintf(out, "usage: nnopt COMMAND [flags]   (nnopt COMMAND --help for its flags)\ncommands:\n");
    for (int i = 0; i < ncommands; i++) fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv) {
    provenance_set_argv(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0); // progress reaches a log file line by line, as on a terminal
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 1 : 0;
    }
    for (int i = 0; i < ncommands; i++) {
        if (strcmp(argv[1], commands[i].name)) continue;
        // NNOPT_NO_MPI: a sweep's runs, started by a sweep worker that mpirun started, are single processes
        int mpi = commands[i].distributed && !getenv("NNOPT_NO_MPI");
        if (mpi) dist_defer(argc, argv); // MPI starts in the trainer, after the flags are parsed
        int status = commands[i].run(argc - 1, argv + 1);
        dist_finalize();
        return status;
    }
    usage(stderr);
    NN_FATAL("unknown command '%s' (see the list above)", argv[1]);
}
