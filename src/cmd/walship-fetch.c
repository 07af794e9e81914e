/*
 * walship-fetch - PostgreSQL's restore_command: walship-fetch %f %p
 *
 * Serves a segment the prefetcher left in the spool (restore_fast.h) in a
 * process that does not load the storage drivers' libraries; every other
 * call -- a direct fetch, "not found", an error, --help -- is the full
 * program's: walship-fetch-full, next to this executable, run with the same
 * arguments and environment, whose exit status PostgreSQL gets.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/cli.h"
#include "walship/config.h"
#include "walship/log.h"
#include "walship/restore_fast.h"
#include "walship/restore_run.h"

#define FULL_NAME "walship-fetch-full"

extern char **environ;

/* The fast path, on a copy of argv (--config is taken out of it). */
static int fast(int argc, char **argv)
{
    char **args = malloc(((size_t) argc + 1) * sizeof *args);
    const char *path = NULL;
    ws_config cfg;
    ws_err err;
    int n = argc, served = 0;

    if (!args)
        return 0;
    memcpy(args, argv, ((size_t) argc + 1) * sizeof *args);
    ws_err_clear(&err);
    if (ws_config_take_arg(&n, args, &path, &err) == 0 && n == 3 && args[1][0] != '-' &&
        ws_cli_check_path("WALFILE", args[1], &err) == 0 && ws_cli_check_path("DEST", args[2], &err) == 0 &&
        ws_config_load(&cfg, path, environ, &err) == 0) {
        ws_log_init("walship-fetch", cfg.log_level);
        served = ws_restore_fast_serve(&cfg, args[1], args[2]);
        ws_config_free(&cfg);
    }
    free(args);
    return served;
}

int main(int argc, char **argv)
{
    char self[PATH_MAX], full[PATH_MAX + sizeof FULL_NAME];
    ssize_t len;
    char *slash;

    ws_log_init("walship-fetch", WS_LOG_NOTICE);
    if (fast(argc, argv))
        return WS_FETCH_OK;
    len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        ws_log(WS_LOG_ERROR, "cannot find this executable (/proc/self/exe): %s (exit %d)", strerror(errno),
               WS_FETCH_LOCAL);
        return WS_FETCH_LOCAL;
    }
    self[len] = '\0';
    slash = strrchr(self, '/');
    *slash = '\0';
    snprintf(full, sizeof full, "%s/" FULL_NAME, self);
    execve(full, argv, environ);
    ws_log(WS_LOG_ERROR, "cannot run %s: %s (exit %d)", full, strerror(errno), WS_FETCH_LOCAL);
    return WS_FETCH_LOCAL;
}
