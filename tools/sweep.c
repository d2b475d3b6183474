// `nnopt sweep` (tools/sweep.h): the runs of a spec, their states on disk, and a scheduler that trains --jobs of
// them at a time as child processes (`nnopt train`, output in the run's log.txt), or prints their commands.
#define _GNU_SOURCE // prctl, nanosleep
#include "cli.h"
#include "provenance.h"
#include "run_lock.h"
#include "run_result.h"
#include "sweep.h"
#include "train_common.h"
#include "nn/atomic_file.h"
#include "nn/check.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *out) {
    fprintf(out,
        "usage: nnopt sweep --out DIR [sweep options] [training flags] [--grid FLAG=VALUES]...\n"
        "                   [--method NAME [its training flags] [--grid FLAG=VALUES]...]...\n"
        "  Tunes each method on its grid at the first seed, then reruns its best setting with more seeds. Every\n"
        "  run is an ordinary nnopt train run in DIR/<method>/<flag>=<value>,...,seed=<seed> (its output in\n"
        "  log.txt there). Flags before the first --method are every method's; later flags win.\n"
        "  --grid FLAG=V1,V2   an axis: the values (';' separates them instead when one holds a comma)\n"
        "  --grid FLAG=log:LO:HI:N  N values from LO to HI evenly spaced in log; lin:LO:HI:N linearly\n"
        "  --seeds K           rerun each method's best setting until it has K seeds (1: tuning only)\n"
        "  --metric COL        the evaluation column that chooses (default: the workload's first, a mean loss;\n"
        "                      an accuracy ranks higher-is-better); a diverged run ranks last\n"
        "  --select final|best its value at the last epoch (final, default) or at its best epoch\n"
        "  --max-runs N        refuse a sweep of more runs (1000)\n"
        "  runtime options (not part of the sweep; change them when continuing):\n"
        "  --out DIR           the sweep's directory (required); DIR/sweep.json keeps the spec, so\n"
        "                      `nnopt sweep --out DIR` alone continues it\n"
        "  --jobs K            runs at a time (1); each gets --threads T (default: the cores / K, at least 1)\n"
        "  --print-jobs        print one command per run that can start now, for GNU parallel or a Slurm array\n"
        "                      (each is `nnopt sweep --out DIR --run NAME`), and exit\n"
        "  --run NAME          train that one run (resuming it when stopped) and exit\n"
        "  --list              list the runs and their states, and exit\n"
        "  --retry-failed      retry runs that failed before (not diverged ones: they are a result)\n"
        "A stopped sweep continues where it was: finished runs are kept, stopped ones resume from their\n"
        "checkpoint, a run another process is training is left to it (each run directory is locked).\n");
}

typedef struct {
    const char *out, *run;
    int jobs, threads, print_jobs, list, retry_failed;
} Runtime;

static int runtime_flag(void *ctx, int argc, char **argv, int i) {
    Runtime *rt = ctx;
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) usage(stdout), exit(0);
    static const char *const valued[] = {"--out", "--jobs", "--threads", "--run"};
    for (int k = 0; k < 4; k++) {
        size_t n = strlen(valued[k]);
        if (strncmp(a, valued[k], n) != 0 || (a[n] && a[n] != '=')) continue;
        NN_CHECK(a[n] == '=' || i + 1 < argc, "%s needs a value (see nnopt sweep --help)", valued[k]);
        const char *v = a[n] == '=' ? a + n + 1 : argv[i + 1];
        if (k == 0) rt->out = v;
        else if (k == 1) rt->jobs = (int)cli_long("--jobs", v, 1, 1024);
        else if (k == 2) rt->threads = (int)cli_long("--threads", v, 1, 1024);
        else rt->run = v;
        return a[n] == '=' ? 1 : 2;
    }
    if (strcmp(a, "--print-jobs") == 0) return rt->print_jobs = 1;
    if (strcmp(a, "--list") == 0) return rt->list = 1;
    if (strcmp(a, "--retry-failed") == 0) return rt->retry_failed = 1;
    return 0;
}

typedef struct {
    SweepSpec spec;
    Runtime rt;
    Metric metric;
    uint64_t first_seed;
    long *points;        // per method: its grid's points
    int nruns;
    SweepRun *runs;      // the tuning runs, then the seed runs as methods finish tuning
    int *chosen;         // per method: the best point, -1 until its tuning runs have all finished
} Sweep;

