#define _POSIX_C_SOURCE 200809L
#include "trainer.h"
#include "cli.h"
#include "dist.h"
#include "figures.h"
#include "provenance.h"
#include "resume.h"
#include "run_result.h"
#include "summary.h"
#include "nn/blas.h"
#include "nn/check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void run_open_logs(Run *r, const long csv_len[NCSV]) {
    const WorkloadOps *ops = r->ops;
    char header[1024] = "step,epoch,lr,loss", *h = header + strlen(header);
    for (int k = 0; k < ops->ntrain; k++) h += sprintf(h, ",%s", ops->step_columns[k].name);
    sprintf(h, ",grad_norm,clipped,%s_per_s,clip_factor,grad_norm_clipped,cos_prev,cos_update,noise_scale", ops->unit);
    runlog_open_at(&r->log, r->cfg->out, header, csv_len[CSV_STEPS]);
    strcpy(header, "epoch,step,lr,train_loss"), h = header + strlen(header);
    for (int k = 0; k < ops->ntrain; k++) h += sprintf(h, ",%s", ops->train_columns[k].name);
    for (int k = 0; k < ops->neval; k++) h += sprintf(h, ",%s", ops->eval_columns[k].name);
    strcpy(h, ",seconds");
    csv_open_at(&r->epochs_csv, r->cfg->out, "epochs.csv", header, csv_len[CSV_EPOCHS]);
    r->csv[CSV_STEPS] = &r->log.csv, r->csv[CSV_EPOCHS] = &r->epochs_csv;
    if (r->exact_on) r->csv[CSV_GRADSTATS] = &r->exact.epochs, r->csv[CSV_GRADSTATS_BATCHES] = &r->exact.batches;
    if (r->cfg->smooth_every) r->csv[CSV_SMOOTHNESS] = &r->smooth.csv;
}

static void run_open(Run *r, const RunConfig *cfg, const char *argv_text, size_t argv_len) {
    RunLock lock = r->lock; // taken by trainer_run
    memset(r, 0, sizeof *r);
    r->lock = lock;
    r->cfg = cfg, r->ops = cfg->ops, r->argv_text = argv_text, r->argv_len = argv_len;
    r->w = r->ops->create(cfg);
    int k = r->units_per_step = r->ops->units_per_step(r->w);
    long units = r->ops->units(r->w);
    r->classes = r->ops->classes ? r->ops->classes(r->w) : 0;
    r->loss_limit = r->classes ? train_loss_limit(r->classes) : INFINITY; // without classes: only non-finite values
    NN_CHECK(units >= k, "the training data has %ld %s, fewer than one step takes (%d)", units, r->ops->unit, k);
    r->steps_per_epoch = units / k; // equal steps: the last units % k units of an epoch are left out
    r->total_steps = r->steps_per_epoch * cfg->epochs;
    if (cfg->max_steps > 0 && cfg->max_steps < r->total_steps) r->total_steps = cfg->max_steps;
    TrainSetup setup = cfg->setup;
    if (setup.warmup < 0) setup.warmup = r->steps_per_epoch; // --warmup -1: one epoch
    train_parts_init(&r->parts, &setup, r->total_steps);
    sampler_init(&r->sampler, r->parts.order, units, cfg->seed ^ 0x6f72646572ull); // its own stream: "order"
    if (cfg->grad_stats) gradstats_init(&r->stats, r->ops->params(r->w)->n, cfg->batch);
    r->ids = nn_malloc((size_t)k * sizeof(long));
    r->writer = dist_rank() == 0;
    r->local_blocks = cfg->grad_blocks / dist_size();
    r->block_results = nn_calloc((size_t)cfg->grad_blocks, sizeof(BatchResult));
    if (r->local_blocks > 1) r->block_grads = nn_alloc_floats((size_t)r->local_blocks * r->ops->params(r->w)->n);
    if (cfg->grad_blocks > 1 && r->ops->block_state && r->ops->block_state(r->w, &r->state_n) && r->state_n) {
        r->state_start = nn_alloc_floats(r->state_n);
        r->block_states = nn_alloc_floats((size_t)r->local_blocks * r->state_n);
    }
    r->p = (Progress){.epoch = 1, .train_loss = NAN, .last_mean_cos = NAN, .started = wall_clock_seconds()};
    for (int i = 0; i < WL_MAX_METRICS; i++) r->p.train_metrics[i] = r->p.eval[i] = NAN;
    long csv_len[NCSV] = {-1, -1, -1, -1, -1};
    if (cfg->resume) {
        run_checkpoint_load(r, cfg->resume, csv_len);
        printf("resumed from %s: epoch %d, %ld steps done\n", cfg->resume, r->p.epoch, r->p.step);
    }
    r->ckpt_path = nn_join_path(cfg->out, "checkpoint.nnck");
    r->exact_on = cfg->stats_epochs.all || cfg->stats_epochs.n;
    if (r->writer) make_dirs(cfg->out);
    if (r->exact_on) exact_stats_open(&r->exact, cfg, r->w, csv_len + CSV_GRADSTATS); // rank 0 alone writes
    if (!r->writer) return; // rank 0 alone writes (smoothness is refused with several ranks)
    if (cfg->smooth_every) smoothness_open(&r->smooth, cfg, r->w, csv_len[CSV_SMOOTHNESS]);
    run_open_logs(r, csv_len);
}

