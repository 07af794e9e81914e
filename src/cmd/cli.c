/* cli.c - executable start-up (see cli.h). */
#include "walship/cli.h"

#include <string.h>

#include "walship/log.h"
#include "walship/storage.h"

int ws_cli_check_path(const char *what, const char *arg, ws_err *err)
{
    size_t n = strlen(arg);
    char shown[WS_SHOW_BUF];

    for (size_t i = 0; i < n; i++)
        if ((unsigned char) arg[i] < 0x20 || arg[i] == 0x7f)
            return ws_err_set(err, WS_ERR_INVALID, "%s %s holds a control character", what, ws_err_show(arg, n, shown));
    if (n == 0 || n > WS_CLI_PATH_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "%s %s is %s (%zu bytes; at most %d)", what, ws_err_show(arg, n, shown),
                          n ? "too long" : "empty", n, WS_CLI_PATH_MAX);
    return 0;
}

int ws_cli_start(const char *progname, int *argc, char **argv, char *const *envp, ws_config *cfg, ws_err *err)
{
    const char *path = NULL;

    ws_log_init(progname, WS_LOG_NOTICE);
    if (ws_config_take_arg(argc, argv, &path, err) < 0)
        return -1;
    if (ws_config_load(cfg, path, envp, err) < 0)
        return -1;
    ws_log_init(progname, cfg->log_level);
    /* The storage drivers own the syntax of `repo`, and set up what they
     * need before any thread exists. */
    if (ws_config_check(cfg, WS_CFG_REPO, ws_storage_url_valid, err) < 0 ||
        ws_storage_global_init(cfg->repo, err) < 0) {
        ws_config_free(cfg);
        return -1;
    }
    return 0;
}
