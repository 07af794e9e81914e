/* test_wal.c - WAL name arithmetic, page header checks, history files, and
 * the repository pieces walship-push relies on (identity, checked stat,
 * per-name locks). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/repo_identity.h"
#include "walship/repo_keys.h"
#include "walship/repo_object.h"
#include "walship/timeline_history.h"
#include "walship/wal_name.h"
#include "walship/wal_segment.h"

#define MiB (1u << 20)

static ws_err err;

static ws_wal_name name_of(const char *s)
{
    ws_wal_name w;

    ck_assert_msg(ws_wal_name_parse(s, &w, &err) == 0, "%s: %s", s, err.msg);
    return w;
}

static void assert_next(const char *cur, uint32_t seg_size, const char *want)
{
    ws_wal_name w = name_of(cur), n;
    char out[WS_WAL_NAME_MAX];

    ck_assert_int_eq(ws_wal_name_next_segment(&w, seg_size, &n, &err), 0);
    ws_wal_name_format(&n, out);
    ck_assert_str_eq(out, want);
}

/* --- names -------------------------------------------------------------- */

START_TEST(test_next_segment_16mib)
{
    assert_next("000000010000000000000001", 16 * MiB, "000000010000000000000002");
    assert_next("0000000100000000000000FE", 16 * MiB, "0000000100000000000000FF");
    /* 256 segments of 16 MiB per 4 GiB: FF is the last of a log id. */
    assert_next("0000000100000000000000FF", 16 * MiB, "000000010000000100000000");
    assert_next("00000003000000AB000000FF", 16 * MiB, "00000003000000AC00000000");
    /* The timeline is kept. */
    assert_next("0000002A0000000000000010", 16 * MiB, "0000002A0000000000000011");
    /* A .partial's next segment is a plain segment. */
    assert_next("000000010000000000000005.partial", 16 * MiB, "000000010000000000000006");
}
END_TEST

START_TEST(test_next_segment_64mib_1gib_1mib)
{
    assert_next("00000001000000000000003E", 64 * MiB, "00000001000000000000003F");
    assert_next("00000001000000000000003F", 64 * MiB, "000000010000000100000000");
    assert_next("000000010000000000000003", 1024 * MiB, "000000010000000100000000");
    assert_next("000000010000000000000002", 1024 * MiB, "000000010000000000000003");
    assert_next("000000010000000000000FFF", 1 * MiB, "000000010000000100000000");
}
END_TEST

START_TEST(test_segment_out_of_range_for_size)
{
    ws_wal_name w = name_of("000000010000000000000040"), n;
    uint64_t lsn;

    /* 0x40 is the 65th segment: valid for 16 MiB, not for 64 MiB. */
    ck_assert_int_eq(ws_wal_name_start_lsn(&w, 16 * MiB, &lsn, &err), 0);
    ck_assert_uint_eq(lsn, UINT64_C(0x40000000));
    ck_assert_int_eq(ws_wal_name_start_lsn(&w, 64 * MiB, &lsn, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "out of range"));
    ck_assert_int_eq(ws_wal_name_next_segment(&w, 1024 * MiB, &n, &err), -1);
    /* Invalid sizes. */
    ck_assert_int_eq(ws_wal_name_start_lsn(&w, 3 * MiB, &lsn, &err), -1);
    ck_assert_int_eq(ws_wal_name_start_lsn(&w, MiB / 2, &lsn, &err), -1);
}
END_TEST

START_TEST(test_start_lsn_and_segno)
{
    ws_wal_name w = name_of("0000000200000005000000C3"), back;
    uint64_t lsn, segno;
    char out[WS_WAL_NAME_MAX], l[18];

    ck_assert_int_eq(ws_wal_name_start_lsn(&w, 16 * MiB, &lsn, &err), 0);
    ck_assert_uint_eq(lsn, UINT64_C(0x5C3000000));
    ws_wal_name_format_lsn(lsn, l);
    ck_assert_str_eq(l, "5/C3000000");
    ck_assert_int_eq(ws_wal_name_segno(&w, 16 * MiB, &segno, &err), 0);
    ck_assert_uint_eq(segno, 5 * 256 + 0xC3);
    ws_wal_name_from_segno(2, segno, 16 * MiB, &back);
    ws_wal_name_format(&back, out);
    ck_assert_str_eq(out, "0000000200000005000000C3");
    /* 1 GiB: 4 segments per log id. */
    w = name_of("000000010000000700000002");
    ck_assert_int_eq(ws_wal_name_start_lsn(&w, 1024 * MiB, &lsn, &err), 0);
    ck_assert_uint_eq(lsn, UINT64_C(0x780000000));
    /* The last segment has no successor. */
    w = name_of("00000001FFFFFFFF000000FF");
    ck_assert_int_eq(ws_wal_name_next_segment(&w, 16 * MiB, &back, &err), -1);
}
END_TEST