static void run_close(Run *r) {
    free(r->ids), free(r->ckpt_path), free(r->block_grads), free(r->block_results);
    free(r->state_start), free(r->block_states);
    sampler_free(&r->sampler);
    if (r->cfg->grad_stats) gradstats_free(&r->stats);
    train_parts_free(&r->parts);
    r->ops->destroy(r->w);
    run_lock_release(&r->lock);
}

static void save(Run *r) {
    if (r->ops->share_blocks && r->cfg->grad_blocks > 1) r->ops->share_blocks(r->w); // on every rank
    if (!r->writer) return;
    Progress keep = r->p;
    r->p.elapsed += now_seconds() - r->t0; // elapsed counts the wall time of every process of the run
    run_checkpoint_save(r, r->ckpt_path);
    r->p = keep;
}

static void measure_if_due(Run *r, int epoch) {
    if (!r->exact_on || !run_config_stats_due(r->cfg, epoch)) return;
    exact_stats_measure(&r->exact, epoch);
    r->p.last_mean_cos = r->exact.last_mean_cos;
}

// A fresh epoch (a resumed one continues with the restored state, order and sums).
static void epoch_start(Run *r) {
    measure_if_due(r, r->p.epoch - 1);
    if (r->ops->epoch_begin) r->ops->epoch_begin(r->w);
    sampler_epoch(&r->sampler);
    r->p.loss_sum = 0, r->p.epoch_examples = 0;
    memset(r->p.metric_sums, 0, sizeof r->p.metric_sums);
}

static void log_step(Run *r, const StepResult *s, const BatchResult *b, float lr, double dt, long epoch_steps) {
    if (!r->writer) return;
    const WorkloadOps *ops = r->ops;
    Progress *p = &r->p;
    char row[512], *at = row + sprintf(row, "%ld,%d,%g,%.6f", p->step, p->epoch, lr, s->loss);
    for (int k = 0; k < ops->ntrain; k++) {
        *at++ = ',';
        at += sprintf(at, ops->step_columns[k].fmt, b->sums[k] / (double)b->examples);
    }
    sprintf(at, ",%.6g,%d,%.1f,%.6g,%.6g,%.6f,%.6f,%.6g", s->norm, s->factor < 1.0f, b->examples / dt, s->factor,
            s->norm * s->factor, s->cos_prev, s->cos_update, s->noise_scale);
    runlog_row(&r->log, "%s", row);
    double mean = p->loss_sum / (double)p->epoch_examples;
    char metrics[256];
    at = metrics + sprintf(metrics, "loss %.4f", mean);
    if (ops->loss_exp) at += sprintf(at, "  %s %.2f", ops->loss_exp, exp(mean));
    for (int k = 0; k < ops->ntrain; k++)
        at += sprintf(at, "  %s %.4f", ops->train_columns[k].name, p->metric_sums[k] / (double)p->epoch_examples);
    sprintf(at, "  %.0f %s/s", p->examples / p->train_time, ops->unit);
    runlog_progress_line(&r->log, p->epoch, r->cfg->epochs, p->b + 1, epoch_steps, metrics,
                         (r->total_steps - p->step) * (p->train_time / p->step), p->b + 1 == epoch_steps);
}

