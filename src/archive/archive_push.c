/* archive_push.c - archiving one WAL file (see archive_push.h). */
#include "walship/archive_push.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "walship/archive_ack.h"
#include "walship/archive_lock.h"
#include "walship/archive_queue.h"
#include "walship/log.h"
#include "walship/repo_idcache.h"
#include "walship/repo_keys.h"

void ws_archive_push_ctx_init(ws_push_ctx *ctx, const ws_config *cfg, const char *ack_dir, const char *status_dir)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->cfg = cfg;
    ctx->ack_dir = ack_dir;
    ctx->status_dir = status_dir;
    pthread_mutex_init(&ctx->id_mu, NULL);
}

void ws_archive_push_ctx_destroy(ws_push_ctx *ctx)
{
    pthread_mutex_destroy(&ctx->id_mu);
}

void ws_push_later_clear(ws_push_later *later)
{
    if (later->free_state)
        later->free_state(later->state);
    memset(later, 0, sizeof *later);
}

/* SHA-256 and size of fd's content from offset 0. */
static int local_digest(int fd, const char *path, ws_digest *d, ws_err *err)
{
    ws_sink *sha = ws_filter_sha256_new(NULL, err);
    int rc = -1;

    if (!sha)
        return -1;
    if (lseek(fd, 0, SEEK_SET) < 0)
        ws_err_sys(err, errno, "%s: could not seek", path);
    else if (ws_sink_pump_fd(fd, path, sha, err) == 0 && ws_filter_sha256_result(sha, d->sha256, &d->size))
        rc = 0;
    ws_sink_free(sha);
    return rc;
}

static bool same_digest(const ws_digest *a, const ws_digest *b)
{
    return a->size == b->size && memcmp(a->sha256, b->sha256, WS_SHA256_LEN) == 0;
}

/* What the repository's identity is known to be, for every job of this
 * process from now on. */
static void identity_known(ws_push_ctx *ctx, const ws_repo_identity *id)
{
    pthread_mutex_lock(&ctx->id_mu);
    ctx->id_known = true;
    ctx->id = *id;
    pthread_mutex_unlock(&ctx->id_mu);
}

/*
 * The segment's cluster against the repository's.  The first job of a
 * process asks the local cache (repo_idcache.h), and the repository only
 * when the cache is missing, old, of another repository or cluster; the
 * other jobs compare with what the first found.  So a call costs no request
 * for the identity while the cache is fresh, and one every
 * WS_IDCACHE_MAX_AGE seconds otherwise.
 */
