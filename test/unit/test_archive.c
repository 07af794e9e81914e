/* test_archive.c - the pieces of walship-push's look-ahead: the ack record
 * codec and files, the archive_status scan and its order, the choice of
 * files to take ahead, backlog reports and the per-name lock. */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/archive_ack.h"
#include "walship/archive_backlog.h"
#include "walship/archive_lock.h"
#include "walship/archive_queue.h"
#include "walship/filter_sha256.h"
#include "walship/lockfile.h"

static ws_err err;
static char tmpdir[256];

static void setup(void)
{
    unit_tmp_template(tmpdir, sizeof tmpdir, "ws-test-archive");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ws_err_clear(&err);
}

static void teardown(void)
{
    nftw(tmpdir, unit_tmp_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void touch(const char *dir, const char *name, time_t mtime)
{
    char path[512];
    struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    int fd;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    if (mtime)
        ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static ws_ack sample_ack(const char *name)
{
    ws_ack a;

    memset(&a, 0, sizeof a);
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.repo, sizeof a.repo, "s3://walship-test/cluster one");
    a.digest.size = 16777216;
    for (int i = 0; i < WS_SHA256_LEN; i++)
        a.digest.sha256[i] = (uint8_t) (i * 7 + 1);
    a.file = (ws_localfile_id){
        .dev = 2049, .ino = 131077, .size = 16777216, .mtime_ns = 1700000000123456789, .ctime_ns = -5};
    return a;
}

/* --- ack codec ----------------------------------------------------------- */

START_TEST(test_ack_roundtrip)
{
    const char *names[] = {"000000010000000000000003", "00000002.history", "000000010000000000000005.partial",
                           "000000010000000000000002.00000028.backup"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        ws_ack a = sample_ack(names[i]), b;
        char *text = ws_archive_ack_format(&a, &err);

        ck_assert_msg(text != NULL, "%s", err.msg);
        ck_assert_msg(ws_archive_ack_parse(text, strlen(text), "t", &b, &err) == 0, "%s: %s", names[i], err.msg);
        ck_assert_str_eq(b.name, a.name);
        ck_assert_str_eq(b.repo, a.repo);
        ck_assert(memcmp(&b.digest, &a.digest, sizeof a.digest) == 0);
        ck_assert(ws_localfile_id_equal(&b.file, &a.file));
        free(text);
    }
}
END_TEST

START_TEST(test_ack_text_is_documented_form)
{
    ws_ack a = sample_ack("000000010000000000000003");
    char *text = ws_archive_ack_format(&a, &err);

    ck_assert_ptr_nonnull(text);
    ck_assert_msg(
        strncmp(text,
                "walship-ack 1\nname 000000010000000000000003\nrepo s3://walship-test/cluster one\n"
                "size 16777216\nsha256 01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\n"
                "file-dev 2049\nfile-ino 131077\nfile-size 16777216\n"
                "file-mtime-ns 1700000000123456789\nfile-ctime-ns -5\ncheck ",
                strlen("walship-ack 1\nname 000000010000000000000003\nrepo s3://walship-test/cluster one\n"
                       "size 16777216\nsha256 01080f161d242b323940474e555c636a71787f868d949ba2a9b0b7bec5ccd3da\n"
                       "file-dev 2049\nfile-ino 131077\nfile-size 16777216\n"
                       "file-mtime-ns 1700000000123456789\nfile-ctime-ns -5\ncheck ")) == 0,
        "%s", text);
    free(text);
}
END_TEST

/* Every single changed byte, every truncation and any appended text makes
 * the record untrusted. */
START_TEST(test_ack_damage_never_parses)
{
    ws_ack a = sample_ack("000000010000000000000003"), b;
    char *text = ws_archive_ack_format(&a, &err);
    size_t len = strlen(text);
    char *buf = malloc(len + 16);

    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(buf, text, len);
            buf[i] ^= (char) (1 << bit);
            ck_assert_msg(ws_archive_ack_parse(buf, len, "t", &b, &err) < 0, "byte %zu bit %d accepted", i, bit);
            ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
        }
    }
    for (size_t n = 0; n < len; n++)
        ck_assert_msg(ws_archive_ack_parse(text, n, "t", &b, &err) < 0, "truncated at %zu accepted", n);
    memcpy(buf, text, len);
    memcpy(buf + len, "extra\n", 6);
    ck_assert_int_lt(ws_archive_ack_parse(buf, len + 6, "t", &b, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "after the \"check\" line"));
    free(buf);
    free(text);
}
END_TEST

