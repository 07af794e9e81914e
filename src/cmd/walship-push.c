/*
 * walship-push - PostgreSQL's archive_command: walship-push %p
 *
 * Checks the file by its name (segment, .partial, .history, .backup) and
 * content, makes sure the repository belongs to this cluster, and stores
 * it under its WAL key.  Exit 0 only once the object is durable and read
 * back.  The same name pushed again succeeds when the content is identical
 * (by plaintext SHA-256 and size, without downloading), replaces a stored
 * object that is damaged, and fails without touching it when the content
 * differs.  See doc/archive.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walship/cli.h"
#include "walship/log.h"
#include "walship/repo_identity.h"
#include "walship/repo_keys.h"
#include "walship/repo_object.h"
#include "walship/wal_segment.h"

extern char **environ;

#define LOCK_TIMEOUT 120.0 /* seconds; PostgreSQL retries a failed push */

static void usage(FILE *out)
{
    fputs("Usage: walship-push [--config FILE] WALFILE\n"
          "\n"
          "Stores one WAL file in the repository; for PostgreSQL's archive_command:\n"
          "  archive_command = 'walship-push %p'\n"
          "\n"
          "WALFILE is a WAL segment, a .partial segment, a .history or a .backup\n"
          "file, recognised by its name and checked (page header, size, system\n"
          "identifier, text format) before anything is stored.\n"
          "\n"
          "Exit status: 0 stored durably (or already stored with identical content),\n"
          "1 error (nothing stored; PostgreSQL retries), 2 usage error.\n"
          "See doc/archive.md.\n",
          out);
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
    else if (ws_pump_fd(fd, path, sha, err) == 0 && ws_filter_sha256_result(sha, d->sha256, &d->size))
        rc = 0;
    ws_sink_free(sha);
    return rc;
}

static bool same_digest(const ws_digest *a, const ws_digest *b)
{
    return a->size == b->size && memcmp(a->sha256, b->sha256, WS_SHA256_LEN) == 0;
}

/*
 * Under the lock: decide what to do about an existing object, store when
 * needed, and read back what is stored.
 */
static int push_locked(ws_repo *repo, const char *key, int fd, const char *path, const ws_wal_file *wf,
                       ws_err *err)
{
    ws_digest stored, mine, put;
    char hs[65], hm[65];
    int found = ws_repo_stat_checked(repo, key, &stored, NULL, err);

    if (found < 0 && err->code != WS_ERR_CORRUPT)
        return -1;
    if (found < 0) {
        ws_log(WS_LOG_WARNING, "replacing damaged stored object: %s", err->msg);
        ws_err_clear(err);
    } else if (found > 0) {
        if (local_digest(fd, path, &mine, err) < 0)
            return -1;
        ws_sha256_hex(stored.sha256, hs);
        ws_sha256_hex(mine.sha256, hm);
        if (same_digest(&stored, &mine)) {
            ws_log(WS_LOG_NOTICE, "%s is already archived with identical content (sha256 %s, %" PRIu64 " bytes)",
                   wf->base, hm, mine.size);
            return 0;
        }
        return ws_err_set(err, WS_ERR_CONFLICT,
                          "%s is already archived with different content: stored %s has sha256 %s (%" PRIu64
                          " bytes), %s has sha256 %s (%" PRIu64 " bytes); not overwritten",
                          wf->base, key, hs, stored.size, path, hm, mine.size);
    }
    if (lseek(fd, 0, SEEK_SET) < 0)
        return ws_err_sys(err, errno, "%s: could not seek", path);
    if (ws_repo_put_fd(repo, key, fd, path, wf->size, &put, err) < 0)
        return -1;
    /* The file must not have changed while it was read. */
    if (put.size != wf->size)
        return ws_err_set(err, WS_ERR_INVALID, "%s: %" PRIu64 " bytes read, but the file had %" PRIu64
                          " bytes: it changed while being archived", path, put.size, wf->size);
    /* Check after write: what is stored now must be what we wrote (another
     * writer without a shared lock could have replaced it). */
    found = ws_repo_stat_checked(repo, key, &stored, NULL, err);
    if (found < 0)
        return ws_err_prefix(err, "check after storing %s", wf->base);
    if (found == 0)
        return ws_err_set(err, WS_ERR_STORAGE, "%s: stored object %s is missing right after it was written",
                          wf->base, key);
    if (!same_digest(&stored, &put)) {
        ws_sha256_hex(stored.sha256, hs);
        ws_sha256_hex(put.sha256, hm);
        return ws_err_set(err, WS_ERR_CONFLICT,
                          "%s: a concurrent push stored different content under %s (sha256 %s, ours %s)", wf->base,
                          key, hs, hm);
    }
    ws_sha256_hex(put.sha256, hm);
    ws_log(WS_LOG_INFO, "archived %s as %s (%" PRIu64 " bytes, sha256 %s)", wf->base, key, put.size, hm);
    return 0;
}

static int push(const ws_config *cfg, const char *path, ws_err *err)
{
    ws_wal_file wf;
    ws_repo *repo = NULL;
    ws_repo_lock *lock = NULL;
    char key[WS_KEY_MAX];
    int fd, rc = -1;

    /* Check the input before touching the repository. */
    fd = ws_wal_file_open(path, &wf, err);
    if (fd < 0)
        return -1;
    if (ws_repo_wal_key(wf.base, key, sizeof key, err) < 0 || ws_config_require(cfg, WS_CFG_REPO, err) < 0 ||
        ws_repo_open(cfg, &repo, err) < 0)
        goto out;
    if (wf.has_header) {
        ws_repo_identity id = {.sysid = wf.hdr.sysid, .pg_version = wf.hdr.pg_version, .seg_size = wf.hdr.seg_size};
        bool created;

        if (ws_repo_identity_ensure(repo, &id, path, &created, err) < 0)
            goto out;
        if (created)
            ws_log(WS_LOG_NOTICE,
                   "new repository %s: recorded system identifier %" PRIu64 ", PostgreSQL %u, %" PRIu32
                   " byte segments",
                   repo->st->url, id.sysid, id.pg_version, id.seg_size);
    }
    if (ws_repo_lock_name(repo, wf.base, LOCK_TIMEOUT, &lock, err) < 0)
        goto out;
    rc = push_locked(repo, key, fd, path, &wf, err);
out:
    ws_repo_unlock(lock);
    ws_repo_close(repo);
    close(fd);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ws_config cfg;
    ws_err err;
    int c, rc;

    ws_err_clear(&err);
    if (ws_cli_start("walship-push", &argc, argv, environ, &cfg, &err) < 0) {
        ws_log_err(&err);
        return WS_EXIT_ERROR;
    }
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            ws_config_free(&cfg);
            return WS_EXIT_OK;
        }
        usage(stderr);
        ws_config_free(&cfg);
        return WS_EXIT_USAGE;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "walship-push: expected exactly one WAL file path (archive_command = 'walship-push %%p')\n");
        ws_config_free(&cfg);
        return WS_EXIT_USAGE;
    }
    rc = push(&cfg, argv[optind], &err);
    if (rc < 0)
        ws_log_err(&err);
    ws_config_free(&cfg);
    return rc < 0 ? WS_EXIT_ERROR : WS_EXIT_OK;
}
