/*
 * pg_datadir.h - what walship-fetch can learn from the PostgreSQL data
 * directory it runs in (PostgreSQL runs restore_command there): the recovery
 * mode, the cluster's system identifier, and which PostgreSQL process it
 * runs for.
 */
#ifndef WALSHIP_PG_DATADIR_H
#define WALSHIP_PG_DATADIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "walship/error.h"
#include "walship/proc.h"

typedef enum {
    WS_RECOVERY_NONE,    /* no signal file */
    WS_RECOVERY_ARCHIVE, /* recovery.signal */
    WS_RECOVERY_STANDBY  /* standby.signal (wins over recovery.signal, as in PostgreSQL) */
} ws_recovery_mode;

ws_recovery_mode ws_pg_datadir_recovery_mode(const char *datadir);

/* The system identifier from global/pg_control (its first field, host byte
 * order, in every release walship supports).  0 is rejected. */
int ws_pg_datadir_sysid(const char *datadir, uint64_t *sysid, ws_err *err);

/* The pid in the first line of datadir's postmaster.pid; 0 when there is
 * none (or it is not a pid). */
pid_t ws_pg_datadir_postmaster_pid(const char *datadir);

/*
 * The PostgreSQL process this walship-fetch runs for: the ancestor of the
 * calling process whose parent is the postmaster named in datadir's
 * postmaster.pid.  For restore_command that is the startup process (the
 * shell PostgreSQL runs the command with sits in between), which exits when
 * recovery ends or the server stops.  1 found, 0 not run by that server
 * (no postmaster.pid, a stale one, or a call by hand), -1 error.
 */
int ws_pg_datadir_startup_process(const char *datadir, ws_proc_id *out, ws_err *err);

#endif
