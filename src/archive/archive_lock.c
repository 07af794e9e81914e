/* archive_lock.c - per-name locks in the ack directory (see archive_lock.h). */
#include "walship/archive_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

struct ws_archive_lock {
    int fd;
};

unsigned ws_archive_lock_slot(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t) *p) * 16777619u;
    return h % WS_ARCHIVE_LOCK_FILES;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int ws_archive_lock_name(const char *dir, const char *name, double timeout, ws_archive_lock **out, ws_err *err)
{
    char path[4096];
    double deadline = now_s() + timeout;
    long wait_us = 1000;
    int n = snprintf(path, sizeof path, "%s/lock-%02x", dir, ws_archive_lock_slot(name)), fd;

    *out = NULL;
    if (n < 0 || (size_t) n >= sizeof path)
        return ws_err_set(err, WS_ERR_INVALID, "%s: lock path too long", dir);
    fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ws_err_sys(err, errno, "could not open lock file \"%s\"", path);
    /* Bounded wait: poll with a growing pause rather than block forever. */
    while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int e = errno;

            close(fd);
            return ws_err_sys(err, e, "could not lock \"%s\" for %s", path, name);
        }
        if (now_s() >= deadline) {
            close(fd);
            return 0;
        }
        usleep((useconds_t) wait_us);
        if (wait_us < 50000)
            wait_us *= 2;
    }
    *out = malloc(sizeof **out);
    if (!*out) {
        close(fd);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    (*out)->fd = fd;
    return 1;
}

void ws_archive_unlock(ws_archive_lock *l)
{
    if (!l)
        return;
    close(l->fd); /* releases the flock */
    free(l);
}
