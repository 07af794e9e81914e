/* wal_index.c - per-segment index entries (see wal_index.h). */
#include "walship/wal_index.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/repo_keys.h"
#include "walship/wal_index_json.h"

void ws_wal_index_init(ws_wal_index *ix)
{
    memset(ix, 0, sizeof *ix);
}

void ws_wal_index_free(ws_wal_index *ix)
{
    if (!ix)
        return;
    free(ix->restore_points);
    ix->restore_points = NULL;
    ix->n_restore_points = 0;
}

static bool xid_normal(uint32_t x)
{
    return x >= 3;
}

bool ws_wal_index_xid_precedes(uint32_t a, uint32_t b)
{
    if (!xid_normal(a) || !xid_normal(b))
        return a < b;
    return (int32_t) (a - b) < 0;
}

/* --- aggregation ------------------------------------------------------------ */

static void range_add(ws_wal_xact_range *r, uint32_t xid, int64_t time, bool with_time, bool prepared)
{
    if (r->count++ == 0) {
        r->xid_min = r->xid_max = xid;
        r->time_min = r->time_max = time;
    } else {
        if (ws_wal_index_xid_precedes(xid, r->xid_min))
            r->xid_min = xid;
        if (ws_wal_index_xid_precedes(r->xid_max, xid))
            r->xid_max = xid;
        if (time < r->time_min)
            r->time_min = time;
        if (time > r->time_max)
            r->time_max = time;
    }
    if (!with_time)
        r->time_min = r->time_max = 0;
    if (prepared)
        r->prepared++;
}

typedef struct rp_list {
    ws_wal_restore_point *v;
    size_t n, cap;
} rp_list;

static int rp_add(rp_list *l, const ws_wal_record *rec, ws_err *err)
{
    ws_wal_restore_point *p;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        ws_wal_restore_point *v = realloc(l->v, cap * sizeof *v);

        if (!v)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    p = &l->v[l->n++];
    memset(p, 0, sizeof *p);
    memcpy(p->name, rec->name, sizeof p->name);
    p->time = rec->time;
    p->lsn = rec->lsn;
    p->end_lsn = rec->end_lsn;
    return 0;
}

struct ws_wal_indexer {
    ws_wal_reader *r;
    ws_wal_index cur; /* the segment being read */
    rp_list rps;
    bool have_done;
    ws_wal_index done; /* the segment ended last */
};

static int on_record(void *arg, const ws_wal_record *rec, ws_err *err)
{
    ws_wal_indexer *x = arg;

    switch (rec->kind) {
    case WS_WAL_REC_COMMIT:
    case WS_WAL_REC_COMMIT_PREPARED:
        range_add(&x->cur.commits, rec->target_xid, rec->time, true, rec->kind == WS_WAL_REC_COMMIT_PREPARED);
        break;
    case WS_WAL_REC_ABORT:
    case WS_WAL_REC_ABORT_PREPARED:
        range_add(&x->cur.aborts, rec->target_xid, rec->time, true, rec->kind == WS_WAL_REC_ABORT_PREPARED);
        break;
    case WS_WAL_REC_PREPARE:
        range_add(&x->cur.prepares, rec->target_xid, 0, false, false);
        break;
    case WS_WAL_REC_RESTORE_POINT:
        return rp_add(&x->rps, rec, err);
    case WS_WAL_REC_SWITCH:
    case WS_WAL_REC_OTHER:
    default:
        break;
    }
    return 0;
}

ws_wal_indexer *ws_wal_indexer_new(ws_err *err)
{
    ws_wal_indexer *x = calloc(1, sizeof *x);
    ws_wal_reader_opts o = {.on_record = on_record};

    if (!x) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    o.arg = x;
    x->r = ws_wal_reader_new(&o, err);
    if (!x->r) {
        free(x);
        return NULL;
    }
    return x;
}

