/*
 * repo_idcache.h - the repository's identity as last read from it, kept in
 * a local file (<pg_wal>/walship-archive/identity), so that walship-push and
 * walship-fetch do not read repo.identity.ws on every call (one request per
 * call on S3).
 *
 * A record is bound to the repository it describes (the `repo` and
 * `s3_endpoint` settings and the encryption key's id): a record of another
 * repository or key is not used.  It is trusted for WS_IDCACHE_MAX_AGE
 * seconds after the identity was read from the repository; after that the
 * identity is read again.  Callers remove the record when an upload fails,
 * so the next call reads the identity again whatever the failure was.  A
 * stale record still proves that the repository had an identity: one that
 * has since vanished (an unmounted file system, an emptied prefix) is then
 * refused instead of being started anew.  The record is no proof for the
 * decisions whose mistake cannot be undone (walship-fetch's "not found"
 * that ends archive recovery reads the identity every time).  Format:
 * doc/format.md, "Repository identity cache".
 */
#ifndef WALSHIP_REPO_IDCACHE_H
#define WALSHIP_REPO_IDCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "walship/config.h"
#include "walship/error.h"
#include "walship/repo_identity.h"

#define WS_IDCACHE_FILE "identity"
/* Its directory in pg_wal: walship-push's acknowledgements' (archive_ack.h). */
#define WS_IDCACHE_DIR       "walship-archive"
#define WS_IDCACHE_MAX_AGE   300 /* seconds a read of the repository's identity is trusted */
#define WS_IDCACHE_FIELD_MAX 2048

typedef struct ws_idcache {
    /* The binding: which repository, reached how, with which key. */
    char repo[WS_IDCACHE_FIELD_MAX];     /* the `repo` setting */
    char endpoint[WS_IDCACHE_FIELD_MAX]; /* `s3_endpoint`, "" when not set */
    char key_id[40];                     /* the encryption key's id in hex, "" without encryption */
    /* What was found there. */
    ws_repo_identity id;
    ws_digest digest; /* of the identity object's plaintext */
    int64_t checked;  /* when it was read from the repository, seconds since the epoch */
} ws_idcache;

/* The record in dir for repo (opened with cfg) at time now: 2 fresh, 1 of
 * this repository but old (or from a clock that went back), 0 none (absent,
 * another repository's, or a repository that is never cached), -1 damaged
 * (WS_ERR_CORRUPT: the caller may go on as with 0).  *out is filled for 1
 * and 2. */
int ws_repo_idcache_lookup(const char *dir, const ws_config *cfg, const ws_repo *repo, int64_t now, ws_idcache *out,
                           ws_err *err);

/* Records that repo's identity id (its object's digest d) was read at time
 * now; replaces the record atomically (no fsync: losing it costs one
 * request).  A repository whose settings do not fit is not recorded (0). */
int ws_repo_idcache_store(const char *dir, const ws_config *cfg, const ws_repo *repo, const ws_repo_identity *id,
                          const ws_digest *d, int64_t now, ws_err *err);

/* Removes the record; none is no error. */
int ws_repo_idcache_remove(const char *dir, ws_err *err);

#endif
