/* restore_run.c - one walship-fetch call (see restore_run.h). */
#include "walship/restore_run.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "walship/archive_queue.h"
#include "walship/errclass.h"
#include "walship/fetch_spool.h"
#include "walship/file_out.h"
#include "walship/localfile.h"
#include "walship/log.h"
#include "walship/prefetcher.h"
#include "walship/repo_idcache.h"
#include "walship/repo_identity.h"
#include "walship/repo_keys.h"
#include "walship/restore_fetch.h"
#include "walship/timeline_history.h"
#include "walship/wal_segment.h"

/* Reads the object of `name` and makes dest appear, by a rename, once it is
 * verified.  dest is not fsynced: PostgreSQL renames the file it keeps into
 * pg_wal with durable_rename (an fsync of the file and of pg_wal), and after
 * a crash it asks for every file again. */
static int fetch(ws_repo *repo, const ws_wal_name *w, const char *name, const char *dest, uint64_t sysid, bool standby,
                 ws_err *err)
{
    char key[WS_KEY_MAX];
    ws_file_out *out;
    bool local;
    ws_digest d;
    int status;

    if (ws_repo_keys_wal(name, key, sizeof key, err) < 0)
        return WS_FETCH_LOCAL;
    out = ws_file_out_open(dest, 0600, err);
    if (!out)
        return WS_FETCH_LOCAL;
    if (ws_restore_fetch(repo, w, name, sysid, ws_file_out_sink(out), &local, &d, err) < 0) {
        status = local ? WS_FETCH_LOCAL : ws_errclass_fetch_exit(ws_errclass_of(err->code), standby);
    } else if (ws_file_out_commit_flags(out, WS_LOCALFILE_NOSYNC, err) < 0) {
        status = WS_FETCH_LOCAL;
    } else {
        ws_log(WS_LOG_INFO, "restored %s from %s (%" PRIu64 " bytes verified)", name, key, d.size);
        status = WS_FETCH_OK;
    }
    ws_file_out_free(out);
    return status;
}

/* --- prefetching (doc/archive.md, "Prefetching") --------------------------- */

/* The prefetch spool, when this call may use it. */
typedef struct spool_use {
    char dir[PATH_MAX];
    ws_spool_identity id;
    ws_spool *sp; /* open when it exists (or was made) */
} spool_use;

/* Whether the spool takes part in this call: prefetching on, a segment or
 * history file, and run by PostgreSQL in recovery (a signal file and
 * pg_control in the working directory, the data directory). */
static bool spool_applies(const ws_config *cfg, const ws_repo *repo, const ws_wal_name *w, const char *dest,
                          ws_recovery_mode mode, uint64_t sysid, spool_use *u)
{
    ws_err e;

    if (cfg->prefetch == 0 || mode == WS_RECOVERY_NONE || (w->kind != WS_WAL_SEGMENT && w->kind != WS_WAL_HISTORY))
        return false;
    if (sysid == 0) {
        ws_log(WS_LOG_DEBUG, "no prefetching: no system identifier in ./global/pg_control");
        return false;
    }
    if (!ws_fetch_spool_identity_make(cfg->repo, cfg->s3_endpoint, repo->key, sysid, &u->id))
        return false;
    if (ws_fetch_spool_dir_for(dest, u->dir, sizeof u->dir, &e) < 0) {
        ws_log(WS_LOG_DEBUG, "no prefetching: %s", e.msg);
        return false;
    }
    return true;
}

/* Opens the spool (making it with create) and makes it ours: a spool of
 * another repository, key or cluster is emptied first. */
static bool spool_ready(spool_use *u, bool create)
{
    ws_err e;
    int rc;

    if (u->sp)
        return true;
    rc = ws_fetch_spool_open(u->dir, create, &u->sp, &e);
    if (rc == 1 && ws_fetch_spool_adopt(u->sp, &u->id, &e) == 0)
        return true;
    if (rc != 0)
        ws_log(WS_LOG_WARNING, "prefetch spool not used: %s", e.msg);
    ws_fetch_spool_close(u->sp);
    u->sp = NULL;
    return false;
}

