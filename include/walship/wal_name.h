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

typedef enum { WS_WAL_SEGMENT, WS_WAL_PARTIAL, WS_WAL_BACKUP, WS_WAL_HISTORY } ws_wal_kind;

typedef struct ws_wal_name {
    ws_wal_kind kind;
    uint32_t tli;
    uint32_t log;    /* segments only: the middle 8 hex digits */
    uint32_t seg;    /* segments only: the last 8 hex digits */
    uint32_t offset; /* backup only */
} ws_wal_name;

#define WS_WAL_SEG_NAME_LEN 24

/* Parses a bare file name (no directory); -1 with WS_ERR_INVALID if it is not
 * a WAL file name. */
int ws_wal_name_parse(const char *name, ws_wal_name *out, ws_err *err);

/* True for the 24 hex digit form of a segment name. */
bool ws_wal_name_is_segment(const char *name);

/* --- segment arithmetic ------------------------------------------------
 * A segment number counts segments from LSN 0; a name's middle and last
 * parts are segno / (4 GiB / size) and segno % (4 GiB / size), as in
 * PostgreSQL's XLogFileName().  Segment sizes are powers of two from 1 MiB
 * to 1 GiB. */

#define WS_WAL_SEG_SIZE_MIN     (1u << 20)
#define WS_WAL_SEG_SIZE_MAX     (1u << 30)
#define WS_WAL_SEG_SIZE_DEFAULT (16u << 20)

/* True for a power of two from 1 MiB to 1 GiB. */
bool ws_wal_name_seg_size_valid(uint64_t seg_size);

/* Segments per 4 GiB "log id" (the middle 8 hex digits). */
uint32_t ws_wal_name_segs_per_log(uint32_t seg_size);

/* The segment number of a segment, .partial or .backup name for seg_size;
 * -1 (WS_ERR_INVALID) when its last 8 digits are out of range for the size
 * or seg_size is not valid. */
int ws_wal_name_segno(const ws_wal_name *w, uint32_t seg_size, uint64_t *segno, ws_err *err);

/* The LSN of the segment's first byte (its first page's xlp_pageaddr). */
int ws_wal_name_start_lsn(const ws_wal_name *w, uint32_t seg_size, uint64_t *lsn, ws_err *err);

/* Fills out as the segment segno of timeline tli. */
void ws_wal_name_from_segno(uint32_t tli, uint64_t segno, uint32_t seg_size, ws_wal_name *out);

/* The segment after w on the same timeline (w: segment or .partial). */
int ws_wal_name_next_segment(const ws_wal_name *w, uint32_t seg_size, ws_wal_name *out, ws_err *err);

#define WS_WAL_NAME_MAX 41 /* longest name (.backup) plus NUL */

/* Formats w as its file name. */
void ws_wal_name_format(const ws_wal_name *w, char out[WS_WAL_NAME_MAX]);

/* "X/X" as PostgreSQL prints an LSN; out has room for 18 bytes. */
void ws_wal_name_format_lsn(uint64_t lsn, char out[18]);

/* "X/X" to an LSN; -1 unless the whole string is that form. */
int ws_wal_name_parse_lsn(const char *text, uint64_t *out);

#endif
