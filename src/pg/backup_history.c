/* backup_history.c - the ".backup" history file (backup_history.h). */
#include "walship/backup_history.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "walship/pg_time.h"
#include "walship/wal_index.h"

/* The value of the line starting with key (e.g. "LABEL: "), or NULL. */
static const char *line_value(const char *text, size_t len, const char *key, size_t *vlen)
{
    size_t klen = strlen(key);
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        const char *eol = nl ? nl : end;

        if ((size_t) (eol - p) >= klen && memcmp(p, key, klen) == 0) {
            *vlen = (size_t) (eol - p - klen);
            return p + klen;
        }
        p = nl ? nl + 1 : end;
    }
    return NULL;
}

static int copy_value(const char *text, size_t len, const char *key, char *out, size_t outlen, const char *what,
                      ws_err *err)
{
    size_t n;
    const char *v = line_value(text, len, key, &n);

    if (!v)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: no \"%.*s\" line", what, (int) strlen(key) - 2, key);
    if (n >= outlen)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%.*s\" is too long", what, (int) strlen(key) - 2, key);
    memcpy(out, v, n);
    out[n] = '\0';
    return 0;
}

/* "X/X (file NAME)" or "X/X". */
static int lsn_value(const char *text, size_t len, const char *key, bool with_file, uint64_t *lsn, const char *what,
                     ws_err *err)
{
    char v[128], *sp;

    if (copy_value(text, len, key, v, sizeof v, what, err) < 0)
        return -1;
    sp = strchr(v, ' ');
    if (with_file != (sp != NULL) || (sp && (strncmp(sp, " (file ", 7) != 0 || v[strlen(v) - 1] != ')')))
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: malformed \"%.*s\" line", what, (int) strlen(key) - 2, key);
    if (sp)
        *sp = '\0';
    if (ws_wal_name_parse_lsn(v, lsn) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%.*s\" is not an LSN", what, (int) strlen(key) - 2, key);
    return 0;
}

static int tli_value(const char *text, size_t len, const char *key, uint32_t *tli, const char *what, ws_err *err)
{
    char v[32], *end;
    unsigned long t;

    if (copy_value(text, len, key, v, sizeof v, what, err) < 0)
        return -1;
    t = strtoul(v, &end, 10);
    if (*end || end == v || t == 0 || t > UINT32_MAX)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%.*s\" is not a timeline", what, (int) strlen(key) - 2, key);
    *tli = (uint32_t) t;
    return 0;
}

int ws_backup_history_parse(const char *text, size_t len, const char *what, ws_backup_history *out, ws_err *err)
{
    memset(out, 0, sizeof *out);
    if (len > WS_BACKUP_HISTORY_MAX)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: larger than %d bytes", what, WS_BACKUP_HISTORY_MAX);
    if (memchr(text, '\0', len))
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: not text", what);
    if (lsn_value(text, len, "START WAL LOCATION: ", true, &out->start_lsn, what, err) < 0 ||
        lsn_value(text, len, "STOP WAL LOCATION: ", true, &out->stop_lsn, what, err) < 0 ||
        lsn_value(text, len, "CHECKPOINT LOCATION: ", false, &out->checkpoint_lsn, what, err) < 0 ||
        copy_value(text, len, "BACKUP METHOD: ", out->method, sizeof out->method, what, err) < 0 ||
        copy_value(text, len, "BACKUP FROM: ", out->from, sizeof out->from, what, err) < 0 ||
        copy_value(text, len, "START TIME: ", out->start_time, sizeof out->start_time, what, err) < 0 ||
        copy_value(text, len, "STOP TIME: ", out->stop_time, sizeof out->stop_time, what, err) < 0 ||
        copy_value(text, len, "LABEL: ", out->label, sizeof out->label, what, err) < 0 ||
        tli_value(text, len, "START TIMELINE: ", &out->start_tli, what, err) < 0 ||
        tli_value(text, len, "STOP TIMELINE: ", &out->stop_tli, what, err) < 0)
        return -1;
    if (out->stop_lsn < out->start_lsn || out->checkpoint_lsn < out->start_lsn)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: its LSNs are not in order", what);
    return 0;
}

int ws_backup_history_time(const char *text, const char *zone_name, int64_t *out, ws_err *err)
{
    struct tm tm;
    char zone[32];
    int consumed = 0;
    long offset;
    time_t t;

    memset(&tm, 0, sizeof tm);
    if (sscanf(text, "%4d-%2d-%2d %2d:%2d:%2d %31s%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, zone, &consumed) != 7 ||
        text[consumed] != '\0' || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return ws_err_set(err, WS_ERR_CORRUPT, "\"%.64s\" is not a time as PostgreSQL writes one", text);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    if (ws_pg_time_numeric_zone(zone, &offset) == 0)
        t = timegm(&tm) - offset;
    else if (!zone_name || !*zone_name || ws_pg_time_zone_mktime(&tm, zone_name, zone, &t) < 0)
        return ws_err_set(err, WS_ERR_INVALID, "cannot tell the UTC time of \"%.64s\": %s is not an abbreviation of %s",
                          text, zone, zone_name && *zone_name ? zone_name : "the server's log_timezone");
    *out = ((int64_t) t - WS_PG_EPOCH_UNIX) * 1000000;
    return 0;
}
