// The workload "cifar-resnet": the CIFAR-10 ResNets of models/resnet.h on CIFAR-10 (data/cifar10.h).
// Units are training images, a batch of --batch of them per step (floor(n / N) batches per epoch: the last n % N
// images of an epoch are left out), randomly cropped and flipped unless --no-augment. Evaluation is the test split
// with the batchnorm running statistics. Exact statistics: components are training images, no augmentation,
// batchnorm in training mode, so f depends on the batch size; the running statistics such passes move are restored.
// Checkpoints add the running statistics and the augmentation stream.
// With --grad-blocks G, block g of a step is images ids[g*N/G ..] augmented from the block's own seed and
// normalised by its own batch statistics (ghost batch norm); the running statistics end the step on the mean of
// the G blocks' (block_state).
#define _POSIX_C_SOURCE 200809L
#include "tools/workloads/workload.h"
#include "tools/cli.h"
#include "data/cifar10.h"
#include "data/ptb.h" // data_find_dir
#include "models/resnet.h"
#include "nn/check.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CIFAR_TRAIN_IMAGES = 50000, CIFAR_TEST_IMAGES = 10000 };

typedef struct {
    const char *model;     // resnet8 | resnet20 | resnet32 | ... (models/resnet.h)
    float width;           // channel multiplier
    long train_images;     // train on the first this many training images (0 = all 50,000)
    long test_images;      // evaluate on the first this many test images (0 = all 10,000)
    long stats_images;     // the exact statistics' data set: the first this many training images
    int augment;           // random crop (4-pixel padding) and horizontal flip of training images
} CifarConfig;

struct Workload {
    CifarConfig c;
    int batch;             // N of training and evaluation
    int max_batch;         // the model's and these buffers' N: the largest batch any pass uses
    Cifar10 data;
    ResNet model;
    Rng aug_rng;           // the augmentation stream
    float *x;              // [max_batch,3,32,32] normalised images of the current batch
    int *y;                // [max_batch] their labels
    long *idx;             // [max_batch] evaluation's image indices
    float *saved_stats;    // [model.stats.n] the running statistics, saved around exact statistics
};

#define F(field) offsetof(CifarConfig, field)
static const FlagSpec cifar_flags[] = {
    {"model", FLAG_STRING, F(model), 0, 0, "resnet20", 0, "NAME",
     "resnet8 | resnet20 | resnet32 | resnet44 | resnet56 | resnet110"},
    {"width", FLAG_FLOAT, F(width), 1e-3, 64, "1", 0, "X", "channel multiplier: stages of 16X, 32X, 64X channels"},
    {"train-images", FLAG_LONG, F(train_images), 0, CIFAR_TRAIN_IMAGES, "0", 0, "N",
     "train on the first N training images; 0 = all 50,000"},
    {"test-images", FLAG_LONG, F(test_images), 0, CIFAR_TEST_IMAGES, "0", 0, "N",
     "evaluate on the first N test images; 0 = all 10,000"},
    {"no-augment", FLAG_CLEAR, F(augment), 0, 0, NULL, 0, NULL,
     "no random crop (4-pixel padding) and horizontal flip of training images"},
    {"stats-images", FLAG_LONG, F(stats_images), 1, CIFAR_TRAIN_IMAGES, "5000", 0, "N",
     "the exact statistics' data set: the first N training images, no augmentation"},
};
#undef F

// SGD with momentum 0.9 and weight decay 5e-4 at lr 0.1, batch 128 (He et al. 2016 use the same lr, momentum and
// batch with wd 1e-4 over 164 epochs; for a budget of 15-20 epochs the stronger 5e-4 of the fast CIFAR trainers
// regularises better). Schedule: one epoch of linear warm-up (--warmup=-1), then cosine to 0 at the last step
// (Loshchilov & Hutter 2017): it anneals over whatever budget is set with no milestones to retune, and the warm-up
// spares the fresh batchnorm network the first steps at full lr (He et al. warm up ResNet-110 at 0.01 for the same
// reason).
static const char cifar_defaults[] =
    "--optim=sgd --optim-args=momentum=0.9,weight_decay=5e-4 --schedule=cosine --decay-start=1000 --decay=1 "
    "--milestones= --gamma=0.1 --min-lr=0 --clip=0 --clip-mode=norm --order=shuffle --stats-images=5000";

