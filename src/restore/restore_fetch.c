/* restore_fetch.c - one WAL file from the repository, verified (see restore_fetch.h). */
#include "walship/restore_fetch.h"

#include <inttypes.h>
#include <stdlib.h>

#include "walship/repo_keys.h"
#include "walship/wal_segment.h"

/* A pass-through stage just before the destination: remembers whether the
 * destination failed, so its errors are not mistaken for the repository's. */
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

int ws_restore_fetch(ws_repo *repo, const ws_wal_name *w, const char *name, uint64_t sysid, ws_sink *dst,
                     bool *dst_failed, ws_digest *digest, ws_err *err)
{
    char key[WS_KEY_MAX];
    tag_sink *tag;
    ws_sink *check;
    ws_wal_header hdr;
    ws_digest d;
    int rc;

    *dst_failed = false;
    if (ws_repo_keys_wal(name, key, sizeof key, err) < 0) {
        *dst_failed = true; /* a bad name is the caller's problem, not the repository's */
        return -1;
    }
    tag = calloc(1, sizeof *tag);
    if (!tag) {
        *dst_failed = true;
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    tag->base.ops = &tag_ops;
    tag->base.next = dst;
    check = ws_wal_segment_check_filter_new(w, key, &tag->base, err);
    if (!check) {
        *dst_failed = true;
        ws_sink_free(&tag->base);
        return -1;
    }
    rc = ws_repo_get_sink(repo, key, check, &d, err);
    if (rc < 0)
        *dst_failed = tag->failed;
    else if (sysid != 0 && ws_wal_segment_check_filter_header(check, &hdr) && hdr.sysid != sysid)
        rc = ws_err_set(err, WS_ERR_CONFIG,
                        "%s: %s holds WAL of the cluster with system identifier %" PRIu64
                        ", this data directory's (global/pg_control) is %" PRIu64 ": wrong repository",
                        repo->st->url, key, hdr.sysid, sysid);
    else if (digest)
        *digest = d;
    ws_sink_free(check);
    ws_sink_free(&tag->base);
    return rc;
}
