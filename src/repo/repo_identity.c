/* repo_identity.c - the repository's recorded cluster (see repo_identity.h). */
#include "walship/repo_identity.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/clock.h"
#include "walship/wal_name.h"

#define IDENTITY_FORMAT 1
#define LOCK_TIMEOUT    60.0

char *ws_repo_identity_to_json(const ws_repo_identity *id, ws_err *err)
{
    char sysid[24];
    json_t *o;
    char *text;

    /* The identifier is a full uint64: a string keeps every digit. */
    snprintf(sysid, sizeof sysid, "%" PRIu64, id->sysid);
    o = json_pack("{s:i, s:s, s:i, s:I}", "walship_identity", IDENTITY_FORMAT, "system_identifier", sysid, "pg_version",
                  (int) id->pg_version, "wal_segment_size", (json_int_t) id->seg_size);
    if (!o) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(1));
    json_decref(o);
    if (!text)
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    return text;
}

int ws_repo_identity_from_json(const char *buf, size_t len, const char *what, ws_repo_identity *out, ws_err *err)
{
    json_error_t je;
    json_t *o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    json_int_t format = 0, version = 0, segsize = 0;
    const char *sysid = NULL;
    char *end;
    int rc = -1;

    if (!o)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: not valid JSON (line %d: %s)", what, je.line,
                          ws_err_show(je.text, strlen(je.text), (char[WS_SHOW_BUF]){0}));
    if (json_unpack_ex(o, &je, JSON_STRICT, "{s:I, s:s, s:I, s:I}", "walship_identity", &format, "system_identifier",
                       &sysid, "pg_version", &version, "wal_segment_size", &segsize) < 0) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: unexpected content: %s", what,
                   ws_err_show(je.text, strlen(je.text), (char[WS_SHOW_BUF]){0}));
        goto out;
    }
    if (format != IDENTITY_FORMAT) {
        ws_err_set(err, WS_ERR_FORMAT, "%s: unknown identity format %" JSON_INTEGER_FORMAT, what, format);
        goto out;
    }
    errno = 0;
    out->sysid = strtoull(sysid, &end, 10);
    if (errno || *end || !*sysid || sysid[0] == '-' || out->sysid == 0) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: bad system_identifier \"%s\"", what, sysid);
        goto out;
    }
    if (version < 1 || version > 1000 || !ws_wal_name_seg_size_valid((uint64_t) segsize)) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: bad pg_version or wal_segment_size", what);
        goto out;
    }
    out->pg_version = (unsigned) version;
    out->seg_size = (uint32_t) segsize;
    rc = 0;
out:
    json_decref(o);
    return rc;
}

int ws_repo_identity_compare(const ws_repo_identity *rec, const ws_repo_identity *mine, const char *what, ws_err *err)
{
    if (rec->sysid != mine->sysid)
        return ws_err_set(err, WS_ERR_CONFLICT,
                          "%s: the repository belongs to the cluster with system identifier %" PRIu64
                          ", this file comes from system identifier %" PRIu64
                          ": refusing to mix two clusters in one repository",
                          what, rec->sysid, mine->sysid);
    if (rec->pg_version != mine->pg_version)
        return ws_err_set(err, WS_ERR_CONFLICT,
                          "%s: the repository holds WAL of PostgreSQL %u, this file is from PostgreSQL %u (system "
                          "identifier %" PRIu64 ")",
                          what, rec->pg_version, mine->pg_version, mine->sysid);
    if (rec->seg_size != mine->seg_size)
        return ws_err_set(err, WS_ERR_CONFLICT,
                          "%s: the repository holds WAL segments of %" PRIu32 " bytes, this file has %" PRIu32
                          " (system identifier %" PRIu64 ")",
                          what, rec->seg_size, mine->seg_size, mine->sysid);
    return 0;
}

