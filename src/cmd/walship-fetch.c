/*
 * walship-fetch - PostgreSQL's restore_command: walship-fetch %f %p
 *
 * Reads the object of WAL file %f, verifies it completely (codec checks plus
 * the WAL page header against the name), and only then makes %p appear,
 * atomically.  The exit status tells PostgreSQL what happened; the table is
 * in usage() below and in doc/archive.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/cli.h"
#include "walship/file_out.h"
#include "walship/log.h"
#include "walship/repo_keys.h"
#include "walship/repo_object.h"
#include "walship/wal_segment.h"

extern char **environ;

/* Above 125: PostgreSQL treats these as fatal and stops recovery. */
#define FETCH_OK 0
#define FETCH_ABSENT 1
#define FETCH_INTEGRITY 200
#define FETCH_STORAGE 201
#define FETCH_LOCAL 202

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
          "  202  usage, configuration or local error (bad arguments, cannot write DEST)\n"
          "See doc/archive.md.\n",
          out);
}

/* A pass-through stage just before the local file: remembers whether the
 * local side failed, so its errors are not mistaken for the repository's. */
typedef struct tag_sink {
    ws_sink base;
    bool failed;
} tag_sink;

static int tag_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    int rc = ws_sink_write(s->next, buf, len, err);

    if (rc < 0)
        ((tag_sink *) s)->failed = true;
    return rc;
}

static int tag_finish(ws_sink *s, ws_err *err)
{
    int rc = ws_sink_finish_next(s, err);

    if (rc < 0)
        ((tag_sink *) s)->failed = true;
    return rc;
}

static void tag_destroy(ws_sink *s)
{
    free(s);
}

static const ws_sink_ops tag_ops = {"local output", tag_write, tag_finish, tag_destroy};

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
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

static int fetch(ws_repo *repo, const char *name, const char *dest, bool standby, ws_err *err)
{
    ws_wal_name w;
    char key[WS_KEY_MAX];
    ws_file_out *out = NULL;
    tag_sink *tag = NULL;
    ws_sink *check = NULL;
    ws_digest d;
    int status;

    /* PostgreSQL asks for the parent's history file when it starts a new
     * timeline, even for timeline 1, which never has one. */
    if (strcmp(name, "00000001.history") == 0) {
        ws_err_set(err, WS_ERR_NOTFOUND, "%s: timeline 1 has no history file", name);
        return FETCH_ABSENT;
    }
    if (ws_wal_name_parse(name, &w, err) < 0 || ws_repo_wal_key(name, key, sizeof key, err) < 0)
        return FETCH_LOCAL;
    out = ws_file_out_open(dest, 0600, err);
    if (!out)
        return FETCH_LOCAL;
    tag = calloc(1, sizeof *tag);
    if (!tag) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        status = FETCH_LOCAL;
        goto done;
    }
    tag->base.ops = &tag_ops;
    tag->base.next = ws_file_out_sink(out);
    check = ws_wal_check_filter_new(&w, key, &tag->base, err);
    if (!check) {
        status = FETCH_LOCAL;
        goto done;
    }
    if (ws_repo_get_sink(repo, key, check, &d, err) < 0) {
        status = tag->failed ? FETCH_LOCAL : classify(err, standby);
        goto done;
    }
    if (ws_file_out_commit(out, err) < 0) {
        status = FETCH_LOCAL;
        goto done;
    }
    ws_log(WS_LOG_INFO, "restored %s from %s (%" PRIu64 " bytes verified)", name, key, d.size);
    status = FETCH_OK;
done:
    ws_sink_free(check);
    ws_sink_free(tag ? &tag->base : NULL);
    ws_file_out_free(out);
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
    bool standby;
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
    standby = file_exists("standby.signal");
    if (ws_config_require(&cfg, WS_CFG_REPO, &err) < 0 || ws_repo_open(&cfg, &repo, &err) < 0) {
        /* The storage could not even be opened: configuration or a local
         * problem (S3 opens without network traffic). */
        status = FETCH_LOCAL;
    } else {
        status = fetch(repo, argv[optind], argv[optind + 1], standby, &err);
    }
    report(status, &err, standby);
    ws_repo_close(repo);
    ws_config_free(&cfg);
    return status;
}
