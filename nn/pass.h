// What a forward pass is for. Models and workloads take it explicitly, so nothing about dropout, carried state or
// batchnorm mode is implied by a boolean.
//   PASS_TRAIN  a training step: dropout and augmentation on, batchnorm on the batch's statistics (and updating its
//               running ones), the gradient of the mean loss accumulated
//   PASS_EVAL   evaluation: no dropout, batchnorm on its running statistics, no gradient
//   PASS_STATS  the exact statistics' f_i: deterministic functions of the parameters: no dropout, no augmentation,
//               no carried state; batchnorm on the batch's statistics as in training; the gradient accumulated
#ifndef NN_PASS_H
#define NN_PASS_H

typedef enum { PASS_TRAIN, PASS_EVAL, PASS_STATS } Pass;

#endif
