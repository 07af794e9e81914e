/* pg_time.c - TimestampTz from and to text (pg_time.h). */
#include "walship/pg_time.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ws_pg_time_numeric_zone(const char *z, long *offset)
{
    int h = 0, m = 0, sign;
    size_t n = strlen(z);

    if (strcmp(z, "UTC") == 0 || strcmp(z, "GMT") == 0 || strcmp(z, "Z") == 0 || strcmp(z, "UCT") == 0) {
        *offset = 0;
        return 0;
    }
    if (n < 3 || (z[0] != '+' && z[0] != '-'))
        return -1;
    sign = z[0] == '-' ? -1 : 1;
    for (size_t i = 1; i < n; i++)
        if ((z[i] < '0' || z[i] > '9') && !(z[i] == ':' && i == 3))
            return -1;
    if (n == 3)
        h = atoi(z + 1);
    else if (n == 5 && sscanf(z + 1, "%2d%2d", &h, &m) == 2)
        ;
    else if (n == 6 && z[3] == ':' && sscanf(z + 1, "%2d:%2d", &h, &m) == 2)
        ;
    else
        return -1;
    if (h > 15 || m > 59)
        return -1;
    *offset = sign * (h * 3600L + m * 60L);
    return 0;
}

static bool same_wall_clock(const struct tm *a, const struct tm *b)
{
    return a->tm_year == b->tm_year && a->tm_mon == b->tm_mon && a->tm_mday == b->tm_mday && a->tm_hour == b->tm_hour &&
           a->tm_min == b->tm_min && a->tm_sec == b->tm_sec;
}

int ws_pg_time_zone_mktime(const struct tm *tm, const char *zone_name, const char *abbr, time_t *out)
{
    const char *old = getenv("TZ");
    char *saved = old ? strdup(old) : NULL;
    time_t found[2];
    int nfound = 0;

    if (old && !saved)
        return -1;
    if (zone_name) {
        setenv("TZ", zone_name, 1);
        tzset();
    }
    /* "No DST" and "DST": in the hour a clock goes back both exist. */
    for (int dst = 0; dst <= 1; dst++) {
        struct tm t = *tm, back;
        time_t v;

        t.tm_isdst = dst;
        v = mktime(&t);
        if (v == (time_t) -1 || !localtime_r(&v, &back) || !same_wall_clock(&back, tm))
            continue;
        if (abbr && (!back.tm_zone || strcmp(back.tm_zone, abbr) != 0))
            continue;
        if (nfound == 0 || found[0] != v)
            found[nfound++] = v;
    }
    if (zone_name) {
        if (saved)
            setenv("TZ", saved, 1);
        else
            unsetenv("TZ");
        tzset();
    }
    free(saved);
    if (nfound == 0)
        return -1;
    *out = found[0];
    return nfound == 1 ? 0 : 1;
}

/* Whether name is a zone of the tz database here (glibc takes an unknown
 * TZ for UTC without a word, so the file must exist). */
static bool tz_database_zone(const char *name)
{
    const char *dir = getenv("TZDIR");
    char path[512];

    if (!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 200)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char) *p) && !strchr("/_+-", *p))
            return false;
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    return access(path, R_OK) == 0;
}

static bool is_abbreviation(const char *z)
{
    size_t n = strlen(z);

    if (n < 2 || n > 10)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalpha((unsigned char) z[i]))
            return false;
    return true;
}

/* The offset of abbreviation abbr at local time tm: 0 found, -1 unknown,
 * -2 ambiguous (err says why). */
