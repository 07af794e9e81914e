/*
 * cli.h - start-up shared by every executable (src/cmd/): --config
 * handling, loading the configuration, checking `repo` with the storage
 * registry, the storage drivers' process-wide set-up, logging.  Errors are
 * printed by the caller.
 */
#ifndef WALSHIP_CLI_H
#define WALSHIP_CLI_H

#include "walship/config.h"
#include "walship/errclass.h"

/* Strips --config from argv, loads the configuration from it, the
 * environment (envp) and defaults, initialises logging as progname, checks
 * `repo` (when set) and sets up its storage driver (ws_storage_global_init).
 * On error cfg is left freed. */
int ws_cli_start(const char *progname, int *argc, char **argv, char *const *envp, ws_config *cfg, ws_err *err);

/* The longest path argument accepted: PostgreSQL's MAXPGPATH. */
#define WS_CLI_PATH_MAX 1024

/*
 * Checks a file argument before anything else uses it (PostgreSQL's %f and
 * %p): no control character and at most WS_CLI_PATH_MAX bytes, else one
 * error line showing it escaped and cut (WS_ERR_INVALID), so no later
 * message can be forged or flooded through it.  `what` names the argument.
 */
int ws_cli_check_path(const char *what, const char *arg, ws_err *err);

#endif