/* Re-signs text after editing, as a forger (or a future version) would. */
static char *resign(const char *body)
{
    ws_sink *sha = ws_filter_sha256_new(NULL, &err);
    uint8_t d[WS_SHA256_LEN];
    uint64_t n;
    char hex[65], *out;

    ck_assert_int_eq(ws_sink_write(sha, body, strlen(body), &err), 0);
    ck_assert_int_eq(ws_sink_finish(sha, &err), 0);
    ck_assert(ws_filter_sha256_result(sha, d, &n));
    ws_sink_free(sha);
    ws_filter_sha256_hex(d, hex);
    ck_assert_int_gt(asprintf(&out, "%scheck %s\n", body, hex), 0);
    return out;
}

START_TEST(test_ack_parse_rejects_fields)
{
    static const struct {
        const char *body, *needle;
    } cases[] = {
        {"walship-ack 2\nname 000000010000000000000003\nrepo r\nsize 1\nsha256 "
         "0000000000000000000000000000000000000000000000000000000000000000\nfile-dev 1\nfile-ino 1\nfile-size 1\n"
         "file-mtime-ns 1\nfile-ctime-ns 1\n",
         "unknown walship-ack format version"},
        {"walship-ack 1\nname notawalfile\nrepo r\nsize 1\nsha256 "
         "0000000000000000000000000000000000000000000000000000000000000000\nfile-dev 1\nfile-ino 1\nfile-size 1\n"
         "file-mtime-ns 1\nfile-ctime-ns 1\n",
         "not a WAL file name"},
        {"walship-ack 1\nname 000000010000000000000003\nrepo \nsize 1\nsha256 "
         "0000000000000000000000000000000000000000000000000000000000000000\nfile-dev 1\nfile-ino 1\nfile-size 1\n"
         "file-mtime-ns 1\nfile-ctime-ns 1\n",
         "\"repo\" has no value"},
        {"walship-ack 1\nname 000000010000000000000003\nrepo r\nsize -1\nsha256 "
         "0000000000000000000000000000000000000000000000000000000000000000\nfile-dev 1\nfile-ino 1\nfile-size 1\n"
         "file-mtime-ns 1\nfile-ctime-ns 1\n",
         "\"size\" is not"},
        {"walship-ack 1\nname 000000010000000000000003\nrepo r\nsize 1\nsha256 "
         "00000000000000000000000000000000000000000000000000000000000000AA\nfile-dev 1\nfile-ino 1\nfile-size 1\n"
         "file-mtime-ns 1\nfile-ctime-ns 1\n",
         "\"sha256\" is not"},
        {"walship-ack 1\nname 000000010000000000000003\nrepo r\nsize 1\nsha256 "
         "0000000000000000000000000000000000000000000000000000000000000000\nfile-dev 1\nfile-ino 18446744073709551616\n"
         "file-size 1\nfile-mtime-ns 1\nfile-ctime-ns 1\n",
         "\"file-ino\" is not"},
        {"walship-ack 1\nname 000000010000000000000003\nrepo r\nsize 1\nsha256 "
         "0000000000000000000000000000000000000000000000000000000000000000\nfile-dev 1\nfile-size 1\nfile-ino 1\n"
         "file-mtime-ns 1\nfile-ctime-ns 1\n",
         "expected the line \"file-ino"},
        {"walship-ack 1\nname 000000010000000000000003\nrepo r\nsize 01\nsha256 "
         "0000000000000000000000000000000000000000000000000000000000000000\nfile-dev 1\nfile-ino 1\nfile-size 1\n"
         "file-mtime-ns 1\nfile-ctime-ns 1\n",
         "\"size\" is not"},
        {"hello\n", "not a walship-ack file"},
    };
    ws_ack b;

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *text = resign(cases[i].body);

        ck_assert_msg(ws_archive_ack_parse(text, strlen(text), "t", &b, &err) < 0, "case %zu accepted", i);
        ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
        ck_assert_msg(strstr(err.msg, cases[i].needle), "case %zu: %s", i, err.msg);
        free(text);
    }
    /* A NUL byte anywhere is refused. */
    ck_assert_int_lt(ws_archive_ack_parse("walship-ack 1\n\0", 15, "t", &b, &err), 0);
}
END_TEST