static int abbrev_offset(const struct tm *tm, const char *abbr, const ws_zone_abbrev *known, size_t nknown,
                         const char *abbr_zone, long *offset, const char *text, ws_err *err)
{
    bool have = false;
    time_t t;

    for (size_t i = 0; i < nknown; i++) {
        if (strcmp(known[i].abbr, abbr) != 0)
            continue;
        if (have && known[i].offset != *offset) {
            ws_err_set(err, WS_ERR_INVALID,
                       "\"%.64s\": the zone abbreviation %s has meant two offsets; give the offset (e.g. +02) instead",
                       text, abbr);
            return -2;
        }
        *offset = known[i].offset;
        have = true;
    }
    if (ws_pg_time_zone_mktime(tm, abbr_zone, abbr, &t) == 0) {
        struct tm u = *tm;
        long off = (long) (timegm(&u) - t);

        if (have && off != *offset) {
            ws_err_set(err, WS_ERR_INVALID,
                       "\"%.64s\": the zone abbreviation %s is ambiguous here; give the offset (e.g. +02) instead",
                       text, abbr);
            return -2;
        }
        *offset = off;
        have = true;
    }
    return have ? 0 : -1;
}

int ws_pg_time_parse(const char *text, const ws_zone_abbrev *known, size_t nknown, const char *abbr_zone, int64_t *out,
                     ws_err *err)
{
    int y, mo, d, h, mi, s, n = 0;
    int64_t usec = 0;
    const char *p = text;
    char zone[256];
    size_t zl;
    struct tm tm;
    time_t t;
    long offset;

    if (sscanf(p, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10 || (p[n] != ' ' && p[n] != 'T'))
        goto syntax;
    p += n + 1;
    if (sscanf(p, "%2d:%2d:%2d%n", &h, &mi, &s, &n) != 3 || n != 8)
        goto syntax;
    p += n;
    if (*p == '.') {
        int digits = 0;

        for (p++; isdigit((unsigned char) *p); p++, digits++) {
            if (digits == 6)
                return ws_err_set(err, WS_ERR_INVALID,
                                  "\"%.64s\": more than 6 digits of fractional seconds (PostgreSQL keeps microseconds)",
                                  text);
            usec = usec * 10 + (*p - '0');
        }
        if (digits == 0)
            goto syntax;
        while (digits++ < 6)
            usec *= 10;
    }
    while (*p == ' ')
        p++;
    zl = strlen(p);
    while (zl > 0 && p[zl - 1] == ' ')
        zl--;
    if (zl == 0)
        return ws_err_set(err, WS_ERR_INVALID,
                          "\"%.64s\" has no time zone: add the offset or zone the time is in (e.g. +02, UTC, "
                          "Europe/Berlin)",
                          text);
    if (zl >= sizeof zone)
        goto syntax;
    memcpy(zone, p, zl);
    zone[zl] = '\0';
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59 || y < 1970)
        return ws_err_set(err, WS_ERR_INVALID, "\"%.64s\": no such date or time", text);
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    {
        struct tm chk = tm;
        time_t v = timegm(&chk);
        struct tm back;

        if (!gmtime_r(&v, &back) || !same_wall_clock(&back, &tm))
            return ws_err_set(err, WS_ERR_INVALID, "\"%.64s\": no such date", text);
    }
    if (ws_pg_time_numeric_zone(zone, &offset) == 0) {
        t = timegm(&tm) - offset;
    } else if (tz_database_zone(zone)) {
        int rc = ws_pg_time_zone_mktime(&tm, zone, NULL, &t);

        if (rc == 1)
            return ws_err_set(err, WS_ERR_INVALID,
                              "\"%.64s\" is ambiguous: that hour happens twice in %s (the clock goes back); give "
                              "the offset instead (e.g. +02 or +01)",
                              text, zone);
        if (rc < 0)
            return ws_err_set(err, WS_ERR_INVALID, "\"%.64s\" does not exist in %s (the clock skips that hour)", text,
                              zone);
    } else if (is_abbreviation(zone)) {
        int rc = abbrev_offset(&tm, zone, known, nknown, abbr_zone, &offset, text, err);

        if (rc == -2)
            return -1;
        if (rc < 0)
            return ws_err_set(err, WS_ERR_INVALID,
                              "\"%.64s\": unknown time zone abbreviation %s (not one the server wrote with its "
                              "backups, nor one of this machine's zone); give the offset (e.g. +02) or a zone name "
                              "(e.g. Europe/Berlin)",
                              text, zone);
        t = timegm(&tm) - offset;
    } else {
        return ws_err_set(err, WS_ERR_INVALID,
                          "\"%.64s\": unknown time zone \"%s\" (expected an offset such as +02 or -05:30, UTC, a "
                          "zone name such as Europe/Berlin, or an abbreviation such as CEST)",
                          text, zone);
    }
    *out = ((int64_t) t - WS_PG_EPOCH_UNIX) * 1000000 + usec;
    return 0;
syntax:
    return ws_err_set(err, WS_ERR_INVALID, "\"%.64s\" is not a time of the form 'YYYY-MM-DD HH:MM:SS[.ffffff] ZONE'",
                      text);
}

