/*
 * storage.c - the driver registry and the checked wrappers over the ops.
 *
 * Drivers know nothing of each other: a row in drivers[] maps a URL scheme to
 * its open function.  The wrappers validate keys once for every driver and add
 * "URL: KEY: " to errors so a message always says which object failed where.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/storage.h"

static const ws_storage_driver *const drivers[] = {
    &ws_storage_file_driver,
    &ws_storage_s3_driver,
};

#define URL_FORMS "file:///absolute/path or s3://bucket[/prefix]"

/* The driver of url's scheme, or NULL. */
static const ws_storage_driver *driver_of(const char *url)
{
    const char *sep = strstr(url, "://");

    if (!sep || sep == url)
        return NULL;
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
        if (strlen(drivers[i]->scheme) == (size_t) (sep - url) && strncmp(drivers[i]->scheme, url, sep - url) == 0)
            return drivers[i];
    return NULL;
}

bool ws_storage_url_valid(const char *url, const char **expected)
{
    const ws_storage_driver *d = driver_of(url);

    *expected = URL_FORMS;
    return d && d->url_valid(url, expected);
}

int ws_storage_global_init(const char *url, ws_err *err)
{
    const ws_storage_driver *d = url ? driver_of(url) : NULL;

    return d && d->global_init ? d->global_init(err) : 0;
}

#define KEY_MAX 1024

static const char *repo_source(const ws_config *cfg)
{
    const char *src = cfg->source[WS_CFG_REPO];

    return src ? src : "default";
}

int ws_storage_open(const ws_config *cfg, ws_storage **out, ws_err *err)
{
    const char *url = cfg->repo;
    const ws_storage_driver *d;
    const char *sep;

    *out = NULL;
    if (!url || !*url)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "setting 'repo' is not set: give a repository as " URL_FORMS
                          " (config file or WALSHIP_REPO)");
    sep = strstr(url, "://");
    if (!sep || sep == url)
        return ws_err_set(err, WS_ERR_CONFIG, "setting 'repo' (from %s): '%s' is not a URL: want " URL_FORMS,
                          repo_source(cfg), url);
    d = driver_of(url);
    if (!d)
        return ws_err_set(err, WS_ERR_CONFIG, "setting 'repo' (from %s): unknown storage scheme '%.*s' in '%s'",
                          repo_source(cfg), (int) (sep - url), url, url);
    if (d->open(cfg, url, out, err) < 0)
        return ws_err_prefix(err, "setting 'repo' (from %s)", repo_source(cfg));
    return 0;
}

struct ws_storage_lock {
    int fd;
};

int ws_storage_lock_name(ws_storage *st, const char *name, double timeout, ws_storage_lock **out, ws_err *err)
{
    int fd = -1, rc;

    *out = NULL;
    if (!st->ops->lock)
        return 0;
    rc = st->ops->lock(st, name, timeout, &fd, err);
    if (rc < 0)
        return ws_err_prefix(err, "%s", st->url);
    if (rc == 0)
        return ws_err_set(err, WS_ERR_TRANSIENT, "%s: the lock for %s is still held by another process after %.0f s",
                          st->url, name, timeout);
    *out = malloc(sizeof **out);
    if (!*out) {
        close(fd);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    (*out)->fd = fd;
    return 1;
}

void ws_storage_unlock(ws_storage_lock *lock)
{
    if (!lock)
        return;
    close(lock->fd); /* releases the lock */
    free(lock);
}

void ws_storage_close(ws_storage *st)
{
    if (st)
        st->ops->close(st);
}

static bool key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-' || c == '/';
}

bool ws_storage_key_valid(const char *key)
{
    size_t n;
    const char *seg;

    if (!key)
        return false;
    n = strnlen(key, KEY_MAX + 1);
    if (n == 0 || n > KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!key_char(key[i]))
            return false;
    /* Check every '/'-separated segment: non-empty, not "." or "..". */
    seg = key;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t) (end - seg) : strlen(seg);

        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (!end)
            return true;
        seg = end + 1;
    }
}

