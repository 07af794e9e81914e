/*
 * storage_file.c - the file:///path driver: a repository in a local directory.
 *
 * Key K is the file ROOT/K.  A put streams into a temp file in the same
 * directory and commits by fsync + rename + fsync of the directory, so a
 * reader sees the old object, no object or the whole new one, never a part.
 * Temp files are named ".NAME.tmp.PID.RANDOM~": '~' is not a key character,
 * so no key can name one and listings skip them; a later put into the same
 * directory removes those whose writer is dead or that are over an hour old.
 * Metadata lives in user xattrs "user.walship.NAME" where the filesystem has
 * them.  Per-name locks are flock()s on ROOT/locks~/lock-XX (lockfile.h);
 * '~' keeps the directory out of listings too.  See doc/storage.md.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "walship/localfile.h"
#include "walship/lockfile.h"
#include "walship/storage.h"

#define KEY_MAX          1024
#define XATTR_PREFIX     "user.walship."
#define TEMP_NAME_KEEP   200       /* bytes of the object name kept in a temp name */
#define TEMP_MAX_AGE     (60 * 60) /* seconds; older temps are leftovers whoever wrote them */
#define DIR_MODE         0750
#define FILE_MODE        0640
#define ENSURE_DIR_TRIES 5
#define WRITE_BUF        (128 * 1024)
#define LOCK_DIR         "locks~"

typedef struct file_storage {
    ws_storage base;
    char *root; /* absolute, no trailing '/' unless it is "/" */
    int rootfd;
} file_storage;

/* "ROOT/rel" for messages ("/rel" when ROOT is "/"). */
static const char *sep_after(const file_storage *fs)
{
    return strcmp(fs->root, "/") == 0 ? "" : "/";
}

/* --- temp names ------------------------------------------------------- */

/* Is name one of our temp files?  Sets *pid to its writer's pid. */
static bool temp_name_parse(const char *name, pid_t *pid)
{
    size_t n = strlen(name);
    const char *t = NULL, *p, *q;
    char *end;
    long v;

    if (n < 2 || name[0] != '.' || name[n - 1] != '~')
        return false;
    /* The suffix is the last ".tmp." (the object name may contain one). */
    for (p = strstr(name, ".tmp."); p; p = strstr(p + 1, ".tmp."))
        t = p;
    if (!t)
        return false;
    p = t + 5;
    if (*p < '0' || *p > '9')
        return false;
    errno = 0;
    v = strtol(p, &end, 10);
    if (errno || *end != '.' || v <= 0 || v > INT_MAX)
        return false;
    q = end + 1;
    if (q == name + n - 1)
        return false;
    for (; q < name + n - 1; q++)
        if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f')))
            return false;
    *pid = (pid_t) v;
    return true;
}

/* Best effort: removes crash leftovers in one directory. */
static void clean_leftovers(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d;
    struct dirent *de;
    time_t now = time(NULL);

    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        pid_t pid;
        bool dead, old;

        if (de->d_name[0] != '.' || !temp_name_parse(de->d_name, &pid))
            continue;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        dead = kill(pid, 0) < 0 && errno == ESRCH;
        old = now - st.st_mtime > TEMP_MAX_AGE;
        if (dead || old)
            (void) unlinkat(dirfd, de->d_name, 0);
    }
    closedir(d);
}

/* --- directories ------------------------------------------------------ */

/*
 * Opens the directory that holds key, creating missing ones (each new entry
 * made durable in its parent).  Returns the directory's fd or -1.
 */
