/* cli.c - executable start-up (see cli.h). */
#include "walship/cli.h"

#include "walship/log.h"

int ws_cli_start(const char *progname, int *argc, char **argv, char *const *envp, ws_config *cfg, ws_err *err)
{
    const char *path = NULL;

    ws_log_init(progname, WS_LOG_NOTICE);
    if (ws_config_take_arg(argc, argv, &path, err) < 0)
        return -1;
    if (ws_config_load(cfg, path, envp, err) < 0)
        return -1;
    ws_log_init(progname, cfg->log_level);
    return 0;
}
