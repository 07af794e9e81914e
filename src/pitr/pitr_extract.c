/* pitr_extract.c - backup objects into directories, safely (pitr_extract.h). */
#include "walship/pitr_extract.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walship/buf.h"
#include "walship/codec.h"
#include "walship/tar_reader.h"

#define READ_BLOCK (256 * 1024)

/* ------------------------------------------------------------------------ */
/* Paths.                                                                     */

/* A member's path made relative and checked: no absolute path, no "." or
 * ".." component, no empty one (a trailing '/' of a directory aside). */
static int safe_rel(const char *archive, const char *path, char *out, size_t outlen, ws_err *err)
{
    const char *p = path;
    size_t n;

    while (strncmp(p, "./", 2) == 0)
        p += 2;
    if (path[0] == '/')
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: member \"%.200s\" has an absolute path: refused", archive, path);
    n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0 || n >= outlen)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: member \"%.200s\" has an empty or overlong path: refused", archive,
                          path);
    memcpy(out, p, n);
    out[n] = '\0';
    for (char *c = out;;) {
        char *slash = strchr(c, '/');
        size_t len = slash ? (size_t) (slash - c) : strlen(c);

        if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
            return ws_err_set(err, WS_ERR_CORRUPT,
                              "%s: member \"%.200s\" has a \"%.*s\" component: a path that could leave the "
                              "directory is refused",
                              archive, path, (int) len, c);
        if (!slash)
            break;
        c = slash + 1;
    }
    return 0;
}

/* Whether a relative link target, from the link's directory, stays inside. */
static bool link_inside(const char *rel, const char *target)
{
    int depth = 0;
    const char *c;

    if (!*target || target[0] == '/')
        return false;
    for (c = rel; (c = strchr(c, '/')); c++)
        depth++;
    for (c = target; *c;) {
        const char *slash = strchr(c, '/');
        size_t len = slash ? (size_t) (slash - c) : strlen(c);

        if (len == 2 && c[0] == '.' && c[1] == '.') {
            if (--depth < 0)
                return false;
        } else if (len > 0 && !(len == 1 && c[0] == '.'))
            depth++;
        if (!slash)
            break;
        c = slash + 1;
    }
    return true;
}

/* Opens the directory holding rel's last component below root_fd, making
 * the missing ones (0700), never through a link (but pg_wal at the top when
 * follow_wal); *last points into rel at the last component. */
static int open_parent(const ws_pitr_root *root, int root_fd, const char *rel, bool make, const char **last,
                       ws_err *err)
{
    char comp[NAME_MAX + 1];
    const char *c = rel;
    int fd = dup(root_fd);

    if (fd < 0)
        return ws_err_sys(err, errno, "dup");
    for (;;) {
        const char *slash = strchr(c, '/');
        size_t len;
        int next, flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;

        if (!slash) {
            *last = c;
            return fd;
        }
        len = (size_t) (slash - c);
        if (len > NAME_MAX) {
            close(fd);
            return ws_err_set(err, WS_ERR_CORRUPT, "%s/%s: a path component is too long", root->path, rel);
        }
        memcpy(comp, c, len);
        comp[len] = '\0';
        if (!(c == rel && root->follow_pg_wal && strcmp(comp, "pg_wal") == 0))
            flags |= O_NOFOLLOW;
        next = openat(fd, comp, flags);
        if (next < 0 && errno == ENOENT && make) {
            if (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST) {
                int e = errno;

                close(fd);
                return ws_err_sys(err, e, "cannot make directory %s/%.*s", root->path, (int) (slash - rel), rel);
            }
            if (root->chown)
                (void) fchownat(fd, comp, root->uid, root->gid, AT_SYMLINK_NOFOLLOW);
            next = openat(fd, comp, flags);
        }
        if (next < 0) {
            int e = errno;

            close(fd);
            if (e == ELOOP || e == ENOTDIR)
                return ws_err_set(err, WS_ERR_CORRUPT,
                                  "%s/%.*s is a symbolic link or not a directory: nothing is written through it",
                                  root->path, (int) (slash - rel), rel);
            return ws_err_sys(err, e, "cannot open directory %s/%.*s", root->path, (int) (slash - rel), rel);
        }
        close(fd);
        fd = next;
        c = slash + 1;
    }
}

/* ------------------------------------------------------------------------ */
/* The shared state of an extraction.                                         */

typedef struct job {
    size_t root, obj;
} job;

typedef struct extraction {
    const ws_pitr_root *roots;
    size_t nroots;
    int *root_fd;
    job *jobs;
    size_t njobs;
    pthread_mutex_t mu; /* files, counters, progress */
    ws_pitr_extracted *out;
    size_t files_cap;
    uint64_t total;
    atomic_uint_fast64_t done;
    ws_pitr_progress_fn progress;
    void *progress_arg;
} extraction;

