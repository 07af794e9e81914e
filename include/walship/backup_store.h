/*
 * backup_store.h - backup records in a repository (catalog/<ID>.ws), and the
 * removal of what an interrupted backup left.
 *
 * Listing backups reads the records under catalog/, never the backups'
 * objects.  A "running" record names the process that writes it (host, boot
 * id, pid and the pid's start time) and is rewritten at least every
 * WS_BACKUP_HEARTBEAT seconds; it is interrupted when that process is gone
 * (same machine) or its heartbeat is older than WS_BACKUP_STALE seconds
 * (another machine).  Cleaning one up abandons the uploads it recorded
 * (storage.h), removes every object under backup/<ID>/ and rewrites the
 * record as "failed" saying so.
 */
#ifndef WALSHIP_BACKUP_STORE_H
#define WALSHIP_BACKUP_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "walship/backup_catalog.h"
#include "walship/repo_object.h"

#define WS_BACKUP_HEARTBEAT 60.0
#define WS_BACKUP_STALE     900.0

/* Writes the record (durable on return). */
int ws_backup_store_put(ws_repo *repo, const ws_backup_record *r, ws_err *err);

/* Reads and checks the record of id: 1 found, 0 absent, -1 error. */
int ws_backup_store_get(ws_repo *repo, const char *id, ws_backup_record *out, ws_err *err);

/* The ids of every record, sorted (oldest first); free with ws_backup_store_ids_free. */
int ws_backup_store_ids(ws_repo *repo, char ***ids, size_t *n, ws_err *err);
void ws_backup_store_ids_free(char **ids, size_t n);

/* This process, as a running record names it. */
typedef struct ws_backup_self {
    char host[256];
    char boot_id[64];
    long pid;
    unsigned long long pid_start;
} ws_backup_self;

int ws_backup_self_get(ws_backup_self *self, ws_err *err);

/* Is the running record's writer gone?  why (may be NULL) says how it
 * was told. */
bool ws_backup_store_interrupted(const ws_backup_record *r, const ws_backup_self *self, double now, char *why,
                                 size_t whylen);

/* What a cleanup removed. */
typedef struct ws_backup_cleanup {
    size_t objects; /* removed */
    size_t uploads; /* abandoned */
} ws_backup_cleanup;

/*
 * Removes what backup r left (what its objects in progress left, by token
 * or, without one, by key: storage.h; then every object under its folder)
 * and rewrites its record as failed with error `why`.  The record itself
 * stays: it says what happened.
 */
int ws_backup_store_discard(ws_repo *repo, ws_backup_record *r, const char *why, ws_backup_cleanup *done, ws_err *err);

/* Calls cb for each interrupted backup found and cleaned (id, why, what was
 * removed); returns how many, or -1. */
typedef void (*ws_backup_cleaned_cb)(void *arg, const char *id, const char *why, const ws_backup_cleanup *done);
int ws_backup_store_clean_interrupted(ws_repo *repo, const ws_backup_self *self, double now, ws_backup_cleaned_cb cb,
                                      void *arg, ws_err *err);

#endif
