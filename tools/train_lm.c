// `nnopt train-lm`: trains the LSTM language model on PTB with truncated BPTT in corpus order.
// Per step: zero grads -> forward (fused softmax-CE gives dlogits) -> backward -> clip -> optimizer step -> log.
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "lm_config.h"
#include "lm_gradstats.h"
#include "runlog.h"
#include "train_lm.h"
#include "data/ptb.h"
#include "data/sampler.h"
#include "models/lstm_lm.h"
#include "nn/blas.h"
#include "nn/check.h"
#include "optim/clip.h"
#include "optim/gradstats.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

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

typedef struct {
    double loss, norm, cos_prev, cos_update; // mean loss, pre-clip norm, the online cosines (NaN when off)
    float factor;                            // clip factor ||clipped g|| / ||g||
} StepResult;

// One step of truncated BPTT: zero grads, forward (fused softmax-CE leaves dlogits), backward, clip, and, unless
// the loss or gradient is not finite, the optimizer step, with the online statistics around it (stats may be NULL).
static StepResult train_step(LstmLM *m, Optimizer *opt, GradStats *stats, const int *x, const int *y, int T, int N,
                             ClipMode mode, float clip, float lr, Rng *drop_rng) {
    Params *P = &m->params;
    StepResult r = {.cos_prev = NAN, .cos_update = NAN};
    params_zero_grad(P);
    lm_draw_masks(m, T, N, drop_rng);
    r.loss = lm_forward(m, x, y, T, N, 1) / ((double)T * N);
    lm_backward(m, x, T, N);
    r.factor = optim_clip(mode, P->grad, P->n, P->views, P->nviews, clip, &r.norm);
    if (!isfinite(r.loss) || !isfinite(r.norm)) return r;
    if (stats) r.cos_prev = gradstats_before_step(stats, P->grad, P->param);
    opt->step(opt, P->param, P->grad, P->n, P->views, P->nviews, lr);
    if (stats) r.cos_update = gradstats_after_step(stats, P->grad, P->param);
    return r;
}

static void write_summary(const char *out, const LmRunConfig *cfg, long params, long steps, double train_loss,
                          double valid_ppl, double test_ppl, double seconds, double train_tok_s, long clipped,
                          const char *status) {
    char cfgjson[2048], buf[4096];
    lm_config_json(cfgjson, sizeof cfgjson, cfg);
    // JSON has no NaN: a missing perplexity is null
    char vbuf[32] = "null", tbuf[32] = "null", lbuf[32] = "null", sbuf[32] = "null";
    if (isfinite(train_loss)) snprintf(lbuf, sizeof lbuf, "%.6f", train_loss);
    if (isfinite(train_tok_s)) snprintf(sbuf, sizeof sbuf, "%.1f", train_tok_s);
    if (isfinite(valid_ppl)) snprintf(vbuf, sizeof vbuf, "%.4f", valid_ppl);
    if (isfinite(test_ppl)) snprintf(tbuf, sizeof tbuf, "%.4f", test_ppl);
    int n = snprintf(buf, sizeof buf,
                     "{\n  \"status\": \"%s\",\n  \"config\": %s,\n  \"parameters\": %ld,\n  \"steps\": %ld,\n"
                     "  \"train_loss_last_epoch\": %s,\n  \"valid_ppl\": %s,\n  \"test_ppl\": %s,\n"
                     "  \"clipped_steps\": %ld,\n  \"wall_seconds\": %.2f,\n  \"train_tokens_per_s\": %s\n}\n",
                     status, cfgjson, params, steps, lbuf, vbuf, tbuf, clipped, seconds, sbuf);
    char *path = nn_join_path(out, "summary.json");
    nn_write_atomic(path, buf, (size_t)n);
    free(path);
}

