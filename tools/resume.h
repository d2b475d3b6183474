// What every training command shares to stop cleanly and resume a run from its checkpoint:
//   - the command line a checkpoint saves (the arguments after the subcommand, NUL-separated, without --resume),
//   - parsing with --resume: the checkpoint's saved arguments first, then --out=<the checkpoint's directory>, then
//     this command line's own flags (later flags win), so the configuration is the saved run's with the few
//     changes a resume may make (the checkpoint's ckpt_check_config decides which),
//   - SIGINT/SIGTERM caught as a flag that the training loop reads between steps (it finishes the step, writes a
//     checkpoint and exits with 128 + the signal).
// train-lm and train-cifar use it.
#ifndef TOOLS_RESUME_H
#define TOOLS_RESUME_H

#include <stddef.h>

// argv[1..argc) as NUL-separated text (malloc'd, *len bytes), without any --resume PATH / --resume=PATH.
char *resume_join_args(int argc, char **argv, size_t *len);
// The saved command line (tensor "argv", malloc'd, NUL-separated, *len bytes) of a checkpoint; fatal, naming the
// file, when it is missing or damaged, or when it was written by another command than `tool` (resume_check_tool).
char *resume_checkpoint_argv(const char *path, const char *tool, size_t *len);
// The command that wrote a checkpoint: its "tool" tensor ("train-cifar"), or, without one, "train-lm" (whose
// checkpoints predate the tensor). Fatal, naming both commands, when it is not `tool`: another command's flags and
// configuration would only give a confusing message about an unknown option or field.
struct CkptReader;
void resume_check_tool(struct CkptReader *r, const char *path, const char *tool);

// A tool's parser: fills cfg from argv (after the subcommand), fatal on bad input (e.g. cifar_config_parse).
typedef void (*ResumeParseFn)(void *cfg, int argc, char **argv, const char *prog);

typedef struct {
    char *text;       // the command line to save in this run's checkpoints (NUL-separated)
    size_t len;       // its bytes
    char *saved, **all, *outflag; // what cfg's strings point into (getopt's optarg): keep until the run ends
} ResumeArgs;

// Parses argv with `parse` into cfg; with --resume PATH (a checkpoint of `tool`, e.g. "train-cifar": the
// subcommand, as in the resume message), parses the checkpoint's saved arguments, then
// --out=<PATH's directory>, then argv's flags. a->text becomes the new saved command line (the old one plus these
// flags). Free with resume_args_free after the run.
void resume_parse(ResumeArgs *a, void *cfg, ResumeParseFn parse, int argc, char **argv, const char *prog,
                  const char *tool);
void resume_args_free(ResumeArgs *a);

// Installs the SIGINT/SIGTERM handlers (they only record the signal) and clears the flag; restore puts the
// previous handlers back. The flag is process-wide, as signals are: one run at a time.
void stop_signals_catch(void);
int stop_signals_pending(void); // the signal number caught (SIGINT or SIGTERM), or 0
void stop_signals_restore(void);
const char *stop_signal_name(int sig); // "SIGINT", "SIGTERM"
// The message of a run stopped by signal `sig` after `step` steps, on stderr: where the checkpoint went and the
// command that resumes it (`nnopt <tool> --resume <checkpoint>`), or, with checkpoint NULL, only that it stopped.
void stop_signal_report(int sig, long step, const char *tool, const char *checkpoint);

#endif
