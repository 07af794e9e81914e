/*
 * wal_index_rebuild.h - rebuilding the WAL index from the archived segments
 * (`walship index-rebuild`).
 *
 * Lists the archived segments and .partial files, and reads them timeline by
 * timeline in WAL order through the codec into a WAL indexer, so a record
 * that spans two segments is read whole and counted in the segment where it
 * ends.  The segment before a timeline's first one (or after a gap) is the
 * one PostgreSQL's recovery would read: the newest timeline in the timeline's
 * history file (wal/history/) that began at or before it and whose segment
 * is archived; it is read only to carry its last record.  Entries are
 * written (replacing any) unless dry_run.
 */
#ifndef WALSHIP_WAL_INDEX_REBUILD_H
#define WALSHIP_WAL_INDEX_REBUILD_H

#include <stdbool.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/repo_object.h"
#include "walship/wal_index.h"

typedef struct ws_wal_rebuild_opts {
    uint32_t tli; /* 0: every timeline */
    bool dry_run; /* build the entries, write nothing */
    /* Called with every entry built (may be NULL). */
    void (*on_entry)(void *arg, const ws_wal_index *ix);
    void *arg;
} ws_wal_rebuild_opts;

typedef struct ws_wal_rebuild_stats {
    uint64_t timelines;        /* timelines with segments */
    uint64_t segments;         /* entries built */
    uint64_t written;          /* entries stored */
    uint64_t primed;           /* segments read only to carry their last record */
    uint64_t records;          /* records in the entries built */
    uint64_t continued_unread; /* entries still missing their first record */
    uint64_t stopped;          /* entries whose WAL stops before the segment's end
                                * (reason zero, page, record, too-large, short) */
    uint64_t failed;           /* segments that could not be read or stored */
} ws_wal_rebuild_stats;

/* -1 when the repository cannot be listed, or when any segment failed (the
 * others are still indexed; err names the first failure and the count). */
int ws_wal_index_rebuild(ws_repo *repo, const ws_wal_rebuild_opts *o, ws_wal_rebuild_stats *st, ws_err *err);

#endif
