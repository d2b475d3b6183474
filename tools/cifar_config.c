#define _POSIX_C_SOURCE 200809L
#include "cifar_config.h"
#include "cli.h"
#include "nn/check.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CIFAR_TRAIN_IMAGES = 50000, CIFAR_TEST_IMAGES = 10000 };
#define WARMUP_ONE_EPOCH (-1) // a preset's warm-up: one epoch of steps, resolved once the batch size is known

// SGD with momentum 0.9 and weight decay 5e-4 at lr 0.1, batch 128 (He et al. 2016 use the same lr, momentum and
// batch with wd 1e-4 over 164 epochs; for a budget of 15-20 epochs the stronger 5e-4 of the fast CIFAR trainers
// regularises better). Schedule: one epoch of linear warm-up, then cosine to 0 at the last step (Loshchilov &
// Hutter 2017): it anneals over whatever budget is set with no milestones to retune, and the warm-up spares the
// fresh batchnorm network the first steps at full lr (He et al. warm up ResNet-110 at 0.01 for the same reason).
#define PRESET(NAME, MODEL, WIDTH, BATCH, EPOCHS, TRAIN, TEST, LR, WARMUP)                                        \
    {.preset = NAME, .model = MODEL, .width = WIDTH, .batch = BATCH, .epochs = EPOCHS, .train_images = TRAIN,    \
     .test_images = TEST, .augment = 1,                                                                          \
     .setup = {.lr = LR, .clip = 0, .clip_mode = "norm", .optim = "sgd",                                         \
               .optim_args = "momentum=0.9,weight_decay=5e-4", .schedule = "cosine", .decay_start = 1000,        \
               .decay = 1, .milestones = "", .gamma = 0.1f, .warmup = WARMUP, .min_lr = 0, .order = "shuffle"},  \
     .stats_images = 5000}
static const CifarRunConfig presets[] = {
    //     name        model       width  batch epochs train test  lr    warm-up steps
    // tiny: a smoke test of a few seconds (16 steps per epoch)
    PRESET("tiny",     "resnet8",  0.25f, 32,   2,     512,  256,  0.05f, 0),
    PRESET("resnet8",  "resnet8",  1.0f,  128,  15,    0,    0,    0.1f, WARMUP_ONE_EPOCH),
    PRESET("resnet20", "resnet20", 1.0f,  128,  20,    0,    0,    0.1f, WARMUP_ONE_EPOCH),
    PRESET("resnet32", "resnet32", 1.0f,  128,  20,    0,    0,    0.1f, WARMUP_ONE_EPOCH),
};
static const int npresets = sizeof presets / sizeof presets[0];

static void apply_preset(CifarRunConfig *cfg, const char *name) {
    for (int i = 0; i < npresets; i++)
        if (strcmp(presets[i].preset, name) == 0) {
            *cfg = presets[i];
            return;
        }
    char valid[256] = "";
    for (int i = 0; i < npresets; i++) {
        strncat(valid, i ? ", " : "", sizeof valid - strlen(valid) - 1);
        strncat(valid, presets[i].preset, sizeof valid - strlen(valid) - 1);
    }
    NN_FATAL("unknown preset '%s'; accepted: %s", name, valid);
}

enum { O_PRESET = 256, O_SETUP, O_SETUP_END = O_SETUP + TRAIN_SETUP_NFLAGS, O_MODEL, O_WIDTH, O_EPOCHS,
       O_MAX_STEPS, O_BATCH, O_TRAIN_IMAGES, O_TEST_IMAGES, O_NO_AUGMENT, O_SEED, O_THREADS, O_DATA, O_OUT,
       O_NO_GRAD_STATS, O_STATS_EPOCHS, O_BATCH_SIZES, O_ETA, O_STATS_IMAGES, O_SAVE_EVERY, O_SAVE_EPOCHS, O_RESUME,
       O_HELP };

