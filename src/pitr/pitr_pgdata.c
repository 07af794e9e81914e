/* pitr_pgdata.c - the directories a restore writes into (pitr_pgdata.h). */
#include "walship/pitr_pgdata.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walship/buf.h"
#include "walship/pg_datadir.h"

void ws_pitr_dir_free(ws_pitr_dir *d)
{
    free(d->path);
    free(d->wal_target);
    memset(d, 0, sizeof *d);
}

/* The names in the directory open as dfd (without "." and ".."). */
static int list_names(int dfd, const char *what, char ***names, size_t *n, ws_err *err)
{
    int fd2 = dup(dfd);
    DIR *d;
    struct dirent *e;
    size_t cap = 0;
    void *v = NULL;

    *names = NULL;
    *n = 0;
    if (fd2 < 0 || !(d = fdopendir(fd2))) {
        if (fd2 >= 0)
            close(fd2);
        return ws_err_sys(err, errno, "cannot read directory %s", what);
    }
    rewinddir(d);
    while ((errno = 0, e = readdir(d))) {
        char *name;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (ws_buf_grow_array(&v, &cap, *n + 1, sizeof **names, err) < 0 || !(name = strdup(e->d_name))) {
            if (v)
                *names = v;
            closedir(d);
            return err->code ? -1 : ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        }
        *names = v;
        (*names)[(*n)++] = name;
    }
    if (errno) {
        int e2 = errno;

        closedir(d);
        return ws_err_sys(err, e2, "cannot read directory %s", what);
    }
    closedir(d);
    return 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Removes everything inside the directory open as dfd, never following a
 * symbolic link (a link is removed, not what it points to). */
static int empty_dir(int dfd, const char *what, unsigned long *removed, ws_err *err)
{
    char **names;
    size_t n;
    int rc = list_names(dfd, what, &names, &n, err);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct stat st;
        char sub_what[PATH_MAX];

        snprintf(sub_what, sizeof sub_what, "%s/%s", what, names[i]);
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = ws_err_sys(err, errno, "cannot stat %s", sub_what);
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            int sub = openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

            if (sub < 0) {
                rc = ws_err_sys(err, errno, "cannot open %s", sub_what);
                break;
            }
            rc = empty_dir(sub, sub_what, removed, err);
            close(sub);
            if (rc == 0 && unlinkat(dfd, names[i], AT_REMOVEDIR) < 0)
                rc = ws_err_sys(err, errno, "cannot remove %s", sub_what);
        } else if (unlinkat(dfd, names[i], 0) < 0)
            rc = ws_err_sys(err, errno, "cannot remove %s", sub_what);
        if (rc == 0 && removed)
            (*removed)++;
    }
    free_names(names, n);
    return rc;
}

/* 1 empty, 0 not (first entry in *first), -1 error (ENOENT: errno). */
static int is_empty(const char *path, char *first, size_t len)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int rc = 1;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(first, len, "%s", e->d_name);
            rc = 0;
            break;
        }
    closedir(d);
    return rc;
}

static int check_running(const char *path, ws_err *err)
{
    pid_t pid = ws_pg_datadir_postmaster_pid(path);
    pid_t parent;
    unsigned long long start;
    ws_err e;

    if (pid > 0 && ws_proc_read(pid, &parent, &start, &e) == 0)
        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: a server is running there (postmaster.pid names process %d, which is alive): stop it "
                          "first; pitr-restore never writes into a running server's data directory",
                          path, (int) pid);
    return 0;
}

static int common_check(const char *path, bool force, bool *exists, ws_err *err)
{
    struct stat st;
    char first[NAME_MAX + 1];
    int rc;

    *exists = false;
    if (path[0] != '/')
        return ws_err_set(err, WS_ERR_INVALID, "--pgdata %s: give an absolute path", path);
    if (stat(path, &st) < 0) {
        if (errno == ENOENT)
            return 1;
        return ws_err_sys(err, errno, "--pgdata %s", path);
    }
    if (!S_ISDIR(st.st_mode))
        return ws_err_set(err, WS_ERR_INVALID, "--pgdata %s exists and is not a directory", path);
    *exists = true;
    if (check_running(path, err) < 0)
        return 0;
    rc = is_empty(path, first, sizeof first);
    if (rc < 0)
        return ws_err_sys(err, errno, "cannot read --pgdata %s", path);
    if (rc == 0 && !force)
        return ws_err_set(err, WS_ERR_INVALID,
                          "--pgdata %s is not empty (it holds \"%s\"): give an empty or new directory, or --force to "
                          "empty it",
                          path, first);
    return 1;
}

int ws_pitr_pgdata_check(const char *path, bool force, ws_err *err)
{
    bool exists;

    return common_check(path, force, &exists, err);
}

