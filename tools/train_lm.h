// One language-model training run (`nnopt train-lm`), also the building block of `nnopt gradstats` and
// `nnopt compare`.
#ifndef TOOLS_TRAIN_LM_H
#define TOOLS_TRAIN_LM_H

#include "lm_config.h" // and train_common.h: EXIT_NONFINITE

typedef struct {
    int status;                 // 0, or EXIT_NONFINITE when the run diverged
    long steps, diverged_step;  // diverged_step: the step that diverged (else 0)
    double train_loss;          // mean training loss of the last full epoch
    double valid_ppl, test_ppl; // after the last epoch (NaN when the run diverged first)
    double seconds, train_seconds; // wall time of the whole run, and of the training steps alone
    double clip_rate;           // fraction of steps whose gradient was clipped
    double mean_cos;            // exact mean cosine at the last statistics epoch for the training batch size
} LmRunResult;

// Trains as configured (or continues cfg.resume), writing into cfg.out; returns res->status: 0, EXIT_NONFINITE,
// or 128 + the signal that stopped it (SIGINT, SIGTERM) after writing a checkpoint. argv_text (NUL-separated,
// argv_len bytes) is the command line a checkpoint saves for --resume; NULL: the run writes no checkpoint when
// stopped by a signal (it cannot be resumed from a command line).
int lm_train(LmRunConfig cfg, LmRunResult *res, const char *argv_text, size_t argv_len);

#endif
