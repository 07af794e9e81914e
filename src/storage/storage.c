/*
 * storage.c - the driver registry and the checked wrappers over the ops.
 *
 * Drivers know nothing of each other: a row in drivers[] maps a URL scheme to
 * its open function.  The wrappers validate keys once for every driver and add
 * "URL: KEY: " to errors so a message always says which object failed where.
 */
#include <string.h>

#include "walship/storage.h"

typedef int (*driver_open_fn)(const ws_config *cfg, const char *url, ws_storage **out, ws_err *err);

static const struct {
    const char *scheme;
    driver_open_fn open;
} drivers[] = {
    {"file", ws_storage_file_open},
    {"s3", ws_storage_s3_open},
};

#define KEY_MAX 1024

static const char *repo_source(const ws_config *cfg)
{
    const char *src = cfg->source[WS_CFG_REPO];

    return src ? src : "default";
}

int ws_storage_open(const ws_config *cfg, ws_storage **out, ws_err *err)
{
    const char *url = cfg->repo;
    const char *sep;
    size_t slen;

    *out = NULL;
    if (!url || !*url)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "setting 'repo' is not set: give a repository as file:///path or "
                          "s3://bucket/prefix (config file or WALSHIP_REPO)");
    sep = strstr(url, "://");
    if (!sep || sep == url)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "setting 'repo' (from %s): '%s' is not a URL: want file:///path or "
                          "s3://bucket/prefix",
                          repo_source(cfg), url);
    slen = (size_t) (sep - url);
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        if (strlen(drivers[i].scheme) == slen && strncmp(drivers[i].scheme, url, slen) == 0) {
            if (drivers[i].open(cfg, url, out, err) < 0)
                return ws_err_prefix(err, "setting 'repo' (from %s)", repo_source(cfg));
            return 0;
        }
    }
    return ws_err_set(err, WS_ERR_CONFIG, "setting 'repo' (from %s): unknown storage scheme '%.*s' in '%s'",
                      repo_source(cfg), (int) slen, url, url);
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

/* Copies at most 100 bytes of s for a message, non-printables as '?', so a
 * bad key cannot break the one-line error. */
static const char *printable(const char *s, char out[static 105])
{
    size_t i;

    for (i = 0; s[i] && i < 100; i++)
        out[i] = (s[i] >= 0x20 && s[i] <= 0x7e) ? s[i] : '?';
    strcpy(out + i, s[i] ? "..." : "");
    return out;
}

static int bad_key(ws_storage *st, const char *key, ws_err *err)
{
    char buf[105];

    if (!key)
        return ws_err_set(err, WS_ERR_INVALID, "%s: missing key", st->url);
    return ws_err_set(err, WS_ERR_INVALID,
                      "%s: invalid key '%s': want 1..%d characters of [A-Za-z0-9._-/] "
                      "without empty, '.' or '..' segments or a leading or trailing '/'",
                      st->url, printable(key, buf), KEY_MAX);
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
        char buf[105];

        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: invalid list prefix '%s': want at most %d characters of "
                          "[A-Za-z0-9._-/], not starting with '/'",
                          st->url, printable(prefix, buf), KEY_MAX);
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
    n = token ? strnlen(token, WS_PUT_TOKEN_MAX + 1) : 0;
    if (n == 0 || n > WS_PUT_TOKEN_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "%s: %s: invalid upload token", st->url, key);
    for (size_t i = 0; i < n; i++)
        if (token[i] < 0x21 || token[i] > 0x7e)
            return ws_err_set(err, WS_ERR_INVALID, "%s: %s: invalid upload token", st->url, key);
    if (!st->ops->abandon)
        return 0;
    if (st->ops->abandon(st, key, token, err) < 0)
        return key_context(st, key, err);
    return 0;
}
