/* archive_lock.c - per-name locks in the ack directory (see archive_lock.h). */
#include "walship/archive_lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "walship/lockfile.h"

struct ws_archive_lock {
    int fd;
};

int ws_archive_lock_name(const char *dir, const char *name, double timeout, ws_archive_lock **out, ws_err *err)
{
    char path[4096];
    int fd, rc;

    *out = NULL;
    if (ws_lockfile_slot_path(dir, name, path, sizeof path, err) < 0)
        return -1;
    rc = ws_lockfile_take(path, true, true, timeout, &fd, err);
    if (rc <= 0)
        return rc;
    *out = malloc(sizeof **out);
    if (!*out) {
        ws_lockfile_release(fd);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    (*out)->fd = fd;
    return 1;
}

void ws_archive_lock_release(ws_archive_lock *l)
{
    if (!l)
        return;
    ws_lockfile_release(l->fd);
    free(l);
}
