/* archive_queue.c - reading pg_wal/archive_status (see archive_queue.h). */
#include "walship/archive_queue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define READY_SUFFIX ".ready"

int ws_archive_queue_order(const ws_ready *a, const ws_ready *b)
{
    if (a->history != b->history)
        return a->history ? -1 : 1;
    return strcmp(a->name, b->name);
}

static int order_cb(const void *a, const void *b)
{
    return ws_archive_queue_order(a, b);
}

int ws_archive_queue_scan(const char *status_dir, ws_ready_list *out, ws_err *err)
{
    DIR *d = opendir(status_dir);
    struct dirent *de;
    size_t cap = 0;

    memset(out, 0, sizeof *out);
    if (!d) {
        int e = errno;

        ws_err_sys(err, e, "could not open directory \"%s\"", status_dir);
        if (e == ENOENT)
            err->code = WS_ERR_NOTFOUND;
        return -1;
    }
    for (;;) {
        size_t len, base;
        struct stat st;
        ws_wal_name w;
        ws_ready *r;

        errno = 0;
        de = readdir(d);
        if (!de)
            break;
        len = strlen(de->d_name);
        base = len - (sizeof READY_SUFFIX - 1);
        if (len <= sizeof READY_SUFFIX - 1 || strcmp(de->d_name + base, READY_SUFFIX) != 0)
            continue;
        /* A status file that vanished meanwhile was archived meanwhile. */
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        out->total++;
        if (out->total == 1 || st.st_mtime < out->oldest) {
            out->oldest = st.st_mtime;
            snprintf(out->oldest_name, sizeof out->oldest_name, "%.*s", (int) base, de->d_name);
        }
        if (base >= WS_WAL_NAME_MAX)
            continue;
        if (out->n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            ws_ready *nv = realloc(out->v, ncap * sizeof *nv);

            if (!nv) {
                closedir(d);
                ws_archive_queue_list_free(out);
                return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            }
            out->v = nv;
            cap = ncap;
        }
        r = &out->v[out->n];
        memcpy(r->name, de->d_name, base);
        r->name[base] = '\0';
        {
            ws_err ignore;

            if (ws_wal_name_parse(r->name, &w, &ignore) < 0)
                continue; /* not a WAL file name walship accepts: left to PostgreSQL */
        }
        r->history = w.kind == WS_WAL_HISTORY;
        r->mtime = st.st_mtime;
        out->n++;
    }
    if (errno) {
        int e = errno;

        closedir(d);
        ws_archive_queue_list_free(out);
        return ws_err_sys(err, e, "could not read directory \"%s\"", status_dir);
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, order_cb);
    return 0;
}

void ws_archive_queue_list_free(ws_ready_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

bool ws_archive_queue_exists(const char *status_dir, const char *name)
{
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s" READY_SUFFIX, status_dir, name);

    return n > 0 && (size_t) n < sizeof path && lstat(path, &st) == 0;
}

size_t ws_archive_queue_pick(const ws_ready_list *l, const char *skip, size_t max,
                             bool (*done)(const ws_ready *r, void *arg), void *arg, size_t *out)
{
    size_t k = 0;

    for (size_t i = 0; i < l->n && k < max; i++) {
        if (skip && strcmp(l->v[i].name, skip) == 0)
            continue;
        if (done && done(&l->v[i], arg))
            continue;
        out[k++] = i;
    }
    return k;
}
