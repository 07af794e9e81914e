/* test_common.c - the common layer: clock, lock files, local files, hex,
 * buffers, state records, error classes. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/buf.h"
#include "walship/clock.h"
#include "walship/errclass.h"
#include "walship/hex.h"
#include "walship/kvrec.h"
#include "walship/localfile.h"
#include "walship/lockfile.h"

static char tmpdir[256];
static ws_err err;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void setup(void)
{
    unit_tmp_template(tmpdir, sizeof tmpdir, "walship-test-common");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ws_err_clear(&err);
}

static void teardown(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *in_tmp(const char *name)
{
    static char path[512];

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

static mode_t current_umask(void)
{
    mode_t m = umask(0);

    umask(m);
    return m;
}

static void write_plain(const char *name, const char *text)
{
    FILE *f = fopen(in_tmp(name), "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* --- clock ------------------------------------------------------------- */

START_TEST(test_clock)
{
    double t0 = ws_clock_now(), t1;

    ws_clock_sleep(0.02);
    t1 = ws_clock_now();
    ck_assert(t1 - t0 >= 0.019);
    ws_clock_sleep(0);
    ws_clock_sleep(-1);
    ck_assert(ws_clock_now() >= t1);
}
END_TEST

/* --- lock files ---------------------------------------------------------- */

/* A child that takes path exclusively, says so through the pipe, and holds
 * it until killed. */
static pid_t holder(const char *path, bool exclusive)
{
    int p[2];
    pid_t pid;
    char c;

    ck_assert_int_eq(pipe(p), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int fd;
        ws_err e;

        close(p[0]);
        if (ws_lockfile_take(path, exclusive, true, 5, &fd, &e) != 1)
            _exit(1);
        if (write(p[1], "x", 1) != 1)
            _exit(1);
        pause();
        _exit(0);
    }
    close(p[1]);
    ck_assert_int_eq(read(p[0], &c, 1), 1);
    close(p[0]);
    return pid;
}

static void stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

START_TEST(test_lock_contention)
{
    const char *path = in_tmp("lock-aa");
    struct stat st;
    pid_t pid;
    int fd, fd2;
    double t0;

    /* Absent and not created: 0, nothing made. */
    ck_assert_int_eq(ws_lockfile_take(path, true, false, 0, &fd, &err), 0);
    ck_assert_int_eq(fd, -1);
    ck_assert_int_lt(stat(path, &st), 0);

    pid = holder(path, true);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, WS_LOCKFILE_MODE & ~current_umask());
    /* One try, then a bounded wait: both report "held" (0), not an error. */
    ck_assert_int_eq(ws_lockfile_take(path, true, true, 0, &fd, &err), 0);
    t0 = ws_clock_now();
    ck_assert_int_eq(ws_lockfile_take(path, false, true, 0.2, &fd, &err), 0);
    ck_assert(ws_clock_now() - t0 >= 0.19);
    stop(pid);
    /* Released by the holder's death. */
    ck_assert_int_eq(ws_lockfile_take(path, true, true, 1, &fd, &err), 1);
    ck_assert(ws_lockfile_still_at(fd, path));
    /* Another descriptor of the same process is excluded too. */
    ck_assert_int_eq(ws_lockfile_take(path, true, true, 0, &fd2, &err), 0);
    ws_lockfile_release(fd);
    ck_assert_int_eq(ws_lockfile_take(path, true, true, 0, &fd, &err), 1);
    /* Removed and made again: no longer the file at the path. */
    ck_assert_int_eq(unlink(path), 0);
    ck_assert(!ws_lockfile_still_at(fd, path));
    ws_lockfile_release(fd);
    ws_lockfile_release(-1);
}
END_TEST

START_TEST(test_lock_shared)
{
    const char *path = in_tmp("shared");
    pid_t pid = holder(path, false);
    int fd;

    ck_assert_int_eq(ws_lockfile_take(path, false, true, 0, &fd, &err), 1);
    ws_lockfile_release(fd);
    ck_assert_int_eq(ws_lockfile_take(path, true, true, 0, &fd, &err), 0);
    stop(pid);
}
END_TEST

