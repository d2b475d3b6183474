// Checkpoints of a language-model run (format: nn/checkpoint.h). Tensors:
//   tool                  "train-lm" (older checkpoints have none and count as train-lm: tools/resume.h)
//   argv                  the command line after the subcommand, NUL-separated (--resume parses it again)
//   param/<view>          every parameter
//   optim/...             the optimizer's state (optim_save_state)
//   lstm/h, lstm/c        the carried hidden and cell state [L, N, H]
//   rng/dropout, rng/sampler, sampler/perm   random streams (xoshiro words) and this epoch's window order
//   gradstats/prev_grad   the online statistics' previous gradient (when they are on and have one)
//   schedule/state        [best valid loss, current lr] (the plateau schedule's memory)
//   progress/counts       epoch, w, step, clipped steps, training tokens, loss tokens, gradstats have_prev
//   progress/values       loss sum, training seconds, elapsed seconds, valid ppl, epoch loss, last mean cos, last lr
//   csv/lengths           bytes of steps.csv, epochs.csv, gradstats.csv, gradstats_batches.csv (-1: not written)
// The configuration text is the run's JSON (lm_config_json); loading compares it field by field.
#define _POSIX_C_SOURCE 200809L
#include "lm_run.h"
#include "run_checkpoint.h"
#include "nn/check.h"
#include "nn/checkpoint.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { NCOUNTS = 7, NVALUES = 7 };

// Fields a resumed run may change: how long it runs and on how many threads (which changes the last bits).
static const char *const may_change[] = {"epochs", "max_steps", "threads", NULL};

static void lstm_state_shape(const LmRun *run, int shape[3]) {
    shape[0] = run->model->cfg.layers, shape[1] = run->batch, shape[2] = run->model->cfg.hidden;
}

void lm_checkpoint_save(const char *path, const LmRun *run, const LmRunConfig *cfg, const char *argv_text,
                        size_t argv_len) {
    char config[2048];
    lm_config_json(config, sizeof config, cfg);
    CkptWriter *w = run_ckpt_begin(path, config, "train-lm", argv_text, argv_len);
    const Params *P = &run->model->params;
    const LmProgress *p = &run->p;
    ckpt_put_params(w, "param/", P);
    optim_save_state(run->parts->opt, w, P->views, P->nviews, P->n);
    int shape[3];
    lstm_state_shape(run, shape);
    ckpt_put_f32(w, "lstm/h", 3, shape, run->model->state_h);
    ckpt_put_f32(w, "lstm/c", 3, shape, run->model->state_c);
    ckpt_put_u64(w, "rng/dropout", 1, (int[]){4}, run->drop_rng->s);
    run_ckpt_put_sampler(w, run->sampler);
    run_ckpt_put_prev_grad(w, run->stats, P);
    run_ckpt_put_schedule(w, &run->parts->sched);
    uint64_t counts[NCOUNTS] = {(uint64_t)p->epoch, (uint64_t)p->w, (uint64_t)p->step, (uint64_t)p->clipped_steps,
                                (uint64_t)p->train_tokens, (uint64_t)p->loss_tokens,
                                (uint64_t)(run->stats && run->stats->have_prev)};
    ckpt_put_u64(w, "progress/counts", 1, (int[]){NCOUNTS}, counts);
    double values[NVALUES] = {p->loss_sum, p->train_time, p->elapsed, p->valid_ppl, p->epoch_loss, p->last_mean_cos,
                              p->last_lr};
    ckpt_put_f64(w, "progress/values", 1, (int[]){NVALUES}, values);
    run_ckpt_put_csv_lengths(w, run->csv, LM_NCSV);
    ckpt_commit(w);
}

void lm_checkpoint_load(const char *path, LmRun *run, const LmRunConfig *cfg, long csv_len[LM_NCSV]) {
    char config[2048];
    lm_config_json(config, sizeof config, cfg);
    CkptReader *r = run_ckpt_open(path, config, "train-lm", may_change);
    Params *P = &run->model->params;
    LmProgress *p = &run->p;
    ckpt_get_params(r, "param/", P);
    optim_load_state(run->parts->opt, r, P->views, P->nviews, P->n);
    int shape[3];
    lstm_state_shape(run, shape);
    ckpt_get_f32(r, "lstm/h", 3, shape, run->model->state_h);
    ckpt_get_f32(r, "lstm/c", 3, shape, run->model->state_c);
    ckpt_get_u64(r, "rng/dropout", 1, (int[]){4}, run->drop_rng->s);
    run_ckpt_get_sampler(r, run->sampler, path, "window");
    run_ckpt_get_schedule(r, &run->parts->sched);
    uint64_t counts[NCOUNTS];
    ckpt_get_u64(r, "progress/counts", 1, (int[]){NCOUNTS}, counts);
    p->epoch = (int)counts[0], p->w = (long)counts[1], p->step = (long)counts[2];
    p->clipped_steps = (long)counts[3], p->train_tokens = (long)counts[4], p->loss_tokens = (long)counts[5];
    NN_CHECK(p->epoch >= 1 && p->w >= 0 && p->w <= run->sampler->m, "checkpoint '%s': epoch %d, window %ld out of "
             "range", path, p->epoch, p->w);
    run_ckpt_get_prev_grad(r, run->stats, P, counts[6] != 0);
    double values[NVALUES];
    ckpt_get_f64(r, "progress/values", 1, (int[]){NVALUES}, values);
    p->loss_sum = values[0], p->train_time = values[1], p->elapsed = values[2], p->valid_ppl = values[3];
    p->epoch_loss = values[4], p->last_mean_cos = values[5], p->last_lr = (float)values[6];
    run_ckpt_get_csv_lengths(r, path, csv_len, LM_NCSV);
    ckpt_expect_all_read(r);
    ckpt_close(r);
}
