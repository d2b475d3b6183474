// `nnopt train-lm`: trains the LSTM language model on PTB with truncated BPTT in corpus order.
// Per step: zero grads -> forward (fused softmax-CE gives dlogits) -> backward -> clip -> optimizer step -> log.
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lm_config.h"
#include "lm_gradstats.h"
#include "runlog.h"
#include "lm_run.h"
#include "plots.h"
#include "resume.h"
#include "train_common.h"
#include "train_lm.h"
#include "data/ptb.h"
#include "data/sampler.h"
#include "models/lstm_lm.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "optim/gradstats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Mean loss per token over a split (or its first `limit` tokens), from a zero state, dropout off.
static double evaluate(LstmLM *m, const int *ids, long n, long limit, int N, int T, int *x, int *y) {
    if (limit > 0 && limit < n) n = limit;
    PtbStreams s;
    ptb_streams_init(&s, ids, n, N, T);
    lm_reset_state(m);
    double loss = 0;
    long tokens = 0;
    for (long w = 0; w < s.nwindows; w++) {
        int Tw = ptb_window(&s, w, x, y);
        loss += lm_forward(m, x, y, Tw, N, 0);
        tokens += (long)Tw * N;
    }
    lm_reset_state(m);
    return loss / (double)tokens;
}

// One step of truncated BPTT: zero grads, forward (fused softmax-CE leaves dlogits), backward, then the clip, step
// and online statistics every trainer shares (train_clip_and_step).
static StepResult train_step(LstmLM *m, TrainParts *parts, const TrainSetup *setup, GradStats *stats, const int *x,
                             const int *y, int T, int N, float lr, Rng *drop_rng) {
    Params *P = &m->params;
    params_zero_grad(P);
    lm_draw_masks(m, T, N, drop_rng);
    StepResult r = {.loss = lm_forward(m, x, y, T, N, 1) / ((double)T * N)};
    lm_backward(m, x, T, N);
    train_clip_and_step(&r, P, parts, setup, stats, lr);
    return r;
}

static void write_summary(const char *out, const LmRunConfig *cfg, long params, long steps, double train_loss,
                          double valid_ppl, double test_ppl, double seconds, double train_tok_s, long clipped,
                          const char *status) {
    char cfgjson[2048], buf[4096], lbuf[32], vbuf[32], tbuf[32], sbuf[32];
    lm_config_json(cfgjson, sizeof cfgjson, cfg);
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"status\": \"%s\",\n  \"config\": %s,\n  \"parameters\": %ld,\n  \"steps\": %ld,\n"
                     "  \"train_loss_last_epoch\": %s,\n  \"valid_ppl\": %s,\n  \"test_ppl\": %s,\n"
                     "  \"clipped_steps\": %ld,\n  \"wall_seconds\": %.2f,\n  \"train_tokens_per_s\": %s\n}\n",
                     status, cfgjson, params, steps, json_num(lbuf, sizeof lbuf, 6, train_loss),
                     json_num(vbuf, sizeof vbuf, 4, valid_ppl), json_num(tbuf, sizeof tbuf, 4, test_ppl), clipped,
                     seconds, json_num(sbuf, sizeof sbuf, 1, train_tok_s));
    char *path = nn_join_path(out, "summary.json");
    nn_write_atomic(path, buf, (size_t)n);
    free(path);
}

static void save(const LmRun *run, const LmRunConfig *cfg, const char *path, const char *argv_text, size_t argv_len,
                 double t0) {
    LmRun r = *run;
    r.p.elapsed += now_seconds() - t0; // elapsed counts the wall time of every process of the run
    lm_checkpoint_save(path, &r, cfg, argv_text, argv_len);
}

