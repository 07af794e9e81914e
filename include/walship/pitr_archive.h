/*
 * pitr_archive.h - a repository as pitr-restore reads it: a few
 * connections (one per worker thread: a storage connection serves one
 * thread at a time), the planner's source over them (pitr_plan.h), and
 * jobs run on them in parallel (index entries, backup objects).
 *
 * Loading reads the repository identity, the backup catalog (every record),
 * one listing of wal/ and the timeline history files; nothing else.  Index
 * entries are read when the planner asks; a segment without one is read
 * and indexed on the spot (counted in ws_pitr_archive_stats.computed).
 * Every storage operation is counted.
 */
#ifndef WALSHIP_PITR_ARCHIVE_H
#define WALSHIP_PITR_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/config.h"
#include "walship/error.h"
#include "walship/pitr_plan.h"
#include "walship/repo_object.h"
#include "walship/storage_count.h"

#define WS_PITR_WORKERS_MAX 32

typedef struct ws_pitr_archive ws_pitr_archive;

/* Opens `workers` connections (1..WS_PITR_WORKERS_MAX) to cfg's repository. */
int ws_pitr_archive_open(const ws_config *cfg, unsigned workers, ws_pitr_archive **out, ws_err *err);
void ws_pitr_archive_close(ws_pitr_archive *a);

/* Reads what the planner needs up front (see above).  A location that is
 * not a walship repository is WS_ERR_CONFIG, naming it. */
int ws_pitr_archive_load(ws_pitr_archive *a, ws_err *err);

/* The planner's source; valid after load, until close. */
const ws_pitr_source *ws_pitr_archive_source(const ws_pitr_archive *a);

/* The first connection (for work on the calling thread). */
ws_repo *ws_pitr_archive_repo(ws_pitr_archive *a);
unsigned ws_pitr_archive_workers(const ws_pitr_archive *a);

typedef struct ws_pitr_archive_stats {
    ws_storage_counts ops; /* storage operations, all connections */
    uint64_t computed;     /* index entries made from segments that had none */
    uint64_t segments;     /* segments read (records, or to index them) */
    uint64_t segment_bytes;
    double segment_seconds; /* time spent reading them: a measure of throughput */
} ws_pitr_archive_stats;

void ws_pitr_archive_stats_get(ws_pitr_archive *a, ws_pitr_archive_stats *out);

/*
 * Runs fn(arg, repo, job) for job = 0 .. njobs-1 on the worker threads, each
 * with its own connection, jobs taken in order.  The first failure stops
 * the others from taking new jobs (and sets *stop for the running ones to
 * look at) and is returned.
 */
typedef int (*ws_pitr_job_fn)(void *arg, ws_repo *repo, size_t job, const volatile bool *stop, ws_err *err);
int ws_pitr_archive_parallel(ws_pitr_archive *a, size_t njobs, ws_pitr_job_fn fn, void *arg, ws_err *err);

#endif
