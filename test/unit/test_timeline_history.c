/* test_timeline_history.c - history files read and followed as PostgreSQL
 * 15 does (readTimeLineHistory, tliOfPointInHistory, tliSwitchPoint and
 * XLogFileReadAnyTLI's choice of timeline for a segment). */
#include <check.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/timeline_history.h"
#include "walship/wal_name.h"
#include "walship/wal_segment.h"

#define MiB (1u << 20)

static ws_err err;

/* Written by PostgreSQL 15.20 (t/028_pitr_timelines.pl): a point-in-time
 * recovery on timeline 2 whose target lies before the point where
 * timeline 2 began (in WAL copied from timeline 1) starts timeline 3. */
static const char issue_file[] = "1\t0/3018CE0\tno recovery target specified\n"
                                 "\n"
                                 "2\t0/3018C78\tat restore point \"rp\"\n";

static void parse_ok(const char *text, size_t len, uint32_t tli, ws_tli_history *h)
{
    ws_err_clear(&err);
    ck_assert_msg(ws_tli_history_parse(text, len, tli, "h", h, &err) == 0, "%s", err.msg);
}

START_TEST(test_issue_file)
{
    ws_tli_history h;
    uint64_t end;
    uint32_t next;
    ws_wal_name w;

    parse_ok(issue_file, strlen(issue_file), 3, &h);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_uint_eq(h.e[0].tli, 1);
    ck_assert_uint_eq(h.e[0].begin, 0);
    ck_assert_uint_eq(h.e[0].end, 0x3018CE0);
    ck_assert_uint_eq(h.e[1].tli, 2);
    ck_assert_uint_eq(h.e[1].begin, 0x3018CE0);
    ck_assert_uint_eq(h.e[1].end, 0x3018C78); /* empty: begins after it ends */
    ck_assert_uint_eq(h.e[2].tli, 3);
    ck_assert_uint_eq(h.e[2].begin, 0x3018C78);
    ck_assert_uint_eq(h.e[2].end, WS_LSN_END);

    /* tliOfPointInHistory: the newest entry holding the point wins, so the
     * WAL from 0/3018C78 is timeline 3's and timeline 2 holds none. */
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0), 1);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x3018C77), 1);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x3018C78), 3);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x3018CE0), 3);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x3018CDF), 3);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, UINT64_C(0x500000000)), 3);
    for (uint64_t lsn = 0x3018000; lsn < 0x3019000; lsn++)
        ck_assert_uint_ne(ws_tli_history_tli_at(&h, lsn), 2);

    /* tliSwitchPoint. */
    ck_assert(ws_tli_history_switch_point(&h, 1, &end, &next));
    ck_assert_uint_eq(end, 0x3018CE0);
    ck_assert_uint_eq(next, 2);
    ck_assert(ws_tli_history_switch_point(&h, 2, &end, &next));
    ck_assert_uint_eq(end, 0x3018C78);
    ck_assert_uint_eq(next, 3);
    ck_assert(ws_tli_history_switch_point(&h, 3, &end, &next));
    ck_assert_uint_eq(end, WS_LSN_END);
    ck_assert_uint_eq(next, 0);
    ck_assert(!ws_tli_history_switch_point(&h, 4, &end, &next));

    /* XLogFileReadAnyTLI: segment 3 is looked for on timeline 3 first
     * (then 2, then 1); segment 2 only on timeline 1. */
    ck_assert(ws_tli_entry_may_hold_segment(&h.e[2], 3, 16 * MiB));
    ck_assert(!ws_tli_entry_may_hold_segment(&h.e[2], 2, 16 * MiB));
    ck_assert(!ws_tli_entry_may_hold_segment(&h.e[1], 2, 16 * MiB));
    ck_assert(ws_tli_entry_may_hold_segment(&h.e[0], 2, 16 * MiB));
    ck_assert(ws_tli_entry_may_hold_segment(&h.e[0], 900, 16 * MiB));
    /* Recovery on timeline 1 or 2 asks for timeline 3's files from segment
     * 3 on. */
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 1, 16 * MiB), 3);
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 2, 16 * MiB), 3);
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 3, 16 * MiB), UINT64_MAX);
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 7, 16 * MiB), UINT64_MAX);
    /* 1 MiB segments: 0/3018C78 is in segment 0x30. */
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 1, MiB), 0x30);
    ws_tli_history_free(&h);

    /* The same file as walship-push and walship-fetch check it. */
    ck_assert_int_eq(ws_wal_name_parse("00000003.history", &w, &err), 0);
    ck_assert_int_eq(ws_wal_segment_check_text(issue_file, strlen(issue_file), &w, "00000003.history", &err), 0);
}
END_TEST

