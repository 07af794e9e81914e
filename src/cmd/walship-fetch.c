/*
 * walship-fetch - PostgreSQL's restore_command: walship-fetch %f %p
 *
 * Reads the object of WAL file %f, verifies it completely (codec checks plus
 * the WAL page header against the name), and only then makes %p appear,
 * atomically.  The exit status tells PostgreSQL what happened; the table is
 * in usage() below and in doc/archive.md.  With prefetching on, segments
 * are also kept coming in the background (fetch_spool.h, prefetcher.h) and
 * a later call may take its segment from there with a rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/cli.h"
#include "walship/fetch_spool.h"
#include "walship/file_out.h"
#include "walship/log.h"
#include "walship/pg_datadir.h"
#include "walship/prefetcher.h"
#include "walship/repo_identity.h"
#include "walship/repo_keys.h"
#include "walship/repo_object.h"
#include "walship/restore_fetch.h"
#include "walship/timeline_history.h"
#include "walship/wal_segment.h"

extern char **environ;

/* Above 125: PostgreSQL treats these as fatal and stops recovery. */
#define FETCH_OK        0
#define FETCH_ABSENT    1
#define FETCH_INTEGRITY 200
#define FETCH_STORAGE   201
#define FETCH_LOCAL     202

static void usage(FILE *out)
{
    fputs("Usage: walship-fetch [--config FILE] WALFILE DEST\n"
          "\n"
          "Restores one WAL file from the repository; for PostgreSQL's restore_command:\n"
          "  restore_command = 'walship-fetch %f %p'\n"
          "\n"
          "WALFILE is the WAL file name (%f); DEST the path to write (%p, relative to\n"
          "the data directory).  DEST appears atomically and only once the whole\n"
          "object is verified.  A .partial file is returned only when asked for by\n"
          "its own name, never in place of a segment.\n"
          "\n"
          "Exit status (PostgreSQL stops recovery on any status above 125):\n"
          "  0    restored and verified\n"
          "  1    not in the repository (one request); PostgreSQL takes this as\n"
          "       \"not found\": the end of the archive, or in standby mode, retry later\n"
          "  1    storage unreachable after the retry budget (WS_ERR_TRANSIENT or an I/O\n"
          "       error reading the repository), in standby mode (standby.signal in\n"
          "       the working directory): the standby waits and retries\n"
          "  200  integrity failure: checksum, authentication tag, decoding, wrong or\n"
          "       missing encryption key, unknown format, or content that is not the\n"
          "       named WAL file -- always fatal: never taken as \"not found\"\n"
          "  201  storage unreachable after retries in archive recovery (recovery.signal\n"
          "       or no signal file), or storage refused the request (access denied,\n"
          "       bad request) in any mode\n"
          "  202  usage, configuration or local error (bad arguments, cannot write DEST),\n"
          "       or not this cluster's repository: the file:// directory is missing,\n"
          "       the location has no walship identity (wrong repo, not mounted), or\n"
          "       another system identifier than ./global/pg_control\n"
          "\n"
          "Prefetching (setting prefetch, default 8; 0 turns it off): when run by\n"
          "PostgreSQL in recovery, after restoring segment N walship-fetch keeps\n"
          "segments N+1..N+prefetch coming in the background, verified the same way,\n"
          "into walship-spool/ next to DEST; a later call takes its segment from\n"
          "there with a rename.  The exit statuses are the same either way.\n"
          "See doc/archive.md.\n",
          out);
}

/* Maps an error from reading the repository to the exit status. */
static int classify(const ws_err *err, bool standby)
{
    switch (err->code) {
    case WS_ERR_NOTFOUND:
        return FETCH_ABSENT;
    case WS_ERR_CORRUPT:
    case WS_ERR_KEY:
    case WS_ERR_FORMAT:
        return FETCH_INTEGRITY;
    case WS_ERR_TRANSIENT:
    case WS_ERR_IO:
        return standby ? FETCH_ABSENT : FETCH_STORAGE;
    case WS_ERR_STORAGE:
    case WS_ERR_PERM:
        return FETCH_STORAGE;
    default:
        return FETCH_LOCAL;
    }
}

