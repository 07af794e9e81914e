/* wal_name.c - recognising WAL file names (see wal_name.h). */
#include "walship/wal_name.h"

#include <inttypes.h>
#include <stdio.h>
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

bool ws_wal_name_is_segment(const char *name)
{
    return strlen(name) == WS_WAL_SEG_NAME_LEN && hex_upper(name, WS_WAL_SEG_NAME_LEN, NULL);
}

int ws_wal_name_parse(const char *name, ws_wal_name *out, ws_err *err)
{
    size_t len = strlen(name);
    char shown[WS_SHOW_BUF];

    memset(out, 0, sizeof *out);
    if (len == 16 && strcmp(name + 8, ".history") == 0 && hex_upper(name, 8, &out->tli)) {
        out->kind = WS_WAL_HISTORY;
        if (out->tli >= 2)
            return 0;
        return ws_err_set(err, WS_ERR_INVALID, "%s: timeline 1 has no history file", ws_err_show(name, len, shown));
    }
    if (len >= WS_WAL_SEG_NAME_LEN && hex_upper(name, 8, &out->tli) && hex_upper(name + 8, 8, &out->log) &&
        hex_upper(name + 16, 8, &out->seg)) {
        const char *rest = name + WS_WAL_SEG_NAME_LEN;

        if (out->tli == 0)
            return ws_err_set(err, WS_ERR_INVALID, "%s: timeline 0 is not valid in a WAL file name",
                              ws_err_show(name, len, shown));
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
    /* The name comes from the command line: shown escaped and cut. */
    return ws_err_set(err, WS_ERR_INVALID,
                      "%s is not a WAL file name (expected a segment, .partial, .backup or .history file)",
                      ws_err_show(name, len, shown));
}

/* --- segment arithmetic ------------------------------------------------ */

bool ws_wal_name_seg_size_valid(uint64_t seg_size)
{
    return seg_size >= WS_WAL_SEG_SIZE_MIN && seg_size <= WS_WAL_SEG_SIZE_MAX && (seg_size & (seg_size - 1)) == 0;
}

uint32_t ws_wal_name_segs_per_log(uint32_t seg_size)
{
    return (uint32_t) (UINT64_C(0x100000000) / seg_size);
}

int ws_wal_name_segno(const ws_wal_name *w, uint32_t seg_size, uint64_t *segno, ws_err *err)
{
    uint32_t per;

    if (!ws_wal_name_seg_size_valid(seg_size))
        return ws_err_set(err, WS_ERR_INVALID, "%" PRIu32 " is not a valid WAL segment size", seg_size);
    if (w->kind == WS_WAL_HISTORY)
        return ws_err_set(err, WS_ERR_INVALID, "a timeline history file has no segment number");
    per = ws_wal_name_segs_per_log(seg_size);
    if (w->seg >= per)
        return ws_err_set(err, WS_ERR_INVALID,
                          "segment part %08" PRIX32 " is out of range for %" PRIu32 " MiB segments (at most %08" PRIX32
                          ")",
                          w->seg, seg_size >> 20, per - 1);
    *segno = (uint64_t) w->log * per + w->seg;
    return 0;
}

int ws_wal_name_start_lsn(const ws_wal_name *w, uint32_t seg_size, uint64_t *lsn, ws_err *err)
{
    uint64_t segno;

    if (ws_wal_name_segno(w, seg_size, &segno, err) < 0)
        return -1;
    *lsn = segno * seg_size;
    return 0;
}

void ws_wal_name_from_segno(uint32_t tli, uint64_t segno, uint32_t seg_size, ws_wal_name *out)
{
    uint32_t per = ws_wal_name_segs_per_log(seg_size);

    memset(out, 0, sizeof *out);
    out->kind = WS_WAL_SEGMENT;
    out->tli = tli;
    out->log = (uint32_t) (segno / per);
    out->seg = (uint32_t) (segno % per);
}

int ws_wal_name_next_segment(const ws_wal_name *w, uint32_t seg_size, ws_wal_name *out, ws_err *err)
{
    uint64_t segno;

    if (w->kind != WS_WAL_SEGMENT && w->kind != WS_WAL_PARTIAL)
        return ws_err_set(err, WS_ERR_INVALID, "only a segment has a next segment");
    if (ws_wal_name_segno(w, seg_size, &segno, err) < 0)
        return -1;
    /* The last segment ends at 2^64: there is none after it. */
    if ((segno + 1) > UINT64_MAX / seg_size)
        return ws_err_set(err, WS_ERR_INVALID, "no WAL segment follows the last one");
    ws_wal_name_from_segno(w->tli, segno + 1, seg_size, out);
    return 0;
}

void ws_wal_name_format(const ws_wal_name *w, char out[WS_WAL_NAME_MAX])
{
    switch (w->kind) {
    case WS_WAL_HISTORY:
        snprintf(out, WS_WAL_NAME_MAX, "%08" PRIX32 ".history", w->tli);
        break;
    case WS_WAL_PARTIAL:
        snprintf(out, WS_WAL_NAME_MAX, "%08" PRIX32 "%08" PRIX32 "%08" PRIX32 ".partial", w->tli, w->log, w->seg);
        break;
    case WS_WAL_BACKUP:
        snprintf(out, WS_WAL_NAME_MAX, "%08" PRIX32 "%08" PRIX32 "%08" PRIX32 ".%08" PRIX32 ".backup", w->tli, w->log,
                 w->seg, w->offset);
        break;
    case WS_WAL_SEGMENT:
    default:
        snprintf(out, WS_WAL_NAME_MAX, "%08" PRIX32 "%08" PRIX32 "%08" PRIX32, w->tli, w->log, w->seg);
        break;
    }
}

void ws_wal_name_format_lsn(uint64_t lsn, char out[18])
{
    snprintf(out, 18, "%" PRIX32 "/%" PRIX32, (uint32_t) (lsn >> 32), (uint32_t) lsn);
}

int ws_wal_name_parse_lsn(const char *text, uint64_t *out)
{
    uint64_t part[2] = {0, 0};
    const char *p = text;

    for (int i = 0; i < 2; i++) {
        int digits = 0;

        for (; *p && *p != '/'; p++, digits++) {
            int v;

            if (*p >= '0' && *p <= '9')
                v = *p - '0';
            else if (*p >= 'A' && *p <= 'F')
                v = *p - 'A' + 10;
            else if (*p >= 'a' && *p <= 'f')
                v = *p - 'a' + 10;
            else
                return -1;
            part[i] = part[i] << 4 | (uint64_t) v;
        }
        if (digits < 1 || digits > 8)
            return -1;
        if (i == 0) {
            if (*p != '/')
                return -1;
            p++;
        }
    }
    if (*p)
        return -1;
    *out = part[0] << 32 | part[1];
    return 0;
}
