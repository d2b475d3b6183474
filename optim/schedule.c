#include "schedule.h"

#include <math.h>

float schedule_step_decay(float lr, int epoch, int decay_start, float decay) {
    int k = epoch - decay_start;
    return k > 0 ? lr * powf(decay, (float)k) : lr;
}
