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
#include "resume.h"
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
    CkptWriter *w = ckpt_begin(path, config);
    const Params *P = &run->model->params;
    const CifarProgress *p = &run->p;
    ckpt_put_bytes(w, "tool", "train-cifar", strlen("train-cifar"));
    ckpt_put_bytes(w, "argv", argv_text, argv_len);
    ckpt_put_params(w, "param/", P);
    ckpt_put_params(w, "stats/", &run->model->stats);
    optim_save_state(run->parts->opt, w, P->views, P->nviews, P->n);
    ckpt_put_u64(w, "rng/augment", 1, (int[]){4}, run->aug_rng->s);
    ckpt_put_u64(w, "rng/sampler", 1, (int[]){4}, run->sampler->rng.s);
    if (run->sampler->perm) {
        long m = run->sampler->m;
        uint64_t *perm = nn_malloc((size_t)m * sizeof *perm);
        for (long i = 0; i < m; i++) perm[i] = (uint64_t)run->sampler->perm[i];
        ckpt_put_u64(w, "sampler/perm", 1, (int[]){(int)m}, perm);
        free(perm);
    }
    if (run->stats && run->stats->have_prev) ckpt_put_views(w, "gradstats/prev_grad/", P->views, P->nviews,
                                                            run->stats->prev_grad);
    double sched[2] = {run->parts->sched.best, run->parts->sched.current};
    ckpt_put_f64(w, "schedule/state", 1, (int[]){2}, sched);
    uint64_t counts[NCOUNTS] = {(uint64_t)p->epoch, (uint64_t)p->b, (uint64_t)p->step, (uint64_t)p->clipped_steps,
                                (uint64_t)p->train_images, (uint64_t)p->correct, (uint64_t)p->seen,
                                (uint64_t)(run->stats && run->stats->have_prev)};
    ckpt_put_u64(w, "progress/counts", 1, (int[]){NCOUNTS}, counts);
    double values[NVALUES] = {p->loss_sum, p->train_time, p->elapsed, p->train_loss, p->train_acc, p->test_loss,
                              p->test_acc, p->last_mean_cos, p->last_lr};
    ckpt_put_f64(w, "progress/values", 1, (int[]){NVALUES}, values);
    uint64_t lengths[CIFAR_NCSV];
    for (int i = 0; i < CIFAR_NCSV; i++) lengths[i] = run->csv[i] ? (uint64_t)csv_length(run->csv[i]) : UINT64_MAX;
    ckpt_put_u64(w, "csv/lengths", 1, (int[]){CIFAR_NCSV}, lengths);
    ckpt_commit(w);
}

void cifar_checkpoint_load(const char *path, CifarRun *run, const CifarRunConfig *cfg, long csv_len[CIFAR_NCSV]) {
    char config[3072];
    cifar_config_json(config, sizeof config, cfg);
    CkptReader *r = ckpt_open(path);
    resume_check_tool(r, path, "train-cifar");
    ckpt_check_config(r, config, may_change);
    Params *P = &run->model->params;
    CifarProgress *p = &run->p;
    free(ckpt_get_bytes(r, "argv", NULL));
    ckpt_get_params(r, "param/", P);
    ckpt_get_params(r, "stats/", &run->model->stats);
    optim_load_state(run->parts->opt, r, P->views, P->nviews, P->n);
    ckpt_get_u64(r, "rng/augment", 1, (int[]){4}, run->aug_rng->s);
    ckpt_get_u64(r, "rng/sampler", 1, (int[]){4}, run->sampler->rng.s);
    if (run->sampler->perm) {
        long m = run->sampler->m;
        uint64_t *perm = nn_malloc((size_t)m * sizeof *perm);
        ckpt_get_u64(r, "sampler/perm", 1, (int[]){(int)m}, perm);
        for (long i = 0; i < m; i++) {
            NN_CHECK(perm[i] < (uint64_t)m, "checkpoint '%s': sampler/perm[%ld] = %llu is not an image index (< %ld)",
                     path, i, (unsigned long long)perm[i], m);
            run->sampler->perm[i] = (long)perm[i];
        }
        free(perm);
    }
    double sched[2];
    ckpt_get_f64(r, "schedule/state", 1, (int[]){2}, sched);
    run->parts->sched.best = sched[0], run->parts->sched.current = (float)sched[1];
    uint64_t counts[NCOUNTS];
    ckpt_get_u64(r, "progress/counts", 1, (int[]){NCOUNTS}, counts);
    NN_CHECK(counts[0] >= 1 && counts[0] < (1u << 30) && counts[1] <= (uint64_t)(run->sampler->m / run->batch) &&
             counts[5] <= counts[6] && counts[6] <= (uint64_t)run->sampler->m, "checkpoint '%s': progress/counts "
             "out of range (epoch %llu, batch %llu of %ld)", path, (unsigned long long)counts[0],
             (unsigned long long)counts[1], run->sampler->m / run->batch);
    p->epoch = (int)counts[0], p->b = (long)counts[1], p->step = (long)counts[2];
    p->clipped_steps = (long)counts[3], p->train_images = (long)counts[4];
    p->correct = (long)counts[5], p->seen = (long)counts[6];
    if (counts[7]) { // grad_stats is part of the configuration, so this run has them on too
        ckpt_get_views(r, "gradstats/prev_grad/", P->views, P->nviews, run->stats->prev_grad);
        run->stats->have_prev = 1;
    }
    double values[NVALUES];
    ckpt_get_f64(r, "progress/values", 1, (int[]){NVALUES}, values);
    p->loss_sum = values[0], p->train_time = values[1], p->elapsed = values[2], p->train_loss = values[3];
    p->train_acc = values[4], p->test_loss = values[5], p->test_acc = values[6], p->last_mean_cos = values[7];
    p->last_lr = (float)values[8];
    uint64_t lengths[CIFAR_NCSV];
    ckpt_get_u64(r, "csv/lengths", 1, (int[]){CIFAR_NCSV}, lengths);
    for (int i = 0; i < CIFAR_NCSV; i++) {
        NN_CHECK(lengths[i] == UINT64_MAX || lengths[i] < (1ull << 62), "checkpoint '%s': csv/lengths[%d] out of "
                 "range", path, i);
        csv_len[i] = lengths[i] == UINT64_MAX ? -1 : (long)lengths[i];
    }
    ckpt_expect_all_read(r);
    ckpt_close(r);
}