static char **argv_append(char **v, int *n, const char *s) {
    v = nn_realloc(v, (size_t)(*n + 2) * sizeof(char *));
    v[(*n)++] = nn_strdup(s), v[*n] = NULL;
    return v;
}

// The training flags of method m's point p: the shared flags, the method's, the point's values (later flags win).
static char **point_argv(const Sweep *sw, int m, long p, int *argc) {
    const SweepSpec *s = &sw->spec;
    *argc = 0;
    char **argv = argv_append(NULL, argc, "train");
    for (int i = 0; i < s->shared.nflags; i++) argv = argv_append(argv, argc, s->shared.flags[i]);
    for (int i = 0; i < s->methods[m].nflags; i++) argv = argv_append(argv, argc, s->methods[m].flags[i]);
    int n;
    char **flags = sweep_point_flags(s, m, p, &n);
    for (int i = 0; i < n; i++) argv = argv_append(argv, argc, flags[i]), free(flags[i]);
    free(flags);
    return argv;
}

static void free_argv(char **argv, int argc) {
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
}

// Run (method m, point p, seed first + k): its name, directory and command line.
static void add_run(Sweep *sw, int m, long p, int k) {
    const SweepSpec *s = &sw->spec;
    const char *method = s->methods[m].name;
    sw->runs = nn_realloc(sw->runs, (size_t)(sw->nruns + 1) * sizeof(SweepRun));
    SweepRun *r = &sw->runs[sw->nruns++];
    *r = (SweepRun){.method = m, .setting = (int)p, .extra_seed = k, .state = RUN_PENDING, .metric = NAN};
    char *point = sweep_point_name(s, m, p), seed[64] = "";
    int seed_axis = sweep_has_axis(s, m, "seed");
    unsigned long long seed_value = (unsigned long long)(sw->first_seed + (uint64_t)k);
    if (!seed_axis) snprintf(seed, sizeof seed, "%sseed=%llu", *point ? "," : "", seed_value);
    NN_CHECK(strlen(point) + strlen(seed) < 250, "method '%s', run '%s%s': longer than a file name may be: shorten "
             "the grid's values", method, point, seed);
    r->name = nn_malloc(strlen(method) + strlen(point) + strlen(seed) + 2);
    sprintf(r->name, "%s%s%s%s", method, *method ? "/" : "", point, seed);
    free(point);
    r->dir = nn_join_path(sw->rt.out, r->name);
    r->argv = point_argv(sw, m, p, &r->argc);
    char *text = nn_malloc(strlen(method) + strlen(r->dir) + 64);
    if (!seed_axis) sprintf(text, "--seed=%llu", seed_value), r->argv = argv_append(r->argv, &r->argc, text);
    sprintf(text, "--label=%s", method), r->argv = argv_append(r->argv, &r->argc, text);
    sprintf(text, "--out=%s", r->dir), r->argv = argv_append(r->argv, &r->argc, text);
    r->argv = argv_append(r->argv, &r->argc, "--save-epochs");
    free(text);
}

// The tuning runs. Every run's command line is parsed now, so that a bad flag or value fails before anything runs;
// the first seed (of the seed runs' count) comes from the flags of the first point.
static void expand(Sweep *sw) {
    const SweepSpec *s = &sw->spec;
    sw->points = nn_calloc((size_t)s->nmethods, sizeof(long));
    sw->chosen = nn_malloc((size_t)s->nmethods * sizeof(int));
    long total = 0;
    for (int m = 0; m < s->nmethods; m++) {
        sw->points[m] = sweep_points(s, m), sw->chosen[m] = -1;
        total += sw->points[m] + s->seeds - 1;
    }
    NN_CHECK(total <= s->max_runs, "the sweep has %ld runs, more than --max-runs %ld (raise it if you mean it)",
             total, s->max_runs);
    int argc;
    char **argv = point_argv(sw, 0, 0, &argc);
    RunConfig c;
    run_config_parse(&c, argc, argv, "nnopt sweep", NULL);
    sw->first_seed = c.seed;
    const WorkloadOps *ops = c.ops;
    run_config_free(&c);
    free_argv(argv, argc);
    for (int m = 0; m < s->nmethods; m++)
        for (long p = 0; p < sw->points[m]; p++) {
            add_run(sw, m, p, 0);
            SweepRun *r = &sw->runs[sw->nruns - 1];
            run_config_parse(&c, r->argc, r->argv, "nnopt sweep", NULL);
            NN_CHECK(ops == c.ops, "run %s trains workload %s, the first %s: a sweep is of one workload", r->name,
                     c.ops->name, ops->name);
            run_config_free(&c);
        }
    sw->metric = metric_of(ops, s->metric, s->select);
}

