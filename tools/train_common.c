#define _POSIX_C_SOURCE 200809L
#include "train_common.h"
#include "cli.h"
#include "nn/check.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

void train_setup_flag(TrainSetup *s, const char *name, const char *a) {
    if (strcmp(name, "lr") == 0) s->lr = (float)cli_double("--lr", a, 0, 1e6);
    else if (strcmp(name, "clip") == 0) s->clip = (float)cli_double("--clip", a, 0, 1e30);
    else if (strcmp(name, "clip-mode") == 0) s->clip_mode = a;
    else if (strcmp(name, "optim") == 0) s->optim = a;
    else if (strcmp(name, "optim-args") == 0) s->optim_args = a;
    else if (strcmp(name, "schedule") == 0) s->schedule = a;
    else if (strcmp(name, "decay-start") == 0) s->decay_start = (int)cli_long("--decay-start", a, 0, 100000);
    else if (strcmp(name, "decay") == 0) s->decay = (float)cli_double("--decay", a, 0, 1);
    else if (strcmp(name, "milestones") == 0) s->milestones = a;
    else if (strcmp(name, "gamma") == 0) s->gamma = (float)cli_double("--gamma", a, 0, 1);
    else if (strcmp(name, "warmup") == 0) s->warmup = cli_long("--warmup", a, 0, 1L << 40);
    else if (strcmp(name, "min-lr") == 0) s->min_lr = (float)cli_double("--min-lr", a, 0, 1e6);
    else if (strcmp(name, "plateau-factor") == 0)
        s->plateau_factor = (float)cli_double("--plateau-factor", a, 1, 1e6);
    else if (strcmp(name, "order") == 0) s->order = a;
    else NN_FATAL("train_setup_flag: '--%s' is not a shared training flag", name);
}

void train_setup_check(const TrainSetup *s, int allow_plateau) {
    optim_free(optim_create(s->optim, s->optim_args)); // fatal on an unknown name, key or value
    optim_clip_mode(s->clip_mode);
    sampler_order(s->order);
    SchedKind kind = schedule_kind(s->schedule);
    NN_CHECK(allow_plateau || kind != SCHED_PLATEAU, "--schedule plateau: this tool has no validation split to "
             "watch (tuning on the test split would leak it); accepted constant, step, multistep, cosine");
    Schedule tmp;
    schedule_milestones(&tmp, s->milestones);
}

int train_setup_json(char *buf, size_t n, const TrainSetup *s, int allow_plateau) {
    char plateau[48] = "";
    if (allow_plateau) snprintf(plateau, sizeof plateau, "\"plateau_factor\": %g, ", s->plateau_factor);
    return snprintf(buf, n,
                    "\"lr\": %g, \"clip\": %g, \"clip_mode\": \"%s\", \"optim\": \"%s\", \"optim_args\": \"%s\", "
                    "\"schedule\": \"%s\", \"decay_start\": %d, \"decay\": %g, \"milestones\": \"%s\", "
                    "\"gamma\": %g, \"warmup\": %ld, \"min_lr\": %g, %s\"order\": \"%s\"",
                    s->lr, s->clip, s->clip_mode, s->optim, s->optim_args, s->schedule, s->decay_start, s->decay,
                    s->milestones, s->gamma, s->warmup, s->min_lr, plateau, s->order);
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
    r->cos_prev = r->cos_update = NAN;
    r->factor = optim_clip(t->clip_mode, P->grad, P->n, P->views, P->nviews, s->clip, &r->norm);
    if (!isfinite(r->loss) || !isfinite(r->norm)) return; // the caller stops the run; the parameters stay as they were
    if (stats) r->cos_prev = gradstats_before_step(stats, P->grad, P->param);
    t->opt->step(t->opt, P->param, P->grad, P->n, P->views, P->nviews, lr);
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

const char *json_num(char *buf, size_t n, int digits, double x) {
    if (isfinite(x)) snprintf(buf, n, "%.*f", digits, x);
    else snprintf(buf, n, "null");
    return buf;
}
