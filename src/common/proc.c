/* proc.c - process facts from /proc (see proc.h). */
#include "walship/proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/localfile.h"

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