/* How long to wait for the prefetcher to finish the segment asked for:
 * about what one fetch of it may take. */
static double writer_wait(const ws_config *cfg)
{
    double t = cfg->s3_retry_budget + cfg->s3_request_timeout + 10;

    return t < 30 ? 30 : t;
}

/* Serves a segment from the spool: 1 served, 0 not. */
static int spool_serve(const ws_config *cfg, spool_use *u, const ws_wal_name *w, const char *name, const char *dest,
                       uint32_t *seg_size, ws_err *err)
{
    ws_wal_header hdr;
    int rc;

    if (w->kind != WS_WAL_SEGMENT || !spool_ready(u, false))
        return 0;
    rc = ws_fetch_spool_take(u->sp, w, dest, u->id.sysid, writer_wait(cfg), &hdr, err);
    if (rc == 1) {
        ws_log(WS_LOG_INFO, "restored %s from the prefetch spool", name);
        *seg_size = hdr.seg_size;
    } else if (rc == 0 && err->code != WS_OK) {
        ws_log(WS_LOG_WARNING, "prefetched copy not used, fetching directly: %s", err->msg);
        ws_err_clear(err);
    }
    return rc;
}

/* The segment size of the segment just restored to dest. */
static int restored_seg_size(const char *dest, uint32_t *seg_size, ws_err *err)
{
    uint8_t head[WS_WAL_LONG_HEADER_LEN];
    ws_wal_header hdr;
    size_t got = 0;
    int fd = ws_localfile_open(dest, 0, NULL, err), rc;

    if (fd < 0)
        return -1;
    rc = ws_localfile_pread(fd, head, sizeof head, 0, &got, dest, err);
    close(fd);
    if (rc < 0)
        return -1;
    if (got != sizeof head || ws_wal_header_decode(head, sizeof head, &hdr, err) < 0)
        return ws_err_set(err, WS_ERR_INTERNAL, "could not read the page header of \"%s\" just restored", dest);
    *seg_size = hdr.seg_size;
    return 0;
}

/* A history file of a newer timeline was restored: if the spool's timeline
 * is in it, PostgreSQL following the new timeline asks for a newer
 * timeline's segments first from some segment on; the window stops there. */
static int spool_note_history(spool_use *u, const ws_wal_name *w, const char *dest, ws_err *err)
{
    ws_spool_want want;
    ws_tli_history h = {0};
    char *buf = NULL;
    size_t len;
    int rc = 0;

    if (!spool_ready(u, false) || ws_fetch_spool_read_want(u->sp, &want, err) != 1 || w->tli <= want.tli)
        return 0;
    rc = ws_localfile_read(dest, WS_WAL_TEXT_FILE_MAX, 0, &buf, &len, err);
    if (rc <= 0)
        return rc < 0 ? -1 : ws_err_set(err, WS_ERR_INTERNAL, "\"%s\" vanished right after it was restored", dest);
    rc = ws_tli_history_parse(buf, len, w->tli, dest, &h, err);
    free(buf);
    if (rc < 0)
        return -1;
    if (want.seg_size > 0) {
        uint64_t from = ws_tli_history_newer_from(&h, want.tli, want.seg_size);

        if (from != UINT64_MAX)
            rc = ws_fetch_spool_limit_at_lsn(u->sp, want.tli, from * want.seg_size, err);
    }
    ws_tli_history_free(&h);
    return rc;
}

/* After this call's answer: moves the prefetch window and makes sure a
 * prefetcher runs; or shortens the window.  Never changes the answer. */
