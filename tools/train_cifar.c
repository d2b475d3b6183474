// `nnopt train-cifar`: trains a CIFAR ResNet (models/resnet.h) on CIFAR-10.
// Per step: sampler -> augmented batch -> zero grads -> forward (batch statistics; fused softmax-CE gives dlogits)
// -> backward -> clip -> optimizer step -> log. After every epoch: the test split with the running statistics.
// The loop's state lives in a CifarRun (tools/cifar_run.h), which checkpoints save and --resume restores exactly;
// SIGINT/SIGTERM finish the step, save, and exit with 128 + the signal (as train-lm).
#define _POSIX_C_SOURCE 200809L
#include "cifar_config.h"
#include "cifar_gradstats.h"
#include "cifar_run.h"
#include "cli.h"
#include "resume.h"
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
    char cfgjson[3072], buf[4096], a[32], b[32], c[32], d[32], e[32], f[32];
    cifar_config_json(cfgjson, sizeof cfgjson, cfg);
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"status\": \"%s\",\n  \"config\": %s,\n  \"parameters\": %ld,\n  \"steps\": %ld,\n"
                     "  \"train_loss_last_epoch\": %s,\n  \"train_acc_last_epoch\": %s,\n  \"test_loss\": %s,\n"
                     "  \"test_acc\": %s,\n  \"test_acc_first1000\": %s,\n  \"clipped_steps\": %ld,\n"
                     "  \"wall_seconds\": %.2f,\n  \"train_images_per_s\": %s\n}\n",
                     status, cfgjson, params, steps, json_num(a, sizeof a, 6, r->train_loss),
                     json_num(b, sizeof b, 6, r->train_acc), json_num(c, sizeof c, 6, r->test_loss),
                     json_num(d, sizeof d, 6, r->test_acc), json_num(f, sizeof f, 6, r->test_acc_first1000), clipped,
                     seconds, json_num(e, sizeof e, 1, img_s));
    char *path = nn_join_path(cfg->out, "summary.json");
    nn_write_atomic(path, buf, (size_t)n);
    free(path);
}

static void save(const CifarRun *run, const CifarRunConfig *cfg, const char *path, const char *argv_text,
                 size_t argv_len, double t0) {
    CifarRun r = *run;
    r.p.elapsed += now_seconds() - t0; // elapsed counts the wall time of every process of the run
    cifar_checkpoint_save(path, &r, cfg, argv_text, argv_len);
}