static int add_file(extraction *ex, size_t root, const char *rel, uint64_t size, bool hashed,
                    const uint8_t sha[WS_SHA256_LEN], ws_err *err)
{
    const ws_pitr_root *r = &ex->roots[root];
    ws_pitr_extracted *x = ex->out;
    void *v;
    char *path, *relc;
    int rc = 0;

    if (asprintf(&path, "%s%s", r->prefix, rel) < 0)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    relc = strdup(rel);
    if (!relc) {
        free(path);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&ex->mu);
    v = x->files;
    if (ws_buf_grow_array(&v, &ex->files_cap, x->nfiles + 1, sizeof *x->files, err) < 0) {
        rc = -1;
        free(path);
        free(relc);
    } else {
        ws_pitr_file *f;

        x->files = v;
        f = &x->files[x->nfiles++];
        memset(f, 0, sizeof *f);
        f->path = path;
        f->root = root;
        f->rel = relc;
        f->size = size;
        f->hashed = hashed;
        if (hashed)
            memcpy(f->sha256, sha, WS_SHA256_LEN);
    }
    pthread_mutex_unlock(&ex->mu);
    return rc;
}

static void count(extraction *ex, uint64_t n, bool dir, bool link)
{
    pthread_mutex_lock(&ex->mu);
    ex->out->dirs += dir;
    ex->out->links += link;
    (void) n;
    pthread_mutex_unlock(&ex->mu);
}

static void progressed(extraction *ex, uint64_t n)
{
    uint64_t done = atomic_fetch_add(&ex->done, n) + n;

    if (ex->progress) {
        pthread_mutex_lock(&ex->mu);
        ex->progress(ex->progress_arg, done, ex->total);
        pthread_mutex_unlock(&ex->mu);
    }
}

/* ------------------------------------------------------------------------ */
/* One object.                                                                */

typedef struct obj_state {
    extraction *ex;
    size_t root;
    const ws_backup_object *ob;
    const volatile bool *stop;
    int fd; /* the file being written, or -1 */
    char rel[WS_TAR_PATH_MAX + 1];
    uint64_t off; /* where the next data byte goes */
    uint64_t size;
    bool continued;  /* the member began in an earlier object */
    EVP_MD_CTX *sha; /* hashing the whole member, when it is all here */
} obj_state;

static const char *base_name(const char *rel)
{
    const char *s = strrchr(rel, '/');

    return s ? s + 1 : rel;
}

static int close_file(obj_state *os, bool complete, ws_err *err)
{
    int rc = 0;

    if (os->fd < 0)
        return 0;
    if (fsync(os->fd) < 0)
        rc = ws_err_sys(err, errno, "cannot fsync %s/%s", os->ex->roots[os->root].path, os->rel);
    close(os->fd);
    os->fd = -1;
    if (rc == 0) {
        uint8_t sha[WS_SHA256_LEN];
        unsigned len = 0;
        bool whole = complete && !os->continued && os->sha && EVP_DigestFinal_ex(os->sha, sha, &len) == 1;

        /* A member written by several objects is recorded by the one that
         * wrote its header (read back for its digest). */
        if (!os->continued)
            rc = add_file(os->ex, os->root, os->rel, os->size, whole, sha, err);
    }
    return rc;
}

