/* wal_name.c - recognising WAL file names (see wal_name.h). */
#include "walship/wal_name.h"

#include <string.h>

static bool hex_upper(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (c >= '0' && c <= '9')
            v = v << 4 | (uint32_t) (c - '0');
        else if (c >= 'A' && c <= 'F')
            v = v << 4 | (uint32_t) (c - 'A' + 10);
        else
            return false;
    }
    if (out)
        *out = v;
    return true;
}

bool ws_wal_is_segment_name(const char *name)
{
    return strlen(name) == WS_WAL_SEG_NAME_LEN && hex_upper(name, WS_WAL_SEG_NAME_LEN, NULL);
}

int ws_wal_name_parse(const char *name, ws_wal_name *out, ws_err *err)
{
    size_t len = strlen(name);

    memset(out, 0, sizeof *out);
    if (len == 16 && strcmp(name + 8, ".history") == 0 && hex_upper(name, 8, &out->tli)) {
        out->kind = WS_WAL_HISTORY;
        if (out->tli >= 2)
            return 0;
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\": timeline 1 has no history file", name);
    }
    if (len >= WS_WAL_SEG_NAME_LEN && hex_upper(name, 8, &out->tli) && hex_upper(name + 8, 8, &out->log) &&
        hex_upper(name + 16, 8, &out->seg)) {
        const char *rest = name + WS_WAL_SEG_NAME_LEN;

        if (out->tli == 0)
            return ws_err_set(err, WS_ERR_INVALID, "\"%s\": timeline 0 is not valid in a WAL file name", name);
        if (*rest == '\0') {
            out->kind = WS_WAL_SEGMENT;
            return 0;
        }
        if (strcmp(rest, ".partial") == 0) {
            out->kind = WS_WAL_PARTIAL;
            return 0;
        }
        if (strlen(rest) == 16 && rest[0] == '.' && hex_upper(rest + 1, 8, &out->offset) &&
            strcmp(rest + 9, ".backup") == 0) {
            out->kind = WS_WAL_BACKUP;
            return 0;
        }
    }
    return ws_err_set(err, WS_ERR_INVALID,
                      "\"%s\" is not a WAL file name (expected a segment, .partial, .backup or .history file)", name);
}
