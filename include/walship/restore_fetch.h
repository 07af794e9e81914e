/*
 * restore_fetch.h - reading one WAL file from the repository, verified.
 *
 * The object of the WAL file is decoded (codec checks: framing, tags,
 * decompression, size and SHA-256) and its content checked against the name
 * (wal_segment.h: page header, segment size, history and backup formats)
 * before the destination sink is finished.  Used by walship-fetch for the
 * file PostgreSQL asked for and by the prefetcher for the files after it, so
 * both apply exactly the same checks.
 */
#ifndef WALSHIP_RESTORE_FETCH_H
#define WALSHIP_RESTORE_FETCH_H

#include <stdbool.h>

#include "walship/codec.h"
#include "walship/error.h"
#include "walship/repo_object.h"
#include "walship/sink.h"
#include "walship/wal_name.h"

/*
 * Streams the verified content of WAL file `name` (parsed as w) into dst and
 * finishes dst.  On failure *dst_failed tells whether dst itself failed (a
 * local error) rather than the repository or the checks; err->code is
 * WS_ERR_NOTFOUND for an absent object, WS_ERR_CORRUPT / WS_ERR_KEY /
 * WS_ERR_FORMAT for integrity failures.  When sysid is not 0, a segment
 * whose page header carries another system identifier is WS_ERR_CONFIG (the
 * repository is another cluster's): dst is finished by then, so the caller
 * must not keep it.  digest (may be NULL) receives the plaintext's.
 */
int ws_restore_fetch(ws_repo *repo, const ws_wal_name *w, const char *name, uint64_t sysid, ws_sink *dst,
                     bool *dst_failed, ws_digest *digest, ws_err *err);

#endif
