/* archive_ack.c - acknowledgement records of files archived ahead (see archive_ack.h). */
#include "walship/archive_ack.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/kvrec.h"
#include "walship/localfile.h"

#define MAGIC "walship-ack"

static bool url_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= WS_ACK_REPO_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || *s == 0x7f)
            return false;
    return true;
}

enum { F_NAME, F_REPO, F_SIZE, F_SHA256, F_DEV, F_INO, F_FSIZE, F_MTIME, F_CTIME, F_N };
static const char *const keys[F_N] = {"name",     "repo",      "size",          "sha256",       "file-dev",
                                      "file-ino", "file-size", "file-mtime-ns", "file-ctime-ns"};

char *ws_archive_ack_format(const ws_ack *a, ws_err *err)
{
    ws_buf b = {0};
    ws_wal_name w;

    if (ws_wal_name_parse(a->name, &w, err) < 0)
        return NULL;
    if (!url_ok(a->repo)) {
        ws_err_set(err, WS_ERR_INVALID, "ack of %s: repository URL cannot be recorded", a->name);
        return NULL;
    }
    if (ws_kvrec_begin(&b, MAGIC, WS_ACK_VERSION, err) < 0 || ws_kvrec_add(&b, keys[F_NAME], a->name, err) < 0 ||
        ws_kvrec_add(&b, keys[F_REPO], a->repo, err) < 0 ||
        ws_kvrec_add_u64(&b, keys[F_SIZE], a->digest.size, err) < 0 ||
        ws_kvrec_add_hex(&b, keys[F_SHA256], a->digest.sha256, WS_SHA256_LEN, err) < 0 ||
        ws_kvrec_add_u64(&b, keys[F_DEV], a->file.dev, err) < 0 ||
        ws_kvrec_add_u64(&b, keys[F_INO], a->file.ino, err) < 0 ||
        ws_kvrec_add_u64(&b, keys[F_FSIZE], a->file.size, err) < 0 ||
        ws_kvrec_add_i64(&b, keys[F_MTIME], a->file.mtime_ns, err) < 0 ||
        ws_kvrec_add_i64(&b, keys[F_CTIME], a->file.ctime_ns, err) < 0 || ws_kvrec_end(&b, true, err) < 0) {
        ws_buf_free(&b);
        return NULL;
    }
    return b.data;
}

int ws_archive_ack_parse(const char *buf, size_t len, const char *what, ws_ack *out, ws_err *err)
{
    ws_kvrec r;
    ws_wal_name w;
    ws_ack a;

    memset(&a, 0, sizeof a);
    if (len > WS_ACK_TEXT_MAX)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: too large (%zu bytes)", what, len);
    if (ws_kvrec_parse(buf, len, MAGIC, WS_ACK_VERSION, keys, F_N, true, what, &r, err) < 0)
        return -1;
    if (ws_kvrec_text(&r, F_NAME, a.name, sizeof a.name, err) < 0)
        return -1;
    if (ws_wal_name_parse(a.name, &w, err) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" is not a WAL file name", what, a.name);
    if (ws_kvrec_text(&r, F_REPO, a.repo, sizeof a.repo, err) < 0 || !a.repo[0])
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: repository URL is empty or too long", what);
    if (ws_kvrec_u64(&r, F_SIZE, UINT64_MAX, &a.digest.size, err) < 0 ||
        ws_kvrec_hex(&r, F_SHA256, a.digest.sha256, WS_SHA256_LEN, err) < 0 ||
        ws_kvrec_u64(&r, F_DEV, UINT64_MAX, &a.file.dev, err) < 0 ||
        ws_kvrec_u64(&r, F_INO, UINT64_MAX, &a.file.ino, err) < 0 ||
        ws_kvrec_u64(&r, F_FSIZE, UINT64_MAX, &a.file.size, err) < 0 ||
        ws_kvrec_i64(&r, F_MTIME, &a.file.mtime_ns, err) < 0 || ws_kvrec_i64(&r, F_CTIME, &a.file.ctime_ns, err) < 0)
        return -1;
    *out = a;
    return 0;
}

/* --- files --------------------------------------------------------------- */

int ws_archive_ack_path(const char *dir, const char *name, char *out, size_t outlen, ws_err *err)
{
    int n = snprintf(out, outlen, "%s/%s" WS_ACK_SUFFIX, dir, name);

    if (n < 0 || (size_t) n >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "%s/%s" WS_ACK_SUFFIX ": path too long", dir, name);
    return 0;
}

int ws_archive_ack_write(const char *dir, const ws_ack *a, ws_err *err)
{
    char path[4096];
    char *text = ws_archive_ack_format(a, err);
    int rc = -1;

    if (!text)
        return -1;
    if (ws_archive_ack_path(dir, a->name, path, sizeof path, err) == 0 &&
        ws_localfile_write(path, text, strlen(text), 0600, 0, err) == 0)
        rc = 0;
    else
        ws_err_prefix(err, "write the ack of %s", a->name);
    free(text);
    return rc;
}

int ws_archive_ack_read(const char *dir, const char *name, ws_ack *out, ws_err *err)
{
    char path[4096], *buf;
    size_t len;
    int rc;

    if (ws_archive_ack_path(dir, name, path, sizeof path, err) < 0)
        return -1;
    /* One byte above the limit: a larger file is refused by the parser. */
    rc = ws_localfile_read(path, WS_ACK_TEXT_MAX + 1, WS_LOCALFILE_NOFOLLOW, &buf, &len, err);
    if (rc < 0 && err->code == WS_ERR_INVALID)
        err->code = WS_ERR_CORRUPT; /* a symbolic link, a FIFO, too large: not an ack */
    if (rc <= 0)
        return rc;
    rc = ws_archive_ack_parse(buf, len, path, out, err);
    free(buf);
    if (rc < 0)
        return -1;
    if (strcmp(out->name, name) != 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: records %s, not %s", path, out->name, name);
    return 1;
}

int ws_archive_ack_remove(const char *dir, const char *name, ws_err *err)
{
    char path[4096];

    if (ws_archive_ack_path(dir, name, path, sizeof path, err) < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return ws_err_sys(err, errno, "could not remove \"%s\"", path);
    return 0;
}

bool ws_archive_ack_vouches(const ws_ack *a, const char *name, const char *repo, const ws_localfile_id *now,
                            const char **why)
{
    const char *dummy;

    if (!why)
        why = &dummy;
    if (strcmp(a->name, name) != 0)
        *why = "it records another WAL file";
    else if (strcmp(a->repo, repo) != 0)
        *why = "it records another repository";
    else if (a->file.dev != now->dev || a->file.ino != now->ino)
        *why = "the file was replaced since (another inode)";
    else if (a->file.size != now->size || a->digest.size != now->size)
        *why = "the file's size changed since";
    else if (a->file.mtime_ns != now->mtime_ns || a->file.ctime_ns != now->ctime_ns)
        *why = "the file was modified since";
    else
        return true;
    return false;
}