void ws_wal_indexer_free(ws_wal_indexer *x)
{
    if (!x)
        return;
    ws_wal_reader_free(x->r);
    free(x->rps.v);
    ws_wal_index_free(&x->done);
    free(x);
}

int ws_wal_indexer_begin(ws_wal_indexer *x, const ws_wal_name *seg, uint32_t seg_size, ws_err *err)
{
    return ws_wal_indexer_begin_at(x, seg, seg_size, 0, err);
}

int ws_wal_indexer_begin_at(ws_wal_indexer *x, const ws_wal_name *seg, uint32_t seg_size, uint32_t offset, ws_err *err)
{
    if (ws_wal_reader_begin_at(x->r, seg, seg_size, offset, err) < 0)
        return -1;
    ws_wal_index_init(&x->cur);
    ws_wal_name_format(seg, x->cur.segment);
    x->cur.tli = seg->tli;
    x->cur.seg_size = seg_size;
    x->rps.n = 0;
    return 0;
}

bool ws_wal_indexer_skipping(const ws_wal_indexer *x)
{
    return ws_wal_reader_skipping(x->r);
}

int ws_wal_indexer_write(ws_wal_indexer *x, const uint8_t *buf, size_t len, ws_err *err)
{
    return ws_wal_reader_write(x->r, buf, len, err);
}

int ws_wal_indexer_end(ws_wal_indexer *x, ws_err *err)
{
    ws_wal_seg_result res;
    ws_wal_index *ix = &x->cur;

    if (ws_wal_reader_end(x->r, &res, err) < 0)
        return -1;
    ix->pg_version = res.pg_version;
    ix->sysid = res.sysid;
    ix->records = res.records;
    ix->first_lsn = res.first_lsn;
    ix->end_lsn = res.end_lsn;
    ix->continued_unread = res.continued_unread;
    ix->stop = res.stop;
    ix->stop_lsn = res.stop_lsn;
    snprintf(ix->stop_detail, sizeof ix->stop_detail, "%s", res.detail);
    ws_wal_index_free(&x->done);
    x->done = *ix;
    x->done.restore_points = NULL;
    x->done.n_restore_points = 0;
    if (x->rps.n > 0) {
        x->done.restore_points = malloc(x->rps.n * sizeof *x->done.restore_points);
        if (!x->done.restore_points)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        memcpy(x->done.restore_points, x->rps.v, x->rps.n * sizeof *x->rps.v);
        x->done.n_restore_points = x->rps.n;
    }
    x->have_done = true;
    return 0;
}

int ws_wal_indexer_take(ws_wal_indexer *x, ws_wal_index *out, ws_err *err)
{
    if (!x->have_done)
        return ws_err_set(err, WS_ERR_INVALID, "WAL indexer: no segment was ended");
    *out = x->done;
    ws_wal_index_init(&x->done);
    x->have_done = false;
    return 0;
}

void ws_wal_indexer_reset(ws_wal_indexer *x)
{
    ws_wal_reader_reset(x->r);
}

typedef struct indexer_sink {
    ws_sink base;
    ws_wal_indexer *x;
} indexer_sink;

static int is_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    indexer_sink *f = (indexer_sink *) s;

    if (ws_wal_indexer_write(f->x, buf, len, err) < 0)
        return -1;
    return s->next ? ws_sink_write(s->next, buf, len, err) : 0;
}

static int is_finish(ws_sink *s, ws_err *err)
{
    indexer_sink *f = (indexer_sink *) s;

    if (ws_wal_indexer_end(f->x, err) < 0)
        return -1;
    return ws_sink_finish_next(s, err);
}

static void is_destroy(ws_sink *s)
{
    free(s);
}

static const ws_sink_ops indexer_ops = {"WAL indexer", is_write, is_finish, is_destroy};

ws_sink *ws_wal_indexer_sink_new(ws_wal_indexer *x, ws_sink *next, ws_err *err)
{
    indexer_sink *f = calloc(1, sizeof *f);

    if (!f) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->base.ops = &indexer_ops;
    f->base.next = next;
    f->x = x;
    return &f->base;
}

