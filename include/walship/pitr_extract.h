/*
 * pitr_extract.h - a backup's tar archives from the repository into the
 * data directory and the tablespace directories: objects downloaded and
 * decoded in parallel (one connection per worker, pitr_archive.h), each
 * extracted on its own as it streams (an object that continues a member
 * writes at that member's offset), memory bounded by the workers' codec
 * pipelines.
 *
 * Safe paths: a member with an absolute path, a ".." component or a path
 * through a symbolic link is refused, and so are hard links, devices,
 * links pointing outside the directory and anything under pg_tblspc/ (the
 * tablespace links come from the catalog and the map only).  Nothing is
 * ever written through a link (every directory is opened without following
 * one), except a pg_wal link the data directory already had.
 * postmaster.pid and standby.signal are not extracted.  Files get mode 0600
 * and directories 0700, the data directory's owner when run as root, and
 * each file is fsynced when written.
 *
 * Every file extracted is recorded with its size and SHA-256 (computed as
 * it is written; a file written by several objects is read back), for the
 * manifest check (pitr_manifest.h).
 */
#ifndef WALSHIP_PITR_EXTRACT_H
#define WALSHIP_PITR_EXTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "walship/backup_catalog.h"
#include "walship/error.h"
#include "walship/filter_sha256.h"
#include "walship/pitr_archive.h"

/* A directory an archive goes into. */
typedef struct ws_pitr_root {
    const ws_backup_archive *archive;
    const char *path;   /* absolute, existing */
    char prefix[64];    /* of its files' manifest paths: "" or "pg_tblspc/OID/" */
    bool follow_pg_wal; /* the data directory's pg_wal is a link to keep using */
    bool chown;         /* give files to uid/gid (run as root) */
    uid_t uid;
    gid_t gid;
} ws_pitr_root;

/* A file extracted. */
typedef struct ws_pitr_file {
    char *path;  /* its manifest path */
    size_t root; /* index of its root */
    char *rel;   /* its path in that root */
    uint64_t size;
    bool hashed; /* sha256 is of the whole file */
    uint8_t sha256[WS_SHA256_LEN];
} ws_pitr_file;

typedef struct ws_pitr_extracted {
    ws_pitr_file *files; /* sorted by path once extraction is done */
    size_t nfiles;
    uint64_t dirs, links;
    uint64_t tar_bytes; /* of the objects, decoded */
    uint64_t stored_bytes;
    unsigned skipped; /* postmaster.pid, standby.signal */
} ws_pitr_extracted;

void ws_pitr_extracted_free(ws_pitr_extracted *x);

/* Called from any worker with the tar bytes done so far (serialised). */
typedef void (*ws_pitr_progress_fn)(void *arg, uint64_t done, uint64_t total);

int ws_pitr_extract(ws_pitr_archive *a, const ws_pitr_root *roots, size_t nroots, ws_pitr_progress_fn progress,
                    void *progress_arg, ws_pitr_extracted *out, ws_err *err);

/* The extracted file of a manifest path, or NULL. */
const ws_pitr_file *ws_pitr_extracted_find(const ws_pitr_extracted *x, const char *path);

/* The size and SHA-256 of a file as it is on disk now (opened below its
 * root without following links). */
int ws_pitr_file_digest(const ws_pitr_root *root, const char *rel, uint64_t *size, uint8_t sha[WS_SHA256_LEN],
                        ws_err *err);

/* fsync of every directory below path (and of path), never following a
 * link except pg_wal at the top when follow_pg_wal. */
int ws_pitr_extract_fsync_dirs(const char *path, bool follow_pg_wal, ws_err *err);

#endif