static int exists(const char *dir, const char *file) {
    char *path = nn_join_path(dir, file);
    int ok = access(path, F_OK) == 0;
    free(path);
    return ok;
}

// A run's state from its directory: held by another process, finished (summary.json), failed before, or pending.
static void probe(Sweep *sw, SweepRun *r) {
    char holder[512];
    if (run_lock_held(r->dir, holder, sizeof holder)) {
        r->state = RUN_ELSEWHERE;
        return;
    }
    RunResult res;
    char err[256];
    r->state = RUN_PENDING;
    if (run_result_read(&res, r->dir, err, sizeof err) == 0) {
        if (strcmp(res.status, "done") == 0) r->state = RUN_DONE;
        else if (strcmp(res.status, "diverged") == 0) r->state = RUN_DIVERGED;
        if (r->state != RUN_PENDING) r->metric = run_result_metric(&res, &sw->metric);
        run_result_free(&res);
    }
    if (r->state == RUN_PENDING && exists(r->dir, "failed")) {
        char *path = nn_join_path(r->dir, "failed");
        if (sw->rt.retry_failed) unlink(path);
        else r->state = RUN_FAILED, r->metric = metric_worst(&sw->metric);
        free(path);
    }
}

static int finished(RunState s) { return s == RUN_DONE || s == RUN_DIVERGED || s == RUN_FAILED; }

// Methods whose tuning runs have all finished get their best point and its seed runs.
static void open_seed_runs(Sweep *sw) {
    for (int m = 0; m < sw->spec.nmethods; m++) {
        if (sw->chosen[m] >= 0) continue;
        int n = 0, all = 1;
        for (int i = 0; i < sw->nruns; i++)
            if (sw->runs[i].method == m && sw->runs[i].extra_seed == 0) n++, all &= finished(sw->runs[i].state);
        if (!all || !n) continue;
        double *v = nn_malloc((size_t)n * sizeof(double));
        int *setting = nn_malloc((size_t)n * sizeof(int));
        char (*seed)[24] = nn_calloc((size_t)n, 24);
        n = 0;
        for (int i = 0; i < sw->nruns; i++)
            if (sw->runs[i].method == m && sw->runs[i].extra_seed == 0)
                v[n] = sw->runs[i].metric, setting[n++] = sw->runs[i].setting;
        sw->chosen[m] = choose_setting(&sw->metric, v, setting, (const char (*)[24])seed, n, (int)sw->points[m]);
        free(v), free(setting), free(seed);
        for (int k = 1; k < sw->spec.seeds; k++) {
            add_run(sw, m, sw->chosen[m], k);
            probe(sw, &sw->runs[sw->nruns - 1]);
        }
    }
}

// ---- running runs as child processes

static volatile sig_atomic_t stop_requested;
static void on_stop(int sig) { stop_requested = sig; }

static void start(SweepRun *r, const char *self, int threads) {
    make_dirs(r->dir);
    char *ckpt = nn_join_path(r->dir, "checkpoint.nnck"), text[32];
    int resumed = access(ckpt, F_OK) == 0, argc = 0;
    char **argv = argv_append(NULL, &argc, self);
    if (resumed) { // its checkpoint has its command line, and its thread count: results depend on it
        argv = argv_append(argv, &argc, "train");
        argv = argv_append(argv, &argc, "--resume");
        argv = argv_append(argv, &argc, ckpt);
    } else {
        for (int i = 0; i < r->argc; i++) argv = argv_append(argv, &argc, r->argv[i]);
        snprintf(text, sizeof text, "--threads=%d", threads);
        argv = argv_append(argv, &argc, text);
    }
    char *log = nn_join_path(r->dir, "log.txt");
    fflush(NULL);
    pid_t pid = fork();
    NN_CHECK(pid >= 0, "sweep: cannot start a run: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM); // the sweep killed: the run stops with a checkpoint, not orphaned
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0) _exit(126);
        setenv("NNOPT_NO_MPI", "1", 1); // a run of the sweep is one process, even when mpirun started the sweep
        execv(self, argv);
        fprintf(stderr, "nnopt sweep: cannot run %s: %s\n", self, strerror(errno));
        _exit(127);
    }
    r->pid = pid, r->state = RUN_RUNNING, r->started = now_seconds();
    printf("sweep: %s %s\n", resumed ? "resumed" : "started", r->name);
    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv), free(ckpt), free(log);
}

