/*
 * pitr_run.h - pitr-restore: plan, prove, restore to a target
 * (doc/restore.md).
 *
 *   plan      the archive (pitr_archive.h) and the planner (pitr_plan.h):
 *             backup, timeline, WAL, stop point, all proven before anything
 *             is written; printed (pitr_report.h); --dry-run stops here
 *   check     the data directory (pitr_pgdata.h): no running server, empty
 *             unless --force (which empties it), tablespace directories
 *   restore   the backup's objects downloaded, decoded and extracted in
 *             parallel (pitr_extract.h), verified against the backup
 *             manifest (pitr_manifest.h), tablespace links and map
 *   configure recovery.signal and the recovery settings in
 *             postgresql.auto.conf, with a generated walship config for
 *             restore_command (pitr_recovery_conf.h); everything fsynced
 *
 * Exit status: 0 restored (or, with --dry-run, the plan is complete); 1
 * failed, nothing usable written (the reason is printed); 2 usage.
 */
#ifndef WALSHIP_PITR_RUN_H
#define WALSHIP_PITR_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/config.h"
#include "walship/error.h"
#include "walship/pitr_plan.h"

typedef enum { WS_PITR_ACTION_PAUSE = 0, WS_PITR_ACTION_PROMOTE, WS_PITR_ACTION_SHUTDOWN } ws_pitr_action;
typedef enum { WS_PITR_ARCHIVE_OFF = 0, WS_PITR_ARCHIVE_PRESERVE } ws_pitr_archive_mode;

/* --tablespace-map OID_OR_PATH=NEWDIR */
typedef struct ws_pitr_ts_map {
    const char *from; /* an oid (digits) or the original location */
    const char *to;   /* the new directory (absolute) */
} ws_pitr_ts_map;

#define WS_PITR_TS_MAP_MAX 64

typedef struct ws_pitr_run_opts {
    const char *pgdata;
    ws_pitr_plan_opts plan;
    const char *target_time; /* --target-time: read once the catalog is (its zone abbreviations) */
    ws_pitr_action action;
    bool action_given; /* --target-action was given */
    ws_pitr_archive_mode archive_mode;
    ws_pitr_ts_map ts_map[WS_PITR_TS_MAP_MAX];
    size_t nts_map;
    bool dry_run;
    bool json;
    bool tty;               /* progress bar on standard error */
    bool quiet;             /* no progress */
    unsigned jobs;          /* parallel downloads (connections) */
    const char *fetch_path; /* walship-fetch for restore_command; NULL: next to this program */
} ws_pitr_run_opts;

void ws_pitr_run_opts_default(ws_pitr_run_opts *o);

const char *ws_pitr_action_name(ws_pitr_action a);

/* Plans and (unless dry_run) restores; returns the exit status and prints
 * the plan, the outcome and any error. */
int ws_pitr_run(const ws_config *cfg, const ws_pitr_run_opts *o);

#endif