START_TEST(test_ack_format_refuses)
{
    ws_ack a = sample_ack("000000010000000000000003");

    snprintf(a.repo, sizeof a.repo, "file:///x\nname 000000010000000000000009");
    ck_assert_ptr_null(ws_archive_ack_format(&a, &err));
    a = sample_ack("garbage");
    ck_assert_ptr_null(ws_archive_ack_format(&a, &err));
}
END_TEST

START_TEST(test_ack_vouches)
{
    ws_ack a = sample_ack("000000010000000000000003");
    ws_localfile_id now = a.file;
    const char *why;

    ck_assert(ws_archive_ack_vouches(&a, "000000010000000000000003", a.repo, &now, &why));
    ck_assert(!ws_archive_ack_vouches(&a, "000000010000000000000004", a.repo, &now, &why));
    ck_assert_ptr_nonnull(strstr(why, "another WAL file"));
    ck_assert(!ws_archive_ack_vouches(&a, a.name, "s3://walship-test/other", &now, &why));
    ck_assert_ptr_nonnull(strstr(why, "another repository"));
    now.ino++;
    ck_assert(!ws_archive_ack_vouches(&a, a.name, a.repo, &now, &why));
    ck_assert_ptr_nonnull(strstr(why, "inode"));
    now = a.file;
    now.dev++;
    ck_assert(!ws_archive_ack_vouches(&a, a.name, a.repo, &now, &why));
    now = a.file;
    now.mtime_ns++;
    ck_assert(!ws_archive_ack_vouches(&a, a.name, a.repo, &now, &why));
    ck_assert_ptr_nonnull(strstr(why, "modified"));
    now = a.file;
    now.ctime_ns++;
    ck_assert(!ws_archive_ack_vouches(&a, a.name, a.repo, &now, &why));
    now = a.file;
    now.size--;
    ck_assert(!ws_archive_ack_vouches(&a, a.name, a.repo, &now, &why));
    ck_assert_ptr_nonnull(strstr(why, "size"));
    /* The recorded plaintext size must be the file's. */
    now = a.file;
    a.digest.size--;
    ck_assert(!ws_archive_ack_vouches(&a, a.name, a.repo, &now, NULL));
}
END_TEST