static void mark_failed(SweepRun *r, const char *why) {
    char *path = nn_join_path(r->dir, "failed"), text[512];
    int n = snprintf(text, sizeof text, "%s (see log.txt)\n", why);
    nn_write_atomic(path, text, (size_t)n);
    free(path);
    r->state = RUN_FAILED;
}

// A child's end: its state from its exit status.
static void ended(Sweep *sw, SweepRun *r, int status, double *durations, int *ndur) {
    char why[256] = "";
    if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == EXIT_NONFINITE)) {
        probe(sw, r);
        durations[(*ndur)++ % 64] = now_seconds() - r->started;
        if (!finished(r->state)) mark_failed(r, "it exited without a finished summary.json");
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_LOCKED) r->state = RUN_ELSEWHERE;
    else if (stop_requested) r->state = RUN_PENDING; // stopped with a checkpoint: resumes next time
    else {
        // another process may have trained it between this sweep's probe and its child's lock (the child then
        // refuses to overwrite the finished run): its result stands
        probe(sw, r);
        if (r->state != RUN_DONE && r->state != RUN_DIVERGED && r->state != RUN_ELSEWHERE) {
            if (WIFEXITED(status)) snprintf(why, sizeof why, "exit status %d", WEXITSTATUS(status));
            else snprintf(why, sizeof why, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
            mark_failed(r, why);
        }
    }
    const char *what[] = {"pending", "running", "done", "diverged", "FAILED", "left to another process"};
    printf("sweep: %s %s", r->name, what[r->state]);
    if (finished(r->state) && r->state != RUN_FAILED)
        printf(": %s %.6g", sw->metric.ops->eval_columns[sw->metric.column].name, r->metric);
    printf(r->state == RUN_FAILED ? ": %s, see %s/log.txt\n" : "\n", why, r->dir);
}

static void progress(const Sweep *sw, const double *durations, int ndur, int jobs) {
    int n[6] = {0}, best = -1;
    for (int i = 0; i < sw->nruns; i++) {
        const SweepRun *r = &sw->runs[i];
        n[r->state]++;
        if (r->state == RUN_DONE && (best < 0 || metric_better(&sw->metric, r->metric, sw->runs[best].metric)))
            best = i;
    }
    int waiting = 0; // seed runs not yet expanded
    for (int m = 0; m < sw->spec.nmethods; m++) waiting += sw->chosen[m] < 0 ? sw->spec.seeds - 1 : 0;
    int left = n[RUN_PENDING] + waiting;
    char line[768], *at = line;
    at += sprintf(at, "sweep: %d/%d done", n[RUN_DONE] + n[RUN_DIVERGED] + n[RUN_FAILED], sw->nruns + waiting);
    if (n[RUN_DIVERGED] || n[RUN_FAILED])
        at += sprintf(at, " (%d diverged, %d failed)", n[RUN_DIVERGED], n[RUN_FAILED]);
    at += sprintf(at, ", %d running, %d left", n[RUN_RUNNING], left);
    if (n[RUN_ELSEWHERE]) at += sprintf(at, ", %d in other processes", n[RUN_ELSEWHERE]);
    if (best >= 0)
        at += snprintf(at, 256, "; best %s %s %.6g", sw->runs[best].name,
                       sw->metric.ops->eval_columns[sw->metric.column].name, sw->runs[best].metric);
    if (ndur) {
        double mean = 0;
        int k = ndur < 64 ? ndur : 64;
        for (int i = 0; i < k; i++) mean += durations[i] / k;
        double eta = mean * (left + 0.5 * n[RUN_RUNNING]) / jobs;
        at += sprintf(at, "; ETA %dm%02ds", (int)(eta / 60), (int)fmod(eta, 60));
    }
    printf("%s\n", line);
}

