/*
 * archive_ack.h - durable records that a WAL file was archived ahead.
 *
 * When walship-push archives a .ready file before PostgreSQL asks for it,
 * it writes an acknowledgement ("ack") into <pg_wal>/walship-archive/ once
 * the object is durable and read back.  PostgreSQL's later call for that
 * file finds the ack, checks it with one stat() and returns at once.
 *
 * An ack names the WAL file, the repository and the plaintext size and
 * SHA-256, and records the local file's identity when it was read (device,
 * inode, size, mtime and ctime in ns): PostgreSQL recycles segment files by
 * renaming and overwriting them, and any such change invalidates the ack.
 * The text format (doc/format.md, "Archive acknowledgements") ends in a
 * SHA-256 of the lines before it, so a damaged file is never trusted.
 */
#ifndef WALSHIP_ARCHIVE_ACK_H
#define WALSHIP_ARCHIVE_ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "walship/codec.h"
#include "walship/error.h"
#include "walship/localfile.h"
#include "walship/repo_idcache.h"
#include "walship/wal_name.h"

#define WS_ACK_DIR      WS_IDCACHE_DIR /* inside pg_wal, next to archive_status */
#define WS_ACK_VERSION  1
#define WS_ACK_SUFFIX   ".ack"
#define WS_ACK_REPO_MAX 2048 /* bytes of repository URL */
#define WS_ACK_TEXT_MAX 4096 /* an ack file is never larger */

typedef struct ws_ack {
    char name[WS_WAL_NAME_MAX]; /* the WAL file name */
    char repo[WS_ACK_REPO_MAX]; /* the `repo` setting it was stored with */
    ws_digest digest;           /* plaintext size and SHA-256 */
    ws_localfile_id file;       /* the local file when it was read */
} ws_ack;

/* The text form (malloc'd, NUL-terminated); NULL when a field cannot be
 * written (a name that is not a WAL file name, a URL with control
 * characters or too long). */
char *ws_archive_ack_format(const ws_ack *a, ws_err *err);

/* Parses the text form strictly: every line, in order, the checksum last.
 * Anything else is WS_ERR_CORRUPT naming `what`. */
int ws_archive_ack_parse(const char *buf, size_t len, const char *what, ws_ack *out, ws_err *err);

/* dir/<name>.ack into out (size outlen); -1 when it does not fit. */
int ws_archive_ack_path(const char *dir, const char *name, char *out, size_t outlen, ws_err *err);

/* Writes dir/<name>.ack atomically and durably (file_out.h). */
int ws_archive_ack_write(const char *dir, const ws_ack *a, ws_err *err);

/* Reads dir/<name>.ack: 1 read and parsed, 0 absent, -1 error
 * (WS_ERR_CORRUPT: the file exists but is not a valid ack for name). */
int ws_archive_ack_read(const char *dir, const char *name, ws_ack *out, ws_err *err);

/* Removes dir/<name>.ack; absent is not an error. */
int ws_archive_ack_remove(const char *dir, const char *name, ws_err *err);

/*
 * Whether ack vouches for the WAL file `name`, stored in repository `repo`,
 * whose file now has identity `now`.  On false, *why (may be NULL) says
 * what differs, for the log.
 */
bool ws_archive_ack_vouches(const ws_ack *a, const char *name, const char *repo, const ws_localfile_id *now,
                            const char **why);

#endif
