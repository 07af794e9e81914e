/* wal_index_rebuild.c - the WAL index from the archive (see wal_index_rebuild.h). */
#include "walship/wal_index_rebuild.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/repo_identity.h"
#include "walship/repo_keys.h"
#include "walship/timeline_history.h"
#include "walship/wal_segment.h"

typedef struct seg_entry {
    ws_wal_name name;
    uint64_t segno;
} seg_entry;

typedef struct seg_list {
    seg_entry *v;
    size_t n, cap;
    uint32_t seg_size;
} seg_list;

static int collect(const ws_list_entry *e, void *arg, ws_err *err)
{
    seg_list *l = arg;
    char name[WS_KEY_MAX];
    ws_wal_name w;
    ws_err e2;

    if (e->is_prefix || ws_repo_wal_name_of_key(e->key, name, sizeof name, &e2) < 0 ||
        ws_wal_name_parse(name, &w, &e2) < 0 || (w.kind != WS_WAL_SEGMENT && w.kind != WS_WAL_PARTIAL))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        seg_entry *v = realloc(l->v, cap * sizeof *v);

        if (!v)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].name = w;
    l->n++;
    return 0;
}

static int cmp_seg(const void *a, const void *b)
{
    const seg_entry *x = a, *y = b;

    if (x->name.tli != y->name.tli)
        return x->name.tli < y->name.tli ? -1 : 1;
    if (x->segno != y->segno)
        return x->segno < y->segno ? -1 : 1;
    return (int) x->name.kind - (int) y->name.kind; /* segment before .partial */
}

/* The archived full segment segno of timeline tli, or NULL. */
static const seg_entry *find_seg(const seg_list *l, uint32_t tli, uint64_t segno)
{
    seg_entry key = {.name = {.kind = WS_WAL_SEGMENT, .tli = tli}, .segno = segno};
    const seg_entry *e = bsearch(&key, l->v, l->n, sizeof *l->v, cmp_seg);

    return e;
}

/* Loads the history of tli (1 has none; a missing file means no parents). */
static int load_history(ws_repo *repo, uint32_t tli, ws_tli_history *h, ws_err *err)
{
    char name[WS_WAL_NAME_MAX], key[WS_KEY_MAX];
    ws_sink *mem;
    const uint8_t *data;
    size_t len;
    int rc;

    memset(h, 0, sizeof *h);
    if (tli > 1) {
        snprintf(name, sizeof name, "%08" PRIX32 ".history", tli);
        if (ws_repo_wal_key(name, key, sizeof key, err) < 0)
            return -1;
        mem = ws_sink_mem_new();
        if (!mem)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        rc = ws_repo_get_sink(repo, key, mem, NULL, err);
        if (rc == 0) {
            data = ws_sink_mem_data(mem, &len);
            rc = len > WS_WAL_TEXT_FILE_MAX ? ws_err_set(err, WS_ERR_CORRUPT, "%s: too large for a history file", key)
                                            : ws_tli_history_parse((const char *) data, len, tli, key, h, err);
            ws_sink_free(mem);
            return rc;
        }
        ws_sink_free(mem);
        if (err->code != WS_ERR_NOTFOUND)
            return -1;
    }
    h->e = calloc(1, sizeof *h->e);
    if (!h->e)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    h->n = 1;
    h->e[0].tli = tli;
    h->e[0].begin = 0;
    h->e[0].end = WS_LSN_END;
    return 0;
}

/* The segment recovery on timeline tli reads before segno: the newest
 * timeline of its history that may hold segment segno - 1 and whose
 * segment is archived (XLogFileReadAnyTLI's rule). */
static const seg_entry *predecessor(const seg_list *l, const ws_tli_history *h, uint64_t segno)
{
    if (segno == 0)
        return NULL;
    for (size_t i = h->n; i-- > 0;) {
        const seg_entry *p;

        if (!ws_tli_entry_may_hold_segment(&h->e[i], segno - 1, l->seg_size))
            continue;
        p = find_seg(l, h->e[i].tli, segno - 1);
        if (p)
            return p;
    }
    return NULL;
}

/* Reads one archived segment into the indexer (begun, fed, ended). */
static int read_segment(ws_repo *repo, ws_wal_indexer *x, const seg_entry *s, uint32_t seg_size, ws_err *err)
{
    char name[WS_WAL_NAME_MAX], key[WS_KEY_MAX];
    ws_sink *sink;
    int rc;

    ws_wal_name_format(&s->name, name);
    if (ws_repo_wal_key(name, key, sizeof key, err) < 0 || ws_wal_indexer_begin(x, &s->name, seg_size, err) < 0)
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
    seg_list l = {0};
    ws_repo_identity id;
    ws_wal_indexer *x = NULL;
    ws_tli_history h = {0};
    const seg_entry *last = NULL; /* the segment the indexer read last, fully */
    uint32_t cur_tli = 0;
    ws_err first, e;
    int found, rc = -1;

    memset(st, 0, sizeof *st);
    ws_err_clear(&first);
    if (ws_storage_list(repo->st, "wal/", NULL, collect, &l, err) < 0)
        goto out;
    if (l.n == 0) {
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
    l.seg_size = id.seg_size;
    for (size_t i = 0; i < l.n; i++)
        if (ws_wal_segno(&l.v[i].name, l.seg_size, &l.v[i].segno, err) < 0) {
            char name[WS_WAL_NAME_MAX];

            ws_wal_name_format(&l.v[i].name, name);
            ws_err_prefix(err, "archived %s", name);
            goto out;
        }
    qsort(l.v, l.n, sizeof *l.v, cmp_seg);
    x = ws_wal_indexer_new(err);
    if (!x)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        const seg_entry *s = &l.v[i], *p;
        ws_wal_index ix;

        if (o->tli && s->name.tli != o->tli)
            continue;
        if (s->name.tli != cur_tli) {
            ws_tli_history_free(&h);
            if (load_history(repo, s->name.tli, &h, err) < 0)
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
    free(l.v);
    return rc;
}
