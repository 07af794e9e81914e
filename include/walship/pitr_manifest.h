/*
 * pitr_manifest.h - PostgreSQL's backup manifest (backup_manifest, JSON) and
 * the check pg_verifybackup makes with it: the manifest's own checksum
 * (SHA-256 of everything before its last line), then every file it lists
 * present with its size and checksum, and no file present that it does not
 * list -- except what pg_verifybackup ignores: backup_manifest, pg_wal/,
 * postgresql.auto.conf, recovery.signal, standby.signal.
 */
#ifndef WALSHIP_PITR_MANIFEST_H
#define WALSHIP_PITR_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/filter_sha256.h"
#include "walship/pitr_extract.h"

typedef struct ws_pitr_manifest_file {
    char *path;
    uint64_t size;
    bool has_sha256; /* Checksum-Algorithm SHA256 (else NONE: size only) */
    uint8_t sha256[WS_SHA256_LEN];
} ws_pitr_manifest_file;

typedef struct ws_pitr_manifest {
    ws_pitr_manifest_file *files; /* sorted by path */
    size_t nfiles;
} ws_pitr_manifest;

/* Parses and checks buf[0..len) (`what` names it). */
int ws_pitr_manifest_parse(const char *buf, size_t len, const char *what, ws_pitr_manifest *out, ws_err *err);
void ws_pitr_manifest_free(ws_pitr_manifest *m);

/* Whether the manifest lists path. */
bool ws_pitr_manifest_has(const ws_pitr_manifest *m, const char *path);

/* The check, against the files extracted (pitr_extract.h); a failure names
 * the first file that differs, and how many do. */
int ws_pitr_manifest_verify(const ws_pitr_manifest *m, const ws_pitr_extracted *x, ws_err *err);

#endif