static int open_parent(file_storage *fs, const char *key, ws_err *err)
{
    char rel[KEY_MAX + 1];
    char *last, *seg, *next;
    int cur = fcntl(fs->rootfd, F_DUPFD_CLOEXEC, 0);

    if (cur < 0)
        return ws_err_sys(err, errno, "dup descriptor of %s", fs->root);
    snprintf(rel, sizeof rel, "%s", key);
    last = strrchr(rel, '/');
    if (!last)
        return cur;
    *last = '\0';
    /* rel is cut after the current segment, so it names the directory at hand. */
    for (seg = rel; seg; seg = next) {
        int fd, e;

        next = strchr(seg, '/');
        if (next)
            *next = '\0';
        fd = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(cur, seg, DIR_MODE) == 0) {
                if (fsync(cur) < 0) {
                    e = errno;
                    close(cur);
                    return ws_err_sys(err, e, "fsync parent directory of %s%s%s", fs->root, sep_after(fs), rel);
                }
            } else if (errno != EEXIST) {
                e = errno;
                close(cur);
                return ws_err_sys(err, e, "create directory %s%s%s", fs->root, sep_after(fs), rel);
            }
            fd = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        }
        if (fd < 0) {
            e = errno;
            close(cur);
            return ws_err_sys(err, e, "open directory %s%s%s", fs->root, sep_after(fs), rel);
        }
        close(cur);
        cur = fd;
        if (next)
            *next++ = '/';
    }
    return cur;
}

/*
 * Best effort: removes the directories above key that are now empty, up to
 * the root.  A put racing with this retries when its directory vanishes.
 */
static void prune_empty_dirs(file_storage *fs, const char *key)
{
    char rel[KEY_MAX + 1];
    char *slash;

    snprintf(rel, sizeof rel, "%s", key);
    while ((slash = strrchr(rel, '/')) != NULL) {
        *slash = '\0';
        if (unlinkat(fs->rootfd, rel, AT_REMOVEDIR) < 0)
            break;
    }
}

/* --- put -------------------------------------------------------------- */

typedef struct file_put {
    ws_put base;
    file_storage *fs;
    int dirfd;
    int fd;
    char *key;
    char *path;   /* ROOT/KEY, for messages */
    char *tmp;    /* temp file name inside dirfd */
    char *name;   /* final name inside dirfd */
    uint8_t *buf; /* small writes are gathered into WRITE_BUF bytes */
    size_t buffered;
    bool finished; /* sink finished: no more writes */
    bool failed;   /* a write failed: the put can only be freed */
    bool renamed;  /* the temp file became the object */
} file_put;

