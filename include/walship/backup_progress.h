/*
 * backup_progress.h - what walship-backup tells the person watching, on
 * standard error: on a terminal a progress bar (bytes done of PostgreSQL's
 * estimate, rate, time left) redrawn in place; otherwise one line per phase.
 */
#ifndef WALSHIP_BACKUP_PROGRESS_H
#define WALSHIP_BACKUP_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct ws_backup_progress ws_backup_progress;

/* tty: draw a bar (else phase lines); quiet: say nothing. */
ws_backup_progress *ws_backup_progress_new(FILE *out, bool tty, bool quiet);
void ws_backup_progress_free(ws_backup_progress *p);

/* A new phase: one line ("walship-backup: NOTICE: " and the text). */
void ws_backup_progress_phase(ws_backup_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes streamed of the estimate (0 when unknown); redrawn at most 5 times a
 * second on a terminal, silent otherwise. */
void ws_backup_progress_bytes(ws_backup_progress *p, uint64_t done, uint64_t total);

/* WAL wait: segments and history file durable so far, of total. */
void ws_backup_progress_wal(ws_backup_progress *p, unsigned done, unsigned total, double waited, double timeout);

/* Ends a bar line in progress (before an error or the summary). */
void ws_backup_progress_done(ws_backup_progress *p);

/* "1.5 GiB" style; out has room for 32 bytes. */
void ws_backup_progress_size(uint64_t bytes, char out[32]);

#endif