// The workload's block state (batchnorm's running statistics): every block starts from the step's value, whichever
// rank computes it and whichever of its blocks came before; the step ends on the mean of all G blocks' results in
// block order (as the gradients: the same bits on every rank and for every number of ranks).
static float *block_state(Run *r) {
    size_t n;
    return r->state_start ? r->ops->block_state(r->w, &n) : NULL;
}
static void block_state_begin(Run *r, int j) {
    float *state = block_state(r);
    if (!state) return;
    if (j == 0) memcpy(r->state_start, state, r->state_n * sizeof(float));
    else memcpy(state, r->state_start, r->state_n * sizeof(float));
}
static void block_state_end(Run *r, int j) {
    float *state = block_state(r);
    if (state) memcpy(r->block_states + (size_t)j * r->state_n, state, r->state_n * sizeof(float));
}
static void block_state_mean(Run *r) {
    float *state = block_state(r);
    float scale = 1.0f / (float)r->cfg->grad_blocks;
    if (state) dist_sum_blocks(r->block_states, r->local_blocks, r->state_n, scale, state);
}

// The batch's gradient as the mean of --grad-blocks block gradients, added in block order over every rank's blocks
// (tools/dist.h): the same bits on any number of ranks. The loss and metrics too: sums in block order.
static BatchResult blocks_batch(Run *r, Params *P) {
    const RunConfig *cfg = r->cfg;
    int G = cfg->grad_blocks, first = dist_rank() * r->local_blocks, k = r->units_per_step;
    for (int j = 0; j < r->local_blocks; j++) {
        int g = first + j;
        if (j) params_zero_grad(P);
        block_state_begin(r, j);
        uint64_t seed = cfg->seed ^ 0x626c6f636b73ull ^ ((uint64_t)r->p.step << 16) ^ (uint64_t)g; // "blocks"
        r->block_results[g] = r->ops->train_block(r->w, r->ids, k, g, G, seed);
        block_state_end(r, j);
        if (r->block_grads) memcpy(r->block_grads + (size_t)j * P->n, P->grad, P->n * sizeof(float));
    }
    dist_sum_blocks(r->block_grads ? r->block_grads : P->grad, r->local_blocks, P->n, 1.0f / (float)G, P->grad);
    block_state_mean(r);
    dist_allgather(r->block_results, (size_t)r->local_blocks * sizeof(BatchResult));
    BatchResult b = {0};
    for (int g = 0; g < G; g++) {
        const BatchResult *x = &r->block_results[g];
        b.loss += x->loss, b.examples += x->examples;
        for (int m = 0; m < WL_MAX_METRICS; m++) b.sums[m] += x->sums[m];
    }
    b.loss /= G;
    return b;
}

