/* repo_wal.c - the WAL files of a repository (repo_wal.h). */
#include "walship/repo_wal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/buf.h"
#include "walship/repo_keys.h"
#include "walship/wal_segment.h"

static int collect(const ws_list_entry *e, void *arg, ws_err *err)
{
    ws_repo_wal_list *l = arg;
    char name[WS_KEY_MAX];
    ws_wal_name w;
    ws_err e2;
    void *v = l->v;

    if (e->is_prefix || ws_repo_keys_wal_name(e->key, name, sizeof name, &e2) < 0 ||
        ws_wal_name_parse(name, &w, &e2) < 0 || w.kind == WS_WAL_BACKUP)
        return 0;
    if (ws_buf_grow_array(&v, &l->cap, l->n + 1, sizeof *l->v, err) < 0)
        return -1;
    l->v = v;
    memset(&l->v[l->n], 0, sizeof l->v[l->n]);
    l->v[l->n].name = w;
    l->v[l->n].stored_size = e->size;
    l->n++;
    return 0;
}

int ws_repo_wal_list_load(ws_repo *repo, ws_repo_wal_list *out, ws_err *err)
{
    memset(out, 0, sizeof *out);
    if (ws_storage_list(repo->st, "wal/", NULL, collect, out, err) < 0) {
        ws_repo_wal_list_free(out);
        return -1;
    }
    return 0;
}

static int kind_rank(ws_wal_kind k)
{
    return k == WS_WAL_SEGMENT ? 0 : k == WS_WAL_PARTIAL ? 1 : 2;
}

static int cmp_file(const void *a, const void *b)
{
    const ws_repo_wal_file *x = a, *y = b;

    if (x->name.tli != y->name.tli)
        return x->name.tli < y->name.tli ? -1 : 1;
    if (x->segno != y->segno)
        return x->segno < y->segno ? -1 : 1;
    return kind_rank(x->name.kind) - kind_rank(y->name.kind);
}

int ws_repo_wal_list_sort(ws_repo_wal_list *l, uint32_t seg_size, ws_err *err)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].name.kind == WS_WAL_HISTORY) {
            l->v[i].segno = 0;
            continue;
        }
        if (ws_wal_name_segno(&l->v[i].name, seg_size, &l->v[i].segno, err) < 0) {
            char name[WS_WAL_NAME_MAX];

            ws_wal_name_format(&l->v[i].name, name);
            return ws_err_prefix(err, "archived %s", name);
        }
    }
    l->seg_size = seg_size;
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cmp_file);
    return 0;
}

const ws_repo_wal_file *ws_repo_wal_list_find(const ws_repo_wal_list *l, uint32_t tli, uint64_t segno, ws_wal_kind kind)
{
    ws_repo_wal_file key;

    memset(&key, 0, sizeof key);
    key.name.kind = kind;
    key.name.tli = tli;
    key.segno = segno;
    return l->n ? bsearch(&key, l->v, l->n, sizeof *l->v, cmp_file) : NULL;
}

void ws_repo_wal_list_free(ws_repo_wal_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}

int ws_repo_wal_history_load(ws_repo *repo, uint32_t tli, ws_tli_history *h, bool *found, ws_err *err)
{
    char name[WS_WAL_NAME_MAX], key[WS_KEY_MAX];
    char *data = NULL;
    size_t len;

    memset(h, 0, sizeof *h);
    if (found)
        *found = false;
    if (tli > 1) {
        snprintf(name, sizeof name, "%08" PRIX32 ".history", tli);
        if (ws_repo_keys_wal(name, key, sizeof key, err) < 0)
            return -1;
        if (ws_repo_get_mem(repo, key, WS_WAL_TEXT_FILE_MAX, "a timeline history file", &data, &len, err) == 0) {
            int rc = ws_tli_history_parse(data, len, tli, key, h, err);

            free(data);
            if (rc == 0 && found)
                *found = true;
            return rc;
        }
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
