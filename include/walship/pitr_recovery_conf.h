/*
 * pitr_recovery_conf.h - what a restored data directory needs to recover:
 *
 *   walship-restore.conf  a walship config file with the effective settings
 *                         of the repository (whatever file, environment or
 *                         default they came from; no secret), so that
 *                         restore_command works when the server is started
 *                         later, by another user, in another environment;
 *                         key, CA and credentials files are referred to by
 *                         absolute path, never copied; mode 0600
 *   postgresql.auto.conf  the recovery settings appended; earlier lines
 *                         setting the same parameters, or any recovery
 *                         target, are commented out, not deleted
 *   tablespace_map        rewritten for the tablespaces' new directories
 *   recovery.signal       empty
 *
 * Each file is replaced atomically and fsynced; when run as root it is
 * given to the data directory's owner.
 */
#ifndef WALSHIP_PITR_RECOVERY_CONF_H
#define WALSHIP_PITR_RECOVERY_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "walship/config.h"
#include "walship/error.h"

#define WS_PITR_WALSHIP_CONF "walship-restore.conf"

/* The owner of what is written (chown only when run as root). */
typedef struct ws_pitr_owner {
    bool chown;
    uid_t uid;
    gid_t gid;
} ws_pitr_owner;

/* Writes dir/walship-restore.conf; path (may be NULL) receives its path
 * (malloc'd). */
int ws_pitr_recovery_conf_walship(const ws_config *cfg, const char *dir, const ws_pitr_owner *owner, char **path,
                                  ws_err *err);

/* A PostgreSQL setting to write. */
typedef struct ws_pitr_setting {
    const char *name;
    char value[4096];
} ws_pitr_setting;

/* Appends the settings to pgdata/postgresql.auto.conf under a comment line
 * (header), commenting out the lines that set the same parameters, every
 * recovery_target* line and restore_command; *commented (may be NULL)
 * receives how many lines were. */
int ws_pitr_recovery_conf_auto(const char *pgdata, const char *header, const ws_pitr_setting *s, size_t n,
                               const ws_pitr_owner *owner, unsigned *commented, ws_err *err);

/* A tablespace's entry in tablespace_map. */
typedef struct ws_pitr_ts_link {
    uint32_t oid;
    const char *path;
} ws_pitr_ts_link;

/* Rewrites pgdata/tablespace_map (PostgreSQL's format: "OID PATH", with \,
 * CR and LF in PATH escaped by a backslash). */
int ws_pitr_recovery_conf_tablespace_map(const char *pgdata, const ws_pitr_ts_link *l, size_t n,
                                         const ws_pitr_owner *owner, ws_err *err);

/* Creates pgdata/recovery.signal. */
int ws_pitr_recovery_conf_signal(const char *pgdata, const ws_pitr_owner *owner, ws_err *err);

/* Whether pgdata's postgresql.conf or postgresql.auto.conf turns hot_standby
 * off (the last setting wins, as in PostgreSQL). */
bool ws_pitr_recovery_conf_hot_standby_off(const char *pgdata);

#endif
