// Always-on checks and checked libc/zlib wrappers (ggml's GGML_ASSERT, llm.c's fopenCheck).
// Every failure prints file:line, what went wrong and a hint, then exits non-zero: nothing goes unchecked.
#ifndef NN_CHECK_H
#define NN_CHECK_H

#include <stdio.h>
#include <stddef.h>

// Exit status of every fatal error (a distinct one for non-finite losses lives in tools/).
#define NN_EXIT_FAIL 1

_Noreturn void nn_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define NN_FATAL(...) nn_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

// Fuzzers only (tests/fuzz): a function every fatal error calls with its message instead of exiting; it must not
// return (it longjmps back into the fuzz target). NULL restores the exit. Process-wide, unlike everything else.
void nn_set_fatal_hook(void (*hook)(const char *message));
// NN_CHECK(cond, "what was wrong, and what is accepted", args...)
#define NN_CHECK(cond, ...) do { if (!(cond)) nn_fatal_at(__FILE__, __LINE__, __VA_ARGS__); } while (0)

// The allocators exit on failure and never return NULL (returns_nonnull tells the compiler so).
void *nn_malloc(size_t n) __attribute__((returns_nonnull));
void *nn_calloc(size_t count, size_t size) __attribute__((returns_nonnull));
void *nn_realloc(void *p, size_t n) __attribute__((returns_nonnull));
float *nn_alloc_floats(size_t n);     // 64-byte aligned, zeroed; free with free()
char *nn_strdup(const char *s) __attribute__((returns_nonnull));
char *nn_join_path(const char *dir, const char *name) __attribute__((returns_nonnull)); // "dir/name", malloc'd
FILE *nn_fopen(const char *path, const char *mode);
void nn_fclose(FILE *f, const char *path); // checks the close (a full disk shows up here)

// Reads a whole gzip (or plain) file through zlib. Returns the bytes (NUL-terminated) and sets *len.
// Truncated or corrupt input is fatal with a message naming the file and the byte offset reached.
char *nn_read_gz(const char *path, size_t *len);

// zlib reads a file that is not gzip as plain data: a name ending in ".gz" must really be gzip (an HTML error page
// saved under that name is not). Fatal, naming the file, when it does not start with the gzip magic bytes.
void nn_check_gzip_magic(const char *path);

#endif