// One step on the sampler's next units; returns 0, or EXIT_NONFINITE when it diverged.
static int train_step(Run *r, long epoch_steps) {
    Progress *p = &r->p;
    double ts = now_seconds();
    float lr = p->last_lr = schedule_lr(&r->parts.sched, p->epoch, p->step);
    int k = r->units_per_step;
    for (int j = 0; j < k; j++) r->ids[j] = sampler_next(&r->sampler, p->b * k + j);
    Params *P = r->ops->params(r->w);
    params_zero_grad(P);
    double sums_before = dist_reduce_seconds(), tb = now_seconds();
    BatchResult b = r->cfg->grad_blocks > 1 ? blocks_batch(r, P) : r->ops->batch(r->w, PASS_TRAIN, r->ids, k);
    r->batch_seconds += now_seconds() - tb - (dist_reduce_seconds() - sums_before);
    StepResult s = {.loss = b.loss};
    int smooth = r->cfg->smooth_every && smoothness_due(&r->smooth, p->step);
    if (smooth) smoothness_before_step(&r->smooth);
    train_clip_and_step(&s, P, &r->parts, &r->cfg->setup, r->cfg->grad_stats ? &r->stats : NULL, lr);
    if (train_diverged(&s, r->loss_limit)) { // nothing of this step is saved: the last checkpoint stays
        if (!r->writer) return EXIT_NONFINITE; // every rank diverges at the same step; rank 0 says so
        runlog_end_line(&r->log);
        char name[48];
        snprintf(name, sizeof name, "10 ln %d (classes)", r->classes);
        train_report_divergence(&s, p->step + 1, p->epoch, r->loss_limit, name, r->argv_text ? r->ckpt_path : NULL);
        return EXIT_NONFINITE;
    }
    double dt = now_seconds() - ts;
    if (smooth) smoothness_after_step(&r->smooth, p->step + 1, p->epoch); // not training time
    p->train_time += dt;
    p->examples += b.examples, p->epoch_examples += b.examples;
    p->step++;
    p->clipped_steps += s.factor < 1.0f;
    p->loss_sum += s.loss * (double)b.examples;
    for (int m = 0; m < r->ops->ntrain; m++) p->metric_sums[m] += b.sums[m];
    log_step(r, &s, &b, lr, dt, epoch_steps);
    return 0;
}

// The rest of the epoch: returns 0, EXIT_NONFINITE, or 128 + a signal after writing a checkpoint.
static int train_epoch(Run *r, long epoch_steps, TrainResult *res) {
    Progress *p = &r->p;
    for (; p->b < epoch_steps; p->b++) {
        if (train_step(r, epoch_steps)) {
            res->diverged_step = p->step + 1;
            return EXIT_NONFINITE;
        }
        int stop = dist_any(stop_signals_pending()); // a signal on any rank stops every rank after this step
        if (r->argv_text && (stop || (r->cfg->save_every > 0 && p->step % r->cfg->save_every == 0))) {
            p->b++; // the checkpoint resumes after this step
            save(r);
            p->b--;
        }
        if (stop) {
            if (!r->writer) return 128 + stop;
            runlog_end_line(&r->log);
            stop_signal_report(stop, p->step, "train", r->argv_text ? r->ckpt_path : NULL);
            return 128 + stop;
        }
    }
    if (r->writer) runlog_end_line(&r->log);
    return 0;
}

static void print_values(char **at, const Column *cols, const double *v, int n) {
    for (int k = 0; k < n; k++) {
        *at += sprintf(*at, "  %s ", cols[k].name);
        *at += sprintf(*at, isfinite(v[k]) ? "%.6g" : "-", v[k]);
    }
}

// The epoch's row in epochs.csv, its line and summary.json (rank 0 alone); te: when its evaluation began.
static void log_epoch(Run *r, double te) {
    const WorkloadOps *ops = r->ops;
    Progress *p = &r->p;
    double elapsed = p->elapsed + now_seconds() - r->t0;
    char row[512], *at = row + sprintf(row, "%d,%ld,%g,%.6f", p->epoch, p->step, p->last_lr, p->train_loss);
    for (int k = 0; k < ops->ntrain; k++)
        *at++ = ',', at += sprintf(at, ops->train_columns[k].fmt, p->train_metrics[k]);
    for (int k = 0; k < ops->neval; k++) *at++ = ',', at += sprintf(at, ops->eval_columns[k].fmt, p->eval[k]);
    sprintf(at, ",%.2f", elapsed);
    csv_row(&r->epochs_csv, "%s", row);
    csv_flush(&r->epochs_csv);
    char line[1024];
    at = line + sprintf(line, "epoch %d  lr %g  train loss %.4f", p->epoch, p->last_lr, p->train_loss);
    if (ops->loss_exp) at += sprintf(at, " (%s %.2f)", ops->loss_exp, exp(p->train_loss));
    print_values(&at, ops->train_columns, p->train_metrics, ops->ntrain);
    print_values(&at, ops->eval_columns, p->eval, ops->neval);
    printf("%s  (%.0f %s/s training, eval %.1fs, %.0fs elapsed)\n", line, p->examples / p->train_time, ops->unit,
           now_seconds() - te, elapsed);
    fflush(stdout);
    summary_write(r, NULL, "running");
}

