// Learning-rate schedules. Epochs count from 1, steps from 0 (over the whole run).
#ifndef OPTIM_SCHEDULE_H
#define OPTIM_SCHEDULE_H

#define SCHED_MAX_MILESTONES 16

typedef enum { SCHED_CONSTANT, SCHED_STEP, SCHED_MULTISTEP, SCHED_COSINE, SCHED_PLATEAU } SchedKind;

typedef struct {
    SchedKind kind;
    float lr;                                   // base rate
    int decay_start;                            // step: constant through this epoch, then
    float decay;                                //   times `decay` per epoch (Zaremba et al.)
    int milestones[SCHED_MAX_MILESTONES], nmilestones; // multistep: times gamma after each milestone epoch
    float gamma;
    long warmup, total;                         // cosine: linear warm-up steps, then cosine to min_lr at total
    float min_lr;
    float plateau_factor;                       // plateau: lr /= factor when valid loss did not improve
    double best;                                //   (state: best valid loss so far, current rate)
    float current;
} Schedule;

// Parses --schedule NAME (constant | step | multistep | cosine | plateau); fatal with the list otherwise.
SchedKind schedule_kind(const char *name);
// Parses "5,10,15" into s->milestones (ascending, positive); fatal otherwise.
void schedule_milestones(Schedule *s, const char *list);
void schedule_start(Schedule *s); // call once before training
float schedule_lr(const Schedule *s, int epoch, long step);
void schedule_epoch_end(Schedule *s, double valid_loss); // plateau: compares with the best so far

// Zaremba et al. (2014): lr_e = lr * decay^max(0, e - decay_start).
float schedule_step_decay(float lr, int epoch, int decay_start, float decay);

#endif
