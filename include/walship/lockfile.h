/*
 * lockfile.h - advisory locks between processes and threads: flock() on a
 * file, waited for up to a deadline.
 *
 * One behaviour everywhere: the lock file is opened read-only (flock needs
 * no write access), created with mode WS_LOCKFILE_MODE when missing, never
 * through a symbolic link; every take opens its own descriptor, so two
 * threads of one process exclude each other as two processes do; a wait
 * polls with a pause growing from 1 ms to 50 ms until the deadline (it
 * never blocks for ever).  The lock is released by ws_lockfile_release() or
 * when the holder dies.
 *
 * Per-name locks hash the name into one of WS_LOCKFILE_SLOTS files named
 * "lock-XX" (a fixed set in a directory, so nothing accumulates).
 */
#ifndef WALSHIP_LOCKFILE_H
#define WALSHIP_LOCKFILE_H

#include <stdbool.h>
#include <stddef.h>

#include "walship/error.h"

#define WS_LOCKFILE_MODE  0640
#define WS_LOCKFILE_SLOTS 64

/* Flocks the open fd (exclusive or shared), waiting up to timeout seconds
 * (<= 0: one try).  1 locked, 0 still held by another at the deadline, -1
 * error naming `what`. */
int ws_lockfile_flock(int fd, bool exclusive, double timeout, const char *what, ws_err *err);

/*
 * Opens path (creating it when create) and flocks it as ws_lockfile_flock.
 * 1 locked (*fd set), 0 held by another at the deadline, or absent when not
 * create (*fd -1, err untouched), -1 error (WS_ERR_NOTFOUND: the directory
 * to create it in is missing).
 */
int ws_lockfile_take(const char *path, bool exclusive, bool create, double timeout, int *fd, ws_err *err);

/* Whether the file fd has locked is still the one at path (a lock file
 * removed and made again while someone waited does not count). */
bool ws_lockfile_still_at(int fd, const char *path);

/* Releases (closes) a lock taken with ws_lockfile_take; -1 is ignored. */
void ws_lockfile_release(int fd);

/* The slot of name (FNV-1a of its bytes modulo WS_LOCKFILE_SLOTS). */
unsigned ws_lockfile_slot(const char *name);

/* dir/lock-XX for name's slot; -1 (WS_ERR_INVALID) when it does not fit. */
int ws_lockfile_slot_path(const char *dir, const char *name, char *out, size_t outlen, ws_err *err);

#endif