// Evaluate, log, summarise and checkpoint: everything an epoch's end does, in one place.
static void epoch_end(Run *r) {
    const WorkloadOps *ops = r->ops;
    Progress *p = &r->p;
    p->train_loss = p->loss_sum / (double)p->epoch_examples;
    for (int k = 0; k < ops->ntrain; k++) p->train_metrics[k] = p->metric_sums[k] / (double)p->epoch_examples;
    double te = now_seconds();
    ops->evaluate(r->w, p->eval); // on every rank: the schedule may follow it
    if (ops->has_valid) schedule_epoch_end(&r->parts.sched, p->eval[0]);
    if (r->writer) log_epoch(r, te);
    if (r->cfg->save_epochs && r->argv_text) { // resumes at the start of the next epoch
        p->epoch++, p->b = 0;
        save(r);
        p->epoch--;
    }
}

static void fill_result(const Run *r, TrainResult *res) {
    const Progress *p = &r->p;
    res->steps = p->step, res->train_loss = p->train_loss;
    memcpy(res->eval, p->eval, sizeof res->eval);
    res->seconds = p->elapsed + now_seconds() - r->t0, res->train_seconds = p->train_time;
    res->clip_rate = p->step ? (double)p->clipped_steps / p->step : NAN;
    res->mean_cos = p->last_mean_cos;
}

// The run's last line, its CSVs closed and summary.json (rank 0 alone).
static void report_finish(Run *r, const TrainResult *res) {
    const WorkloadOps *ops = r->ops;
    const RunConfig *cfg = r->cfg;
    const Progress *p = &r->p;
    const char *status = res->status == EXIT_NONFINITE ? "diverged" : res->status ? "stopped" : "done";
    char line[1024], *at = line + sprintf(line, "%s: %ld steps", status, p->step);
    print_values(&at, ops->eval_columns, p->eval, ops->neval);
    print_values(&at, ops->final_columns, res->final, ops->nfinal);
    char rate[64] = "no training steps"; // (nnopt gradstats --stats-epochs 0): no rate, rather than NaN
    if (p->train_time > 0) snprintf(rate, sizeof rate, "%.0f training %s/s", p->examples / p->train_time, ops->unit);
    printf("%s, %.0f s, %s, clipped %.1f%% of steps\n", line, res->seconds, rate,
           p->step ? 100.0 * p->clipped_steps / p->step : 0);
    if (cfg->grad_blocks > 1 && p->train_time > 0)
        printf("%d blocks on %d rank%s: of the training steps' %.2f s, %.2f s in forward and backward passes, %.2f s "
               "in the ordered block sums\n", cfg->grad_blocks, dist_size(), dist_size() > 1 ? "s" : "", p->train_time,
               r->batch_seconds, dist_reduce_seconds());
    if (res->status < 128) { // a stopped run leaves its CSVs as .partial: the resumed run continues them
        runlog_close(&r->log);
        csv_close(&r->epochs_csv);
    } else {
        csv_close_partial(&r->log.csv);
        csv_close_partial(&r->epochs_csv);
    }
    summary_write(r, res, status);
    if (res->status < 128)
        printf("wrote %s/steps.csv, epochs.csv%s%s and summary.json\n", cfg->out,
               r->exact_on ? ", gradstats.csv, gradstats_batches.csv" : "", cfg->smooth_every ? ", smoothness.csv" : "");
}

