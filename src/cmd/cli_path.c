/* cli_path.c - checking file arguments (see cli.h); apart from cli.c so
 * that walship-fetch's fast path links it without the storage drivers. */
#include <string.h>

#include "walship/cli.h"

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
