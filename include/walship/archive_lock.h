/*
 * archive_lock.h - a per-name lock among the walship-push processes and
 * threads of one pg_wal directory.
 *
 * flock() on DIR/lock-XX, XX a hash of the WAL file name into 64 files
 * (lockfile.h: a fixed set, so nothing accumulates).  Each call opens its
 * own descriptor, so two threads of one process exclude each other as two
 * processes do.  The lock is released when the holder unlocks or dies.
 */
#ifndef WALSHIP_ARCHIVE_LOCK_H
#define WALSHIP_ARCHIVE_LOCK_H

#include "walship/error.h"

typedef struct ws_archive_lock ws_archive_lock;

/* Takes the lock of name in dir, waiting up to timeout seconds (<= 0: one
 * try).  1 locked (*out set), 0 still held by another after the timeout,
 * -1 error. */
int ws_archive_lock_name(const char *dir, const char *name, double timeout, ws_archive_lock **out, ws_err *err);
void ws_archive_lock_release(ws_archive_lock *lock);

#endif