static int write_all(file_put *p, const uint8_t *buf, size_t len, ws_err *err)
{
    while (len > 0) {
        ssize_t n = write(p->fd, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            p->failed = true;
            return ws_err_sys(err, errno, "write %s (temp file %s)", p->path, p->tmp);
        }
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

static int flush_buf(file_put *p, ws_err *err)
{
    size_t n = p->buffered;

    p->buffered = 0;
    return write_all(p, p->buf, n, err);
}

static int put_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    file_put *p = (file_put *) s;

    if (p->failed || p->finished || p->renamed)
        return ws_err_set(err, WS_ERR_INVALID, "write to %s after %s", p->path,
                          p->failed ? "an error" : "the end of the stream");
    if (len == 0)
        return 0;
    if (p->buffered + len > WRITE_BUF && p->buffered > 0 && flush_buf(p, err) < 0)
        return -1;
    if (len >= WRITE_BUF)
        return write_all(p, buf, len, err);
    memcpy(p->buf + p->buffered, buf, len);
    p->buffered += len;
    return 0;
}

static int put_finish(ws_sink *s, ws_err *err)
{
    file_put *p = (file_put *) s;

    if (p->failed)
        return ws_err_set(err, WS_ERR_INVALID, "finish of %s after an error", p->path);
    p->finished = true;
    return 0;
}

static void put_destroy(ws_put *base)
{
    file_put *p = (file_put *) base;

    if (p->fd >= 0)
        close(p->fd);
    if (!p->renamed) {
        if (p->tmp)
            (void) unlinkat(p->dirfd, p->tmp, 0);
        if (p->key)
            prune_empty_dirs(p->fs, p->key);
    }
    if (p->dirfd >= 0)
        close(p->dirfd);
    free(p->buf);
    free(p->key);
    free(p->path);
    free(p->tmp);
    free(p->name);
    free(p);
}

static void put_sink_destroy(ws_sink *s)
{
    put_destroy((ws_put *) s);
}

/* Stores meta as user xattrs; a filesystem without them stores none. */
static int put_meta(file_put *p, const ws_meta *meta, ws_err *err)
{
    for (size_t i = 0; i < meta->n; i++) {
        char name[sizeof XATTR_PREFIX + WS_META_NAME_MAX];
        const char *v = meta->e[i].value;

        snprintf(name, sizeof name, "%s%s", XATTR_PREFIX, meta->e[i].name);
        if (fsetxattr(p->fd, name, v, strlen(v), 0) < 0) {
            if (errno == ENOTSUP || errno == EOPNOTSUPP)
                return 0;
            return ws_err_sys(err, errno, "store metadata '%s' of %s", meta->e[i].name, p->path);
        }
    }
    return 0;
}

static int put_commit(ws_put *base, const ws_meta *meta, ws_err *err)
{
    file_put *p = (file_put *) base;
    int fd;

    if (p->failed)
        return ws_err_set(err, WS_ERR_INVALID, "commit of %s after an error", p->path);
    if (p->renamed)
        return ws_err_set(err, WS_ERR_INVALID, "%s is already committed", p->path);
    p->finished = true;
    if (flush_buf(p, err) < 0)
        return -1;
    p->failed = true; /* until the end: any failure below leaves only free() */
    if (meta && (ws_meta_check(meta, err) < 0 || put_meta(p, meta, err) < 0))
        return ws_err_prefix(err, "%s", p->path);
    if (fsync(p->fd) < 0)
        return ws_err_sys(err, errno, "fsync %s (temp file %s)", p->path, p->tmp);
    fd = p->fd;
    p->fd = -1;
    if (close(fd) < 0)
        return ws_err_sys(err, errno, "close %s (temp file %s)", p->path, p->tmp);
    if (renameat(p->dirfd, p->tmp, p->dirfd, p->name) < 0)
        return ws_err_sys(err, errno, "rename temp file %s to %s", p->tmp, p->path);
    p->renamed = true;
    if (fsync(p->dirfd) < 0)
        return ws_err_sys(err, errno, "fsync directory of %s", p->path);
    p->failed = false;
    return 0;
}

static const ws_sink_ops put_sink_ops = {
    .name = "file put",
    .write = put_write,
    .finish = put_finish,
    .destroy = put_sink_destroy,
};

/* The temp file exists from put_begin on: its name is the token. */
static int put_track(ws_put *base, ws_put_track_cb cb, void *arg, ws_err *err)
{
    file_put *p = (file_put *) base;

    if (p->renamed || !p->tmp)
        return 0;
    return cb(arg, p->tmp, err);
}

static const ws_put_ops put_ops = {
    .commit = put_commit,
    .destroy = put_destroy,
    .track = put_track,
};

static int file_put_begin(ws_storage *st, const char *key, uint64_t size_hint, ws_put **out, ws_err *err)
{
    file_storage *fs = (file_storage *) st;
    const char *slash = strrchr(key, '/');
    const char *base = slash ? slash + 1 : key;
    file_put *p = calloc(1, sizeof *p);
    int e = 0;

    (void) size_hint;
    if (!p)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    p->base.sink.ops = &put_sink_ops;
    p->base.sink.next = NULL;
    p->base.ops = &put_ops;
    p->fs = fs;
    p->dirfd = -1;
    p->fd = -1;
    if (asprintf(&p->path, "%s%s%s", fs->root, sep_after(fs), key) < 0) {
        p->path = NULL;
        goto nomem;
    }
    p->name = strdup(base);
    p->key = strdup(key);
    p->buf = malloc(WRITE_BUF);
    if (!p->name || !p->key || !p->buf)
        goto nomem;
    /* Keys allow longer segments than a file name can be: say so up front. */
    for (const char *seg = key, *end;; seg = end + 1) {
        end = strchrnul(seg, '/');
        if (end - seg > NAME_MAX) {
            ws_err_set(err, WS_ERR_INVALID, "%s: a path segment is longer than %d bytes, the file name limit", p->path,
                       NAME_MAX);
            goto fail;
        }
        if (!*end)
            break;
    }

    /* A concurrent remove may delete a directory we just made: retry. */
    for (int attempt = 0; attempt < ENSURE_DIR_TRIES; attempt++) {
        p->dirfd = open_parent(fs, key, err);
        if (p->dirfd < 0)
            goto fail;
        clean_leftovers(p->dirfd);
        for (int i = 0; i < 16; i++) {
            free(p->tmp);
            if (asprintf(&p->tmp, ".%.*s.tmp.%ld.%08" PRIx32 "~", TEMP_NAME_KEEP, base, (long) getpid(),
                         (uint32_t) ws_localfile_random_tag()) < 0) {
                p->tmp = NULL;
                goto nomem;
            }
            p->fd = openat(p->dirfd, p->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, FILE_MODE);
            if (p->fd >= 0 || errno != EEXIST)
                break;
        }
        if (p->fd >= 0) {
            *out = &p->base;
            return 0;
        }
        e = errno;
        if (e != ENOENT || attempt == ENSURE_DIR_TRIES - 1)
            break;
        close(p->dirfd);
        p->dirfd = -1;
    }
    ws_err_sys(err, e, "create temp file for %s", p->path);
    free(p->tmp);
    p->tmp = NULL; /* nothing to unlink */
    goto fail;
nomem:
    ws_err_set(err, WS_ERR_NOMEM, "out of memory");
fail:
    put_destroy(&p->base);
    return -1;
}

/* --- get / head ------------------------------------------------------- */

/*
 * Opens key for reading.  Returns the fd, -2 when there is no such object
 * (absent, or a directory / special file), -1 on error.
 */
static int open_object(file_storage *fs, const char *key, struct stat *st, ws_err *err)
{
    int fd = openat(fs->rootfd, key, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return -2;
        return ws_err_sys(err, errno, "open %s%s%s", fs->root, sep_after(fs), key);
    }
    if (fstat(fd, st) < 0) {
        int e = errno;
        close(fd);
        return ws_err_sys(err, e, "stat %s%s%s", fs->root, sep_after(fs), key);
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        return -2;
    }
    return fd;
}

static int file_get(ws_storage *st_, const char *key, uint64_t offset, uint64_t length, ws_sink *dst, ws_err *err)
{
    file_storage *fs = (file_storage *) st_;
    struct stat st;
    uint64_t size, end;
    uint8_t *buf = NULL;
    size_t bufsize;
    int fd = open_object(fs, key, &st, err);
    int rc = -1;

    if (fd == -2)
        return ws_err_set(err, WS_ERR_NOTFOUND, "no such object");
    if (fd < 0)
        return -1;
    size = (uint64_t) st.st_size;
    if (offset > size || (length != WS_TO_END && length > size - offset)) {
        if (length == WS_TO_END)
            ws_err_set(err, WS_ERR_INVALID,
                       "range from byte %" PRIu64 " to the end is beyond the end of the "
                       "object (%" PRIu64 " bytes)",
                       offset, size);
        else
            ws_err_set(err, WS_ERR_INVALID,
                       "range of %" PRIu64 " bytes at byte %" PRIu64 " is beyond the end of "
                       "the object (%" PRIu64 " bytes)",
                       length, offset, size);
        goto out;
    }
    end = length == WS_TO_END ? size : offset + length;
    (void) posix_fadvise(fd, (off_t) offset, (off_t) (end - offset), POSIX_FADV_SEQUENTIAL);
    bufsize = end - offset < WS_IO_BLOCK ? (size_t) (end - offset) : WS_IO_BLOCK;
    buf = malloc(bufsize ? bufsize : 1);
    if (!buf) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    while (offset < end) {
        size_t want = end - offset < bufsize ? (size_t) (end - offset) : bufsize;
        ssize_t n = pread(fd, buf, want, (off_t) offset);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            ws_err_sys(err, errno, "read %s%s%s", fs->root, sep_after(fs), key);
            goto out;
        }
        if (n == 0) {
            /* Objects are replaced by rename, never changed in place. */
            ws_err_set(err, WS_ERR_IO, "read %s%s%s: file ended at byte %" PRIu64 " of %" PRIu64 " (changed in place?)",
                       fs->root, sep_after(fs), key, offset, end);
            goto out;
        }
        if (ws_sink_write(dst, buf, (size_t) n, err) < 0)
            goto out;
        offset += (uint64_t) n;
    }
    rc = ws_sink_finish(dst, err);
out:
    free(buf);
    close(fd);
    return rc;
}