/* A list prefix is any beginning of a key: key characters, may be empty. */
static bool prefix_valid(const char *prefix)
{
    size_t n = strnlen(prefix, KEY_MAX + 1);

    if (n > KEY_MAX || prefix[0] == '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!key_char(prefix[i]))
            return false;
    return true;
}

static int bad_key(ws_storage *st, const char *key, ws_err *err)
{
    char buf[WS_SHOW_BUF];

    if (!key)
        return ws_err_set(err, WS_ERR_INVALID, "%s: missing key", st->url);
    return ws_err_set(err, WS_ERR_INVALID,
                      "%s: invalid key %s: want 1..%d characters of [A-Za-z0-9._-/] "
                      "without empty, '.' or '..' segments or a leading or trailing '/'",
                      st->url, ws_err_show(key, strlen(key), buf), KEY_MAX);
}

/* Adds "URL: KEY" context, or only "URL" when a stage below (e.g. the
 * decoder writing into a get's sink) already named the key. */
static int key_context(ws_storage *st, const char *key, ws_err *err)
{
    size_t n = strlen(key);

    if (strncmp(err->msg, key, n) == 0 && err->msg[n] == ':')
        return ws_err_prefix(err, "%s", st->url);
    return ws_err_prefix(err, "%s: %s", st->url, key);
}

int ws_storage_put_begin(ws_storage *st, const char *key, uint64_t size_hint, ws_put **out, ws_err *err)
{
    *out = NULL;
    if (!ws_storage_key_valid(key))
        return bad_key(st, key, err);
    if (st->ops->put_begin(st, key, size_hint, out, err) < 0)
        return key_context(st, key, err);
    return 0;
}

int ws_storage_get(ws_storage *st, const char *key, uint64_t offset, uint64_t length, ws_sink *dst, ws_err *err)
{
    if (!ws_storage_key_valid(key))
        return bad_key(st, key, err);
    if (st->ops->get(st, key, offset, length, dst, err) < 0)
        return key_context(st, key, err);
    return 0;
}

int ws_storage_head(ws_storage *st, const char *key, ws_obj_info *info, ws_err *err)
{
    int r;

    if (!ws_storage_key_valid(key))
        return bad_key(st, key, err);
    memset(info, 0, sizeof *info);
    r = st->ops->head(st, key, info, err);
    if (r < 0)
        return key_context(st, key, err);
    return r;
}

int ws_storage_list(ws_storage *st, const char *prefix, const char *delimiter, ws_list_cb cb, void *arg, ws_err *err)
{
    if (!prefix)
        prefix = "";
    if (delimiter && !*delimiter)
        delimiter = NULL;
    if (!prefix_valid(prefix)) {
        char buf[WS_SHOW_BUF];

        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: invalid list prefix %s: want at most %d characters of "
                          "[A-Za-z0-9._-/], not starting with '/'",
                          st->url, ws_err_show(prefix, strlen(prefix), buf), KEY_MAX);
    }
    if (st->ops->list(st, prefix, delimiter, cb, arg, err) < 0)
        return ws_err_prefix(err, "%s: list '%s'", st->url, prefix);
    return 0;
}

int ws_storage_remove(ws_storage *st, const char *const *keys, size_t nkeys, ws_err *err)
{
    for (size_t i = 0; i < nkeys; i++)
        if (!ws_storage_key_valid(keys[i]))
            return bad_key(st, keys[i], err);
    if (nkeys == 0)
        return 0;
    if (st->ops->remove(st, keys, nkeys, err) < 0)
        return ws_err_prefix(err, "%s: remove", st->url);
    return 0;
}

int ws_storage_abandon(ws_storage *st, const char *key, const char *token, ws_err *err)
{
    size_t n;

    if (!ws_storage_key_valid(key))
        return bad_key(st, key, err);
    n = token ? strnlen(token, WS_PUT_TOKEN_MAX + 1) : 1;
    if (n == 0 || n > WS_PUT_TOKEN_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "%s: %s: invalid upload token", st->url, key);
    for (size_t i = 0; token && i < n; i++)
        if (token[i] < 0x21 || token[i] > 0x7e)
            return ws_err_set(err, WS_ERR_INVALID, "%s: %s: invalid upload token", st->url, key);
    if (!st->ops->abandon)
        return 0;
    if (st->ops->abandon(st, key, token, err) < 0)
        return key_context(st, key, err);
    return 0;
}
