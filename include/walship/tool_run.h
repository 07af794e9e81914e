/*
 * tool_run.h - the commands of `walship`, the repository tool: one table
 * of commands (name, arguments, help line, function), run against the
 * configured repository.  To add a command: a function and a row in
 * commands[] (src/tool/tool_run.c).
 */
#ifndef WALSHIP_TOOL_RUN_H
#define WALSHIP_TOOL_RUN_H

#include <stdbool.h>
#include <stdio.h>

#include "walship/config.h"

typedef struct ws_tool_opts {
    bool raw_keys; /* --key: object names are exact keys */
} ws_tool_opts;

/* Writes the list of commands (for --help). */
void ws_tool_run_usage(FILE *out);

/*
 * Runs command `cmd` with its arguments: an unknown command or a wrong
 * number of arguments is WS_EXIT_USAGE (said on stderr); a failure is
 * logged (one line) and WS_EXIT_ERROR.  Results go to standard output.
 */
int ws_tool_run(const ws_config *cfg, const char *cmd, int argc, char **argv, const ws_tool_opts *o);

#endif
