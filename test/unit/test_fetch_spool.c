/* test_fetch_spool.c - the prefetch spool (fetch_spool.h) and the data
 * directory facts it relies on (pg_datadir.h): text forms, the window,
 * entry names, and the directory operations on a real temp directory with
 * synthetic 1 MiB segments. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/fetch_spool.h"
#include "walship/pg_datadir.h"
#include "walship/wal_name.h"
#include "walship/wal_segment.h"

#define MiB   (1u << 20)
#define SYSID UINT64_C(7301234567890123456)

static ws_err err;
static char tmp[UNIT_TMP_MAX]; /* per test */
static char spool[256];        /* tmp/walship-spool */

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    return remove(p);
}

static void setup(void)
{
    unit_tmp_template(tmp, sizeof tmp, "ws-spool-test");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(spool, sizeof spool, "%s/%s", tmp, WS_SPOOL_DIR_NAME);
}

static void teardown(void)
{
    nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static ws_wal_name name_of(const char *s)
{
    ws_wal_name w;

    ck_assert_msg(ws_wal_name_parse(s, &w, &err) == 0, "%s: %s", s, err.msg);
    return w;
}

static char *path_of(const char *dir, const char *name)
{
    static char p[PATH_MAX];

    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static bool exists(const char *dir, const char *name)
{
    return access(path_of(dir, name), F_OK) == 0;
}

/* A 1 MiB segment file whose page header fits `name` (size may differ). */
static void make_segment(const char *path, const char *name, uint64_t sysid, size_t size)
{
    ws_wal_name w = name_of(name);
    ws_wal_header h = {.magic = 0xD110,
                       .info = WS_XLP_LONG_HEADER,
                       .tli = w.tli,
                       .sysid = sysid,
                       .seg_size = MiB,
                       .blcksz = WS_WAL_BLCKSZ};
    uint8_t *buf = calloc(1, size > WS_WAL_LONG_HEADER_LEN ? size : WS_WAL_LONG_HEADER_LEN);
    FILE *f;

    ck_assert_int_eq(ws_wal_name_start_lsn(&w, MiB, &h.pageaddr, &err), 0);
    ws_wal_header_encode(&h, buf);
    buf[size / 2] = 0x42;
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, size, f), size);
    fclose(f);
    free(buf);
}

static ws_spool_identity ident(const char *repo)
{
    ws_spool_identity id = {0};

    snprintf(id.repo, sizeof id.repo, "%s", repo);
    id.sysid = SYSID;
    return id;
}

static ws_spool *open_spool(bool create)
{
    ws_spool *sp = NULL;

    ck_assert_msg(ws_fetch_spool_open(spool, create, &sp, &err) == 1, "%s", err.msg);
    return sp;
}

/* A spool of repository file:///r with position pos of timeline 1. */
static ws_spool *spool_at(uint64_t pos, unsigned depth)
{
    ws_spool_identity id = ident("file:///r");
    ws_wal_name w;
    ws_spool *sp = open_spool(true);

    ck_assert_int_eq(ws_fetch_spool_adopt(sp, &id, &err), 0);
    ws_wal_name_from_segno(1, pos, MiB, &w);
    ck_assert_msg(ws_fetch_spool_advance(sp, &id, &w, MiB, depth, &err) == 0, "%s", err.msg);
    return sp;
}

static const char *seg_name(uint32_t tli, uint64_t segno)
{
    static char out[4][WS_WAL_NAME_MAX];
    static int k;
    ws_wal_name w;

    ws_wal_name_from_segno(tli, segno, MiB, &w);
    k = (k + 1) % 4;
    ws_wal_name_format(&w, out[k]);
    return out[k];
}

/* --- text forms ------------------------------------------------------------ */

