/*
 * backup_history.h - PostgreSQL's backup history file (the ".backup" file a
 * base backup leaves in the WAL archive), and its times.
 *
 *   START WAL LOCATION: 0/2000028 (file 000000010000000000000002)
 *   STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)
 *   CHECKPOINT LOCATION: 0/2000060
 *   BACKUP METHOD: streamed
 *   BACKUP FROM: primary
 *   START TIME: 2024-05-01 12:34:56 CEST
 *   LABEL: nightly
 *   START TIMELINE: 1
 *   STOP TIME: 2024-05-01 12:35:10 CEST
 *   STOP TIMELINE: 1
 *
 * The times are local times in the server's log_timezone with that zone's
 * abbreviation (or a numeric one such as "+03").
 */
#ifndef WALSHIP_BACKUP_HISTORY_H
#define WALSHIP_BACKUP_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

#define WS_BACKUP_HISTORY_MAX 8192 /* bytes accepted */

typedef struct ws_backup_history {
    uint64_t start_lsn, stop_lsn, checkpoint_lsn;
    uint32_t start_tli, stop_tli;
    char start_time[64], stop_time[64]; /* as written */
    char label[1024];
    char method[32];
    char from[32];
} ws_backup_history;

/* Parses and checks the text (what names it in messages): WS_ERR_CORRUPT
 * when a line is missing or malformed. */
int ws_backup_history_parse(const char *text, size_t len, const char *what, ws_backup_history *out, ws_err *err);

/*
 * "YYYY-MM-DD HH:MM:SS ZONE" to a TimestampTz (microseconds since
 * 2000-01-01 UTC).  ZONE is UTC, GMT, Z, a numeric offset (+HH, -HHMM,
 * +HH:MM), or an abbreviation of zone_name (the server's log_timezone, a tz
 * database name), which is then looked up with the C library: this changes
 * TZ in the process for the call, so call it while no other thread runs.
 */
int ws_backup_history_time(const char *text, const char *zone_name, int64_t *out, ws_err *err);

#endif
