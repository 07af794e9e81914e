/* pg_datadir.c - facts from the PostgreSQL data directory (see pg_datadir.h). */
#include "walship/pg_datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "%s/global/pg_control", datadir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ws_err_sys(err, errno, "could not open \"%s\"", path);
    n = pread(fd, &v, sizeof v, 0);
    close(fd);
    if (n != (ssize_t) sizeof v)
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is too short", path);
    if (v == 0)
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" has no system identifier", path);
    *sysid = v;
    return 0;
}

int ws_proc_read(pid_t pid, pid_t *ppid, unsigned long long *start, ws_err *err)
{
    char path[64], buf[1024], state;
    const char *p;
    unsigned long long field;
    long parent;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return ws_err_set(err, WS_ERR_NOTFOUND, "process %d does not exist", (int) pid);
    if (fd < 0)
        return ws_err_sys(err, errno, "could not open \"%s\"", path);
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return ws_err_set(err, WS_ERR_IO, "could not read \"%s\"", path);
    buf[n] = '\0';
    /* "pid (comm) state ppid ..."; comm may hold spaces and parentheses. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %c %ld", &state, &parent) != 2)
        return ws_err_set(err, WS_ERR_IO, "\"%s\": unexpected format", path);
    if (state == 'Z' || state == 'X')
        return ws_err_set(err, WS_ERR_NOTFOUND, "process %d has exited", (int) pid);
    /* Field 22 (starttime) is the 20th after the closing parenthesis. */
    p++;
    for (int i = 0; i < 19; i++) {
        p = strchr(p + 1, ' ');
        if (!p)
            return ws_err_set(err, WS_ERR_IO, "\"%s\": unexpected format", path);
    }
    if (sscanf(p, " %llu", &field) != 1)
        return ws_err_set(err, WS_ERR_IO, "\"%s\": unexpected format", path);
    if (ppid)
        *ppid = (pid_t) parent;
    if (start)
        *start = field;
    return 0;
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

/* The postmaster's pid: the first line of postmaster.pid; 0 when none. */
static pid_t postmaster_pid(const char *datadir)
{
    char path[4096], line[32];
    FILE *f;
    long v = 0;

    snprintf(path, sizeof path, "%s/postmaster.pid", datadir);
    f = fopen(path, "re");
    if (!f)
        return 0;
    if (fgets(line, sizeof line, f))
        v = strtol(line, NULL, 10);
    fclose(f);
    return v > 1 ? (pid_t) v : 0;
}

int ws_datadir_startup_process(const char *datadir, ws_proc_id *out, ws_err *err)
{
    pid_t pm = postmaster_pid(datadir), cur = getppid();

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