static int check_identity(ws_repo *repo, ws_push_ctx *ctx, const ws_wal_file *wf, const char *path, ws_err *err)
{
    ws_repo_identity mine = {.sysid = wf->hdr.sysid, .pg_version = wf->hdr.pg_version, .seg_size = wf->hdr.seg_size};
    ws_repo_identity known;
    ws_idcache cached;
    ws_digest digest;
    bool have, had = false, created;
    int found = 0;
    int64_t now = (int64_t) time(NULL);
    ws_err e;

    if (!wf->has_header)
        return 0; /* history and backup files carry no system identifier */
    pthread_mutex_lock(&ctx->id_mu);
    have = ctx->id_known;
    known = ctx->id;
    pthread_mutex_unlock(&ctx->id_mu);
    if (have)
        return ws_repo_identity_compare(&known, &mine, path, err);

    ws_err_clear(&e);
    if (ctx->ack_dir)
        found = ws_repo_idcache_lookup(ctx->ack_dir, ctx->cfg, repo, now, &cached, &e);
    if (found < 0)
        ws_log(WS_LOG_NOTICE, "not using the identity cache: %s", e.msg);
    if (found == 2 && ws_repo_identity_compare(&cached.id, &mine, path, &e) == 0) {
        ws_log(WS_LOG_DEBUG, "repository identity as read %" PRId64 " s ago (%s/" WS_IDCACHE_FILE ")",
               now - cached.checked, ctx->ack_dir);
        identity_known(ctx, &mine);
        return 0;
    }
    had = found > 0; /* the repository had an identity: it must still have one */
    if (ws_repo_identity_ensure(repo, &mine, path, had, &created, &digest, err) < 0) {
        if (had && err->code == WS_ERR_CONFIG) {
            ws_err_set(&e, WS_ERR_CONFIG,
                       "%s (walship found it there %" PRId64 " s ago, as %s/" WS_IDCACHE_FILE
                       " records; remove that file to start a new repository at this location)",
                       err->msg, now - cached.checked, ctx->ack_dir);
            *err = e;
        }
        return -1;
    }
    if (created)
        ws_log(WS_LOG_NOTICE,
               "new repository %s started at segment %s: recorded system identifier %" PRIu64
               ", PostgreSQL %u, %" PRIu32 " byte segments",
               repo->st->url, wf->base, mine.sysid, mine.pg_version, mine.seg_size);
    /* ensure() succeeded: the recorded identity equals mine. */
    if (ctx->ack_dir && ws_repo_idcache_store(ctx->ack_dir, ctx->cfg, repo, &mine, &digest, now, &e) < 0)
        ws_log(WS_LOG_WARNING, "could not remember the repository identity: %s", e.msg);
    identity_known(ctx, &mine);
    return 0;
}

/* A failed job makes the next call read the identity from the repository
 * again, whatever the failure was. */
static void forget_identity(ws_push_ctx *ctx)
{
    ws_err e;

    ws_err_clear(&e);
    if (ctx->ack_dir && ws_repo_idcache_remove(ctx->ack_dir, &e) < 0)
        ws_log(WS_LOG_WARNING, "%s", e.msg);
}

static int file_id_of(int fd, const char *path, ws_localfile_id *out, ws_err *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return ws_err_sys(err, errno, "could not stat \"%s\"", path);
    ws_localfile_id_from_stat(&st, out);
    return 0;
}

/*
 * The existence check of a key on a connection of its own, run while the
 * file is encoded: on remote storage its round trip then overlaps the
 * encoding instead of preceding it.  Only "absent" lets the put commit.
 */
typedef struct {
    const ws_config *cfg;
    const char *key;
    pthread_t th;
    bool started, joined;
    int found; /* 1 found, 0 absent, -1 error (err) */
    ws_err err;
} early_check;

static void *early_check_run(void *arg)
{
    early_check *c = arg;
    ws_storage *st = NULL;
    ws_obj_info info;

    ws_err_clear(&c->err);
    c->found = ws_storage_open(c->cfg, &st, &c->err) < 0 ? -1 : ws_storage_head(st, c->key, &info, &c->err);
    ws_storage_close(st);
    return NULL;
}

static bool early_check_start(early_check *c)
{
    c->started = pthread_create(&c->th, NULL, early_check_run, c) == 0;
    return c->started;
}

/* Waits for the check (once): 1 found, 0 absent, -1 error (c->err). */
static int early_check_join(early_check *c)
{
    if (!c->joined) {
        pthread_join(c->th, NULL);
        c->joined = true;
    }
    return c->found;
}

/* What the object's content must match before it is committed. */
typedef struct {
    int fd;
    const char *path;
    const ws_wal_file *wf;
    const ws_localfile_id *before; /* the file when it was opened and checked */
    early_check *ec;               /* NULL, or the key must be absent too */
    bool exists;                   /* ec found an object: nothing committed */
} unchanged_arg;

/* The file must not have changed while it was read: what was read is what
 * was checked, or nothing is committed (a committed object of a file caught
 * mid-change would block every retry as "different content"). */
