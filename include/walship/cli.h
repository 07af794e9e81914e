/*
 * cli.h - start-up shared by every executable (src/cmd/): --config
 * handling, loading the configuration, checking `repo` with the storage
 * registry, the storage drivers' process-wide set-up, logging.  Errors are
 * printed by the caller.
 */
#ifndef WALSHIP_CLI_H
#define WALSHIP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "walship/config.h"
#include "walship/errclass.h"

/* Strips --config from argv, loads the configuration from it, the
 * environment (envp) and defaults, initialises logging as progname, checks
 * `repo` (when set) and sets up its storage driver (ws_storage_global_init).
 * On error cfg is left freed. */
int ws_cli_start(const char *progname, int *argc, char **argv, char *const *envp, ws_config *cfg, ws_err *err);

/* A command whose operands are files PostgreSQL names (walship-push %p,
 * walship-fetch %f %p). */
typedef struct ws_cli_files_spec {
    const char *progname;
    void (*usage)(FILE *out);
    const char *const *names; /* the operands' names in messages, NULL-terminated */
    const char *expected;     /* said when their number is wrong */
    int usage_status;         /* exit status of a wrong command line */
    int fail_status;          /* exit status of any other failure before the run */
} ws_cli_files_spec;

/*
 * Starts the command (ws_cli_start), handles --help and checks the operands
 * (their number, and each with ws_cli_check_path).  0: go on, the first
 * operand is argv[*first].  1: the command ends here with exit status
 * *status (0 after --help), any error logged -- with "(exit N)" when N is
 * above 125 -- and cfg freed.
 */
int ws_cli_files(const ws_cli_files_spec *spec, int *argc, char **argv, char *const *envp, ws_config *cfg, int *first,
                 int *status);

/* The output options of the commands that report as they go
 * (walship-backup, pitr-restore): put WS_CLI_OUTPUT_OPTIONS in the getopt
 * table (getopt.h) and pass each option to ws_cli_output_option(). */
enum { WS_CLI_O_JSON = 0x4000, WS_CLI_O_PROGRESS, WS_CLI_O_NO_PROGRESS, WS_CLI_O_QUIET };
#define WS_CLI_OUTPUT_OPTIONS                                                                       \
    {"json", no_argument, NULL, WS_CLI_O_JSON}, {"progress", no_argument, NULL, WS_CLI_O_PROGRESS}, \
        {"no-progress", no_argument, NULL, WS_CLI_O_NO_PROGRESS},                                   \
    {                                                                                               \
        "quiet", no_argument, NULL, WS_CLI_O_QUIET                                                  \
    }

typedef struct ws_cli_output {
    bool json;  /* --json */
    bool quiet; /* --quiet */
    int tty;    /* --progress 1, --no-progress 0, else -1: whether stderr is a terminal */
} ws_cli_output;

#define WS_CLI_OUTPUT_INIT                       \
    {                                            \
        .json = false, .quiet = false, .tty = -1 \
    }

/* Records option c in *out when it is one of the output options (true). */
bool ws_cli_output_option(int c, ws_cli_output *out);

/* The end of a command line that asked for --help (help: usage on stdout,
 * status 0) or was wrong (usage on stderr, WS_EXIT_USAGE). */
int ws_cli_usage(bool help, void (*usage)(FILE *out));

/* Whether to draw a progress bar rather than one line per phase. */
bool ws_cli_output_tty(const ws_cli_output *out);

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
