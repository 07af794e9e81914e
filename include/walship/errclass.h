/*
 * errclass.h - what an error means for the command that met it: the one
 * mapping from error codes (error.h) to classes, and from classes to each
 * command's exit status, as doc/archive.md documents them.
 *
 *   class        codes                       push   fetch (archive recovery / standby)
 *   absent       NOTFOUND                    1      1 / 1
 *   integrity    CORRUPT, KEY, FORMAT,       1      200 / 200
 *                CONFLICT
 *   unreachable  TRANSIENT, IO               1      201 / 1 (PostgreSQL retries)
 *   refused      STORAGE, PERM               1      201 / 201
 *   config       CONFIG                      1      202 / 202
 *   norepo       NOREPO                      1      202 / 1 (PostgreSQL retries)
 *   local        INVALID, NOMEM, INTERNAL    1      202 / 202
 *
 * KEY is a stored object that does not decrypt with the configured key (an
 * integrity failure); a missing or unreadable key file is CONFIG.  NOREPO
 * is a location that holds no walship repository (its root is missing, or
 * it has no identity object); a repository of another cluster is CONFIG.
 * IO is a system call failing on the repository's side (file://) or while
 * reading it; errors of local output (fetch's destination) are classified
 * by the caller as local whatever their code.
 */
#ifndef WALSHIP_ERRCLASS_H
#define WALSHIP_ERRCLASS_H

#include <stdbool.h>

#include "walship/error.h"

typedef enum ws_errclass {
    WS_CLASS_OK,
    WS_CLASS_ABSENT,
    WS_CLASS_INTEGRITY,
    WS_CLASS_UNREACHABLE,
    WS_CLASS_REFUSED,
    WS_CLASS_CONFIG,
    WS_CLASS_NOREPO,
    WS_CLASS_LOCAL
} ws_errclass;

/* Exit statuses of walship-push (and the other commands but walship-fetch). */
#define WS_EXIT_OK    0
#define WS_EXIT_ERROR 1
#define WS_EXIT_USAGE 2

/* Exit statuses of walship-fetch (restore_command); above 125 PostgreSQL
 * stops recovery. */
#define WS_FETCH_OK          0
#define WS_FETCH_ABSENT      1
#define WS_FETCH_INTEGRITY   200
#define WS_FETCH_UNREACHABLE 201
#define WS_FETCH_LOCAL       202

ws_errclass ws_errclass_of(ws_errcode code);

/* The class's name for messages and tests, e.g. "integrity". */
const char *ws_errclass_name(ws_errclass c);

/* walship-fetch's exit status; standby: standby.signal is present. */
int ws_errclass_fetch_exit(ws_errclass c, bool standby);

/* walship-push's exit status: 0 for OK, else 1 (PostgreSQL keeps the file
 * and retries). */
int ws_errclass_push_exit(ws_errclass c);

/* Whether an error of this class concerns the repository or the
 * configuration as a whole rather than one file: more work against the
 * same repository would fail the same way (look-ahead stops). */
bool ws_errclass_is_global(ws_errclass c);

#endif