static const struct option options[] = {
    {"preset", required_argument, 0, O_PRESET},       TRAIN_SETUP_OPTIONS(O_SETUP),
    {"model", required_argument, 0, O_MODEL},         {"width", required_argument, 0, O_WIDTH},
    {"epochs", required_argument, 0, O_EPOCHS},       {"max-steps", required_argument, 0, O_MAX_STEPS},
    {"batch", required_argument, 0, O_BATCH},         {"train-images", required_argument, 0, O_TRAIN_IMAGES},
    {"test-images", required_argument, 0, O_TEST_IMAGES}, {"no-augment", no_argument, 0, O_NO_AUGMENT},
    {"seed", required_argument, 0, O_SEED},           {"threads", required_argument, 0, O_THREADS},
    {"data", required_argument, 0, O_DATA},           {"out", required_argument, 0, O_OUT},
    {"no-grad-stats", no_argument, 0, O_NO_GRAD_STATS}, {"stats-epochs", required_argument, 0, O_STATS_EPOCHS},
    {"batch-sizes", required_argument, 0, O_BATCH_SIZES}, {"eta", required_argument, 0, O_ETA},
    {"stats-images", required_argument, 0, O_STATS_IMAGES}, {"save-every", required_argument, 0, O_SAVE_EVERY},
    {"save-epochs", no_argument, 0, O_SAVE_EPOCHS},   {"resume", required_argument, 0, O_RESUME},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0},
};

void cifar_config_usage(FILE *out, const char *prog) {
    const CifarRunConfig *d = &presets[2], *t = &presets[0]; // resnet20, tiny
    fprintf(out,
            "usage: %s [--preset NAME] [flags]   (flags override the preset's values)\n"
            "  --preset NAME      tiny | resnet8 | resnet20 | resnet32 (default resnet20); tiny is %s width %g on\n"
            "                     %ld training and %ld test images, %d epochs of batch %d (seconds: a smoke test)\n"
            "  --model NAME       resnet8 | resnet20 | resnet32 | resnet44 | resnet56 | resnet110 (the preset's)\n"
            "  --width X          channel multiplier: stages of 16X, 32X, 64X channels, [0.001, 64] (1; tiny: %g)\n"
            "  --epochs N         training epochs (resnet8: %d, resnet20 and resnet32: %d)\n"
            "  --max-steps N      stop after N training steps in all; 0 = no limit (0)\n"
            "  --batch N          images per batch, training and evaluation (%d)\n"
            "  --lr X             learning rate for the mean-over-images loss (%g)\n"
            "  --optim NAME       optimizer (%s); `nnopt optimizers` lists them\n"
            "  --optim-args K=V,.. its hyper-parameters, PyTorch's names; weight decay is one of them (%s)\n"
            "  --clip X           clipping threshold; 0 = no clipping (%g)\n"
            "  --clip-mode M      norm (global L2 norm) | torch (clip_grad_norm_) | tensor | value (norm)\n"
            "  --schedule S       constant | step | multistep | cosine (%s)\n"
            "  --warmup N         cosine: linear warm-up over N steps, then cosine decay to --min-lr at the last\n"
            "                     step (one epoch of steps: 390 for 50,000 images at batch 128; tiny: 0)\n"
            "  --min-lr X         cosine: the final learning rate (0)\n"
            "  --milestones E,..  multistep: multiply lr by --gamma after each of these epochs (none; --gamma %g)\n"
            "  --decay-start N    step: lr constant through epoch N, then multiplied by --decay each epoch (never)\n"
            "  --decay X          step: the factor per epoch (1)\n"
            "  --order O          shuffle (random reshuffling each epoch) | cyclic (the same batches in the same order\n"
            "                     every epoch: incremental gradient; augmentation still varies) | replace (batches\n"
            "                     drawn with replacement) (%s)\n"
            "  --train-images N   train on the first N training images; 0 = all 50,000 (0; tiny: %ld)\n"
            "  --test-images N    evaluate on the first N test images; 0 = all 10,000 (0; tiny: %ld)\n"
            "  --no-augment       no random crop (4-pixel padding) and horizontal flip of training images\n"
            "  --no-grad-stats    skip the per-step cosines in steps.csv (they cost a few passes over the gradient)\n"
            "  --stats-epochs K,.. exact gradient statistics at the parameters after K epochs (0 = at initialisation),\n"
            "                     or 'all'; written to gradstats.csv and gradstats_batches.csv. Each costs 2 passes of\n"
            "                     forward+backward over --stats-images per batch size (none)\n"
            "  --batch-sizes B,.. batch sizes of the statistics (default: --batch)\n"
            "  --eta X,..         clipping thresholds of the descent quantity <sum C(g_i; X), grad f> (default: --clip,\n"
            "                     or 1 without clipping)\n"
            "  --stats-images N   the statistics' data set: the first N training images, no augmentation (%ld)\n"
            "  --seed N           random seed: initialisation, order, augmentation (1)\n"
            "  --threads N        threads for the matrix products (default: all online cores)\n"
            "  --data DIR         data root holding cifar10/ (default: $NNOPT_DATA, ./data, ../shared/data)\n"
            "  --out DIR          where steps.csv, epochs.csv and summary.json go (default runs/cifar-<preset>)\n"
            "  --save-every N     write OUT/checkpoint.nnck every N steps (atomically: the previous one survives any\n"
            "                     crash); SIGINT/SIGTERM also write one, after the current step (0 = never)\n"
            "  --save-epochs      write the checkpoint at the end of every epoch too\n"
            "  --resume PATH      continue the run saved in PATH exactly: its configuration comes from the checkpoint,\n"
            "                     flags given here may change --epochs, --max-steps, --threads and --out only\n",
            prog, t->model, t->width, t->train_images, t->test_images, t->epochs, t->batch, t->width,
            presets[1].epochs, d->epochs, d->batch, d->setup.lr, d->setup.optim, d->setup.optim_args, d->setup.clip,
            d->setup.schedule, d->setup.gamma, d->setup.order, t->train_images, t->test_images, d->stats_images);
}

