/*
 * timeline_history.h - PostgreSQL timeline history files (TTTTTTTT.history),
 * read as PostgreSQL reads them (readTimeLineHistory, timeline.c) and
 * followed as PostgreSQL follows them (tliOfPointInHistory, tliSwitchPoint,
 * XLogFileReadAnyTLI).
 *
 * A history file lists the timelines before timeline T, one per line:
 *
 *   parentTLI <TAB> switchpoint <TAB> reason
 *
 * PostgreSQL writes the parent timeline with "%u" and the switchpoint (the
 * LSN where the next timeline branched off) with "%X/%X", and reads each
 * line with sscanf("%u\t%X/%X"), ignoring the rest of it.  Lines that are
 * empty or start with '#' (after white space) are skipped.  The only other
 * rules are that timeline IDs increase from line to line and stay below T.
 * Switchpoints need not increase: a recovery whose target lies before the
 * point where its timeline began (in WAL copied onto the new timeline)
 * writes a line whose switchpoint is below the previous one.
 */
#ifndef WALSHIP_TIMELINE_HISTORY_H
#define WALSHIP_TIMELINE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

#define WS_LSN_END UINT64_MAX /* the end of the file's own timeline: open */

/*
 * Timeline tli holds the WAL from begin (inclusive) to end (exclusive), as
 * readTimeLineHistory builds its list: begin is the previous line's
 * switchpoint (0 for the first), end the line's own.  begin may exceed end
 * (an empty range).  As with PostgreSQL's InvalidXLogRecPtr, a begin of 0
 * bounds nothing below and an end of 0 (a line "N<TAB>0/0") nothing above.
 */
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
 * Parses the history file of timeline tli from buf[0..len): accepts exactly
 * what readTimeLineHistory accepts, with the same values (an empty file or
 * one with only comments: no earlier timeline).  `what` names the file in
 * messages, which also give the line number.  On success out holds every
 * listed timeline and then tli itself (from the last switchpoint to
 * WS_LSN_END); free it with ws_tli_history_free.
 */
int ws_tli_history_parse(const char *buf, size_t len, uint32_t tli, const char *what, ws_tli_history *out, ws_err *err);

void ws_tli_history_free(ws_tli_history *h);

/* The timeline that holds lsn (tliOfPointInHistory: the newest entry whose
 * range holds it); 0 only for an empty history. */
uint32_t ws_tli_history_tli_at(const ws_tli_history *h, uint64_t lsn);

/* tliSwitchPoint: where the history leaves timeline tli (*end; WS_LSN_END
 * for its own timeline) and for which timeline (*next, 0 for its own).
 * false when tli is not in the history. */
bool ws_tli_history_switch_point(const ws_tli_history *h, uint32_t tli, uint64_t *end, uint32_t *next);

/* Whether recovery looks for segment segno on e's timeline at all
 * (XLogFileReadAnyTLI skips a timeline that begins in a later segment). */
bool ws_tli_entry_may_hold_segment(const ws_tli_entry *e, uint64_t segno, uint32_t seg_size);

/* The first segment number for which recovery following h asks for a
 * timeline newer than tli before tli's own file (XLogFileReadAnyTLI tries
 * the newest timeline first); UINT64_MAX when there is none (tli is h's
 * own timeline or not in h). */
uint64_t ws_tli_history_newer_from(const ws_tli_history *h, uint32_t tli, uint32_t seg_size);

#endif
