/* archive_ack.c - acknowledgement records of files archived ahead (see archive_ack.h). */
#include "walship/archive_ack.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/file_out.h"
#include "walship/filter_sha256.h"

#define MAGIC "walship-ack"

void ws_file_id_from_stat(const struct stat *st, ws_file_id *out)
{
    out->dev = (uint64_t) st->st_dev;
    out->ino = (uint64_t) st->st_ino;
    out->size = (uint64_t) st->st_size;
    out->mtime_ns = (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    out->ctime_ns = (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

bool ws_file_id_equal(const ws_file_id *a, const ws_file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
           a->ctime_ns == b->ctime_ns;
}

static int sha256_of(const char *buf, size_t len, uint8_t out[WS_SHA256_LEN], ws_err *err)
{
    ws_sink *sha = ws_filter_sha256_new(NULL, err);
    uint64_t n;
    int rc = -1;

    if (!sha)
        return -1;
    if (ws_sink_write(sha, buf, len, err) == 0 && ws_sink_finish(sha, err) == 0 &&
        ws_filter_sha256_result(sha, out, &n))
        rc = 0;
    ws_sink_free(sha);
    return rc;
}

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

char *ws_ack_format(const ws_ack *a, ws_err *err)
{
    ws_wal_name w;
    char hex[65], check[65];
    uint8_t sum[WS_SHA256_LEN];
    char *body = NULL, *out = NULL;

    if (ws_wal_name_parse(a->name, &w, err) < 0)
        return NULL;
    if (!url_ok(a->repo)) {
        ws_err_set(err, WS_ERR_INVALID, "ack of %s: repository URL cannot be recorded", a->name);
        return NULL;
    }
    ws_sha256_hex(a->digest.sha256, hex);
    if (asprintf(&body,
                 MAGIC " %d\nname %s\nrepo %s\nsize %" PRIu64 "\nsha256 %s\nfile-dev %" PRIu64 "\nfile-ino %" PRIu64
                       "\nfile-size %" PRIu64 "\nfile-mtime-ns %" PRId64 "\nfile-ctime-ns %" PRId64 "\n",
                 WS_ACK_VERSION, a->name, a->repo, a->digest.size, hex, a->file.dev, a->file.ino, a->file.size,
                 a->file.mtime_ns, a->file.ctime_ns) < 0) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (sha256_of(body, strlen(body), sum, err) == 0) {
        ws_sha256_hex(sum, check);
        if (asprintf(&out, "%scheck %s\n", body, check) < 0) {
            out = NULL;
            ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        }
    }
    free(body);
    return out;
}

/* --- parsing ----------------------------------------------------------- */

typedef struct {
    const char *p, *end;
    const char *what;
} cursor;

/* The value of the next line, which must be "<field> <value>\n". */
static int field(cursor *c, const char *name, const char **val, size_t *vlen, ws_err *err)
{
    size_t n = strlen(name);
    const char *nl = memchr(c->p, '\n', (size_t) (c->end - c->p));

    if (!nl)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: truncated before \"%s\"", c->what, name);
    if ((size_t) (nl - c->p) < n + 1 || memcmp(c->p, name, n) != 0 || c->p[n] != ' ')
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: expected the line \"%s ...\"", c->what, name);
    *val = c->p + n + 1;
    *vlen = (size_t) (nl - *val);
    for (size_t i = 0; i < *vlen; i++)
        if ((unsigned char) (*val)[i] < 0x20 || (*val)[i] == 0x7f)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: control character in \"%s\"", c->what, name);
    c->p = nl + 1;
    return 0;
}

