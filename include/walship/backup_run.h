/*
 * backup_run.h - walship-backup: one full base backup into the repository
 * (doc/backup.md).
 *
 *   checks      replication connection, the server's settings (each refusal
 *               a line saying what to fix), the repository's cluster
 *   clean up    what interrupted backups left (backup_store.h), said so
 *   record      catalog/<ID>.ws as "running" (an unwritable repository fails
 *               here, before the server does any work)
 *   stream      BASE_BACKUP: each tar archive through the tar splitter into
 *               objects of at most object_size (+511) bytes of tar, each
 *               through the codec straight into storage; the manifest too
 *   wait        until the WAL from the start LSN to the stop LSN and the
 *               backup history file are durable in the repository
 *   complete    the record, written last
 *
 * Any failure (signal, server gone, storage error, WAL never arriving,
 * checksum failure) removes what the backup stored and leaves its record
 * "failed"; a SIGKILLed run leaves a "running" record that the next run
 * cleans up.  Progress goes to standard error (backup_progress.h).
 */
#ifndef WALSHIP_BACKUP_RUN_H
#define WALSHIP_BACKUP_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "walship/backup_catalog.h"
#include "walship/config.h"
#include "walship/error.h"

#define WS_BACKUP_OBJECT_SIZE_DEFAULT (1ULL << 30)
#define WS_BACKUP_WAL_TIMEOUT_DEFAULT 300.0

typedef struct ws_backup_run_opts {
    const char *label;          /* NULL: "walship-backup ID" */
    bool fast_checkpoint;       /* CHECKPOINT 'fast' (else 'spread') */
    uint32_t max_rate_kb;       /* MAX_RATE, 0 = unlimited */
    uint64_t object_size;       /* bytes of tar per object */
    double wal_timeout;         /* seconds */
    bool archive_check;         /* archive_mode / archive_library / archive_command */
    bool tty;                   /* progress bar (else phase lines) */
    bool quiet;                 /* no progress at all */
    const char *default_config; /* what walship-push reads without --config */
} ws_backup_run_opts;

void ws_backup_run_opts_default(ws_backup_run_opts *o);

/* Takes one backup; on success *result is its complete record (free with
 * ws_backup_record_free). */
int ws_backup_run(const ws_config *cfg, const ws_backup_run_opts *o, ws_backup_record *result, ws_err *err);

#endif
