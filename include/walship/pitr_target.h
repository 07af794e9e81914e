/*
 * pitr_target.h - what a point-in-time recovery stops at, as the operator
 * names it (pitr-restore's --target-* options) and as PostgreSQL 15 applies
 * it (recovery_target_*, xlogrecovery.c):
 *
 *   latest     no target: replay to the end of the archive, then promote
 *   immediate  stop as soon as the backup is consistent (its stop LSN)
 *   time       stop BEFORE the first commit or abort record whose time is
 *              after the target (at or after it when exclusive)
 *   xid        stop AFTER the commit or abort record of that transaction
 *              (before it when exclusive)
 *   name       stop AFTER the first restore point of that name
 *   lsn        stop AFTER the first record starting at or after the LSN
 *              (before it when exclusive)
 */
#ifndef WALSHIP_PITR_TARGET_H
#define WALSHIP_PITR_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/pg_time.h"
#include "walship/wal_reader.h"

typedef enum ws_pitr_target_kind {
    WS_PITR_LATEST = 0,
    WS_PITR_IMMEDIATE,
    WS_PITR_TIME,
    WS_PITR_XID,
    WS_PITR_NAME,
    WS_PITR_LSN,
} ws_pitr_target_kind;

typedef struct ws_pitr_target {
    ws_pitr_target_kind kind;
    bool inclusive;                    /* false: --target-exclusive */
    int64_t time;                      /* TimestampTz */
    uint32_t xid;                      /* the 32 bits PostgreSQL compares */
    uint64_t lsn;                      /* the LSN */
    char name[WS_WAL_RP_NAME_MAX + 1]; /* restore point */
    char given[256];                   /* the option's text, for messages */
} ws_pitr_target;

/* A latest target, inclusive. */
void ws_pitr_target_init(ws_pitr_target *t);

/* "latest" or "immediate" (--target). */
int ws_pitr_target_set_keyword(ws_pitr_target *t, const char *text, ws_err *err);

/* --target-time: "YYYY-MM-DD HH:MM:SS[.ffffff] ZONE" (pg_time.h; known
 * abbreviations may be NULL). */
int ws_pitr_target_set_time(ws_pitr_target *t, const char *text, const ws_zone_abbrev *known, size_t nknown,
                            ws_err *err);

/* --target-xid: a decimal transaction id; a 64-bit one (txid_current(),
 * with its epoch) is cut to its low 32 bits, as PostgreSQL does. */
int ws_pitr_target_set_xid(ws_pitr_target *t, const char *text, ws_err *err);

/* --target-name: a restore point name (at most 63 bytes). */
int ws_pitr_target_set_name(ws_pitr_target *t, const char *text, ws_err *err);

/* --target-lsn: "X/X". */
int ws_pitr_target_set_lsn(ws_pitr_target *t, const char *text, ws_err *err);

/* Whether recovery replays the stop record (xid, name, lsn when inclusive)
 * or stops before it (time; xid and lsn when exclusive). */
bool ws_pitr_target_stops_after(const ws_pitr_target *t);

/* Whether rec is the record recovery stops at (before or after it, as
 * above).  Only for time, xid, name and lsn targets. */
bool ws_pitr_target_matches(const ws_pitr_target *t, const ws_wal_record *rec);

/* "latest", "immediate", "time", ... */
const char *ws_pitr_target_kind_name(ws_pitr_target_kind k);

/* For people: "time 2024-05-01 12:00:00.000000+00 (inclusive)". */
void ws_pitr_target_describe(const ws_pitr_target *t, char *out, size_t outlen);

#endif
