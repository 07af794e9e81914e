/*
 * walship - the repository tool: parses the options and runs one command
 * (tool_run.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "walship/cli.h"
#include "walship/log.h"
#include "walship/tool_run.h"

extern char **environ;

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ws_tool_opts o = {0};
    ws_config cfg;
    ws_err err;
    int c, status;

    ws_err_clear(&err);
    if (ws_cli_start("walship", &argc, argv, environ, &cfg, &err) < 0) {
        ws_log_err(&err);
        return WS_EXIT_ERROR;
    }
    while ((c = getopt_long(argc, argv, "+kh", opts, NULL)) != -1) {
        if (c == 'k') {
            o.raw_keys = true;
            continue;
        }
        ws_tool_run_usage(c == 'h' ? stdout : stderr);
        ws_config_free(&cfg);
        return c == 'h' ? WS_EXIT_OK : WS_EXIT_USAGE;
    }
    if (optind >= argc || strcmp(argv[optind], "help") == 0) {
        ws_tool_run_usage(optind >= argc ? stderr : stdout);
        ws_config_free(&cfg);
        return optind >= argc ? WS_EXIT_USAGE : WS_EXIT_OK;
    }
    if (strcmp(argv[optind], "version") == 0) {
        printf("walship %s\n", WALSHIP_VERSION);
        status = WS_EXIT_OK;
    } else {
        status = ws_tool_run(&cfg, argv[optind], argc - optind - 1, argv + optind + 1, &o);
    }
    ws_config_free(&cfg);
    return status;
}
