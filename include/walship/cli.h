/*
 * cli.h - start-up shared by every executable: --config handling, loading
 * the configuration, setting up logging.  Errors are printed by the caller.
 */
#ifndef WALSHIP_CLI_H
#define WALSHIP_CLI_H

#include "walship/config.h"
#include "walship/errclass.h"

/* Strips --config from argv, loads the configuration from it, the
 * environment (envp) and defaults, and initialises logging as progname. */
int ws_cli_start(const char *progname, int *argc, char **argv, char *const *envp, ws_config *cfg, ws_err *err);

#endif