static int on_member(void *arg, const ws_tar_member *m, ws_err *err)
{
    obj_state *os = arg;
    const ws_pitr_root *r = &os->ex->roots[os->root];
    int root_fd = os->ex->root_fd[os->root], dfd, rc = 0;
    const char *last;
    const char *archive = os->ob->key;

    if (*os->stop)
        return ws_err_set(err, WS_ERR_INTERNAL, "stopped: another object failed");
    if (safe_rel(archive, m->path, os->rel, sizeof os->rel, err) < 0)
        return -1;
    if (!r->archive->tablespace && strncmp(os->rel, "pg_tblspc/", 10) == 0)
        return ws_err_set(err, WS_ERR_CORRUPT,
                          "%s: member \"%.200s\": entries under pg_tblspc/ are refused (tablespace links come only "
                          "from the catalog and --tablespace-map)",
                          archive, m->path);
    if (m->type != '0' && m->type != '5' && m->type != '2')
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: member \"%.200s\" is a %s: refused", archive, m->path,
                          m->type == '1' ? "hard link" : "special file (device, FIFO, or unknown type)");
    os->fd = -1;
    os->continued = m->continued;
    os->size = m->size;
    os->off = m->continued ? m->offset : 0;
    if (!r->archive->tablespace && m->type == '0' && strchr(os->rel, '/') == NULL &&
        (strcmp(os->rel, "postmaster.pid") == 0 || strcmp(os->rel, "standby.signal") == 0)) {
        /* Not restored: a stale lock file, and this is a recovery, not a standby. */
        pthread_mutex_lock(&os->ex->mu);
        os->ex->out->skipped++;
        pthread_mutex_unlock(&os->ex->mu);
        os->rel[0] = '\0';
        return 0;
    }
    dfd = open_parent(r, root_fd, os->rel, true, &last, err);
    if (dfd < 0)
        return ws_err_prefix(err, "%s: member \"%.200s\"", archive, m->path);
    if (m->type == '5') {
        struct stat st;

        /* The data directory's pg_wal link, kept by --force, stands for pg_wal/. */
        int nofollow = r->follow_pg_wal && strcmp(os->rel, "pg_wal") == 0 ? 0 : AT_SYMLINK_NOFOLLOW;

        if (mkdirat(dfd, last, 0700) < 0 && errno != EEXIST)
            rc = ws_err_sys(err, errno, "cannot make directory %s/%s", r->path, os->rel);
        else if (fstatat(dfd, last, &st, nofollow) < 0 || !S_ISDIR(st.st_mode))
            rc = ws_err_set(err, WS_ERR_CORRUPT, "%s: member \"%.200s\": %s/%s exists and is not a directory", archive,
                            m->path, r->path, os->rel);
        else {
            if (r->chown)
                (void) fchownat(dfd, last, r->uid, r->gid, AT_SYMLINK_NOFOLLOW);
            count(os->ex, 0, true, false);
        }
        os->rel[0] = '\0';
    } else if (m->type == '2') {
        if (!link_inside(os->rel, m->link))
            rc = ws_err_set(err, WS_ERR_CORRUPT,
                            "%s: member \"%.200s\" is a symbolic link to \"%.200s\", outside the directory: refused",
                            archive, m->path, m->link);
        else if (symlinkat(m->link, dfd, last) < 0)
            rc = ws_err_sys(err, errno, "cannot make the link %s/%s", r->path, os->rel);
        else {
            if (r->chown)
                (void) fchownat(dfd, last, r->uid, r->gid, AT_SYMLINK_NOFOLLOW);
            count(os->ex, 0, false, true);
        }
        os->rel[0] = '\0';
    } else {
        os->fd = openat(dfd, last, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (os->fd < 0)
            rc = errno == ELOOP ? ws_err_set(err, WS_ERR_CORRUPT,
                                             "%s: member \"%.200s\": %s/%s is a symbolic link: nothing is written "
                                             "through it",
                                             archive, m->path, r->path, os->rel)
                                : ws_err_sys(err, errno, "cannot create %s/%s", r->path, os->rel);
        else if (fchmod(os->fd, 0600) < 0 || (r->chown && fchown(os->fd, r->uid, r->gid) < 0) ||
                 ftruncate(os->fd, (off_t) m->size) < 0)
            rc = ws_err_sys(err, errno, "cannot set up %s/%s", r->path, os->rel);
        if (rc == 0 && !m->continued) {
            if (!os->sha && !(os->sha = EVP_MD_CTX_new()))
                rc = ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            else if (EVP_DigestInit_ex(os->sha, EVP_sha256(), NULL) != 1)
                rc = ws_err_set(err, WS_ERR_INTERNAL, "SHA-256 initialisation failed");
        }
        (void) base_name;
    }
    close(dfd);
    return rc;
}

static int on_data(void *arg, const uint8_t *buf, size_t len, ws_err *err)
{
    obj_state *os = arg;

    if (*os->stop)
        return ws_err_set(err, WS_ERR_INTERNAL, "stopped: another object failed");
    if (os->fd >= 0) {
        size_t done = 0;

        while (done < len) {
            ssize_t n = pwrite(os->fd, buf + done, len - done, (off_t) (os->off + done));

            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return ws_err_sys(err, n < 0 ? errno : EIO, "cannot write %s/%s", os->ex->roots[os->root].path,
                                  os->rel);
            done += (size_t) n;
        }
        if (!os->continued && EVP_DigestUpdate(os->sha, buf, len) != 1)
            return ws_err_set(err, WS_ERR_INTERNAL, "SHA-256 failed");
    }
    os->off += len;
    progressed(os->ex, len);
    return 0;
}

static int on_member_end(void *arg, ws_err *err)
{
    return close_file(arg, true, err);
}

