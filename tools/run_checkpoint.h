// The parts of a checkpoint that every training command (train-lm, train-cifar) writes and reads the same way:
// the command that wrote it and its command line, the sampler (its random stream and this epoch's order), the
// online statistics' previous gradient, the schedule's memory and the CSV files' lengths. Each tool adds its own
// tensors (model, progress) between begin and commit (tools/lm_checkpoint.c, tools/cifar_checkpoint.c).
#ifndef TOOLS_RUN_CHECKPOINT_H
#define TOOLS_RUN_CHECKPOINT_H

#include "runlog.h"
#include "data/sampler.h"
#include "nn/checkpoint.h"
#include "optim/gradstats.h"
#include "optim/schedule.h"

// Tensors "tool" (the subcommand, e.g. "train-cifar") and "argv" (the command line --resume parses again).
CkptWriter *run_ckpt_begin(const char *path, const char *config, const char *tool, const char *argv_text,
                           size_t argv_len);
// Opens and validates path; fatal when another command wrote it, or when its configuration differs from config in
// a field not listed in may_change (NULL-terminated). Reads (skips) "argv".
CkptReader *run_ckpt_open(const char *path, const char *config, const char *tool, const char *const *may_change);

// "rng/sampler" and, for an order with one (shuffle), "sampler/perm"; `item` names what the order permutes
// ("window", "image") in the message for an index out of range.
void run_ckpt_put_sampler(CkptWriter *w, const Sampler *s);
void run_ckpt_get_sampler(CkptReader *r, Sampler *s, const char *path, const char *item);
// "gradstats/prev_grad/<view>" when stats is on and has a previous gradient; get reads it when `present` (the
// flag the tool saved among its counters).
void run_ckpt_put_prev_grad(CkptWriter *w, const GradStats *stats, const Params *P);
void run_ckpt_get_prev_grad(CkptReader *r, GradStats *stats, const Params *P, int present);
// "schedule/state": [best valid loss, current lr] (the plateau schedule's memory).
void run_ckpt_put_schedule(CkptWriter *w, const Schedule *s);
void run_ckpt_get_schedule(CkptReader *r, Schedule *s);
// "csv/lengths": the bytes of each of the n files (csv[i] NULL: not written, saved as -1), for csv_open_at.
void run_ckpt_put_csv_lengths(CkptWriter *w, CsvOut *const *csv, int n);
void run_ckpt_get_csv_lengths(CkptReader *r, const char *path, long *len, int n);

#endif
