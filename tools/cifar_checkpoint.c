// Checkpoints of a CIFAR-10 run (format: nn/checkpoint.h), as tools/lm_checkpoint.c for the language model. Tensors:
//   tool                  "train-cifar" (tools/resume.h: a train-lm checkpoint is refused as such)
//   argv                  the command line after the subcommand, NUL-separated (--resume parses it again)
//   param/<view>          every trainable parameter
//   stats/<view>          the batchnorm running means and variances (model->stats): evaluation uses them
//   optim/...             the optimizer's state (optim_save_state)
//   rng/augment, rng/sampler, sampler/perm   random streams (xoshiro words) and this epoch's image order (shuffle)
//   gradstats/prev_grad   the online statistics' previous gradient (when they are on and have one)
//   schedule/state        [best, current lr] (no CIFAR schedule has state today; kept as the LM's for symmetry)
//   progress/counts       epoch, b, step, clipped steps, training images, correct, seen, gradstats have_prev
//   progress/values       loss sum, training seconds, elapsed seconds, train loss, train acc, test loss,
//                         test acc, last mean cos, last lr
//   csv/lengths           bytes of steps.csv, epochs.csv, gradstats.csv, gradstats_batches.csv (-1: not written)
// The configuration text is the run's JSON (cifar_config_json); loading compares it field by field.
#define _POSIX_C_SOURCE 200809L
#include "cifar_run.h"
#include "run_checkpoint.h"
#include "nn/check.h"
#include "nn/checkpoint.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { NCOUNTS = 8, NVALUES = 9 };

// Fields a resumed run may change: how long it runs and on how many threads (which changes the last bits).
static const char *const may_change[] = {"epochs", "max_steps", "threads", NULL};

void cifar_checkpoint_save(const char *path, const CifarRun *run, const CifarRunConfig *cfg, const char *argv_text,
                           size_t argv_len) {
    char config[3072];
    cifar_config_json(config, sizeof config, cfg);
    CkptWriter *w = run_ckpt_begin(path, config, "train-cifar", argv_text, argv_len);
    const Params *P = &run->model->params;
    const CifarProgress *p = &run->p;
    ckpt_put_params(w, "param/", P);
    ckpt_put_params(w, "stats/", &run->model->stats);
    optim_save_state(run->parts->opt, w, P->views, P->nviews, P->n);
    ckpt_put_u64(w, "rng/augment", 1, (int[]){4}, run->aug_rng->s);
    run_ckpt_put_sampler(w, run->sampler);
    run_ckpt_put_prev_grad(w, run->stats, P);
    run_ckpt_put_schedule(w, &run->parts->sched);
    uint64_t counts[NCOUNTS] = {(uint64_t)p->epoch, (uint64_t)p->b, (uint64_t)p->step, (uint64_t)p->clipped_steps,
                                (uint64_t)p->train_images, (uint64_t)p->correct, (uint64_t)p->seen,
                                (uint64_t)(run->stats && run->stats->have_prev)};
    ckpt_put_u64(w, "progress/counts", 1, (int[]){NCOUNTS}, counts);
    double values[NVALUES] = {p->loss_sum, p->train_time, p->elapsed, p->train_loss, p->train_acc, p->test_loss,
                              p->test_acc, p->last_mean_cos, p->last_lr};
    ckpt_put_f64(w, "progress/values", 1, (int[]){NVALUES}, values);
    run_ckpt_put_csv_lengths(w, run->csv, CIFAR_NCSV);
    ckpt_commit(w);
}

void cifar_checkpoint_load(const char *path, CifarRun *run, const CifarRunConfig *cfg, long csv_len[CIFAR_NCSV]) {
    char config[3072];
    cifar_config_json(config, sizeof config, cfg);
    CkptReader *r = run_ckpt_open(path, config, "train-cifar", may_change);
    Params *P = &run->model->params;
    CifarProgress *p = &run->p;
    ckpt_get_params(r, "param/", P);
    ckpt_get_params(r, "stats/", &run->model->stats);
    optim_load_state(run->parts->opt, r, P->views, P->nviews, P->n);
    ckpt_get_u64(r, "rng/augment", 1, (int[]){4}, run->aug_rng->s);
    run_ckpt_get_sampler(r, run->sampler, path, "image");
    run_ckpt_get_schedule(r, &run->parts->sched);
    uint64_t counts[NCOUNTS];
    ckpt_get_u64(r, "progress/counts", 1, (int[]){NCOUNTS}, counts);
    NN_CHECK(counts[0] >= 1 && counts[0] < (1u << 30) && counts[1] <= (uint64_t)(run->sampler->m / run->batch) &&
             counts[5] <= counts[6] && counts[6] <= (uint64_t)run->sampler->m, "checkpoint '%s': progress/counts "
             "out of range (epoch %llu, batch %llu of %ld)", path, (unsigned long long)counts[0],
             (unsigned long long)counts[1], run->sampler->m / run->batch);
    p->epoch = (int)counts[0], p->b = (long)counts[1], p->step = (long)counts[2];
    p->clipped_steps = (long)counts[3], p->train_images = (long)counts[4];
    p->correct = (long)counts[5], p->seen = (long)counts[6];
    run_ckpt_get_prev_grad(r, run->stats, P, counts[7] != 0);
    double values[NVALUES];
    ckpt_get_f64(r, "progress/values", 1, (int[]){NVALUES}, values);
    p->loss_sum = values[0], p->train_time = values[1], p->elapsed = values[2], p->train_loss = values[3];
    p->train_acc = values[4], p->test_loss = values[5], p->test_acc = values[6], p->last_mean_cos = values[7];
    p->last_lr = (float)values[8];
    run_ckpt_get_csv_lengths(r, path, csv_len, CIFAR_NCSV);
    ckpt_expect_all_read(r);
    ckpt_close(r);
}