static int extract_object(void *arg, ws_repo *repo, size_t j, const volatile bool *stop, ws_err *err)
{
    extraction *ex = arg;
    const job *jb = &ex->jobs[j];
    const ws_backup_archive *ar = ex->roots[jb->root].archive;
    const ws_backup_object *ob = &ar->objects[jb->obj];
    static const ws_tar_reader_ops ops = {on_member, on_data, on_member_end};
    obj_state os = {.ex = ex, .root = jb->root, .ob = ob, .stop = stop, .fd = -1};
    ws_sink *tar = ws_tar_reader_new(ob->key, &ops, &os, err);
    ws_digest d;
    const char *path;
    uint64_t done;
    int rc = -1;

    if (!tar)
        return -1;
    if (ob->continued && ws_tar_reader_begin_inside(tar, ob->member_path, ob->member_size, ob->member_offset, err) < 0)
        goto out;
    if (ws_repo_get_sink(repo, ob->key, tar, &d, err) < 0)
        goto out;
    if (d.size != ob->size || memcmp(d.sha256, ob->sha256, WS_SHA256_LEN) != 0) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s decodes to other content than the backup's record says", ob->key);
        goto out;
    }
    if (ws_tar_reader_position(tar, &path, &done)) {
        const ws_backup_object *next = jb->obj + 1 < ar->nobjects ? &ar->objects[jb->obj + 1] : NULL;

        if (!next || !next->continued || strcmp(next->member_path, path) != 0 || next->member_offset != done) {
            ws_err_set(err, WS_ERR_CORRUPT,
                       "%s ends inside member \"%.200s\" (after %" PRIu64 " bytes) but no object continues it", ob->key,
                       path, done);
            goto out;
        }
        /* The rest comes with the next object. */
        if (close_file(&os, false, err) < 0)
            goto out;
    } else if (jb->obj + 1 == ar->nobjects && !ws_tar_reader_ended(tar)) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: archive %s has no end-of-archive marker: it is truncated", ob->key,
                   ar->name);
        goto out;
    }
    pthread_mutex_lock(&ex->mu);
    ex->out->stored_bytes += ob->stored_size;
    ex->out->tar_bytes += ob->size;
    pthread_mutex_unlock(&ex->mu);
    rc = 0;
out:
    if (os.fd >= 0)
        close(os.fd);
    EVP_MD_CTX_free(os.sha);
    ws_sink_free(tar);
    return rc;
}

/* ------------------------------------------------------------------------ */

void ws_pitr_extracted_free(ws_pitr_extracted *x)
{
    for (size_t i = 0; i < x->nfiles; i++) {
        free(x->files[i].path);
        free(x->files[i].rel);
    }
    free(x->files);
    memset(x, 0, sizeof *x);
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const ws_pitr_file *) a)->path, ((const ws_pitr_file *) b)->path);
}

const ws_pitr_file *ws_pitr_extracted_find(const ws_pitr_extracted *x, const char *path)
{
    ws_pitr_file key = {.path = (char *) (uintptr_t) path};

    return x->nfiles ? bsearch(&key, x->files, x->nfiles, sizeof *x->files, cmp_file) : NULL;
}

int ws_pitr_file_digest(const ws_pitr_root *root, const char *rel, uint64_t *size, uint8_t sha[WS_SHA256_LEN],
                        ws_err *err)
{
    int rfd = open(root->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), dfd, fd;
    const char *last;
    EVP_MD_CTX *ctx = NULL;
    uint8_t *buf = NULL;
    unsigned len;
    int rc = -1;

    *size = 0;
    if (rfd < 0)
        return ws_err_sys(err, errno, "cannot open %s", root->path);
    dfd = open_parent(root, rfd, rel, false, &last, err);
    close(rfd);
    if (dfd < 0)
        return -1;
    fd = openat(dfd, last, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (fd < 0)
        return ws_err_sys(err, errno, "cannot read %s/%s", root->path, rel);
    buf = malloc(READ_BLOCK);
    ctx = EVP_MD_CTX_new();
    if (!buf || !ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf, READ_BLOCK);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ws_err_sys(err, errno, "cannot read %s/%s", root->path, rel);
            goto out;
        }
        if (n == 0)
            break;
        *size += (uint64_t) n;
        if (EVP_DigestUpdate(ctx, buf, (size_t) n) != 1)
            goto out;
    }
    if (EVP_DigestFinal_ex(ctx, sha, &len) == 1)
        rc = 0;
out:
    close(fd);
    free(buf);
    EVP_MD_CTX_free(ctx);
    return rc;
}

