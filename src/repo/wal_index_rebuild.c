/* wal_index_rebuild.c - the WAL index from the archive (see wal_index_rebuild.h). */
#include "walship/wal_index_rebuild.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/repo_identity.h"
#include "walship/repo_keys.h"
#include "walship/repo_wal.h"
#include "walship/timeline_history.h"
#include "walship/wal_segment.h"

/* The segment recovery on timeline tli reads before segno: the newest
 * timeline of its history that may hold segment segno - 1 and whose
 * segment is archived (XLogFileReadAnyTLI's rule). */
static const ws_repo_wal_file *predecessor(const ws_repo_wal_list *l, const ws_tli_history *h, uint64_t segno)
{
    if (segno == 0)
        return NULL;
    for (size_t i = h->n; i-- > 0;) {
        const ws_repo_wal_file *p;

        if (!ws_tli_entry_may_hold_segment(&h->e[i], segno - 1, l->seg_size))
            continue;
        p = ws_repo_wal_list_find(l, h->e[i].tli, segno - 1, WS_WAL_SEGMENT);
        if (p)
            return p;
    }
    return NULL;
}

/* Reads one archived segment into the indexer (begun, fed, ended). */
static int read_segment(ws_repo *repo, ws_wal_indexer *x, const ws_repo_wal_file *s, uint32_t seg_size, ws_err *err)
{
    char name[WS_WAL_NAME_MAX], key[WS_KEY_MAX];
    ws_sink *sink;
    int rc;

    ws_wal_name_format(&s->name, name);
    if (ws_repo_keys_wal(name, key, sizeof key, err) < 0 || ws_wal_indexer_begin(x, &s->name, seg_size, err) < 0)
        return -1;
    sink = ws_wal_indexer_sink_new(x, NULL, err);
    if (!sink) {
        ws_wal_indexer_reset(x);
        return -1;
    }
    rc = ws_repo_get_sink(repo, key, sink, NULL, err);
    ws_sink_free(sink);
    if (rc < 0) {
        ws_wal_indexer_reset(x);
        return ws_err_prefix(err, "index %s", name);
    }
    return 0;
}

static void note_failure(ws_wal_rebuild_stats *st, ws_err *first, const ws_err *e)
{
    if (st->failed++ == 0)
        *first = *e;
}

int ws_wal_index_rebuild(ws_repo *repo, const ws_wal_rebuild_opts *o, ws_wal_rebuild_stats *st, ws_err *err)
{
    ws_repo_wal_list l = {0};
    bool any = false;
    ws_repo_identity id;
    ws_wal_indexer *x = NULL;
    ws_tli_history h = {0};
    const ws_repo_wal_file *last = NULL; /* the segment the indexer read last, fully */
    uint32_t cur_tli = 0;
    ws_err first, e;
    int found, rc = -1;

    memset(st, 0, sizeof *st);
    ws_err_clear(&first);
    if (ws_repo_wal_list_load(repo, &l, err) < 0)
        goto out;
    for (size_t i = 0; i < l.n && !any; i++)
        any = l.v[i].name.kind != WS_WAL_HISTORY;
    if (!any) {
        rc = 0;
        goto out;
    }
    found = ws_repo_identity_load(repo, &id, err);
    if (found < 0)
        goto out;
    if (found == 0) {
        ws_err_set(err, WS_ERR_CORRUPT,
                   "the repository holds WAL segments but no identity (%s): cannot tell the segment size",
                   WS_REPO_IDENTITY_KEY);
        goto out;
    }
    if (ws_repo_wal_list_sort(&l, id.seg_size, err) < 0)
        goto out;
    x = ws_wal_indexer_new(err);
    if (!x)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        const ws_repo_wal_file *s = &l.v[i], *p;
        ws_wal_index ix;

        if (s->name.kind == WS_WAL_HISTORY || (o->tli && s->name.tli != o->tli))
            continue;
        if (s->name.tli != cur_tli) {
            ws_tli_history_free(&h);
            if (ws_repo_wal_history_load(repo, s->name.tli, &h, NULL, err) < 0)
                goto out;
            cur_tli = s->name.tli;
            st->timelines++;
        }
        p = predecessor(&l, &h, s->segno);
        if (p != last || !p) {
            ws_wal_indexer_reset(x);
            last = NULL;
            if (p) {
                ws_err_clear(&e);
                if (read_segment(repo, x, p, l.seg_size, &e) == 0) {
                    st->primed++;
                    last = p;
                }
            }
        }
        ws_err_clear(&e);
        if (read_segment(repo, x, s, l.seg_size, &e) < 0) {
            note_failure(st, &first, &e);
            last = NULL;
            continue;
        }
        last = s->name.kind == WS_WAL_SEGMENT ? s : NULL;
        if (ws_wal_indexer_take(x, &ix, err) < 0)
            goto out;
        st->segments++;
        st->records += ix.records;
        if (ix.continued_unread)
            st->continued_unread++;
        if (ix.stop != WS_WAL_STOP_END && ix.stop != WS_WAL_STOP_SWITCH)
            st->stopped++;
        if (o->on_entry)
            o->on_entry(o->arg, &ix);
        if (!o->dry_run) {
            if (ws_wal_index_put(repo, &ix, &e) < 0)
                note_failure(st, &first, &e);
            else
                st->written++;
        }
        ws_wal_index_free(&ix);
    }
    if (st->failed > 0) {
        *err = first;
        ws_err_prefix(err, "%" PRIu64 " segment%s could not be indexed; the first", st->failed,
                      st->failed == 1 ? "" : "s");
        goto out;
    }
    rc = 0;
out:
    ws_tli_history_free(&h);
    ws_wal_indexer_free(x);
    ws_repo_wal_list_free(&l);
    return rc;
}