static const Preset cifar_presets[] = {
    // tiny: a smoke test of a few seconds (16 steps per epoch)
    {"tiny", "--model=resnet8 --width=0.25 --batch=32 --epochs=2 --train-images=512 --test-images=256 --lr=0.05 "
             "--warmup=0"},
    {"resnet8", "--model=resnet8 --width=1 --batch=128 --epochs=15 --train-images=0 --test-images=0 --lr=0.1 "
                "--warmup=-1"},
    {"resnet20", "--model=resnet20 --width=1 --batch=128 --epochs=20 --train-images=0 --test-images=0 --lr=0.1 "
                 "--warmup=-1"},
    {"resnet32", "--model=resnet32 --width=1 --batch=128 --epochs=20 --train-images=0 --test-images=0 --lr=0.1 "
                 "--warmup=-1"},
};

static const Column step_columns[] = {{"batch_acc", "%.4f", 1}};
static const Column train_columns[] = {{"train_acc", "%.6f", 1}};
static const Column eval_columns[] = {{"test_loss", "%.6f", 0}, {"test_acc", "%.6f", 1}};
static const Column final_columns[] = {{"test_acc_first1000", "%.6f", 1}};

static void wl_check(RunConfig *cfg) {
    const CifarConfig *c = cfg->wl;
    resnet_preset(c->model); // fatal with the list on an unknown name
    long train = c->train_images ? c->train_images : CIFAR_TRAIN_IMAGES;
    NN_CHECK(train >= cfg->batch, "--train-images %ld is fewer than one batch of --batch %d", train, cfg->batch);
    if (cfg->stats_epochs.all || cfg->stats_epochs.n) { // the statistics' partition must fit before hours of training
        long images = c->stats_images < train ? c->stats_images : train;
        long lcm = cli_lcm(cfg->batch_sizes.v, cfg->batch_sizes.n, images);
        NN_CHECK(lcm <= images, "--batch-sizes: the statistics data set has %ld images (--stats-images, "
                 "--train-images), fewer than the least common multiple %ld of the batch sizes; use smaller batch "
                 "sizes or more --stats-images", images, lcm);
    }
}

// The first `train` training images (0 = all; only the batch files that hold them are read) and the first `test`
// test images. The normalisation uses the statistics of the training images in use.
static void load_data(Cifar10 *c, const char *dir, long train, long test) {
    memset(c, 0, sizeof *c);
    int files = train ? (int)((train + CIFAR_FILE_RECORDS - 1) / CIFAR_FILE_RECORDS) : 5;
    char *path[6];
    for (int k = 0; k < files; k++) { // every path first: a missing file fails before seconds of decompression
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d", k + 1);
        path[k] = cifar_path(dir, name);
    }
    path[files] = cifar_path(dir, "test_batch");
    for (int k = 0; k < files; k++) cifar_read_file(&c->train, path[k], CIFAR_FILE_RECORDS);
    cifar_read_file(&c->test, path[files], CIFAR_FILE_RECORDS);
    for (int k = 0; k <= files; k++) free(path[k]);
    if (train && train < c->train.n) c->train.n = train;
    if (test && test < c->test.n) c->test.n = test;
    c->stats = cifar_stats(&c->train);
}

static void print_data(const Cifar10 *d, const char *dir) {
    printf("data %s/cifar10: %ld training images, %ld test images, channel means %.4f %.4f %.4f, stds %.4f %.4f "
           "%.4f (of the training images in use)\n", dir, d->train.n, d->test.n, d->stats.mean[0], d->stats.mean[1],
           d->stats.mean[2], d->stats.std[0], d->stats.std[1], d->stats.std[2]);
}

