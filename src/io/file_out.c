/* file_out.c - atomic, durable local file creation (see file_out.h). */
#include "walship/file_out.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/key.h"

struct ws_file_out {
    ws_sink *fd_sink;
    int fd;
    char *path;
    char *tmp;
    bool created;
    bool committed;
};

int ws_fsync_dir(const char *dir, ws_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return ws_err_sys(err, errno, "could not open directory \"%s\"", dir);
    if (fsync(fd) < 0 && errno != EINVAL) {
        int e = errno;

        close(fd);
        return ws_err_sys(err, e, "could not fsync directory \"%s\"", dir);
    }
    close(fd);
    return 0;
}

ws_file_out *ws_file_out_open(const char *path, int mode, ws_err *err)
{
    ws_file_out *f = calloc(1, sizeof *f);
    uint8_t rnd[6];
    char *dup, *dir;
    size_t n;

    if (!f || !(f->path = strdup(path))) {
        free(f);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->fd = -1;
    if (ws_random_bytes(rnd, sizeof rnd, err) < 0)
        goto fail;
    /* Same directory as the target so rename() is atomic. */
    dup = strdup(path);
    dir = dup ? dirname(dup) : NULL;
    n = strlen(path) + 64;
    f->tmp = malloc(n);
    if (!dir || !f->tmp) {
        free(dup);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    {
        const char *base = strrchr(path, '/');

        base = base ? base + 1 : path;
        snprintf(f->tmp, n, "%s/.%s.tmp.%d.%02x%02x%02x%02x%02x%02x", dir, base, (int) getpid(), rnd[0], rnd[1], rnd[2],
                 rnd[3], rnd[4], rnd[5]);
    }
    free(dup);
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (f->fd < 0) {
        ws_err_sys(err, errno, "could not create \"%s\"", f->tmp);
        goto fail;
    }
    f->created = true;
    f->fd_sink = ws_sink_fd_new(f->fd, path);
    if (!f->fd_sink) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    return f;
fail:
    ws_file_out_free(f);
    return NULL;
}

ws_sink *ws_file_out_sink(ws_file_out *f)
{
    return f->fd_sink;
}

int ws_file_out_commit(ws_file_out *f, ws_err *err)
{
    char *dup, *dir;
    int rc;

    if (fsync(f->fd) < 0)
        return ws_err_sys(err, errno, "could not fsync \"%s\"", f->tmp);
    if (close(f->fd) < 0) {
        f->fd = -1;
        return ws_err_sys(err, errno, "could not close \"%s\"", f->tmp);
    }
    f->fd = -1;
    if (rename(f->tmp, f->path) < 0)
        return ws_err_sys(err, errno, "could not rename \"%s\" to \"%s\"", f->tmp, f->path);
    f->committed = true;
    dup = strdup(f->path);
    if (!dup)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    dir = dirname(dup);
    rc = ws_fsync_dir(dir, err);
    free(dup);
    return rc;
}

void ws_file_out_free(ws_file_out *f)
{
    if (!f)
        return;
    if (f->fd >= 0)
        close(f->fd);
    if (f->created && !f->committed)
        unlink(f->tmp);
    ws_sink_free(f->fd_sink);
    free(f->tmp);
    free(f->path);
    free(f);
}
