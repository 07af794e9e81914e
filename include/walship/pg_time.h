/*
 * pg_time.h - PostgreSQL timestamps (TimestampTz: microseconds since
 * 2000-01-01 00:00:00 UTC) read from and written as text.
 *
 * Zones a text may name: a numeric offset (+HH, -HHMM, +HH:MM), UTC, GMT, Z,
 * a tz database name (Europe/Berlin) or an abbreviation (CEST).  An
 * abbreviation means nothing on its own (CST is three zones): it is looked
 * up in the abbreviations the caller knows (e.g. the ones a server wrote
 * with times it also gave in UTC) and in a tz database zone.  Looking a zone
 * up changes TZ in the process for the call: call these while no other
 * thread runs.
 */
#ifndef WALSHIP_PG_TIME_H
#define WALSHIP_PG_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "walship/error.h"

#define WS_PG_EPOCH_UNIX INT64_C(946684800) /* 2000-01-01 00:00:00 UTC in Unix seconds */

/* Seconds east of UTC for "UTC", "GMT", "UCT", "Z", "+03", "-0130",
 * "+05:30"; -1 for anything else. */
int ws_pg_time_numeric_zone(const char *zone, long *offset);

/*
 * mktime() of the local time tm in zone_name (a tz database name; NULL: the
 * process's own zone, TZ or /etc/localtime).  With abbr, only a result
 * whose abbreviation there is abbr counts.  0 with *out set; 1 when the
 * local time is ambiguous there (the hour a clock goes back) and abbr does
 * not decide; -1 when no such time exists (the hour a clock skips, or not
 * that abbreviation).
 */
int ws_pg_time_zone_mktime(const struct tm *tm, const char *zone_name, const char *abbr, time_t *out);

/* An abbreviation known to mean an offset (seconds east of UTC). */
typedef struct ws_zone_abbrev {
    char abbr[16];
    long offset;
} ws_zone_abbrev;

/*
 * "YYYY-MM-DD HH:MM:SS[.ffffff] ZONE" ('T' may replace the space between
 * date and time; the space before a numeric offset may be left out).  The
 * zone is required.  An abbreviation is looked up in known[0..nknown) and
 * in abbr_zone (a tz database name, or NULL for the process's own zone);
 * where two say different things it is refused as ambiguous.
 */
int ws_pg_time_parse(const char *text, const ws_zone_abbrev *known, size_t nknown, const char *abbr_zone, int64_t *out,
                     ws_err *err);

/* The offset an abbreviation had when a server wrote local_text
 * ("YYYY-MM-DD HH:MM:SS ABBR", as in a backup history file) for the time
 * ts; -1 when local_text is not of that form. */
int ws_pg_time_abbrev_of(const char *local_text, int64_t ts, ws_zone_abbrev *out);

#define WS_PG_TIME_TEXT_MAX 64

/* "2024-05-01 12:34:56.123456+00": UTC with an explicit offset, as
 * PostgreSQL reads it whatever its TimeZone setting. */
void ws_pg_time_format_utc(int64_t ts, char out[WS_PG_TIME_TEXT_MAX]);

/* "2024-05-01 14:34:56.123456 CEST (+02:00)" in the process's zone. */
void ws_pg_time_format_local(int64_t ts, char out[WS_PG_TIME_TEXT_MAX]);

/* "3 h 12 min", "45.2 s", "2 d 4 h": a span of microseconds for people. */
void ws_pg_time_format_span(int64_t usec, char out[WS_PG_TIME_TEXT_MAX]);

#endif