/* Reads our xattrs back; anything not ours or not valid is skipped. */
static void read_meta(int fd, ws_meta *meta)
{
    const size_t plen = strlen(XATTR_PREFIX);
    ssize_t n = flistxattr(fd, NULL, 0);
    char *names;

    meta->n = 0;
    if (n <= 0 || n > 65536)
        return; /* none, unsupported, or far more than ours would need */
    names = malloc((size_t) n);
    if (!names)
        return; /* metadata is an optimisation: the object's trailer is the truth */
    n = flistxattr(fd, names, (size_t) n);
    if (n <= 0) {
        free(names);
        return;
    }
    for (char *a = names; a < names + n && meta->n < WS_META_MAX; a += strlen(a) + 1) {
        char value[WS_META_VALUE_MAX];
        ssize_t vlen;

        if (strncmp(a, XATTR_PREFIX, plen) != 0 || !ws_meta_name_valid(a + plen))
            continue;
        vlen = fgetxattr(fd, a, value, sizeof value - 1);
        if (vlen < 0)
            continue;
        value[vlen] = '\0';
        if (strlen(value) != (size_t) vlen || !ws_meta_value_valid(value))
            continue;
        strcpy(meta->e[meta->n].name, a + plen);
        strcpy(meta->e[meta->n].value, value);
        meta->n++;
    }
    free(names);
}