static int unchanged(const ws_digest *plain, void *arg, ws_err *err)
{
    const unchanged_arg *a = arg;
    ws_localfile_id now;

    if (plain->size != a->wf->size)
        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: %" PRIu64 " bytes read, but the file had %" PRIu64
                          " bytes: it changed while being archived; nothing stored",
                          a->path, plain->size, a->wf->size);
    if (file_id_of(a->fd, a->path, &now, err) < 0)
        return -1;
    if (!ws_localfile_id_equal(a->before, &now))
        return ws_err_set(err, WS_ERR_INVALID, "%s: the file changed while being archived; nothing stored", a->path);
    if (a->ec) {
        unchanged_arg *w = arg;
        int found = early_check_join(a->ec);

        if (found < 0) {
            *err = a->ec->err;
            return -1;
        }
        if (found > 0) {
            w->exists = true;
            return ws_err_set(err, WS_ERR_STORAGE, "%s exists", a->ec->key);
        }
    }
    return 0;
}

/*
 * What an object found under key means for this file: 0 identical (*d is
 * its digest), 1 absent, 2 damaged (to be replaced), -1 error (different
 * content: WS_ERR_CONFLICT; or the storage failed).  Reads metadata, header
 * and trailer (one HEAD, two small ranged reads), never the object.
 */
static int examine(ws_repo *repo, const char *key, int fd, const ws_push_job *job, const ws_wal_file *wf, ws_digest *d,
                   ws_err *err)
{
    ws_digest stored, mine;
    char hs[65], hm[65];
    int found = ws_repo_stat_checked(repo, key, &stored, NULL, err);

    if (found < 0 && err->code != WS_ERR_CORRUPT)
        return -1;
    if (found < 0) {
        ws_log(WS_LOG_WARNING, "replacing damaged stored object: %s", err->msg);
        ws_err_clear(err);
        return 2;
    }
    if (found == 0)
        return 1;
    if (local_digest(fd, job->path, &mine, err) < 0)
        return -1;
    if (same_digest(&stored, &mine)) {
        *d = mine;
        return 0;
    }
    ws_filter_sha256_hex(stored.sha256, hs);
    ws_filter_sha256_hex(mine.sha256, hm);
    return ws_err_set(err, WS_ERR_CONFLICT,
                      "%s is already archived with different content: stored %s has sha256 %s (%" PRIu64
                      " bytes), %s has sha256 %s (%" PRIu64 " bytes); not overwritten",
                      wf->base, key, hs, stored.size, job->path, hm, mine.size);
}

/* Encodes and stores the file: 1 stored (*d its digest), 0 an object is
 * there already (only_new, or ec found one: nothing stored), -1 error. */
static int put_file(ws_repo *repo, const char *key, int fd, const ws_push_job *job, const ws_wal_file *wf,
                    const ws_localfile_id *before, bool only_new, early_check *ec, ws_digest *d, ws_err *err)
{
    unchanged_arg ua = {.fd = fd, .path = job->path, .wf = wf, .before = before, .ec = ec};
    ws_repo_put_opts o = {
        .pipeline = job->pipeline, .precommit = unchanged, .precommit_arg = &ua, .only_new = only_new};
    int rc;

    if (lseek(fd, 0, SEEK_SET) < 0)
        rc = ws_err_sys(err, errno, "%s: could not seek", job->path);
    else
        rc = ws_repo_put_fd_opts(repo, key, fd, job->path, wf->size, &o, d, err);
    if (ec)
        early_check_join(ec); /* the put may have failed before asking */
    if (rc < 0 && ua.exists) {
        ws_err_clear(err);
        return 0;
    }
    return rc;
}

/*
 * Under the locks: store the file unless an identical object is there,
 * refuse different content, replace a damaged object.  *d is the plaintext
 * digest of what the key now holds.
 *
 * Where the storage commits create-only (S3 with s3_conditional_put), the
 * file is stored at once and only an object found there is examined; two
 * pushes of one name can then not both store.  Elsewhere the key is
 * examined first (one HEAD when absent); on remote storage that HEAD runs
 * while the file is encoded (early_check), and the put commits only if it
 * found nothing.  Either way the commit's success is the check after write:
 * the storage confirmed the object (S3 verified the body against its signed
 * SHA-256), and nothing is read back.
 */
