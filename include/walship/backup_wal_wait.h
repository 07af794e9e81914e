/*
 * backup_wal_wait.h - waiting until the WAL a base backup needs is durable
 * in the repository: every segment from the start LSN's to the one holding
 * the last byte before the stop LSN (PostgreSQL's XLByteToPrevSeg), and the
 * backup history file (".backup"), whose text is returned.
 *
 * Objects are checked as walship-push leaves them: present, header and
 * trailer valid (ws_repo_stat_checked), a segment's plaintext exactly one
 * segment.  A check that fails (absent, half-written, storage error) is
 * retried with a growing pause until the time-out, which names what is
 * still missing.
 */
#ifndef WALSHIP_BACKUP_WAL_WAIT_H
#define WALSHIP_BACKUP_WAL_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/repo_object.h"
#include "walship/wal_name.h"

typedef struct ws_backup_wal_range {
    uint32_t tli;
    uint64_t start_lsn, stop_lsn;
    uint32_t seg_size;
} ws_backup_wal_range;

/* The first and last segment and the history file's name. */
void ws_backup_wal_wait_names(const ws_backup_wal_range *r, char first[WS_WAL_NAME_MAX], char last[WS_WAL_NAME_MAX],
                              char history[WS_WAL_NAME_MAX]);

/* Called after each round: files durable so far of total, seconds waited.
 * Returning -1 (err set) stops the wait (e.g. on a signal). */
typedef int (*ws_backup_wal_wait_cb)(void *arg, unsigned done, unsigned total, double waited, ws_err *err);

/* Waits up to timeout seconds; *history (malloc'd, NUL-terminated) is the
 * history file's text. */
int ws_backup_wal_wait(ws_repo *repo, const ws_backup_wal_range *r, double timeout, ws_backup_wal_wait_cb cb, void *arg,
                       char **history, ws_err *err);

#endif
