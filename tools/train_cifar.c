// `nnopt train-cifar`: trains a CIFAR ResNet (models/resnet.h) on CIFAR-10.
// Per step: sampler -> augmented batch -> zero grads -> forward (batch statistics; fused softmax-CE gives dlogits)
// -> backward -> clip -> optimizer step -> log. After every epoch: the test split with the running statistics.
#define _POSIX_C_SOURCE 200809L
#include "cifar_config.h"
#include "cifar_gradstats.h"
#include "cli.h"
#include "runlog.h"
#include "train_cifar.h"
#include "train_common.h"
#include "data/cifar10.h"
#include "data/ptb.h" // data_find_dir
#include "nn/blas.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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

// Mean loss and accuracy over a whole split, batchnorm with the running statistics, no augmentation.
static void evaluate(ResNet *m, const CifarSet *s, const CifarStats *st, int N, float *x, int *y, long *idx,
                     double *loss, double *acc) {
    double sum = 0;
    long correct = 0;
    for (long i = 0; i < s->n; i += N) {
        int n = s->n - i < N ? (int)(s->n - i) : N;
        for (int j = 0; j < n; j++) idx[j] = i + j;
        cifar_batch(s, st, idx, n, NULL, x, y);
        sum += resnet_forward(m, x, y, n, 0) * n;
        correct += m->correct;
    }
    *loss = sum / (double)s->n;
    *acc = (double)correct / (double)s->n;
}

static void write_summary(const CifarRunConfig *cfg, long params, long steps, const CifarRunResult *r,
                          double seconds, double img_s, long clipped, const char *status) {
    char cfgjson[3072], buf[4096], a[32], b[32], c[32], d[32], e[32];
    cifar_config_json(cfgjson, sizeof cfgjson, cfg);
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"status\": \"%s\",\n  \"config\": %s,\n  \"parameters\": %ld,\n  \"steps\": %ld,\n"
                     "  \"train_loss_last_epoch\": %s,\n  \"train_acc_last_epoch\": %s,\n  \"test_loss\": %s,\n"
                     "  \"test_acc\": %s,\n  \"clipped_steps\": %ld,\n  \"wall_seconds\": %.2f,\n"
                     "  \"train_images_per_s\": %s\n}\n",
                     status, cfgjson, params, steps, json_num(a, sizeof a, 6, r->train_loss),
                     json_num(b, sizeof b, 6, r->train_acc), json_num(c, sizeof c, 6, r->test_loss),
                     json_num(d, sizeof d, 6, r->test_acc), clipped, seconds, json_num(e, sizeof e, 1, img_s));
    char *path = nn_join_path(cfg->out, "summary.json");
    nn_write_atomic(path, buf, (size_t)n);
    free(path);
}