static int store_locked(const ws_push_ctx *ctx, ws_repo *repo, const char *key, int fd, const ws_push_job *job,
                        const ws_wal_file *wf, const ws_localfile_id *before, ws_digest *d, bool *stored_now,
                        ws_err *err)
{
    bool only_new = repo->st->commit_new;
    early_check ec = {.cfg = ctx->cfg, .key = key};
    int rc;

    *stored_now = false;
    if (only_new || (repo->st->remote && early_check_start(&ec)))
        rc = 1;
    else
        rc = examine(repo, key, fd, job, wf, d, err);
    for (unsigned round = 0; rc > 0; round++) {
        /* Absent (1): store create-only where the storage can; damaged (2):
         * replace it. */
        rc = put_file(repo, key, fd, job, wf, before, only_new && rc == 1, round == 0 && ec.started ? &ec : NULL, d,
                      err);
        if (rc > 0) {
            *stored_now = true;
            return 0;
        }
        if (rc < 0)
            return -1;
        if (round > 0)
            return ws_err_set(err, WS_ERR_STORAGE,
                              "%s: the storage refused %s as existing, but it reads as absent; nothing stored",
                              wf->base, key);
        rc = examine(repo, key, fd, job, wf, d, err);
    }
    return rc;
}

/*
 * Under the locks, before storing: an ack written meanwhile (by a
 * look-ahead worker of another call) that vouches for this very file
 * means the work is done.  Anything else found is removed: an ack is
 * never trusted unless it matches.  1 vouched, 0 not.
 */
static int recheck_ack(const ws_push_ctx *ctx, const char *name, const ws_localfile_id *now, ws_digest *d)
{
    ws_ack a;
    ws_err e;
    const char *why;
    int found;

    ws_err_clear(&e);
    found = ws_archive_ack_read(ctx->ack_dir, name, &a, &e);
    if (found == 0)
        return 0;
    if (found > 0 && ws_archive_ack_vouches(&a, name, ctx->cfg->repo, now, &why)) {
        *d = a.digest;
        return 1;
    }
    if (found > 0)
        ws_log(WS_LOG_NOTICE, "not trusting the ack of %s in %s: %s", name, ctx->ack_dir, why);
    else
        ws_log(WS_LOG_WARNING, "ignoring an ack file: %s", e.msg);
    ws_err_clear(&e);
    if (ws_archive_ack_remove(ctx->ack_dir, name, &e) < 0)
        ws_log(WS_LOG_WARNING, "%s", e.msg);
    return 0;
}

