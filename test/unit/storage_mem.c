/* storage_mem.c - an in-memory storage driver with fault injection (see storage_mem.h). */
#include "storage_mem.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/buf.h"
#include "walship/lockfile.h"

#define FAULTS_MAX 16

typedef struct object {
    char *key;
    ws_buf data;
    ws_meta meta;
} object;

typedef struct fault {
    ws_storage_mem_fault f;
    unsigned seen; /* matching calls since it was added */
} fault;

typedef struct mem_storage {
    ws_storage base;
    object *objs;
    size_t n, cap;
    fault faults[FAULTS_MAX];
    size_t nfaults;
    unsigned calls[WS_STORAGE_MEM_NOPS];
    char lockdir[UNIT_TMP_MAX]; /* with_locks: a private directory for the lock files */
    ws_storage_ops ops;
} mem_storage;

static object *find(const mem_storage *m, const char *key)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->objs[i].key, key) == 0)
            return &m->objs[i];
    return NULL;
}

/* Counts the call; returns the fault that applies to it, or NULL. */
static const ws_storage_mem_fault *call(mem_storage *m, ws_storage_mem_op op, const char *key)
{
    const ws_storage_mem_fault *hit = NULL;

    m->calls[op]++;
    for (size_t i = 0; i < m->nfaults; i++) {
        fault *f = &m->faults[i];

        if (f->f.op != op || (f->f.key && (!key || strcmp(f->f.key, key) != 0)))
            continue;
        f->seen++;
        if (!hit && (f->f.nth == 0 || f->seen == f->f.nth))
            hit = &f->f;
    }
    return hit;
}

static int fail(const ws_storage_mem_fault *f, const char *op, ws_err *err)
{
    return ws_err_set(err, f->code, "%s failed (injected %s)", op, ws_errcode_name(f->code));
}

/* --- put ----------------------------------------------------------------- */

typedef struct mem_put {
    ws_put base;
    mem_storage *m;
    char *key;
    ws_buf data;
    bool committed;
} mem_put;

static int put_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    mem_put *p = (mem_put *) s;

    return ws_buf_append(&p->data, buf, len, err);
}

static int put_finish(ws_sink *s, ws_err *err)
{
    (void) s;
    (void) err;
    return 0;
}

static void put_destroy(ws_put *base)
{
    mem_put *p = (mem_put *) base;

    free(p->key);
    ws_buf_free(&p->data);
    free(p);
}

static void put_sink_destroy(ws_sink *s)
{
    put_destroy((ws_put *) s);
}

static int put_commit(ws_put *base, const ws_meta *meta, ws_err *err)
{
    mem_put *p = (mem_put *) base;
    mem_storage *m = p->m;
    const ws_storage_mem_fault *f = call(m, WS_STORAGE_MEM_COMMIT, p->key);
    object *o;

    if (p->committed)
        return ws_err_set(err, WS_ERR_INVALID, "%s: already committed", p->key);
    if (f && f->code != WS_OK)
        return fail(f, "commit", err);
    if (meta && ws_meta_check(meta, err) < 0)
        return -1;
    o = find(m, p->key);
    if (!o) {
        void *v = m->objs;

        if (ws_buf_grow_array(&v, &m->cap, m->n + 1, sizeof *m->objs, err) < 0)
            return -1;
        m->objs = v;
        o = &m->objs[m->n++];
        memset(o, 0, sizeof *o);
        o->key = strdup(p->key);
    }
    ws_buf_free(&o->data);
    o->data = p->data;
    memset(&p->data, 0, sizeof p->data);
    o->meta = meta ? *meta : (ws_meta){0};
    p->committed = true;
    return 0;
}

/* Counts as a commit call (faults apply); 1 stored, 0 the key exists. */
static int put_commit_new(ws_put *base, const ws_meta *meta, ws_err *err)
{
    mem_put *p = (mem_put *) base;

    if (!p->committed && find(p->m, p->key)) {
        const ws_storage_mem_fault *f = call(p->m, WS_STORAGE_MEM_COMMIT, p->key);

        if (f && f->code != WS_OK)
            return fail(f, "commit", err);
        return 0;
    }
    return put_commit(base, meta, err) < 0 ? -1 : 1;
}