static void spool_after(const ws_config *cfg, spool_use *u, const ws_wal_name *w, const char *dest, int status,
                        const ws_err *fetch_err, ws_recovery_mode mode, uint32_t seg_size)
{
    ws_proc_id owner;
    ws_err e;
    int rc = 0;

    ws_err_clear(&e);
    if (status == WS_FETCH_OK && w->kind == WS_WAL_SEGMENT) {
        /* Prefetching only helps PostgreSQL's startup process: a call by
         * hand has nothing to come back for the files. */
        if (ws_pg_datadir_startup_process(".", &owner, &e) != 1)
            return;
        if ((seg_size == 0 && restored_seg_size(dest, &seg_size, &e) < 0) || !spool_ready(u, true))
            rc = -1;
        else if (ws_fetch_spool_advance(u->sp, &u->id, w, seg_size, cfg->prefetch, &e) < 0 ||
                 ws_prefetcher_ensure(cfg, u->sp, &owner, &e) < 0)
            rc = -1;
    } else if (status == WS_FETCH_OK && w->kind == WS_WAL_HISTORY) {
        rc = spool_note_history(u, w, dest, &e);
    } else if (status == WS_FETCH_ABSENT && fetch_err->code == WS_ERR_NOTFOUND && mode == WS_RECOVERY_ARCHIVE &&
               w->kind == WS_WAL_SEGMENT && spool_ready(u, false)) {
        /* In archive recovery this ends recovery: nothing after it is read. */
        rc = ws_fetch_spool_limit_at_segment(u->sp, w, &e);
    }
    if (rc < 0)
        ws_log(WS_LOG_WARNING, "prefetching: %s", e.msg);
}

/* The identity cache's directory beside dest when dest is in pg_wal (where
 * PostgreSQL's startup process asks for files): false otherwise. */
static bool idcache_dir_for(const char *dest, char *out, size_t len)
{
    const char *slash = strrchr(dest, '/');
    int dl = slash ? (int) (slash - dest) : 1;
    const char *d = slash ? dest : ".";
    struct stat st;
    int n;

    if (slash == dest)
        return false;
    n = snprintf(out, len, "%.*s/" WS_ARCHIVE_STATUS_DIR, dl, d);
    if (n < 0 || (size_t) n >= len || stat(out, &st) < 0 || !S_ISDIR(st.st_mode))
        return false;
    n = snprintf(out, len, "%.*s/" WS_IDCACHE_DIR, dl, d);
    return n >= 0 && (size_t) n < len;
}

/*
 * Before "not found" is answered, the repository must prove to be this
 * cluster's.  A standby asks for the next segment every few seconds and
 * only waits longer when told "not found", so there the identity read in
 * the last WS_IDCACHE_MAX_AGE seconds (repo_idcache.h, in pg_wal) is proof
 * enough and the call costs one request.  In archive recovery "not found"
 * ends recovery, once: the identity is read every time.
 */
static int verify_identity(const ws_config *cfg, ws_repo *repo, const ws_restore_request *req, ws_err *err)
{
    char dir[PATH_MAX];
    bool cache = req->mode == WS_RECOVERY_STANDBY && req->sysid != 0 && idcache_dir_for(req->dest, dir, sizeof dir);
    int64_t now = (int64_t) time(NULL);
    ws_repo_identity rec;
    ws_idcache c;
    ws_digest d;
    ws_err e;

    ws_err_clear(&e);
    if (cache && ws_repo_idcache_lookup(dir, cfg, repo, now, &c, &e) == 2 && c.id.sysid == req->sysid) {
        ws_log(WS_LOG_DEBUG, "repository identity as read %" PRId64 " s ago (%s/" WS_IDCACHE_FILE ")", now - c.checked,
               dir);
        return 0;
    }
    if (ws_repo_identity_verify_read(repo, req->sysid, &rec, &d, err) < 0)
        return -1;
    ws_err_clear(&e);
    if (cache && mkdir(dir, 0700) < 0 && errno != EEXIST)
        ws_err_sys(&e, errno, "could not create \"%s\"", dir);
    else if (cache)
        ws_repo_idcache_store(dir, cfg, repo, &rec, &d, now, &e);
    if (e.code != WS_OK)
        ws_log(WS_LOG_DEBUG, "could not remember the repository identity: %s", e.msg);
    return 0;
}

