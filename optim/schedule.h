// Learning-rate schedules. Epochs count from 1.
#ifndef OPTIM_SCHEDULE_H
#define OPTIM_SCHEDULE_H

// Zaremba et al. (2014): lr constant for epochs 1..decay_start, then multiplied by `decay` every epoch:
// lr_e = lr * decay^max(0, e - decay_start). decay = 1 gives a constant rate.
float schedule_step_decay(float lr, int epoch, int decay_start, float decay);

#endif
