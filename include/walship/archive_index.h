/*
 * archive_index.h - the WAL index entry (wal_index.h) of every archived
 * segment, from the push path.
 */
#ifndef WALSHIP_ARCHIVE_INDEX_H
#define WALSHIP_ARCHIVE_INDEX_H

#include "walship/archive_push.h"

/*
 * A ws_push_after_stored_fn: for a segment or .partial file, reads the
 * local file (and the end of the previous segment when it is still next to
 * it) and makes its index entry.  A look-ahead job stores it before its
 * ack; PostgreSQL's own call (s->later given) leaves the storing to
 * s->later, after its exit status, so the archiver never waits for that
 * round trip (an entry lost to a crash in between is made from the segment
 * by whoever needs it: pitr-restore, walship index-rebuild).  When the
 * object was already stored (a repeated push) the entry is only written if
 * it is missing.  History and backup files have no entry.  A failure before
 * the acknowledgement fails the push: PostgreSQL retries, and the retry
 * writes the entry.  arg is unused.
 */
int ws_archive_index_after_stored(ws_repo *repo, const ws_push_stored *s, void *arg, ws_err *err);

#endif