static Workload *wl_create(const RunConfig *cfg) {
    Workload *w = nn_malloc(sizeof *w);
    memset(w, 0, sizeof *w);
    w->c = *(const CifarConfig *)cfg->wl;
    w->batch = w->max_batch = cfg->batch;
    int stats_batch = run_config_max_stats_batch(cfg);
    // the statistics' batch sizes even without --stats-epochs: nnopt compare times them on this model
    if (stats_batch > w->max_batch) w->max_batch = stats_batch;
    ResNetConfig mc = resnet_preset(w->c.model);
    mc.width = w->c.width;
    mc.batch = w->max_batch;
    check_memory(resnet_memory_bytes(&mc), "--batch, --batch-sizes or --width"); // before seconds of reading data

    char *dir = data_find_dir(cfg->data, CIFAR_PROBE);
    load_data(&w->data, dir, w->c.train_images, w->c.test_images);
    print_data(&w->data, dir);
    free(dir);
    resnet_init(&w->model, &mc);
    Rng init_rng;
    rng_seed(&init_rng, cfg->seed);
    rng_seed(&w->aug_rng, cfg->seed ^ 0x6175676d656e74ull); // its own stream: "augment"
    resnet_init_he(&w->model, &init_rng);
    printf("model: %s width %g (channels %d/%d/%d), %ld parameters, %.0f MB\n", w->c.model, w->c.width,
           w->model.c[0], w->model.c[1], w->model.c[2], resnet_param_count(&w->model), w->model.bytes / 1e6);

    w->x = nn_alloc_floats((size_t)w->max_batch * CIFAR_PIXELS);
    w->y = nn_malloc((size_t)w->max_batch * sizeof(int));
    w->idx = nn_malloc((size_t)w->max_batch * sizeof(long));
    w->saved_stats = nn_malloc(w->model.stats.n * sizeof(float));
    return w;
}

static void wl_destroy(Workload *w) {
    if (!w) return;
    free(w->x), free(w->y), free(w->idx), free(w->saved_stats);
    resnet_free(&w->model);
    cifar_free(&w->data);
    free(w);
}

static Params *wl_params(Workload *w) { return &w->model.params; }
static int wl_classes(const Workload *w) {
    (void)w;
    return CIFAR_CLASSES;
}
static long wl_units(const Workload *w) { return w->data.train.n; }
static int wl_units_per_step(const Workload *w) { return w->batch; }

// Images ids[0..n) of s through the model: the mean loss; w->model.correct holds the correct predictions.
static double forward(Workload *w, const CifarSet *s, const long *ids, int n, Rng *aug, Pass pass) {
    NN_CHECK(n >= 1 && n <= w->max_batch, "cifar-resnet: a batch of %d images; the buffers hold 1 to %d", n,
             w->max_batch);
    cifar_batch(s, &w->data.stats, ids, n, aug, w->x, w->y);
    return resnet_forward(&w->model, w->x, w->y, n, pass);
}

// PASS_TRAIN: augmented (unless --no-augment), batch statistics; PASS_STATS: the same without augmentation, as a
// training step would compute it on those images; PASS_EVAL: running statistics, no gradient.
static BatchResult wl_batch(Workload *w, Pass pass, const long *ids, int n) {
    Rng *aug = pass == PASS_TRAIN && w->c.augment ? &w->aug_rng : NULL;
    BatchResult r = {.loss = forward(w, &w->data.train, ids, n, aug, pass), .examples = n};
    r.sums[0] = w->model.correct;
    if (pass != PASS_EVAL) resnet_backward(&w->model);
    return r;
}

// Images ids[block*Nb .. block*Nb + Nb - 1] of the step (Nb = n / nblocks), augmented (unless --no-augment) from
// the block's seed alone. Ghost batch norm: the block is normalised by its own batch statistics, as PyTorch's DDP
// does on each rank without SyncBatchNorm; the running statistics it moves are the trainer's to average over the
// blocks (block_state).
static BatchResult wl_train_block(Workload *w, const long *ids, int n, int block, int nblocks, uint64_t seed) {
    int Nb = n / nblocks;
    Rng aug;
    rng_seed(&aug, seed ^ 0x6175676d656e74ull); // "augment", as the shared stream
    const long *images = ids + (size_t)block * Nb;
    BatchResult r = {.loss = forward(w, &w->data.train, images, Nb, w->c.augment ? &aug : NULL, PASS_TRAIN),
                     .examples = Nb};
    r.sums[0] = w->model.correct;
    resnet_backward(&w->model);
    return r;
}

// Every batchnorm layer's running mean and variance, one contiguous vector (the model's stats): with blocks, the
// step ends on the mean of what each block made of the step's values, running means and running (unbiased)
// variances alike. The mean of the G running means is the update by the whole batch's mean; the mean of the
// variances is that of the blocks' own variances, which leaves out the spread between the blocks' means: what the
// blocks normalise by. No counter: the momentum is fixed (PyTorch's num_batches_tracked matters only without one).
static float *wl_block_state(Workload *w, size_t *n) {
    *n = w->model.stats.n;
    return w->model.stats.param;
}

