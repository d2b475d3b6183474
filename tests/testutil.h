// Test support shared by the test programs: fatal-error checks in a forked child, and temporary files.
#ifndef TESTS_TESTUTIL_H
#define TESTS_TESTUTIL_H

#include <stddef.h>

// Runs fn(arg) in a forked child whose stderr is captured through a pipe (its stdout goes to /dev/null), then
// asserts (cmocka) that the child exited with a non-zero status, not by a signal, and that its stderr contains every
// one of the NULL-terminated substrings. The captured message is printed as TAP comment lines ("# ...").
// fn runs outside cmocka's test runner: it must not use cmocka asserts; returning from it counts as "no error".
// The child is killed after 60 s so a hang fails instead of stalling the suite.
void expect_fatal(void (*fn)(void *arg), void *arg, const char *want, ...) __attribute__((sentinel));

// A fresh empty directory under $TMPDIR (or /tmp); returns its malloc'd path. Remove it with tu_rmtree.
char *tu_mkdtemp(void);
// "dir/rel", malloc'd.
char *tu_path(const char *dir, const char *rel);
// Writes dir/rel (creating the missing directories of rel), as plain bytes or, with gz, gzip through zlib.
// Returns the malloc'd path of the file.
char *tu_write(const char *dir, const char *rel, const void *data, size_t len, int gz);
// Removes path and everything under it (does not follow symbolic links).
void tu_rmtree(const char *path);

// The nnopt program (tests run from the repository root; $NNOPT names the binary, default ./nnopt).
// Runs `nnopt ARGS` through the shell and captures stdout and stderr into *out (malloc'd); returns the exit status
// (128 when killed by a signal).
int tu_run_nnopt(char **out, const char *args);
// Asserts that `nnopt ARGS` fails (non-zero exit) with `message` somewhere in its output; prints the error line.
void tu_expect_failure(const char *args, const char *message);
// A whole file, NUL-terminated (malloc'd), or NULL when it cannot be opened.
char *tu_read_file(const char *path);
int tu_count_lines(const char *s); // newline characters in s
// s as one single-quoted shell word ('it'\''s'), malloc'd: for tu_run_nnopt's command line.
char *tu_shell_quote(const char *s);
// The value of a top-level key of a JSON object (summary.json), printed compactly by cJSON: "\"done\"", "25",
// "null" (malloc'd); fails the test when the text is not JSON or has no such key.
char *tu_json_value(const char *json, const char *key);
// Asserts that tu_json_value(json, key) is `want`, printing both when it is not.
void tu_assert_json(const char *json, const char *key, const char *want);

#endif
