// Files written whole or not at all: a temporary file beside the target, synced and renamed over it once
// complete. A full disk, an unwritable directory or a crash leaves the previous version of the target as it was.
// Every writer of the program ends in nn_publish: summaries, reports, plots, data files, CSVs and checkpoints.
#ifndef NN_ATOMIC_FILE_H
#define NN_ATOMIC_FILE_H

#include <stdio.h>
#include <stddef.h>

typedef struct {
    FILE *f;
    char *path, *tmp;
} AtomicFile;

// Opens a temporary file beside `path` for writing through the returned FILE (also a->f). Fatal, naming path.
FILE *atomic_open(AtomicFile *a, const char *path);
// Renames the temporary file over path once every write succeeded (nn_publish); fatal, naming path, with the
// temporary file removed, otherwise.
void atomic_commit(AtomicFile *a);

// A new temporary file "path.tmp.XXXXXX" beside path: its descriptor, its name in *tmp (malloc'd); -1 and errno.
// Until nn_publish renames it into place, the program's exit (a fatal error) removes it.
int nn_tmp_beside(const char *path, char **tmp);
// The last step of every atomic write: f (open on tmp) flushed and checked for any earlier write error, synced,
// made 0644 (mkstemp makes 0600), closed, renamed over path, and the directory synced. Returns 0, or -1 with what
// failed in err; f is closed either way and tmp is left to the caller (removed, or kept as a resumable .partial).
int nn_publish(FILE *f, const char *tmp, const char *path, char *err, size_t n);

// Writes `len` bytes to `path` atomically (atomic_open, fwrite, atomic_commit).
void nn_write_atomic(const char *path, const void *data, size_t len);
// fsync of the directory holding `path`, after a rename into it. Fatal on I/O errors; a file system that cannot sync
// directories (EINVAL) is accepted.
void nn_fsync_parent_dir(const char *path);

#endif
