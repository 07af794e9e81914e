/*
 * localfile.h - reading and replacing small local files safely.
 *
 * Reading never blocks on a file that is not a regular file: the file is
 * opened with O_NONBLOCK and checked with fstat() first, so a FIFO, a device
 * or a directory named by mistake (a config file, a key file, a WAL file)
 * fails at once with a clear message instead of hanging the caller (an
 * archive_command or restore_command that hangs stalls PostgreSQL).
 *
 * Writing replaces a file atomically: a temp file ".NAME.tmp.PID.RANDOM" in
 * the same directory receives the bytes, and a commit renames it over the
 * target; readers see the old file or the whole new one.  Durable by
 * default (fsync of the file, then of the directory after the rename).
 */
#ifndef WALSHIP_LOCALFILE_H
#define WALSHIP_LOCALFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "walship/error.h"

/* Flags for the functions below. */
#define WS_LOCALFILE_NOFOLLOW 0x1 /* a symbolic link is refused (ELOOP) */
#define WS_LOCALFILE_NOSYNC   0x2 /* write: no fsync (caches that need not survive a crash) */
/* open/read: a secret (a key file, a credentials file) must belong to this
 * user or root and give no access to group or others, else WS_ERR_INVALID
 * saying how to fix it. */
#define WS_LOCALFILE_PRIVATE 0x4

/*
 * Opens an existing regular file for reading without blocking (see above);
 * st (may be NULL) receives its fstat().  Returns the descriptor (blocking
 * mode restored), or -1: WS_ERR_NOTFOUND when it does not exist,
 * WS_ERR_INVALID when it is not a regular file, WS_ERR_IO otherwise; the
 * message names path.
 */
int ws_localfile_open(const char *path, unsigned flags, struct stat *st, ws_err *err);

/*
 * Reads the whole regular file into a malloc'd buffer with a NUL after the
 * last byte.  At most max bytes: a larger file fails (WS_ERR_INVALID) without
 * being read further.  1 read, 0 it does not exist, -1 error.
 */
int ws_localfile_read(const char *path, size_t max, unsigned flags, char **out, size_t *len, ws_err *err);

/* Reads up to len bytes at offset, looping over short reads; *got receives
 * how many were read (fewer only at the end of the file). */
int ws_localfile_pread(int fd, void *buf, size_t len, off_t offset, size_t *got, const char *what, ws_err *err);

/* Writes all of buf, looping over short writes and EINTR. */
int ws_localfile_write_all(int fd, const void *buf, size_t len, const char *what, ws_err *err);

/* Replaces path atomically with buf[0..len) (mode for a new file). */
int ws_localfile_write(const char *path, const void *buf, size_t len, int mode, unsigned flags, ws_err *err);

/* A temp file that becomes path on commit (for content written in pieces). */
typedef struct ws_localfile_tmp {
    int fd;     /* write here */
    char *path; /* the target */
    char *tmp;  /* the temp file, same directory */
    bool committed;
} ws_localfile_tmp;

int ws_localfile_tmp_create(const char *path, int mode, ws_localfile_tmp *t, ws_err *err);
/* fsync (unless WS_LOCALFILE_NOSYNC), close, rename over the target, fsync
 * of the directory. */
int ws_localfile_tmp_commit(ws_localfile_tmp *t, unsigned flags, ws_err *err);
/* Closes and, unless committed, removes the temp file; frees the names. */
void ws_localfile_tmp_discard(ws_localfile_tmp *t);

/* A random number for unique temp file names (getrandom; a clock-based
 * value before the system has entropy, when O_EXCL still keeps names
 * unique). */
uint64_t ws_localfile_random_tag(void);

/* Whether name is one of the temp files above (so sweeps can remove crash
 * leftovers). */
bool ws_localfile_is_tmp_name(const char *name);

/* A local file's identity: what changes when it is replaced or written. */
typedef struct ws_localfile_id {
    uint64_t dev;
    uint64_t ino;
    uint64_t size;
    int64_t mtime_ns;
    int64_t ctime_ns;
} ws_localfile_id;

void ws_localfile_id_from_stat(const struct stat *st, ws_localfile_id *out);
bool ws_localfile_id_equal(const ws_localfile_id *a, const ws_localfile_id *b);

int ws_localfile_fsync_dir(const char *dir, ws_err *err);
/* fsync of the directory holding path. */
int ws_localfile_fsync_parent(const char *path, ws_err *err);

#endif
