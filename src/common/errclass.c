/* errclass.c - error codes to classes to exit statuses (see errclass.h). */
#include "walship/errclass.h"

ws_errclass ws_errclass_of(ws_errcode code)
{
    switch (code) {
    case WS_OK:
        return WS_CLASS_OK;
    case WS_ERR_NOTFOUND:
        return WS_CLASS_ABSENT;
    case WS_ERR_CORRUPT:
    case WS_ERR_KEY:
    case WS_ERR_FORMAT:
    case WS_ERR_CONFLICT:
        return WS_CLASS_INTEGRITY;
    case WS_ERR_TRANSIENT:
    case WS_ERR_IO:
        return WS_CLASS_UNREACHABLE;
    case WS_ERR_STORAGE:
    case WS_ERR_PERM:
        return WS_CLASS_REFUSED;
    case WS_ERR_CONFIG:
        return WS_CLASS_CONFIG;
    case WS_ERR_NOREPO:
        return WS_CLASS_NOREPO;
    case WS_ERR_INVALID:
    case WS_ERR_NOMEM:
    case WS_ERR_INTERNAL:
        return WS_CLASS_LOCAL;
    }
    return WS_CLASS_LOCAL;
}

const char *ws_errclass_name(ws_errclass c)
{
    static const char *const names[] = {
        [WS_CLASS_OK] = "ok",
        [WS_CLASS_ABSENT] = "absent",
        [WS_CLASS_INTEGRITY] = "integrity",
        [WS_CLASS_UNREACHABLE] = "unreachable",
        [WS_CLASS_REFUSED] = "refused",
        [WS_CLASS_CONFIG] = "configuration",
        [WS_CLASS_NOREPO] = "no repository",
        [WS_CLASS_LOCAL] = "local",
    };

    return (unsigned) c < sizeof names / sizeof names[0] ? names[c] : "unknown";
}

int ws_errclass_fetch_exit(ws_errclass c, bool standby)
{
    switch (c) {
    case WS_CLASS_OK:
        return WS_FETCH_OK;
    case WS_CLASS_ABSENT:
        return WS_FETCH_ABSENT;
    case WS_CLASS_INTEGRITY:
        return WS_FETCH_INTEGRITY;
    case WS_CLASS_UNREACHABLE:
        /* A standby asks again after wal_retrieve_retry_interval; archive
         * recovery would take "not found" for the end of the archive. */
        return standby ? WS_FETCH_ABSENT : WS_FETCH_UNREACHABLE;
    case WS_CLASS_REFUSED:
        return WS_FETCH_UNREACHABLE;
    case WS_CLASS_NOREPO:
        /* A standby set up before the first push, or waiting for a mount,
         * asks again; archive recovery would end at the base backup. */
        return standby ? WS_FETCH_ABSENT : WS_FETCH_LOCAL;
    case WS_CLASS_CONFIG:
    case WS_CLASS_LOCAL:
        return WS_FETCH_LOCAL;
    }
    return WS_FETCH_LOCAL;
}

int ws_errclass_push_exit(ws_errclass c)
{
    return c == WS_CLASS_OK ? WS_EXIT_OK : WS_EXIT_ERROR;
}

bool ws_errclass_is_global(ws_errclass c)
{
    return c == WS_CLASS_UNREACHABLE || c == WS_CLASS_REFUSED || c == WS_CLASS_CONFIG || c == WS_CLASS_NOREPO;
}
