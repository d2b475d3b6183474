// The training commands' parsing, shared with `nnopt compare` and `nnopt bench`.
#ifndef TOOLS_TRAIN_CMD_H
#define TOOLS_TRAIN_CMD_H

#include "resume.h"
#include "run_config.h"
#include "trainer.h"

// Parses argv (after the subcommand) into cfg, through the checkpoint's saved command line with --resume (tools/
// resume.h); workload: the alias's (NULL for `nnopt train`). args->text becomes the command line the run's
// checkpoints save, with --workload=NAME. Free with run_config_free and resume_args_free after the run.
void train_cmd_parse(RunConfig *cfg, ResumeArgs *args, int argc, char **argv, const char *prog, const char *workload);

int cmd_train(int argc, char **argv);
int cmd_train_lm(int argc, char **argv);
int cmd_train_cifar(int argc, char **argv);
int cmd_gradstats(int argc, char **argv);

#endif