int cifar_train(CifarRunConfig cfg, CifarRunResult *res, const char *argv_text, size_t argv_len) {
    cifar_config_print(stdout, &cfg);
    *res = (CifarRunResult){.train_loss = NAN, .train_acc = NAN, .test_loss = NAN, .test_acc = NAN,
                            .test_acc_first1000 = NAN, .mean_cos = NAN};
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

    CifarRun run = {.model = &model, .parts = &parts, .aug_rng = &aug_rng, .sampler = &sampler,
                    .stats = cfg.grad_stats ? &stats : NULL, .batch = N,
                    .p = {.epoch = 1, .train_loss = NAN, .train_acc = NAN, .test_loss = NAN, .test_acc = NAN,
                          .last_mean_cos = NAN}};
    CifarProgress *p = &run.p;
    long csv_len[CIFAR_NCSV] = {-1, -1, -1, -1};
    if (cfg.resume) {
        cifar_checkpoint_load(cfg.resume, &run, &cfg, csv_len);
        printf("resumed from %s: epoch %d, %ld steps done\n", cfg.resume, p->epoch, p->step);
    }
    char *ckpt_path = nn_join_path(cfg.out, "checkpoint.nnck");
    RunLog lg;
    runlog_open_at(&lg, cfg.out, "step,epoch,lr,loss,batch_acc,grad_norm,clipped,images_per_s,clip_factor,"
                                 "grad_norm_clipped,cos_prev,cos_update", csv_len[CIFAR_CSV_STEPS]);
    CifarGradStats gs;
    if (exact) cifar_gradstats_open(&gs, &cfg, &data.train, &data.stats, &model, csv_len + CIFAR_CSV_GRADSTATS);
    CsvOut epochs_csv;
    csv_open_at(&epochs_csv, cfg.out, "epochs.csv", "epoch,step,lr,train_loss,train_acc,test_loss,test_acc,seconds",
                csv_len[CIFAR_CSV_EPOCHS]);
    run.csv[CIFAR_CSV_STEPS] = &lg.csv, run.csv[CIFAR_CSV_EPOCHS] = &epochs_csv;
    if (exact) run.csv[CIFAR_CSV_GRADSTATS] = &gs.epochs, run.csv[CIFAR_CSV_GRADSTATS_BATCHES] = &gs.batches;
    stop_signals_catch();

    double t0 = now_seconds();
    double diverged_loss = train_loss_limit(CIFAR_CLASSES);
    for (; p->epoch <= cfg.epochs && p->step < total_steps && !res->status; p->epoch++, p->b = 0) {
        // the steps this epoch runs: all its batches, or what --max-steps leaves
        long epoch_steps = total_steps - (p->step - p->b) < batches ? total_steps - (p->step - p->b) : batches;
        if (p->b == 0) { // a fresh epoch (a resumed one continues with the restored order and sums)
            if (exact && cifar_config_stats_due(&cfg, p->epoch - 1)) {
                cifar_gradstats_run(&gs, &model, p->epoch - 1);
                p->last_mean_cos = gs.last_mean_cos;
            }
            sampler_epoch(&sampler);
            p->loss_sum = 0, p->correct = 0, p->seen = 0;
        }
        for (; p->b < epoch_steps; p->b++) {
            double ts = now_seconds();
            float lr = p->last_lr = schedule_lr(&parts.sched, p->epoch, p->step);
            cifar_batch_indices(&sampler, p->b, N, idx);
            cifar_batch(&data.train, &data.stats, idx, N, cfg.augment ? &aug_rng : NULL, x, y);
            params_zero_grad(P);
            StepResult r = {.loss = resnet_forward(&model, x, y, N, 1)};
            int batch_correct = model.correct;
            resnet_backward(&model);
            train_clip_and_step(&r, P, &parts, &cfg.setup, run.stats, lr);
            if (train_diverged(&r, diverged_loss)) { // nothing of this step is saved: the last checkpoint stays
                runlog_end_line(&lg);
                train_report_divergence(&r, p->step + 1, p->epoch, diverged_loss, "10 ln 10 (classes)",
                                        argv_text ? ckpt_path : NULL);
                res->status = EXIT_NONFINITE;
                res->diverged_step = p->step + 1;
                break;
            }
            double dt = now_seconds() - ts;
            p->train_time += dt;
            p->train_images += N;
            p->step++;
            p->clipped_steps += r.factor < 1.0f;
            p->loss_sum += r.loss * N, p->correct += batch_correct, p->seen += N;
            runlog_row(&lg, "%ld,%d,%g,%.6f,%.4f,%.6g,%d,%.1f,%.6g,%.6g,%.6f,%.6f", p->step, p->epoch, lr, r.loss,
                       (double)batch_correct / N, r.norm, r.factor < 1.0f, N / dt, r.factor, r.norm * r.factor,
                       r.cos_prev, r.cos_update);
            char metrics[128];
            snprintf(metrics, sizeof metrics, "loss %.4f  acc %.1f%%  %.0f img/s", p->loss_sum / p->seen,
                     100.0 * p->correct / p->seen, p->train_images / p->train_time);
            runlog_progress_line(&lg, p->epoch, cfg.epochs, p->b + 1, epoch_steps, metrics,
                                 (total_steps - p->step) * (p->train_time / p->step), p->b + 1 == epoch_steps);
            int stop = stop_signals_pending();
            if (argv_text && (stop || (cfg.save_every > 0 && p->step % cfg.save_every == 0))) {
                p->b++; // the checkpoint resumes after this batch
                save(&run, &cfg, ckpt_path, argv_text, argv_len, t0);
                p->b--;
            }
            if (stop) {
                runlog_end_line(&lg);
                stop_signal_report(stop, p->step, "train-cifar", argv_text ? ckpt_path : NULL);
                res->status = 128 + stop;
                break;
            }
        }
        runlog_end_line(&lg);
        if (res->status) break;
        p->train_loss = p->loss_sum / p->seen, p->train_acc = (double)p->correct / p->seen;
        double te = now_seconds();
        evaluate(&model, &data.test, &data.stats, N, x, y, idx, &p->test_loss, &p->test_acc);
        csv_row(&epochs_csv, "%d,%ld,%g,%.6f,%.6f,%.6f,%.6f,%.2f", p->epoch, p->step, p->last_lr, p->train_loss,
                p->train_acc, p->test_loss, p->test_acc, p->elapsed + now_seconds() - t0);
        csv_flush(&epochs_csv);
        printf("epoch %d  lr %g  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  (%.0f img/s training, "
               "eval %.1fs, %.0fs elapsed)\n", p->epoch, p->last_lr, p->train_loss, 100 * p->train_acc,
               p->test_loss, 100 * p->test_acc, p->train_images / p->train_time, now_seconds() - te,
               p->elapsed + now_seconds() - t0);
        res->train_loss = p->train_loss, res->train_acc = p->train_acc;
        res->test_loss = p->test_loss, res->test_acc = p->test_acc;
        write_summary(&cfg, resnet_param_count(&model), p->step, res, p->elapsed + now_seconds() - t0,
                      p->train_images / p->train_time, p->clipped_steps, "running");
        if (cfg.save_epochs && argv_text) { // resumes at the start of the next epoch
            p->epoch++, p->b = 0;
            save(&run, &cfg, ckpt_path, argv_text, argv_len, t0);
            p->epoch--;
        }
    }
    stop_signals_restore();
    if (!res->status && argv_text && (cfg.save_every > 0 || cfg.save_epochs) && !(cfg.save_epochs && p->b == 0))
        save(&run, &cfg, ckpt_path, argv_text, argv_len, t0); // the final state (unless the epoch end just saved it)
    res->train_loss = p->train_loss, res->train_acc = p->train_acc;
    res->test_loss = p->test_loss, res->test_acc = p->test_acc;
    if (res->status) res->test_loss = res->test_acc = NAN; // the last evaluation is not of the final parameters
    res->test_acc_first1000 = NAN;
    if (!res->status && data.test.n > 1000) { // the final parameters on the test images that are exact everywhere
        CifarSet first = data.test;
        first.n = 1000;
        double loss;
        evaluate(&model, &first, &data.stats, N, x, y, idx, &loss, &res->test_acc_first1000);
    }
    if (exact && !res->status && cifar_config_stats_due(&cfg, p->epoch - 1)) {
        cifar_gradstats_run(&gs, &model, p->epoch - 1);
        p->last_mean_cos = gs.last_mean_cos;
    }
    double seconds = p->elapsed + now_seconds() - t0;
    double img_s = p->train_time > 0 ? p->train_images / p->train_time : NAN;
    const char *status = res->status == EXIT_NONFINITE ? "diverged" : res->status ? "stopped" : "done";
    printf("%s: %ld steps, test loss %.4f, test accuracy %.2f%% (first 1000 test images: %.2f%%), %.0f s, %.0f "
           "training img/s, clipped %.1f%% of steps\n", status, p->step, res->test_loss, 100 * res->test_acc,
           100 * res->test_acc_first1000, seconds, img_s, p->step ? 100.0 * p->clipped_steps / p->step : 0);
    // a stopped run leaves its CSVs as .partial: the resumed run continues them
    if (res->status < 128) {
        runlog_close(&lg);
        csv_close(&epochs_csv);
    } else {
        csv_close_partial(&lg.csv);
        csv_close_partial(&epochs_csv);
    }
    write_summary(&cfg, resnet_param_count(&model), p->step, res, seconds, img_s, p->clipped_steps, status);
    res->steps = p->step, res->seconds = seconds, res->train_seconds = p->train_time;
    res->clip_rate = p->step ? (double)p->clipped_steps / p->step : NAN;
    res->mean_cos = p->last_mean_cos;
    if (res->status < 128)
        printf("wrote %s/steps.csv, epochs.csv%s and summary.json\n", cfg.out,
               exact ? ", gradstats.csv, gradstats_batches.csv" : "");
    if (exact) cifar_gradstats_close(&gs, res->status < 128);

    free(x), free(y), free(idx), free(dir), free(ckpt_path);
    sampler_free(&sampler);
    if (cfg.grad_stats) gradstats_free(&stats);
    train_parts_free(&parts);
    resnet_free(&model);
    cifar_free(&data);
    return res->status;
}

static void parse_config(void *cfg, int argc, char **argv, const char *prog) {
    cifar_config_parse(cfg, argc, argv, prog);
}

int cmd_train_cifar(int argc, char **argv) {
    CifarRunConfig cfg;
    ResumeArgs args;
    resume_parse(&args, &cfg, parse_config, argc, argv, "nnopt train-cifar", "train-cifar");
    CifarRunResult res;
    int status = cifar_train(cfg, &res, args.text, args.len);
    resume_args_free(&args);
    return status;
}
