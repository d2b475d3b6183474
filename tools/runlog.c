#define _POSIX_C_SOURCE 200809L
#include "runlog.h"
#include "cli.h"
#include "nn/check.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void csv_open(CsvOut *c, const char *dir, const char *name, const char *header) {
    make_dirs(dir);
    c->path = nn_join_path(dir, name);
    size_t n = strlen(c->path) + sizeof ".partial";
    c->partial = nn_malloc(n);
    snprintf(c->partial, n, "%s.partial", c->path);
    c->f = nn_fopen(c->partial, "w");
    fprintf(c->f, "%s\n", header);
}

void csv_row(CsvOut *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->f, fmt, ap);
    va_end(ap);
    fputc('\n', c->f);
}

void csv_flush(CsvOut *c) {
    NN_CHECK(fflush(c->f) == 0, "writing '%s' failed: %s", c->partial, strerror(errno));
}

void csv_close(CsvOut *c) {
    if (!c->f) return;
    nn_fclose(c->f, c->partial);
    NN_CHECK(rename(c->partial, c->path) == 0, "cannot rename '%s' to '%s': %s", c->partial, c->path,
             strerror(errno));
    free(c->path);
    free(c->partial);
    c->f = NULL;
}

void runlog_open(RunLog *lg, const char *out_dir, const char *csv_header) {
    memset(lg, 0, sizeof *lg);
    csv_open(&lg->csv, out_dir, "steps.csv", csv_header);
    lg->tty = isatty(STDERR_FILENO);
    lg->t_start = lg->t_last_print = now_seconds();
}

void runlog_row(RunLog *lg, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(lg->csv.f, fmt, ap);
    va_end(ap);
    fputc('\n', lg->csv.f);
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (!isfinite(s) || s < 0) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

void runlog_progress(RunLog *lg, int epoch, int epochs, long step, long steps, double loss, double tok_s,
                     double eta_s, int force) {
    double now = now_seconds();
    char eta[32];
    fmt_duration(eta, sizeof eta, eta_s);
    if (lg->tty) {
        if (!force && now - lg->t_last_print < 0.2) return;
        fprintf(stderr, "\repoch %d/%d  step %ld/%ld  loss %.4f  ppl %.2f  %.0f tok/s  ETA %s   ", epoch, epochs,
                step, steps, loss, exp(loss), tok_s, eta);
    } else {
        // about ten lines per epoch when the output is a file or a pipe
        long every = steps / 10 > 0 ? steps / 10 : 1;
        if (step < lg->last_plain_step) lg->last_plain_step = 0; // a new epoch
        if (!force && step - lg->last_plain_step < every) return;
        lg->last_plain_step = step;
        fprintf(stderr, "epoch %d/%d step %ld/%ld loss %.4f ppl %.2f tok/s %.0f eta %s\n", epoch, epochs, step,
                steps, loss, exp(loss), tok_s, eta);
    }
    lg->t_last_print = now;
}

void runlog_progress_line(RunLog *lg, int epoch, int epochs, long step, long steps, const char *metrics,
                          double eta_s, int force) {
    double now = now_seconds();
    char eta[32];
    fmt_duration(eta, sizeof eta, eta_s);
    if (lg->tty) {
        if (!force && now - lg->t_last_print < 0.2) return;
        fprintf(stderr, "\repoch %d/%d  step %ld/%ld  %s  ETA %s   ", epoch, epochs, step, steps, metrics, eta);
    } else {
        long every = steps / 10 > 0 ? steps / 10 : 1; // about ten lines per epoch in a file or a pipe
        if (step < lg->last_plain_step) lg->last_plain_step = 0; // a new epoch
        if (!force && step - lg->last_plain_step < every) return;
        lg->last_plain_step = step;
        fprintf(stderr, "epoch %d/%d step %ld/%ld %s eta %s\n", epoch, epochs, step, steps, metrics, eta);
    }
    lg->t_last_print = now;
}

void runlog_end_line(RunLog *lg) {
    if (lg->tty) fputc('\n', stderr);
    csv_flush(&lg->csv);
}

void runlog_close(RunLog *lg) { csv_close(&lg->csv); }