int ws_restore_run_answer(const ws_config *cfg, ws_repo *repo, const ws_restore_request *req, ws_err *err)
{
    bool standby = req->mode == WS_RECOVERY_STANDBY, use;
    spool_use u;
    uint32_t seg_size = 0;
    ws_wal_name w;
    ws_err e;
    int status, served = 0;

    ws_err_clear(err);
    /* PostgreSQL asks for the parent's history file when it starts a new
     * timeline, even for timeline 1, which never has one. */
    if (strcmp(req->name, "00000001.history") == 0) {
        ws_err_set(err, WS_ERR_NOTFOUND, "%s: timeline 1 has no history file", req->name);
        return WS_FETCH_ABSENT;
    }
    if (ws_wal_name_parse(req->name, &w, err) < 0)
        return WS_FETCH_LOCAL;
    memset(&u, 0, sizeof u);
    use = spool_applies(cfg, repo, &w, req->dest, req->mode, req->sysid, &u);
    if (use)
        served = spool_serve(cfg, &u, &w, req->name, req->dest, &seg_size, err);
    if (served == 0)
        status = fetch(repo, &w, req->name, req->dest, req->sysid, standby, err);
    else
        status = WS_FETCH_OK;
    /* "Not found" ends archive recovery: only a repository that is this
     * cluster's may say so, never a wrong or unmounted location. */
    if (status == WS_FETCH_ABSENT && err->code == WS_ERR_NOTFOUND && verify_identity(cfg, repo, req, &e) < 0) {
        *err = e;
        status = ws_errclass_fetch_exit(ws_errclass_of(err->code), standby);
    }
    if (use)
        spool_after(cfg, &u, &w, req->dest, status, err, req->mode, seg_size);
    ws_fetch_spool_close(u.sp);
    return status;
}

static void report(int status, const ws_err *err, bool standby)
{
    switch (status) {
    case WS_FETCH_OK:
        break;
    case WS_FETCH_ABSENT:
        if (err->code == WS_ERR_NOTFOUND)
            ws_log(WS_LOG_INFO, "%s", err->msg);
        else if (err->code == WS_ERR_NOREPO)
            ws_log(WS_LOG_WARNING, "standby mode, no repository yet, PostgreSQL will retry: %s", err->msg);
        else
            ws_log(WS_LOG_WARNING, "standby mode, storage unreachable, PostgreSQL will retry: %s", err->msg);
        break;
    case WS_FETCH_INTEGRITY:
        ws_log(WS_LOG_ERROR, "integrity failure, recovery must stop (exit %d): %s", status, err->msg);
        break;
    case WS_FETCH_UNREACHABLE:
        ws_log(WS_LOG_ERROR, "repository unusable in %s, recovery must stop (exit %d): %s",
               standby ? "standby mode" : "archive recovery", status, err->msg);
        break;
    default:
        ws_log(WS_LOG_ERROR, "%s (exit %d)", err->msg, status);
        break;
    }
}

int ws_restore_run(const ws_config *cfg, const char *name, const char *dest)
{
    ws_restore_request req = {.name = name, .dest = dest};
    ws_repo *repo = NULL;
    ws_err err;
    int status;

    ws_err_clear(&err);
    /* PostgreSQL runs restore_command in the data directory; standby.signal
     * wins over recovery.signal, as in PostgreSQL. */
    req.mode = ws_pg_datadir_recovery_mode(".");
    if (ws_pg_datadir_sysid(".", &req.sysid, &err) < 0)
        req.sysid = 0; /* run by hand elsewhere */
    ws_err_clear(&err);
    if (ws_config_require(cfg, WS_CFG_REPO, &err) < 0 || ws_repo_open(cfg, &repo, &err) < 0)
        /* The storage could not even be opened: configuration, a local
         * problem (S3 opens without network traffic), or a file:// root
         * that does not exist (no repository). */
        status = ws_errclass_fetch_exit(ws_errclass_of(err.code), req.mode == WS_RECOVERY_STANDBY);
    else
        status = ws_restore_run_answer(cfg, repo, &req, &err);
    report(status, &err, req.mode == WS_RECOVERY_STANDBY);
    ws_repo_close(repo);
    return status;
}
