/*
 * pitr_plan.h - the recovery planner: which backup, which timeline, which
 * WAL, where recovery stops -- decided and proven from the backup catalog,
 * the timeline history files, one listing of the archive and the WAL
 * index, before anything is written (doc/restore.md, "How the plan is
 * made").
 *
 * The planner reads its archive through a ws_pitr_source: what it knows
 * at once (backups, timelines, the files the archive holds) and what it
 * reads on demand (a segment's index entry, a segment's records).
 * pitr_archive.h makes one over a repository; the unit tests make them
 * in memory.
 *
 * In short, for each timeline the archive could be recovered along (its
 * history file's path):
 *
 *   - backups on the path, newest first: the stop point R is the first
 *     record from the backup's start that meets the target, found from the
 *     index entries and, where a segment's ranges cannot decide, its
 *     records; a backup qualifies when it is consistent before R (its stop
 *     LSN at or before R, or R's end when recovery replays R) and, for a
 *     time target, nothing in the WAL before it ended a transaction after
 *     the target;
 *   - the WAL is walked as recovery reads it (for each segment, the newest
 *     timeline of the path that may hold it and has it -- PostgreSQL's
 *     XLogFileReadAnyTLI -- never a .partial file) from the backup's start
 *     to R or the end of the archive; a missing or damaged segment before
 *     that is a gap.
 *
 * Paths that stop at the same place are one outcome.  When several
 * outcomes remain, the plan is ambiguous and needs --target-timeline.
 */
#ifndef WALSHIP_PITR_PLAN_H
#define WALSHIP_PITR_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/backup_catalog.h"
#include "walship/error.h"
#include "walship/pitr_target.h"
#include "walship/repo_wal.h"
#include "walship/timeline_history.h"
#include "walship/wal_index.h"

/* --- the archive as the planner reads it ------------------------------- */

/* A catalog record that could not be read. */
typedef struct ws_pitr_bad_record {
    char id[WS_BACKUP_ID_LEN + 1];
    char why[WS_ERR_MSG_MAX];
} ws_pitr_bad_record;

/* A timeline the archive knows: from a history file, a segment or a backup. */
typedef struct ws_pitr_timeline {
    uint32_t tli;
    bool has_history; /* its history file is archived (timeline 1 has none) */
    ws_tli_history h; /* as recovery reads it (repo_wal.h) */
} ws_pitr_timeline;

/* Called with each record ending in the segment, in WAL order. */
typedef int (*ws_pitr_record_fn)(void *arg, const ws_wal_record *rec, ws_err *err);

typedef struct ws_pitr_source {
    uint32_t seg_size;
    uint64_t sysid;

    ws_backup_record *backups; /* every readable record, any status */
    size_t nbackups;
    ws_pitr_bad_record *bad;
    size_t nbad;

    ws_pitr_timeline *timelines; /* sorted by tli */
    size_t ntimelines;

    const ws_repo_wal_list *wal; /* sorted */

    /* The index entry of an archived segment: 1 found, 0 there is none
     * (the planner then reads the segment), -1 error.  For a batch of n
     * segments at once (they may be fetched in parallel); found[i]
     * receives each answer. */
    int (*index_batch)(void *arg, const ws_wal_name *segs, size_t n, ws_wal_index *out, int *found, ws_err *err);

    /* Calls fn for each valid record ending in segment seg; prev (may be
     * NULL) is the segment recovery reads before it, read first to carry a
     * record that began there. */
    int (*records)(void *arg, const ws_wal_name *prev, const ws_wal_name *seg, ws_pitr_record_fn fn, void *fn_arg,
                   ws_err *err);
    void *arg;
} ws_pitr_source;

/* --- what the planner is asked ---------------------------------------- */

typedef enum ws_pitr_tli_mode {
    WS_PITR_TLI_AUTO = 0, /* the one path that reaches the target */
    WS_PITR_TLI_CURRENT,  /* the chosen backup's timeline */
    WS_PITR_TLI_LATEST,   /* the newest timeline in the archive */
    WS_PITR_TLI_NUMBER,   /* tli */
} ws_pitr_tli_mode;

typedef struct ws_pitr_plan_opts {
    ws_pitr_target target;
    ws_pitr_tli_mode tli_mode;
    uint32_t tli;          /* WS_PITR_TLI_NUMBER */
    const char *backup_id; /* NULL: the planner chooses */
    bool force;            /* a gap: plan recovery to the furthest point */
} ws_pitr_plan_opts;

/* --- the plan ------------------------------------------------------------ */

