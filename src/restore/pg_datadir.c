/* pg_datadir.c - facts from the PostgreSQL data directory (see pg_datadir.h). */
#include "walship/pg_datadir.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/localfile.h"

static bool exists_in(const char *dir, const char *name)
{
    char path[4096];

    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

ws_recovery_mode ws_pg_datadir_recovery_mode(const char *datadir)
{
    if (exists_in(datadir, "standby.signal"))
        return WS_RECOVERY_STANDBY;
    if (exists_in(datadir, "recovery.signal"))
        return WS_RECOVERY_ARCHIVE;
    return WS_RECOVERY_NONE;
}

int ws_pg_datadir_sysid(const char *datadir, uint64_t *sysid, ws_err *err)
{
    char path[4096];
    uint64_t v;
    size_t got = 0;
    int fd, rc;

    snprintf(path, sizeof path, "%s/global/pg_control", datadir);
    fd = ws_localfile_open(path, 0, NULL, err);
    if (fd < 0)
        return -1;
    rc = ws_localfile_pread(fd, &v, sizeof v, 0, &got, path, err);
    close(fd);
    if (rc < 0)
        return -1;
    if (got != sizeof v)
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is too short", path);
    if (v == 0)
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" has no system identifier", path);
    *sysid = v;
    return 0;
}

pid_t ws_pg_datadir_postmaster_pid(const char *datadir)
{
    char path[4096], *buf;
    size_t len;
    long v = 0;
    ws_err e;

    snprintf(path, sizeof path, "%s/postmaster.pid", datadir);
    if (ws_localfile_read(path, 4096, 0, &buf, &len, &e) != 1)
        return 0;
    v = strtol(buf, NULL, 10);
    free(buf);
    return v > 1 ? (pid_t) v : 0;
}

int ws_pg_datadir_startup_process(const char *datadir, ws_proc_id *out, ws_err *err)
{
    pid_t pm = ws_pg_datadir_postmaster_pid(datadir), cur = getppid();

    if (pm == 0)
        return 0;
    /* A few levels: sh -c, maybe a wrapper script, then the startup process. */
    for (int depth = 0; depth < 16 && cur > 1; depth++) {
        pid_t parent;
        unsigned long long start;

        if (ws_proc_read(cur, &parent, &start, err) < 0)
            return err->code == WS_ERR_NOTFOUND ? 0 : -1;
        if (parent == pm) {
            out->pid = cur;
            out->start = start;
            return 1;
        }
        cur = parent;
    }
    return 0;
}