START_TEST(test_name_kinds)
{
    ws_wal_name w;
    char out[WS_WAL_NAME_MAX];

    w = name_of("000000010000000000000003.partial");
    ck_assert_int_eq(w.kind, WS_WAL_PARTIAL);
    ck_assert_uint_eq(w.seg, 3);
    w = name_of("000000010000000000000002.00000028.backup");
    ck_assert_int_eq(w.kind, WS_WAL_BACKUP);
    ck_assert_uint_eq(w.offset, 0x28);
    ws_wal_name_format(&w, out);
    ck_assert_str_eq(out, "000000010000000000000002.00000028.backup");
    w = name_of("0000000A.history");
    ck_assert_int_eq(w.kind, WS_WAL_HISTORY);
    ck_assert_uint_eq(w.tli, 10);
    ws_wal_name_format(&w, out);
    ck_assert_str_eq(out, "0000000A.history");
    w = name_of("000000030000000000000003.partial");
    ws_wal_name_format(&w, out);
    ck_assert_str_eq(out, "000000030000000000000003.partial");
}
END_TEST

static const char *const bad_names[] = {
    "",
    "00000001000000000000000",   /* 23 digits */
    "0000000100000000000000001", /* 25 digits */
    "00000001000000000000000a",  /* lower case */
    "000000000000000000000001",  /* timeline 0 */
    "00000001.history",          /* timeline 1 has none */
    "0000000G.history",
    "000000010000000000000001.part",
    "000000010000000000000001.partial.x",
    "000000010000000000000001.0000028.backup",
    "000000010000000000000001.00000028.backu",
    "RECOVERYXLOG",
    "pg_wal/000000010000000000000001",
    "000000010000000000000001 ",
};

