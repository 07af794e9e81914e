/*
 * archive_index.c - the push path's WAL index entry (archive_index.h).
 */
#include <stdlib.h>
#include <unistd.h>

#include "walship/archive_index.h"
#include "walship/localfile.h"
#include "walship/repo_keys.h"
#include "walship/wal_index.h"

/* An entry made from the local file, to be stored. */
typedef struct {
    ws_wal_index ix;
    bool only_if_missing; /* a repeated push: the first one may have stored it */
} pending_entry;

static void pending_free(void *state)
{
    pending_entry *p = state;

    if (!p)
        return;
    ws_wal_index_free(&p->ix);
    free(p);
}

/* 1 when a readable entry of segment is stored, 0 not, -1 error. */
static int entry_stored(ws_repo *repo, const char *segment, ws_err *err)
{
    char key[WS_KEY_MAX];
    ws_digest d;
    int rc;

    if (ws_repo_keys_index(segment, key, sizeof key, err) < 0)
        return -1;
    rc = ws_repo_stat(repo, key, &d, NULL, err);
    if (rc < 0 && err->code != WS_ERR_CORRUPT)
        return ws_err_prefix(err, "look for the WAL index entry of %s", segment);
    if (rc > 0)
        return 1;
    ws_err_clear(err); /* absent or damaged: write it again */
    return 0;
}

static int pending_store(ws_repo *repo, void *state, ws_err *err)
{
    const pending_entry *p = state;

    if (p->only_if_missing) {
        int rc = entry_stored(repo, p->ix.segment, err);

        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    return ws_wal_index_put(repo, &p->ix, err);
}

/* The entry of the local file s->path (and the end of the previous segment
 * when it is still next to it). */
static int make_entry(const ws_push_stored *s, ws_wal_index *ix, ws_err *err)
{
    const ws_wal_file *wf = s->wf;
    char prev[4096];
    int fd, have_prev, rc;

    have_prev = ws_wal_index_prev_path(s->path, wf, prev, sizeof prev, err);
    if (have_prev < 0)
        return -1;
    fd = ws_localfile_open(s->path, 0, NULL, err);
    if (fd < 0)
        return ws_err_prefix(err, "index %s", wf->base);
    rc = ws_wal_index_file(fd, s->path, wf, have_prev == 0 ? prev : NULL, ix, err);
    close(fd);
    return rc;
}

int ws_archive_index_after_stored(ws_repo *repo, const ws_push_stored *s, void *arg, ws_err *err)
{
    const ws_wal_file *wf = s->wf;
    pending_entry *p;
    int rc;

    (void) arg;
    if (wf->name.kind != WS_WAL_SEGMENT && wf->name.kind != WS_WAL_PARTIAL)
        return 0;
    /* Look for the entry of a repeated push before reading the file, unless
     * that request too can wait. */
    if (!s->stored_now && !s->later) {
        rc = entry_stored(repo, wf->base, err);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    p = calloc(1, sizeof *p);
    if (!p)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    ws_wal_index_init(&p->ix);
    p->only_if_missing = !s->stored_now;
    /* The file is read now, while it is certainly the one just archived
     * (once acknowledged, PostgreSQL may recycle it). */
    if (make_entry(s, &p->ix, err) < 0) {
        pending_free(p);
        return -1;
    }
    if (s->later) {
        ws_push_later_clear(s->later);
        *s->later = (ws_push_later){.fn = pending_store, .free_state = pending_free, .state = p};
        return 0;
    }
    p->only_if_missing = false; /* looked for above */
    rc = pending_store(repo, p, err);
    pending_free(p);
    return rc;
}
