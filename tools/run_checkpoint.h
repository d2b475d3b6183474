// Checkpoints of a training run, for every workload (format: nn/checkpoint.h). The configuration text is the run's
// JSON (run_config_json); loading compares it field by field, letting only the resumable flags differ. Tensors:
//   tool                 "train" (checkpoints of run format 1, by train-lm and train-cifar before workloads, say
//                        "train-lm", "train-cifar" or nothing, and are refused naming the format)
//   argv                 the command line after the subcommand, NUL-separated (--resume parses it again)
//   param/<view>         every parameter
//   optim/...            the optimizer's state (optim_save_state)
//   rng/sampler, sampler/perm   the order's random stream and this epoch's order (shuffle)
//   gradstats/prev_grad/<view>  the online statistics' previous gradient (when on and present)
//   schedule/state       [best validation loss, current lr] (the plateau schedule's memory)
//   progress/counts      epoch, steps done in the epoch, step, clipped steps, examples, epoch examples, have_prev
//   progress/values      loss sum, training seconds, elapsed seconds, train loss, last mean cos, last lr, then the
//                        workload's training-metric sums and last values, and its last evaluation
//   csv/lengths          bytes of steps.csv, epochs.csv, gradstats.csv, gradstats_batches.csv (-1: not written)
//   ...                  the workload's own (WorkloadOps.save: carried LSTM state, batchnorm statistics, its RNGs)
#ifndef TOOLS_RUN_CHECKPOINT_H
#define TOOLS_RUN_CHECKPOINT_H

#include "trainer.h" // run_checkpoint_save, run_checkpoint_load

#define RUN_CHECKPOINT_TOOL "train"

#endif