/* Reads the recorded identity and its object's digest (may be NULL). */
static int load(ws_repo *r, ws_repo_identity *out, ws_digest *digest, ws_err *err)
{
    ws_sink *mem = ws_sink_mem_new();
    const uint8_t *data;
    size_t len;
    int rc;

    if (!mem)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    rc = ws_repo_get_sink(r, WS_REPO_IDENTITY_KEY, mem, digest, err);
    if (rc < 0) {
        ws_sink_free(mem);
        if (err && err->code == WS_ERR_NOTFOUND)
            return 0;
        return ws_err_prefix(err, "read the repository identity");
    }
    data = ws_sink_mem_data(mem, &len);
    rc = len > WS_REPO_IDENTITY_MAX
             ? ws_err_set(err, WS_ERR_CORRUPT, "%s: too large (%zu bytes)", WS_REPO_IDENTITY_KEY, len)
             : ws_repo_identity_from_json((const char *) data, len, WS_REPO_IDENTITY_KEY, out, err);
    ws_sink_free(mem);
    return rc < 0 ? -1 : 1;
}

int ws_repo_identity_load(ws_repo *r, ws_repo_identity *out, ws_err *err)
{
    return load(r, out, NULL, err);
}

/* load(), reading an identity that looks damaged again for a while: it may
 * be another push's PUT in progress on a store whose PUT is not atomic. */
static int load_settled(ws_repo *r, ws_repo_identity *out, ws_digest *digest, ws_err *err)
{
    double deadline = ws_clock_now() + WS_REPO_IDENTITY_SETTLE;

    for (unsigned n = 1;; n++) {
        int found = load(r, out, digest, err);

        if (found >= 0 || err->code != WS_ERR_CORRUPT || n >= 30 || ws_clock_now() >= deadline)
            return found;
        ws_clock_sleep(0.05 * n < 0.5 ? 0.05 * n : 0.5);
    }
}

int ws_repo_identity_verify(ws_repo *r, uint64_t sysid, ws_err *err)
{
    return ws_repo_identity_verify_read(r, sysid, NULL, NULL, err);
}

int ws_repo_identity_verify_read(ws_repo *r, uint64_t sysid, ws_repo_identity *out, ws_digest *digest, ws_err *err)
{
    ws_repo_identity rec;
    int found = load(r, &rec, digest, err);

    if (found < 0)
        return -1;
    if (found == 0)
        return ws_err_set(err, WS_ERR_NOREPO,
                          "%s is not a walship repository (it has no %s): a wrong 'repo' setting, or storage that "
                          "is not mounted; walship-push records it with the first segment",
                          r->st->url, WS_REPO_IDENTITY_KEY);
    if (sysid != 0 && rec.sysid != sysid)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "%s belongs to the cluster with system identifier %" PRIu64
                          ", this data directory's (global/pg_control) is %" PRIu64 ": wrong repository",
                          r->st->url, rec.sysid, sysid);
    if (out)
        *out = rec;
    return 0;
}

int ws_repo_identity_ensure(ws_repo *r, const ws_repo_identity *mine, const char *what, bool must_exist, bool *created,
                            ws_digest *digest, ws_err *err)
{
    ws_repo_identity rec;
    ws_storage_lock *lock = NULL;
    char *json = NULL;
    int found, rc = -1;

    *created = false;
    found = load_settled(r, &rec, digest, err);
    if (found < 0)
        return -1;
    if (found)
        return ws_repo_identity_compare(&rec, mine, what, err);
    if (must_exist)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "%s: %s has vanished from the repository, which had it: a file system that is not "
                          "mounted, or a repository emptied since; nothing stored",
                          r->st->url, WS_REPO_IDENTITY_KEY);
    /* First use: record under the lock, re-checking inside it. */
    if (ws_storage_lock_name(r->st, WS_REPO_IDENTITY_KEY, LOCK_TIMEOUT, &lock, err) < 0)
        return -1;
    found = load_settled(r, &rec, digest, err);
    if (found < 0)
        goto out;
    if (!found) {
        json = ws_repo_identity_to_json(mine, err);
        if (!json || ws_repo_put_mem(r, WS_REPO_IDENTITY_KEY, json, strlen(json), NULL, err) < 0) {
            ws_err_prefix(err, "record the repository identity");
            goto out;
        }
        /* Read back: on storage without locks another cluster may have won. */
        found = load_settled(r, &rec, digest, err);
        if (found < 0)
            goto out;
        if (!found) {
            ws_err_set(err, WS_ERR_STORAGE, "%s vanished right after it was written", WS_REPO_IDENTITY_KEY);
            goto out;
        }
        *created = rec.sysid == mine->sysid;
    }
    rc = ws_repo_identity_compare(&rec, mine, what, err);
out:
    free(json);
    ws_storage_unlock(lock);
    return rc;
}