// Trains the runs (only `only` when >= 0) until none is left, jobs at a time.
static int schedule(Sweep *sw, int jobs, int threads, int only) {
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    NN_CHECK(len > 0, "sweep: cannot find this program (/proc/self/exe): %s", strerror(errno));
    self[len] = 0;
    struct sigaction sa = {.sa_handler = on_stop}, old_int, old_term;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int), sigaction(SIGTERM, &sa, &old_term);
    double durations[64], last_print = 0, last_probe = 0;
    int ndur = 0, running = 0, changed = 1, forwarded = 0;
    for (;;) {
        if (!stop_requested) open_seed_runs(sw);
        for (int i = 0; i < sw->nruns && running < jobs && !stop_requested; i++) {
            SweepRun *r = &sw->runs[i];
            if (r->state != RUN_PENDING || (only >= 0 && i != only)) continue;
            probe(sw, r); // another process may have taken or finished it meanwhile
            if (r->state != RUN_PENDING) continue;
            start(r, self, threads);
            running++, changed = 1;
        }
        int elsewhere = 0;
        for (int i = 0; i < sw->nruns; i++) elsewhere += sw->runs[i].state == RUN_ELSEWHERE && (only < 0 || i == only);
        int pending = 0;
        for (int i = 0; i < sw->nruns; i++) pending += sw->runs[i].state == RUN_PENDING && (only < 0 || i == only);
        if (!running && (stop_requested || (!pending && !elsewhere))) break;
        if (changed || now_seconds() - last_print > 300) { // on every change, and a heartbeat
            progress(sw, durations, ndur, jobs);
            last_print = now_seconds(), changed = 0;
        }
        int status;
        pid_t pid = running ? waitpid(-1, &status, WNOHANG) : 0;
        if (pid > 0) {
            for (int i = 0; i < sw->nruns; i++)
                if (sw->runs[i].state == RUN_RUNNING && sw->runs[i].pid == pid)
                    ended(sw, &sw->runs[i], status, durations, &ndur);
            running--, changed = 1;
            continue;
        }
        nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
        if (elsewhere && now_seconds() - last_probe > 2) { // runs in other processes: have they finished?
            last_probe = now_seconds();
            for (int i = 0; i < sw->nruns; i++)
                if (sw->runs[i].state == RUN_ELSEWHERE) {
                    probe(sw, &sw->runs[i]);
                    changed |= sw->runs[i].state != RUN_ELSEWHERE;
                }
        }
        if (stop_requested && !forwarded) { // (a terminal's SIGINT reached them too: a second signal is harmless)
            forwarded = 1;
            for (int i = 0; i < sw->nruns; i++)
                if (sw->runs[i].state == RUN_RUNNING) kill(sw->runs[i].pid, SIGTERM);
        }
    }
    progress(sw, durations, ndur, jobs);
    sigaction(SIGINT, &old_int, NULL), sigaction(SIGTERM, &old_term, NULL);
    if (stop_requested) {
        fprintf(stderr, "nnopt: sweep stopped by %s; the runs under way wrote checkpoints. To continue: nnopt sweep "
                "--out %s\n", stop_requested == SIGINT ? "SIGINT" : "SIGTERM", sw->rt.out);
        return 128 + stop_requested;
    }
    return 0;
}

// ---- the command

static void save_or_check_spec(const SweepSpec *s, const char *out, int given) {
    char *path = nn_join_path(out, "sweep.json"), *json = sweep_spec_json(s);
    char *saved = cli_read_if_present(out, "sweep.json");
    if (saved) {
        SweepSpec old;
        sweep_spec_from_json(&old, saved, path);
        char *old_json = sweep_spec_json(&old);
        NN_CHECK(!given || strcmp(old_json, json) == 0, "%s holds another sweep (its spec: %s). Continue it with "
                 "`nnopt sweep --out %s` alone, or choose another --out", out, old_json, out);
        sweep_spec_free(&old);
        free(saved), free(old_json);
    } else {
        make_dirs(out);
        size_t n = strlen(json);
        json[n] = '\n'; // the NUL becomes the file's last newline
        nn_write_atomic(path, json, n + 1);
    }
    free(path), free(json);
}