static int parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        if (v > (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int parse_i64(const char *s, size_t len, int64_t *out)
{
    bool neg = len > 0 && s[0] == '-';
    uint64_t v;

    if (parse_u64(s + neg, len - neg, &v) < 0 || v > (uint64_t) INT64_MAX || (neg && v == 0))
        return -1;
    *out = neg ? -(int64_t) v : (int64_t) v;
    return 0;
}

static int parse_hex32(const char *s, size_t len, uint8_t out[WS_SHA256_LEN])
{
    if (len != 2 * WS_SHA256_LEN)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        unsigned d = ch >= '0' && ch <= '9'   ? (unsigned) (ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned) (ch - 'a' + 10)
                                              : 16;

        if (d > 15)
            return -1; /* lower case only: the form ws_sha256_hex writes */
        if (i % 2 == 0)
            out[i / 2] = (uint8_t) (d << 4);
        else
            out[i / 2] |= (uint8_t) d;
    }
    return 0;
}

static int num_field(cursor *c, const char *name, uint64_t *u, int64_t *i, ws_err *err)
{
    const char *v;
    size_t n;

    if (field(c, name, &v, &n, err) < 0)
        return -1;
    if (u ? parse_u64(v, n, u) < 0 : parse_i64(v, n, i) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" is not a %s number", c->what, name,
                          u ? "non-negative decimal" : "decimal");
    return 0;
}

int ws_ack_parse(const char *buf, size_t len, const char *what, ws_ack *out, ws_err *err)
{
    cursor c = {.p = buf, .end = buf + len, .what = what};
    const char *v, *body_end;
    size_t n;
    uint64_t version;
    uint8_t want[WS_SHA256_LEN], got[WS_SHA256_LEN];
    ws_wal_name w;
    ws_ack a;

    memset(&a, 0, sizeof a);
    if (len > WS_ACK_TEXT_MAX)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: too large (%zu bytes)", what, len);
    if (memchr(buf, '\0', len))
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: contains a NUL byte", what);
    if (field(&c, MAGIC, &v, &n, err) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: not a walship ack file", what);
    if (parse_u64(v, n, &version) < 0 || version != WS_ACK_VERSION)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: unknown ack format version \"%.*s\" (this walship writes %d)", what,
                          (int) (n > 20 ? 20 : n), v, WS_ACK_VERSION);
    if (field(&c, "name", &v, &n, err) < 0)
        return -1;
    if (n >= sizeof a.name)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: name is too long", what);
    memcpy(a.name, v, n);
    if (ws_wal_name_parse(a.name, &w, err) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" is not a WAL file name", what, a.name);
    if (field(&c, "repo", &v, &n, err) < 0)
        return -1;
    if (n == 0 || n >= sizeof a.repo)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: repository URL is empty or too long", what);
    memcpy(a.repo, v, n);
    if (num_field(&c, "size", &a.digest.size, NULL, err) < 0 || field(&c, "sha256", &v, &n, err) < 0)
        return -1;
    if (parse_hex32(v, n, a.digest.sha256) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"sha256\" is not 64 lower-case hex digits", what);
    if (num_field(&c, "file-dev", &a.file.dev, NULL, err) < 0 ||
        num_field(&c, "file-ino", &a.file.ino, NULL, err) < 0 ||
        num_field(&c, "file-size", &a.file.size, NULL, err) < 0 ||
        num_field(&c, "file-mtime-ns", NULL, &a.file.mtime_ns, err) < 0 ||
        num_field(&c, "file-ctime-ns", NULL, &a.file.ctime_ns, err) < 0)
        return -1;
    body_end = c.p;
    if (field(&c, "check", &v, &n, err) < 0)
        return -1;
    if (parse_hex32(v, n, want) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"check\" is not 64 lower-case hex digits", what);
    if (c.p != c.end)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: unexpected text after the \"check\" line", what);
    if (sha256_of(buf, (size_t) (body_end - buf), got, err) < 0)
        return -1;
    if (memcmp(want, got, WS_SHA256_LEN) != 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: checksum mismatch (the file was changed or damaged)", what);
    *out = a;
    return 0;
}

/* --- files --------------------------------------------------------------- */

int ws_ack_path(const char *dir, const char *name, char *out, size_t outlen, ws_err *err)
{
    int n = snprintf(out, outlen, "%s/%s" WS_ACK_SUFFIX, dir, name);

    if (n < 0 || (size_t) n >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "%s/%s" WS_ACK_SUFFIX ": path too long", dir, name);
    return 0;
}

int ws_ack_write(const char *dir, const ws_ack *a, ws_err *err)
{
    char path[4096];
    char *text = ws_ack_format(a, err);
    ws_file_out *f = NULL;
    int rc = -1;

    if (!text)
        return -1;
    if (ws_ack_path(dir, a->name, path, sizeof path, err) < 0)
        goto out;
    f = ws_file_out_open(path, 0600, err);
    if (!f)
        goto out;
    if (ws_sink_write(ws_file_out_sink(f), text, strlen(text), err) < 0 ||
        ws_sink_finish(ws_file_out_sink(f), err) < 0 || ws_file_out_commit(f, err) < 0) {
        ws_err_prefix(err, "write the ack of %s", a->name);
        goto out;
    }
    rc = 0;
out:
    ws_file_out_free(f);
    free(text);
    return rc;
}

int ws_ack_read(const char *dir, const char *name, ws_ack *out, ws_err *err)
{
    char path[4096], buf[WS_ACK_TEXT_MAX + 1];
    size_t len = 0;
    int fd;

    if (ws_ack_path(dir, name, path, sizeof path, err) < 0)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ELOOP)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: a symbolic link, not an ack file", path);
        return ws_err_sys(err, errno, "could not open \"%s\"", path);
    }
    while (len < sizeof buf) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;

            close(fd);
            return ws_err_sys(err, e, "could not read \"%s\"", path);
        }
        if (r == 0)
            break;
        len += (size_t) r;
    }
    close(fd);
    if (ws_ack_parse(buf, len, path, out, err) < 0)
        return -1;
    if (strcmp(out->name, name) != 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: records %s, not %s", path, out->name, name);
    return 1;
}

int ws_ack_remove(const char *dir, const char *name, ws_err *err)
{
    char path[4096];

    if (ws_ack_path(dir, name, path, sizeof path, err) < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return ws_err_sys(err, errno, "could not remove \"%s\"", path);
    return 0;
}

bool ws_ack_vouches(const ws_ack *a, const char *name, const char *repo, const ws_file_id *now, const char **why)
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