START_TEST(test_invalid_names)
{
    ws_wal_name w;
    char key[WS_KEY_MAX];

    ck_assert_int_eq(ws_wal_name_parse(bad_names[_i], &w, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ck_assert_int_eq(ws_repo_keys_wal(bad_names[_i], key, sizeof key, &err), -1);
}
END_TEST

START_TEST(test_seg_size_valid)
{
    ck_assert(ws_wal_name_seg_size_valid(MiB));
    ck_assert(ws_wal_name_seg_size_valid(16 * MiB));
    ck_assert(ws_wal_name_seg_size_valid(1024 * MiB));
    ck_assert(!ws_wal_name_seg_size_valid(2048u * MiB));
    ck_assert(!ws_wal_name_seg_size_valid(MiB / 2));
    ck_assert(!ws_wal_name_seg_size_valid(48 * MiB));
    ck_assert(!ws_wal_name_seg_size_valid(0));
}
END_TEST

/* --- page headers -------------------------------------------------------- */

static ws_wal_header good_header(void)
{
    ws_wal_header h = {
        .magic = 0xD110,
        .info = WS_XLP_LONG_HEADER,
        .tli = 1,
        .pageaddr = UINT64_C(0x5000000),
        .sysid = UINT64_C(7301234567890123456),
        .seg_size = 16 * MiB,
        .blcksz = 8192,
    };
    return h;
}

static int check_hdr(const ws_wal_header *h, const char *name, uint64_t size)
{
    uint8_t buf[WS_WAL_LONG_HEADER_LEN];
    ws_wal_name w = name_of(name);
    ws_wal_header out;

    ws_wal_header_encode(h, buf);
    ws_err_clear(&err);
    return ws_wal_segment_check(buf, sizeof buf, size, &w, "f", &out, &err);
}

static void assert_bad(const ws_wal_header *h, const char *name, uint64_t size, const char *needle)
{
    ck_assert_int_eq(check_hdr(h, name, size), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, err.msg);
    ck_assert_msg(strncmp(err.msg, "f: ", 3) == 0, "file not named: %s", err.msg);
}

START_TEST(test_header_good)
{
    ws_wal_header h = good_header();
    uint8_t buf[WS_WAL_LONG_HEADER_LEN];
    ws_wal_name w = name_of("000000010000000000000005");
    ws_wal_header out;

    ws_wal_header_encode(&h, buf);
    ck_assert_int_eq(ws_wal_segment_check(buf, sizeof buf, 16 * MiB, &w, "f", &out, &err), 0);
    ck_assert_uint_eq(out.sysid, h.sysid);
    ck_assert_uint_eq(out.pg_version, 15);
    /* A .partial is checked the same way and has the full size. */
    ck_assert_int_eq(check_hdr(&h, "000000010000000000000005.partial", 16 * MiB), 0);
    /* The first segment of timeline 2 still carries timeline 1. */
    ck_assert_int_eq(check_hdr(&h, "000000020000000000000005", 16 * MiB), 0);
    h.tli = 2;
    ck_assert_int_eq(check_hdr(&h, "000000020000000000000005", 16 * MiB), 0);
    /* PostgreSQL 14's magic is accepted and reported. */
    h.magic = 0xD10D;
    ck_assert_int_eq(check_hdr(&h, "000000020000000000000005", 16 * MiB), 0);
    ck_assert_uint_eq(ws_wal_segment_magic_version(0xD10D), 14);
    ck_assert_uint_eq(ws_wal_segment_magic_version(0xD113), 16);
    ck_assert_uint_eq(ws_wal_segment_magic_version(0xD101), 0);
    /* Other flags beside the long header are fine. */
    h.info = WS_XLP_LONG_HEADER | 0x0001 | 0x0004;
    ck_assert_int_eq(check_hdr(&h, "000000020000000000000005", 16 * MiB), 0);
    /* XLP_FIRST_IS_OVERWRITE_CONTRECORD (0x0008): set on the first page after
     * a crash lost the end of a record; such a segment must still archive. */
    h.info = WS_XLP_LONG_HEADER | 0x0008;
    ck_assert_int_eq(check_hdr(&h, "000000020000000000000005", 16 * MiB), 0);
    h.info = WS_XLP_LONG_HEADER | 0x0010;
    ck_assert_int_eq(check_hdr(&h, "000000020000000000000005", 16 * MiB), -1);
    /* 64 MiB and 1 GiB segments. */
    h = good_header();
    h.seg_size = 64 * MiB;
    h.pageaddr = UINT64_C(0x3F) * 64 * MiB;
    ck_assert_int_eq(check_hdr(&h, "00000001000000000000003F", 64 * MiB), 0);
    h.seg_size = 1024 * MiB;
    h.pageaddr = UINT64_C(0x740000000);
    ck_assert_int_eq(check_hdr(&h, "000000010000000700000001", 1024 * MiB), 0);
}
END_TEST

START_TEST(test_header_each_field_wrong)
{
    ws_wal_header h;
    uint8_t buf[WS_WAL_LONG_HEADER_LEN] = {0};
    ws_wal_name w = name_of("000000010000000000000005");

    h = good_header();
    h.magic = 0xD101;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "page magic 0xD101");
    h = good_header();
    h.magic = 0x1234;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "not a WAL segment of a supported PostgreSQL");
    h = good_header();
    h.info = 0;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "no long header");
    h = good_header();
    h.info = WS_XLP_LONG_HEADER | 0x0100;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "unknown flags");
    h = good_header();
    h.blcksz = 16384;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "block size 16384");
    h = good_header();
    h.seg_size = 3 * MiB;
    assert_bad(&h, "000000010000000000000005", 3 * MiB, "not a power of two");
    h = good_header();
    h.seg_size = 2048u * MiB;
    assert_bad(&h, "000000010000000000000005", 2048ull * MiB, "not a power of two");
    h = good_header();
    assert_bad(&h, "000000010000000000000005", 8 * MiB, "file size 8388608 differs");
    assert_bad(&h, "000000010000000000000005.partial", 16 * MiB - 8192, "differs from the segment size");
    assert_bad(&h, "000000010000000000000005", 0, "file is empty");
    h = good_header();
    h.tli = 2;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "timeline 2 does not fit the file name's timeline 1");
    h.tli = 0;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "timeline 0");
    h = good_header();
    h.pageaddr = UINT64_C(0x6000000);
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "page address 0/6000000");
    h.pageaddr = UINT64_C(0x5000000) + 8192;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "not the start 0/5000000");
    h = good_header();
    assert_bad(&h, "000000010000000100000005", 16 * MiB, "start 1/5000000");
    h = good_header();
    h.sysid = 0;
    assert_bad(&h, "000000010000000000000005", 16 * MiB, "system identifier 0");
    /* A header longer than the file. */
    ck_assert_int_eq(ws_wal_segment_check(buf, 39, 39, &w, "f", NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "too short"));
    /* All zeros (a never-written segment). */
    ck_assert_int_eq(ws_wal_segment_check(buf, sizeof buf, 16 * MiB, &w, "f", NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "page magic 0x0000"));
}
END_TEST

