#include "schedule.h"
#include "nn/check.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

float schedule_step_decay(float lr, int epoch, int decay_start, float decay) {
    int k = epoch - decay_start;
    return k > 0 ? lr * powf(decay, (float)k) : lr;
}

SchedKind schedule_kind(const char *name) {
    static const char *const names[] = {"constant", "step", "multistep", "cosine", "plateau"};
    for (int i = 0; i < 5; i++)
        if (strcmp(name, names[i]) == 0) return (SchedKind)i;
    NN_FATAL("--schedule '%s': accepted constant, step (--decay-start, --decay), multistep (--milestones, --gamma), "
             "cosine (--warmup, --min-lr), plateau (--plateau-factor)", name);
}

void schedule_milestones(Schedule *s, const char *list) {
    s->nmilestones = 0;
    const char *p = list;
    while (*p) {
        char *end;
        errno = 0;
        long m = strtol(p, &end, 10);
        NN_CHECK(end != p && !errno && m > 0 && (*end == ',' || !*end), "--milestones '%s': expected ascending "
                 "positive epochs separated by commas, e.g. 5,10", list);
        NN_CHECK(s->nmilestones < SCHED_MAX_MILESTONES, "--milestones: at most %d", SCHED_MAX_MILESTONES);
        NN_CHECK(s->nmilestones == 0 || m > s->milestones[s->nmilestones - 1], "--milestones '%s' must ascend", list);
        s->milestones[s->nmilestones++] = (int)m;
        p = *end ? end + 1 : end;
    }
}

void schedule_start(Schedule *s) {
    s->current = s->lr;
    s->best = INFINITY;
}

float schedule_lr(const Schedule *s, int epoch, long step) {
    switch (s->kind) {
    case SCHED_STEP: return schedule_step_decay(s->lr, epoch, s->decay_start, s->decay);
    case SCHED_MULTISTEP: { // torch MultiStepLR stepped once per epoch: epochs completed = epoch - 1
        int passed = 0;
        while (passed < s->nmilestones && s->milestones[passed] <= epoch - 1) passed++;
        return s->lr * powf(s->gamma, (float)passed);
    }
    case SCHED_COSINE: {
        if (step < s->warmup) return s->lr * (float)(step + 1) / (float)s->warmup;
        double span = (double)(s->total - s->warmup), t = span > 0 ? (double)(step - s->warmup) / span : 1.0;
        if (t > 1) t = 1;
        return (float)(s->min_lr + 0.5 * (s->lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * t)));
    }
    case SCHED_PLATEAU: return s->current;
    default: return s->lr;
    }
}

void schedule_epoch_end(Schedule *s, double valid_loss) {
    if (s->kind != SCHED_PLATEAU) return;
    if (valid_loss < s->best) s->best = valid_loss; // PyTorch word_language_model: lr /= 4 when no improvement
    else s->current /= s->plateau_factor;
}
