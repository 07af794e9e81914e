/*
 * backup_server.h - the PostgreSQL side of a base backup: a physical
 * replication connection (libpq, replication=true), the server's settings,
 * and BASE_BACKUP with its result sets and COPY stream.
 *
 * Connection failures are one line saying what to fix (no REPLICATION
 * privilege, no free WAL sender, authentication, unreachable server).  The
 * COPY stream is read without blocking indefinitely: ws_backup_server_next
 * returns 0 after `wait` seconds without a message, so the caller can check
 * for signals and keep its heartbeat.  Data checksum failures the server
 * reports as WARNING notices are collected and named in the error that ends
 * the command (SQLSTATE XX001).
 */
#ifndef WALSHIP_BACKUP_SERVER_H
#define WALSHIP_BACKUP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

#define WS_BACKUP_SERVER_MIN_VERSION 150000

typedef struct ws_backup_server ws_backup_server;

typedef struct ws_backup_server_info {
    uint64_t sysid;       /* IDENTIFY_SYSTEM */
    uint32_t tli;         /* the server's timeline now */
    unsigned version_num; /* server_version_num */
    uint32_t seg_size;    /* wal_segment_size, bytes */
    bool data_checksums;
    bool in_hot_standby;
    char wal_level[16];
    char archive_mode[16];
    char *archive_command; /* "" when empty */
    char *archive_library; /* "" when empty */
    char *log_timezone;
    char *user; /* the role connected */
} ws_backup_server_info;

void ws_backup_server_info_free(ws_backup_server_info *info);

/*
 * Connects for replication with the libpq connection string conninfo (NULL
 * or "": libpq's PG* variables and defaults), replication=true added.
 */
int ws_backup_server_connect(const char *conninfo, ws_backup_server **out, ws_err *err);
void ws_backup_server_close(ws_backup_server *s);

/* IDENTIFY_SYSTEM and SHOW of the settings a backup depends on. */
int ws_backup_server_info_get(ws_backup_server *s, ws_backup_server_info *out, ws_err *err);

typedef struct ws_backup_tablespace {
    uint32_t oid;   /* 0: the data directory */
    char *location; /* "" for the data directory */
    uint64_t size;  /* the server's estimate in bytes (0 without PROGRESS) */
} ws_backup_tablespace;

typedef struct ws_backup_start {
    uint64_t lsn;
    uint32_t tli;
    size_t ntablespaces;
    ws_backup_tablespace *tablespaces;
} ws_backup_start;

void ws_backup_start_free(ws_backup_start *st);

typedef struct ws_backup_options {
    const char *label;
    bool fast_checkpoint;
    uint32_t max_rate_kb; /* 0: unlimited; else 32..1048576 kB/s */
} ws_backup_options;

/*
 * Sends BASE_BACKUP (LABEL, PROGRESS, CHECKPOINT, WAIT false, MANIFEST 'yes',
 * MANIFEST_CHECKSUMS 'SHA256', TABLESPACE_MAP, MAX_RATE) and reads the result
 * sets before the COPY stream.  wait_cb (may be NULL) is called about every
 * `wait` seconds while the server works on its checkpoint; returning -1 (with
 * err set) stops.
 */
typedef int (*ws_backup_server_wait_cb)(void *arg, ws_err *err);
int ws_backup_server_start(ws_backup_server *s, const ws_backup_options *o, double wait, ws_backup_server_wait_cb cb,
                           void *arg, ws_backup_start *out, ws_err *err);

/*
 * The next CopyData message: 1 with *msg and *len set (valid until the next
 * call), 0 when none came within `wait` seconds, 2 at the end of the stream,
 * -1 on error (the server's message, e.g. the connection lost).
 */
int ws_backup_server_next(ws_backup_server *s, double wait, const uint8_t **msg, size_t *len, ws_err *err);

/*
 * After the stream: the end LSN and timeline, then the command's end.  A
 * data checksum failure is WS_ERR_CORRUPT naming the files.
 */
int ws_backup_server_finish(ws_backup_server *s, uint64_t *lsn, uint32_t *tli, ws_err *err);

/* "Text like libpq's" into one line: newlines and tabs become spaces, the
 * "FATAL:  " style prefixes of server messages go, the end is trimmed. */
void ws_backup_server_one_line(const char *in, char *out, size_t outlen);

/* What to tell a user whose connection failed with libpq message msg
 * (one line, written to out). */
void ws_backup_server_explain_connect(const char *msg, const char *user, char *out, size_t outlen);

#endif