START_TEST(test_state_roundtrip)
{
    ws_spool_state s = {.generation = UINT64_C(0x0123456789abcdef)}, t;
    ws_buf buf = {0};

    s.id = ident("s3://bucket/prefix with space");
    snprintf(s.id.endpoint, sizeof s.id.endpoint, "http://127.0.0.1:9000");
    snprintf(s.id.key_id, sizeof s.id.key_id, "00112233445566778899aabbccddeeff");
    ck_assert_int_eq(ws_fetch_spool_state_format(&s, &buf, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_state_parse(buf.data, buf.len, "state", &t, &err), 0);
    ck_assert(ws_fetch_spool_identity_equal(&s.id, &t.id));
    ck_assert(t.generation == s.generation);

    /* Empty endpoint and key are written as "-". */
    s.id.endpoint[0] = s.id.key_id[0] = '\0';
    ck_assert_int_eq(ws_fetch_spool_state_format(&s, &buf, &err), 0);
    ck_assert_ptr_nonnull(strstr(buf.data, "\nkey -\n"));
    ck_assert_int_eq(ws_fetch_spool_state_parse(buf.data, buf.len, "state", &t, &err), 0);
    ck_assert(ws_fetch_spool_identity_equal(&s.id, &t.id));
    t.id.sysid++;
    ck_assert(!ws_fetch_spool_identity_equal(&s.id, &t.id));

    /* A value with a newline cannot be written. */
    snprintf(s.id.repo, sizeof s.id.repo, "file:///a\nrepo x");
    ck_assert_int_eq(ws_fetch_spool_state_format(&s, &buf, &err), -1);
    ws_buf_free(&buf);
}
END_TEST

START_TEST(test_state_parse_errors)
{
    static const char *const bad[] = {
        "",
        "walship-spool-state 1\ngeneration 1\nsysid 1\nkey -\nendpoint -\nrepo file:///r\n",
        "walship-spool-state 2\ngeneration 1\nsysid 1\nkey -\nendpoint -\n",               /* no repo */
        "walship-spool-state 2\ngeneration 1\nsysid 1\nkey -\nendpoint -\nrepo file:///r", /* no newline */
        "walship-spool-state 2\ngeneration 1\nsysid 1\nkey -\nendpoint -\nrepo file:///r\nx y\n",
        "walship-spool-state 2\ngeneration 1\ngeneration 2\nsysid 1\nkey -\nrepo file:///r\n",
        "walship-spool-state 2\ngeneration XYZ\nsysid 1\nkey -\nendpoint -\nrepo file:///r\n",
        "walship-spool-state 2\ngeneration 1\nsysid -1\nkey -\nendpoint -\nrepo file:///r\n",
        "walship-spool-state 2\ngeneration 1\nsysid 1\nkey -\nendpoint -\nrepo -\n",
        "walship-spool-state 2\ngeneration 1\nsysid 1\nkey\nendpoint -\nrepo file:///r\n",
        "walship-spool-state 2\nsysid 1\ngeneration 1\nkey -\nendpoint -\nrepo file:///r\n", /* order */
    };
    static const char good[] = "walship-spool-state 2\ngeneration 1\nsysid 1\nkey -\nendpoint -\nrepo file:///r\n";
    ws_spool_state s;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(ws_fetch_spool_state_parse(bad[i], strlen(bad[i]), "st", &s, &err) == -1, "case %zu", i);
        ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
        ck_assert_ptr_nonnull(strstr(err.msg, "st"));
    }
    ck_assert_msg(ws_fetch_spool_state_parse(good, strlen(good), "st", &s, &err) == 0, "%s", err.msg);
}
END_TEST

