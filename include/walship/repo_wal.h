/*
 * repo_wal.h - the WAL files a repository holds: one listing of wal/ (its
 * segments, .partial files and timeline history files, sorted in WAL
 * order), and the timeline history of a timeline as recovery reads it.
 */
#ifndef WALSHIP_REPO_WAL_H
#define WALSHIP_REPO_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/repo_object.h"
#include "walship/timeline_history.h"
#include "walship/wal_name.h"

typedef struct ws_repo_wal_file {
    ws_wal_name name;     /* a segment, .partial or .history */
    uint64_t segno;       /* segments and .partial files, once sorted */
    uint64_t stored_size; /* bytes in the repository */
} ws_repo_wal_file;

typedef struct ws_repo_wal_list {
    ws_repo_wal_file *v;
    size_t n, cap;
    uint32_t seg_size; /* set by ws_repo_wal_list_sort */
} ws_repo_wal_list;

/* Lists wal/: every segment, .partial and history file (backup history
 * files and other objects are skipped).  Unsorted: call
 * ws_repo_wal_list_sort once the segment size is known. */
int ws_repo_wal_list_load(ws_repo *repo, ws_repo_wal_list *out, ws_err *err);

/* Computes the segment numbers for seg_size and sorts by timeline, then
 * segment number, then kind (segment, .partial, then history). */
int ws_repo_wal_list_sort(ws_repo_wal_list *l, uint32_t seg_size, ws_err *err);

/* The file of that kind (WS_WAL_SEGMENT or WS_WAL_PARTIAL), or NULL;
 * the list must be sorted. */
const ws_repo_wal_file *ws_repo_wal_list_find(const ws_repo_wal_list *l, uint32_t tli, uint64_t segno,
                                              ws_wal_kind kind);

void ws_repo_wal_list_free(ws_repo_wal_list *l);

/*
 * The history of timeline tli as recovery reads it: its history file parsed
 * (timeline_history.h), or, when there is none (always for timeline 1), the
 * timeline alone from LSN 0 on.  *found (may be NULL) tells which.
 */
int ws_repo_wal_history_load(ws_repo *repo, uint32_t tli, ws_tli_history *h, bool *found, ws_err *err);

#endif