static int file_head(ws_storage *st_, const char *key, ws_obj_info *info, ws_err *err)
{
    file_storage *fs = (file_storage *) st_;
    struct stat st;
    int fd = open_object(fs, key, &st, err);

    if (fd == -2)
        return 0;
    if (fd < 0)
        return -1;
    info->size = (uint64_t) st.st_size;
    info->mtime = (int64_t) st.st_mtime;
    read_meta(fd, &info->meta);
    close(fd);
    return 1;
}

/* --- list ------------------------------------------------------------- */

/*
 * The walk visits each directory's entries sorted by name, a directory's name
 * taken with its '/' appended: that is exactly the byte order of the full
 * keys (no key contains a directory's "name/" as a proper prefix but the keys
 * below it), so keys come out sorted with one directory in memory per level.
 */

typedef struct list_ctx {
    file_storage *fs;
    const char *prefix;
    size_t plen;
    const char *delim; /* NULL: no roll-up */
    size_t dlen;
    ws_list_cb cb;
    void *arg;
    char path[KEY_MAX + NAME_MAX + 2]; /* directory being walked, "" or ending in '/' */
    char rollup[KEY_MAX + 2];          /* last common prefix reported */
    bool stopped;
} list_ctx;

typedef struct dent {
    char *name; /* with a trailing '/' for a directory */
    bool is_dir;
    uint64_t size;
} dent;

static bool segment_valid(const char *name)
{
    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.' ||
              *c == '_' || *c == '-'))
            return false;
    return true;
}

static int dent_cmp(const void *a, const void *b)
{
    return strcmp(((const dent *) a)->name, ((const dent *) b)->name);
}

static void dents_free(dent *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* Opens the directory ROOT/rel ("" = ROOT); -2 when it vanished. */
static int open_rel_dir(file_storage *fs, const char *rel, ws_err *err)
{
    int fd = openat(fs->rootfd, *rel ? rel : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0)
        return fd;
    if (errno == ENOENT || errno == ENOTDIR)
        return -2; /* removed under us: it holds no keys now */
    return ws_err_sys(err, errno, "open directory %s%s%s", fs->root, *rel ? sep_after(fs) : "", rel);
}

/*
 * Reads the key-named regular files and directories of ROOT/rel, sorted.
 * Returns 0 (possibly with *n = 0 when it vanished) or -1.
 */
static int read_dir(file_storage *fs, const char *rel, dent **out, size_t *n, ws_err *err)
{
    int fd = open_rel_dir(fs, rel, err), dfd;
    DIR *d;
    struct dirent *de;
    dent *v = NULL;
    size_t cap = 0;

    *out = NULL;
    *n = 0;
    if (fd == -2)
        return 0;
    if (fd < 0)
        return -1;
    dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        int e = errno;
        if (dfd >= 0)
            close(dfd);
        close(fd);
        return ws_err_sys(err, e, "read directory %s%s%s", fs->root, *rel ? sep_after(fs) : "", rel);
    }
    for (;;) {
        struct stat st = {0};
        bool is_dir, is_reg;

        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno) {
                ws_err_sys(err, errno, "read directory %s%s%s", fs->root, *rel ? sep_after(fs) : "", rel);
                goto fail;
            }
            break;
        }
        /* Temp files ("...~"), lost+found and other strangers are no keys. */
        if (!segment_valid(de->d_name))
            continue;
        is_dir = de->d_type == DT_DIR;
        is_reg = de->d_type == DT_REG;
        if (!is_dir) {
            if (fstatat(fd, de->d_name, &st, 0) < 0) {
                if (errno == ENOENT)
                    continue; /* removed meanwhile */
                ws_err_sys(err, errno, "stat %s%s%s%s", fs->root, *rel ? sep_after(fs) : "", rel, de->d_name);
                goto fail;
            }
            is_dir = S_ISDIR(st.st_mode);
            is_reg = S_ISREG(st.st_mode);
        }
        if (!is_dir && !is_reg)
            continue;
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            dent *nv = realloc(v, ncap * sizeof *nv);
            if (!nv)
                goto nomem;
            v = nv;
            cap = ncap;
        }
        v[*n].is_dir = is_dir;
        v[*n].size = is_reg ? (uint64_t) st.st_size : 0;
        if (asprintf(&v[*n].name, "%s%s", de->d_name, is_dir ? "/" : "") < 0)
            goto nomem;
        (*n)++;
    }
    closedir(d);
    close(fd);
    if (*n > 1)
        qsort(v, *n, sizeof *v, dent_cmp);
    *out = v;
    return 0;