int ws_pitr_extract(ws_pitr_archive *a, const ws_pitr_root *roots, size_t nroots, ws_pitr_progress_fn progress,
                    void *progress_arg, ws_pitr_extracted *out, ws_err *err)
{
    extraction ex = {.roots = roots, .nroots = nroots, .out = out, .progress = progress, .progress_arg = progress_arg};
    size_t n = 0;
    int rc = -1;

    memset(out, 0, sizeof *out);
    atomic_init(&ex.done, 0);
    pthread_mutex_init(&ex.mu, NULL);
    ex.root_fd = malloc((nroots ? nroots : 1) * sizeof *ex.root_fd);
    for (size_t i = 0; i < nroots; i++)
        n += roots[i].archive->nobjects;
    ex.jobs = malloc((n ? n : 1) * sizeof *ex.jobs);
    if (!ex.root_fd || !ex.jobs) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nroots; i++)
        ex.root_fd[i] = -1;
    for (size_t i = 0; i < nroots; i++) {
        ex.root_fd[i] = open(roots[i].path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (ex.root_fd[i] < 0) {
            ws_err_sys(err, errno, "cannot open %s", roots[i].path);
            goto out;
        }
        ex.total += roots[i].archive->tar_size;
    }
    /* Largest objects first: the last worker to finish starts early. */
    for (size_t i = 0; i < nroots; i++)
        for (size_t k = 0; k < roots[i].archive->nobjects; k++)
            ex.jobs[ex.njobs++] = (job){.root = i, .obj = k};
    for (size_t i = 1; i < ex.njobs; i++)
        for (size_t k = i; k > 0; k--) {
            const ws_backup_object *x = &roots[ex.jobs[k].root].archive->objects[ex.jobs[k].obj];
            const ws_backup_object *y = &roots[ex.jobs[k - 1].root].archive->objects[ex.jobs[k - 1].obj];
            job t;

            if (x->size <= y->size)
                break;
            t = ex.jobs[k];
            ex.jobs[k] = ex.jobs[k - 1];
            ex.jobs[k - 1] = t;
        }
    if (ws_pitr_archive_parallel(a, ex.njobs, extract_object, &ex, err) < 0)
        goto out;
    if (out->nfiles > 1)
        qsort(out->files, out->nfiles, sizeof *out->files, cmp_file);
    for (size_t i = 1; i < out->nfiles; i++)
        if (strcmp(out->files[i].path, out->files[i - 1].path) == 0) {
            ws_err_set(err, WS_ERR_CORRUPT, "the backup's archives hold \"%.200s\" twice", out->files[i].path);
            goto out;
        }
    /* Files written by several objects: their digest from the disk. */
    for (size_t i = 0; i < out->nfiles; i++) {
        ws_pitr_file *f = &out->files[i];
        uint64_t size;

        if (f->hashed)
            continue;
        if (ws_pitr_file_digest(&roots[f->root], f->rel, &size, f->sha256, err) < 0)
            goto out;
        f->size = size;
        f->hashed = true;
    }
    rc = 0;
out:
    for (size_t i = 0; ex.root_fd && i < nroots; i++)
        if (ex.root_fd[i] >= 0)
            close(ex.root_fd[i]);
    free(ex.root_fd);
    free(ex.jobs);
    pthread_mutex_destroy(&ex.mu);
    return rc;
}

static int fsync_dir_tree(int dfd, const char *what, ws_err *err)
{
    int fd2 = dup(dfd);
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (fd2 < 0 || !(d = fdopendir(fd2))) {
        if (fd2 >= 0)
            close(fd2);
        return ws_err_sys(err, errno, "cannot read directory %s", what);
    }
    while (rc == 0 && (e = readdir(d))) {
        int sub;
        char sub_what[PATH_MAX];

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
            (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN))
            continue;
        sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue; /* not a directory (DT_UNKNOWN), or a link */
        snprintf(sub_what, sizeof sub_what, "%s/%s", what, e->d_name);
        rc = fsync_dir_tree(sub, sub_what, err);
        close(sub);
    }
    closedir(d);
    if (rc == 0 && fsync(dfd) < 0)
        rc = ws_err_sys(err, errno, "cannot fsync directory %s", what);
    return rc;
}

int ws_pitr_extract_fsync_dirs(const char *path, bool follow_pg_wal, ws_err *err)
{
    int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

    if (dfd < 0)
        return ws_err_sys(err, errno, "cannot open %s", path);
    rc = fsync_dir_tree(dfd, path, err);
    if (rc == 0 && follow_pg_wal) {
        int w = openat(dfd, "pg_wal", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (w >= 0) {
            rc = fsync_dir_tree(w, "pg_wal", err);
            close(w);
        }
    }
    close(dfd);
    return rc;
}