int lm_train(LmRunConfig cfg, LmRunResult *res, const char *argv_text, size_t argv_len) {
    lm_config_print(stdout, &cfg);
    *res = (LmRunResult){.valid_ppl = NAN, .test_ppl = NAN, .train_loss = NAN, .mean_cos = NAN};
    nn_set_threads(cfg.threads);

    char *dir = data_find_dir(cfg.data, "ptb/ptb.train.txt.gz");
    PtbCorpus corpus;
    ptb_load(&corpus, dir);
    printf("data %s/ptb: vocab %d, tokens train %ld valid %ld test %ld\n", dir, corpus.vocab.size,
           corpus.len[PTB_TRAIN], corpus.len[PTB_VALID], corpus.len[PTB_TEST]);

    int N = cfg.batch, T = cfg.bptt, maxN = N > cfg.eval_batch ? N : cfg.eval_batch;
    LmConfig mc = lm_config_model(&cfg, corpus.vocab.size, maxN, "--batch, --eval-batch, --bptt or --hidden");
    LstmLM model;
    lm_init(&model, &mc);
    Rng init_rng, drop_rng;
    rng_seed(&init_rng, cfg.seed);
    rng_seed(&drop_rng, cfg.seed ^ 0x64726f706f7574ull); // a separate stream for dropout masks
    lm_init_uniform(&model, cfg.init_range, &init_rng);
    Params *P = &model.params;
    printf("model: %d x %d LSTM, vocab %d, %ld parameters%s\n", cfg.layers, cfg.hidden, mc.vocab,
           lm_param_count(&model), cfg.tied ? " (tied embeddings)" : "");

    long train_len = corpus.len[PTB_TRAIN];
    if (cfg.train_tokens > 0 && cfg.train_tokens < train_len) {
        train_len = cfg.train_tokens;
        printf("note: training on the first %ld tokens of the training split only (--train-tokens)\n", train_len);
    }
    PtbStreams train;
    ptb_streams_init(&train, corpus.split[PTB_TRAIN], train_len, N, T);
    long total_steps = train.nwindows * cfg.epochs;
    if (cfg.max_steps > 0 && cfg.max_steps < total_steps) total_steps = cfg.max_steps;
    TrainParts parts;
    train_parts_init(&parts, &cfg.setup, total_steps);
    Sampler sampler;
    sampler_init(&sampler, parts.order, train.nwindows, cfg.seed ^ 0x6f72646572ull); // its own stream: "order"
    GradStats stats;
    if (cfg.grad_stats) gradstats_init(&stats, P->n);
    int *x = nn_malloc((size_t)T * maxN * sizeof(int)), *y = nn_malloc((size_t)T * maxN * sizeof(int));
    if (cfg.eval_tokens > 0)
        printf("note: valid and test perplexities are measured on the first %ld tokens of each split only "
               "(--eval-tokens)\n", cfg.eval_tokens);

    LmRun run = {.model = &model, .parts = &parts, .drop_rng = &drop_rng, .sampler = &sampler,
                 .stats = cfg.grad_stats ? &stats : NULL, .batch = N,
                 .p = {.epoch = 1, .valid_ppl = NAN, .epoch_loss = NAN, .last_mean_cos = NAN}};
    LmProgress *p = &run.p;
    long csv_len[LM_NCSV] = {-1, -1, -1, -1};
    if (cfg.resume) {
        lm_checkpoint_load(cfg.resume, &run, &cfg, csv_len);
        printf("resumed from %s: epoch %d, %ld steps done\n", cfg.resume, p->epoch, p->step);
    }
    char *ckpt_path = nn_join_path(cfg.out, "checkpoint.nnck");
    RunLog lg;
    runlog_open_at(&lg, cfg.out,
                   "step,epoch,lr,loss,grad_norm,clipped,tokens_per_s,clip_factor,grad_norm_clipped,cos_prev,"
                   "cos_update", csv_len[LM_CSV_STEPS]);
    int exact = cfg.stats_all || cfg.nstats_epochs;
    LmGradStats gs;
    if (exact) lm_gradstats_open(&gs, &cfg, corpus.vocab.size, corpus.split[PTB_TRAIN], train_len,
                                 csv_len + LM_CSV_GRADSTATS);
    CsvOut epochs_csv;
    csv_open_at(&epochs_csv, cfg.out, "epochs.csv", "epoch,step,lr,train_loss,valid_loss,valid_ppl,seconds",
                csv_len[LM_CSV_EPOCHS]);
    run.csv[LM_CSV_STEPS] = &lg.csv, run.csv[LM_CSV_EPOCHS] = &epochs_csv;
    if (exact) run.csv[LM_CSV_GRADSTATS] = &gs.epochs, run.csv[LM_CSV_GRADSTATS_BATCHES] = &gs.batches;
    stop_signals_catch(); // SIGINT/SIGTERM: finish the step, write a checkpoint, stop

    double t0 = now_seconds();
    double diverged_loss = train_loss_limit(corpus.vocab.size);
    for (; p->epoch <= cfg.epochs && p->step < total_steps && !res->status; p->epoch++, p->w = 0) {
        // the steps this epoch runs: all its windows, or what --max-steps leaves
        long epoch_steps = total_steps - (p->step - p->w) < train.nwindows ? total_steps - (p->step - p->w)
                                                                          : train.nwindows;
        if (p->w == 0) { // a fresh epoch (a resumed one continues with the restored state, order and sums)
            if (exact && lm_config_stats_due(&cfg, p->epoch - 1)) {
                lm_gradstats_run(&gs, &model, p->epoch - 1);
                p->last_mean_cos = gs.last_mean_cos;
            }
            lm_reset_state(&model);
            sampler_epoch(&sampler);
            p->loss_sum = 0, p->loss_tokens = 0;
        }
        for (; p->w < epoch_steps; p->w++) {
            double ts = now_seconds();
            float lr = p->last_lr = schedule_lr(&parts.sched, p->epoch, p->step);
            // cyclic reads the windows in corpus order and carries the state; the other orders jump, so the state
            // carried from the previous window would belong to another place in the text: they start from zero
            int Tw = ptb_window(&train, sampler_next(&sampler, p->w), x, y);
            if (parts.order != ORDER_CYCLIC) lm_reset_state(&model);
            long rows = (long)Tw * N;
            StepResult r = train_step(&model, &parts, &cfg.setup, run.stats, x, y, Tw, N, lr, &drop_rng);
            if (train_diverged(&r, diverged_loss)) { // nothing of this step is saved: the last checkpoint stays
                runlog_end_line(&lg);
                train_report_divergence(&r, p->step + 1, p->epoch, diverged_loss, "10 ln V", ckpt_path);
                res->status = EXIT_NONFINITE;
                res->diverged_step = p->step + 1;
                break;
            }
            double dt = now_seconds() - ts;
            p->train_time += dt;
            p->train_tokens += rows;
            p->step++;
            p->clipped_steps += r.factor < 1.0f;
            p->loss_sum += r.loss * rows;
            p->loss_tokens += rows;
            runlog_row(&lg, "%ld,%d,%g,%.6f,%.6g,%d,%.1f,%.6g,%.6g,%.6f,%.6f", p->step, p->epoch, lr, r.loss, r.norm,
                       r.factor < 1.0f, rows / dt, r.factor, r.norm * r.factor, r.cos_prev, r.cos_update);
            runlog_progress(&lg, p->epoch, cfg.epochs, p->w + 1, epoch_steps, p->loss_sum / p->loss_tokens,
                            p->train_tokens / p->train_time, (total_steps - p->step) * (p->train_time / p->step),
                            p->w + 1 == epoch_steps);
            int stop = stop_signals_pending();
            if (argv_text && (stop || (cfg.save_every > 0 && p->step % cfg.save_every == 0))) {
                p->w++; // the checkpoint resumes after this window
                save(&run, &cfg, ckpt_path, argv_text, argv_len, t0);
                p->w--;
            }
            if (stop) {
                runlog_end_line(&lg);
                stop_signal_report(stop, p->step, "train-lm", argv_text ? ckpt_path : NULL);
                res->status = 128 + stop;
                break;
            }
        }
        runlog_end_line(&lg);
        if (res->status) break;
        p->epoch_loss = p->loss_sum / p->loss_tokens;
        double te = now_seconds();
        double vloss = evaluate(&model, corpus.split[PTB_VALID], corpus.len[PTB_VALID], cfg.eval_tokens,
                                cfg.eval_batch, T, x, y);
        p->valid_ppl = exp(vloss);
        schedule_epoch_end(&parts.sched, vloss);
        csv_row(&epochs_csv, "%d,%ld,%g,%.6f,%.6f,%.4f,%.2f", p->epoch, p->step, p->last_lr, p->epoch_loss, vloss,
                p->valid_ppl, p->elapsed + now_seconds() - t0);
        csv_flush(&epochs_csv);
        printf("epoch %d  lr %g  train ppl %.2f  valid ppl %.2f  (%.0f tok/s training, eval %.1fs, %.0fs elapsed)\n",
               p->epoch, p->last_lr, exp(p->epoch_loss), p->valid_ppl, p->train_tokens / p->train_time,
               now_seconds() - te, p->elapsed + now_seconds() - t0);
        fflush(stdout);
        write_summary(cfg.out, &cfg, lm_param_count(&model), p->step, p->epoch_loss, p->valid_ppl, NAN,
                      p->elapsed + now_seconds() - t0, p->train_tokens / p->train_time, p->clipped_steps, "running");
        if (cfg.save_epochs && argv_text) { // resumes at the start of the next epoch
            p->epoch++, p->w = 0;
            save(&run, &cfg, ckpt_path, argv_text, argv_len, t0);
            p->epoch--;
        }
    }
    stop_signals_restore();
    if (!res->status && argv_text && (cfg.save_every > 0 || cfg.save_epochs) && !(cfg.save_epochs && p->w == 0))
        save(&run, &cfg, ckpt_path, argv_text, argv_len, t0); // the final state (unless the epoch end just saved it)
    if (exact && !res->status && lm_config_stats_due(&cfg, p->epoch - 1)) {
        lm_gradstats_run(&gs, &model, p->epoch - 1);
        p->last_mean_cos = gs.last_mean_cos;
    }
    double tloss = NAN;
    if (!res->status)
        tloss = evaluate(&model, corpus.split[PTB_TEST], corpus.len[PTB_TEST], cfg.eval_tokens, cfg.eval_batch, T,
                         x, y);
    double seconds = p->elapsed + now_seconds() - t0;
    const char *status = res->status == EXIT_NONFINITE ? "diverged" : res->status ? "stopped" : "done";
    printf("%s: %ld steps, valid ppl %.2f, test ppl %.2f, %.0f s, %.0f training tok/s, clipped %.1f%% of steps\n",
           status, p->step, p->valid_ppl, exp(tloss), seconds, p->train_tokens / p->train_time,
           p->step ? 100.0 * p->clipped_steps / p->step : 0);
    // a stopped run leaves its CSVs as .partial: the resumed run continues them
    if (res->status < 128) {
        runlog_close(&lg);
        csv_close(&epochs_csv);
    } else {
        csv_close_partial(&lg.csv);
        csv_close_partial(&epochs_csv);
    }
    write_summary(cfg.out, &cfg, lm_param_count(&model), p->step, p->epoch_loss, p->valid_ppl, exp(tloss), seconds,
                  p->train_tokens / p->train_time, p->clipped_steps, status);
    res->steps = p->step, res->train_loss = p->epoch_loss, res->valid_ppl = p->valid_ppl, res->test_ppl = exp(tloss);
    res->seconds = seconds, res->train_seconds = p->train_time;
    res->clip_rate = p->step ? (double)p->clipped_steps / p->step : NAN;
    res->mean_cos = p->last_mean_cos;
    if (res->status < 128)
        printf("wrote %s/steps.csv, epochs.csv%s and summary.json\n", cfg.out,
               exact ? ", gradstats.csv, gradstats_batches.csv" : "");
    if (exact) lm_gradstats_close(&gs, res->status < 128);

    free(x), free(y), free(dir), free(ckpt_path);
    sampler_free(&sampler);
    if (cfg.grad_stats) gradstats_free(&stats);
    train_parts_free(&parts);
    lm_free(&model);
    ptb_free(&corpus);
    return res->status;
}

