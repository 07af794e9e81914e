/*
 * restore_run.h - one walship-fetch call: PostgreSQL's restore_command
 * (doc/archive.md, "walship-fetch %f %p"), mirroring archive_run.h.
 *
 * 1. PostgreSQL's request for `name` is answered from the prefetch spool
 *    when it holds the segment (fetch_spool.h), else by reading the object,
 *    verified (restore_fetch.h), into dest atomically.
 * 2. "Not found" is only answered for this cluster's repository: its
 *    identity must exist and match global/pg_control (repo_identity.h).
 * 3. The prefetch window moves after a restored segment and a prefetcher
 *    is started when none runs (prefetcher.h); it never changes the answer.
 * 4. The answer is an exit status (errclass.h: 0, 1, 200, 201, 202).
 */
#ifndef WALSHIP_RESTORE_RUN_H
#define WALSHIP_RESTORE_RUN_H

#include <stdint.h>

#include "walship/config.h"
#include "walship/error.h"
#include "walship/pg_datadir.h"
#include "walship/repo_object.h"

/* What PostgreSQL asked for, and where walship-fetch runs. */
typedef struct ws_restore_request {
    const char *name;      /* %f: the WAL file name */
    const char *dest;      /* %p: where to write it (relative to the data directory) */
    ws_recovery_mode mode; /* from the signal files */
    uint64_t sysid;        /* from global/pg_control; 0 when not run in a data directory */
} ws_restore_request;

/*
 * Answers req from repo: the exit status for PostgreSQL; err says why when
 * it is not 0.  Nothing is logged but spool events; the caller reports
 * (ws_restore_run does).
 */
int ws_restore_run_answer(const ws_config *cfg, ws_repo *repo, const ws_restore_request *req, ws_err *err);

/*
 * The whole call as PostgreSQL runs it, in the data directory (the working
 * directory): reads the recovery mode and system identifier there, opens
 * the repository, answers, and logs the outcome (one line, with the exit
 * status when it is fatal).  Returns the exit status.
 */
int ws_restore_run(const ws_config *cfg, const char *name, const char *dest);

#endif
