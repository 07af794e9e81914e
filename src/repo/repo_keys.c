/* repo_keys.c - naming objects in the repository (see repo_keys.h). */
#include "walship/repo_keys.h"

#include <stdio.h>
#include <string.h>

int ws_repo_keys_wal_dir(unsigned tli, unsigned log, char *out, size_t outlen)
{
    int n = snprintf(out, outlen, "wal/%08X%08X/", tli, log);

    return n > 0 && (size_t) n < outlen ? 0 : -1;
}

int ws_repo_keys_wal(const char *name, char *out, size_t outlen, ws_err *err)
{
    ws_wal_name w;
    int n;

    if (ws_wal_name_parse(name, &w, err) < 0)
        return -1;
    if (w.kind == WS_WAL_HISTORY)
        n = snprintf(out, outlen, "wal/history/%s%s", name, WS_OBJ_SUFFIX);
    else
        n = snprintf(out, outlen, "wal/%.16s/%s%s", name, name, WS_OBJ_SUFFIX);
    if (n < 0 || (size_t) n >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "object key for \"%s\" is too long", name);
    return 0;
}

int ws_repo_keys_wal_name(const char *key, char *out, size_t outlen, ws_err *err)
{
    const char *base = strrchr(key, '/');
    size_t len, slen = strlen(WS_OBJ_SUFFIX);
    char expect[WS_KEY_MAX];
    ws_err e2;

    base = base ? base + 1 : key;
    len = strlen(base);
    if (len <= slen || strcmp(base + len - slen, WS_OBJ_SUFFIX) != 0 || len - slen >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is not a WAL object key", key);
    memcpy(out, base, len - slen);
    out[len - slen] = '\0';
    /* Round trip: only a key walship itself would make is accepted. */
    if (ws_repo_keys_wal(out, expect, sizeof expect, &e2) < 0 || strcmp(expect, key) != 0)
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is not a WAL object key", key);
    return 0;
}

int ws_repo_keys_index(const char *segment, char *out, size_t outlen, ws_err *err)
{
    ws_wal_name w;
    int n;

    if (ws_wal_name_parse(segment, &w, err) < 0)
        return -1;
    if (w.kind != WS_WAL_SEGMENT && w.kind != WS_WAL_PARTIAL)
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is not a WAL segment name: only segments are indexed", segment);
    n = snprintf(out, outlen, "index/%.16s/%s%s", segment, segment, WS_OBJ_SUFFIX);
    if (n < 0 || (size_t) n >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "index key for \"%s\" is too long", segment);
    return 0;
}

int ws_repo_keys_user(const char *name, char *out, size_t outlen, ws_err *err)
{
    int n;

    if (!*name || strstr(name, "..") || name[0] == '/' || strchr(name, '\\'))
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is not a valid object name", name);
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-' || *p == '/'))
            return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is not a valid object name (use [A-Za-z0-9._-/])", name);
    n = snprintf(out, outlen, "user/%s%s", name, WS_OBJ_SUFFIX);
    if (n < 0 || (size_t) n >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "object name \"%s\" is too long", name);
    return 0;
}
