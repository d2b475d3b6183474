// `nnopt report`'s reader of a run directory on hostile bytes (tools/run_result.c): the input after its first byte
// is split at NUL bytes into the summary.json and epochs.csv of up to three runs, which run_result_parse and
// run_result_parse_epochs read from memory, as run_result_read does once it has read the files. Each run read is
// then ranked as sweeps and reports rank it: its metric (the first byte's bit 0: the best epoch's, else the last;
// bit 1: the last evaluation column by name, else the first), finished or not, its time to the first run's value,
// and the tuning rule over the runs of the first run's workload.
#include "fuzz.h"
#include "tools/run_result.h"

#include <stdlib.h>
#include <string.h>

const char *const fuzz_name = "report";

enum { RUNS = 3 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 16384) return 0;
    static char *text;        // what a fatal error leaves behind (it longjmps past the frees) is freed at the next
    static RunResult r[RUNS]; // input: run_result_free takes a zeroed or a read result
    free(text);
    for (int i = 0; i < RUNS; i++) run_result_free(&r[i]);
    text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *piece[2 * RUNS], *s = text;
    for (int k = 0; k < 2 * RUNS; k++) { // missing pieces are empty
        piece[k] = s;
        s += strlen(s);
        if (s < text + size - 1) s++; // past the NUL that ended it, unless it is the last byte
    }
    if (FUZZ_GUARD()) return 0;
    double value[RUNS];
    int setting[RUNS], n = 0;
    char seed[RUNS][24], err[512];
    Metric m = {0};
    for (int i = 0; i < RUNS; i++) {
        if (run_result_parse(&r[i], "run", piece[2 * i], err, sizeof err) != 0) continue;
        run_result_parse_epochs(&r[i], piece[2 * i + 1]);
        if (n && r[i].ops != m.ops) continue; // the tuning rule ranks the runs of one workload
        if (!n)
            m = metric_of(r[i].ops, data[0] & 2 ? r[i].ops->eval_columns[r[i].ops->neval - 1].name : NULL,
                          data[0] & 1 ? "best" : "final");
        value[n] = run_result_metric(&r[i], &m);
        long step;
        double seconds;
        run_result_time_to(&r[i], &m, value[0], &step, &seconds);
        run_result_finished(&r[i]);
        setting[n] = i % 2;
        memcpy(seed[n], r[i].seed, sizeof seed[n]);
        n++;
    }
    if (n) choose_setting(&m, value, setting, (const char (*)[24])seed, n, n > 1 ? 2 : 1);
    nn_set_fatal_hook(NULL);
    return 0;
}
