/*
 * archive_push.h - archiving ONE WAL file into the repository; shared by
 * PostgreSQL's own call (walship-push %p) and the look-ahead workers.
 *
 * The file is checked by its name and content (wal_segment.h), compared
 * with the repository's identity, then, under the per-name locks, stored
 * unless an identical object is there already; the storage's answer to the
 * write is the check after write.  A look-ahead job then records an
 * acknowledgement (archive_ack.h); PostgreSQL's own call never needs one:
 * its exit status is the acknowledgement.  See doc/archive.md.
 *
 * Thread safety: one ws_repo per thread; the context is shared read-only
 * except for the identity cache, which has its own mutex.
 */
#ifndef WALSHIP_ARCHIVE_PUSH_H
#define WALSHIP_ARCHIVE_PUSH_H

#include <pthread.h>
#include <stdbool.h>

#include "walship/codec.h"
#include "walship/config.h"
#include "walship/repo_identity.h"
#include "walship/repo_object.h"
#include "walship/wal_segment.h"

#define WS_PUSH_LOCK_TIMEOUT 120.0 /* seconds PostgreSQL's own call waits for a name's locks */

/*
 * Work on the repository that may wait until after the acknowledgement:
 * derived data (the WAL index entry) whose absence costs a reader time but
 * loses nothing.  PostgreSQL's own call runs it in a detached process once
 * its exit status is settled (archive_run.h), so the archiver does not wait
 * for its round trips.  fn gets a repository of its own; free_state (may be
 * NULL) releases state in every process that holds it.
 */
typedef struct ws_push_later {
    int (*fn)(ws_repo *repo, void *state, ws_err *err);
    void (*free_state)(void *state);
    void *state;
} ws_push_later;

/* Releases what later holds and clears it (nothing to do then). */
void ws_push_later_clear(ws_push_later *later);

/* What a durable, verified object is, for work that must precede its ack. */
typedef struct ws_push_stored {
    const ws_wal_file *wf; /* the WAL file (name, size, page header) */
    const char *path;      /* its local path */
    const char *key;       /* the object key */
    ws_digest digest;      /* plaintext size and SHA-256 */
    bool stored_now;       /* false: an identical object was there already */
    ws_push_later *later;  /* PostgreSQL's own call: may receive work for after the ack; NULL otherwise */
} ws_push_stored;

/*
 * Called after the object is durable and verified and before anything
 * acknowledges it (exit status or ack file), from any worker thread.  A
 * failure fails the job: nothing is acknowledged.  The WAL index entry
 * (src/repo/wal_index.c) is stored from here, or, where s->later is given,
 * computed here and stored by s->later after the acknowledgement.
 */
typedef int (*ws_push_after_stored_fn)(ws_repo *repo, const ws_push_stored *s, void *arg, ws_err *err);

typedef struct ws_push_ctx {
    const ws_config *cfg;
    const char *ack_dir;                  /* <pg_wal>/walship-archive; NULL outside a pg_wal (no local lock, no acks) */
    const char *status_dir;               /* <pg_wal>/archive_status (with ack_dir) */
    ws_push_after_stored_fn after_stored; /* NULL: nothing to do */
    void *after_stored_arg;

    /* The repository's identity once one job has found it (in the local
     * cache or the repository), so the others compare without a request. */
    pthread_mutex_t id_mu;
    bool id_known;
    ws_repo_identity id;
} ws_push_ctx;

/* Sets up ctx (the strings are borrowed); ws_archive_push_ctx_destroy after use. */
void ws_archive_push_ctx_init(ws_push_ctx *ctx, const ws_config *cfg, const char *ack_dir, const char *status_dir);
void ws_archive_push_ctx_destroy(ws_push_ctx *ctx);

typedef enum {
    WS_PUSH_STORED,    /* stored now */
    WS_PUSH_IDENTICAL, /* an identical object was there already (look-ahead: no ack written) */
    WS_PUSH_ACKED,     /* an ack was found under the lock (archived ahead meanwhile) */
    WS_PUSH_BUSY,      /* look-ahead: another process holds the name; left alone */
    WS_PUSH_NOT_READY  /* look-ahead: no longer .ready; left alone */
} ws_push_result;

typedef struct ws_push_job {
    const char *path;     /* the local WAL file */
    bool ahead;           /* a look-ahead job: never wait for a lock, re-check .ready, ack what it stores */
    bool pipeline;        /* hash and compress on two threads (a core is idle) */
    ws_push_later *later; /* PostgreSQL's own call: receives work for after its ack (ws_push_later); else NULL */
} ws_push_job;

/* Archives job->path.  *res says what happened on success.  For
 * PostgreSQL's own call an ack found under the lock is consumed. */
int ws_archive_push(ws_repo *repo, ws_push_ctx *ctx, const ws_push_job *job, ws_push_result *res, ws_digest *digest,
                    ws_err *err);

#endif
