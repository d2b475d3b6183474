#define _POSIX_C_SOURCE 200809L
#include "runlog.h"
#include "cli.h"
#include "nn/atomic_file.h"
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

void csv_open_at(CsvOut *c, const char *dir, const char *name, const char *header, long len) {
    if (len < 0) {
        csv_open(c, dir, name, header);
        return;
    }
    c->path = nn_join_path(dir, name);
    size_t n = strlen(c->path) + sizeof ".partial";
    c->partial = nn_malloc(n);
    snprintf(c->partial, n, "%s.partial", c->path);
    if (access(c->partial, F_OK) != 0 && access(c->path, F_OK) == 0)
        NN_CHECK(rename(c->path, c->partial) == 0, "cannot rename '%s' to '%s': %s", c->path, c->partial,
                 strerror(errno));
    c->f = fopen(c->partial, "r+");
    NN_CHECK(c->f, "cannot reopen '%s' to resume the run: %s", c->partial, strerror(errno));
    NN_CHECK(fseek(c->f, 0, SEEK_END) == 0, "cannot seek in '%s': %s", c->partial, strerror(errno));
    long size = ftell(c->f);
    NN_CHECK(size >= len, "'%s' has %ld bytes, fewer than the %ld it had at the checkpoint (rows were lost, e.g. in "
             "a power cut); move it away to resume with a CSV that starts at the checkpoint", c->partial, size, len);
    NN_CHECK(ftruncate(fileno(c->f), len) == 0 && fseek(c->f, len, SEEK_SET) == 0, "cannot cut '%s' back to %ld "
             "bytes: %s", c->partial, len, strerror(errno));
}

long csv_length(CsvOut *c) {
    csv_flush(c);
    return ftell(c->f);
}

void csv_row(CsvOut *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(c->f, fmt, ap);
    va_end(ap);
    fputc('\n', c->f);
}

// ferror too: a row longer than the buffer is written at once, and its failure leaves nothing for fflush to report
void csv_flush(const CsvOut *c) {
    NN_CHECK(fflush(c->f) == 0 && !ferror(c->f), "writing '%s' failed: %s (the previous '%s', if any, is intact)",
             c->partial, strerror(errno), c->path);
}

void csv_close(CsvOut *c) {
    if (!c->f) return;
    char err[256];
    NN_CHECK(nn_publish(c->f, c->partial, c->path, err, sizeof err) == 0, "writing '%s' failed: %s (the previous "
             "file, if any, is intact; the rows are in '%s')", c->path, err, c->partial);
    free(c->path);
    free(c->partial);
    c->f = NULL;
}

void csv_close_partial(CsvOut *c) {
    if (!c->f) return;
    nn_fclose(c->f, c->partial);
    free(c->path);
    free(c->partial);
    c->f = NULL;
}

void runlog_open_at(RunLog *lg, const char *out_dir, const char *csv_header, long csv_len) {
    memset(lg, 0, sizeof *lg);
    make_dirs(out_dir);
    csv_open_at(&lg->csv, out_dir, "steps.csv", csv_header, csv_len);
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
