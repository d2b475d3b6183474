// What a training run writes: a progress line (redrawn on a terminal, plain lines otherwise), a per-step CSV that
// is renamed into place when the run ends (a crash leaves the previous CSV intact and the partial one beside it),
// and a JSON summary written atomically.
#ifndef TOOLS_RUNLOG_H
#define TOOLS_RUNLOG_H

#include <stdio.h>

// A CSV file written as NAME.partial and renamed to NAME when closed.
typedef struct {
    FILE *f;
    char *path, *partial;
} CsvOut;

void csv_open(CsvOut *c, const char *dir, const char *name, const char *header);
// A resumed run's CSV: the existing NAME.partial (or NAME, when the run had finished) cut back to the `len` bytes
// it had at the checkpoint, then appended to. len < 0: a fresh file, as csv_open.
void csv_open_at(CsvOut *c, const char *dir, const char *name, const char *header, long len);
long csv_length(CsvOut *c); // bytes written so far (flushed)
void csv_row(CsvOut *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void csv_flush(const CsvOut *c);
void csv_close(CsvOut *c); // flushes, syncs and renames into place (nn_publish)
void csv_close_partial(CsvOut *c); // flushes and closes, leaving NAME.partial (a stopped run resumes it)

typedef struct {
    CsvOut csv;              // steps.csv
    int tty;
    double t_start, t_last_print;
    long last_plain_step;
} RunLog;

// steps.csv in out_dir: a fresh file (csv_len < 0) or a resumed run's, cut back to csv_len bytes (csv_open_at)
void runlog_open_at(RunLog *lg, const char *out_dir, const char *csv_header, long csv_len);
void runlog_row(RunLog *lg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// Progress: epoch, step within the epoch, the metrics as the caller formats them ("loss 1.2345  ppl 3.44  812
// tokens/s"), ETA of the whole run; redrawn at most every 0.2 s on a terminal, about ten lines an epoch otherwise.
void runlog_progress_line(RunLog *lg, int epoch, int epochs, long step, long steps, const char *metrics,
                          double eta_s, int force);
void runlog_end_line(RunLog *lg); // finishes a redrawn progress line before other output
void runlog_close(RunLog *lg);     // flushes and renames the CSV into place

#endif