START_TEST(test_follow_increasing)
{
    static const char text[] = "1\t0/3000060\tno recovery target specified\n"
                               "2\t0/50000A0\tbefore 2024-01-01 00:00:00+00\n"
                               "5\tA/B\n";
    ws_tli_history h;
    uint64_t end;
    uint32_t next;

    parse_ok(text, strlen(text), 6, &h);
    ck_assert_uint_eq(h.n, 4);
    ck_assert_uint_eq(h.e[2].tli, 5);
    ck_assert_uint_eq(h.e[2].begin, 0x50000A0);
    ck_assert_uint_eq(h.e[2].end, UINT64_C(0xA0000000B));
    ck_assert_uint_eq(h.e[3].tli, 6);
    ck_assert_uint_eq(h.e[3].begin, UINT64_C(0xA0000000B));
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x300005F), 1);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x3000060), 2);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x50000A0), 5);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, UINT64_C(0xA0000000B)), 6);
    ck_assert(ws_tli_history_switch_point(&h, 2, &end, &next));
    ck_assert_uint_eq(end, 0x50000A0);
    ck_assert_uint_eq(next, 5);
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 1, 16 * MiB), 3);
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 2, 16 * MiB), 5);
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 5, 16 * MiB), UINT64_C(0xA0000000B) / (16 * MiB));
    ws_tli_history_free(&h);

    /* Switchpoints that go back further: the earliest later beginning
     * counts (timeline 3 begins in segment 3, before timeline 1 ends). */
    parse_ok("1\t0/5000000\n2\t0/3000000\n3\t0/7000000\n", 36, 4, &h);
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 1, 16 * MiB), 3);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x2FFFFFF), 1);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x3000000), 3);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x6FFFFFF), 3);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x7000000), 4);
    ws_tli_history_free(&h);

    /* A switchpoint of 0/0 bounds nothing (InvalidXLogRecPtr). */
    parse_ok("1\t0/0\n", 6, 2, &h);
    ck_assert_uint_eq(ws_tli_history_tli_at(&h, 0x9000000), 2);
    ck_assert(ws_tli_entry_may_hold_segment(&h.e[1], 0, 16 * MiB));
    ck_assert_uint_eq(ws_tli_history_newer_from(&h, 1, 16 * MiB), 0);
    ws_tli_history_free(&h);
}
END_TEST

/* Files PostgreSQL accepts, with the timelines and switchpoints it reads. */
static const struct {
    const char *text;
    size_t len; /* 0: strlen */
    uint32_t tli;
    size_t n; /* listed timelines */
    uint32_t tlis[3];
    uint64_t ends[3];
} good[] = {
    {"", 0, 2, 0, {0}, {0}},                                                    /* empty: no parents */
    {"# only a comment\n\n  \t\n", 0, 2, 0, {0}, {0}},                          /* blank and comment lines */
    {"1\t0/3000000", 0, 2, 1, {1}, {0x3000000}},                                /* no newline at the end */
    {"1\t0/3000000\r\n", 0, 2, 1, {1}, {0x3000000}},                            /* CRLF */
    {"1 0/3000000 reason\n", 0, 2, 1, {1}, {0x3000000}},                        /* a space for the tab */
    {"  1\t\t 0/ 3000000\n", 0, 2, 1, {1}, {0x3000000}},                        /* white space sscanf skips */
    {"1\t0/3000000x\n", 0, 2, 1, {1}, {0x3000000}},                             /* the rest of a line is ignored */
    {"1\t0x0/0X3000000\n", 0, 2, 1, {1}, {0x3000000}},                          /* %X takes a 0x prefix */
    {"+1\t+0/+3000000\n", 0, 2, 1, {1}, {0x3000000}},                           /* and a sign */
    {"1\t0/3000000\n 2\t0/2000000\n", 0, 3, 2, {1, 2}, {0x3000000, 0x2000000}}, /* switchpoint back */
    {"0\t0/3000000\n", 0, 2, 1, {0}, {0x3000000}},                              /* timeline 0 on the first line */
    {"1\t0/3\0xyz\n", 10, 2, 1, {1}, {3}},                                      /* a line ends at a NUL byte */
    {"\0garbage\n1\t0/5\n", 15, 2, 1, {1}, {5}},                                /* ... so that line is empty */
    {"1\t1/2\n3\tFFFFFFFF/FFFFFFFF\n", 0, 9, 2, {1, 3}, {UINT64_C(0x100000002), UINT64_MAX}},
};

