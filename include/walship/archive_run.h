/*
 * archive_run.h - one walship-push call: PostgreSQL's file, and the files
 * waiting behind it archived ahead in parallel (doc/archive.md, "Parallel
 * archiving").
 *
 * 1. If <dir of path>/walship-archive/<name>.ack vouches for the file
 *    (archive_ack.h), it is removed and the call succeeds at once.
 * 2. When other `.ready` files (archive_queue.h) wait and no look-ahead
 *    process runs, one is started (double fork): it archives batches of up
 *    to archive_lookahead of them, archive_workers at a time, each
 *    acknowledged only once its own object is durable, until none is left
 *    (bounded in time).  This happens after step 1 too.
 * 3. Otherwise the file is archived by the call itself; its result is the
 *    call's.  The call never waits for the look-ahead process.
 * 4. Stale acks are removed and the backlog is reported
 *    (archive_backlog.h).
 *
 * Outside a pg_wal directory (no archive_status next to the file) only
 * the file itself is archived, as before look-ahead existed.
 */
#ifndef WALSHIP_ARCHIVE_RUN_H
#define WALSHIP_ARCHIVE_RUN_H

#include "walship/archive_push.h"
#include "walship/config.h"
#include "walship/error.h"

#define WS_LOOKAHEAD_START_LIMIT 60.0 /* seconds after the call's start: no look-ahead job starts later */

/* Archives path (PostgreSQL's %p) and logs a failure (one line); returns
 * the exit status (errclass.h).  after_stored (may be NULL) is called for
 * every object before it is acknowledged (archive_push.h). */
int ws_archive_run(const ws_config *cfg, const char *path, ws_push_after_stored_fn after_stored, void *arg);

#endif
