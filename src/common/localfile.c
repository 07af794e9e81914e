/* localfile.c - small local files read without blocking, replaced atomically (see localfile.h). */
#include "walship/localfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define TMP_INFIX ".tmp."

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "a device";
    return "a special file";
}

int ws_localfile_open(const char *path, unsigned flags, struct stat *st_out, ws_err *err)
{
    int oflags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    struct stat st;
    int fd;

    if (flags & WS_LOCALFILE_NOFOLLOW)
        oflags |= O_NOFOLLOW;
    fd = open(path, oflags);
    if (fd < 0) {
        if (errno == ENOENT) {
            ws_err_sys(err, errno, "could not open \"%s\"", path);
            if (err)
                err->code = WS_ERR_NOTFOUND;
            return -1;
        }
        if (errno == ELOOP && (flags & WS_LOCALFILE_NOFOLLOW))
            return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is a symbolic link, not a regular file", path);
        return ws_err_sys(err, errno, "could not open \"%s\"", path);
    }
    if (fstat(fd, &st) < 0) {
        int e = errno;

        close(fd);
        return ws_err_sys(err, e, "could not stat \"%s\"", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is %s, not a regular file", path, kind_of(st.st_mode));
    }
    if ((flags & WS_LOCALFILE_PRIVATE) && (st.st_mode & 077)) {
        close(fd);
        return ws_err_set(err, WS_ERR_INVALID,
                          "\"%s\" is accessible to other users (mode %04o): a secret must not be; chmod 600 it", path,
                          (unsigned) (st.st_mode & 07777));
    }
    if ((flags & WS_LOCALFILE_PRIVATE) && st.st_uid != geteuid() && st.st_uid != 0) {
        close(fd);
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" belongs to uid %u, not to this user (uid %u) or root", path,
                          (unsigned) st.st_uid, (unsigned) geteuid());
    }
    /* Regular files ignore O_NONBLOCK; cleared anyway for whoever reads next. */
    (void) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (st_out)
        *st_out = st;
    return fd;
}

int ws_localfile_pread(int fd, void *buf, size_t len, off_t offset, size_t *got, const char *what, ws_err *err)
{
    uint8_t *p = buf;
    size_t done = 0;

    while (done < len) {
        ssize_t n = pread(fd, p + done, len - done, offset + (off_t) done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ws_err_sys(err, errno, "could not read \"%s\"", what);
        if (n == 0)
            break;
        done += (size_t) n;
    }
    *got = done;
    return 0;
}

int ws_localfile_read(const char *path, size_t max, unsigned flags, char **out, size_t *len, ws_err *err)
{
    struct stat st;
    size_t got;
    char *buf;
    int fd = ws_localfile_open(path, flags, &st, err);

    *out = NULL;
    *len = 0;
    if (fd < 0)
        return err && err->code == WS_ERR_NOTFOUND ? 0 : -1;
    if ((uint64_t) st.st_size > max) {
        close(fd);
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is larger than %zu bytes", path, max);
    }
    /* One byte more than allowed: a file that grew meanwhile is caught. */
    buf = malloc(max + 2);
    if (!buf) {
        close(fd);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory reading \"%s\"", path);
    }
    if (ws_localfile_pread(fd, buf, max + 1, 0, &got, path, err) < 0) {
        close(fd);
        free(buf);
        return -1;
    }
    close(fd);
    if (got > max) {
        free(buf);
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is larger than %zu bytes", path, max);
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 1;
}

int ws_localfile_write_all(int fd, const void *buf, size_t len, const char *what, ws_err *err)
{
    const uint8_t *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ws_err_sys(err, errno, "could not write \"%s\"", what);
        p += n;
        len -= (size_t) n;
    }
    return 0;
}

