/*
 * pitr_pgdata.h - the directories a restore writes into: the data
 * directory and the tablespace directories.
 *
 * A data directory with a running server (a postmaster.pid whose process
 * is alive) is always refused.  A non-empty one is refused unless forced;
 * forcing empties it -- pg_wal/ included, and when pg_wal is a symbolic
 * link, its target's contents (the link stays) -- without ever following
 * another link, so nothing outside is deleted.  A tablespace directory
 * must be missing or empty; forcing empties one only when all it holds is
 * PostgreSQL's version directories (PG_<major>_<catalog version>), as an
 * earlier restore leaves it.
 */
#ifndef WALSHIP_PITR_PGDATA_H
#define WALSHIP_PITR_PGDATA_H

#include <stdbool.h>
#include <sys/types.h>

#include "walship/error.h"

typedef struct ws_pitr_dir {
    char *path;       /* absolute */
    bool existed;     /* before the restore */
    bool emptied;     /* force emptied it */
    bool wal_link;    /* data directory: pg_wal is a symbolic link (kept) */
    char *wal_target; /* where it points */
    uid_t uid;        /* the owner files are given (the directory's, when run as root) */
    gid_t gid;
} ws_pitr_dir;

void ws_pitr_dir_free(ws_pitr_dir *d);

/* Checks the data directory (see above) and, with force, empties it; makes
 * it (mode 0700) when missing.  what_removed (may be NULL) receives how
 * many entries force removed. */
int ws_pitr_pgdata_prepare(const char *path, bool force, ws_pitr_dir *out, unsigned long *removed, ws_err *err);

/* Only the checks (nothing written): for a plan.  1 usable, 0 not (err
 * says why), -1 error. */
int ws_pitr_pgdata_check(const char *path, bool force, ws_err *err);

/* A tablespace directory: checked, emptied when forced and allowed, made
 * when missing (with its parents, mode 0700).  owner_of: the data
 * directory (for the owner). */
int ws_pitr_pgdata_tsdir_prepare(const char *path, bool force, const ws_pitr_dir *owner_of, ws_pitr_dir *out,
                                 ws_err *err);

/* Only the checks, as ws_pitr_pgdata_check. */
int ws_pitr_pgdata_tsdir_check(const char *path, bool force, ws_err *err);

#endif
