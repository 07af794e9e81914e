/*
 * backup_preflight.h - what walship-backup checks before BASE_BACKUP, each
 * refusal a one-line error saying what to fix: the server's version, role
 * (standby), wal_level, archive_mode, archive_library, and that
 * archive_command is walship-push storing into this repository.
 */
#ifndef WALSHIP_BACKUP_PREFLIGHT_H
#define WALSHIP_BACKUP_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

#include "walship/backup_server.h"
#include "walship/config.h"
#include "walship/error.h"

/*
 * Checks the server's settings.  With check_archive, archive_mode,
 * archive_library and archive_command are checked too (see
 * ws_backup_preflight_archive_command).  note (may be NULL) receives what
 * could not be checked, for the caller to log; "" when everything was.
 */
int ws_backup_preflight_server(const ws_backup_server_info *info, const ws_config *cfg, bool check_archive,
                               const char *default_config, char *note, size_t notelen, ws_err *err);

/*
 * Is cmd (archive_command, run by /bin/sh) walship-push with %p, storing
 * into cfg->repo?  The repository it stores into is worked out as walship-push
 * would: WALSHIP_* assignments before the command, then --config FILE or
 * WALSHIP_CONFIG, else default_config.  0 when it is walship-push and the
 * repository matches or cannot be known from here (note says why), -1
 * (WS_ERR_CONFIG) otherwise.
 */
int ws_backup_preflight_archive_command(const char *cmd, const ws_config *cfg, const char *default_config, char *note,
                                        size_t notelen, ws_err *err);

#endif