START_TEST(test_accepted_as_postgresql_does)
{
    const char *t = good[_i].text;
    size_t len = good[_i].len ? good[_i].len : strlen(t);
    ws_tli_history h;

    parse_ok(t, len, good[_i].tli, &h);
    ck_assert_uint_eq(h.n, good[_i].n + 1);
    for (size_t k = 0; k < good[_i].n; k++) {
        ck_assert_uint_eq(h.e[k].tli, good[_i].tlis[k]);
        ck_assert_uint_eq(h.e[k].end, good[_i].ends[k]);
        ck_assert_uint_eq(h.e[k].begin, k ? good[_i].ends[k - 1] : 0);
    }
    ck_assert_uint_eq(h.e[good[_i].n].tli, good[_i].tli);
    ck_assert_uint_eq(h.e[good[_i].n].end, WS_LSN_END);
    ws_tli_history_free(&h);
}
END_TEST

/* Files PostgreSQL refuses (FATAL in readTimeLineHistory). */
static const struct {
    const char *text;
    uint32_t tli;
    const char *needle;
} bad[] = {
    {"x\t0/3000000\treason\n", 2, "h:1: syntax error: expected a numeric timeline ID"},
    {"1\n", 2, "h:1: syntax error: expected a switchpoint location"},
    {"1\t\n", 2, "h:1: syntax error: expected a switchpoint location"},
    {"1\t0-3000000\n", 2, "h:1: syntax error: expected a switchpoint"},
    {"1\t0 /3000000\n", 2, "h:1: syntax error: expected a switchpoint"},
    {"1\t0/\n", 2, "h:1: syntax error: expected a switchpoint"},
    {"1\t0/x\n", 2, "h:1: syntax error: expected a switchpoint"},
    {"1\t0/3000000\n\n1\t0/4000000\n", 3, "h:3: timeline IDs must increase (1 after 1)"},
    {"2\t0/3000000\n1\t0/4000000\n", 3, "h:2: timeline IDs must increase"},
    {"1\t0/3000000\n2\t0/4000000\n", 2, "timeline 2 listed, but the file is for timeline 2"},
    {"1\t0/3000000\n5\t0/4000000\n", 3, "timeline 5 listed, but the file is for timeline 3"},
};

START_TEST(test_refused_as_postgresql_does)
{
    ws_tli_history h;
    const char *t = bad[_i].text;

    ck_assert_int_eq(ws_tli_history_parse(t, strlen(t), bad[_i].tli, "h", &h, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, bad[_i].needle) != NULL, "\"%s\" not in \"%s\"", bad[_i].needle, err.msg);
    ck_assert_ptr_null(h.e);
}
END_TEST

/* A line longer than PostgreSQL's 1024-byte line buffer is read as several
 * lines: a long reason is refused unless its continuation is blank or
 * starts with '#', as PostgreSQL does. */
START_TEST(test_long_lines)
{
    char buf[3000];
    ws_tli_history h;
    size_t n;

    n = (size_t) snprintf(buf, sizeof buf, "1\t0/3000000\t");
    memset(buf + n, 'r', 1500);
    n += 1500;
    buf[n++] = '\n';
    ck_assert_int_eq(ws_tli_history_parse(buf, n, 2, "h", &h, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "h:1: syntax error: expected a numeric timeline ID"));

    n = (size_t) snprintf(buf, sizeof buf, "1\t0/3000000\t");
    memset(buf + n, ' ', 1500);
    n += 1500;
    n += (size_t) snprintf(buf + n, sizeof buf - n, "\n2\t0/4000000\n");
    parse_ok(buf, n, 3, &h);
    ck_assert_uint_eq(h.n, 3);
    ck_assert_uint_eq(h.e[1].end, 0x4000000);
    ws_tli_history_free(&h);
}
END_TEST

