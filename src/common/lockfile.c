/* lockfile.c - flock() with a deadline (see lockfile.h). */
#include "walship/lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walship/clock.h"

#define PAUSE_FIRST 0.001
#define PAUSE_MAX   0.050

int ws_lockfile_flock(int fd, bool exclusive, double timeout, const char *what, ws_err *err)
{
    double deadline = ws_clock_now() + timeout, pause = PAUSE_FIRST;

    while (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return ws_err_sys(err, errno, "could not lock \"%s\"", what);
        if (ws_clock_now() >= deadline)
            return 0;
        ws_clock_sleep(pause);
        if (pause < PAUSE_MAX)
            pause *= 2;
    }
    return 1;
}

int ws_lockfile_take(const char *path, bool exclusive, bool create, double timeout, int *fd_out, ws_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), WS_LOCKFILE_MODE);
    int rc;

    *fd_out = -1;
    if (fd < 0) {
        if (errno == ENOENT && !create)
            return 0;
        if (errno == ENOENT)
            return ws_err_set(err, WS_ERR_NOTFOUND, "could not create lock file \"%s\": its directory is missing",
                              path);
        return ws_err_sys(err, errno, "could not open lock file \"%s\"", path);
    }
    rc = ws_lockfile_flock(fd, exclusive, timeout, path, err);
    if (rc <= 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 1;
}

bool ws_lockfile_still_at(int fd, const char *path)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

void ws_lockfile_release(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

unsigned ws_lockfile_slot(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t) *p) * 16777619u;
    return h % WS_LOCKFILE_SLOTS;
}

int ws_lockfile_slot_path(const char *dir, const char *name, char *out, size_t outlen, ws_err *err)
{
    int n = snprintf(out, outlen, "%s/lock-%02x", dir, ws_lockfile_slot(name));

    if (n < 0 || (size_t) n >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "%s: lock file path too long", dir);
    return 0;
}
