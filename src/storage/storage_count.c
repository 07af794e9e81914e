/* storage_count.c - counting the operations of a storage (storage_count.h). */
#include "walship/storage_count.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct counting {
    ws_storage base;
    ws_storage_ops ops; /* counting_ops, less what inner lacks */
    ws_storage *inner;
    atomic_uint_fast64_t get, head, list, put, remove;
} counting;

static int c_put_begin(ws_storage *st, const char *key, uint64_t size_hint, ws_put **out, ws_err *err)
{
    counting *c = (counting *) st;

    atomic_fetch_add(&c->put, 1);
    return c->inner->ops->put_begin(c->inner, key, size_hint, out, err);
}

static int c_get(ws_storage *st, const char *key, uint64_t offset, uint64_t length, ws_sink *dst, ws_err *err)
{
    counting *c = (counting *) st;

    atomic_fetch_add(&c->get, 1);
    return c->inner->ops->get(c->inner, key, offset, length, dst, err);
}

static int c_head(ws_storage *st, const char *key, ws_obj_info *info, ws_err *err)
{
    counting *c = (counting *) st;

    atomic_fetch_add(&c->head, 1);
    return c->inner->ops->head(c->inner, key, info, err);
}

static int c_list(ws_storage *st, const char *prefix, const char *delimiter, ws_list_cb cb, void *arg, ws_err *err)
{
    counting *c = (counting *) st;

    atomic_fetch_add(&c->list, 1);
    return c->inner->ops->list(c->inner, prefix, delimiter, cb, arg, err);
}

static int c_remove(ws_storage *st, const char *const *keys, size_t nkeys, ws_err *err)
{
    counting *c = (counting *) st;

    atomic_fetch_add(&c->remove, 1);
    return c->inner->ops->remove(c->inner, keys, nkeys, err);
}

static void c_close(ws_storage *st)
{
    counting *c = (counting *) st;

    ws_storage_close(c->inner);
    free(c->base.url);
    free(c);
}

static int c_abandon(ws_storage *st, const char *key, const char *token, ws_err *err)
{
    counting *c = (counting *) st;

    return c->inner->ops->abandon(c->inner, key, token, err);
}

static int c_lock(ws_storage *st, const char *name, double timeout, int *fd, ws_err *err)
{
    counting *c = (counting *) st;

    return c->inner->ops->lock(c->inner, name, timeout, fd, err);
}

static const ws_storage_ops counting_ops = {
    .put_begin = c_put_begin,
    .get = c_get,
    .head = c_head,
    .list = c_list,
    .remove = c_remove,
    .close = c_close,
    .abandon = c_abandon,
    .lock = c_lock,
};

ws_storage *ws_storage_count_new(ws_storage *inner, ws_err *err)
{
    counting *c = calloc(1, sizeof *c);

    if (!c || !(c->base.url = strdup(inner->url))) {
        free(c);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* Lock and abandon exist exactly when the inner storage has them. */
    c->ops = counting_ops;
    if (!inner->ops->lock)
        c->ops.lock = NULL;
    if (!inner->ops->abandon)
        c->ops.abandon = NULL;
    c->base.ops = &c->ops;
    c->inner = inner;
    return &c->base;
}

void ws_storage_count_get(const ws_storage *st, ws_storage_counts *out)
{
    memset(out, 0, sizeof *out);
    if (st->ops->get != c_get)
        return;
    const counting *c = (const counting *) st;

    out->get = atomic_load(&c->get);
    out->head = atomic_load(&c->head);
    out->list = atomic_load(&c->list);
    out->put = atomic_load(&c->put);
    out->remove = atomic_load(&c->remove);
}

uint64_t ws_storage_counts_total(const ws_storage_counts *c)
{
    return c->get + c->head + c->list + c->put + c->remove;
}
