// CIFAR-10 (original binary layout): loading through zlib, per-channel normalisation, batches with augmentation.
// A record is 3073 bytes: 1 label byte (0-9), then 1024 R, 1024 G, 1024 B bytes, each channel 32x32 row-major.
// n=images N=batch C=3 channels H=W=32 P=3072 pixel bytes per image (C*H*W)
#ifndef DATA_CIFAR10_H
#define DATA_CIFAR10_H

#include "data/sampler.h"
#include "nn/rng.h"

#include <stdint.h>

enum { CIFAR_C = 3, CIFAR_H = 32, CIFAR_W = 32, CIFAR_PIXELS = 3072, CIFAR_RECORD = 3073, CIFAR_CLASSES = 10 };
enum { CIFAR_FILE_RECORDS = 10000 }; // records in every original batch file (test_batch_first1000 holds 1000)
enum { CIFAR_PAD = 4 };              // random-crop padding in pixels

// The probe for data_find_dir (data/ptb.h): the plain data_batch_1.bin counts too.
#define CIFAR_PROBE "cifar10/data_batch_1.bin.gz"

extern const char *const cifar_class_names[CIFAR_CLASSES]; // airplane, automobile, ..., truck (batches.meta.txt)

// Images kept as the file's bytes (150 MB for train; floats would be 600 MB): converted per batch.
typedef struct {
    uint8_t *pixels;       // [n][C][H][W] raw 0..255, R then G then B planes, as in the file
    uint8_t *labels;       // [n] 0..9
    long n;
} CifarSet;

// Per-channel statistics of pixel/255 (values in [0, 1]); std is the population std (divides by the pixel count),
// as torchvision's usual constants are. On the real train set (lossless, README): mean (0.491400, 0.482158, 0.446531),
// std (0.247032, 0.243485, 0.261588), the usual (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616).
typedef struct {
    float mean[CIFAR_C], std[CIFAR_C];
} CifarStats;

typedef struct {
    CifarSet train;        // data_batch_1..5, in file order
    CifarSet test;         // test_batch
    CifarStats stats;      // from train; normalises both splits
} Cifar10;

// DIR/cifar10/NAME.bin.gz when it exists, else DIR/cifar10/NAME.bin (the form users download); when both exist the
// .gz wins, as for PTB. Neither is fatal, naming both and the fix. Returns a malloc'd path.
char *cifar_path(const char *dir, const char *name);

// Reads one file of whole records through zlib (gzip or plain; a name ending in ".gz" must really be gzip) and
// appends them to s (zero it first). `records` is the count the file must hold (CIFAR_FILE_RECORDS for the
// original files, so a download cut at a record boundary is caught too), or 0 to accept any count >= 1.
// Fatal, naming the file and the byte offset or record: missing, empty, not gzip, truncated or corrupt gzip,
// a last record cut short, the wrong record count, a label outside 0-9.
void cifar_read_file(CifarSet *s, const char *path, long records);
void cifar_set_free(CifarSet *s);

// Loads DIR/cifar10/data_batch_{1..5} and test_batch (each .bin.gz or .bin, see cifar_path), every file holding
// `records_per_file` records (CIFAR_FILE_RECORDS for the real data; 0 accepts any count), and computes stats from
// train. For the exact-but-small test split, read cifar_path(dir, "test_batch_first1000") into a CifarSet instead.
void cifar_load(Cifar10 *c, const char *dir, long records_per_file);
void cifar_free(Cifar10 *c);

// Mean and population std per channel of pixel/255 over all of s (exact integer sums, then double).
CifarStats cifar_stats(const CifarSet *s);

// Batch b of an epoch from a Sampler over the m = s->n images (sampler_init(&smp, order, n, seed), sampler_epoch
// at each epoch start): idx[j] = sampler_next(smp, b*N + j) for j < min(N, m - b*N); returns that count.
//   cyclic:  batch b is images b*N .. b*N+N-1: a fixed partition visited in a fixed order every epoch
//   shuffle: consecutive slices of a fresh permutation of the images: random reshuffling
//   replace: N images drawn uniformly with replacement per batch: SGD
// Train on floor(n/N) batches per epoch (equal sizes; with cyclic the same last n%N images are never visited, with
// shuffle different ones each epoch); evaluate on ceil(n/N) with cyclic (the last batch is partial).
int cifar_batch_indices(Sampler *smp, long b, int N, long *idx);

// Fills x [N][C][H][W] with (pixel/255 - mean[c]) / std[c] and y [N] with the labels of images idx[0..N).
// aug == NULL: the images as they are (evaluation). aug != NULL (training): per image, in this order of draws,
// dy = rng_below(aug, 9), dx = rng_below(aug, 9), flip = top bit of rng_next(aug); then
//   out[c][i][j] = padded[c][i + dy][(flip ? 31 - j : j) + dx]
// where padded is the raw image with CIFAR_PAD zero pixels on every side: torchvision's RandomCrop(32, padding=4)
// then RandomHorizontalFlip() on the raw image before Normalize, so a padded pixel becomes (0 - mean[c]) / std[c]
// (not 0). Same aug state, same batch.
void cifar_batch(const CifarSet *s, const CifarStats *st, const long *idx, int N, Rng *aug, float *x, int *y);

#endif