// After the last epoch (or a stop): the final checkpoint, statistics and evaluation, the summary, the CSVs closed.
static void run_finish(Run *r, TrainResult *res) {
    const RunConfig *cfg = r->cfg;
    Progress *p = &r->p;
    if (!res->status && r->argv_text && (cfg->save_every > 0 || cfg->save_epochs) && !(cfg->save_epochs && !p->b))
        save(r); // the final state (unless the epoch end just saved it)
    if (!res->status) {
        measure_if_due(r, p->epoch - 1);
        r->ops->evaluate_final(r->w, res->final);
    }
    fill_result(r, res);
    if (r->writer) report_finish(r, res);
    if (r->exact_on) exact_stats_close(&r->exact, res->status < 128); // on every rank (rank 0 alone writes)
    if (cfg->smooth_every) { // one process only (trainer_run)
        char label[256];
        figures_label(label, sizeof label, cfg->preset, cfg->setup.optim, cfg->setup.lr, cfg->setup.clip);
        smoothness_close(&r->smooth, res->status < 128, label);
    }
}

// A new run (not --resume) would overwrite what out holds: a finished run's results, or a stopped run's checkpoint.
static void refuse_to_overwrite(const RunConfig *cfg) {
    RunResult prev;
    char err[256];
    if (run_result_read(&prev, cfg->out, err, sizeof err) == 0) {
        int finished = run_result_finished(&prev);
        char status[32];
        snprintf(status, sizeof status, "%s", prev.status);
        run_result_free(&prev);
        NN_CHECK(!finished, "%s holds a finished run (summary.json: %s), which a new run would overwrite: give another "
                 "--out, or --overwrite", cfg->out, status);
    }
    char *ckpt = nn_join_path(cfg->out, "checkpoint.nnck");
    int stopped = access(ckpt, F_OK) == 0;
    NN_CHECK(!stopped, "%s holds a stopped run, which a new run would overwrite: continue it with `nnopt train "
             "--resume %s`, or give another --out, or --overwrite", cfg->out, ckpt);
    free(ckpt);
}

int trainer_run(const RunConfig *cfg, TrainResult *res, const char *argv_text, size_t argv_len) {
    Run r;
    dist_start(); // under mpirun: MPI from here on (tools/dist.h)
    r.lock = (RunLock){.fd = -1}; // held by rank 0 alone
    int ranks = dist_size();
    DIST_CHECK(cfg->grad_blocks % ranks == 0, "--grad-blocks %d cannot be shared by %d MPI ranks: give --grad-blocks "
               "a multiple of %d (and a divisor of --batch %d); every number of ranks dividing it gives the same "
               "results", cfg->grad_blocks, ranks, ranks, cfg->batch);
    DIST_CHECK(ranks == 1 || !cfg->smooth_every, "--smooth-every runs on one process only for now, not on %d MPI "
               "ranks", ranks);
    if (dist_rank() == 0) {
        run_lock_acquire(&r.lock, cfg->out); // before anything in out is read or written
        if (!cfg->resume && !cfg->overwrite) refuse_to_overwrite(cfg);
    }
    run_config_print(stdout, cfg);
    *res = (TrainResult){.train_loss = NAN, .mean_cos = NAN};
    for (int i = 0; i < WL_MAX_METRICS; i++) res->eval[i] = res->final[i] = NAN;
    nn_set_threads(cfg->threads);
    run_open(&r, cfg, argv_text, argv_len);
    Progress *p = &r.p;
    stop_signals_catch(); // SIGINT/SIGTERM: finish the step, write a checkpoint, stop
    r.t0 = now_seconds();
    // an epoch under way (b > 0) still needs its end even when its last step was the run's: a checkpoint taken
    // after that step and before the epoch's end resumes there
    for (; p->epoch <= cfg->epochs && (p->step < r.total_steps || p->b > 0) && !res->status; p->epoch++, p->b = 0) {
        // the steps this epoch runs: all of them, or what --max-steps leaves
        long left = r.total_steps - (p->step - p->b);
        long epoch_steps = left < r.steps_per_epoch ? left : r.steps_per_epoch;
        if (p->b == 0) epoch_start(&r);
        res->status = train_epoch(&r, epoch_steps, res);
        if (res->status) break;
        epoch_end(&r);
    }
    stop_signals_restore();
    run_finish(&r, res);
    run_close(&r);
    return res->status;
}