static const ws_sink_ops put_sink_ops = {"mem put", put_write, put_finish, put_sink_destroy};
static const ws_put_ops put_ops = {.commit = put_commit, .destroy = put_destroy};
static const ws_put_ops put_ops_new = {.commit = put_commit, .destroy = put_destroy, .commit_new = put_commit_new};

static int mem_put_begin(ws_storage *st, const char *key, uint64_t size_hint, ws_put **out, ws_err *err)
{
    mem_storage *m = (mem_storage *) st;
    const ws_storage_mem_fault *f = call(m, WS_STORAGE_MEM_PUT, key);
    mem_put *p;

    (void) size_hint;
    if (f && f->code != WS_OK)
        return fail(f, "put", err);
    p = calloc(1, sizeof *p);
    if (!p || !(p->key = strdup(key))) {
        free(p);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    p->base.sink.ops = &put_sink_ops;
    p->base.ops = m->base.commit_new ? &put_ops_new : &put_ops;
    p->m = m;
    *out = &p->base;
    return 0;
}

/* --- get / head / list / remove -------------------------------------------- */

static int mem_get(ws_storage *st, const char *key, uint64_t offset, uint64_t length, ws_sink *dst, ws_err *err)
{
    mem_storage *m = (mem_storage *) st;
    const ws_storage_mem_fault *f = call(m, WS_STORAGE_MEM_GET, key);
    const object *o = find(m, key);
    uint64_t end;

    if (f && f->code != WS_OK && !f->short_read)
        return fail(f, "get", err);
    if (!o)
        return ws_err_set(err, WS_ERR_NOTFOUND, "no such object");
    if (offset > o->data.len || (length != WS_TO_END && length > o->data.len - offset))
        return ws_err_set(err, WS_ERR_INVALID, "range beyond the end of the object (%zu bytes)", o->data.len);
    end = length == WS_TO_END ? o->data.len : offset + length;
    if (f && f->short_read && offset + f->short_len < end)
        end = offset + f->short_len;
    if (end > offset && ws_sink_write(dst, o->data.data + offset, (size_t) (end - offset), err) < 0)
        return -1;
    return ws_sink_finish(dst, err);
}

static int mem_head(ws_storage *st, const char *key, ws_obj_info *info, ws_err *err)
{
    mem_storage *m = (mem_storage *) st;
    const ws_storage_mem_fault *f = call(m, WS_STORAGE_MEM_HEAD, key);
    const object *o = find(m, key);

    if (f && f->code != WS_OK)
        return fail(f, "head", err);
    if (!o)
        return 0;
    info->size = o->data.len;
    info->mtime = 0;
    info->meta = o->meta;
    return 1;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const object *) a)->key, ((const object *) b)->key);
}

static int mem_list(ws_storage *st, const char *prefix, const char *delimiter, ws_list_cb cb, void *arg, ws_err *err)
{
    mem_storage *m = (mem_storage *) st;
    const ws_storage_mem_fault *f = call(m, WS_STORAGE_MEM_LIST, NULL);
    size_t plen = strlen(prefix);
    char last[1100] = "";

    if (f && f->code != WS_OK)
        return fail(f, "list", err);
    if (m->n > 0)
        qsort(m->objs, m->n, sizeof *m->objs, key_cmp);
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->objs[i].key, *d;
        ws_list_entry e = {.key = k, .size = m->objs[i].data.len};
        int r;

        if (strncmp(k, prefix, plen) != 0)
            continue;
        if (delimiter && (d = strstr(k + plen, delimiter)) != NULL) {
            size_t n = (size_t) (d - k) + strlen(delimiter);

            if (n < sizeof last && strlen(last) == n && strncmp(last, k, n) == 0)
                continue;
            snprintf(last, sizeof last, "%.*s", (int) n, k);
            e = (ws_list_entry){.key = last, .size = 0, .is_prefix = true};
        }
        r = cb(&e, arg, err);
        if (r < 0)
            return -1;
        if (r > 0)
            break;
    }
    return 0;
}

