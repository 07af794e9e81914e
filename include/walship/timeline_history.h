/*
 * timeline_history.h - PostgreSQL timeline history files (TTTTTTTT.history).
 *
 * A history file lists the timelines before timeline T, one per line:
 *
 *   parentTLI <TAB> switchpoint <TAB> reason
 *
 * with the parent timeline in decimal and the switchpoint (the LSN where the
 * child timeline branched off) as "X/X" in hex.  Blank lines and lines
 * starting with '#' (after white space) are ignored.  Timeline IDs must
 * increase from line to line and stay below T; switchpoints never go back.
 */
#ifndef WALSHIP_TIMELINE_HISTORY_H
#define WALSHIP_TIMELINE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

#define WS_LSN_END UINT64_MAX /* the end of the newest timeline: open */

/* Timeline tli holds the WAL from begin (inclusive) to end (exclusive). */
typedef struct ws_tli_entry {
    uint32_t tli;
    uint64_t begin;
    uint64_t end;
} ws_tli_entry;

typedef struct ws_tli_history {
    size_t n;
    ws_tli_entry *e; /* oldest first; the last one is the file's own timeline */
} ws_tli_history;

/*
 * Parses the history file of timeline tli from buf[0..len).  `what` names the
 * file in messages, which also give the line number.  On success out holds
 * every listed timeline and then tli itself (from the last switchpoint to
 * WS_LSN_END); free it with ws_tli_history_free.
 */
int ws_tli_history_parse(const char *buf, size_t len, uint32_t tli, const char *what, ws_tli_history *out, ws_err *err);

void ws_tli_history_free(ws_tli_history *h);

#endif
