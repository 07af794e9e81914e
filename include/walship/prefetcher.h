/*
 * prefetcher.h - the background process that keeps the segments after the
 * one PostgreSQL was given last in the prefetch spool (fetch_spool.h), so
 * later walship-fetch calls are a local rename (doc/archive.md,
 * "Prefetching").
 *
 * One per spool (it holds the spool's `prefetcher` lock).  It follows the
 * spool's want file: segments pos+1 .. pos+depth of the want's timeline,
 * below its cap, in order, at most WS_PREFETCH_IN_FLIGHT at a time, each in
 * a child process with its own repository handle and the same verification
 * as a direct fetch.  An absent segment is not recorded anywhere: it is
 * asked for again later (bounded backoff), and nothing after it is fetched
 * meanwhile.  It stops, removing the spool, when the PostgreSQL process it
 * serves is gone (end of recovery, or the server stopped or crashed), when
 * terminated, or after WS_PREFETCH_IDLE seconds without a new position; it
 * stops without touching the spool when the spool was taken over (another
 * repository or cluster) or removed.
 */
#ifndef WALSHIP_PREFETCHER_H
#define WALSHIP_PREFETCHER_H

#include "walship/config.h"
#include "walship/error.h"
#include "walship/fetch_spool.h"
#include "walship/pg_datadir.h"

#define WS_PREFETCH_IN_FLIGHT 2
#define WS_PREFETCH_IDLE      60.0 /* seconds without a new position */

/*
 * Makes sure a prefetcher runs for sp: when none holds its lock, starts one
 * serving `owner` (the startup process), detached (its own session,
 * reparented away from the caller, stdin and stdout on /dev/null, stderr
 * kept for warnings).  Returns once it is started; the caller's exit status
 * does not depend on it.
 */
int ws_prefetcher_ensure(const ws_config *cfg, ws_spool *sp, const ws_proc_id *owner, ws_err *err);

#endif
