/*
 * restore_fast.h - walship-fetch's fast path: a segment the prefetcher
 * already verified and left in the spool (fetch_spool.h), served without
 * the storage drivers.
 *
 * walship-fetch runs once per segment while PostgreSQL's startup process
 * waits.  Its full program links libcurl and libxml2 for S3, about 40
 * shared libraries whose loading costs more CPU than the rest of a spool
 * hit; the fast path needs only libc and libcrypto (the key id; see
 * doc/benchmarks.md).  Anything it does not handle exactly as the full
 * program would is left to it: the caller then runs walship-fetch-full with
 * the same arguments.
 */
#ifndef WALSHIP_RESTORE_FAST_H
#define WALSHIP_RESTORE_FAST_H

#include "walship/config.h"

/*
 * Serves WAL file `name` to `dest` from the prefetch spool when all of
 * this holds: prefetching on, run by PostgreSQL's startup process in
 * recovery (signal file, pg_control and postmaster.pid in the working
 * directory), a plain segment, a spool that belongs to this repository,
 * key and cluster, a prefetcher running for it, and the segment complete
 * in it (waiting for its writer as the full program does).  Then moves the
 * prefetch window as the full program does and returns 1 (exit 0 for
 * PostgreSQL).  Returns 0 in every other case, having changed nothing but
 * the removal of a spooled file that failed its checks (logged).
 */
int ws_restore_fast_serve(const ws_config *cfg, const char *name, const char *dest);

#endif
