/* pg_datadir.c - facts from the PostgreSQL data directory (see pg_datadir.h). */
#include "walship/pg_datadir.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
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

ws_recovery_mode ws_datadir_recovery_mode(const char *datadir)
{
    if (exists_in(datadir, "standby.signal"))
        return WS_RECOVERY_STANDBY;
    if (exists_in(datadir, "recovery.signal"))
        return WS_RECOVERY_ARCHIVE;
    return WS_RECOVERY_NONE;
}

int ws_datadir_sysid(const char *datadir, uint64_t *sysid, ws_err *err)
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

int ws_proc_read(pid_t pid, pid_t *ppid, unsigned long long *start, ws_err *err)
{
    char path[64], state, *buf;
    const char *p;
    unsigned long long field;
    long parent;
    size_t len;
    int rc;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    rc = ws_localfile_read(path, 4096, 0, &buf, &len, err);
    if (rc == 0)
        return ws_err_set(err, WS_ERR_NOTFOUND, "process %d does not exist", (int) pid);
    if (rc < 0)
        return -1;
    /* "pid (comm) state ppid ..."; comm may hold spaces and parentheses. */
    p = strrchr(buf, ')');
    rc = -1;
    if (!p || sscanf(p + 1, " %c %ld", &state, &parent) != 2)
        goto bad;
    if (state == 'Z' || state == 'X') {
        rc = ws_err_set(err, WS_ERR_NOTFOUND, "process %d has exited", (int) pid);
        goto out;
    }
    /* Field 22 (starttime) is the 20th after the closing parenthesis. */
    p++;
    for (int i = 0; i < 19 && p; i++)
        p = strchr(p + 1, ' ');
    if (!p || sscanf(p, " %llu", &field) != 1)
        goto bad;
    if (ppid)
        *ppid = (pid_t) parent;
    if (start)
        *start = field;
    rc = 0;
    goto out;
bad:
    ws_err_set(err, WS_ERR_INTERNAL, "\"%s\": unexpected format", path);
out:
    free(buf);
    return rc;
}

bool ws_proc_alive(const ws_proc_id *p)
{
    unsigned long long start;
    ws_err err;

    if (kill(p->pid, 0) < 0 && errno == ESRCH)
        return false;
    if (ws_proc_read(p->pid, NULL, &start, &err) < 0)
        return false;
    return start == p->start;
}

pid_t ws_datadir_postmaster_pid(const char *datadir)
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

int ws_datadir_startup_process(const char *datadir, ws_proc_id *out, ws_err *err)
{
    pid_t pm = ws_datadir_postmaster_pid(datadir), cur = getppid();

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