void cifar_config_parse(CifarRunConfig *cfg, int argc, char **argv, const char *prog) {
    const char *preset = "resnet20";
    for (int i = 1; i < argc; i++) { // the preset first, whatever its position, so flags override it
        if (strcmp(argv[i], "--preset") == 0 && i + 1 < argc) preset = argv[i + 1];
        else if (strncmp(argv[i], "--preset=", 9) == 0) preset = argv[i] + 9;
    }
    apply_preset(cfg, preset);
    cfg->seed = 1;
    cfg->threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    cfg->grad_stats = 1;
    static char out_default[128];
    snprintf(out_default, sizeof out_default, "runs/cifar-%s", cfg->preset);
    cfg->out = out_default;
    optind = 1;
    opterr = 0;
    int c, li = 0;
    while ((c = getopt_long(argc, argv, "", options, &li)) != -1) {
        const char *a = optarg;
        if (c >= O_SETUP && c < O_SETUP_END) {
            train_setup_flag(&cfg->setup, options[li].name, a);
            continue;
        }
        switch (c) {
        case O_PRESET: break;
        case O_MODEL: resnet_preset(a), cfg->model = a; break; // fatal with the list on an unknown name
        case O_WIDTH: cfg->width = (float)cli_double("--width", a, 1e-3, 64); break;
        case O_EPOCHS: cfg->epochs = (int)cli_long("--epochs", a, 1, 100000); break;
        case O_MAX_STEPS: cfg->max_steps = cli_long("--max-steps", a, 0, 1L << 40); break;
        case O_BATCH: cfg->batch = (int)cli_long("--batch", a, 1, 1 << 16); break;
        case O_TRAIN_IMAGES: cfg->train_images = cli_long("--train-images", a, 0, CIFAR_TRAIN_IMAGES); break;
        case O_TEST_IMAGES: cfg->test_images = cli_long("--test-images", a, 0, CIFAR_TEST_IMAGES); break;
        case O_NO_AUGMENT: cfg->augment = 0; break;
        case O_SEED: cfg->seed = cli_u64("--seed", a); break;
        case O_THREADS: cfg->threads = (int)cli_long("--threads", a, 1, 1024); break;
        case O_DATA: cfg->data = a; break;
        case O_OUT: cfg->out = a; break;
        case O_NO_GRAD_STATS: cfg->grad_stats = 0; break;
        case O_STATS_EPOCHS:
            cfg->stats_all = strcmp(a, "all") == 0;
            cfg->nstats_epochs = cfg->stats_all ? 0 : cli_list_int("--stats-epochs", a, 0, 100000, cfg->stats_epochs,
                                                                    CIFAR_MAX_LIST);
            break;
        case O_BATCH_SIZES:
            cfg->nbatch_sizes = cli_list_int("--batch-sizes", a, 1, 1 << 16, cfg->batch_sizes, CIFAR_MAX_LIST);
            break;
        case O_ETA: cfg->neta = cli_list_double("--eta", a, 1e-30, 1e30, cfg->eta, CIFAR_MAX_LIST); break;
        case O_STATS_IMAGES: cfg->stats_images = cli_long("--stats-images", a, 1, CIFAR_TRAIN_IMAGES); break;
        case O_SAVE_EVERY: cfg->save_every = cli_long("--save-every", a, 0, 1L << 40); break;
        case O_SAVE_EPOCHS: cfg->save_epochs = 1; break;
        case O_RESUME: cfg->resume = a; break;
        case O_HELP: cifar_config_usage(stdout, prog); exit(0);
        default:
            cifar_config_usage(stderr, prog);
            if (optopt) NN_FATAL("option '%s' needs a value (see the list above)", argv[optind - 1]);
            NN_FATAL("unknown option '%s' (see the list above)", argv[optind - 1]);
        }
    }
    NN_CHECK(optind == argc, "unexpected argument '%s' (flags start with --; see %s --help)", argv[optind], prog);
    train_setup_check(&cfg->setup, 0);
    long train = cfg->train_images ? cfg->train_images : CIFAR_TRAIN_IMAGES;
    NN_CHECK(train >= cfg->batch, "--train-images %ld is fewer than one batch of --batch %d", train, cfg->batch);
    if (cfg->setup.warmup == WARMUP_ONE_EPOCH) cfg->setup.warmup = train / cfg->batch;
    if (!cfg->nbatch_sizes) cfg->batch_sizes[cfg->nbatch_sizes++] = cfg->batch;
    if (!cfg->neta) cfg->eta[cfg->neta++] = cfg->setup.clip > 0 ? cfg->setup.clip : 1.0;
    for (int i = 0; i < cfg->nstats_epochs; i++)
        NN_CHECK(cfg->stats_epochs[i] <= cfg->epochs, "--stats-epochs %d: the run has only %d epochs (--epochs)",
                 cfg->stats_epochs[i], cfg->epochs);
    if (cfg->stats_all || cfg->nstats_epochs) { // the statistics' partition must fit before hours of training
        long images = cfg->stats_images < train ? cfg->stats_images : train;
        long lcm = cli_lcm(cfg->batch_sizes, cfg->nbatch_sizes, images);
        NN_CHECK(lcm <= images, "--batch-sizes: the statistics data set has %ld images (--stats-images, "
                 "--train-images), fewer than the least common multiple %ld of the batch sizes; use smaller batch "
                 "sizes or more --stats-images", images, lcm);
    }
}