static void parse_lm(void *cfg, int argc, char **argv, const char *prog) { lm_config_parse(cfg, argc, argv, prog); }

int cmd_train_lm(int argc, char **argv) {
    LmRunConfig cfg;
    ResumeArgs args;
    resume_parse(&args, &cfg, parse_lm, argc, argv, "nnopt train-lm", "train-lm");
    LmRunResult res;
    int status = lm_train(cfg, &res, args.text, args.len);
    resume_args_free(&args);
    return status;
}

// `nnopt gradstats`: a training run that measures the exact statistics, by default after every epoch; with a list
// of epochs it trains only as far as the last of them. The flags that implies are added to the command line its
// checkpoints save, so that `nnopt gradstats --resume` and `nnopt train-lm --resume` both continue it exactly.
static int last_stats_epoch(const LmRunConfig *c) {
    int last = 0;
    for (int i = 0; i < c->nstats_epochs; i++) last = c->stats_epochs[i] > last ? c->stats_epochs[i] : last;
    return last;
}

int cmd_gradstats(int argc, char **argv) {
    LmRunConfig cfg;
    char **all = nn_malloc((size_t)(argc + 2) * sizeof(char *)), flag[32];
    memcpy(all, argv, (size_t)argc * sizeof(char *));
    int n = argc, resuming = 0;
    for (int i = 1; i < argc; i++) resuming |= strncmp(argv[i], "--resume", 8) == 0;
    if (!resuming) { // a resumed run's saved command line has these flags already
        all[n] = "--epochs=100000"; // a probe: --stats-epochs may name epochs beyond the preset's, which we set
        lm_config_parse(&cfg, n + 1, all, "nnopt gradstats");
        if (!cfg.nstats_epochs && !cfg.stats_all) all[n++] = "--stats-epochs=all";
        else if (last_stats_epoch(&cfg) > 0) snprintf(flag, sizeof flag, "--epochs=%d", last_stats_epoch(&cfg)),
                                             all[n++] = flag;
    }
    ResumeArgs args;
    resume_parse(&args, &cfg, parse_lm, n, all, "nnopt gradstats", "train-lm");
    if (cfg.nstats_epochs && last_stats_epoch(&cfg) == 0) cfg.epochs = 0; // measure at the start, train nothing
    LmRunResult res;
    int status = lm_train(cfg, &res, args.text, args.len);
    if (status) {
        resume_args_free(&args), free(all);
        return status;
    }
    FILE *f = plot_open(cfg.out, "gradstats.gp", "nnopt gradstats");
    char label[256];
    snprintf(label, sizeof label, "%s, %s lr %g clip %g", cfg.preset, cfg.setup.optim, cfg.setup.lr,
             cfg.setup.clip);
    plot_gradstats(f, "gradstats.csv", "", label, cfg.batch_sizes, cfg.nbatch_sizes);
    plot_close(f, cfg.out, "gradstats.gp");
    if (plot_run(cfg.out, "gradstats.gp")) printf("wrote %s/mean_cos.png and norm_ratio.png\n", cfg.out);
    resume_args_free(&args), free(all);
    return 0;
}
