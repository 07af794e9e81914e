/*
 * archive_queue.h - the WAL files PostgreSQL has yet to archive: the
 * `.ready` status files in pg_wal/archive_status, in the order PostgreSQL's
 * archiver takes them (timeline history files first, then by name), and
 * the choice of which to archive ahead.
 */
#ifndef WALSHIP_ARCHIVE_QUEUE_H
#define WALSHIP_ARCHIVE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/wal_name.h"

#define WS_ARCHIVE_STATUS_DIR "archive_status"

typedef struct ws_ready {
    char name[WS_WAL_NAME_MAX]; /* the WAL file name (without .ready) */
    bool history;               /* a timeline history file */
    int64_t mtime;              /* of the .ready file, seconds since the epoch */
} ws_ready;

typedef struct ws_ready_list {
    ws_ready *v; /* WAL file names walship accepts, in archiving order */
    size_t n;
    size_t total;   /* every .ready file, including names walship refuses */
    int64_t oldest; /* the smallest .ready mtime of all (0 when total is 0) */
    char oldest_name[256];
} ws_ready_list;

/* Reads status_dir.  A missing directory is WS_ERR_NOTFOUND. */
int ws_archive_queue_scan(const char *status_dir, ws_ready_list *out, ws_err *err);
void ws_archive_queue_list_free(ws_ready_list *l);

/* PostgreSQL's archiving order: < 0 when a comes first. */
int ws_archive_queue_order(const ws_ready *a, const ws_ready *b);

/* Whether status_dir/<name>.ready exists now. */
bool ws_archive_queue_exists(const char *status_dir, const char *name);

/*
 * Chooses up to max entries of l, in order, skipping the name `skip` and
 * every entry for which done(entry, arg) is true (e.g. already archived
 * ahead).  Their indexes go to out[]; returns how many.
 */
size_t ws_archive_queue_pick(const ws_ready_list *l, const char *skip, size_t max,
                             bool (*done)(const ws_ready *r, void *arg), void *arg, size_t *out);

#endif