int cifar_train(CifarRunConfig cfg, CifarRunResult *res) {
    cifar_config_print(stdout, &cfg);
    *res = (CifarRunResult){.train_loss = NAN, .train_acc = NAN, .test_loss = NAN, .test_acc = NAN,
                            .mean_cos = NAN};
    nn_set_threads(cfg.threads);

    int N = cfg.batch, exact = cfg.stats_all || cfg.nstats_epochs, maxN = N;
    for (int i = 0; exact && i < cfg.nbatch_sizes; i++) maxN = cfg.batch_sizes[i] > maxN ? cfg.batch_sizes[i] : maxN;
    ResNetConfig mc = cifar_config_model(&cfg, maxN); // the memory check, before seconds of reading data

    char *dir = data_find_dir(cfg.data, CIFAR_PROBE);
    Cifar10 data;
    load_data(&data, dir, cfg.train_images, cfg.test_images);
    printf("data %s/cifar10: %ld training images, %ld test images, channel means %.4f %.4f %.4f, stds %.4f %.4f "
           "%.4f (of the training images in use)\n", dir, data.train.n, data.test.n, data.stats.mean[0],
           data.stats.mean[1], data.stats.mean[2], data.stats.std[0], data.stats.std[1], data.stats.std[2]);
    ResNet model;
    resnet_init(&model, &mc);
    Rng init_rng, aug_rng;
    rng_seed(&init_rng, cfg.seed);
    rng_seed(&aug_rng, cfg.seed ^ 0x6175676d656e74ull); // its own stream: "augment"
    resnet_init_he(&model, &init_rng);
    Params *P = &model.params;
    printf("model: %s width %g (channels %d/%d/%d), %ld parameters, %.0f MB\n", cfg.model, cfg.width, model.c[0],
           model.c[1], model.c[2], resnet_param_count(&model), model.bytes / 1e6);

    long batches = data.train.n / N; // equal batches: the last train.n % N images of an epoch are left out
    long total_steps = batches * cfg.epochs;
    if (cfg.max_steps > 0 && cfg.max_steps < total_steps) total_steps = cfg.max_steps;
    TrainParts parts;
    train_parts_init(&parts, &cfg.setup, total_steps);
    Sampler sampler;
    sampler_init(&sampler, parts.order, data.train.n, cfg.seed ^ 0x6f72646572ull); // its own stream: "order"
    GradStats stats;
    if (cfg.grad_stats) gradstats_init(&stats, P->n);
    float *x = nn_alloc_floats((size_t)N * CIFAR_PIXELS);
    int *y = nn_malloc((size_t)N * sizeof(int));
    long *idx = nn_malloc((size_t)N * sizeof(long));

    RunLog lg;
    runlog_open(&lg, cfg.out, "step,epoch,lr,loss,batch_acc,grad_norm,clipped,images_per_s,clip_factor,"
                              "grad_norm_clipped,cos_prev,cos_update");
    CifarGradStats gs;
    if (exact) cifar_gradstats_open(&gs, &cfg, &data.train, &data.stats, &model);
    CsvOut epochs_csv;
    csv_open(&epochs_csv, cfg.out, "epochs.csv", "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,seconds");
    double t0 = now_seconds(), train_time = 0;
    long step = 0, clipped_steps = 0, train_images = 0;
    double diverged_loss = 10 * log((double)CIFAR_CLASSES);
    int epoch = 1;
    for (; epoch <= cfg.epochs && step < total_steps; epoch++) {
        if (exact && cifar_config_stats_due(&cfg, epoch - 1)) cifar_gradstats_run(&gs, &model, epoch - 1);
        sampler_epoch(&sampler);
        double loss_sum = 0;
        long correct = 0, seen = 0;
        float last_lr = 0;
        long epoch_steps = total_steps - step < batches ? total_steps - step : batches;
        for (long b = 0; b < epoch_steps; b++) {
            double ts = now_seconds();
            float lr = last_lr = schedule_lr(&parts.sched, epoch, step);
            cifar_batch_indices(&sampler, b, N, idx);
            cifar_batch(&data.train, &data.stats, idx, N, cfg.augment ? &aug_rng : NULL, x, y);
            params_zero_grad(P);
            StepResult r = {.loss = resnet_forward(&model, x, y, N, 1)};
            int batch_correct = model.correct;
            resnet_backward(&model);
            train_clip_and_step(&r, P, &parts, &cfg.setup, cfg.grad_stats ? &stats : NULL, lr);
            if (train_diverged(&r, diverged_loss)) {
                runlog_end_line(&lg);
                train_report_divergence(&r, step + 1, epoch, diverged_loss, "10 ln 10 (classes)");
                res->status = EXIT_NONFINITE;
                res->diverged_step = step + 1;
                break;
            }
            double dt = now_seconds() - ts;
            train_time += dt;
            train_images += N;
            step++;
            clipped_steps += r.factor < 1.0f;
            loss_sum += r.loss * N, correct += batch_correct, seen += N;
            runlog_row(&lg, "%ld,%d,%g,%.6f,%.4f,%.6g,%d,%.1f,%.6g,%.6g,%.6f,%.6f", step, epoch, lr, r.loss,
                       (double)batch_correct / N, r.norm, r.factor < 1.0f, N / dt, r.factor, r.norm * r.factor,
                       r.cos_prev, r.cos_update);
            char metrics[128];
            snprintf(metrics, sizeof metrics, "loss %.4f  acc %.1f%%  %.0f img/s", loss_sum / seen,
                     100.0 * correct / seen, train_images / train_time);
            runlog_progress_line(&lg, epoch, cfg.epochs, b + 1, epoch_steps, metrics,
                                 (total_steps - step) * (train_time / step), b + 1 == epoch_steps);
        }
        runlog_end_line(&lg);
        if (res->status) break;
        res->train_loss = loss_sum / seen, res->train_acc = (double)correct / seen;
        double te = now_seconds();
        evaluate(&model, &data.test, &data.stats, N, x, y, idx, &res->test_loss, &res->test_acc);
        csv_row(&epochs_csv, "%d,%ld,%g,%.6f,%.6f,%.6f,%.6f,%.2f", epoch, step, last_lr, res->train_loss,
                res->train_acc, res->test_loss, res->test_acc, now_seconds() - t0);
        csv_flush(&epochs_csv);
        printf("epoch %d  lr %g  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  (%.0f img/s training, "
               "eval %.1fs, %.0fs elapsed)\n", epoch, last_lr, res->train_loss, 100 * res->train_acc,
               res->test_loss, 100 * res->test_acc, train_images / train_time, now_seconds() - te,
               now_seconds() - t0);
        write_summary(&cfg, resnet_param_count(&model), step, res, now_seconds() - t0, train_images / train_time,
                      clipped_steps, "running");
    }
    if (res->status) res->test_loss = res->test_acc = NAN; // the last evaluation is not of the final parameters
    if (exact && !res->status && cifar_config_stats_due(&cfg, epoch - 1)) cifar_gradstats_run(&gs, &model, epoch - 1);
    double seconds = now_seconds() - t0, img_s = train_time > 0 ? train_images / train_time : NAN;
    printf("%s: %ld steps, test loss %.4f, test accuracy %.2f%%, %.0f s, %.0f training img/s, clipped %.1f%% of "
           "steps\n", res->status ? "diverged" : "done", step, res->test_loss, 100 * res->test_acc, seconds, img_s,
           step ? 100.0 * clipped_steps / step : 0);
    runlog_close(&lg);
    csv_close(&epochs_csv);
    write_summary(&cfg, resnet_param_count(&model), step, res, seconds, img_s, clipped_steps,
                  res->status ? "diverged" : "done");
    res->steps = step, res->seconds = seconds, res->train_seconds = train_time;
    res->clip_rate = step ? (double)clipped_steps / step : NAN;
    if (exact) res->mean_cos = gs.last_mean_cos;
    printf("wrote %s/steps.csv, epochs.csv%s and summary.json\n", cfg.out,
           exact ? ", gradstats.csv, gradstats_batches.csv" : "");
    if (exact) cifar_gradstats_close(&gs);

    free(x), free(y), free(idx), free(dir);
    sampler_free(&sampler);
    if (cfg.grad_stats) gradstats_free(&stats);
    train_parts_free(&parts);
    resnet_free(&model);
    cifar_free(&data);
    return res->status;
}

int cmd_train_cifar(int argc, char **argv) {
    CifarRunConfig cfg;
    cifar_config_parse(&cfg, argc, argv, "nnopt train-cifar");
    CifarRunResult res;
    return cifar_train(cfg, &res);
}
