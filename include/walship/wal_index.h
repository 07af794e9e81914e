/*
 * wal_index.h - one small index entry per archived WAL segment
 * (doc/format.md, "WAL segment index").
 *
 * The entry says what a point-in-time recovery can find in the segment:
 * the commit and abort records (their time and transaction id ranges),
 * prepared transactions, restore points, and how far its WAL is valid.  A
 * record counts for the segment where it ENDS (wal_reader.h).  Entries are
 * JSON, stored through the codec (so encrypted when the repository is)
 * under ws_repo_keys_index(), and can be rebuilt from the archived segments
 * (wal_index_rebuild.h).
 *
 * Ranges are exact bounds, not samples: every commit record of the segment
 * has time_min <= xact_time <= time_max, and its xid lies in
 * [xid_min, xid_max] in PostgreSQL's circular xid order.  Commit order is
 * not WAL order, so these are minima and maxima, not first and last.
 */
#ifndef WALSHIP_WAL_INDEX_H
#define WALSHIP_WAL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/repo_object.h"
#include "walship/sink.h"
#include "walship/wal_name.h"
#include "walship/wal_reader.h"
#include "walship/wal_segment.h"

#define WS_WAL_INDEX_VERSION  1
#define WS_WAL_INDEX_JSON_MAX (64u << 20) /* bytes of JSON accepted on reading */

/* Transactions ended by one kind of record. */
typedef struct ws_wal_xact_range {
    uint64_t count;
    uint64_t prepared; /* how many of them ended a prepared transaction
                         * (COMMIT/ROLLBACK PREPARED) */
    int64_t time_min;  /* TimestampTz (microseconds since 2000-01-01 UTC); */
    int64_t time_max;  /* valid when count > 0 (not kept for prepares) */
    uint32_t xid_min;  /* top-level xids in circular order; valid when */
    uint32_t xid_max;  /* count > 0 */
} ws_wal_xact_range;

typedef struct ws_wal_restore_point {
    char name[WS_WAL_RP_NAME_MAX + 1];
    int64_t time;     /* rp_time */
    uint64_t lsn;     /* the record's start */
    uint64_t end_lsn; /* its end: what pg_create_restore_point() returned */
} ws_wal_restore_point;

typedef struct ws_wal_index {
    char segment[WS_WAL_NAME_MAX]; /* segment or .partial name */
    uint32_t tli;
    uint32_t seg_size;
    unsigned pg_version; /* 0: unknown (first page not valid) */
    uint64_t sysid;      /* 0: unknown */
    uint64_t records;    /* valid records ending in the segment */
    uint64_t first_lsn;  /* records > 0: start of the first (may be in the previous segment) */
    uint64_t end_lsn;    /* records > 0: end of the last (MAXALIGNed, as EndRecPtr) */
    bool continued_unread;
    ws_wal_stop stop;
    uint64_t stop_lsn;
    char stop_detail[WS_WAL_DETAIL_MAX];
    ws_wal_xact_range commits;  /* XLOG_XACT_COMMIT and COMMIT_PREPARED */
    ws_wal_xact_range aborts;   /* XLOG_XACT_ABORT and ABORT_PREPARED */
    ws_wal_xact_range prepares; /* PREPARE TRANSACTION (count, xids only) */
    size_t n_restore_points;
    ws_wal_restore_point *restore_points; /* in WAL order */
} ws_wal_index;

void ws_wal_index_init(ws_wal_index *ix);
void ws_wal_index_free(ws_wal_index *ix);

/* PostgreSQL's TransactionIdPrecedes: modulo 2^32 for normal xids (>= 3). */
bool ws_wal_index_xid_precedes(uint32_t a, uint32_t b);

/* --- building entries ----------------------------------------------------
 * An indexer is a WAL reader (wal_reader.h) that sums up each segment.  Feed
 * consecutive segments to carry records across; only the entry of the
 * segment ended last is kept. */

typedef struct ws_wal_indexer ws_wal_indexer;

ws_wal_indexer *ws_wal_indexer_new(ws_err *err);
void ws_wal_indexer_free(ws_wal_indexer *x);

int ws_wal_indexer_begin(ws_wal_indexer *x, const ws_wal_name *seg, uint32_t seg_size, ws_err *err);
/* Reads only from offset on (ws_wal_reader_begin_at), to carry a record. */
int ws_wal_indexer_begin_at(ws_wal_indexer *x, const ws_wal_name *seg, uint32_t seg_size, uint32_t offset, ws_err *err);
bool ws_wal_indexer_skipping(const ws_wal_indexer *x);
int ws_wal_indexer_write(ws_wal_indexer *x, const uint8_t *buf, size_t len, ws_err *err);
/* Ends the segment; its entry is kept for ws_wal_indexer_take. */
int ws_wal_indexer_end(ws_wal_indexer *x, ws_err *err);
/* Moves the entry of the segment ended last into out (free with
 * ws_wal_index_free); -1 when there is none. */
int ws_wal_indexer_take(ws_wal_indexer *x, ws_wal_index *out, ws_err *err);
/* Forgets the segment and record in progress (after a failed read). */
void ws_wal_indexer_reset(ws_wal_indexer *x);

/* A pass-through stage: bytes go to the indexer (segment begun with
 * ws_wal_indexer_begin) and to next (may be NULL); finish ends the segment
 * and finishes next. */
ws_sink *ws_wal_indexer_sink_new(ws_wal_indexer *x, ws_sink *next, ws_err *err);

/*
 * The entry of a local segment or .partial file: fd open on it (read with
 * pread from offset 0; the offset is not used), path for messages, wf as
 * filled by ws_wal_file_open.  prev_path names the previous segment of the
 * same pg_wal directory, to read the record that continues into this one
 * (its last 128 KiB, or all of it when that record began earlier); it may
 * be NULL or name a missing or unusable file: then the entry says
 * continued_unread when the segment starts inside a record.
 */
int ws_wal_index_file(int fd, const char *path, const ws_wal_file *wf, const char *prev_path, ws_wal_index *out,
                      ws_err *err);

/* The path of the segment before wf in path's directory, same timeline, for
 * ws_wal_index_file: 0 with out filled, 1 when there is none (the first
 * segment), -1 when out is too small. */
int ws_wal_index_prev_path(const char *path, const ws_wal_file *wf, char *out, size_t outlen, ws_err *err);

/* Stores the entry under ws_repo_keys_index(ix->segment), replacing any. */
int ws_wal_index_put(ws_repo *repo, const ws_wal_index *ix, ws_err *err);

/* Reads the entry of a segment (or .partial) name; WS_ERR_NOTFOUND when
 * there is none. */
int ws_wal_index_get(ws_repo *repo, const char *segment, ws_wal_index *out, ws_err *err);

#endif