/* --- local files ------------------------------------------------------------ */

#define FILE_BLOCK (1u << 20)
#define PREV_TAIL  (128u << 10) /* of the previous segment read first */

/* Feeds the file at fd from offset off to its end as the segment begun last. */
static int feed_fd(ws_wal_indexer *x, int fd, const char *path, off_t off, uint8_t *buf, ws_err *err)
{
    for (;;) {
        ssize_t n = pread(fd, buf, FILE_BLOCK, off);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ws_err_sys(err, errno, "%s: could not read", path);
        }
        if (n == 0)
            return 0;
        if (ws_wal_indexer_write(x, buf, (size_t) n, err) < 0)
            return ws_err_prefix(err, "%s", path);
        off += n;
    }
}

/* Reads the previous segment from offset off, to carry its last record;
 * -1 (reader reset) on any problem. */
static int prime(ws_wal_indexer *x, int fd, const char *path, const ws_wal_file *pwf, uint32_t off, uint8_t *buf)
{
    ws_err e2;

    if (ws_wal_indexer_begin_at(x, &pwf->name, pwf->hdr.seg_size, off, &e2) < 0)
        return -1;
    if (feed_fd(x, fd, path, off, buf, &e2) < 0 || ws_wal_indexer_end(x, &e2) < 0) {
        ws_wal_indexer_reset(x);
        return -1;
    }
    return 0;
}

/* Reads the end of the previous segment to carry the record that continues
 * into this one: its last PREV_TAIL bytes, or all of it when that record
 * began earlier.  Any problem just leaves the reader fresh (the entry then
 * says continued_unread). */
static void read_prev(ws_wal_indexer *x, const char *prev_path, const ws_wal_file *wf, uint8_t *buf)
{
    ws_wal_file pwf;
    ws_wal_name next;
    ws_err e2;
    uint32_t off;
    int fd;

    fd = ws_wal_file_open(prev_path, &pwf, &e2);
    if (fd < 0)
        return;
    if (pwf.name.kind == WS_WAL_SEGMENT && pwf.has_header && pwf.hdr.seg_size == wf->hdr.seg_size &&
        pwf.hdr.sysid == wf->hdr.sysid && pwf.name.tli <= wf->name.tli &&
        ws_wal_name_next_segment(&pwf.name, pwf.hdr.seg_size, &next, &e2) == 0 && next.log == wf->name.log &&
        next.seg == wf->name.seg) {
        off = pwf.hdr.seg_size > PREV_TAIL ? pwf.hdr.seg_size - PREV_TAIL : 0;
        if (prime(x, fd, prev_path, &pwf, off, buf) == 0 && off > 0 && ws_wal_indexer_skipping(x))
            prime(x, fd, prev_path, &pwf, 0, buf);
    }
    close(fd);
}

