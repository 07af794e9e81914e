/*
 * wal_reader.h - reading the records of PostgreSQL 13-17 WAL segments.
 *
 * A push-based reader: begin a segment, write its bytes in pieces of any
 * size (or put ws_wal_reader_sink_new() in a chain), end it.  It checks what
 * PostgreSQL's own reader checks and stops, for the rest of the segment, at
 * the first thing that is not valid WAL, so a recycled or zeroed tail is
 * never taken for records:
 *
 *   pages    magic (the first page's, one of PostgreSQL 13..17), flag bits,
 *            long header on a segment's first page only (system identifier,
 *            segment size, block size 8192), xlp_pageaddr equal to the page's
 *            LSN, xlp_tli at most the segment name's timeline and never going
 *            back; XLP_FIRST_IS_CONTRECORD and xlp_rem_len agreeing with the
 *            record in progress
 *   records  xl_tot_len at least 24 and below 1 GiB, a valid resource manager
 *            id, xl_prev equal to the previous record's start, CRC-32C;
 *            records the reader decodes (below) must also parse exactly
 *
 * Records are MAXALIGN(8)-aligned, span pages and segments.  A record is
 * reported in the segment where it ends (that is where its CRC can be
 * checked).  Consecutive segments written one after the other into the same
 * reader carry a record in progress across: begin() of segment N+1 (same or
 * higher timeline) right after segment N ended at its end continues N's
 * last record.  Otherwise the segment is read from scratch: the rest of a
 * record that began before it is skipped (continued_unread) and the first
 * record's xl_prev cannot be checked.
 *
 * Memory: one 8 KiB page, plus the records the reader decodes (transaction
 * commit/abort and restore points) held whole up to record_cap bytes; every
 * other record only has its CRC computed as it streams by, whatever its
 * size.  A decoded record above the cap stops the segment (WS_WAL_STOP_TOO_LARGE).
 *
 * WAL is in the byte order of the server that wrote it; this reader reads
 * host byte order, like PostgreSQL's own tools.
 */
#ifndef WALSHIP_WAL_READER_H
#define WALSHIP_WAL_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/sink.h"
#include "walship/wal_name.h"

#define WS_WAL_RECORD_CAP_DEFAULT (64u << 20) /* bytes of one decoded record */
#define WS_WAL_RP_NAME_MAX        64          /* rp_name, NUL included */

/* What a record is, as far as the index cares. */
typedef enum ws_wal_rec_kind {
    WS_WAL_REC_OTHER = 0,
    WS_WAL_REC_COMMIT,          /* RM_XACT_ID XLOG_XACT_COMMIT */
    WS_WAL_REC_COMMIT_PREPARED, /* XLOG_XACT_COMMIT_PREPARED */
    WS_WAL_REC_ABORT,           /* XLOG_XACT_ABORT */
    WS_WAL_REC_ABORT_PREPARED,  /* XLOG_XACT_ABORT_PREPARED */
    WS_WAL_REC_PREPARE,         /* XLOG_XACT_PREPARE (not decoded) */
    WS_WAL_REC_RESTORE_POINT,   /* RM_XLOG_ID XLOG_RESTORE_POINT */
    WS_WAL_REC_SWITCH,          /* RM_XLOG_ID XLOG_SWITCH */
} ws_wal_rec_kind;

typedef struct ws_wal_record {
    uint64_t lsn;     /* first byte of the record header */
    uint64_t end_lsn; /* MAXALIGN of the LSN after its last byte: where the
                        * next record starts unless a page header comes first
                        * (PostgreSQL's EndRecPtr, what XLogInsert returns) */
    uint64_t prev;    /* xl_prev */
    uint32_t tot_len;
    uint32_t xid; /* xl_xid */
    uint8_t rmid;
    uint8_t info;
    ws_wal_rec_kind kind;
    /* commit/abort(+prepared): the top-level xid recovery_target_xid matches
     * (xl_xid, or the prepared transaction's xid for *_PREPARED); prepare:
     * xl_xid. */
    uint32_t target_xid;
    uint32_t nsubxacts;                /* commit/abort */
    int64_t time;                      /* commit/abort: xact_time; restore point: rp_time
                            * (TimestampTz: microseconds since 2000-01-01 UTC) */
    char name[WS_WAL_RP_NAME_MAX + 1]; /* restore point: rp_name */
} ws_wal_record;

/* Why reading a segment ended. */
typedef enum ws_wal_stop {
    WS_WAL_STOP_NONE = 0,  /* still reading */
    WS_WAL_STOP_END,       /* valid to the segment's end: the WAL goes on in the next one */
    WS_WAL_STOP_SWITCH,    /* an XLOG_SWITCH record: the rest of the segment is unused */
    WS_WAL_STOP_ZERO,      /* zeros where the next record or page header would be: end of the WAL written */
    WS_WAL_STOP_PAGE,      /* a page header that does not belong there (e.g. a recycled page) */
    WS_WAL_STOP_RECORD,    /* an invalid record: length, rmgr, prev-link, contrecord, CRC, layout */
    WS_WAL_STOP_TOO_LARGE, /* a record to decode is larger than record_cap */
    WS_WAL_STOP_SHORT,     /* the input ended before the segment's end (a last
                            * partial page is not read, as PostgreSQL reads
                            * whole pages) */
} ws_wal_stop;