START_TEST(test_ack_files)
{
    ws_ack a = sample_ack("000000010000000000000003"), b;
    char p1[512], p2[512];
    struct stat st;
    int fd;

    ck_assert_int_eq(ws_archive_ack_read(tmpdir, a.name, &b, &err), 0);
    ck_assert_msg(ws_archive_ack_write(tmpdir, &a, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ws_archive_ack_read(tmpdir, a.name, &b, &err), 1);
    ck_assert(ws_localfile_id_equal(&a.file, &b.file));
    snprintf(p1, sizeof p1, "%s/000000010000000000000003.ack", tmpdir);
    ck_assert_int_eq(stat(p1, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0600);
    /* Under another name: refused. */
    snprintf(p2, sizeof p2, "%s/000000010000000000000004.ack", tmpdir);
    ck_assert_int_eq(link(p1, p2), 0);
    ck_assert_int_lt(ws_archive_ack_read(tmpdir, "000000010000000000000004", &b, &err), 0);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err.msg, "records 000000010000000000000003"));
    /* A symbolic link is never followed. */
    ck_assert_int_eq(unlink(p2), 0);
    ck_assert_int_eq(symlink(p1, p2), 0);
    ck_assert_int_lt(ws_archive_ack_read(tmpdir, "000000010000000000000004", &b, &err), 0);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    /* A partial file (as if written in place and cut short). */
    ck_assert_int_eq(unlink(p2), 0);
    fd = open(p2, O_WRONLY | O_CREAT, 0600);
    ck_assert_int_eq(write(fd, "walship-ack 1\nname 0000000100", 29), 29);
    close(fd);
    ck_assert_int_lt(ws_archive_ack_read(tmpdir, "000000010000000000000004", &b, &err), 0);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ck_assert_int_eq(ws_archive_ack_remove(tmpdir, "000000010000000000000004", &err), 0);
    ck_assert_int_eq(ws_archive_ack_remove(tmpdir, "000000010000000000000004", &err), 0);
    ck_assert_int_eq(ws_archive_ack_read(tmpdir, "000000010000000000000004", &b, &err), 0);
    /* Nothing but the ack is left in the directory (no temp file). */
    {
        int n = 0;
        FILE *ls;
        char cmd[600], line[256];

        snprintf(cmd, sizeof cmd, "ls -A %s", tmpdir);
        ls = popen(cmd, "r");
        while (fgets(line, sizeof line, ls))
            n++;
        pclose(ls);
        ck_assert_int_eq(n, 1);
    }
}
END_TEST

START_TEST(test_file_id_from_stat)
{
    char path[512];
    struct stat st;
    ws_localfile_id a, b;
    struct timespec ts[2] = {{.tv_sec = 1000, .tv_nsec = 5}, {.tv_sec = 1000, .tv_nsec = 5}};

    touch(tmpdir, "f", 0);
    snprintf(path, sizeof path, "%s/f", tmpdir);
    ck_assert_int_eq(stat(path, &st), 0);
    ws_localfile_id_from_stat(&st, &a);
    ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    ck_assert_int_eq(stat(path, &st), 0);
    ws_localfile_id_from_stat(&st, &b);
    ck_assert(!ws_localfile_id_equal(&a, &b));
    ck_assert_int_eq(b.mtime_ns, (int64_t) 1000 * 1000000000 + 5);
    ck_assert_uint_eq(a.ino, b.ino);
}
END_TEST

/* --- archive_status ------------------------------------------------------ */

