// A run directory's lock, so that two processes never write the same run (two sweeps on one directory, a user
// resuming a run a sweep is training). flock(2) on DIR/.lock: the kernel releases it when its holder exits or is
// killed, so no lock outlives its process. The file names the holder (pid, host, start time, command) for the
// message that refuses a second writer; a clean release empties it, so a non-empty file found unlocked was left by
// a process that died holding it: that stale lock is taken over, and said so.
#ifndef TOOLS_RUN_LOCK_H
#define TOOLS_RUN_LOCK_H

#include <stddef.h>

#define EXIT_LOCKED 75 // the exit status of a run refused because another process holds its directory (EX_TEMPFAIL)

typedef struct {
    int fd; // -1: not held
} RunLock;

// Locks dir (created if needed). Returns 0 when locked; 1 when another process holds it, with its description in
// holder[0..cap). A stale lock is taken over with a line on stderr. Fatal on I/O errors, naming the file.
int run_lock_try(RunLock *lk, const char *dir, char *holder, size_t cap);
// run_lock_try, or exit with EXIT_LOCKED and a message naming the holder.
void run_lock_acquire(RunLock *lk, const char *dir);
// Whether another process holds dir's lock right now (holder filled when so); takes nothing.
int run_lock_held(const char *dir, char *holder, size_t cap);
void run_lock_release(RunLock *lk); // empties the file and unlocks; nothing when not held

#endif