int ws_wal_index_file(int fd, const char *path, const ws_wal_file *wf, const char *prev_path, ws_wal_index *out,
                      ws_err *err)
{
    ws_wal_indexer *x;
    uint8_t *buf;
    int rc = -1;

    if (!wf->has_header || (wf->name.kind != WS_WAL_SEGMENT && wf->name.kind != WS_WAL_PARTIAL))
        return ws_err_set(err, WS_ERR_INVALID, "%s: only WAL segments are indexed", path);
    x = ws_wal_indexer_new(err);
    if (!x)
        return -1;
    buf = malloc(FILE_BLOCK);
    if (!buf) {
        ws_wal_indexer_free(x);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    if (prev_path)
        read_prev(x, prev_path, wf, buf);
    if (ws_wal_indexer_begin(x, &wf->name, wf->hdr.seg_size, err) < 0 || feed_fd(x, fd, path, 0, buf, err) < 0 ||
        ws_wal_indexer_end(x, err) < 0 || ws_wal_indexer_take(x, out, err) < 0)
        goto out;
    rc = 0;
out:
    free(buf);
    ws_wal_indexer_free(x);
    return rc;
}

int ws_wal_index_prev_path(const char *path, const ws_wal_file *wf, char *out, size_t outlen, ws_err *err)
{
    const char *slash = strrchr(path, '/');
    ws_wal_name prev;
    uint64_t segno;
    char name[WS_WAL_NAME_MAX];
    int n;

    if (!wf->has_header || ws_wal_name_segno(&wf->name, wf->hdr.seg_size, &segno, err) < 0)
        return ws_err_set(err, WS_ERR_INVALID, "%s: not a WAL segment", path);
    if (segno == 0)
        return 1;
    ws_wal_name_from_segno(wf->name.tli, segno - 1, wf->hdr.seg_size, &prev);
    ws_wal_name_format(&prev, name);
    n = snprintf(out, outlen, "%.*s%s", slash ? (int) (slash - path + 1) : 0, path, name);
    if (n < 0 || (size_t) n >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "%s: path too long", path);
    return 0;
}

/* --- repository ----------------------------------------------------------------- */

int ws_wal_index_put(ws_repo *repo, const ws_wal_index *ix, ws_err *err)
{
    char key[WS_KEY_MAX];
    char *json;
    int rc;

    if (ws_repo_keys_index(ix->segment, key, sizeof key, err) < 0)
        return -1;
    json = ws_wal_index_json_format(ix, false, err);
    if (!json)
        return -1;
    rc = ws_repo_put_mem(repo, key, json, strlen(json), NULL, err);
    free(json);
    return rc < 0 ? ws_err_prefix(err, "store the WAL index entry of %s", ix->segment) : 0;
}

/* A memory sink that refuses more than WS_WAL_INDEX_JSON_MAX bytes. */
typedef struct cap_sink {
    ws_sink base;
    const char *key;
    char *buf;
    size_t len, cap;
} cap_sink;

static int cap_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    cap_sink *c = (cap_sink *) s;

    if (len > WS_WAL_INDEX_JSON_MAX - c->len)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: larger than %u bytes: not a WAL index entry", c->key,
                          WS_WAL_INDEX_JSON_MAX);
    if (c->len + len > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        char *b;

        while (cap < c->len + len)
            cap *= 2;
        b = realloc(c->buf, cap);
        if (!b)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        c->buf = b;
        c->cap = cap;
    }
    if (len)
        memcpy(c->buf + c->len, buf, len);
    c->len += len;
    return 0;
}

static int cap_finish(ws_sink *s, ws_err *err)
{
    (void) s;
    (void) err;
    return 0;
}

static void cap_destroy(ws_sink *s)
{
    cap_sink *c = (cap_sink *) s;

    free(c->buf);
    free(c);
}

static const ws_sink_ops cap_ops = {"index entry", cap_write, cap_finish, cap_destroy};

int ws_wal_index_get(ws_repo *repo, const char *segment, ws_wal_index *out, ws_err *err)
{
    char key[WS_KEY_MAX];
    cap_sink *c;
    int rc = -1;

    ws_wal_index_init(out);
    if (ws_repo_keys_index(segment, key, sizeof key, err) < 0)
        return -1;
    c = calloc(1, sizeof *c);
    if (!c)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    c->base.ops = &cap_ops;
    c->key = key;
    if (ws_repo_get_sink(repo, key, &c->base, NULL, err) < 0) {
        if (err && err->code == WS_ERR_NOTFOUND)
            ws_err_set(err, WS_ERR_NOTFOUND, "%s has no WAL index entry (%s not found)", segment, key);
        goto out;
    }
    if (ws_wal_index_json_parse(c->buf ? c->buf : "", c->len, key, out, err) < 0)
        goto out;
    if (strcmp(out->segment, segment) != 0) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: holds the entry of %s, not of %s", key, out->segment, segment);
        ws_wal_index_free(out);
        goto out;
    }
    rc = 0;
out:
    cap_destroy(&c->base);
    return rc;
}