int lm_train(LmRunConfig cfg, LmRunResult *res) {
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
    Optimizer *opt = optim_create(cfg.optim, cfg.optim_args);
    Params *P = &model.params;
    ClipMode clip_mode = optim_clip_mode(cfg.clip_mode);
    Schedule sched = {.kind = schedule_kind(cfg.schedule), .lr = cfg.lr, .decay_start = cfg.decay_start,
                      .decay = cfg.decay, .gamma = cfg.gamma, .warmup = cfg.warmup, .min_lr = cfg.min_lr,
                      .plateau_factor = cfg.plateau_factor};
    schedule_milestones(&sched, cfg.milestones);
    printf("model: %d x %d LSTM, vocab %d, %ld parameters%s\n", cfg.layers, cfg.hidden, mc.vocab,
           lm_param_count(&model), cfg.tied ? " (tied embeddings)" : "");

    long train_len = corpus.len[PTB_TRAIN];
    if (cfg.train_tokens > 0 && cfg.train_tokens < train_len) {
        train_len = cfg.train_tokens;
        printf("note: training on the first %ld tokens of the training split only (--train-tokens)\n", train_len);
    }
    PtbStreams train;
    ptb_streams_init(&train, corpus.split[PTB_TRAIN], train_len, N, T);
    Sampler sampler;
    Order order = sampler_order(cfg.order);
    sampler_init(&sampler, order, train.nwindows, cfg.seed ^ 0x6f72646572ull); // its own stream: "order"
    GradStats stats;
    if (cfg.grad_stats) gradstats_init(&stats, P->n);
    long total_steps = train.nwindows * cfg.epochs;
    if (cfg.max_steps > 0 && cfg.max_steps < total_steps) total_steps = cfg.max_steps;
    sched.total = total_steps;
    schedule_start(&sched);
    int *x = nn_malloc((size_t)T * maxN * sizeof(int)), *y = nn_malloc((size_t)T * maxN * sizeof(int));
    if (cfg.eval_tokens > 0)
        printf("note: valid and test perplexities are measured on the first %ld tokens of each split only "
               "(--eval-tokens)\n", cfg.eval_tokens);

    RunLog lg;
    runlog_open(&lg, cfg.out,
                "step,epoch,lr,loss,grad_norm,clipped,tokens_per_s,clip_factor,grad_norm_clipped,cos_prev,cos_update");
    int exact = cfg.stats_all || cfg.nstats_epochs;
    LmGradStats gs;
    if (exact) lm_gradstats_open(&gs, &cfg, corpus.vocab.size, corpus.split[PTB_TRAIN], train_len);
    CsvOut epochs_csv;
    csv_open(&epochs_csv, cfg.out, "epochs.csv", "epoch,step,lr,train_loss,valid_loss,valid_ppl,seconds");
    double t0 = now_seconds(), train_time = 0, valid_ppl = NAN, epoch_loss = NAN;
    long step = 0, clipped_steps = 0, train_tokens = 0;
    double diverged_loss = 10 * log((double)corpus.vocab.size);
    int epoch = 1;
    for (; epoch <= cfg.epochs && step < total_steps; epoch++) {
        if (exact && lm_config_stats_due(&cfg, epoch - 1)) lm_gradstats_run(&gs, &model, epoch - 1);
        lm_reset_state(&model);
        sampler_epoch(&sampler);
        double loss_sum = 0;
        long loss_tokens = 0;
        float last_lr = 0;
        // the steps this epoch runs: all its windows, or what --max-steps leaves
        long epoch_steps = total_steps - step < train.nwindows ? total_steps - step : train.nwindows;
        for (long w = 0; w < epoch_steps; w++) {
            double ts = now_seconds();
            float lr = last_lr = schedule_lr(&sched, epoch, step);
            // cyclic reads the windows in corpus order and carries the state; the other orders jump, so the state
            // carried from the previous window would belong to another place in the text: they start from zero
            int Tw = ptb_window(&train, sampler_next(&sampler, w), x, y);
            if (order != ORDER_CYCLIC) lm_reset_state(&model);
            long rows = (long)Tw * N;
            StepResult r = train_step(&model, opt, cfg.grad_stats ? &stats : NULL, x, y, Tw, N, clip_mode, cfg.clip,
                                      lr, &drop_rng);
            // a finite loss can still mean divergence: 10 ln V nats per token is far worse than guessing
            // uniformly (ln V), a model that is confidently wrong everywhere; it never comes back from there
            int nonfinite = !isfinite(r.loss) || !isfinite(r.norm);
            if (nonfinite || r.loss > diverged_loss) {
                runlog_end_line(&lg);
                if (nonfinite)
                    fprintf(stderr, "nnopt: error: non-finite %s at step %ld (epoch %d): %g; the run diverged. ",
                            isfinite(r.loss) ? "gradient norm" : "loss", step + 1, epoch,
                            isfinite(r.loss) ? r.norm : r.loss);
                else
                    fprintf(stderr, "nnopt: error: loss %g at step %ld (epoch %d) exceeds 10 ln V = %.1f; the run "
                            "diverged. ", r.loss, step + 1, epoch, diverged_loss);
                fprintf(stderr, "Hint: lower --lr or enable clipping (--clip).\n");
                res->status = EXIT_NONFINITE;
                res->diverged_step = step + 1;
                break;
            }
            double dt = now_seconds() - ts;
            train_time += dt;
            train_tokens += rows;
            step++;
            clipped_steps += r.factor < 1.0f;
            loss_sum += r.loss * rows;
            loss_tokens += rows;
            runlog_row(&lg, "%ld,%d,%g,%.6f,%.6g,%d,%.1f,%.6g,%.6g,%.6f,%.6f", step, epoch, lr, r.loss, r.norm,
                       r.factor < 1.0f, rows / dt, r.factor, r.norm * r.factor, r.cos_prev, r.cos_update);
            double tok_s = train_tokens / train_time;
            runlog_progress(&lg, epoch, cfg.epochs, w + 1, epoch_steps, loss_sum / loss_tokens, tok_s,
                            (total_steps - step) * (train_time / step), w + 1 == epoch_steps);
        }
        runlog_end_line(&lg);
        if (res->status) break;
        epoch_loss = loss_sum / loss_tokens;
        double te = now_seconds();
        double vloss = evaluate(&model, corpus.split[PTB_VALID], corpus.len[PTB_VALID], cfg.eval_tokens,
                                cfg.eval_batch, T, x, y);
        valid_ppl = exp(vloss);
        schedule_epoch_end(&sched, vloss);
        csv_row(&epochs_csv, "%d,%ld,%g,%.6f,%.6f,%.4f,%.2f", epoch, step, last_lr, epoch_loss, vloss, valid_ppl,
                now_seconds() - t0);
        csv_flush(&epochs_csv);
        printf("epoch %d  lr %g  train ppl %.2f  valid ppl %.2f  (%.0f tok/s training, eval %.1fs, %.0fs elapsed)\n",
               epoch, last_lr, exp(epoch_loss), valid_ppl, train_tokens / train_time, now_seconds() - te,
               now_seconds() - t0);
        fflush(stdout);
        write_summary(cfg.out, &cfg, lm_param_count(&model), step, epoch_loss, valid_ppl, NAN, now_seconds() - t0,
                      train_tokens / train_time, clipped_steps, "running");
    }
    if (exact && !res->status && lm_config_stats_due(&cfg, epoch - 1)) lm_gradstats_run(&gs, &model, epoch - 1);
    double tloss = NAN;
    if (!res->status) tloss = evaluate(&model, corpus.split[PTB_TEST], corpus.len[PTB_TEST], cfg.eval_tokens, cfg.eval_batch,
                            T, x, y);
    double seconds = now_seconds() - t0;
    printf("%s: %ld steps, valid ppl %.2f, test ppl %.2f, %.0f s, %.0f training tok/s, clipped %.1f%% of steps\n",
           res->status ? "diverged" : "done", step, valid_ppl, exp(tloss), seconds, train_tokens / train_time,
           step ? 100.0 * clipped_steps / step : 0);
    runlog_close(&lg);
    csv_close(&epochs_csv);
    write_summary(cfg.out, &cfg, lm_param_count(&model), step, epoch_loss, valid_ppl, exp(tloss), seconds,
                  train_tokens / train_time, clipped_steps, res->status ? "diverged" : "done");
    res->steps = step, res->train_loss = epoch_loss, res->valid_ppl = valid_ppl, res->test_ppl = exp(tloss);
    res->seconds = seconds, res->train_seconds = train_time;
    res->clip_rate = step ? (double)clipped_steps / step : NAN;
    if (exact) res->mean_cos = gs.last_mean_cos;
    printf("wrote %s/steps.csv, epochs.csv%s and summary.json\n", cfg.out,
           exact ? ", gradstats.csv, gradstats_batches.csv" : "");
    if (exact) lm_gradstats_close(&gs);

    free(x), free(y), free(dir);
    sampler_free(&sampler);
    if (cfg.grad_stats) gradstats_free(&stats);
    optim_free(opt);
    lm_free(&model);
    ptb_free(&corpus);
    return res->status;
}

int cmd_train_lm(int argc, char **argv) {
    LmRunConfig cfg;
    lm_config_parse(&cfg, argc, argv, "nnopt train-lm");
    LmRunResult res;
    return lm_train(cfg, &res);
}

// `nnopt gradstats`: a training run that measures the exact statistics, by default after every epoch; with a list
// of epochs it trains only as far as the last of them.
int cmd_gradstats(int argc, char **argv) {
    LmRunConfig cfg;
    lm_config_parse(&cfg, argc, argv, "nnopt gradstats");
    if (!cfg.nstats_epochs) cfg.stats_all = 1;
    int last = 0;
    for (int i = 0; i < cfg.nstats_epochs; i++) last = cfg.stats_epochs[i] > last ? cfg.stats_epochs[i] : last;
    if (cfg.nstats_epochs) cfg.epochs = last; // 0: measure at the initialisation and train nothing
    LmRunResult res;
    return lm_train(cfg, &res);
}