int ws_archive_push(ws_repo *repo, ws_push_ctx *ctx, const ws_push_job *job, ws_push_result *res, ws_digest *digest,
                    ws_err *err)
{
    double timeout = job->ahead ? 0 : WS_PUSH_LOCK_TIMEOUT;
    ws_archive_lock *llock = NULL;
    ws_storage_lock *rlock = NULL;
    ws_localfile_id before, after;
    char key[WS_KEY_MAX];
    bool stored_now;
    ws_wal_file wf;
    ws_digest d;
    int fd, got, rc = -1;

    if (job->ahead && !ctx->ack_dir)
        return ws_err_set(err, WS_ERR_INVALID, "%s: look-ahead needs an ack directory", job->path);
    /* Check the input before touching the repository; its identity is
     * taken before its content is read, and compared after. */
    fd = ws_wal_file_open(job->path, &wf, err);
    if (fd < 0)
        return -1;
    if (file_id_of(fd, job->path, &before, err) < 0 || ws_repo_keys_wal(wf.base, key, sizeof key, err) < 0 ||
        check_identity(repo, ctx, &wf, job->path, err) < 0)
        goto out;

    /* Locks: this pg_wal's (every storage kind), then the repository's
     * (file://).  A look-ahead job never waits: whoever holds the name is
     * archiving it. */
    if (ctx->ack_dir) {
        got = ws_archive_lock_name(ctx->ack_dir, wf.base, timeout, &llock, err);
        if (got < 0)
            goto out;
        if (got == 0) {
            if (job->ahead) {
                *res = WS_PUSH_BUSY;
                rc = 0;
            } else
                ws_err_set(err, WS_ERR_TRANSIENT, "%s: another walship-push has held its lock in %s for %.0f s",
                           wf.base, ctx->ack_dir, timeout);
            goto out;
        }
    }
    if (ws_storage_lock_name(repo->st, wf.base, timeout, &rlock, err) < 0) {
        if (job->ahead && err->code == WS_ERR_TRANSIENT) {
            ws_err_clear(err);
            *res = WS_PUSH_BUSY;
            rc = 0;
        }
        goto out;
    }
    if (ctx->ack_dir) {
        if (recheck_ack(ctx, wf.base, &before, digest)) {
            ws_err e;

            /* PostgreSQL's own call consumes it: its exit status is the
             * acknowledgement from now on. */
            ws_err_clear(&e);
            if (!job->ahead && ws_archive_ack_remove(ctx->ack_dir, wf.base, &e) < 0)
                ws_log(WS_LOG_WARNING, "%s", e.msg);
            *res = WS_PUSH_ACKED;
            rc = 0;
            goto out;
        }
        if (job->ahead && !ws_archive_queue_exists(ctx->status_dir, wf.base)) {
            *res = WS_PUSH_NOT_READY;
            rc = 0;
            goto out;
        }
    }

    if (store_locked(ctx, repo, key, fd, job, &wf, &before, &d, &stored_now, err) < 0)
        goto out;
    /* The object is durable and verified, and nothing acknowledges it yet:
     * work that must precede the acknowledgement goes here (the WAL index
     * entry, through ctx->after_stored, or prepared here for job->later). */
    if (ctx->after_stored) {
        ws_push_stored s = {
            .wf = &wf, .path = job->path, .key = key, .digest = d, .stored_now = stored_now, .later = job->later};

        if (ctx->after_stored(repo, &s, ctx->after_stored_arg, err) < 0)
            goto out;
    }
    /* An ack vouches only for an upload of this job: an object already
     * stored with identical content was archived by someone else, usually
     * PostgreSQL's own call whose .ready file is not renamed yet, and an ack
     * for it would never be consumed. */
    if (job->ahead && stored_now) {
        ws_ack a;

        /* The ack vouches for the file as it was read: unchanged since. */
        if (file_id_of(fd, job->path, &after, err) < 0)
            goto out;
        if (!ws_localfile_id_equal(&before, &after) || d.size != before.size) {
            ws_err_set(err, WS_ERR_INVALID, "%s changed while it was archived ahead; not acknowledged", job->path);
            goto out;
        }
        memset(&a, 0, sizeof a);
        snprintf(a.name, sizeof a.name, "%s", wf.base);
        if (snprintf(a.repo, sizeof a.repo, "%s", ctx->cfg->repo) >= (int) sizeof a.repo) {
            ws_err_set(err, WS_ERR_INVALID, "the repository URL is too long for an ack (%d bytes at most)",
                       WS_ACK_REPO_MAX - 1);
            goto out;
        }
        a.digest = d;
        a.file = before;
        if (ws_archive_ack_write(ctx->ack_dir, &a, err) < 0)
            goto out;
    }
    *res = stored_now ? WS_PUSH_STORED : WS_PUSH_IDENTICAL;
    *digest = d;
    rc = 0;
out:
    ws_storage_unlock(rlock);
    ws_archive_lock_release(llock);
    close(fd);
    if (rc < 0)
        forget_identity(ctx);
    return rc;
}