/* Short lower-case name of a stop reason ("end", "switch", ...) for logs
 * and the index; ws_wal_stop_parse reverses it (-1 when unknown). */
const char *ws_wal_stop_name(ws_wal_stop stop);
int ws_wal_stop_parse(const char *name, ws_wal_stop *out);

#define WS_WAL_DETAIL_MAX 200

/* The outcome of one segment (filled by ws_wal_reader_end). */
typedef struct ws_wal_seg_result {
    ws_wal_stop stop;
    /* end: the segment's end; switch: the switch record's end_lsn; otherwise
     * where the valid WAL ends: the start of the record that could not be
     * read, or the position after the last valid record (a page LSN when it
     * ended at a page boundary). */
    uint64_t stop_lsn;
    char detail[WS_WAL_DETAIL_MAX]; /* for people: what was wrong, and where */
    bool continued_unread;          /* it starts with the rest of a record whose
                             * beginning was not read (not reported) */
    uint64_t records;               /* valid records that end in this segment */
    uint64_t first_lsn;             /* start of the first of them (may lie in the
                             * previous segment); 0 when records == 0 */
    uint64_t end_lsn;               /* end_lsn of the last of them; 0 when none */
    uint64_t sysid;                 /* from the first page; 0 if it was not valid */
    unsigned pg_version;            /* from the first page's magic; 0 if unknown */
} ws_wal_seg_result;

/* Called for every valid record, in WAL order, as soon as it ends.  The
 * record is only valid during the call.  Non-zero return: -1 stops the
 * reader with that error. */
typedef int (*ws_wal_record_fn)(void *arg, const ws_wal_record *rec, ws_err *err);

typedef struct ws_wal_reader_opts {
    uint32_t record_cap;        /* 0: WS_WAL_RECORD_CAP_DEFAULT */
    ws_wal_record_fn on_record; /* may be NULL */
    void *arg;
} ws_wal_reader_opts;

typedef struct ws_wal_reader ws_wal_reader;

ws_wal_reader *ws_wal_reader_new(const ws_wal_reader_opts *opts, ws_err *err);
void ws_wal_reader_free(ws_wal_reader *r);

/*
 * Starts segment `seg` (a segment or .partial name; its timeline and number
 * say which LSNs it holds) of seg_size bytes (a valid WAL segment size).
 * Continues the previous segment's record in progress when seg directly
 * follows it (see above).  -1 on a bad argument or a segment still open.
 */
int ws_wal_reader_begin(ws_wal_reader *r, const ws_wal_name *seg, uint32_t seg_size, ws_err *err);

/* The same, reading only from byte offset (a multiple of 8192) to the end:
 * from scratch, as after a gap.  Enough to carry a record into the next
 * segment when it began at or after offset (see ws_wal_reader_skipping). */
int ws_wal_reader_begin_at(ws_wal_reader *r, const ws_wal_name *seg, uint32_t seg_size, uint32_t offset, ws_err *err);

/* After a segment ended at its end: true when the reader is still inside a
 * record whose beginning it did not see (so the next segment's first record
 * would not be read either). */
bool ws_wal_reader_skipping(const ws_wal_reader *r);

/* Feeds the next len bytes of the segment.  -1 when more than seg_size bytes
 * arrive, or the record callback failed; invalid WAL is not an error (it
 * stops reading, see ws_wal_seg_result). */
int ws_wal_reader_write(ws_wal_reader *r, const uint8_t *buf, size_t len, ws_err *err);

/* Ends the segment and fills out (may be NULL). */
int ws_wal_reader_end(ws_wal_reader *r, ws_wal_seg_result *out, ws_err *err);

/* Forgets any segment and record in progress: the next begin() starts from
 * scratch (e.g. after a failed read of a segment). */
void ws_wal_reader_reset(ws_wal_reader *r);

/*
 * A pass-through stage for a streaming chain: every byte written goes to the
 * reader (for the segment begun with ws_wal_reader_begin) and then to next
 * (may be NULL); finish ends the segment (ws_wal_reader_end; the result with
 * ws_wal_reader_last) and finishes next.  Free with ws_sink_free; the reader
 * is not owned.
 */
ws_sink *ws_wal_reader_sink_new(ws_wal_reader *r, ws_sink *next, ws_err *err);

/* The result of the segment ended last. */
const ws_wal_seg_result *ws_wal_reader_last(const ws_wal_reader *r);

/* ISO 8601 UTC text of a TimestampTz, "2024-05-01T12:34:56.123456Z";
 * out has room for WS_WAL_TIME_TEXT_MAX bytes. */
#define WS_WAL_TIME_TEXT_MAX 80
void ws_wal_reader_time_format(int64_t ts, char out[WS_WAL_TIME_TEXT_MAX]);

#endif
