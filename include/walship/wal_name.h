/*
 * wal_name.h - PostgreSQL WAL file names, recognised by name alone.
 *
 *   segment  TTTTTTTTXXXXXXXXYYYYYYYY          (24 upper-case hex digits)
 *   partial  TTTTTTTTXXXXXXXXYYYYYYYY.partial  (end of a timeline at promotion)
 *   backup   TTTTTTTTXXXXXXXXYYYYYYYY.OOOOOOOO.backup (backup history file)
 *   history  TTTTTTTT.history                  (timeline history file)
 */
#ifndef WALSHIP_WAL_NAME_H
#define WALSHIP_WAL_NAME_H

#include <stdbool.h>
#include <stdint.h>

#include "walship/error.h"

typedef enum {
    WS_WAL_SEGMENT,
    WS_WAL_PARTIAL,
    WS_WAL_BACKUP,
    WS_WAL_HISTORY
} ws_wal_kind;

typedef struct ws_wal_name {
    ws_wal_kind kind;
    uint32_t tli;
    uint32_t log;       /* segments only: the middle 8 hex digits */
    uint32_t seg;       /* segments only: the last 8 hex digits */
    uint32_t offset;    /* backup only */
} ws_wal_name;

#define WS_WAL_SEG_NAME_LEN 24

/* Parses a bare file name (no directory); -1 with WS_ERR_INVALID if it is not
 * a WAL file name. */
int ws_wal_name_parse(const char *name, ws_wal_name *out, ws_err *err);

/* True for the 24 hex digit form of a segment name. */
bool ws_wal_is_segment_name(const char *name);

#endif