START_TEST(test_lock_errors_and_slots)
{
    char path[64], big[5000];
    int fd;

    /* A symbolic link is never followed; a missing directory is an error. */
    ck_assert_int_eq(symlink("/nonexistent", in_tmp("link")), 0);
    ck_assert_int_eq(ws_lockfile_take(in_tmp("link"), true, true, 0, &fd, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "link"));
    ck_assert_int_eq(ws_lockfile_take(in_tmp("no/such"), true, true, 0, &fd, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "directory is missing"));
    /* Slots: stable, in range, spread. */
    ck_assert_uint_eq(ws_lockfile_slot("000000010000000000000001"), ws_lockfile_slot("000000010000000000000001"));
    {
        bool seen[WS_LOCKFILE_SLOTS] = {false};
        unsigned used = 0;

        for (int i = 0; i < 1000; i++) {
            char name[32];
            unsigned s;

            snprintf(name, sizeof name, "0000000100000000000%05X", i);
            s = ws_lockfile_slot(name);
            ck_assert_uint_lt(s, WS_LOCKFILE_SLOTS);
            used += !seen[s];
            seen[s] = true;
        }
        ck_assert_uint_gt(used, WS_LOCKFILE_SLOTS / 2);
    }
    ck_assert_int_eq(ws_lockfile_slot_path("/d", "x", path, sizeof path, &err), 0);
    ck_assert_int_eq(strncmp(path, "/d/lock-", 8), 0);
    ck_assert_uint_eq(strlen(path), 10);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(ws_lockfile_slot_path(big, "x", path, sizeof path, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
}
END_TEST

/* --- local files ---------------------------------------------------------- */

START_TEST(test_read)
{
    char *buf;
    size_t len;

    write_plain("a", "hello\n");
    ck_assert_int_eq(ws_localfile_read(in_tmp("a"), 100, 0, &buf, &len, &err), 1);
    ck_assert_uint_eq(len, 6);
    ck_assert_str_eq(buf, "hello\n");
    free(buf);
    /* Exactly at the bound, and one byte above. */
    ck_assert_int_eq(ws_localfile_read(in_tmp("a"), 6, 0, &buf, &len, &err), 1);
    free(buf);
    ck_assert_int_eq(ws_localfile_read(in_tmp("a"), 5, 0, &buf, &len, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "larger than 5 bytes"));
    ck_assert_ptr_null(buf);
    /* Empty, and absent. */
    write_plain("e", "");
    ck_assert_int_eq(ws_localfile_read(in_tmp("e"), 10, 0, &buf, &len, &err), 1);
    ck_assert_uint_eq(len, 0);
    ck_assert_str_eq(buf, "");
    free(buf);
    ck_assert_int_eq(ws_localfile_read(in_tmp("none"), 10, 0, &buf, &len, &err), 0);
}
END_TEST

/* A FIFO (nobody writing), a directory, a device: refused at once, named. */
START_TEST(test_read_never_blocks)
{
    const char *cases[] = {"fifo", "dir", "/dev/null"};
    char *buf;
    size_t len;
    double t0;

    ck_assert_int_eq(mkfifo(in_tmp("fifo"), 0600), 0);
    ck_assert_int_eq(mkdir(in_tmp("dir"), 0700), 0);
    for (size_t i = 0; i < 3; i++) {
        const char *p = cases[i][0] == '/' ? cases[i] : in_tmp(cases[i]);

        t0 = ws_clock_now();
        alarm(10); /* a hang fails the test instead of stalling it */
        ck_assert_int_eq(ws_localfile_read(p, 100, 0, &buf, &len, &err), -1);
        alarm(0);
        ck_assert(ws_clock_now() - t0 < 5);
        ck_assert_int_eq(err.code, WS_ERR_INVALID);
        ck_assert_msg(strstr(err.msg, p) && strstr(err.msg, "not a regular file"), "%s", err.msg);
    }
    ck_assert_ptr_nonnull(strstr(err.msg, "a device"));
    /* A symbolic link with NOFOLLOW. */
    write_plain("target", "x");
    {
        char target[512];

        snprintf(target, sizeof target, "%s", in_tmp("target"));
        ck_assert_int_eq(symlink(target, in_tmp("ln")), 0);
    }
    ck_assert_int_eq(ws_localfile_read(in_tmp("ln"), 100, 0, &buf, &len, &err), 1);
    free(buf);
    ck_assert_int_eq(ws_localfile_read(in_tmp("ln"), 100, WS_LOCALFILE_NOFOLLOW, &buf, &len, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "symbolic link"));
}
END_TEST

START_TEST(test_write_atomic)
{
    struct stat st;
    char *buf;
    size_t len;
    int n = 0;
    DIR *d;
    struct dirent *de;

    ck_assert_int_eq(ws_localfile_write(in_tmp("f"), "one", 3, 0600, 0, &err), 0);
    ck_assert_int_eq(ws_localfile_write(in_tmp("f"), "second", 6, 0644, WS_LOCALFILE_NOSYNC, &err), 0);
    ck_assert_int_eq(ws_localfile_read(in_tmp("f"), 100, 0, &buf, &len, &err), 1);
    ck_assert_str_eq(buf, "second");
    free(buf);
    ck_assert_int_eq(stat(in_tmp("f"), &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644 & ~current_umask());
    /* Nothing else is left in the directory. */
    d = opendir(tmpdir);
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(n, 1);
    /* A missing directory: an error naming the temp file's place. */
    ck_assert_int_eq(ws_localfile_write(in_tmp("no/f"), "x", 1, 0600, 0, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/no/"));
}
END_TEST

START_TEST(test_tmp_discard)
{
    ws_localfile_tmp t;
    struct stat st;
    size_t got;
    char b[8];
    int fd;

    ck_assert_int_eq(ws_localfile_tmp_create(in_tmp("g"), 0600, &t, &err), 0);
    ck_assert(ws_localfile_is_tmp_name(strrchr(t.tmp, '/') + 1));
    ck_assert_int_eq(ws_localfile_write_all(t.fd, "abc", 3, t.tmp, &err), 0);
    ck_assert_int_eq(stat(t.tmp, &st), 0);
    {
        char tmp[512];

        snprintf(tmp, sizeof tmp, "%s", t.tmp);
        ws_localfile_tmp_discard(&t);
        ck_assert_int_lt(stat(tmp, &st), 0);
    }
    ck_assert_int_lt(stat(in_tmp("g"), &st), 0);
    /* Committed: the target exists with the bytes, read back with pread. */
    ck_assert_int_eq(ws_localfile_tmp_create(in_tmp("g"), 0600, &t, &err), 0);
    ck_assert_int_eq(ws_localfile_write_all(t.fd, "abcdef", 6, t.tmp, &err), 0);
    ck_assert_int_eq(ws_localfile_tmp_commit(&t, 0, &err), 0);
    ck_assert_int_eq(ws_localfile_tmp_commit(&t, 0, &err), -1);
    ws_localfile_tmp_discard(&t);
    fd = ws_localfile_open(in_tmp("g"), 0, &st, &err);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ws_localfile_pread(fd, b, sizeof b, 2, &got, "g", &err), 0);
    ck_assert_uint_eq(got, 4);
    ck_assert_int_eq(memcmp(b, "cdef", 4), 0);
    close(fd);
    ck_assert_int_eq(ws_localfile_open(in_tmp("none"), 0, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_NOTFOUND);
    /* Names. */
    ck_assert(ws_localfile_is_tmp_name(".x.tmp.12.abcdef"));
    ck_assert(ws_localfile_is_tmp_name(".a.tmp.b.tmp.1.ff"));
    ck_assert(!ws_localfile_is_tmp_name("x.tmp.12.ab"));
    ck_assert(!ws_localfile_is_tmp_name(".tmp.12"));
    ck_assert(!ws_localfile_is_tmp_name(".x.tmp.ab"));
    ck_assert(!ws_localfile_is_tmp_name("state"));
}
END_TEST

/* --- hex and buffers ---------------------------------------------------- */

START_TEST(test_hex)
{
    const unsigned char in[] = {0x00, 0x01, 0xab, 0xff};
    unsigned char out[4];
    char text[9];

    ws_hex_encode(in, sizeof in, text);
    ck_assert_str_eq(text, "0001abff");
    ck_assert_int_eq(ws_hex_decode(text, 8, out, 4), 0);
    ck_assert_int_eq(memcmp(in, out, 4), 0);
    ck_assert_int_eq(ws_hex_decode("0001ABFF", 8, out, 4), -1); /* upper case: not the form written */
    ck_assert_int_eq(ws_hex_decode("0001abf", 7, out, 4), -1);
    ck_assert_int_eq(ws_hex_decode("0001abfff0", 10, out, 4), -1);
    ck_assert_int_eq(ws_hex_decode("0001ab g", 8, out, 4), -1);
    ws_hex_encode(in, 0, text);
    ck_assert_str_eq(text, "");
}
END_TEST

START_TEST(test_buf)
{
    ws_buf b = {0};
    int *v = NULL;
    size_t cap = 0;

    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(ws_buf_printf(&b, &err, "%d,", i), 0);
    ck_assert_uint_eq(b.len, strlen(b.data));
    ck_assert_int_eq(strncmp(b.data, "0,1,2,", 6), 0);
    ck_assert_int_eq(ws_buf_append(&b, "\0z", 2, &err), 0);
    ck_assert_int_eq(b.data[b.len - 1], 'z');
    ck_assert_int_eq(b.data[b.len], '\0');
    ws_buf_clear(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    ck_assert_int_eq(ws_buf_append(&b, "", 0, &err), 0);
    ws_buf_free(&b);
    ck_assert_ptr_null(b.data);

    /* Unchecked appends remember a failure and append nothing after it. */
    ws_buf_init(&b);
    ws_buf_adds(&b, "a");
    ws_buf_addf(&b, "%d", 42);
    ws_buf_add(&b, "xyz", 2);
    ck_assert_str_eq(b.data, "a42xy");
    ck_assert(!b.oom);
    ws_buf_add(&b, "q", SIZE_MAX - 2);
    ck_assert(b.oom);
    ws_buf_adds(&b, "later");
    ws_buf_addf(&b, "%s", "later");
    ck_assert_str_eq(b.data, "a42xy");
    ws_buf_clear(&b);
    ck_assert(!b.oom);
    ws_buf_adds(&b, "again");
    ck_assert_str_eq(b.data, "again");
    ws_buf_free(&b);
    ck_assert(!b.oom && !b.data && !b.len && !b.cap);

    for (size_t i = 0; i < 100; i++) {
        ck_assert_int_eq(ws_buf_grow_array((void **) &v, &cap, i + 1, sizeof *v, &err), 0);
        ck_assert_uint_ge(cap, i + 1);
        v[i] = (int) i;
    }
    ck_assert_int_eq(v[99], 99);
    ck_assert_int_eq(ws_buf_grow_array((void **) &v, &cap, (size_t) -1, sizeof *v, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_NOMEM);
    ck_assert_int_eq(v[99], 99); /* unchanged on failure */
    free(v);
}
END_TEST

/* --- state records -------------------------------------------------------- */

static const char *const keys3[] = {"name", "count", "delta"};

static char *record(bool check)
{
    ws_buf b = {0};

    ck_assert_int_eq(ws_kvrec_begin(&b, "walship-test", 3, &err), 0);
    ck_assert_int_eq(ws_kvrec_add(&b, "name", "file:///a b", &err), 0);
    ck_assert_int_eq(ws_kvrec_add_u64(&b, "count", 18446744073709551615ULL, &err), 0);
    ck_assert_int_eq(ws_kvrec_add_i64(&b, "delta", -5, &err), 0);
    ck_assert_int_eq(ws_kvrec_end(&b, check, &err), 0);
    return b.data;
}

START_TEST(test_kvrec_round_trip)
{
    for (int check = 0; check < 2; check++) {
        char *text = record(check), name[64];
        ws_kvrec r;
        uint64_t u;
        int64_t i;

        ck_assert_msg(ws_kvrec_parse(text, strlen(text), "walship-test", 3, keys3, 3, check, "t", &r, &err) == 0, "%s",
                      err.msg);
        ck_assert_int_eq(ws_kvrec_text(&r, 0, name, sizeof name, &err), 0);
        ck_assert_str_eq(name, "file:///a b");
        ck_assert_int_eq(ws_kvrec_u64(&r, 1, UINT64_MAX, &u, &err), 0);
        ck_assert(u == UINT64_MAX);
        ck_assert_int_eq(ws_kvrec_u64(&r, 1, 10, &u, &err), -1);
        ck_assert_int_eq(ws_kvrec_i64(&r, 2, &i, &err), 0);
        ck_assert(i == -5);
        ck_assert_int_eq(ws_kvrec_text(&r, 0, name, 5, &err), -1); /* does not fit */
        if (check)
            ck_assert_ptr_nonnull(strstr(text, "\ncheck "));
        else
            ck_assert_ptr_null(strstr(text, "check"));
        free(text);
    }
}
END_TEST

START_TEST(test_kvrec_empty_and_hex)
{
    static const char *const k[] = {"e", "h"};
    ws_buf b = {0};
    uint8_t in[3] = {0xde, 0xad, 0x01}, out[3];
    char t[8];
    ws_kvrec r;

    ck_assert_int_eq(ws_kvrec_begin(&b, "m", 1, &err), 0);
    ck_assert_int_eq(ws_kvrec_add(&b, "e", "", &err), 0);
    ck_assert_int_eq(ws_kvrec_add_hex(&b, "h", in, 3, &err), 0);
    ck_assert_int_eq(ws_kvrec_end(&b, false, &err), 0);
    ck_assert_str_eq(b.data, "m 1\ne -\nh dead01\n");
    ck_assert_int_eq(ws_kvrec_parse(b.data, b.len, "m", 1, k, 2, false, "t", &r, &err), 0);
    ck_assert(ws_kvrec_empty(&r, 0));
    ck_assert(!ws_kvrec_empty(&r, 1));
    ck_assert_int_eq(ws_kvrec_text(&r, 0, t, sizeof t, &err), 0);
    ck_assert_str_eq(t, "");
    ck_assert_int_eq(ws_kvrec_hex(&r, 1, out, 3, &err), 0);
    ck_assert_int_eq(memcmp(in, out, 3), 0);
    ck_assert_int_eq(ws_kvrec_hex(&r, 1, out, 2, &err), -1);
    /* Values that cannot be recorded: "-" itself and control characters. */
    ck_assert_int_eq(ws_kvrec_add(&b, "e", "-", &err), -1);
    ck_assert_int_eq(ws_kvrec_add(&b, "e", "a\nb", &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ws_buf_free(&b);
}
END_TEST

START_TEST(test_kvrec_rejects)
{
    static const struct {
        const char *text, *needle;
    } cases[] = {
        {"", "not a walship-test file"},
        {"hello\n", "not a walship-test file"},
        {"walship-test\n", "not a walship-test file"},
        {"walship-test 4\nname a\ncount 1\ndelta 1\n", "unknown walship-test format version \"4\""},
        {"walship-test 03\nname a\ncount 1\ndelta 1\n", "format version"},
        {"walship-test 3\ncount 1\nname a\ndelta 1\n", "expected the line \"name"},
        {"walship-test 3\nname a\ncount 1\n", "truncated before \"delta\""},
        {"walship-test 3\nname a\ncount 1\ndelta 1", "not terminated"},
        {"walship-test 3\nname a\ncount 1\ndelta 1\nextra 2\n", "unexpected text after the \"delta\" line"},
        {"walship-test 3\nname \ncount 1\ndelta 1\n", "\"name\" has no value"},
        {"walship-test 3\nname a\tb\ncount 1\ndelta 1\n", "control character in \"name\""},
        {"walship-test 3\nnamex a\ncount 1\ndelta 1\n", "expected the line \"name"},
    };
    ws_kvrec r;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(ws_kvrec_parse(cases[i].text, strlen(cases[i].text), "walship-test", 3, keys3, 3, false, "F", &r,
                                     &err) == -1,
                      "case %zu accepted", i);
        ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
        ck_assert_msg(strstr(err.msg, cases[i].needle) && strncmp(err.msg, "F: ", 3) == 0, "case %zu: %s", i, err.msg);
    }
    ck_assert_int_eq(ws_kvrec_parse("walship-test 3\n\0", 16, "walship-test", 3, keys3, 0, false, "F", &r, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "NUL"));
    /* Numbers as written only. */
    {
        static const char *const bad[] = {"01", "-1", "+1", "1x", "", "18446744073709551616"};
        static const char *const k[] = {"n"};

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            char text[64];
            uint64_t u;

            snprintf(text, sizeof text, "m 1\nn %s\n", bad[i]);
            if (ws_kvrec_parse(text, strlen(text), "m", 1, k, 1, false, "t", &r, &err) == 0)
                ck_assert_msg(ws_kvrec_u64(&r, 0, UINT64_MAX, &u, &err) == -1, "\"%s\" accepted", bad[i]);
        }
    }
}
END_TEST

/* With a check line, every flipped bit, every cut and appended text fail. */
START_TEST(test_kvrec_check)
{
    char *text = record(true);
    size_t len = strlen(text);
    ws_kvrec r;

    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit++) {
            char *t = strdup(text);

            t[i] ^= (char) (1 << bit);
            ck_assert_msg(ws_kvrec_parse(t, len, "walship-test", 3, keys3, 3, true, "t", &r, &err) == -1,
                          "byte %zu bit %d accepted", i, bit);
            free(t);
        }
    }
    for (size_t n = 0; n < len; n++)
        ck_assert_msg(ws_kvrec_parse(text, n, "walship-test", 3, keys3, 3, true, "t", &r, &err) == -1,
                      "cut at %zu accepted", n);
    {
        char *t;

        ck_assert_int_gt(asprintf(&t, "%sx y\n", text), 0);
        ck_assert_int_eq(ws_kvrec_parse(t, strlen(t), "walship-test", 3, keys3, 3, true, "t", &r, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "after the \"check\" line"));
        free(t);
    }
    /* Without its check line, a record that wants one is refused. */
    {
        char *plain = record(false);

        ck_assert_int_eq(ws_kvrec_parse(plain, strlen(plain), "walship-test", 3, keys3, 3, true, "t", &r, &err), -1);
        ck_assert_ptr_nonnull(strstr(err.msg, "truncated before \"check\""));
        free(plain);
    }
    free(text);
}
END_TEST

/* --- error classes ------------------------------------------------------ */

START_TEST(test_errclass_table)
{
    static const struct {
        ws_errcode code;
        ws_errclass cls;
        int fetch, fetch_standby;
        bool global;
    } rows[] = {
        {WS_OK, WS_CLASS_OK, 0, 0, false},
        {WS_ERR_NOTFOUND, WS_CLASS_ABSENT, 1, 1, false},
        {WS_ERR_CORRUPT, WS_CLASS_INTEGRITY, 200, 200, false},
        {WS_ERR_KEY, WS_CLASS_INTEGRITY, 200, 200, false},
        {WS_ERR_FORMAT, WS_CLASS_INTEGRITY, 200, 200, false},
        {WS_ERR_CONFLICT, WS_CLASS_INTEGRITY, 200, 200, false},
        {WS_ERR_TRANSIENT, WS_CLASS_UNREACHABLE, 201, 1, true},
        {WS_ERR_IO, WS_CLASS_UNREACHABLE, 201, 1, true},
        {WS_ERR_STORAGE, WS_CLASS_REFUSED, 201, 201, true},
        {WS_ERR_PERM, WS_CLASS_REFUSED, 201, 201, true},
        {WS_ERR_CONFIG, WS_CLASS_CONFIG, 202, 202, true},
        {WS_ERR_NOREPO, WS_CLASS_NOREPO, 202, 1, true},
        {WS_ERR_INVALID, WS_CLASS_LOCAL, 202, 202, false},
        {WS_ERR_NOMEM, WS_CLASS_LOCAL, 202, 202, false},
        {WS_ERR_INTERNAL, WS_CLASS_LOCAL, 202, 202, false},
    };

    /* Every code has a row. */
    ck_assert_uint_eq(sizeof rows / sizeof rows[0], WS_ERR_NOREPO + 1);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ws_errclass c = ws_errclass_of(rows[i].code);

        ck_assert_msg(c == rows[i].cls, "%s: class %s", ws_errcode_name(rows[i].code), ws_errclass_name(c));
        ck_assert_int_eq(ws_errclass_fetch_exit(c, false), rows[i].fetch);
        ck_assert_int_eq(ws_errclass_fetch_exit(c, true), rows[i].fetch_standby);
        ck_assert_int_eq(ws_errclass_push_exit(c), rows[i].code == WS_OK ? 0 : 1);
        ck_assert_int_eq(ws_errclass_is_global(c), rows[i].global);
        ck_assert_str_ne(ws_errcode_name(rows[i].code), "unknown");
        ck_assert_str_ne(ws_errclass_name(c), "unknown");
    }
}
END_TEST

/* Untrusted text in a message can neither break nor forge a log line. */
START_TEST(test_err_show)
{
    char out[WS_SHOW_BUF], longer[5000];
    const char forged[] = "a\nwalship-push: ERROR: \x1b[2J\"\\\xff";

    ck_assert_str_eq(ws_err_show(forged, sizeof forged - 1, out),
                     "\"a\\x0awalship-push: ERROR: \\x1b[2J\\\"\\\\\\xff\"");
    ck_assert_str_eq(ws_err_show("", 0, out), "\"\"");
    memset(longer, 'x', sizeof longer);
    ck_assert_str_eq(ws_err_show(longer, WS_SHOW_MAX, out) + WS_SHOW_MAX, "x\"");
    ws_err_show(longer, sizeof longer, out);
    ck_assert_uint_eq(strlen(out), WS_SHOW_MAX + 5); /* quotes and "..." */
    ck_assert_str_eq(out + WS_SHOW_MAX + 1, "...\"");
    /* The worst case fits: every byte escaped, then cut. */
    memset(longer, '\n', sizeof longer);
    ws_err_show(longer, sizeof longer, out);
    ck_assert_uint_eq(strlen(out), WS_SHOW_MAX * 4 + 5);
    ck_assert_uint_lt(strlen(out), WS_SHOW_BUF);
}
END_TEST

static Suite *common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *t = tcase_create("all");

    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_clock);
    tcase_add_test(t, test_lock_contention);
    tcase_add_test(t, test_lock_shared);
    tcase_add_test(t, test_lock_errors_and_slots);
    tcase_add_test(t, test_read);
    tcase_add_test(t, test_read_never_blocks);
    tcase_add_test(t, test_write_atomic);
    tcase_add_test(t, test_tmp_discard);
    tcase_add_test(t, test_hex);
    tcase_add_test(t, test_err_show);
    tcase_add_test(t, test_buf);
    tcase_add_test(t, test_kvrec_round_trip);
    tcase_add_test(t, test_kvrec_empty_and_hex);
    tcase_add_test(t, test_kvrec_rejects);
    tcase_add_test(t, test_kvrec_check);
    tcase_add_test(t, test_errclass_table);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(common_suite());
    int failed;

    unit_tmp_init("common");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
