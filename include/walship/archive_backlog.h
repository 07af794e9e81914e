/*
 * archive_backlog.h - telling the operator when archiving falls behind.
 *
 * Every walship-push call counts the .ready files; when there are more
 * than a threshold (archive_lookahead + 1: more than one call takes), or
 * more than at the last report, a NOTICE says how many and how old the
 * oldest is, at most once a minute; a line says when it is back to normal.
 * The last report is remembered in <pg_wal>/walship-archive/backlog, since
 * each call is a new process.  walship never drops WAL to make room.
 */
#ifndef WALSHIP_ARCHIVE_BACKLOG_H
#define WALSHIP_ARCHIVE_BACKLOG_H

#include <stdbool.h>
#include <stdint.h>

#include "walship/error.h"

#define WS_BACKLOG_FILE     "backlog"
#define WS_BACKLOG_INTERVAL 60 /* seconds between two reports at least */

typedef struct ws_backlog_state {
    bool high;      /* the last report said "behind" */
    uint64_t count; /* .ready files at the last report */
    int64_t at;     /* time of the last report, seconds since the epoch */
} ws_backlog_state;

typedef enum {
    WS_BACKLOG_QUIET,  /* nothing to say */
    WS_BACKLOG_BEHIND, /* report the backlog */
    WS_BACKLOG_NORMAL  /* report that it is back to normal */
} ws_backlog_action;

/* What to report for `count` .ready files at time now; *next is the state
 * to save when the action is not QUIET. */
ws_backlog_action ws_archive_backlog_decide(const ws_backlog_state *prev, uint64_t count, uint64_t threshold,
                                            int64_t now, ws_backlog_state *next);

/* The state saved in dir (all zero when there is none or it is damaged:
 * at worst one report too many). */
void ws_archive_backlog_load(const char *dir, ws_backlog_state *out);
int ws_archive_backlog_save(const char *dir, const ws_backlog_state *s, ws_err *err);

#endif