// Mean loss and accuracy over the first n images of s in batches of --batch, batchnorm with the running statistics,
// no augmentation.
static void evaluate_set(Workload *w, const CifarSet *s, long n, double *loss, double *acc) {
    double sum = 0;
    long correct = 0;
    for (long i = 0; i < n; i += w->batch) {
        int b = n - i < w->batch ? (int)(n - i) : w->batch;
        for (int j = 0; j < b; j++) w->idx[j] = i + j;
        sum += forward(w, s, w->idx, b, NULL, PASS_EVAL) * b;
        correct += w->model.correct;
    }
    *loss = sum / (double)n;
    *acc = (double)correct / (double)n;
}

static void wl_evaluate(Workload *w, double *out) {
    evaluate_set(w, &w->data.test, w->data.test.n, &out[0], &out[1]);
}

// The final parameters on the first 1000 test images: in ../shared/data only those are lossless (the other 9000
// were decoded from JPEG copies), so this is the accuracy that is exact everywhere. NaN without other test images.
static void wl_evaluate_final(Workload *w, double *out) {
    out[0] = NAN;
    if (w->data.test.n <= 1000) return;
    double loss;
    evaluate_set(w, &w->data.test, 1000, &loss, &out[0]);
}

static long wl_stats_components(const Workload *w) {
    return w->c.stats_images < w->data.train.n ? w->c.stats_images : w->data.train.n;
}

// Training-mode forwards of the statistics move the running statistics: the run goes on as if nothing was measured.
static void wl_stats_begin(Workload *w) {
    memcpy(w->saved_stats, w->model.stats.param, w->model.stats.n * sizeof(float));
}

static void wl_stats_end(Workload *w) {
    memcpy(w->model.stats.param, w->saved_stats, w->model.stats.n * sizeof(float));
}

// stats/<view>: the batchnorm running means and variances (evaluation uses them); rng/augment: xoshiro words.
static void wl_save(const Workload *w, CkptWriter *ck) {
    ckpt_put_params(ck, "stats/", &w->model.stats);
    ckpt_put_u64(ck, "rng/augment", 1, (int[]){4}, w->aug_rng.s);
}

static void wl_load(Workload *w, CkptReader *ck, const char *path) {
    (void)path; // ckpt_get_* name the checkpoint themselves on a mismatch
    ckpt_get_params(ck, "stats/", &w->model.stats);
    ckpt_get_u64(ck, "rng/augment", 1, (int[]){4}, w->aug_rng.s);
}

const WorkloadOps cifar_resnet_ops = {
    .name = "cifar-resnet", .unit = "images", .out_prefix = "cifar-",
    .about = "the CIFAR-10 ResNets of He et al. 2016 (6n+2 layers) on CIFAR-10",
    .flags = cifar_flags, .nflags = WL_COUNT(cifar_flags), .config_size = sizeof(CifarConfig),
    .defaults = cifar_defaults, .presets = cifar_presets, .npresets = WL_COUNT(cifar_presets),
    .default_preset = "resnet20",
    .test_flags = "--preset=tiny --train-images=256 --test-images=128 --stats-images=64 --epochs=3",
    .step_columns = step_columns, .train_columns = train_columns, .ntrain = 1,
    .eval_columns = eval_columns, .neval = 2, .has_valid = 0, // the test split: plateau would tune on it
    .final_columns = final_columns, .nfinal = 1,
    .stats_unit = "images",
    .stats_about = "no augmentation, batchnorm in training mode (a full gradient per batch size; running statistics "
                   "restored after each measurement)",
    .stats_partition_invariant = 0, .stats_layout = STATS_CONTIGUOUS,
    .check = wl_check, .create = wl_create, .destroy = wl_destroy, .params = wl_params, .classes = wl_classes,
    .units = wl_units, .units_per_step = wl_units_per_step, .batch = wl_batch,
    .train_block = wl_train_block, .block_state = wl_block_state,
    .evaluate = wl_evaluate, .evaluate_final = wl_evaluate_final, .stats_components = wl_stats_components,
    .stats_begin = wl_stats_begin, .stats_end = wl_stats_end, .save = wl_save, .load = wl_load,
};
