/* cli.c - executable start-up (see cli.h). */
#include "walship/cli.h"

#include <getopt.h>
#include <string.h>
#include <unistd.h>

#include "walship/log.h"
#include "walship/storage.h"

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

/* Logs a failure before the run, with the exit status when it is fatal
 * for PostgreSQL. */
static int fail(const ws_err *err, int status)
{
    if (status > 125)
        ws_log(WS_LOG_ERROR, "%s (exit %d)", err->msg, status);
    else
        ws_log_err(err);
    return 1;
}

int ws_cli_files(const ws_cli_files_spec *spec, int *argc, char **argv, char *const *envp, ws_config *cfg, int *first,
                 int *status)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ws_err err;
    int c, n = 0;

    ws_err_clear(&err);
    *status = spec->fail_status;
    if (ws_cli_start(spec->progname, argc, argv, envp, cfg, &err) < 0)
        return fail(&err, *status);
    while ((c = getopt_long(*argc, argv, "h", opts, NULL)) != -1) {
        spec->usage(c == 'h' ? stdout : stderr);
        ws_config_free(cfg);
        *status = c == 'h' ? WS_EXIT_OK : spec->usage_status;
        return 1;
    }
    while (spec->names[n])
        n++;
    *first = optind;
    if (*argc - optind != n) {
        ws_err_set(&err, WS_ERR_INVALID, "%s", spec->expected);
        ws_config_free(cfg);
        *status = spec->usage_status;
        return fail(&err, *status);
    }
    for (int i = 0; i < n; i++) {
        if (ws_cli_check_path(spec->names[i], argv[optind + i], &err) < 0) {
            ws_config_free(cfg);
            return fail(&err, *status);
        }
    }
    return 0;
}

bool ws_cli_output_option(int c, ws_cli_output *out)
{
    switch (c) {
    case WS_CLI_O_JSON:
        out->json = true;
        return true;
    case WS_CLI_O_PROGRESS:
        out->tty = 1;
        return true;
    case WS_CLI_O_NO_PROGRESS:
        out->tty = 0;
        return true;
    case WS_CLI_O_QUIET:
        out->quiet = true;
        return true;
    default:
        return false;
    }
}

bool ws_cli_output_tty(const ws_cli_output *out)
{
    return out->tty >= 0 ? out->tty == 1 : isatty(2) == 1;
}

int ws_cli_usage(bool help, void (*usage)(FILE *out))
{
    usage(help ? stdout : stderr);
    return help ? WS_EXIT_OK : WS_EXIT_USAGE;
}
