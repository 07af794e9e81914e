/*
 * pitr_report.h - what pitr-restore tells the person running it: the plan
 * (text on standard output, or one JSON document with --json) and, after a
 * restore, what was done.
 */
#ifndef WALSHIP_PITR_REPORT_H
#define WALSHIP_PITR_REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "walship/pitr_archive.h"
#include "walship/pitr_plan.h"
#include "walship/pitr_recovery_conf.h"
#include "walship/pitr_run.h"

/* Measured by bench/run-pitr-bench on a busy 2-core machine (doc/benchmarks.md,
 * "pitr-restore: restore throughput and RTO"), rounded down: restore with 2
 * workers from file://, and start, replay and promotion through walship-fetch
 * from s3://. */
#define WS_PITR_RESTORE_RATE (100.0 * 1024 * 1024) /* tar bytes per second */
#define WS_PITR_REPLAY_RATE  (20.0 * 1024 * 1024)  /* WAL bytes per second */

/* The outcome of a restore. */
typedef struct ws_pitr_result {
    bool done;
    double seconds;
    uint64_t tar_bytes, stored_bytes, files, dirs;
    unsigned skipped;        /* postmaster.pid, standby.signal not restored */
    unsigned commented;      /* postgresql.auto.conf lines commented out */
    unsigned long removed;   /* --force: entries removed */
    char walship_conf[4096]; /* the generated config */
    char restore_command[4096];
    ws_pitr_setting settings[16];
    size_t nsettings;
    char ts_dirs[8][1024]; /* "OID -> DIR" */
    size_t nts;
} ws_pitr_result;

typedef struct ws_pitr_report {
    const ws_pitr_plan *plan;
    const ws_pitr_source *src;
    const ws_pitr_run_opts *opts;
    ws_pitr_archive_stats stats;
    bool manifest_known;          /* the backup's manifest was read */
    bool has_postgresql_conf;     /* it lists postgresql.conf */
    const ws_pitr_result *result; /* NULL before a restore */
} ws_pitr_report;

/* The recovery_target_action the plan means ("pause", "promote", ...). */
const char *ws_pitr_report_action(const ws_pitr_report *r);

/* The plan; then, after a restore, what it did. */
void ws_pitr_report_text(FILE *out, const ws_pitr_report *r);
void ws_pitr_report_text_result(FILE *out, const ws_pitr_report *r);

/* The JSON document (a new reference), or NULL when out of memory. */
json_t *ws_pitr_report_json(const ws_pitr_report *r);

#endif
