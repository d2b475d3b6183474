// Data parallelism over MPI ranks (`make MPI=1`; OpenMPI), and the same calls as one process without MPI.
//
// A step's gradient is the mean of --grad-blocks G block gradients (blocks of the batch: streams of the LM,
// images of CIFAR). Rank r of P computes blocks r*G/P .. (r+1)*G/P - 1, and dist_sum_blocks adds all G of them in
// block order, whatever P: every float is ((b_0 + b_1) + b_2) + ... + b_{G-1}, times 1/G. The sums never depend on
// the number of processes (an all-reduce's do: its tree depends on P), so P ranks give the bits one process gives.
// How: an all-to-all hands each rank one slice of every block's gradient, the rank adds its slice's G values in
// block order, and an all-gather returns the sums to every rank (a reduce-scatter and all-gather, as a ring
// all-reduce moves: 2 (P-1)/P of the gradient per rank when G = P).
#ifndef TOOLS_DIST_H
#define TOOLS_DIST_H

#include <stddef.h>

// The commands that train (train, its aliases, gradstats) call dist_defer with the command line; the trainer calls
// dist_start, which starts MPI (once) and checks that every rank runs the same command. Flags are parsed before,
// so bad ones are refused alike by every rank, without MPI. From then on a fatal error on one rank ends every rank.
// Without dist_defer (other commands, NNOPT_NO_MPI) or without MPI, dist_start does nothing: one process.
void dist_defer(int argc, char **argv);
void dist_start(void);
void dist_finalize(void);                // when started: waits for every rank, then MPI_Finalize
int dist_rank(void);                     // 0 without MPI
int dist_size(void);                     // 1 without MPI

// blocks: [nlocal][n] this rank's block gradients, blocks dist_rank() * nlocal onwards, every rank the same
// nlocal. out[0..n) = their sum over all ranks in block order, times scale, on every rank. out may be blocks.
void dist_sum_blocks(const float *blocks, int nlocal, size_t n, float scale, float *out);
// The same in double, without a scale (the exact statistics' full gradient: chunk sums of batch gradients).
void dist_sum_blocks_f64(const double *blocks, int nlocal, size_t n, double *out);
// all[size * bytes], where each rank has put its own bytes at all + rank * bytes: every rank's, on every rank.
void dist_allgather(void *all, size_t bytes);
int dist_any(int flag);                  // the largest flag over the ranks (e.g. a stop signal on any of them)
// Seconds spent in dist_sum_blocks by this process (the all-to-all, the sums and the all-gather).
double dist_reduce_seconds(void);
// A fatal error that every rank finds at the same point (a flag the ranks share): each prints the message and
// leaves MPI cleanly. An error on one rank alone goes through NN_CHECK, which aborts every rank (MPI_Abort).
_Noreturn void dist_fatal_together(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define DIST_CHECK(cond, ...) do { if (!(cond)) dist_fatal_together(__VA_ARGS__); } while (0)
// Fatal on every rank, with the same message, unless every rank passes the same bytes (the command line).
void dist_check_same(const void *data, size_t len, const char *what);

#endif