START_TEST(test_ready_scan_order)
{
    ws_ready_list l;
    static const char *want[] = {"00000002.history",
                                 "00000003.history",
                                 "000000010000000000000001",
                                 "000000010000000000000002.00000028.backup",
                                 "000000010000000000000002.partial",
                                 "000000010000000000000003",
                                 "000000020000000000000003"};

    touch(tmpdir, "000000010000000000000003.ready", 1000);
    touch(tmpdir, "000000020000000000000003.ready", 1000);
    touch(tmpdir, "000000010000000000000001.ready", 3000);
    touch(tmpdir, "00000003.history.ready", 1000);
    touch(tmpdir, "00000002.history.ready", 1000);
    touch(tmpdir, "000000010000000000000002.00000028.backup.ready", 1000);
    touch(tmpdir, "000000010000000000000002.partial.ready", 1000);
    touch(tmpdir, "000000010000000000000000.done", 10);
    touch(tmpdir, "000000010000000000000004.done", 10);
    touch(tmpdir, "somethingelse.ready", 500); /* counted, never taken */
    touch(tmpdir, ".ready", 1000);
    ck_assert_msg(ws_archive_queue_scan(tmpdir, &l, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(l.n, 7);
    ck_assert_uint_eq(l.total, 8); /* ".ready" names no file */
    for (size_t i = 0; i < l.n; i++)
        ck_assert_str_eq(l.v[i].name, want[i]);
    ck_assert(l.v[0].history && l.v[1].history && !l.v[2].history);
    ck_assert_int_eq(l.oldest, 500);
    ck_assert_str_eq(l.oldest_name, "somethingelse");
    ck_assert_int_eq(l.v[2].mtime, 3000);
    ck_assert(ws_archive_queue_exists(tmpdir, "000000010000000000000001"));
    ck_assert(!ws_archive_queue_exists(tmpdir, "000000010000000000000004"));
    ws_archive_queue_list_free(&l);
}
END_TEST

START_TEST(test_ready_scan_missing)
{
    ws_ready_list l;
    char path[512];

    snprintf(path, sizeof path, "%s/nonexistent", tmpdir);
    ck_assert_int_lt(ws_archive_queue_scan(path, &l, &err), 0);
    ck_assert_int_eq(err.code, WS_ERR_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "nonexistent"));
    /* Empty: fine. */
    ck_assert_int_eq(ws_archive_queue_scan(tmpdir, &l, &err), 0);
    ck_assert_uint_eq(l.n, 0);
    ck_assert_uint_eq(l.total, 0);
    ws_archive_queue_list_free(&l);
}
END_TEST

static bool odd_done(const ws_ready *r, void *arg)
{
    (*(int *) arg)++;
    return r->name[23] == '1' || r->name[23] == '3' || r->name[23] == '5';
}

START_TEST(test_ready_pick)
{
    ws_ready_list l;
    size_t out[8];
    int calls = 0;

    for (int i = 1; i <= 8; i++) {
        char n[64];

        snprintf(n, sizeof n, "00000001000000000000000%d.ready", i);
        touch(tmpdir, n, 0);
    }
    ck_assert_int_eq(ws_archive_queue_scan(tmpdir, &l, &err), 0);
    ck_assert_uint_eq(ws_archive_queue_pick(&l, NULL, 3, NULL, NULL, out), 3);
    ck_assert_str_eq(l.v[out[0]].name, "000000010000000000000001");
    ck_assert_str_eq(l.v[out[2]].name, "000000010000000000000003");
    /* The requested file is never taken ahead; nor files already done. */
    ck_assert_uint_eq(ws_archive_queue_pick(&l, "000000010000000000000002", 8, odd_done, &calls, out), 4);
    ck_assert_str_eq(l.v[out[0]].name, "000000010000000000000004");
    ck_assert_str_eq(l.v[out[1]].name, "000000010000000000000006");
    ck_assert_str_eq(l.v[out[3]].name, "000000010000000000000008");
    ck_assert_int_eq(calls, 7);
    ck_assert_uint_eq(ws_archive_queue_pick(&l, NULL, 0, NULL, NULL, out), 0);
    ws_archive_queue_list_free(&l);
}
END_TEST

/* --- backlog ------------------------------------------------------------- */

START_TEST(test_backlog_decide)
{
    ws_backlog_state s = {0}, n;
    int64_t t = 100000;

    /* Below the threshold, never reported: quiet. */
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 9, 9, t, &n), WS_BACKLOG_QUIET);
    /* Above it: reported at once. */
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 10, 9, t, &n), WS_BACKLOG_BEHIND);
    ck_assert(n.high && n.count == 10 && n.at == t);
    s = n;
    /* Growing within the minute: quiet; after it: reported. */
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 30, 9, t + 59, &n), WS_BACKLOG_QUIET);
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 30, 9, t + 60, &n), WS_BACKLOG_BEHIND);
    ck_assert_uint_eq(n.count, 30);
    s = n;
    /* Not growing: quiet however long. */
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 30, 9, t + 1000, &n), WS_BACKLOG_QUIET);
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 20, 9, t + 1000, &n), WS_BACKLOG_QUIET);
    /* Back to normal: one line, then quiet. */
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 2, 9, t + 1000, &n), WS_BACKLOG_NORMAL);
    ck_assert(!n.high);
    s = n;
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 2, 9, t + 2000, &n), WS_BACKLOG_QUIET);
    /* Behind again within the minute after that line: waits. */
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 12, 9, t + 1010, &n), WS_BACKLOG_QUIET);
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 12, 9, t + 1060, &n), WS_BACKLOG_BEHIND);
    /* A clock that went back does not silence reports for long. */
    s = (ws_backlog_state){.high = false, .count = 0, .at = t + 5000};
    ck_assert_int_eq(ws_archive_backlog_decide(&s, 12, 9, t, &n), WS_BACKLOG_BEHIND);
}
END_TEST

