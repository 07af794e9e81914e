/*
 * backup_catalog.h - the record of one base backup (doc/format.md, "Backup
 * catalog"): the model and its JSON form.
 *
 * A record is stored as catalog/<ID>.ws.  walship-backup writes it first as
 * "running" (who runs it, which uploads are in progress), rewrites it as the
 * backup goes, and writes it as "complete" last, once every object, the
 * manifest and the WAL up to the stop LSN are durable.  Only a complete
 * record makes a backup restorable.  A failed or interrupted backup's record
 * ends as "failed", its objects removed.
 *
 * The reader checks everything a restore relies on (keys under the backup's
 * own folder, contiguous tar offsets, sizes adding up, LSN order, digests)
 * and refuses any other format version.
 */
#ifndef WALSHIP_BACKUP_CATALOG_H
#define WALSHIP_BACKUP_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/filter_sha256.h"
#include "walship/wal_name.h"

#define WS_BACKUP_CATALOG_VERSION 1
#define WS_BACKUP_ID_LEN          25          /* YYYYMMDDTHHMMSSZ-XXXXXXXX */
#define WS_BACKUP_RECORD_MAX      (64u << 20) /* bytes of JSON accepted */

typedef enum { WS_BACKUP_RUNNING, WS_BACKUP_COMPLETE, WS_BACKUP_FAILED } ws_backup_status;

/* One stored object: a piece of a tar archive, or the manifest. */
typedef struct ws_backup_object {
    char *key;
    uint64_t tar_offset;           /* pieces: offset of the first byte in the archive */
    uint64_t size;                 /* plaintext bytes */
    uint64_t stored_size;          /* bytes in the repository */
    uint8_t sha256[WS_SHA256_LEN]; /* of the plaintext */
    bool continued;                /* starts inside a member's data (tar_split.h) */
    char *member_path;             /* continued: that member */
    uint64_t member_offset;
    uint64_t member_size;
} ws_backup_object;

typedef struct ws_backup_archive {
    char *name;           /* "base.tar" or "<oid>.tar" */
    bool tablespace;      /* false: the data directory */
    uint32_t ts_oid;      /* tablespace: its oid */
    char *ts_location;    /* tablespace: its directory on the server */
    uint64_t est_size;    /* the server's size estimate, bytes */
    uint64_t tar_size;    /* sum of the objects' sizes */
    uint64_t stored_size; /* sum of their stored sizes */
    uint64_t members;     /* tar members */
    size_t nobjects, objects_cap;
    ws_backup_object *objects;
} ws_backup_archive;

/* An object being written: recorded before it is opened, with the token of
 * its upload once the storage names one (storage.h, ws_put_track). */
typedef struct ws_backup_pending {
    char *key;
    char *token; /* NULL until named */
} ws_backup_pending;

typedef struct ws_backup_record {
    char id[WS_BACKUP_ID_LEN + 1];
    ws_backup_status status;
    char *label;
    char *walship_version;

    /* The cluster. */
    uint64_t sysid;
    unsigned pg_version_num; /* server_version_num, e.g. 150020 */
    uint32_t seg_size;
    bool data_checksums;

    /* Known once BASE_BACKUP answered (has_start) and ended (has_stop). */
    bool has_start, has_stop;
    uint64_t start_lsn;
    uint32_t start_tli;
    uint64_t checkpoint_lsn; /* has_stop: from the backup history file */
    uint64_t stop_lsn;
    uint32_t stop_tli;
    char wal_first[WS_WAL_NAME_MAX];    /* segment of start_lsn */
    char wal_last[WS_WAL_NAME_MAX];     /* segment holding the byte before stop_lsn */
    char history_file[WS_WAL_NAME_MAX]; /* the .backup file's name */
    /* Server times (TimestampTz: microseconds since 2000-01-01 UTC) from the
     * backup history file, and its text with the zone abbreviation. */
    bool has_times;
    int64_t start_time, stop_time;
    char *start_time_server, *stop_time_server;

    /* walship's own clock: Unix seconds. */
    double started_at, finished_at;

    char compress[8]; /* "lz4" or "none" */
    bool encrypted;
    char key_id[33];      /* encrypted: hex key id */
    uint64_t object_size; /* the bound pieces were cut at */

    uint64_t db_size;     /* sum of the archives' estimates */
    uint64_t tar_size;    /* sum of the archives */
    uint64_t stored_size; /* sum of every object, the manifest included */

    size_t narchives, archives_cap;
    ws_backup_archive *archives;
    bool has_manifest;
    ws_backup_object manifest;

    /* running: who, so another run can tell a dead one. */
    char *host;
    char *boot_id;
    long pid;
    uint64_t pid_start; /* the process's start time in clock ticks since boot */
    double heartbeat;   /* Unix seconds of the last rewrite */
    size_t npending, pending_cap;
    ws_backup_pending *pending;

    char *error; /* failed: why */
} ws_backup_record;

void ws_backup_record_init(ws_backup_record *r);
void ws_backup_record_free(ws_backup_record *r);

const char *ws_backup_status_name(ws_backup_status s);

/* A new id from a Unix time and 32 random bits. */
void ws_backup_catalog_make_id(double unix_time, uint32_t random, char out[WS_BACKUP_ID_LEN + 1]);
bool ws_backup_catalog_id_valid(const char *id);

/* catalog/<ID>.ws; "catalog/" lists every record. */
#define WS_BACKUP_CATALOG_PREFIX "catalog/"
int ws_backup_catalog_key(const char *id, char *out, size_t outlen, ws_err *err);
/* The id a catalog key names, or -1. */
int ws_backup_catalog_id_of_key(const char *key, char out[WS_BACKUP_ID_LEN + 1]);
/* backup/<ID>/: the folder of a backup's objects. */
int ws_backup_catalog_dir(const char *id, char *out, size_t outlen, ws_err *err);

/* Adds an archive / an object to the last archive / a pending upload. */
ws_backup_archive *ws_backup_record_add_archive(ws_backup_record *r, const char *name, ws_err *err);
ws_backup_object *ws_backup_archive_add_object(ws_backup_archive *a, const char *key, ws_err *err);
/* token may be NULL. */
int ws_backup_record_add_pending(ws_backup_record *r, const char *key, const char *token, ws_err *err);
void ws_backup_record_clear_pending(ws_backup_record *r);

/* JSON (malloc'd, NUL-terminated); pretty: indented. */
char *ws_backup_record_to_json(const ws_backup_record *r, bool pretty, ws_err *err);

/* Parses and checks a record; `what` names it in messages.  WS_ERR_FORMAT
 * for another version, WS_ERR_CORRUPT for anything else wrong. */
int ws_backup_record_from_json(const char *buf, size_t len, const char *what, ws_backup_record *out, ws_err *err);

#endif