START_TEST(test_want_roundtrip_and_errors)
{
    ws_spool_want w = {.tli = 3, .pos = 1234567, .seg_size = 16 * MiB, .cap = WS_SPOOL_NO_CAP, .depth = 8}, v;
    static const char *const bad[] = {
        "walship-spool-want 2\ntli 0\npos 1\nseg_size 16777216\ncap -\ndepth 8\n",
        "walship-spool-want 2\ntli 1\npos 1\nseg_size 1000\ncap -\ndepth 8\n",
        "walship-spool-want 2\ntli 1\npos 1\nseg_size 16777216\ncap -\ndepth 1025\n",
        "walship-spool-want 2\ntli 1\npos 1\nseg_size 16777216\ncap x\ndepth 8\n",
        "walship-spool-want 2\ntli 1\npos 1\nseg_size 16777216\ndepth 8\n",
        "walship-spool-want 2\ntli 4294967296\npos 1\nseg_size 16777216\ncap -\ndepth 8\n",
        "walship-spool-want 1\ntli 1\npos 1\nseg_size 16777216\ncap -\ndepth 8\n",
    };
    ws_buf buf = {0};

    ck_assert_int_eq(ws_fetch_spool_want_format(&w, &buf, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_want_parse(buf.data, buf.len, "want", &v, &err), 0);
    ck_assert(ws_fetch_spool_want_equal(&w, &v));
    w.cap = 1234570;
    ck_assert_int_eq(ws_fetch_spool_want_format(&w, &buf, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_want_parse(buf.data, buf.len, "want", &v, &err), 0);
    ck_assert(ws_fetch_spool_want_equal(&w, &v));
    ck_assert(v.cap == 1234570);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(ws_fetch_spool_want_parse(bad[i], strlen(bad[i]), "want", &v, &err) == -1, "case %zu", i);
    ws_buf_free(&buf);
}
END_TEST

START_TEST(test_window)
{
    ws_spool_want w = {.tli = 2, .pos = 100, .seg_size = MiB, .cap = WS_SPOOL_NO_CAP, .depth = 8};
    ws_wal_name n;

    ck_assert(!ws_fetch_spool_wants_segno(&w, 2, 100)); /* PostgreSQL has it */
    ck_assert(ws_fetch_spool_wants_segno(&w, 2, 101));
    ck_assert(ws_fetch_spool_wants_segno(&w, 2, 108));
    ck_assert(!ws_fetch_spool_wants_segno(&w, 2, 109));
    ck_assert(!ws_fetch_spool_wants_segno(&w, 1, 101)); /* another timeline */
    ck_assert(!ws_fetch_spool_wants_segno(&w, 3, 101));
    w.cap = 104;
    ck_assert(ws_fetch_spool_wants_segno(&w, 2, 103));
    ck_assert(!ws_fetch_spool_wants_segno(&w, 2, 104));

    /* By name: 1 MiB segments, 4096 per log id. */
    w.cap = WS_SPOOL_NO_CAP;
    n = name_of("000000020000000000000065"); /* segno 101 */
    ck_assert(ws_fetch_spool_wants(&w, &n));
    n = name_of("000000020000000000000065.partial");
    ck_assert(!ws_fetch_spool_wants(&w, &n));
    n = name_of("000000020000000000001065"); /* last digits out of range for 1 MiB */
    ck_assert(!ws_fetch_spool_wants(&w, &n));
}
END_TEST

START_TEST(test_classify)
{
    ws_wal_name seg;
    pid_t pid = 0;

    ck_assert_int_eq(ws_fetch_spool_classify("lock", NULL, NULL), WS_SPOOL_ENT_CONTROL);
    ck_assert_int_eq(ws_fetch_spool_classify("state", NULL, NULL), WS_SPOOL_ENT_CONTROL);
    ck_assert_int_eq(ws_fetch_spool_classify(".want.tmp.12.abcdef", NULL, NULL), WS_SPOOL_ENT_CONTROL);
    ck_assert_int_eq(ws_fetch_spool_classify(".state.tmp.12.abcdef", NULL, NULL), WS_SPOOL_ENT_CONTROL);
    ck_assert_int_eq(ws_fetch_spool_classify("want.tmp", NULL, NULL), WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("prefetcher", NULL, NULL), WS_SPOOL_ENT_CONTROL);
    ck_assert_int_eq(ws_fetch_spool_classify("00000001000000000000000A", &seg, NULL), WS_SPOOL_ENT_SEGMENT);
    ck_assert_uint_eq(seg.seg, 10);
    ck_assert_int_eq(ws_fetch_spool_classify("00000001000000000000000A.part-4242", &seg, &pid), WS_SPOOL_ENT_PART);
    ck_assert_int_eq(pid, 4242);
    ck_assert_int_eq(ws_fetch_spool_classify("00000001000000000000000A.part-", NULL, NULL), WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("00000001000000000000000A.part-0", NULL, NULL), WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("00000001000000000000000A.part-12x", NULL, NULL), WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("00000001000000000000000A.part-1234567890", NULL, NULL),
                     WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("00000001000000000000000a", NULL, NULL), WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("00000000000000000000000A", NULL, NULL), WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("00000001000000000000000A.partial", NULL, NULL), WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("00000002.history", NULL, NULL), WS_SPOOL_ENT_OTHER);
    ck_assert_int_eq(ws_fetch_spool_classify("RECOVERYXLOG", NULL, NULL), WS_SPOOL_ENT_OTHER);
}
END_TEST

START_TEST(test_dir_for)
{
    char out[PATH_MAX], want[PATH_MAX + 64], cwd[PATH_MAX];

    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(ws_fetch_spool_dir_for("pg_wal/RECOVERYXLOG", out, sizeof out, &err), 0);
    snprintf(want, sizeof want, "%s/pg_wal/walship-spool", cwd);
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(ws_fetch_spool_dir_for("RECOVERYXLOG", out, sizeof out, &err), 0);
    snprintf(want, sizeof want, "%s/walship-spool", cwd);
    ck_assert_str_eq(out, want);
    ck_assert_int_eq(ws_fetch_spool_dir_for("/data/pg_wal/RECOVERYXLOG", out, sizeof out, &err), 0);
    ck_assert_str_eq(out, "/data/pg_wal/walship-spool");
    ck_assert_int_eq(ws_fetch_spool_dir_for("/data/pg_wal/RECOVERYXLOG", out, 10, &err), -1);
}
END_TEST

/* --- the directory ------------------------------------------------------------ */

START_TEST(test_open_checks)
{
    ws_spool *sp = NULL;
    struct stat st;

    ck_assert_int_eq(ws_fetch_spool_open(spool, false, &sp, &err), 0);
    ck_assert_ptr_null(sp);
    ck_assert_int_eq(ws_fetch_spool_open(spool, true, &sp, &err), 1);
    ck_assert_int_eq(stat(spool, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    ws_fetch_spool_close(sp);

    ck_assert_int_eq(chmod(spool, 0750), 0);
    ck_assert_int_eq(ws_fetch_spool_open(spool, false, &sp, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "accessible to other users"));
    ck_assert_int_eq(rmdir(spool), 0);

    ck_assert_int_eq(symlink(tmp, spool), 0);
    ck_assert_int_eq(ws_fetch_spool_open(spool, true, &sp, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a directory"));
    ck_assert_int_eq(unlink(spool), 0);
}
END_TEST

START_TEST(test_adopt)
{
    ws_spool_identity a = ident("file:///a"), b = ident("file:///b");
    ws_spool_state st;
    uint64_t gen;
    ws_spool *sp = open_spool(true);

    ck_assert_int_eq(ws_fetch_spool_adopt(sp, &a, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_read_state(sp, &st, &err), 1);
    ck_assert(ws_fetch_spool_identity_equal(&st.id, &a));
    gen = st.generation;
    make_segment(path_of(spool, "000000010000000000000005"), "000000010000000000000005", SYSID, MiB);

    /* Same identity: kept as it is. */
    ck_assert_int_eq(ws_fetch_spool_adopt(sp, &a, &err), 0);
    ck_assert(exists(spool, "000000010000000000000005"));
    ck_assert_int_eq(ws_fetch_spool_read_state(sp, &st, &err), 1);
    ck_assert(st.generation == gen);

    /* Another repository: emptied, new generation. */
    ck_assert_int_eq(ws_fetch_spool_adopt(sp, &b, &err), 0);
    ck_assert(!exists(spool, "000000010000000000000005"));
    ck_assert_int_eq(ws_fetch_spool_read_state(sp, &st, &err), 1);
    ck_assert(ws_fetch_spool_identity_equal(&st.id, &b));
    ck_assert(st.generation != gen);

    /* A damaged state file counts as another identity. */
    make_segment(path_of(spool, "000000010000000000000006"), "000000010000000000000006", SYSID, MiB);
    {
        FILE *f = fopen(path_of(spool, "state"), "w");

        fputs("garbage\n", f);
        fclose(f);
    }
    ck_assert_int_eq(ws_fetch_spool_adopt(sp, &b, &err), 0);
    ck_assert(!exists(spool, "000000010000000000000006"));
    ck_assert_int_eq(ws_fetch_spool_read_state(sp, &st, &err), 1);
    ws_fetch_spool_close(sp);
}
END_TEST

START_TEST(test_take)
{
    char dest[512], bad[512];
    ws_wal_header hdr;
    ws_wal_name n5 = name_of("000000010000000000000005");
    ws_spool *sp = spool_at(4, 8);
    struct stat st;

    snprintf(dest, sizeof dest, "%s/RECOVERYXLOG", tmp);
    /* Nothing spooled: not served, no error. */
    ck_assert_int_eq(ws_fetch_spool_take(sp, &n5, dest, SYSID, 5, &hdr, &err), 0);
    ck_assert_int_eq(err.code, WS_OK);

    make_segment(path_of(spool, "000000010000000000000005"), "000000010000000000000005", SYSID, MiB);
    ck_assert_int_eq(ws_fetch_spool_take(sp, &n5, dest, SYSID, 5, &hdr, &err), 1);
    ck_assert_int_eq(stat(dest, &st), 0);
    ck_assert_int_eq(st.st_size, MiB);
    ck_assert_uint_eq(hdr.seg_size, MiB);
    ck_assert(!exists(spool, "000000010000000000000005"));

    /* Refused and removed: cut short, another segment's content, another
     * cluster.  dest is left alone. */
    unlink(dest);
    make_segment(path_of(spool, "000000010000000000000005"), "000000010000000000000005", SYSID, MiB / 2);
    ck_assert_int_eq(ws_fetch_spool_take(sp, &n5, dest, SYSID, 5, &hdr, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "differs from the segment size"));
    ck_assert(!exists(spool, "000000010000000000000005"));
    make_segment(path_of(spool, "000000010000000000000005"), "000000010000000000000006", SYSID, MiB);
    ck_assert_int_eq(ws_fetch_spool_take(sp, &n5, dest, SYSID, 5, &hdr, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "page address"));
    make_segment(path_of(spool, "000000010000000000000005"), "000000010000000000000005", SYSID + 1, MiB);
    ck_assert_int_eq(ws_fetch_spool_take(sp, &n5, dest, SYSID, 5, &hdr, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "system identifier"));
    ck_assert(!exists(spool, "000000010000000000000005"));
    ck_assert_int_eq(access(dest, F_OK), -1);

    /* A symlink is never followed. */
    snprintf(bad, sizeof bad, "%s/elsewhere", tmp);
    make_segment(bad, "000000010000000000000005", SYSID, MiB);
    ck_assert_int_eq(symlink(bad, path_of(spool, "000000010000000000000005")), 0);
    ck_assert_int_eq(ws_fetch_spool_take(sp, &n5, dest, SYSID, 5, &hdr, &err), 0);
    ck_assert_int_eq(access(dest, F_OK), -1);
    unlink(path_of(spool, "000000010000000000000005"));

    /* An unlocked part file is neither served nor waited for. */
    make_segment(path_of(spool, "000000010000000000000005.part-99"), "000000010000000000000005", SYSID, MiB);
    ck_assert_int_eq(ws_fetch_spool_take(sp, &n5, dest, SYSID, 5, &hdr, &err), 0);
    ck_assert_int_eq(access(dest, F_OK), -1);
    ws_fetch_spool_close(sp);
}
END_TEST

/* A writer (child process) holds NAME.part-PID locked, finishes it after a
 * while and publishes it: ws_fetch_spool_take waits and serves it. */
START_TEST(test_take_waits_for_writer)
{
    char dest[512];
    ws_wal_header hdr;
    ws_wal_name n5 = name_of("000000010000000000000005");
    ws_spool *sp = spool_at(4, 8);
    ws_spool_state st;
    int pipefd[2], status;
    pid_t pid;
    char c;

    ck_assert_int_eq(ws_fetch_spool_read_state(sp, &st, &err), 1);
    ck_assert_int_eq(pipe(pipefd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        char *part = NULL;
        int fd;

        close(pipefd[0]);
        if (ws_fetch_spool_part_create(sp, "000000010000000000000005", &fd, &part, &err) < 0)
            _exit(2);
        if (write(pipefd[1], "x", 1) != 1)
            _exit(3);
        usleep(500 * 1000);
        make_segment(part, "000000010000000000000005", SYSID, MiB);
        _exit(ws_fetch_spool_publish(sp, part, &n5, st.generation, &err) == 1 ? 0 : 4);
    }
    close(pipefd[1]);
    ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
    close(pipefd[0]);
    snprintf(dest, sizeof dest, "%s/RECOVERYXLOG", tmp);
    ck_assert_msg(ws_fetch_spool_take(sp, &n5, dest, SYSID, 30, &hdr, &err) == 1, "%s", err.msg);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ws_fetch_spool_close(sp);
}
END_TEST

START_TEST(test_take_gives_up_on_a_stuck_writer)
{
    char dest[512];
    ws_wal_header hdr;
    ws_wal_name n5 = name_of("000000010000000000000005");
    ws_spool *sp = spool_at(4, 8);
    char *part = NULL;
    struct timespec a, b;
    int fd;

    /* Our own lock on a separate open file: take() cannot get it either. */
    ck_assert_int_eq(ws_fetch_spool_part_create(sp, "000000010000000000000005", &fd, &part, &err), 0);
    snprintf(dest, sizeof dest, "%s/RECOVERYXLOG", tmp);
    clock_gettime(CLOCK_MONOTONIC, &a);
    ck_assert_int_eq(ws_fetch_spool_take(sp, &n5, dest, SYSID, 0.3, &hdr, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    ck_assert(b.tv_sec - a.tv_sec < 10);
    close(fd);
    free(part);
    ws_fetch_spool_close(sp);
}
END_TEST

START_TEST(test_advance_and_limit)
{
    ws_spool_identity id = ident("file:///r");
    ws_spool *sp = spool_at(4, 8);
    ws_spool_want w;
    ws_wal_name n;

    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    ck_assert(w.tli == 1 && w.pos == 4 && w.depth == 8 && w.seg_size == MiB && w.cap == WS_SPOOL_NO_CAP);
    for (uint64_t s = 5; s <= 8; s++)
        make_segment(path_of(spool, seg_name(1, s)), seg_name(1, s), SYSID, MiB);

    /* The end of the archive at segment 7: 7 and later go. */
    n = name_of(seg_name(1, 7));
    ck_assert_int_eq(ws_fetch_spool_limit_at_segment(sp, &n, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    ck_assert(w.cap == 7);
    ck_assert(exists(spool, seg_name(1, 6)) && !exists(spool, seg_name(1, 7)) && !exists(spool, seg_name(1, 8)));
    /* Ignored: another timeline, or not past the position. */
    n = name_of(seg_name(2, 6));
    ck_assert_int_eq(ws_fetch_spool_limit_at_segment(sp, &n, &err), 0);
    n = name_of(seg_name(1, 3));
    ck_assert_int_eq(ws_fetch_spool_limit_at_segment(sp, &n, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    ck_assert(w.cap == 7 && exists(spool, seg_name(1, 6)));

    /* Moving on within the timeline keeps the cap ... */
    n = name_of(seg_name(1, 5));
    ck_assert_int_eq(ws_fetch_spool_advance(sp, &id, &n, MiB, 8, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    ck_assert(w.pos == 5 && w.cap == 7 && exists(spool, seg_name(1, 6)));
    /* ... until the position passes it. */
    n = name_of(seg_name(1, 7));
    ck_assert_int_eq(ws_fetch_spool_advance(sp, &id, &n, MiB, 8, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    ck_assert(w.pos == 7 && w.cap == WS_SPOOL_NO_CAP);

    /* A branch point at an LSN in segment 10 of timeline 1. */
    ck_assert_int_eq(ws_fetch_spool_limit_at_lsn(sp, 1, 10 * (uint64_t) MiB + 4096, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    ck_assert(w.cap == 10);

    /* A new timeline empties the spool. */
    make_segment(path_of(spool, seg_name(1, 8)), seg_name(1, 8), SYSID, MiB);
    make_segment(path_of(spool, "000000010000000000000009.part-77"), seg_name(1, 9), SYSID, MiB);
    n = name_of(seg_name(2, 8));
    ck_assert_int_eq(ws_fetch_spool_advance(sp, &id, &n, MiB, 8, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    ck_assert(w.tli == 2 && w.pos == 8 && w.cap == WS_SPOOL_NO_CAP);
    ck_assert(!exists(spool, seg_name(1, 8)) && !exists(spool, "000000010000000000000009.part-77"));
    ck_assert(!exists(spool, seg_name(1, 6)));
    ck_assert(exists(spool, "state"));
    ws_fetch_spool_close(sp);
}
END_TEST

START_TEST(test_publish)
{
    ws_spool *sp = spool_at(4, 3);
    ws_spool_state st;
    ws_wal_name n;
    char *part = NULL;
    int fd;

    ck_assert_int_eq(ws_fetch_spool_read_state(sp, &st, &err), 1);
    /* Wanted: published under its name. */
    n = name_of(seg_name(1, 6));
    ck_assert_int_eq(ws_fetch_spool_part_create(sp, seg_name(1, 6), &fd, &part, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_publish(sp, part, &n, st.generation, &err), 1);
    ck_assert(exists(spool, seg_name(1, 6)));
    close(fd);
    free(part);
    /* Beyond the window, another timeline, another generation: dropped. */
    {
        struct {
            uint32_t tli;
            uint64_t segno, gen;
        } no[] = {{1, 8, st.generation}, {1, 4, st.generation}, {2, 5, st.generation}, {1, 5, st.generation + 1}};

        for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
            n = name_of(seg_name(no[i].tli, no[i].segno));
            ck_assert_int_eq(ws_fetch_spool_part_create(sp, seg_name(no[i].tli, no[i].segno), &fd, &part, &err), 0);
            ck_assert_msg(ws_fetch_spool_publish(sp, part, &n, no[i].gen, &err) == 0, "case %zu", i);
            ck_assert(access(part, F_OK) < 0 && !exists(spool, seg_name(no[i].tli, no[i].segno)));
            close(fd);
            free(part);
        }
    }
    /* The spool removed meanwhile: dropped, not recreated. */
    n = name_of(seg_name(1, 5));
    ck_assert_int_eq(ws_fetch_spool_part_create(sp, seg_name(1, 5), &fd, &part, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_remove(sp, NULL, &err), 1);
    ck_assert_int_eq(ws_fetch_spool_publish(sp, part, &n, st.generation, &err), 0);
    ck_assert_int_eq(access(spool, F_OK), -1);
    close(fd);
    free(part);
    ws_fetch_spool_close(sp);
}
END_TEST

START_TEST(test_sweep)
{
    ws_spool *sp = spool_at(10, 4);
    ws_spool_want w;
    bool present[5];
    char *part = NULL;
    int fd;

    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    for (uint64_t s = 9; s <= 15; s++)
        make_segment(path_of(spool, seg_name(1, s)), seg_name(1, s), SYSID, MiB);
    make_segment(path_of(spool, seg_name(2, 12)), seg_name(2, 12), SYSID, MiB);
    make_segment(path_of(spool, "00000001000000000000000D.part-1"), seg_name(1, 13), SYSID, MiB); /* abandoned */
    ck_assert_int_eq(ws_fetch_spool_part_create(sp, seg_name(1, 14), &fd, &part, &err), 0);       /* live */
    unlink(path_of(spool, seg_name(1, 13)));
    unlink(path_of(spool, seg_name(1, 14)));
    ck_assert_int_eq(ws_fetch_spool_sweep(sp, &w, present, false, &err), 0);
    /* Kept: 11, 12 complete; 14's live part.  Gone: 9, 10 (passed), 15
     * (beyond), timeline 2, the abandoned part. */
    ck_assert(!present[0] && present[1] && present[2] && !present[3] && !present[4]);
    ck_assert(!exists(spool, seg_name(1, 9)) && !exists(spool, seg_name(1, 10)) && !exists(spool, seg_name(1, 15)));
    ck_assert(!exists(spool, seg_name(2, 12)) && !exists(spool, "00000001000000000000000D.part-1"));
    ck_assert(access(part, F_OK) == 0);
    ck_assert(exists(spool, "state") && exists(spool, "want"));
    /* Not wanted any more: a live part goes too. */
    w.cap = 13;
    ck_assert_int_eq(ws_fetch_spool_sweep(sp, &w, present, false, &err), 0);
    ck_assert(access(part, F_OK) < 0);
    close(fd);
    free(part);
    ws_fetch_spool_close(sp);
}
END_TEST

START_TEST(test_remove_and_prefetcher_lock)
{
    ws_spool *sp = spool_at(10, 4);
    ws_spool_want w, other;
    int fd, fd2;

    ck_assert(!ws_fetch_spool_prefetcher_running(sp));
    ck_assert_int_eq(ws_fetch_spool_claim_prefetcher(sp, &fd, &err), 1);
    ck_assert(ws_fetch_spool_prefetcher_running(sp));
    ck_assert_int_eq(ws_fetch_spool_claim_prefetcher(sp, &fd2, &err), 0);

    /* Removal only when the position is still the one seen. */
    ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
    other = w;
    other.pos++;
    ck_assert_int_eq(ws_fetch_spool_remove(sp, &other, &err), 0);
    ck_assert(exists(spool, "want"));
    ck_assert_int_eq(ws_fetch_spool_remove(sp, &w, &err), 1);
    ck_assert_int_eq(access(spool, F_OK), -1);
    ck_assert_int_eq(ws_fetch_spool_remove(sp, NULL, &err), 1); /* already gone */
    close(fd);

    /* Moving the window after the spool was removed makes it again, with
     * its state. */
    {
        ws_spool_identity id = ident("file:///r");
        ws_spool_state st;
        ws_wal_name n = name_of(seg_name(1, 12));

        ck_assert_int_eq(ws_fetch_spool_advance(sp, &id, &n, MiB, 4, &err), 0);
        ck_assert_int_eq(ws_fetch_spool_read_state(sp, &st, &err), 1);
        ck_assert(ws_fetch_spool_identity_equal(&st.id, &id));
        ck_assert_int_eq(ws_fetch_spool_read_want(sp, &w, &err), 1);
        ck_assert(w.pos == 12);
    }
    ck_assert(!ws_fetch_spool_prefetcher_running(sp) || access(spool, F_OK) < 0);
    ws_fetch_spool_close(sp);
}
END_TEST

/* --- pg_datadir ---------------------------------------------------------------- */

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
}

START_TEST(test_datadir)
{
    char p[PATH_MAX + 32];
    uint64_t sysid = 0, v = SYSID;
    uint8_t ctl[296] = {0};

    ck_assert_int_eq(ws_pg_datadir_recovery_mode(tmp), WS_RECOVERY_NONE);
    snprintf(p, sizeof p, "%s/recovery.signal", tmp);
    write_file(p, "", 0);
    ck_assert_int_eq(ws_pg_datadir_recovery_mode(tmp), WS_RECOVERY_ARCHIVE);
    snprintf(p, sizeof p, "%s/standby.signal", tmp);
    write_file(p, "", 0);
    ck_assert_int_eq(ws_pg_datadir_recovery_mode(tmp), WS_RECOVERY_STANDBY);

    ck_assert_int_eq(ws_pg_datadir_sysid(tmp, &sysid, &err), -1);
    snprintf(p, sizeof p, "%s/global", tmp);
    ck_assert_int_eq(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/global/pg_control", tmp);
    memcpy(ctl, &v, sizeof v);
    write_file(p, ctl, sizeof ctl);
    ck_assert_int_eq(ws_pg_datadir_sysid(tmp, &sysid, &err), 0);
    ck_assert(sysid == SYSID);
    write_file(p, ctl, 4);
    ck_assert_int_eq(ws_pg_datadir_sysid(tmp, &sysid, &err), -1);
}
END_TEST

START_TEST(test_proc)
{
    ws_proc_id me = {.pid = getpid()};
    pid_t parent, child;
    int st;

    ck_assert_int_eq(ws_proc_read(getpid(), &parent, &me.start, &err), 0);
    ck_assert_int_eq(parent, getppid());
    ck_assert(ws_proc_alive(&me));
    me.start++;
    ck_assert(!ws_proc_alive(&me)); /* same pid, another process */

    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(0);
    usleep(100 * 1000);
    {
        ws_proc_id c = {.pid = child};

        /* A zombie is gone. */
        ck_assert_int_eq(ws_proc_read(child, NULL, &c.start, &err), -1);
        ck_assert_int_eq(err.code, WS_ERR_NOTFOUND);
    }
    ck_assert_int_eq(waitpid(child, &st, 0), child);
}
END_TEST

/* This process plays the postmaster: a child A ("startup process") runs a
 * grandchild B ("sh" running walship-fetch), which must find A. */
START_TEST(test_startup_process)
{
    char p[PATH_MAX + 32], line[64];
    ws_proc_id found;
    pid_t a;
    int st, n;

    ck_assert_int_eq(ws_pg_datadir_startup_process(tmp, &found, &err), 0); /* no postmaster.pid */
    n = snprintf(line, sizeof line, "%d\n%s\n", (int) getpid(), tmp);
    snprintf(p, sizeof p, "%s/postmaster.pid", tmp);
    write_file(p, line, (size_t) n);
    a = fork();
    ck_assert_int_ge(a, 0);
    if (a == 0) {
        pid_t b = fork();
        int bst;

        if (b < 0)
            _exit(10);
        if (b == 0) {
            pid_t c = fork(); /* walship-fetch under sh */
            int cst;

            if (c == 0) {
                ws_proc_id f;
                unsigned long long start;
                pid_t a_pid;

                if (ws_pg_datadir_startup_process(tmp, &f, &err) != 1)
                    _exit(20);
                if (ws_proc_read(f.pid, NULL, &start, &err) < 0 || start != f.start)
                    _exit(21);
                if (ws_proc_read(getppid(), &a_pid, NULL, &err) < 0)
                    _exit(22);
                _exit(f.pid == a_pid ? 0 : 23);
            }
            waitpid(c, &cst, 0);
            _exit(WIFEXITED(cst) ? WEXITSTATUS(cst) : 11);
        }
        waitpid(b, &bst, 0);
        _exit(WIFEXITED(bst) ? WEXITSTATUS(bst) : 12);
    }
    ck_assert_int_eq(waitpid(a, &st, 0), a);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0); /* C found A, past its parent B */

    /* A postmaster.pid of a process that is no ancestor: not found. */
    n = snprintf(line, sizeof line, "%d\n", 1);
    write_file(p, line, (size_t) n);
    ck_assert_int_eq(ws_pg_datadir_startup_process(tmp, &found, &err), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("fetch_spool");
    TCase *pure = tcase_create("pure"), *dir = tcase_create("directory"), *pg = tcase_create("datadir");

    tcase_add_test(pure, test_state_roundtrip);
    tcase_add_test(pure, test_state_parse_errors);
    tcase_add_test(pure, test_want_roundtrip_and_errors);
    tcase_add_test(pure, test_window);
    tcase_add_test(pure, test_classify);
    tcase_add_test(pure, test_dir_for);
    tcase_add_checked_fixture(dir, setup, teardown);
    tcase_add_test(dir, test_open_checks);
    tcase_add_test(dir, test_adopt);
    tcase_add_test(dir, test_take);
    tcase_add_test(dir, test_take_waits_for_writer);
    tcase_add_test(dir, test_take_gives_up_on_a_stuck_writer);
    tcase_add_test(dir, test_advance_and_limit);
    tcase_add_test(dir, test_publish);
    tcase_add_test(dir, test_sweep);
    tcase_add_test(dir, test_remove_and_prefetcher_lock);
    tcase_add_checked_fixture(pg, setup, teardown);
    tcase_add_test(pg, test_datadir);
    tcase_add_test(pg, test_proc);
    tcase_add_test(pg, test_startup_process);
    suite_add_tcase(s, pure);
    suite_add_tcase(s, dir);
    suite_add_tcase(s, pg);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    unit_tmp_init("fetch_spool");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