START_TEST(test_backlog_state_file)
{
    ws_backlog_state s = {.high = true, .count = 42, .at = 1700000000}, r;
    char path[512];
    FILE *f;

    ws_archive_backlog_load(tmpdir, &r);
    ck_assert(!r.high && r.count == 0 && r.at == 0);
    ck_assert_int_eq(ws_archive_backlog_save(tmpdir, &s, &err), 0);
    ws_archive_backlog_load(tmpdir, &r);
    ck_assert(r.high && r.count == 42 && r.at == 1700000000);
    snprintf(path, sizeof path, "%s/" WS_BACKLOG_FILE, tmpdir);
    f = fopen(path, "w");
    fputs("garbage\n", f);
    fclose(f);
    ws_archive_backlog_load(tmpdir, &r);
    ck_assert(!r.high && r.count == 0 && r.at == 0);
}
END_TEST

/* --- per-name lock ----------------------------------------------------------- */

START_TEST(test_lock)
{
    ws_archive_lock *a, *b;
    const char *n1 = "000000010000000000000003";
    char other[WS_WAL_NAME_MAX];
    pid_t pid;
    int status;

    ck_assert_int_eq(ws_archive_lock_name(tmpdir, n1, 0, &a, &err), 1);
    /* Same name, another descriptor (another thread): busy. */
    ck_assert_int_eq(ws_archive_lock_name(tmpdir, n1, 0.05, &b, &err), 0);
    ck_assert_ptr_null(b);
    /* Another process: busy too. */
    pid = fork();
    if (pid == 0) {
        ws_archive_lock *c;

        _exit(ws_archive_lock_name(tmpdir, n1, 0, &c, &err) == 0 ? 0 : 1);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* A name in another slot is free. */
    for (unsigned i = 4;; i++) {
        snprintf(other, sizeof other, "0000000100000000000000%02X", i);
        if (ws_lockfile_slot(other) != ws_lockfile_slot(n1))
            break;
    }
    ck_assert_int_eq(ws_archive_lock_name(tmpdir, other, 0, &b, &err), 1);
    ws_archive_lock_release(b);
    ws_archive_lock_release(a);
    ck_assert_int_eq(ws_archive_lock_name(tmpdir, n1, 0, &a, &err), 1);
    ws_archive_lock_release(a);
    ck_assert_uint_lt(ws_lockfile_slot(n1), WS_LOCKFILE_SLOTS);
    /* A missing directory is an error naming it. */
    ck_assert_int_lt(ws_archive_lock_name("/nonexistent/dir", n1, 0, &a, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/dir"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("archive");
    TCase *tc = tcase_create("all");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_ack_roundtrip);
    tcase_add_test(tc, test_ack_text_is_documented_form);
    tcase_add_test(tc, test_ack_damage_never_parses);
    tcase_add_test(tc, test_ack_parse_rejects_fields);
    tcase_add_test(tc, test_ack_format_refuses);
    tcase_add_test(tc, test_ack_vouches);
    tcase_add_test(tc, test_ack_files);
    tcase_add_test(tc, test_file_id_from_stat);
    tcase_add_test(tc, test_ready_scan_order);
    tcase_add_test(tc, test_ready_scan_missing);
    tcase_add_test(tc, test_ready_pick);
    tcase_add_test(tc, test_backlog_decide);
    tcase_add_test(tc, test_backlog_state_file);
    tcase_add_test(tc, test_lock);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    unit_tmp_init("archive");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
