#define _POSIX_C_SOURCE 200809L
#include "resume.h"
#include "nn/check.h"
#include "nn/checkpoint.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *resume_join_args(int argc, char **argv, size_t *len) {
    size_t n = 0;
    for (int i = 1; i < argc; i++) n += strlen(argv[i]) + 1;
    char *text = nn_malloc(n + 1), *at = text;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) {
            i++;
            continue;
        }
        if (strncmp(argv[i], "--resume=", 9) == 0) continue;
        size_t k = strlen(argv[i]) + 1;
        memcpy(at, argv[i], k);
        at += k;
    }
    *len = (size_t)(at - text);
    return text;
}

void resume_check_tool(CkptReader *r, const char *path, const char *tool) {
    char *saved = ckpt_has(r, "tool") ? ckpt_get_bytes(r, "tool", NULL) : NULL;
    const char *by = saved ? saved : "train-lm";
    if (strcmp(tool, "train") == 0 && (strcmp(by, "train-lm") == 0 || strcmp(by, "train-cifar") == 0)) {
        free(saved);
        NN_FATAL("checkpoint '%s' is of run format 1 (written by nnopt train-lm or train-cifar before workloads, up "
                 "to commit a742b65); this nnopt reads run format 2 (nnopt train): finish that run with the older "
                 "nnopt, or start it again", path);
    }
    if (strcmp(by, tool) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", by);
        free(saved);
        NN_FATAL("checkpoint '%s' was written by nnopt %s, not nnopt %s: resume it with nnopt %s --resume %s", path,
                 msg, tool, msg, path);
    }
    free(saved);
}

char *resume_checkpoint_argv(const char *path, const char *tool, size_t *len) {
    CkptReader *r = ckpt_open(path);
    resume_check_tool(r, path, tool);
    char *argv = ckpt_get_bytes(r, "argv", len);
    ckpt_close(r);
    return argv;
}

void resume_parse(ResumeArgs *a, void *cfg, ResumeParseFn parse, int argc, char **argv, const char *prog,
                  const char *tool) {
    const char *resume = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--resume") == 0 && i + 1 < argc) resume = argv[i + 1];
        else if (strncmp(argv[i], "--resume=", 9) == 0) resume = argv[i] + 9;
    }
    *a = (ResumeArgs){0};
    if (!resume) {
        parse(cfg, argc, argv, prog);
        a->text = resume_join_args(argc, argv, &a->len);
        return;
    }
    size_t saved_len;
    char *saved = resume_checkpoint_argv(resume, tool, &saved_len);
    int nsaved = 0;
    for (size_t i = 0; i < saved_len; i++) nsaved += saved[i] == '\0';
    char **all = nn_malloc((size_t)(nsaved + argc + 2) * sizeof(char *));
    int n = 0;
    all[n++] = argv[0];
    for (size_t i = 0; i < saved_len; i += strlen(saved + i) + 1) all[n++] = saved + i;
    const char *slash = strrchr(resume, '/');
    // the checkpoint's directory: "." for a bare file name, "/" for a file in the root
    size_t dirlen = slash && slash > resume ? (size_t)(slash - resume) : 1;
    char *outflag = nn_malloc(dirlen + 8);
    snprintf(outflag, dirlen + 8, "--out=%.*s", (int)dirlen, slash ? resume : ".");
    all[n++] = outflag;
    for (int i = 1; i < argc; i++) all[n++] = argv[i];
    parse(cfg, n, all, prog);
    // the new saved command line: the old one plus this one's flags (--out included: the run lives there now)
    a->text = resume_join_args(n, all, &a->len);
    a->saved = saved, a->all = all, a->outflag = outflag;
}

void resume_args_free(ResumeArgs *a) {
    free(a->text), free(a->saved), free(a->all), free(a->outflag);
    *a = (ResumeArgs){0};
}

static volatile sig_atomic_t stop_signal;
static struct sigaction old_int, old_term;

static void on_stop_signal(int sig) { stop_signal = sig; }

void stop_signals_catch(void) {
    stop_signal = 0;
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
}

int stop_signals_pending(void) { return stop_signal; }

void stop_signals_restore(void) {
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

const char *stop_signal_name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "a signal"; }

void stop_signal_report(int sig, long step, const char *tool, const char *checkpoint) {
    if (checkpoint)
        fprintf(stderr, "nnopt: stopped by %s after step %ld; checkpoint written to %s. Resume with:\n"
                "  nnopt %s --resume %s\n", stop_signal_name(sig), step, checkpoint, tool, checkpoint);
    else
        fprintf(stderr, "nnopt: stopped by %s after step %ld\n", stop_signal_name(sig), step);
}