int cmd_sweep(int argc, char **argv) {
    Sweep sw = {.rt = {.jobs = 1}};
    int given = sweep_spec_parse(&sw.spec, argc, argv, runtime_flag, &sw.rt);
    NN_CHECK(sw.rt.out, "nnopt sweep needs --out DIR: the sweep's directory (see nnopt sweep --help)");
    if (!given) { // continue the sweep in --out
        char *path = nn_join_path(sw.rt.out, "sweep.json"), *json = cli_read_if_present(sw.rt.out, "sweep.json");
        NN_CHECK(json, "%s: no sweep there yet (no sweep.json): give its grid (see nnopt sweep --help)", sw.rt.out);
        sweep_spec_free(&sw.spec);
        sweep_spec_from_json(&sw.spec, json, path);
        free(json), free(path);
    }
    expand(&sw);
    save_or_check_spec(&sw.spec, sw.rt.out, given);
    for (int i = 0; i < sw.nruns; i++) probe(&sw, &sw.runs[i]);
    open_seed_runs(&sw);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int rc = 0;
    if (sw.rt.list || sw.rt.print_jobs) {
        const char *what[] = {"pending", "running", "done", "diverged", "failed", "running elsewhere"};
        int waiting = 0;
        for (int i = 0; i < sw.nruns; i++) {
            const SweepRun *r = &sw.runs[i];
            if (sw.rt.list) printf("%-10s %s\n", what[r->state], r->name);
            else if (r->state == RUN_PENDING) {
                char *self = cli_shell_quote(provenance_program()), *out = cli_shell_quote(sw.rt.out);
                char *name = cli_shell_quote(r->name);
                printf("%s sweep --out %s --run %s", self, out, name);
                if (sw.rt.threads) printf(" --threads %d", sw.rt.threads);
                printf("\n");
                free(self), free(out), free(name);
            }
        }
        for (int m = 0; m < sw.spec.nmethods; m++) waiting += sw.chosen[m] < 0 ? sw.spec.seeds - 1 : 0;
        if (waiting)
            fprintf(stderr, "# %d more runs (the best settings at more seeds) can start once the tuning runs have "
                    "finished: print the jobs again then\n", waiting);
    } else if (sw.rt.run) {
        int only = -1;
        for (int i = 0; i < sw.nruns && only < 0; i++)
            if (strcmp(sw.runs[i].name, sw.rt.run) == 0) only = i;
        NN_CHECK(only >= 0, "--run '%s': no such run in %s (yet: seed runs appear once their method's tuning has "
                 "finished; nnopt sweep --out %s --list lists them)", sw.rt.run, sw.rt.out, sw.rt.out);
        SweepRun *r = &sw.runs[only];
        if (r->state == RUN_FAILED)
            NN_FATAL("run %s failed before (%s/failed): --retry-failed tries it again", r->name, r->dir);
        rc = schedule(&sw, 1, sw.rt.threads ? sw.rt.threads : (int)cores, only);
        if (!rc && r->state == RUN_FAILED) rc = 1;
    } else {
        int threads = sw.rt.threads ? sw.rt.threads : (int)(cores / sw.rt.jobs > 0 ? cores / sw.rt.jobs : 1);
        printf("sweep: %s, %d jobs of %d threads\n", sw.rt.out, sw.rt.jobs, threads);
        rc = schedule(&sw, sw.rt.jobs, threads, -1);
        int failed = 0;
        for (int i = 0; i < sw.nruns; i++) failed += sw.runs[i].state == RUN_FAILED;
        if (!rc && failed) {
            fprintf(stderr, "nnopt: %d runs failed (their log.txt says why); --retry-failed tries them again\n",
                    failed);
            rc = 1;
        }
        if (!rc) printf("sweep: finished; `nnopt report %s` compares the methods\n", sw.rt.out);
    }
    for (int i = 0; i < sw.nruns; i++)
        free_argv(sw.runs[i].argv, sw.runs[i].argc), free(sw.runs[i].name), free(sw.runs[i].dir);
    free(sw.runs), free(sw.points), free(sw.chosen);
    sweep_spec_free(&sw.spec);
    return rc;
}