/* Reads the object of `name` and makes dest appear once it is verified. */
static int fetch(ws_repo *repo, const ws_wal_name *w, const char *name, const char *dest, uint64_t sysid, bool standby,
                 ws_err *err)
{
    char key[WS_KEY_MAX];
    ws_file_out *out;
    bool local;
    ws_digest d;
    int status;

    if (ws_repo_wal_key(name, key, sizeof key, err) < 0)
        return FETCH_LOCAL;
    out = ws_file_out_open(dest, 0600, err);
    if (!out)
        return FETCH_LOCAL;
    if (ws_restore_fetch(repo, w, name, sysid, ws_file_out_sink(out), &local, &d, err) < 0) {
        status = local ? FETCH_LOCAL : classify(err, standby);
    } else if (ws_file_out_commit(out, err) < 0) {
        status = FETCH_LOCAL;
    } else {
        ws_log(WS_LOG_INFO, "restored %s from %s (%" PRIu64 " bytes verified)", name, key, d.size);
        status = FETCH_OK;
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
    int n;

    if (cfg->prefetch == 0 || mode == WS_RECOVERY_NONE || (w->kind != WS_WAL_SEGMENT && w->kind != WS_WAL_HISTORY))
        return false;
    if (sysid == 0) {
        ws_log(WS_LOG_DEBUG, "no prefetching: no system identifier in ./global/pg_control");
        return false;
    }
    u->id.sysid = sysid;
    n = snprintf(u->id.repo, sizeof u->id.repo, "%s", cfg->repo);
    if (n < 0 || (size_t) n >= sizeof u->id.repo ||
        snprintf(u->id.endpoint, sizeof u->id.endpoint, "%s", cfg->s3_endpoint ? cfg->s3_endpoint : "") >=
            (int) sizeof u->id.endpoint)
        return false;
    u->id.key_id[0] = '\0';
    if (repo->key)
        ws_key_id_hex(ws_key_id(repo->key), u->id.key_id);
    if (ws_spool_dir_for(dest, u->dir, sizeof u->dir, &e) < 0) {
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
    rc = ws_spool_open(u->dir, create, &u->sp, &e);
    if (rc == 1 && ws_spool_adopt(u->sp, &u->id, &e) == 0)
        return true;
    if (rc != 0)
        ws_log(WS_LOG_WARNING, "prefetch spool not used: %s", e.msg);
    ws_spool_close(u->sp);
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

/* Serves a segment from the spool: 1 served, 0 not, -1 local error. */
static int spool_serve(const ws_config *cfg, spool_use *u, const ws_wal_name *w, const char *name, const char *dest,
                       uint32_t *seg_size, ws_err *err)
{
    ws_wal_header hdr;
    int rc;

    if (w->kind != WS_WAL_SEGMENT || !spool_ready(u, false))
        return 0;
    rc = ws_spool_take(u->sp, w, dest, u->id.sysid, writer_wait(cfg), &hdr, err);
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
    int fd = open(dest, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return ws_err_sys(err, errno, "could not open \"%s\"", dest);
    n = pread(fd, head, sizeof head, 0);
    close(fd);
    if (n != (ssize_t) sizeof head || ws_wal_header_decode(head, sizeof head, &hdr, err) < 0)
        return ws_err_set(err, WS_ERR_IO, "could not read the page header of \"%s\"", dest);
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
    ssize_t n;
    int fd, rc = 0;

    if (!spool_ready(u, false) || ws_spool_read_want(u->sp, &want, err) != 1 || w->tli <= want.tli)
        return 0;
    buf = malloc(WS_WAL_TEXT_FILE_MAX);
    if (!buf)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    fd = open(dest, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        free(buf);
        return ws_err_sys(err, errno, "could not open \"%s\"", dest);
    }
    n = read(fd, buf, WS_WAL_TEXT_FILE_MAX);
    close(fd);
    if (n < 0 || ws_tli_history_parse(buf, (size_t) n, w->tli, dest, &h, err) < 0) {
        free(buf);
        return n < 0 ? ws_err_sys(err, errno, "could not read \"%s\"", dest) : -1;
    }
    if (want.seg_size > 0) {
        uint64_t from = ws_tli_history_newer_from(&h, want.tli, want.seg_size);

        if (from != UINT64_MAX)
            rc = ws_spool_limit_at_lsn(u->sp, want.tli, from * want.seg_size, err);
    }
    ws_tli_history_free(&h);
    free(buf);
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
    if (status == FETCH_OK && w->kind == WS_WAL_SEGMENT) {
        /* Prefetching only helps PostgreSQL's startup process: a call by
         * hand has nothing to come back for the files. */
        if (ws_datadir_startup_process(".", &owner, &e) != 1)
            return;
        if ((seg_size == 0 && restored_seg_size(dest, &seg_size, &e) < 0) || !spool_ready(u, true))
            rc = -1;
        else if (ws_spool_advance(u->sp, &u->id, w, seg_size, cfg->prefetch, &e) < 0 ||
                 ws_prefetcher_ensure(cfg, u->sp, &owner, &e) < 0)
            rc = -1;
    } else if (status == FETCH_OK && w->kind == WS_WAL_HISTORY) {
        rc = spool_note_history(u, w, dest, &e);
    } else if (status == FETCH_ABSENT && fetch_err->code == WS_ERR_NOTFOUND && mode == WS_RECOVERY_ARCHIVE &&
               w->kind == WS_WAL_SEGMENT && spool_ready(u, false)) {
        /* In archive recovery this ends recovery: nothing after it is read. */
        rc = ws_spool_limit_at_segment(u->sp, w, &e);
    }
    if (rc < 0)
        ws_log(WS_LOG_WARNING, "prefetching: %s", e.msg);
}

/* Answers PostgreSQL's request for `name` into dest. */
static int restore(const ws_config *cfg, ws_repo *repo, const char *name, const char *dest, ws_recovery_mode mode,
                   ws_err *err)
{
    bool standby = mode == WS_RECOVERY_STANDBY, use;
    spool_use u;
    uint32_t seg_size = 0;
    uint64_t sysid;
    ws_err e;
    ws_wal_name w;
    int status, served = 0;

    /* PostgreSQL asks for the parent's history file when it starts a new
     * timeline, even for timeline 1, which never has one. */
    if (strcmp(name, "00000001.history") == 0) {
        ws_err_set(err, WS_ERR_NOTFOUND, "%s: timeline 1 has no history file", name);
        return FETCH_ABSENT;
    }
    if (ws_wal_name_parse(name, &w, err) < 0)
        return FETCH_LOCAL;
    /* The cluster PostgreSQL runs us for (0: run by hand elsewhere). */
    if (ws_datadir_sysid(".", &sysid, &e) < 0)
        sysid = 0;
    memset(&u, 0, sizeof u);
    use = spool_applies(cfg, repo, &w, dest, mode, sysid, &u);
    if (use)
        served = spool_serve(cfg, &u, &w, name, dest, &seg_size, err);
    if (served < 0)
        status = FETCH_LOCAL;
    else if (served == 0)
        status = fetch(repo, &w, name, dest, sysid, standby, err);
    else
        status = FETCH_OK;
    /* "Not found" ends archive recovery: only a repository that is this
     * cluster's may say so, never a wrong or unmounted location. */
    if (status == FETCH_ABSENT && err->code == WS_ERR_NOTFOUND && ws_repo_identity_verify(repo, sysid, &e) < 0) {
        *err = e;
        status = classify(err, standby);
    }
    if (use)
        spool_after(cfg, &u, &w, dest, status, err, mode, seg_size);
    ws_spool_close(u.sp);
    return status;
}

static void report(int status, const ws_err *err, bool standby)
{
    switch (status) {
    case FETCH_OK:
        break;
    case FETCH_ABSENT:
        if (err->code == WS_ERR_NOTFOUND)
            ws_log(WS_LOG_INFO, "%s", err->msg);
        else
            ws_log(WS_LOG_WARNING, "standby mode, storage unreachable, PostgreSQL will retry: %s", err->msg);
        break;
    case FETCH_INTEGRITY:
        ws_log(WS_LOG_ERROR, "integrity failure, recovery must stop (exit %d): %s", status, err->msg);
        break;
    case FETCH_STORAGE:
        ws_log(WS_LOG_ERROR, "repository unusable in %s, recovery must stop (exit %d): %s",
               standby ? "standby mode" : "archive recovery", status, err->msg);
        break;
    default:
        ws_log(WS_LOG_ERROR, "%s (exit %d)", err->msg, status);
        break;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ws_config cfg;
    ws_repo *repo = NULL;
    ws_err err;
    ws_recovery_mode mode;
    int c, status;

    ws_err_clear(&err);
    /* Every failure to start is fatal for PostgreSQL: a misconfigured
     * restore_command must not look like the end of the archive. */
    if (ws_cli_start("walship-fetch", &argc, argv, environ, &cfg, &err) < 0) {
        ws_log(WS_LOG_ERROR, "%s (exit %d)", err.msg, FETCH_LOCAL);
        return FETCH_LOCAL;
    }
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            ws_config_free(&cfg);
            return FETCH_OK;
        }
        usage(stderr);
        ws_config_free(&cfg);
        return FETCH_LOCAL;
    }
    if (argc - optind != 2) {
        ws_log(WS_LOG_ERROR, "expected WALFILE DEST (restore_command = 'walship-fetch %%f %%p') (exit %d)",
               FETCH_LOCAL);
        ws_config_free(&cfg);
        return FETCH_LOCAL;
    }
    /* PostgreSQL runs us in the data directory; standby.signal wins over
     * recovery.signal, as in PostgreSQL. */
    mode = ws_datadir_recovery_mode(".");
    if (ws_config_require(&cfg, WS_CFG_REPO, &err) < 0 || ws_repo_open(&cfg, &repo, &err) < 0) {
        /* The storage could not even be opened: configuration or a local
         * problem (S3 opens without network traffic). */
        status = FETCH_LOCAL;
    } else {
        status = restore(&cfg, repo, argv[optind], argv[optind + 1], mode, &err);
    }
    report(status, &err, mode == WS_RECOVERY_STANDBY);
    ws_repo_close(repo);
    ws_config_free(&cfg);
    return status;
}