/* The filter used by walship-fetch: same checks on streamed bytes. */
START_TEST(test_check_filter)
{
    ws_wal_header h = good_header();
    uint8_t *seg = calloc(1, 16 * MiB);
    ws_wal_name w = name_of("000000010000000000000005");
    ws_sink *mem, *f;
    size_t len;

    ck_assert_ptr_nonnull(seg);
    ws_wal_header_encode(&h, seg);
    /* The header arrives in pieces smaller than itself. */
    mem = ws_sink_mem_new();
    f = ws_wal_segment_check_filter_new(&w, "obj", mem, &err);
    ck_assert_int_eq(ws_sink_write(f, seg, 7, &err), 0);
    ck_assert_int_eq(ws_sink_write(f, seg + 7, 30, &err), 0);
    ck_assert_int_eq(ws_sink_pump_mem(seg + 37, 16 * MiB - 37, MiB, f, &err), 0);
    ws_sink_mem_data(mem, &len);
    ck_assert_uint_eq(len, 16 * MiB);
    ws_sink_free(f);
    ws_sink_free(mem);

    /* Stored under the wrong name: corrupt, next not finished. */
    w = name_of("000000010000000000000006");
    mem = ws_sink_mem_new();
    f = ws_wal_segment_check_filter_new(&w, "obj", mem, &err);
    ck_assert_int_eq(ws_sink_pump_mem(seg, 16 * MiB, MiB, f, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "obj: page address"));
    ws_sink_free(f);
    ws_sink_free(mem);

    /* Truncated. */
    w = name_of("000000010000000000000005");
    mem = ws_sink_mem_new();
    f = ws_wal_segment_check_filter_new(&w, "obj", mem, &err);
    ck_assert_int_eq(ws_sink_pump_mem(seg, 16 * MiB - 1, MiB, f, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ws_sink_free(f);
    ws_sink_free(mem);

    /* A history file through the filter. */
    static const char hist[] = "1\t0/3000000\tno recovery target specified\n";
    w = name_of("00000002.history");
    mem = ws_sink_mem_new();
    f = ws_wal_segment_check_filter_new(&w, "h", mem, &err);
    ck_assert_int_eq(ws_sink_pump_mem(hist, strlen(hist), 5, f, &err), 0);
    ws_sink_free(f);
    ws_sink_free(mem);
    mem = ws_sink_mem_new();
    f = ws_wal_segment_check_filter_new(&w, "h", mem, &err);
    ck_assert_int_eq(ws_sink_pump_mem(seg, 100, 0, f, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ws_sink_free(f);
    ws_sink_free(mem);
    free(seg);
}
END_TEST

/* --- history and backup history files ---------------------------------------- */

/* History files: test_timeline_history.c. */

START_TEST(test_backup_text)
{
    static const char ok[] = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n"
                             "STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)\n";
    ws_wal_name w = name_of("000000010000000000000002.00000028.backup");

    ck_assert_int_eq(ws_wal_segment_check_text(ok, strlen(ok), &w, "b", &err), 0);
    w = name_of("000000010000000000000003.00000028.backup");
    ck_assert_int_eq(ws_wal_segment_check_text(ok, strlen(ok), &w, "b", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "does not name segment 000000010000000000000003"));
    ck_assert_int_eq(ws_wal_segment_check_text("hello\n", 6, &w, "b", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a backup history file"));
    ck_assert_int_eq(ws_wal_segment_check_text("", 0, &w, "b", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
    /* The name's offset must be the start location's. */
    w = name_of("000000010000000000000002.00000030.backup");
    ck_assert_int_eq(ws_wal_segment_check_text(ok, strlen(ok), &w, "b", &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "START WAL LOCATION 0/2000028 is not the position its name gives"));
    {
        /* 64 MiB segments: 0/8000028 is segment 2 at offset 0x28. */
        static const char big[] = "START WAL LOCATION: 0/8000028 (file 000000010000000000000002)\n";
        static const char bad_lsn[] = "START WAL LOCATION: 0/zz (file 000000010000000000000002)\n";

        w = name_of("000000010000000000000002.00000028.backup");
        ck_assert_int_eq(ws_wal_segment_check_text(big, strlen(big), &w, "b", &err), 0);
        ck_assert_int_eq(ws_wal_segment_check_text(bad_lsn, strlen(bad_lsn), &w, "b", &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "is not an LSN"));
    }
}
END_TEST

/* --- local files (what walship-push reads) -------------------------------- */

static char tmpdir[UNIT_TMP_MAX];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void setup(void)
{
    unit_tmp_template(tmpdir, sizeof tmpdir, "walship-test-wal");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ws_err_clear(&err);
}

static void teardown(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *write_file(const char *name, const void *data, size_t len, size_t total)
{
    static char path[512];
    int fd;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, len), (ssize_t) len);
    ck_assert_int_eq(ftruncate(fd, (off_t) total), 0);
    close(fd);
    return path;
}

START_TEST(test_file_open)
{
    ws_wal_header h = good_header();
    uint8_t buf[WS_WAL_LONG_HEADER_LEN];
    ws_wal_file wf;
    char path[600];
    int fd;

    ws_wal_header_encode(&h, buf);
    fd = ws_wal_file_open(write_file("000000010000000000000005", buf, sizeof buf, 16 * MiB), &wf, &err);
    ck_assert_msg(fd >= 0, "%s", err.msg);
    ck_assert(wf.has_header);
    ck_assert_uint_eq(wf.hdr.sysid, h.sysid);
    ck_assert_str_eq(wf.base, "000000010000000000000005");
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 0);
    close(fd);
    /* Wrong size. */
    ck_assert_int_eq(ws_wal_file_open(write_file("000000010000000000000005", buf, sizeof buf, 4096), &wf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "file size 4096 differs"));
    /* Empty. */
    ck_assert_int_eq(ws_wal_file_open(write_file("000000010000000000000005", buf, 0, 0), &wf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "000000010000000000000005: file is empty"));
    /* Garbage. */
    ck_assert_int_eq(ws_wal_file_open(write_file("000000010000000000000006", "garbage!", 8, 16 * MiB), &wf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "page magic"));
    /* Right content, wrong name. */
    ck_assert_int_eq(ws_wal_file_open(write_file("000000010000000000000007", buf, sizeof buf, 16 * MiB), &wf, &err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not the start"));
    ck_assert_int_eq(ws_wal_file_open(write_file("notawalfile", buf, sizeof buf, 16 * MiB), &wf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "is not a WAL file name"));
    /* Missing. */
    snprintf(path, sizeof path, "%s/000000010000000000000009", tmpdir);
    ck_assert_int_eq(ws_wal_file_open(path, &wf, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "No such file"));
    /* A FIFO (nobody writing): refused at once, never blocks. */
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    alarm(10);
    ck_assert_int_eq(ws_wal_file_open(path, &wf, &err), -1);
    alarm(0);
    ck_assert_ptr_nonnull(strstr(err.msg, "is a FIFO, not a regular file"));
    ck_assert_int_eq(unlink(path), 0);
    /* A directory. */
    ck_assert_int_eq(mkdir(path, 0700), 0);
    ck_assert_int_eq(ws_wal_file_open(path, &wf, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a regular file"));
    /* History files are parsed. */
    fd = ws_wal_file_open(write_file("00000002.history", "1\t0/3000000\treason\n", 19, 19), &wf, &err);
    ck_assert_msg(fd >= 0, "%s", err.msg);
    close(fd);
    ck_assert_int_eq(ws_wal_file_open(write_file("00000002.history", "2\t0/3000000\n", 12, 12), &wf, &err), -1);
}
END_TEST

/* --- repository: identity, checked stat, locks ---------------------------- */

static ws_repo *open_repo(void)
{
    ws_config cfg;
    ws_repo *r;
    char url[600];

    snprintf(url, sizeof url, "file://%s/repo", tmpdir);
    ck_assert(mkdir(url + 7, 0750) == 0 || errno == EEXIST);
    ck_assert_int_eq(ws_config_defaults(&cfg, &err), 0);
    cfg.repo = strdup(url);
    ck_assert_msg(ws_repo_open(&cfg, &r, &err) == 0, "%s", err.msg);
    ws_config_free(&cfg);
    return r;
}

START_TEST(test_identity_json)
{
    ws_repo_identity a = {.sysid = UINT64_C(18446744073709551615), .pg_version = 15, .seg_size = 64 * MiB}, b;
    char *j = ws_repo_identity_to_json(&a, &err);

    ck_assert_ptr_nonnull(j);
    ck_assert_ptr_nonnull(strstr(j, "\"18446744073709551615\""));
    ck_assert_int_eq(ws_repo_identity_from_json(j, strlen(j), "id", &b, &err), 0);
    ck_assert_uint_eq(b.sysid, a.sysid);
    ck_assert_uint_eq(b.pg_version, 15);
    ck_assert_uint_eq(b.seg_size, 64 * MiB);
    free(j);
    ck_assert_int_eq(ws_repo_identity_from_json("{", 1, "id", &b, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
#define J(s) ws_repo_identity_from_json(s, strlen(s), "id", &b, &err)
    ck_assert_int_eq(J("{\"walship_identity\":1,\"system_identifier\":\"12\",\"pg_version\":15}"), -1);
    ck_assert_int_eq(J("{\"walship_identity\":2,\"system_identifier\":\"12\",\"pg_version\":15,"
                       "\"wal_segment_size\":16777216}"),
                     -1);
    ck_assert_int_eq(err.code, WS_ERR_FORMAT);
    ck_assert_int_eq(J("{\"walship_identity\":1,\"system_identifier\":\"-1\",\"pg_version\":15,"
                       "\"wal_segment_size\":16777216}"),
                     -1);
    ck_assert_int_eq(J("{\"walship_identity\":1,\"system_identifier\":\"12\",\"pg_version\":15,"
                       "\"wal_segment_size\":1000}"),
                     -1);
    ck_assert_int_eq(J("{\"walship_identity\":1,\"system_identifier\":\"12\",\"pg_version\":15,"
                       "\"wal_segment_size\":16777216,\"extra\":1}"),
                     -1);
    ck_assert_int_eq(J("{\"walship_identity\":1,\"system_identifier\":\"12\",\"pg_version\":15,"
                       "\"wal_segment_size\":16777216}"),
                     0);
#undef J
}
END_TEST

START_TEST(test_identity_ensure)
{
    ws_repo *r = open_repo();
    ws_repo_identity a = {.sysid = 111, .pg_version = 15, .seg_size = 16 * MiB}, b = a, got;
    ws_digest d1, d2;
    bool created;

    ck_assert_int_eq(ws_repo_identity_load(r, &got, &err), 0);
    /* A repository known to have had one: a missing identity is not made anew. */
    ck_assert_int_eq(ws_repo_identity_ensure(r, &a, "seg", true, &created, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "vanished"), "%s", err.msg);
    ck_assert_int_eq(ws_repo_identity_load(r, &got, &err), 0);
    ck_assert_int_eq(ws_repo_identity_ensure(r, &a, "seg", false, &created, &d1, &err), 0);
    ck_assert(created);
    ck_assert_int_eq(ws_repo_identity_ensure(r, &a, "seg", true, &created, &d2, &err), 0);
    ck_assert(!created);
    ck_assert(d1.size > 0 && d1.size == d2.size && memcmp(d1.sha256, d2.sha256, WS_SHA256_LEN) == 0);
    b.sysid = 222;
    ck_assert_int_eq(ws_repo_identity_ensure(r, &b, "seg", false, &created, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFLICT);
    ck_assert_msg(strstr(err.msg, "system identifier 111") && strstr(err.msg, "system identifier 222"), "%s", err.msg);
    b = a;
    b.seg_size = 64 * MiB;
    ck_assert_int_eq(ws_repo_identity_ensure(r, &b, "seg", false, &created, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "16777216"));
    b = a;
    b.pg_version = 14;
    ck_assert_int_eq(ws_repo_identity_ensure(r, &b, "seg", false, &created, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "PostgreSQL 15"));
    ck_assert_int_eq(ws_repo_identity_load(r, &got, &err), 1);
    ck_assert_uint_eq(got.sysid, 111);
    ws_repo_close(r);
}
END_TEST

START_TEST(test_stat_checked)
{
    ws_repo *r = open_repo();
    static const char data[] = "some plaintext for the object";
    ws_digest d, s;
    uint64_t stored;
    char path[700];

    ck_assert_int_eq(ws_repo_stat_checked(r, "user/a.ws", &s, &stored, &err), 0);
    ck_assert_int_eq(ws_repo_put_mem(r, "user/a.ws", data, sizeof data, &d, &err), 0);
    ck_assert_int_eq(ws_repo_stat_checked(r, "user/a.ws", &s, &stored, &err), 1);
    ck_assert_uint_eq(s.size, sizeof data);
    ck_assert_mem_eq(s.sha256, d.sha256, WS_SHA256_LEN);
    /* Truncated in place (xattr metadata survives): corrupt. */
    snprintf(path, sizeof path, "%s/repo/user/a.ws", tmpdir);
    ck_assert_int_eq(truncate(path, (off_t) stored - 1), 0);
    ck_assert_int_eq(ws_repo_stat_checked(r, "user/a.ws", &s, &stored, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    /* Garbage of a plausible size. */
    write_file("repo/user/a.ws", "x", 1, 500);
    ck_assert_int_eq(ws_repo_stat_checked(r, "user/a.ws", &s, &stored, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ws_repo_close(r);
}
END_TEST

static int count_key(const ws_list_entry *e, void *arg, ws_err *e2)
{
    (void) e;
    (void) e2;
    (*(int *) arg)++;
    return 0;
}

START_TEST(test_lock)
{
    ws_repo *r = open_repo();
    ws_storage_lock *l1, *l2;
    char path[700];
    int keys = 0;

    ck_assert_int_eq(ws_storage_lock_name(r->st, "000000010000000000000001", 5, &l1, &err), 1);
    ck_assert_ptr_nonnull(l1);
    snprintf(path, sizeof path, "%s/repo/locks~", tmpdir);
    ck_assert_int_eq(access(path, F_OK), 0);
    /* Another process cannot take the same name's lock: a child tries. */
    {
        pid_t pid = fork();
        int status;

        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            ws_storage_lock *l;
            ws_err e;
            int rc = ws_storage_lock_name(r->st, "000000010000000000000001", 0.3, &l, &e);

            _exit(rc == -1 && e.code == WS_ERR_TRANSIENT ? 0 : 1);
        }
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* Another name's lock is independent (unless it hashes alike). */
    ck_assert_int_eq(ws_storage_lock_name(r->st, "000000010000000000000002", 5, &l2, &err), 1);
    ws_storage_unlock(l2);
    ws_storage_unlock(l1);
    ck_assert_int_eq(ws_storage_lock_name(r->st, "000000010000000000000001", 5, &l2, &err), 1);
    ws_storage_unlock(l2);
    /* Lock files are not keys. */
    ck_assert_int_eq(ws_storage_list(r->st, "", NULL, count_key, &keys, &err), 0);
    ck_assert_int_eq(keys, 0);
    ws_repo_close(r);
}
END_TEST

static Suite *wal_suite(void)
{
    Suite *s = suite_create("wal");
    TCase *names = tcase_create("names");
    TCase *hdr = tcase_create("headers");
    TCase *hist = tcase_create("history");
    TCase *files = tcase_create("files");

    tcase_add_test(names, test_next_segment_16mib);
    tcase_add_test(names, test_next_segment_64mib_1gib_1mib);
    tcase_add_test(names, test_segment_out_of_range_for_size);
    tcase_add_test(names, test_start_lsn_and_segno);
    tcase_add_test(names, test_name_kinds);
    tcase_add_loop_test(names, test_invalid_names, 0, (int) (sizeof bad_names / sizeof bad_names[0]));
    tcase_add_test(names, test_seg_size_valid);
    suite_add_tcase(s, names);

    tcase_add_test(hdr, test_header_good);
    tcase_add_test(hdr, test_header_each_field_wrong);
    tcase_add_test(hdr, test_check_filter);
    suite_add_tcase(s, hdr);

    tcase_add_test(hist, test_backup_text);
    suite_add_tcase(s, hist);

    tcase_add_checked_fixture(files, setup, teardown);
    tcase_add_test(files, test_file_open);
    tcase_add_test(files, test_identity_json);
    tcase_add_test(files, test_identity_ensure);
    tcase_add_test(files, test_stat_checked);
    tcase_add_test(files, test_lock);
    suite_add_tcase(s, files);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wal_suite());
    int failed;

    unit_tmp_init("wal");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