typedef enum ws_pitr_status {
    WS_PITR_PLAN_OK = 0,    /* complete: restorable as planned */
    WS_PITR_PLAN_FORCED,    /* a gap; --force: recovery to the furthest point */
    WS_PITR_PLAN_GAP,       /* a segment missing or damaged before the stop point */
    WS_PITR_PLAN_AMBIGUOUS, /* several timeline paths: --target-timeline needed */
    WS_PITR_PLAN_UNREACHED, /* the archive does not reach the target */
    WS_PITR_PLAN_NO_BACKUP, /* no backup can be recovered to the target */
} ws_pitr_status;

const char *ws_pitr_status_name(ws_pitr_status s);

/* A WAL record the plan names. */
typedef struct ws_pitr_rec {
    bool set;
    uint32_t tli; /* the timeline it is on */
    uint64_t lsn, end_lsn;
    ws_wal_rec_kind kind;
    int64_t time; /* commit/abort/restore point */
    uint32_t xid; /* commit/abort */
    char name[WS_WAL_RP_NAME_MAX + 1];
} ws_pitr_rec;

/* A backup not chosen, and why. */
typedef struct ws_pitr_rejected {
    char id[WS_BACKUP_ID_LEN + 1];
    char why[512];
} ws_pitr_rejected;

/* One place the archive can be recovered to, along one or more paths. */
typedef struct ws_pitr_outcome {
    uint32_t tli;   /* the timeline the plan would write for it */
    uint32_t *tlis; /* every timeline whose path ends here */
    size_t ntlis;
    bool reached;    /* the target (else: where the path ends) */
    uint32_t at_tli; /* the point: timeline and LSN */
    uint64_t at_lsn;
    bool has_times; /* commits on the path after it leaves the others */
    int64_t time_first, time_last;
    char what[256]; /* for people */
} ws_pitr_outcome;

typedef struct ws_pitr_plan {
    ws_pitr_status status;
    char problem[WS_ERR_MSG_MAX]; /* status != OK: one line saying why */
    ws_pitr_target target;        /* as asked */

    /* The choice (valid unless status is AMBIGUOUS or NO_BACKUP). */
    size_t backup;        /* index into the source's backups */
    char backup_why[512]; /* why this one */
    uint32_t timeline;    /* recovery_target_timeline (numeric) */
    ws_tli_history path;  /* that timeline's history */
    bool path_has_history;

    /* The WAL recovery reads, from the backup's start. */
    char wal_first[WS_WAL_NAME_MAX], wal_last[WS_WAL_NAME_MAX];
    uint64_t wal_count;  /* segments */
    uint64_t wal_bytes;  /* wal_count * segment size */
    uint64_t wal_stored; /* their bytes in the repository */

    /* Where recovery stops. */
    ws_pitr_rec stop;      /* R: the record the target stops at (time, xid, name, lsn) */
    bool stop_after;       /* R is replayed (else recovery stops before it) */
    uint64_t stop_lsn;     /* immediate: the backup's stop LSN; latest: the end of the archive */
    ws_pitr_rec last_kept; /* the last commit/abort replayed, when known */

    /* The archive along the path. */
    uint64_t archive_end_lsn; /* end of the valid WAL of its last segment */
    bool has_newest;          /* the newest commit/abort the path's archive holds */
    int64_t newest_time;
    uint64_t wal_after; /* segments archived after the stop point */

    /* A gap (status GAP or FORCED). */
    char gap_segment[WS_WAL_NAME_MAX]; /* the first segment missing or damaged */
    char gap_why[512];
    ws_pitr_rec furthest; /* the last record recovery can replay before it */

    ws_pitr_rejected *rejected; /* backups not chosen, newest first */
    size_t nrejected;
    ws_pitr_outcome *outcomes; /* AMBIGUOUS: the places the paths lead to */
    size_t noutcomes;

    char **notes; /* other things to say, one line each */
    size_t nnotes;

    uint64_t index_reads;   /* index entries read */
    uint64_t segment_reads; /* segments read for their records */
} ws_pitr_plan;

void ws_pitr_plan_init(ws_pitr_plan *p);
void ws_pitr_plan_free(ws_pitr_plan *p);

/*
 * Makes the plan.  -1 only when the archive cannot be read (err says why);
 * a plan that cannot be carried out returns 0 with plan->status and
 * plan->problem saying why.
 */
int ws_pitr_plan_make(const ws_pitr_source *src, const ws_pitr_plan_opts *o, ws_pitr_plan *plan, ws_err *err);

/* The timeline of the source, or NULL. */
const ws_pitr_timeline *ws_pitr_source_timeline(const ws_pitr_source *src, uint32_t tli);

#endif