static int mem_remove(ws_storage *st, const char *const *keys, size_t nkeys, ws_err *err)
{
    mem_storage *m = (mem_storage *) st;
    const ws_storage_mem_fault *f = call(m, WS_STORAGE_MEM_REMOVE, NULL);

    if (f && f->code != WS_OK)
        return fail(f, "remove", err);
    for (size_t k = 0; k < nkeys; k++) {
        object *o = find(m, keys[k]);

        if (!o)
            continue;
        free(o->key);
        ws_buf_free(&o->data);
        *o = m->objs[--m->n];
    }
    return 0;
}

/* Locks are real flock()s on files of a private directory, as file://'s. */
static int mem_lock(ws_storage *st, const char *name, double timeout, int *fd, ws_err *err)
{
    mem_storage *m = (mem_storage *) st;
    char path[300];

    if (ws_lockfile_slot_path(m->lockdir, name, path, sizeof path, err) < 0)
        return -1;
    return ws_lockfile_take(path, true, true, timeout, fd, err);
}

static void mem_close(ws_storage *st)
{
    mem_storage *m = (mem_storage *) st;

    for (size_t i = 0; i < m->n; i++) {
        free(m->objs[i].key);
        ws_buf_free(&m->objs[i].data);
    }
    free(m->objs);
    if (m->lockdir[0]) {
        DIR *d = opendir(m->lockdir);
        struct dirent *de;

        while (d && (de = readdir(d)) != NULL)
            if (de->d_name[0] != '.')
                unlinkat(dirfd(d), de->d_name, 0);
        if (d)
            closedir(d);
        rmdir(m->lockdir);
    }
    free(m->base.url);
    free(m);
}

static const ws_storage_ops mem_ops = {
    .put_begin = mem_put_begin,
    .get = mem_get,
    .head = mem_head,
    .list = mem_list,
    .remove = mem_remove,
    .close = mem_close,
    .lock = mem_lock,
};

ws_storage *ws_storage_mem_new(const char *url, bool with_locks)
{
    mem_storage *m = calloc(1, sizeof *m);

    if (!m)
        return NULL;
    /* Without locks, as S3: the capability is the operation's absence. */
    m->ops = mem_ops;
    if (!with_locks)
        m->ops.lock = NULL;
    m->base.ops = &m->ops;
    m->base.url = strdup(url);
    if (with_locks) {
        unit_tmp_template(m->lockdir, sizeof m->lockdir, "walship-mem-locks");
        if (!mkdtemp(m->lockdir)) {
            mem_close(&m->base);
            return NULL;
        }
    }
    return &m->base;
}

void ws_storage_mem_set_commit_new(ws_storage *st, bool on)
{
    st->commit_new = on;
}

void ws_storage_mem_add_fault(ws_storage *st, const ws_storage_mem_fault *f)
{
    mem_storage *m = (mem_storage *) st;

    if (m->nfaults < FAULTS_MAX)
        m->faults[m->nfaults++] = (fault){.f = *f};
}

void ws_storage_mem_clear_faults(ws_storage *st)
{
    ((mem_storage *) st)->nfaults = 0;
}

unsigned ws_storage_mem_calls(const ws_storage *st, ws_storage_mem_op op)
{
    return ((const mem_storage *) st)->calls[op];
}

void ws_storage_mem_poke(ws_storage *st, const char *key, const void *data, size_t len, bool keep_meta)
{
    mem_storage *m = (mem_storage *) st;
    object *o = find(m, key);
    ws_err e;

    if (!o)
        return;
    ws_buf_clear(&o->data);
    ws_buf_append(&o->data, data, len, &e);
    if (!keep_meta)
        o->meta.n = 0;
}

const void *ws_storage_mem_peek(const ws_storage *st, const char *key, size_t *len)
{
    const object *o = find((const mem_storage *) st, key);

    *len = o ? o->data.len : 0;
    return o ? o->data.data : NULL;
}

size_t ws_storage_mem_count(const ws_storage *st)
{
    return ((const mem_storage *) st)->n;
}