nomem:
    ws_err_set(err, WS_ERR_NOMEM, "out of memory");
fail:
    closedir(d);
    close(fd);
    dents_free(v, *n);
    *n = 0;
    return -1;
}

/*
 * Does c->path (a directory, length rlen) hold any key?  1 yes, 0 no, -1
 * error.  Stops at the first one, unsorted: a roll-up needs no more.
 */
static int dir_has_key(list_ctx *c, size_t rlen, ws_err *err)
{
    int fd = open_rel_dir(c->fs, c->path, err);
    DIR *d;
    struct dirent *de;
    int found = 0;

    if (fd == -2)
        return 0;
    if (fd < 0)
        return -1;
    d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return ws_err_sys(err, e, "read directory %s/%s", c->fs->root, c->path);
    }
    while (!found && (errno = 0, de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        struct stat st;
        bool is_dir = de->d_type == DT_DIR, is_reg = de->d_type == DT_REG;

        if (!segment_valid(de->d_name) || rlen + len > KEY_MAX)
            continue;
        if (!is_dir && !is_reg) {
            if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
                continue;
            is_dir = S_ISDIR(st.st_mode);
            is_reg = S_ISREG(st.st_mode);
        }
        if (is_reg) {
            found = 1;
        } else if (is_dir) {
            memcpy(c->path + rlen, de->d_name, len);
            memcpy(c->path + rlen + len, "/", 2);
            found = dir_has_key(c, rlen + len + 1, err);
            c->path[rlen] = '\0';
        }
    }
    if (found == 0 && errno)
        found = ws_err_sys(err, errno, "read directory %s/%s", c->fs->root, c->path);
    closedir(d);
    return found;
}

static int emit(list_ctx *c, const char *key, uint64_t size, bool is_prefix, ws_err *err)
{
    ws_list_entry e = {.key = key, .size = size, .is_prefix = is_prefix};
    int r = c->cb(&e, c->arg, err);

    if (r < 0)
        return -1;
    if (r > 0)
        c->stopped = true;
    return 0;
}

/* Reports the common prefix full[0..len) once. */
static int emit_rollup(list_ctx *c, const char *full, size_t len, ws_err *err)
{
    if (strlen(c->rollup) == len && memcmp(c->rollup, full, len) == 0)
        return 0;
    memcpy(c->rollup, full, len);
    c->rollup[len] = '\0';
    return emit(c, c->rollup, 0, true, err);
}

/* Position just past the first delimiter in full after the prefix, or 0. */
static size_t rollup_len(const list_ctx *c, const char *full)
{
    const char *d;

    if (!c->delim || strlen(full) < c->plen)
        return 0;
    d = strstr(full + c->plen, c->delim);
    return d ? (size_t) (d - full) + c->dlen : 0;
}