int ws_pitr_pgdata_prepare(const char *path, bool force, ws_pitr_dir *out, unsigned long *removed, ws_err *err)
{
    bool exists;
    int rc = common_check(path, force, &exists, err), dfd;
    struct stat st;

    memset(out, 0, sizeof *out);
    if (removed)
        *removed = 0;
    if (rc <= 0)
        return -1;
    if (!exists && mkdir(path, 0700) < 0)
        return ws_err_sys(err, errno, "cannot make --pgdata %s", path);
    out->path = strdup(path);
    if (!out->path)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    out->existed = exists;
    dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fstat(dfd, &st) < 0) {
        rc = ws_err_sys(err, errno, "cannot open --pgdata %s", path);
        if (dfd >= 0)
            close(dfd);
        return rc;
    }
    out->uid = st.st_uid;
    out->gid = st.st_gid;
    rc = 0;
    if (exists && force) {
        struct stat ws;

        /* pg_wal may be a link to another disk: keep the link, empty what
         * it points to. */
        if (fstatat(dfd, "pg_wal", &ws, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(ws.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(dfd, "pg_wal", target, sizeof target - 1);
            int wfd;

            if (n < 0) {
                rc = ws_err_sys(err, errno, "cannot read the link %s/pg_wal", path);
                goto out;
            }
            target[n] = '\0';
            wfd = openat(dfd, "pg_wal", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (wfd < 0) {
                rc = ws_err_sys(err, errno, "%s/pg_wal links to %s, which cannot be opened", path, target);
                goto out;
            }
            rc = empty_dir(wfd, target, removed, err);
            close(wfd);
            if (rc < 0)
                goto out;
            out->wal_link = true;
            out->wal_target = strdup(target);
            if (!out->wal_target) {
                rc = ws_err_set(err, WS_ERR_NOMEM, "out of memory");
                goto out;
            }
            /* Everything but the link. */
            if (unlinkat(dfd, "pg_wal", 0) < 0 || (rc = empty_dir(dfd, path, removed, err)) < 0 ||
                symlinkat(target, dfd, "pg_wal") < 0) {
                if (rc == 0)
                    rc = ws_err_sys(err, errno, "cannot keep the link %s/pg_wal -> %s", path, target);
                goto out;
            }
        } else if ((rc = empty_dir(dfd, path, removed, err)) < 0)
            goto out;
        out->emptied = true;
    }
    if (fchmod(dfd, 0700) < 0)
        rc = ws_err_sys(err, errno, "cannot set the mode of %s to 0700", path);
out:
    close(dfd);
    return rc;
}

/* Whether every entry of the directory is PG_<digits>_<digits>. */
static bool only_version_dirs(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    bool ok = true;

    if (!d)
        return false;
    while (ok && (e = readdir(d))) {
        unsigned a, b;
        int n = 0;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        ok = sscanf(e->d_name, "PG_%u_%u%n", &a, &b, &n) == 2 && e->d_name[n] == '\0';
    }
    closedir(d);
    return ok;
}

static int ts_check(const char *path, bool force, bool *exists, bool *must_empty, ws_err *err)
{
    struct stat st;
    char first[NAME_MAX + 1];
    int rc;

    *exists = *must_empty = false;
    if (path[0] != '/')
        return ws_err_set(err, WS_ERR_INVALID, "tablespace directory %s: give an absolute path", path);
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT)
            return 1;
        return ws_err_sys(err, errno, "tablespace directory %s", path);
    }
    if (!S_ISDIR(st.st_mode))
        return ws_err_set(err, WS_ERR_INVALID, "tablespace directory %s exists and is not a directory", path);
    *exists = true;
    rc = is_empty(path, first, sizeof first);
    if (rc < 0)
        return ws_err_sys(err, errno, "cannot read tablespace directory %s", path);
    if (rc == 1)
        return 1;
    if (force && only_version_dirs(path)) {
        *must_empty = true;
        return 1;
    }
    return ws_err_set(err, WS_ERR_INVALID, "tablespace directory %s is not empty (it holds \"%s\")%s", path, first,
                      force ? ": --force empties a tablespace directory only when all it holds is PG_* version "
                              "directories of an earlier restore"
                            : "");
}

int ws_pitr_pgdata_tsdir_check(const char *path, bool force, ws_err *err)
{
    bool exists, must_empty;

    return ts_check(path, force, &exists, &must_empty, err);
}

/* mkdir -p with mode 0700 for the directories it makes. */
static int make_dirs(const char *path, ws_err *err)
{
    char buf[PATH_MAX];
    size_t n = strlen(path);

    if (n >= sizeof buf)
        return ws_err_set(err, WS_ERR_INVALID, "path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;

            *p = '\0';
            if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return ws_err_sys(err, errno, "cannot make directory %s", buf);
            *p = c;
            if (!c)
                break;
        }
    }
    return 0;
}

int ws_pitr_pgdata_tsdir_prepare(const char *path, bool force, const ws_pitr_dir *owner_of, ws_pitr_dir *out,
                                 ws_err *err)
{
    bool exists, must_empty;
    int rc = ts_check(path, force, &exists, &must_empty, err);

    memset(out, 0, sizeof *out);
    if (rc <= 0)
        return -1;
    out->path = strdup(path);
    if (!out->path)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    out->existed = exists;
    out->uid = owner_of->uid;
    out->gid = owner_of->gid;
    if (!exists) {
        if (make_dirs(path, err) < 0)
            return -1;
        if (geteuid() == 0 && chown(path, out->uid, out->gid) < 0)
            return ws_err_sys(err, errno, "cannot give %s to the data directory's owner", path);
    } else if (must_empty) {
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

        if (dfd < 0)
            return ws_err_sys(err, errno, "cannot open %s", path);
        rc = empty_dir(dfd, path, NULL, err);
        close(dfd);
        if (rc < 0)
            return -1;
        out->emptied = true;
    }
    if (chmod(path, 0700) < 0)
        return ws_err_sys(err, errno, "cannot set the mode of %s to 0700", path);
    return 0;
}