int ws_pg_time_abbrev_of(const char *local_text, int64_t ts, ws_zone_abbrev *out)
{
    struct tm tm;
    int consumed = 0;
    int64_t secs = ts / 1000000;

    if (ts % 1000000 < 0)
        secs--;
    memset(&tm, 0, sizeof tm);
    memset(out, 0, sizeof *out);
    if (sscanf(local_text, "%4d-%2d-%2d %2d:%2d:%2d %15s%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, out->abbr, &consumed) != 7 ||
        local_text[consumed] != '\0' || !is_abbreviation(out->abbr))
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    out->offset = (long) ((int64_t) timegm(&tm) - (secs + WS_PG_EPOCH_UNIX));
    return 0;
}

/* Unix seconds and microseconds of a TimestampTz. */
static void split(int64_t ts, time_t *t, int *usec)
{
    int64_t secs = ts / 1000000, us = ts % 1000000;

    if (us < 0) {
        us += 1000000;
        secs--;
    }
    *t = (time_t) (secs + WS_PG_EPOCH_UNIX);
    *usec = (int) us;
}

void ws_pg_time_format_utc(int64_t ts, char out[WS_PG_TIME_TEXT_MAX])
{
    struct tm tm;
    time_t t;
    int usec;

    split(ts, &t, &usec);
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, WS_PG_TIME_TEXT_MAX, "%" PRId64, ts);
        return;
    }
    snprintf(out, WS_PG_TIME_TEXT_MAX, "%04d-%02d-%02d %02d:%02d:%02d.%06d+00", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec);
}

void ws_pg_time_format_local(int64_t ts, char out[WS_PG_TIME_TEXT_MAX])
{
    struct tm tm;
    time_t t;
    int usec;
    char off[8];

    split(ts, &t, &usec);
    if (!localtime_r(&t, &tm) || strftime(off, sizeof off, "%z", &tm) != 5) {
        ws_pg_time_format_utc(ts, out);
        return;
    }
    snprintf(out, WS_PG_TIME_TEXT_MAX, "%04d-%02d-%02d %02d:%02d:%02d.%06d %s (%.3s:%.2s)", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, usec, tm.tm_zone ? tm.tm_zone : "", off,
             off + 3);
}

void ws_pg_time_format_span(int64_t usec, char out[WS_PG_TIME_TEXT_MAX])
{
    double s = (double) (usec < 0 ? -usec : usec) / 1e6;
    const char *sign = usec < 0 ? "-" : "";
    uint64_t whole = (uint64_t) s;

    if (s < 60)
        snprintf(out, WS_PG_TIME_TEXT_MAX, "%s%.1f s", sign, s);
    else if (s < 3600)
        snprintf(out, WS_PG_TIME_TEXT_MAX, "%s%" PRIu64 " min %" PRIu64 " s", sign, whole / 60, whole % 60);
    else if (s < 86400)
        snprintf(out, WS_PG_TIME_TEXT_MAX, "%s%" PRIu64 " h %" PRIu64 " min", sign, whole / 3600, whole % 3600 / 60);
    else
        snprintf(out, WS_PG_TIME_TEXT_MAX, "%s%" PRIu64 " d %" PRIu64 " h", sign, whole / 86400, whole % 86400 / 3600);
}