/* Walks c->path (length rlen); keys there all start with it. */
static int walk(list_ctx *c, size_t rlen, ws_err *err)
{
    dent *v;
    size_t n;
    int rc = 0;

    if (read_dir(c->fs, c->path, &v, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0 && !c->stopped; i++) {
        size_t len = strlen(v[i].name), cmp, rl;

        /* Full keys are at most KEY_MAX; a longer path holds none. */
        if (rlen + len > KEY_MAX)
            continue;
        memcpy(c->path + rlen, v[i].name, len + 1);
        cmp = rlen + len < c->plen ? rlen + len : c->plen;
        if (memcmp(c->path, c->prefix, cmp) != 0 || (!v[i].is_dir && rlen + len < c->plen)) {
            c->path[rlen] = '\0';
            continue;
        }
        rl = rollup_len(c, c->path);
        if (!v[i].is_dir) {
            rc = rl ? emit_rollup(c, c->path, rl, err) : emit(c, c->path, v[i].size, false, err);
        } else if (rl) {
            /* Everything below rolls up to the same prefix: report it if any key exists. */
            if (!(strlen(c->rollup) == rl && memcmp(c->rollup, c->path, rl) == 0)) {
                int has = dir_has_key(c, rlen + len, err);

                rc = has < 0 ? -1 : has ? emit_rollup(c, c->path, rl, err) : 0;
            }
        } else {
            rc = walk(c, rlen + len, err);
        }
        c->path[rlen] = '\0';
    }
    dents_free(v, n);
    return rc;
}

static int file_list(ws_storage *st, const char *prefix, const char *delimiter, ws_list_cb cb, void *arg, ws_err *err)
{
    list_ctx *c = calloc(1, sizeof *c);
    int rc;

    if (!c)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    c->fs = (file_storage *) st;
    c->prefix = prefix;
    c->plen = strlen(prefix);
    c->delim = delimiter && *delimiter ? delimiter : NULL;
    c->dlen = c->delim ? strlen(c->delim) : 0;
    c->cb = cb;
    c->arg = arg;
    rc = walk(c, 0, err);
    free(c);
    return rc;
}

/* --- remove ----------------------------------------------------------- */

static int file_remove(ws_storage *st, const char *const *keys, size_t nkeys, ws_err *err)
{
    file_storage *fs = (file_storage *) st;

    for (size_t i = 0; i < nkeys; i++) {
        if (unlinkat(fs->rootfd, keys[i], 0) < 0) {
            if (errno == ENOENT || errno == ENOTDIR || errno == EISDIR)
                continue; /* absent (a directory is no object) */
            return ws_err_sys(err, errno, "remove %s%s%s", fs->root, sep_after(fs), keys[i]);
        }
        prune_empty_dirs(fs, keys[i]);
    }
    return 0;
}

/* Whether name is a temp file of a put of the object named base. */
static bool temp_of(const char *name, const char *base, pid_t *pid)
{
    size_t blen = strlen(base) > TEMP_NAME_KEEP ? TEMP_NAME_KEEP : strlen(base);

    return temp_name_parse(name, pid) && strncmp(name + 1, base, blen) == 0 &&
           strncmp(name + 1 + blen, ".tmp.", 5) == 0 && !strchr(name, '/');
}

/* Unlinks the temp file a killed put of key left (the token is its name),
 * or with no token every temp file of key whose writer is dead. */
static int file_abandon(ws_storage *st, const char *key, const char *token, ws_err *err)
{
    file_storage *fs = (file_storage *) st;
    const char *slash = strrchr(key, '/');
    const char *base = slash ? slash + 1 : key;
    char rel[KEY_MAX + WS_PUT_TOKEN_MAX + 2];
    pid_t pid;
    int dirfd, fd;
    DIR *d;
    struct dirent *de;

    if (token) {
        /* Only ever a temp file of this key's own name, in its own directory. */
        if (!temp_of(token, base, &pid))
            return ws_err_set(err, WS_ERR_INVALID, "\"%.80s\" is not a temp file of %s", token, key);
        snprintf(rel, sizeof rel, "%.*s%s%s", slash ? (int) (slash - key) : 0, key, slash ? "/" : "", token);
        if (unlinkat(fs->rootfd, rel, 0) < 0 && errno != ENOENT && errno != ENOTDIR)
            return ws_err_sys(err, errno, "remove %s%s%s", fs->root, sep_after(fs), rel);
        prune_empty_dirs(fs, key);
        return 0;
    }
    snprintf(rel, sizeof rel, "%.*s", slash ? (int) (slash - key) : 1, slash ? key : ".");
    dirfd = openat(fs->rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : ws_err_sys(err, errno, "open directory of %s", key);
    fd = dup(dirfd);
    d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        close(dirfd);
        return ws_err_sys(err, errno, "read directory of %s", key);
    }
    while ((de = readdir(d)) != NULL)
        if (temp_of(de->d_name, base, &pid) && kill(pid, 0) < 0 && errno == ESRCH)
            (void) unlinkat(dirfd, de->d_name, 0);
    closedir(d);
    close(dirfd);
    prune_empty_dirs(fs, key);
    return 0;
}

/* --- locks ---------------------------------------------------------------- */

static int file_lock(ws_storage *st, const char *name, double timeout, int *fd, ws_err *err)
{
    file_storage *fs = (file_storage *) st;
    char dir[PATH_MAX], path[PATH_MAX];

    if (snprintf(dir, sizeof dir, "%s%s" LOCK_DIR, fs->root, sep_after(fs)) >= (int) sizeof dir ||
        ws_lockfile_slot_path(dir, name, path, sizeof path, err) < 0)
        return ws_err_set(err, WS_ERR_INVALID, "%s: lock path too long", fs->root);
    if (mkdir(dir, DIR_MODE) < 0 && errno != EEXIST)
        return ws_err_sys(err, errno, "create lock directory %s", dir);
    return ws_lockfile_take(path, true, true, timeout, fd, err);
}

/* --- open / close ----------------------------------------------------- */

static void file_close(ws_storage *st)
{
    file_storage *fs = (file_storage *) st;

    if (fs->rootfd >= 0)
        close(fs->rootfd);
    free(fs->root);
    free(fs->base.url);
    free(fs);
}

static const ws_storage_ops file_ops = {
    .put_begin = file_put_begin,
    .get = file_get,
    .head = file_head,
    .list = file_list,
    .remove = file_remove,
    .close = file_close,
    .abandon = file_abandon,
    .lock = file_lock,
};

static bool file_url_valid(const char *url, const char **expected)
{
    *expected = "file:// followed by an absolute path, e.g. file:///var/lib/walship";
    return strncmp(url, "file://", 7) == 0 && url[7] == '/' && strlen(url + 7) < PATH_MAX;
}

static int file_open(const ws_config *cfg, const char *url, ws_storage **out, ws_err *err)
{
    const char *path, *expected;
    file_storage *fs;
    size_t n;

    (void) cfg;
    *out = NULL;
    if (!file_url_valid(url, &expected))
        return ws_err_set(err, WS_ERR_CONFIG, "'%s' is not a local repository URL: want %s", url, expected);
    path = url + 7;
    n = strlen(path);
    fs = calloc(1, sizeof *fs);
    if (!fs)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    fs->base.ops = &file_ops;
    fs->rootfd = -1;
    fs->base.url = strdup(url);
    fs->root = strdup(path);
    if (!fs->base.url || !fs->root) {
        file_close(&fs->base);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    while (n > 1 && fs->root[n - 1] == '/')
        fs->root[--n] = '\0';
    /* Never created here: a missing root is a typo or a file system that is
     * not mounted, and taking it for an empty repository would answer "not
     * found" for every file (or archive onto the wrong disk). */
    fs->rootfd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fs->rootfd < 0 && errno == ENOENT) {
        ws_err_set(err, WS_ERR_NOREPO,
                   "repository directory %s does not exist (not mounted?); walship never creates it: make the "
                   "directory to start a new repository",
                   fs->root);
        file_close(&fs->base);
        return -1;
    }
    if (fs->rootfd < 0) {
        ws_err_sys(err, errno, "open repository directory %s", fs->root);
        file_close(&fs->base);
        return -1;
    }
    *out = &fs->base;
    return 0;
}

const ws_storage_driver ws_storage_file_driver = {
    .scheme = "file",
    .url_valid = file_url_valid,
    .open = file_open,
};
