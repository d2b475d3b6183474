#define _POSIX_C_SOURCE 200809L
#include "train_common.h"
#include "cli.h"
#include "nn/check.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

void train_setup_check(const TrainSetup *s, int allow_plateau) {
    optim_free(optim_create(s->optim, s->optim_args)); // fatal on an unknown name, key or value
    optim_clip_mode(s->clip_mode);
    sampler_order(s->order);
    SchedKind kind = schedule_kind(s->schedule);
    NN_CHECK(allow_plateau || kind != SCHED_PLATEAU, "--schedule plateau: this workload has no validation split to "
             "watch (tuning on the test split would leak it); accepted constant, step, multistep, cosine");
    Schedule tmp;
    schedule_milestones(&tmp, s->milestones);
}

void train_parts_init(TrainParts *t, const TrainSetup *s, long total_steps) {
    t->opt = optim_create(s->optim, s->optim_args);
    t->clip_mode = optim_clip_mode(s->clip_mode);
    t->order = sampler_order(s->order);
    t->sched = (Schedule){.kind = schedule_kind(s->schedule), .lr = s->lr, .decay_start = s->decay_start,
                          .decay = s->decay, .gamma = s->gamma, .warmup = s->warmup, .min_lr = s->min_lr,
                          .total = total_steps, .plateau_factor = s->plateau_factor};
    schedule_milestones(&t->sched, s->milestones);
    schedule_start(&t->sched);
}

void train_parts_free(TrainParts *t) {
    optim_free(t->opt);
    t->opt = NULL;
}

void train_clip_and_step(StepResult *r, Params *P, TrainParts *t, const TrainSetup *s, GradStats *stats, float lr) {
    r->cos_prev = r->cos_update = r->noise_scale = NAN;
    int global = t->clip_mode == CLIP_NORM || t->clip_mode == CLIP_NORM_TORCH;
    // A global factor goes into the step where the optimizer takes one and nothing else reads the clipped gradient:
    // one pass over grad fewer, the same bits. grad is then left unscaled.
    int fused = global && !stats && t->opt->step_scaled;
    if (fused) r->factor = optim_clip_factor(t->clip_mode, P->grad, P->n, s->clip, &r->norm);
    else r->factor = optim_clip(t->clip_mode, P->grad, P->n, P->views, P->nviews, s->clip, &r->norm);
    if (!isfinite(r->loss) || !isfinite(r->norm)) return; // the caller stops the run; the parameters stay as they were
    if (stats) r->cos_prev = gradstats_before_step(stats, P->grad, P->param);
    if (stats && (global || s->clip <= 0)) r->noise_scale = gradstats_noise_scale(stats, r->norm, r->cos_prev);
    if (fused) t->opt->step_scaled(t->opt, P->param, P->grad, r->factor, P->n, P->views, P->nviews, lr);
    else t->opt->step(t->opt, P->param, P->grad, P->n, P->views, P->nviews, lr);
    if (stats) r->cos_update = gradstats_after_step(stats, P->grad, P->param);
}

double train_loss_limit(int classes) { return 10 * log((double)classes); }

int train_diverged(const StepResult *r, double limit) {
    return !isfinite(r->loss) || !isfinite(r->norm) || r->loss > limit;
}

void train_report_divergence(const StepResult *r, long step, int epoch, double limit, const char *limit_name,
                             const char *checkpoint) {
    if (!isfinite(r->loss) || !isfinite(r->norm))
        fprintf(stderr, "nnopt: error: non-finite %s at step %ld (epoch %d): %g; the run diverged. ",
                isfinite(r->loss) ? "gradient norm" : "loss", step, epoch, isfinite(r->loss) ? r->norm : r->loss);
    else
        fprintf(stderr, "nnopt: error: loss %g at step %ld (epoch %d) exceeds %s = %.1f; the run diverged. ", r->loss,
                step, epoch, limit_name, limit);
    int have = checkpoint && access(checkpoint, F_OK) == 0;
    fprintf(stderr, "Hint: lower --lr or enable clipping (--clip).%s%s%s\n", have ? " The last good checkpoint, " : "",
            have ? checkpoint : "", have ? ", is untouched." : "");
}
