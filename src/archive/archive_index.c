/*
 * archive_index.c - the push path's WAL index entry (archive_index.h).
 */
#include <unistd.h>

#include "walship/archive_index.h"
#include "walship/localfile.h"
#include "walship/repo_keys.h"
#include "walship/wal_index.h"

int ws_archive_index_after_stored(ws_repo *repo, const ws_push_stored *s, void *arg, ws_err *err)
{
    const ws_wal_file *wf = s->wf;
    char key[WS_KEY_MAX], prev[4096];
    ws_wal_index ix;
    ws_digest d;
    int fd, have_prev, rc;

    (void) arg;
    if (wf->name.kind != WS_WAL_SEGMENT && wf->name.kind != WS_WAL_PARTIAL)
        return 0;
    if (!s->stored_now) {
        /* A repeated push: the first one may have stopped before its entry. */
        if (ws_repo_keys_index(wf->base, key, sizeof key, err) < 0)
            return -1;
        rc = ws_repo_stat(repo, key, &d, NULL, err);
        if (rc < 0 && err->code != WS_ERR_CORRUPT)
            return ws_err_prefix(err, "look for the WAL index entry of %s", wf->base);
        if (rc > 0)
            return 0;
        ws_err_clear(err); /* absent or damaged: write it again */
    }
    have_prev = ws_wal_index_prev_path(s->path, wf, prev, sizeof prev, err);
    if (have_prev < 0)
        return -1;
    fd = ws_localfile_open(s->path, 0, NULL, err);
    if (fd < 0)
        return ws_err_prefix(err, "index %s", wf->base);
    ws_wal_index_init(&ix);
    rc = ws_wal_index_file(fd, s->path, wf, have_prev == 0 ? prev : NULL, &ix, err);
    close(fd);
    if (rc == 0)
        rc = ws_wal_index_put(repo, &ix, err);
    ws_wal_index_free(&ix);
    return rc;
}