/*
 * readTimeLineHistory's loop written out with the C library calls it uses
 * (fgets into a 1024-byte buffer, isspace, sscanf): the reference for
 * random files.  Returns the number of listed timelines, -1 when refused.
 */
static int reference_read(char *buf, size_t len, uint32_t target, ws_tli_entry *out, size_t max)
{
    FILE *f;
    char fline[1024];
    unsigned lasttli = 0;
    uint64_t prevend = 0;
    int n = 0;

    if (len == 0)
        return 0;
    f = fmemopen(buf, len, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(fline, sizeof fline, f)) {
        char *ptr;
        unsigned tli, hi, lo;

        for (ptr = fline; *ptr; ptr++)
            if (!isspace((unsigned char) *ptr))
                break;
        if (*ptr == '\0' || *ptr == '#')
            continue;
        if (sscanf(fline, "%u\t%X/%X", &tli, &hi, &lo) != 3 || (n > 0 && tli <= lasttli) || (size_t) n == max) {
            fclose(f);
            return -1;
        }
        lasttli = tli;
        out[n].tli = tli;
        out[n].begin = prevend;
        out[n].end = (uint64_t) hi << 32 | lo;
        prevend = out[n].end;
        n++;
    }
    fclose(f);
    return n > 0 && target <= lasttli ? -1 : n;
}

START_TEST(test_random_files_as_reference)
{
    static const char *pieces[] = {"1",
                                   "2",
                                   "3",
                                   "7",
                                   "10",
                                   "0",
                                   "\t",
                                   " ",
                                   "/",
                                   "0/",
                                   "3018CE0",
                                   "A",
                                   "ff",
                                   "0x",
                                   "+",
                                   "-",
                                   "#",
                                   "\n",
                                   "\n",
                                   "\n",
                                   "\r",
                                   "\r\n",
                                   "reason",
                                   "\0",
                                   "x",
                                   "G",
                                   ".",
                                   "\v",
                                   "9",
                                   "1\t0/3000000\n",
                                   "2\t0/2000000\n",
                                   "4\t1/0\n"};
    static char buf[4096];
    unsigned seed = 12345;
    unsigned accepted = 0, refused = 0;

    for (int round = 0; round < 20000; round++) {
        ws_tli_entry want[256];
        ws_tli_history h;
        size_t len = 0;
        int parts = (int) (rand_r(&seed) % 24), n, rc;
        uint32_t tli = 1 + rand_r(&seed) % 12;

        for (int k = 0; k < parts; k++) {
            const char *p = pieces[rand_r(&seed) % (sizeof pieces / sizeof pieces[0])];
            size_t pl = *p ? strlen(p) : 1;

            memcpy(buf + len, p, pl);
            len += pl;
        }
        n = reference_read(buf, len, tli, want, 256);
        rc = ws_tli_history_parse(buf, len, tli, "h", &h, &err);
        ck_assert_msg((rc == 0) == (n >= 0), "round %d: reference %d, walship %d (%s) on \"%.*s\"", round, n, rc,
                      err.msg, (int) len, buf);
        if (rc < 0) {
            refused++;
            continue;
        }
        accepted++;
        ck_assert_uint_eq(h.n, (size_t) n + 1);
        for (int k = 0; k < n; k++) {
            ck_assert_uint_eq(h.e[k].tli, want[k].tli);
            ck_assert_uint_eq(h.e[k].begin, want[k].begin);
            ck_assert_uint_eq(h.e[k].end, want[k].end);
        }
        ws_tli_history_free(&h);
    }
    /* Both outcomes must have been exercised for the comparison to mean anything. */
    ck_assert_uint_gt(accepted, 1000);
    ck_assert_uint_gt(refused, 1000);
}
END_TEST

static Suite *history_suite(void)
{
    Suite *s = suite_create("timeline_history");
    TCase *tc = tcase_create("history");

    tcase_add_test(tc, test_issue_file);
    tcase_add_test(tc, test_follow_increasing);
    tcase_add_loop_test(tc, test_accepted_as_postgresql_does, 0, (int) (sizeof good / sizeof good[0]));
    tcase_add_loop_test(tc, test_refused_as_postgresql_does, 0, (int) (sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, test_long_lines);
    tcase_add_test(tc, test_random_files_as_reference);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(history_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
