/* pitr_target.c - recovery targets (pitr_target.h). */
#include "walship/pitr_target.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/wal_index.h"

void ws_pitr_target_init(ws_pitr_target *t)
{
    memset(t, 0, sizeof *t);
    t->kind = WS_PITR_LATEST;
    t->inclusive = true;
    snprintf(t->given, sizeof t->given, "latest");
}

static void given(ws_pitr_target *t, const char *text)
{
    snprintf(t->given, sizeof t->given, "%s", text);
}

int ws_pitr_target_set_keyword(ws_pitr_target *t, const char *text, ws_err *err)
{
    if (strcmp(text, "latest") == 0)
        t->kind = WS_PITR_LATEST;
    else if (strcmp(text, "immediate") == 0)
        t->kind = WS_PITR_IMMEDIATE;
    else
        return ws_err_set(err, WS_ERR_INVALID, "--target \"%.64s\": expected latest or immediate", text);
    given(t, text);
    return 0;
}

int ws_pitr_target_set_time(ws_pitr_target *t, const char *text, const ws_zone_abbrev *known, size_t nknown,
                            ws_err *err)
{
    if (ws_pg_time_parse(text, known, nknown, NULL, &t->time, err) < 0)
        return ws_err_prefix(err, "--target-time");
    t->kind = WS_PITR_TIME;
    given(t, text);
    return 0;
}

int ws_pitr_target_set_xid(ws_pitr_target *t, const char *text, ws_err *err)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-' || text[0] == '+' || text[0] == ' ')
        return ws_err_set(err, WS_ERR_INVALID, "--target-xid \"%.64s\": expected a transaction id (decimal)", text);
    if ((uint32_t) v < 3)
        return ws_err_set(err, WS_ERR_INVALID,
                          "--target-xid %.64s: transaction ids below 3 are special and never commit", text);
    t->kind = WS_PITR_XID;
    t->xid = (uint32_t) v;
    given(t, text);
    return 0;
}

int ws_pitr_target_set_name(ws_pitr_target *t, const char *text, ws_err *err)
{
    size_t n = strlen(text);

    if (n == 0 || n >= sizeof t->name)
        return ws_err_set(err, WS_ERR_INVALID, "--target-name: a restore point name has 1 to %zu bytes",
                          sizeof t->name - 1);
    t->kind = WS_PITR_NAME;
    memcpy(t->name, text, n + 1);
    given(t, text);
    return 0;
}

int ws_pitr_target_set_lsn(ws_pitr_target *t, const char *text, ws_err *err)
{
    if (ws_wal_name_parse_lsn(text, &t->lsn) < 0)
        return ws_err_set(err, WS_ERR_INVALID, "--target-lsn \"%.64s\": expected an LSN such as 0/16B3748", text);
    t->kind = WS_PITR_LSN;
    given(t, text);
    return 0;
}

bool ws_pitr_target_stops_after(const ws_pitr_target *t)
{
    switch (t->kind) {
    case WS_PITR_NAME:
        return true;
    case WS_PITR_XID:
    case WS_PITR_LSN:
        return t->inclusive;
    default:
        return false;
    }
}

static bool ends_xact(const ws_wal_record *r)
{
    return r->kind == WS_WAL_REC_COMMIT || r->kind == WS_WAL_REC_COMMIT_PREPARED || r->kind == WS_WAL_REC_ABORT ||
           r->kind == WS_WAL_REC_ABORT_PREPARED;
}

bool ws_pitr_target_matches(const ws_pitr_target *t, const ws_wal_record *rec)
{
    switch (t->kind) {
    case WS_PITR_TIME:
        return ends_xact(rec) && (t->inclusive ? rec->time > t->time : rec->time >= t->time);
    case WS_PITR_XID:
        return ends_xact(rec) && rec->target_xid == t->xid;
    case WS_PITR_NAME:
        return rec->kind == WS_WAL_REC_RESTORE_POINT && strcmp(rec->name, t->name) == 0;
    case WS_PITR_LSN:
        return rec->lsn >= t->lsn;
    default:
        return false;
    }
}

const char *ws_pitr_target_kind_name(ws_pitr_target_kind k)
{
    static const char *const names[] = {"latest", "immediate", "time", "xid", "name", "lsn"};

    return (unsigned) k < sizeof names / sizeof names[0] ? names[k] : "?";
}

void ws_pitr_target_describe(const ws_pitr_target *t, char *out, size_t outlen)
{
    char v[WS_PG_TIME_TEXT_MAX], lsn[18];
    const char *incl = t->inclusive ? "inclusive" : "exclusive";

    switch (t->kind) {
    case WS_PITR_LATEST:
        snprintf(out, outlen, "latest (the end of the archive)");
        break;
    case WS_PITR_IMMEDIATE:
        snprintf(out, outlen, "immediate (the backup's consistency point)");
        break;
    case WS_PITR_TIME:
        ws_pg_time_format_utc(t->time, v);
        snprintf(out, outlen, "time %s (%s)", v, incl);
        break;
    case WS_PITR_XID:
        snprintf(out, outlen, "transaction %" PRIu32 " (%s)", t->xid, incl);
        break;
    case WS_PITR_NAME:
        snprintf(out, outlen, "restore point \"%s\"", t->name);
        break;
    case WS_PITR_LSN:
        ws_wal_name_format_lsn(t->lsn, lsn);
        snprintf(out, outlen, "LSN %s (%s)", lsn, incl);
        break;
    }
}