int cifar_config_stats_due(const CifarRunConfig *cfg, int epoch) {
    if (cfg->stats_all) return 1;
    for (int i = 0; i < cfg->nstats_epochs; i++)
        if (cfg->stats_epochs[i] == epoch) return 1;
    return 0;
}

int cifar_config_json(char *buf, size_t n, const CifarRunConfig *c) {
    char setup[1024], epochs[128] = "\"all\"", sizes[128], etas[256];
    train_setup_json(setup, sizeof setup, &c->setup, 0);
    if (!c->stats_all) cli_json_list(epochs, sizeof epochs, c->stats_epochs, c->nstats_epochs, 0);
    cli_json_list(sizes, sizeof sizes, c->batch_sizes, c->nbatch_sizes, 0);
    cli_json_list(etas, sizeof etas, c->eta, c->neta, 1);
    return snprintf(buf, n,
                    "{\"preset\": \"%s\", \"model\": \"%s\", \"width\": %g, \"batch\": %d, \"epochs\": %d, "
                    "\"max_steps\": %ld, \"train_images\": %ld, \"test_images\": %ld, \"augment\": %s, %s, "
                    "\"seed\": %llu, \"threads\": %d, \"grad_stats\": %s, \"stats_epochs\": %s, \"batch_sizes\": %s, "
                    "\"eta\": %s, \"stats_images\": %ld}",
                    c->preset, c->model, c->width, c->batch, c->epochs, c->max_steps, c->train_images, c->test_images,
                    c->augment ? "true" : "false", setup, (unsigned long long)c->seed, c->threads,
                    c->grad_stats ? "true" : "false", epochs, sizes, etas, c->stats_images);
}

void cifar_config_print(FILE *out, const CifarRunConfig *c) {
    char buf[3072];
    cifar_config_json(buf, sizeof buf, c);
    fprintf(out, "config %s\n", buf);
}

ResNetConfig cifar_config_model(const CifarRunConfig *c, int batch) {
    ResNetConfig mc = resnet_preset(c->model);
    mc.width = c->width;
    mc.batch = batch;
    check_memory(resnet_memory_bytes(&mc), "--batch, --batch-sizes or --width");
    return mc;
}
