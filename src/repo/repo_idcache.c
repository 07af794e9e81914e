/* repo_idcache.c - the repository identity last found, kept locally (see repo_idcache.h). */
#include "walship/repo_idcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/key.h"
#include "walship/kvrec.h"
#include "walship/localfile.h"

#define MAGIC    "walship-identity-cache"
#define VERSION  1
#define TEXT_MAX (3 * WS_IDCACHE_FIELD_MAX + 1024)

enum { F_REPO, F_ENDPOINT, F_KEY, F_SYSID, F_PG_VERSION, F_SEG_SIZE, F_SIZE, F_SHA256, F_CHECKED, F_N };
static const char *const keys[F_N] = {"repo",     "endpoint", "key",    "sysid",  "pg_version",
                                      "seg_size", "size",     "sha256", "checked"};

static bool copy(char *dst, size_t n, const char *src)
{
    int len = snprintf(dst, n, "%s", src ? src : "");

    return len >= 0 && (size_t) len < n;
}

/* Fills c's binding for repo opened with cfg; false when a field does not
 * fit (such a repository is never cached). */
static bool bind(ws_idcache *c, const ws_config *cfg, const ws_repo *repo)
{
    memset(c, 0, sizeof *c);
    if (repo->key)
        ws_key_id_hex(ws_key_id(repo->key), c->key_id);
    return copy(c->repo, sizeof c->repo, cfg->repo) && c->repo[0] &&
           copy(c->endpoint, sizeof c->endpoint, cfg->s3_endpoint);
}

static bool same_repo(const ws_idcache *a, const ws_idcache *b)
{
    return strcmp(a->repo, b->repo) == 0 && strcmp(a->endpoint, b->endpoint) == 0 && strcmp(a->key_id, b->key_id) == 0;
}

static bool fresh(const ws_idcache *c, int64_t now)
{
    return now >= c->checked && now - c->checked < WS_IDCACHE_MAX_AGE;
}

static int path_of(const char *dir, char *out, size_t n, ws_err *err)
{
    int len = snprintf(out, n, "%s/" WS_IDCACHE_FILE, dir);

    if (len < 0 || (size_t) len >= n)
        return ws_err_set(err, WS_ERR_INVALID, "%s/" WS_IDCACHE_FILE ": path too long", dir);
    return 0;
}

/* Reads the record in dir: 1 read, 0 none, -1 damaged (WS_ERR_CORRUPT). */
static int load(const char *dir, ws_idcache *out, ws_err *err)
{
    char path[4096], *buf = NULL;
    uint64_t sysid, version, seg_size;
    size_t len;
    ws_kvrec r;
    int rc;

    memset(out, 0, sizeof *out);
    if (path_of(dir, path, sizeof path, err) < 0)
        return -1;
    rc = ws_localfile_read(path, TEXT_MAX, WS_LOCALFILE_NOFOLLOW, &buf, &len, err);
    if (rc < 0 && err->code == WS_ERR_INVALID)
        err->code = WS_ERR_CORRUPT; /* a symbolic link, a FIFO, too large: not ours */
    if (rc == 0)
        ws_err_clear(err); /* none */
    if (rc <= 0)
        return rc;
    rc = -1;
    if (ws_kvrec_parse(buf, len, MAGIC, VERSION, keys, F_N, true, path, &r, err) < 0 ||
        ws_kvrec_text(&r, F_REPO, out->repo, sizeof out->repo, err) < 0 ||
        ws_kvrec_text(&r, F_ENDPOINT, out->endpoint, sizeof out->endpoint, err) < 0 ||
        ws_kvrec_text(&r, F_KEY, out->key_id, sizeof out->key_id, err) < 0 ||
        ws_kvrec_u64(&r, F_SYSID, UINT64_MAX, &sysid, err) < 0 ||
        ws_kvrec_u64(&r, F_PG_VERSION, 1000, &version, err) < 0 ||
        ws_kvrec_u64(&r, F_SEG_SIZE, UINT32_MAX, &seg_size, err) < 0 ||
        ws_kvrec_u64(&r, F_SIZE, UINT64_MAX, &out->digest.size, err) < 0 ||
        ws_kvrec_hex(&r, F_SHA256, out->digest.sha256, WS_SHA256_LEN, err) < 0 ||
        ws_kvrec_i64(&r, F_CHECKED, &out->checked, err) < 0)
        goto done;
    if (!out->repo[0] || sysid == 0) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: no repository or system identifier", path);
        goto done;
    }
    out->id = (ws_repo_identity){.sysid = sysid, .pg_version = (unsigned) version, .seg_size = (uint32_t) seg_size};
    rc = 1;
done:
    free(buf);
    return rc;
}

static int save(const char *dir, const ws_idcache *c, ws_err *err)
{
    char path[4096];
    ws_buf b = {0};
    int rc = -1;

    if (path_of(dir, path, sizeof path, err) == 0 && ws_kvrec_begin(&b, MAGIC, VERSION, err) == 0 &&
        ws_kvrec_add(&b, keys[F_REPO], c->repo, err) == 0 &&
        ws_kvrec_add(&b, keys[F_ENDPOINT], c->endpoint, err) == 0 &&
        ws_kvrec_add(&b, keys[F_KEY], c->key_id, err) == 0 &&
        ws_kvrec_add_u64(&b, keys[F_SYSID], c->id.sysid, err) == 0 &&
        ws_kvrec_add_u64(&b, keys[F_PG_VERSION], c->id.pg_version, err) == 0 &&
        ws_kvrec_add_u64(&b, keys[F_SEG_SIZE], c->id.seg_size, err) == 0 &&
        ws_kvrec_add_u64(&b, keys[F_SIZE], c->digest.size, err) == 0 &&
        ws_kvrec_add_hex(&b, keys[F_SHA256], c->digest.sha256, WS_SHA256_LEN, err) == 0 &&
        ws_kvrec_add_i64(&b, keys[F_CHECKED], c->checked, err) == 0 && ws_kvrec_end(&b, true, err) == 0 &&
        ws_localfile_write(path, b.data, b.len, 0600, WS_LOCALFILE_NOSYNC, err) == 0)
        rc = 0;
    ws_buf_free(&b);
    return rc;
}

int ws_repo_idcache_lookup(const char *dir, const ws_config *cfg, const ws_repo *repo, int64_t now, ws_idcache *out,
                           ws_err *err)
{
    ws_idcache here;
    int rc;

    if (!bind(&here, cfg, repo))
        return 0;
    rc = load(dir, out, err);
    if (rc <= 0)
        return rc;
    if (!same_repo(out, &here))
        return 0;
    return fresh(out, now) ? 2 : 1;
}

int ws_repo_idcache_store(const char *dir, const ws_config *cfg, const ws_repo *repo, const ws_repo_identity *id,
                          const ws_digest *d, int64_t now, ws_err *err)
{
    ws_idcache c;

    if (!bind(&c, cfg, repo))
        return 0;
    c.id = *id;
    c.digest = *d;
    c.checked = now;
    return save(dir, &c, err);
}

int ws_repo_idcache_remove(const char *dir, ws_err *err)
{
    char path[4096];

    if (path_of(dir, path, sizeof path, err) < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return ws_err_sys(err, errno, "could not remove \"%s\"", path);
    return 0;
}