uint64_t ws_localfile_random_tag(void)
{
    uint64_t r;
    struct timespec ts;

    if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t) sizeof r)
        return r;
    /* No entropy yet (early boot): O_EXCL keeps names unique anyway. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_nsec ^ ((uint64_t) getpid() << 32);
}

int ws_localfile_tmp_create(const char *path, int mode, ws_localfile_tmp *t, ws_err *err)
{
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int) (slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;

    memset(t, 0, sizeof *t);
    t->fd = -1;
    if (!*base)
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" names a directory, not a file", path);
    t->path = strdup(path);
    if (!t->path)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    for (int attempt = 0; attempt < 16; attempt++) {
        free(t->tmp);
        if (asprintf(&t->tmp, "%.*s.%s" TMP_INFIX "%d.%012llx", dirlen, path, base, (int) getpid(),
                     (unsigned long long) (ws_localfile_random_tag() & 0xffffffffffffULL)) < 0) {
            t->tmp = NULL;
            ws_localfile_tmp_discard(t);
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        }
        t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (t->fd >= 0 || errno != EEXIST)
            break;
    }
    if (t->fd < 0) {
        ws_err_sys(err, errno, "could not create \"%s\"", t->tmp);
        free(t->tmp);
        t->tmp = NULL; /* nothing to remove */
        ws_localfile_tmp_discard(t);
        return -1;
    }
    return 0;
}

int ws_localfile_tmp_commit(ws_localfile_tmp *t, unsigned flags, ws_err *err)
{
    int fd = t->fd;

    if (t->committed || fd < 0)
        return ws_err_set(err, WS_ERR_INTERNAL, "\"%s\" committed twice", t->path);
    if (!(flags & WS_LOCALFILE_NOSYNC) && fsync(fd) < 0)
        return ws_err_sys(err, errno, "could not fsync \"%s\"", t->tmp);
    t->fd = -1;
    if (close(fd) < 0)
        return ws_err_sys(err, errno, "could not close \"%s\"", t->tmp);
    if (rename(t->tmp, t->path) < 0)
        return ws_err_sys(err, errno, "could not rename \"%s\" to \"%s\"", t->tmp, t->path);
    t->committed = true;
    if (!(flags & WS_LOCALFILE_NOSYNC))
        return ws_localfile_fsync_parent(t->path, err);
    return 0;
}

void ws_localfile_tmp_discard(ws_localfile_tmp *t)
{
    if (t->fd >= 0)
        close(t->fd);
    if (t->tmp && !t->committed)
        unlink(t->tmp);
    free(t->tmp);
    free(t->path);
    t->fd = -1;
    t->tmp = t->path = NULL;
}

bool ws_localfile_is_tmp_name(const char *name)
{
    const char *t = NULL;

    if (name[0] != '.')
        return false;
    /* The last ".tmp." (the file's own name may hold one), then PID.RANDOM. */
    for (const char *p = strstr(name, TMP_INFIX); p; p = strstr(p + 1, TMP_INFIX))
        t = p;
    return t && t > name + 1 && t[strlen(TMP_INFIX)] >= '0' && t[strlen(TMP_INFIX)] <= '9';
}

int ws_localfile_write(const char *path, const void *buf, size_t len, int mode, unsigned flags, ws_err *err)
{
    ws_localfile_tmp t;
    int rc;

    if (ws_localfile_tmp_create(path, mode, &t, err) < 0)
        return -1;
    rc = ws_localfile_write_all(t.fd, buf, len, t.tmp, err);
    if (rc == 0)
        rc = ws_localfile_tmp_commit(&t, flags, err);
    ws_localfile_tmp_discard(&t);
    return rc;
}

void ws_localfile_id_from_stat(const struct stat *st, ws_localfile_id *out)
{
    out->dev = (uint64_t) st->st_dev;
    out->ino = (uint64_t) st->st_ino;
    out->size = (uint64_t) st->st_size;
    out->mtime_ns = (int64_t) st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    out->ctime_ns = (int64_t) st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

bool ws_localfile_id_equal(const ws_localfile_id *a, const ws_localfile_id *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime_ns == b->mtime_ns &&
           a->ctime_ns == b->ctime_ns;
}

int ws_localfile_fsync_dir(const char *dir, ws_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return ws_err_sys(err, errno, "could not open directory \"%s\"", dir);
    /* Some file systems cannot fsync a directory (EINVAL): nothing to do there. */
    if (fsync(fd) < 0 && errno != EINVAL) {
        int e = errno;

        close(fd);
        return ws_err_sys(err, e, "could not fsync directory \"%s\"", dir);
    }
    close(fd);
    return 0;
}

int ws_localfile_fsync_parent(const char *path, ws_err *err)
{
    char *dup = strdup(path);
    int rc;

    if (!dup)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    rc = ws_localfile_fsync_dir(dirname(dup), err);
    free(dup);
    return rc;
}
