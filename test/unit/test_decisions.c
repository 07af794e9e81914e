/*
 * test_decisions.c - the decisions of walship-push and walship-fetch,
 * against the in-memory storage driver (storage_mem.h) with injected
 * faults: duplicates (identical, different, damaged), acks (trusted,
 * untrusted, stale), the prefetch spool (hit, miss, another owner, a stale
 * generation), the repository's identity, and every error class to its
 * exit status.  Real local files (synthetic 1 MiB segments), no PostgreSQL:
 * the whole program runs in seconds.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "storage_conformance.h"
#include "storage_mem.h"
#include "unit_tmp.h"
#include "walship/archive_ack.h"
#include "walship/archive_push.h"
#include "walship/errclass.h"
#include "walship/fetch_spool.h"
#include "walship/key.h"
#include "walship/repo_idcache.h"
#include "walship/repo_identity.h"
#include "walship/repo_keys.h"
#include "walship/restore_run.h"
#include "walship/wal_segment.h"

#define MiB    (1024 * 1024)
#define SYSID  UINT64_C(7300000000000000001)
#define OTHER  UINT64_C(7300000000000000002)
#define URL    "mem://decisions"
#define SEG1   "000000010000000000000001"
#define SEG2   "000000010000000000000002"
#define SEG3   "000000010000000000000003"
#define ABSENT "00000001000000000000000F"

static char tmpdir[UNIT_TMP_MAX];
static char pg_wal[UNIT_TMP_MAX + 16], status_dir[UNIT_TMP_MAX + 40], ack_dir[UNIT_TMP_MAX + 40];
static ws_err err;
static ws_config cfg;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void setup(void)
{
    unit_tmp_template(tmpdir, sizeof tmpdir, "walship-test-decisions");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(pg_wal, sizeof pg_wal, "%s/pg_wal", tmpdir);
    snprintf(status_dir, sizeof status_dir, "%s/archive_status", pg_wal);
    snprintf(ack_dir, sizeof ack_dir, "%s/" WS_ACK_DIR, pg_wal);
    ck_assert_int_eq(mkdir(pg_wal, 0700), 0);
    ck_assert_int_eq(mkdir(status_dir, 0700), 0);
    ck_assert_int_eq(mkdir(ack_dir, 0700), 0);
    ws_err_clear(&err);
    ck_assert_int_eq(ws_config_defaults(&cfg, &err), 0);
    cfg.repo = strdup(URL);
    cfg.prefetch = 0;
}

static void teardown(void)
{
    ws_config_free(&cfg);
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static ws_repo *mem_repo(bool locks)
{
    ws_repo *r = calloc(1, sizeof *r);

    ck_assert_ptr_nonnull(r);
    r->st = ws_storage_mem_new(URL, locks);
    ck_assert_ptr_nonnull(r->st);
    r->compress = WS_COMPRESS_LZ4;
    return r;
}

static const char *path_of(const char *name)
{
    static char out[4][300];
    static int k;

    k = (k + 1) % 4;
    snprintf(out[k], sizeof out[k], "%s/%s", pg_wal, name);
    return out[k];
}

/* A 1 MiB segment of cluster sysid; fill varies the content. */
static void write_segment(const char *name, uint64_t sysid, uint8_t fill)
{
    uint8_t *buf = malloc(MiB);
    ws_wal_name w;
    ws_wal_header h = {.magic = 0xD110,
                       .info = WS_XLP_LONG_HEADER,
                       .tli = 1,
                       .sysid = sysid,
                       .seg_size = MiB,
                       .blcksz = WS_WAL_BLCKSZ};
    FILE *f;

    ck_assert_ptr_nonnull(buf);
    ck_assert_int_eq(ws_wal_name_parse(name, &w, &err), 0);
    ck_assert_int_eq(ws_wal_name_start_lsn(&w, MiB, &h.pageaddr, &err), 0);
    memset(buf, fill, MiB);
    ws_wal_header_encode(&h, buf);
    f = fopen(path_of(name), "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(buf, 1, MiB, f), MiB);
    fclose(f);
    free(buf);
}

static void mark_ready(const char *name)
{
    char p[400];
    FILE *f;

    snprintf(p, sizeof p, "%s/%s.ready", status_dir, name);
    f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
}

/* --- push ------------------------------------------------------------------ */

static int idcache_remove(void)
{
    return ws_repo_idcache_remove(ack_dir, &err);
}

/* Makes the identity cache's record look read `age` seconds ago. */
static void idcache_age(int64_t age)
{
    ws_idcache c;
    ws_repo *r = mem_repo(false);

    ck_assert_int_ge(ws_repo_idcache_lookup(ack_dir, &cfg, r, (int64_t) time(NULL), &c, &err), 1);
    ck_assert_int_eq(ws_repo_idcache_store(ack_dir, &cfg, r, &c.id, &c.digest, (int64_t) time(NULL) - age, &err), 0);
    ws_repo_close(r);
}

typedef struct {
    ws_push_ctx ctx;
    ws_push_result res;
    ws_digest d;
} pusher;

/* Archives name as PostgreSQL's call (ahead false) or a look-ahead job. */
static int push(ws_repo *r, pusher *p, const char *name, bool ahead)
{
    ws_push_job job = {.path = path_of(name), .ahead = ahead};

    ws_err_clear(&err);
    return ws_archive_push(r, &p->ctx, &job, &p->res, &p->d, &err);
}

static void pusher_init(pusher *p, bool acks)
{
    ws_archive_push_ctx_init(&p->ctx, &cfg, acks ? ack_dir : NULL, status_dir);
}

static void key_of(const char *name, char *key)
{
    ck_assert_int_eq(ws_repo_keys_wal(name, key, WS_KEY_MAX, &err), 0);
}

START_TEST(push_duplicates)
{
    ws_repo *r = mem_repo(_i == 1);
    char key[WS_KEY_MAX];
    const void *stored;
    size_t len, puts;
    void *before;
    pusher p;

    pusher_init(&p, false);
    write_segment(SEG1, SYSID, 1);
    ck_assert_msg(push(r, &p, SEG1, false) == 0, "%s", err.msg);
    ck_assert_int_eq(p.res, WS_PUSH_STORED);
    ck_assert_ptr_nonnull(ws_storage_mem_peek(r->st, WS_REPO_IDENTITY_KEY, &len));
    /* Identical content: recognised by digest, nothing written. */
    puts = ws_storage_mem_calls(r->st, WS_STORAGE_MEM_PUT);
    ck_assert_int_eq(push(r, &p, SEG1, false), 0);
    ck_assert_int_eq(p.res, WS_PUSH_IDENTICAL);
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_PUT), puts);
    /* Different content under the name: refused, the object untouched. */
    key_of(SEG1, key);
    stored = ws_storage_mem_peek(r->st, key, &len);
    before = malloc(len);
    memcpy(before, stored, len);
    write_segment(SEG1, SYSID, 2);
    ck_assert_int_eq(push(r, &p, SEG1, false), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.msg, "not overwritten"));
    stored = ws_storage_mem_peek(r->st, key, &len);
    ck_assert_int_eq(memcmp(before, stored, len), 0);
    /* A damaged stored object (garbage, no metadata) is replaced. */
    ws_storage_mem_poke(r->st, key, "garbage", 7, false);
    ck_assert_msg(push(r, &p, SEG1, false) == 0, "%s", err.msg);
    ck_assert_int_eq(p.res, WS_PUSH_STORED);
    /* So is one cut short under intact metadata. */
    stored = ws_storage_mem_peek(r->st, key, &len);
    ws_storage_mem_poke(r->st, key, stored, len - 10, true);
    ck_assert_msg(push(r, &p, SEG1, false) == 0, "%s", err.msg);
    ck_assert_int_eq(p.res, WS_PUSH_STORED);
    free(before);
    ws_archive_push_ctx_destroy(&p.ctx);
    ws_repo_close(r);
}
END_TEST

START_TEST(push_identity)
{
    ws_repo *r = mem_repo(true);
    pusher p, q;

    pusher_init(&p, false);
    write_segment(SEG1, SYSID, 1);
    ck_assert_int_eq(push(r, &p, SEG1, false), 0);
    /* Another cluster (a fresh call, no cached identity): refused. */
    pusher_init(&q, false);
    write_segment(SEG2, OTHER, 1);
    ck_assert_int_eq(push(r, &q, SEG2, false), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err.msg, "7300000000000000001"));
    ck_assert_ptr_nonnull(strstr(err.msg, "7300000000000000002"));
    ws_archive_push_ctx_destroy(&p.ctx);
    ws_archive_push_ctx_destroy(&q.ctx);
    ws_repo_close(r);
}
END_TEST

/* The identity cache: a call with a fresh record reads no identity; an old
 * record is read again and proves that the identity must still be there;
 * another cluster is refused by the repository, not by the cache; a failed
 * push forgets the record. */
START_TEST(push_identity_cache)
{
    ws_repo *r = mem_repo(false);
    ws_storage_mem_fault gone = {.op = WS_STORAGE_MEM_GET, .code = WS_ERR_NOTFOUND, .key = WS_REPO_IDENTITY_KEY};
    ws_storage_mem_fault down = {.op = WS_STORAGE_MEM_COMMIT, .code = WS_ERR_TRANSIENT};
    ws_idcache c;
    unsigned gets;
    pusher p;

    write_segment(SEG1, SYSID, 1);
    write_segment(SEG2, SYSID, 2);
    write_segment(SEG3, OTHER, 3);
    pusher_init(&p, true);
    ck_assert_msg(push(r, &p, SEG1, false) == 0, "%s", err.msg);
    ws_archive_push_ctx_destroy(&p.ctx);
    ck_assert_int_eq(ws_repo_idcache_lookup(ack_dir, &cfg, r, (int64_t) time(NULL), &c, &err), 2);
    ck_assert_uint_eq(c.id.sysid, SYSID);
    /* Each call is a new process: the cache answers. */
    gets = ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET);
    pusher_init(&p, true);
    ck_assert_msg(push(r, &p, SEG2, false) == 0, "%s", err.msg);
    ws_archive_push_ctx_destroy(&p.ctx);
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets);
    /* Another cluster's segment: the repository's identity is read and refuses it. */
    pusher_init(&p, true);
    ck_assert_int_eq(push(r, &p, SEG3, false), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFLICT);
    ws_archive_push_ctx_destroy(&p.ctx);
    /* That failure removed the record: the next call reads the identity. */
    ck_assert_int_eq(ws_repo_idcache_lookup(ack_dir, &cfg, r, (int64_t) time(NULL), &c, &err), 0);
    gets = ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET);
    pusher_init(&p, true);
    ck_assert_msg(push(r, &p, SEG2, false) == 0, "%s", err.msg);
    ws_archive_push_ctx_destroy(&p.ctx);
    ck_assert_uint_gt(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets);
    /* A failed upload forgets it too. */
    ws_storage_mem_add_fault(r->st, &down);
    write_segment(SEG2, SYSID, 2);
    {
        char key[WS_KEY_MAX];
        const char *keys[] = {key};

        key_of(SEG2, key);
        ck_assert_int_eq(ws_storage_remove(r->st, keys, 1, &err), 0);
    }
    pusher_init(&p, true);
    ck_assert_int_eq(push(r, &p, SEG2, false), -1);
    ws_archive_push_ctx_destroy(&p.ctx);
    ws_storage_mem_clear_faults(r->st);
    ck_assert_int_eq(ws_repo_idcache_lookup(ack_dir, &cfg, r, (int64_t) time(NULL), &c, &err), 0);
    pusher_init(&p, true);
    ck_assert_msg(push(r, &p, SEG2, false) == 0, "%s", err.msg);
    ws_archive_push_ctx_destroy(&p.ctx);
    /* An old record whose identity has vanished: refused, nothing recorded anew. */
    idcache_age(WS_IDCACHE_MAX_AGE + 1);
    ws_storage_mem_add_fault(r->st, &gone);
    pusher_init(&p, true);
    ck_assert_int_eq(push(r, &p, SEG1, false), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "vanished") && strstr(err.msg, WS_IDCACHE_FILE), "%s", err.msg);
    ws_archive_push_ctx_destroy(&p.ctx);
    ws_repo_close(r);
}
END_TEST

/* Create-only commits (S3 with s3_conditional_put): a new segment is stored
 * without looking first; a duplicate is recognised after the refused commit,
 * different content refused, a damaged object replaced. */
START_TEST(push_commit_new)
{
    ws_repo *r = mem_repo(false);
    char key[WS_KEY_MAX];
    size_t len, heads;
    pusher p;

    ws_storage_mem_set_commit_new(r->st, true);
    pusher_init(&p, false);
    write_segment(SEG1, SYSID, 1);
    ck_assert_msg(push(r, &p, SEG1, false) == 0, "%s", err.msg);
    heads = ws_storage_mem_calls(r->st, WS_STORAGE_MEM_HEAD);
    write_segment(SEG2, SYSID, 2);
    ck_assert_msg(push(r, &p, SEG2, false) == 0, "%s", err.msg);
    ck_assert_int_eq(p.res, WS_PUSH_STORED);
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_HEAD), heads); /* no look first */
    ck_assert_int_eq(push(r, &p, SEG2, false), 0);
    ck_assert_int_eq(p.res, WS_PUSH_IDENTICAL);
    write_segment(SEG2, SYSID, 3);
    ck_assert_int_eq(push(r, &p, SEG2, false), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFLICT);
    key_of(SEG2, key);
    ws_storage_mem_poke(r->st, key, "garbage", 7, false);
    ck_assert_msg(push(r, &p, SEG2, false) == 0, "%s", err.msg);
    ck_assert_int_eq(p.res, WS_PUSH_STORED);
    ck_assert_ptr_nonnull(ws_storage_mem_peek(r->st, key, &len));
    ck_assert_uint_gt(len, 7);
    ws_archive_push_ctx_destroy(&p.ctx);
    ws_repo_close(r);
}
END_TEST

/* Storage faults fail the push with their class; nothing is stored. */
START_TEST(push_faults)
{
    static const struct {
        ws_storage_mem_op op;
        ws_errcode code;
        ws_errclass cls;
    } rows[] = {
        {WS_STORAGE_MEM_PUT, WS_ERR_TRANSIENT, WS_CLASS_UNREACHABLE},
        {WS_STORAGE_MEM_COMMIT, WS_ERR_TRANSIENT, WS_CLASS_UNREACHABLE},
        {WS_STORAGE_MEM_HEAD, WS_ERR_PERM, WS_CLASS_REFUSED},
        {WS_STORAGE_MEM_GET, WS_ERR_STORAGE, WS_CLASS_REFUSED},
        {WS_STORAGE_MEM_PUT, WS_ERR_IO, WS_CLASS_UNREACHABLE},
    };

    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        ws_repo *r = mem_repo(false);
        ws_storage_mem_fault f = {.op = rows[i].op, .code = rows[i].code};
        char key[WS_KEY_MAX];
        size_t len;
        pusher p;

        pusher_init(&p, false);
        write_segment(SEG1, SYSID, 1);
        ws_storage_mem_add_fault(r->st, &f);
        ck_assert_msg(push(r, &p, SEG1, false) == -1, "row %zu pushed", i);
        ck_assert_msg(err.code == rows[i].code, "row %zu: %s", i, err.msg);
        ck_assert_int_eq(ws_errclass_of(err.code), rows[i].cls);
        ck_assert_int_eq(ws_errclass_push_exit(ws_errclass_of(err.code)), WS_EXIT_ERROR);
        ck_assert(ws_errclass_is_global(rows[i].cls)); /* look-ahead stops */
        key_of(SEG1, key);
        ck_assert_ptr_null(ws_storage_mem_peek(r->st, key, &len));
        /* The retry, the fault gone, succeeds. */
        ws_storage_mem_clear_faults(r->st);
        ck_assert_msg(push(r, &p, SEG1, false) == 0, "row %zu retry: %s", i, err.msg);
        ck_assert_ptr_nonnull(ws_storage_mem_peek(r->st, key, &len));
        ws_archive_push_ctx_destroy(&p.ctx);
        ws_repo_close(r);
    }
}
END_TEST

/* A check before the commit that fails leaves nothing: no commit call. */
static int refuse(const ws_digest *plain, void *arg, ws_err *e)
{
    (void) plain;
    (void) arg;
    return ws_err_set(e, WS_ERR_INVALID, "changed while being archived");
}

START_TEST(push_precommit_leaves_nothing)
{
    ws_repo *r = mem_repo(false);
    ws_repo_put_opts o = {.precommit = refuse};
    ws_digest d;
    size_t len;
    int fd;

    write_segment(SEG1, SYSID, 1);
    fd = open(path_of(SEG1), O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ws_repo_put_fd_opts(r, "user/x.ws", fd, "x", MiB, &o, &d, &err), -1);
    close(fd);
    ck_assert_ptr_nonnull(strstr(err.msg, "changed while being archived"));
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_COMMIT), 0);
    ck_assert_ptr_null(ws_storage_mem_peek(r->st, "user/x.ws", &len));
    ws_repo_close(r);
}
END_TEST

START_TEST(push_acks)
{
    ws_repo *r = mem_repo(true);
    ws_ack a;
    pusher p;
    struct timespec t[2] = {{0, UTIME_OMIT}, {12345, 0}};

    pusher_init(&p, true);
    /* Look-ahead: stored, and an ack vouches for the file. */
    write_segment(SEG1, SYSID, 1);
    mark_ready(SEG1);
    ck_assert_msg(push(r, &p, SEG1, true) == 0, "%s", err.msg);
    ck_assert_int_eq(p.res, WS_PUSH_STORED);
    ck_assert_int_eq(ws_archive_ack_read(ack_dir, SEG1, &a, &err), 1);
    /* PostgreSQL's call finds it under the lock (trusted) and consumes it. */
    ck_assert_int_eq(push(r, &p, SEG1, false), 0);
    ck_assert_int_eq(p.res, WS_PUSH_ACKED);
    ck_assert_int_eq(ws_archive_ack_read(ack_dir, SEG1, &a, &err), 0);

    /* Untrusted: an ack naming another repository is removed, the file stored. */
    write_segment(SEG2, SYSID, 2);
    mark_ready(SEG2);
    ck_assert_int_eq(push(r, &p, SEG2, true), 0);
    ck_assert_int_eq(ws_archive_ack_read(ack_dir, SEG2, &a, &err), 1);
    snprintf(a.repo, sizeof a.repo, "file:///elsewhere");
    ck_assert_int_eq(ws_archive_ack_write(ack_dir, &a, &err), 0);
    ck_assert_int_eq(push(r, &p, SEG2, false), 0);
    ck_assert_int_eq(p.res, WS_PUSH_IDENTICAL);
    ck_assert_int_eq(ws_archive_ack_read(ack_dir, SEG2, &a, &err), 0);

    /* Stale: the file was modified after it was acknowledged. */
    write_segment(SEG3, SYSID, 3);
    mark_ready(SEG3);
    ck_assert_int_eq(push(r, &p, SEG3, true), 0);
    ck_assert_int_eq(utimensat(AT_FDCWD, path_of(SEG3), t, 0), 0);
    ck_assert_int_eq(push(r, &p, SEG3, false), 0);
    ck_assert_int_eq(p.res, WS_PUSH_IDENTICAL);
    ck_assert_int_eq(ws_archive_ack_read(ack_dir, SEG3, &a, &err), 0);

    /* A look-ahead job for a name no longer .ready leaves it alone. */
    write_segment("000000010000000000000004", SYSID, 4);
    ck_assert_int_eq(push(r, &p, "000000010000000000000004", true), 0);
    ck_assert_int_eq(p.res, WS_PUSH_NOT_READY);
    ws_archive_push_ctx_destroy(&p.ctx);
    ws_repo_close(r);
}
END_TEST

/* --- fetch ------------------------------------------------------------------ */

/* A repository holding SEG1 of SYSID (and its identity). */
static ws_repo *archived_repo(void)
{
    ws_repo *r = mem_repo(false);
    pusher p;

    pusher_init(&p, false);
    write_segment(SEG1, SYSID, 7);
    ck_assert_msg(push(r, &p, SEG1, false) == 0, "%s", err.msg);
    ws_archive_push_ctx_destroy(&p.ctx);
    return r;
}

static int answer(ws_repo *r, const char *name, ws_recovery_mode mode, uint64_t sysid, const char *dest)
{
    ws_restore_request req = {.name = name, .dest = dest, .mode = mode, .sysid = sysid};

    unlink(dest);
    return ws_restore_run_answer(&cfg, r, &req, &err);
}

static bool same_file(const char *a, const char *b)
{
    char cmd[700];

    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return system(cmd) == 0;
}

static const char *dest_path(void)
{
    static char d[300];

    snprintf(d, sizeof d, "%s/RECOVERYXLOG", pg_wal);
    return d;
}

START_TEST(fetch_answers)
{
    ws_repo *r = archived_repo();
    const char *dest = dest_path();
    unsigned gets;

    ck_assert_msg(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest) == WS_FETCH_OK, "%s", err.msg);
    ck_assert(same_file(dest, path_of(SEG1)));
    /* Run by hand outside a data directory (no system identifier). */
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_NONE, 0, dest), WS_FETCH_OK);
    /* Absent from this cluster's repository: "not found" in both modes. */
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_ABSENT);
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_STANDBY, SYSID, dest), WS_FETCH_ABSENT);
    ck_assert_int_eq(answer(r, "00000005.history", WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_ABSENT);
    ck_assert_int_eq(access(dest, F_OK), -1);
    /* Timeline 1's history file: answered without a request. */
    gets = ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET);
    ck_assert_int_eq(answer(r, "00000001.history", WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_ABSENT);
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets);
    /* Another cluster's repository: never "not found", never restored. */
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_ARCHIVE, OTHER, dest), WS_FETCH_LOCAL);
    ck_assert_ptr_nonnull(strstr(err.msg, URL));
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_STANDBY, OTHER, dest), WS_FETCH_LOCAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "7300000000000000001"));
    /* ... in standby mode too, where "no repository" waits: no waiting
     * fixes a misconfiguration. */
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_STANDBY, OTHER, dest), WS_FETCH_LOCAL);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, URL));
    ck_assert_int_eq(access(dest, F_OK), -1);
    /* A bad name, a destination that cannot be written: local (202). */
    ck_assert_int_eq(answer(r, "nonsense", WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_LOCAL);
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, "/nonexistent/dir/x"), WS_FETCH_LOCAL);
    ws_repo_close(r);
}
END_TEST

/* A location without walship's identity object is no archive: recovery
 * stops in archive recovery; a standby (never ends recovery on "not
 * found") waits for it. */
START_TEST(fetch_no_identity)
{
    ws_repo *r = mem_repo(false);
    const char *dest = dest_path();

    for (int mode = WS_RECOVERY_NONE; mode <= WS_RECOVERY_STANDBY; mode++) {
        ck_assert_int_eq(answer(r, SEG1, (ws_recovery_mode) mode, SYSID, dest),
                         mode == WS_RECOVERY_STANDBY ? WS_FETCH_ABSENT : WS_FETCH_LOCAL);
        ck_assert_int_eq(err.code, WS_ERR_NOREPO);
        ck_assert_ptr_nonnull(strstr(err.msg, "is not a walship repository"));
        ck_assert_ptr_nonnull(strstr(err.msg, URL));
        ck_assert_int_eq(access(dest, F_OK), -1);
    }
    ws_repo_close(r);
}
END_TEST

/* Runs walship-fetch's run function in tmpdir as PostgreSQL would (its
 * working directory the data directory, with the signal file of mode and
 * global/pg_control of SYSID); returns the exit status, *log what it
 * printed (freed by the caller). */
static int run_fetch_in_datadir(const char *repo_url, const char *signal, const char *name, char **log)
{
    char old_cwd[4096], path[400];
    int saved, fd, status;
    uint64_t sysid = SYSID;
    FILE *f;
    size_t len = 0;

    ck_assert_ptr_nonnull(getcwd(old_cwd, sizeof old_cwd));
    snprintf(path, sizeof path, "%s/global", tmpdir);
    ck_assert(mkdir(path, 0700) == 0 || errno == EEXIST);
    snprintf(path, sizeof path, "%s/global/pg_control", tmpdir);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(&sysid, sizeof sysid, 1, f), 1);
    fclose(f);
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, i ? "standby.signal" : "recovery.signal");
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/%s", tmpdir, signal);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    free(cfg.repo);
    cfg.repo = strdup(repo_url);
    /* What it logs goes to a file instead of stderr. */
    snprintf(path, sizeof path, "%s/fetch.log", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    fflush(stderr);
    saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
    close(fd);
    ck_assert_int_eq(chdir(tmpdir), 0);
    unlink("pg_wal/RECOVERYXLOG");
    status = ws_restore_run(&cfg, name, "pg_wal/RECOVERYXLOG");
    ck_assert_int_eq(chdir(old_cwd), 0);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    *log = NULL;
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    if (getdelim(log, &len, '\0', f) < 0) { /* nothing logged */
        free(*log);
        *log = strdup("");
    }
    fclose(f);
    return status;
}

/* The file:// root is missing (a standby set up before the first push, a
 * file system not mounted yet): archive recovery stops (202); a standby
 * waits (1) with a warning naming the repository and the cause on every
 * call, and restores once the repository exists.  Nothing is created. */
START_TEST(fetch_missing_root)
{
    char root[300], url[310], *log;
    ws_repo *r;
    pusher p;

    snprintf(root, sizeof root, "%s/mnt/repo", tmpdir);
    snprintf(url, sizeof url, "file://%s", root);
    for (int call = 0; call < 2; call++) {
        ck_assert_int_eq(run_fetch_in_datadir(url, "standby.signal", SEG1, &log), WS_FETCH_ABSENT);
        ck_assert_msg(strstr(log, "WARNING") && strstr(log, root) && strstr(log, "does not exist") &&
                          !strstr(log, "ERROR"),
                      "%s", log);
        free(log);
    }
    ck_assert_int_eq(run_fetch_in_datadir(url, "recovery.signal", SEG1, &log), WS_FETCH_LOCAL);
    ck_assert_msg(strstr(log, "ERROR") && strstr(log, root) && strstr(log, "does not exist"), "%s", log);
    free(log);
    ck_assert_int_eq(access(root, F_OK), -1);

    /* The directory appears, empty: no identity yet. */
    snprintf(root, sizeof root, "%s/mnt", tmpdir);
    ck_assert_int_eq(mkdir(root, 0700), 0);
    snprintf(root, sizeof root, "%s/mnt/repo", tmpdir);
    ck_assert_int_eq(mkdir(root, 0700), 0);
    ck_assert_int_eq(run_fetch_in_datadir(url, "standby.signal", SEG1, &log), WS_FETCH_ABSENT);
    ck_assert_msg(strstr(log, "WARNING") && strstr(log, root) && strstr(log, "not a walship repository"), "%s", log);
    free(log);
    ck_assert_int_eq(run_fetch_in_datadir(url, "recovery.signal", SEG1, &log), WS_FETCH_LOCAL);
    ck_assert_msg(strstr(log, "ERROR") && strstr(log, "not a walship repository"), "%s", log);
    free(log);

    /* The first push: the standby restores. */
    ck_assert_int_eq(ws_repo_open(&cfg, &r, &err), 0);
    pusher_init(&p, false);
    write_segment(SEG1, SYSID, 7);
    ck_assert_msg(push(r, &p, SEG1, false) == 0, "%s", err.msg);
    ws_archive_push_ctx_destroy(&p.ctx);
    ws_repo_close(r);
    ck_assert_int_eq(run_fetch_in_datadir(url, "standby.signal", SEG1, &log), WS_FETCH_OK);
    free(log);
    ck_assert(same_file(dest_path(), path_of(SEG1)));
    ck_assert_int_eq(run_fetch_in_datadir(url, "standby.signal", ABSENT, &log), WS_FETCH_ABSENT);
    free(log);
}
END_TEST

/* Damage and short reads are integrity failures (200), in both modes. */
START_TEST(fetch_integrity)
{
    ws_repo *r = archived_repo();
    const char *dest = dest_path();
    ws_storage_mem_fault f = {.op = WS_STORAGE_MEM_GET, .short_read = true, .short_len = 1000};
    char key[WS_KEY_MAX];
    const uint8_t *obj;
    uint8_t *bad;
    size_t len;

    ws_storage_mem_add_fault(r->st, &f);
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_STANDBY, SYSID, dest), WS_FETCH_INTEGRITY);
    ck_assert_int_eq(access(dest, F_OK), -1);
    ws_storage_mem_clear_faults(r->st);
    key_of(SEG1, key);
    obj = ws_storage_mem_peek(r->st, key, &len);
    bad = malloc(len);
    memcpy(bad, obj, len);
    bad[len / 2] ^= 0x40;
    ws_storage_mem_poke(r->st, key, bad, len, true);
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_INTEGRITY);
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_STANDBY, SYSID, dest), WS_FETCH_INTEGRITY);
    ck_assert_int_eq(access(dest, F_OK), -1);
    free(bad);
    ws_repo_close(r);
}
END_TEST

/* An object that does not decrypt with the configured key, or needs a key
 * when none is configured: integrity (200). */
START_TEST(fetch_wrong_key)
{
    ws_repo *r = mem_repo(false);
    const char *dest = dest_path();
    ws_key *other;
    pusher p;

    ck_assert_int_eq(ws_key_from_bytes("0123456789abcdef0123456789abcdef", 32, &r->key, &err), 0);
    pusher_init(&p, false);
    write_segment(SEG1, SYSID, 7);
    ck_assert_int_eq(push(r, &p, SEG1, false), 0);
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_OK);
    ck_assert_int_eq(ws_key_from_bytes("fedcba9876543210fedcba9876543210", 32, &other, &err), 0);
    ws_key_free(r->key);
    r->key = other;
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_STANDBY, SYSID, dest), WS_FETCH_INTEGRITY);
    ck_assert_int_eq(err.code, WS_ERR_KEY);
    ws_key_free(r->key);
    r->key = NULL;
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_INTEGRITY);
    ws_archive_push_ctx_destroy(&p.ctx);
    ws_repo_close(r);
}
END_TEST

/* Every error class from the storage, to the exit status of each mode. */
START_TEST(fetch_every_class)
{
    static const struct {
        ws_errcode code;
        int archive, standby;
    } rows[] = {
        {WS_ERR_NOTFOUND, 1, 1},     {WS_ERR_CORRUPT, 200, 200}, {WS_ERR_KEY, 200, 200},     {WS_ERR_FORMAT, 200, 200},
        {WS_ERR_CONFLICT, 200, 200}, {WS_ERR_TRANSIENT, 201, 1}, {WS_ERR_IO, 201, 1},        {WS_ERR_STORAGE, 201, 201},
        {WS_ERR_PERM, 201, 201},     {WS_ERR_CONFIG, 202, 202},  {WS_ERR_INVALID, 202, 202}, {WS_ERR_NOMEM, 202, 202},
        {WS_ERR_INTERNAL, 202, 202}, {WS_ERR_NOREPO, 202, 1},
    };
    ws_repo *r = archived_repo();
    const char *dest = dest_path();

    ck_assert_uint_eq(sizeof rows / sizeof rows[0], WS_ERR_NOREPO); /* every code but WS_OK */
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        /* Only the segment's object fails: the identity stays readable. */
        ws_storage_mem_fault f = {
            .op = WS_STORAGE_MEM_GET, .code = rows[i].code, .key = "wal/0000000100000000/000000010000000000000001.ws"};

        ws_storage_mem_add_fault(r->st, &f);
        ck_assert_msg(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest) == rows[i].archive, "%s in archive recovery",
                      ws_errcode_name(rows[i].code));
        ck_assert_msg(answer(r, SEG1, WS_RECOVERY_STANDBY, SYSID, dest) == rows[i].standby, "%s in standby mode",
                      ws_errcode_name(rows[i].code));
        ck_assert_int_eq(access(dest, F_OK), -1);
        ws_storage_mem_clear_faults(r->st);
    }
    /* The identity itself unreachable on the way to "not found": no answer
     * of 1 in archive recovery (201), the standby waits (1). */
    {
        ws_storage_mem_fault f = {.op = WS_STORAGE_MEM_GET, .code = WS_ERR_TRANSIENT, .key = WS_REPO_IDENTITY_KEY};

        ws_storage_mem_add_fault(r->st, &f);
        ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_UNREACHABLE);
        ck_assert_int_eq(idcache_remove(), 0); /* the standby reads the identity */
        ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_STANDBY, SYSID, dest), WS_FETCH_ABSENT);
        ck_assert_int_eq(err.code, WS_ERR_TRANSIENT);
    }
    ws_repo_close(r);
}
END_TEST

/* The identity's GETs on the way to "not found": a standby reads it once
 * and then trusts its cache while it is fresh; archive recovery, where
 * "not found" ends recovery, reads it every time. */
START_TEST(fetch_identity_cache)
{
    ws_repo *r = archived_repo();
    const char *dest = dest_path();
    ws_storage_mem_fault gone = {.op = WS_STORAGE_MEM_GET, .code = WS_ERR_NOTFOUND, .key = WS_REPO_IDENTITY_KEY};
    unsigned gets;

    ck_assert_int_eq(idcache_remove(), 0);
    gets = ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET);
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_STANDBY, SYSID, dest), WS_FETCH_ABSENT);
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets + 2); /* segment, identity */
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_STANDBY, SYSID, dest), WS_FETCH_ABSENT);
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets + 3); /* segment only */
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_ABSENT);
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets + 5);
    /* Another cluster's data directory does not trust this cache. */
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_STANDBY, OTHER, dest), WS_FETCH_LOCAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "wrong repository"));
    /* An old record is read again: the identity vanished meanwhile. */
    idcache_age(WS_IDCACHE_MAX_AGE + 1);
    ws_storage_mem_add_fault(r->st, &gone);
    ck_assert_int_eq(answer(r, ABSENT, WS_RECOVERY_STANDBY, SYSID, dest), WS_FETCH_ABSENT);
    ck_assert_int_eq(err.code, WS_ERR_NOREPO); /* the standby waits, warned */
    ws_repo_close(r);
}
END_TEST

/* --- the prefetch spool --------------------------------------------------- */

static ws_spool *spool_for(const char *repo_url, uint64_t sysid)
{
    char dir[400];
    ws_spool_identity id = {.sysid = sysid};
    ws_spool *sp;

    snprintf(id.repo, sizeof id.repo, "%s", repo_url);
    ck_assert_int_eq(ws_fetch_spool_dir_for(dest_path(), dir, sizeof dir, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_open(dir, true, &sp, &err), 1);
    ck_assert_int_eq(ws_fetch_spool_adopt(sp, &id, &err), 0);
    return sp;
}

static void spool_put(ws_spool *sp, const char *name, const char *from)
{
    char cmd[900];

    snprintf(cmd, sizeof cmd, "cp '%s' '%s/%s'", from, ws_fetch_spool_path(sp), name);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(fetch_spool)
{
    ws_repo *r = archived_repo();
    const char *dest = dest_path();
    char spooled[400];
    unsigned gets;
    ws_spool *sp;

    cfg.prefetch = 8;
    /* Hit: served from the spool with a rename, no request. */
    sp = spool_for(URL, SYSID);
    spool_put(sp, SEG1, path_of(SEG1));
    snprintf(spooled, sizeof spooled, "%s/%s", ws_fetch_spool_path(sp), SEG1);
    gets = ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET);
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_OK);
    ck_assert_uint_eq(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets);
    ck_assert(same_file(dest, path_of(SEG1)));
    ck_assert_int_eq(access(spooled, F_OK), -1);
    /* Miss: fetched directly. */
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_OK);
    ck_assert_uint_gt(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets);
    ck_assert(same_file(dest, path_of(SEG1)));
    /* Another cluster's file in our spool: refused, removed, fetched directly. */
    write_segment(SEG1, OTHER, 7);
    spool_put(sp, SEG1, path_of(SEG1));
    write_segment(SEG1, SYSID, 7); /* what the repository holds */
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_OK);
    ck_assert(same_file(dest, path_of(SEG1)));
    ck_assert_int_eq(access(spooled, F_OK), -1);
    ws_fetch_spool_close(sp);
    /* A spool of another owner (repository) is emptied before use. */
    sp = spool_for("mem://elsewhere", SYSID);
    spool_put(sp, SEG1, path_of(SEG1));
    gets = ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET);
    ck_assert_int_eq(answer(r, SEG1, WS_RECOVERY_ARCHIVE, SYSID, dest), WS_FETCH_OK);
    ck_assert_uint_gt(ws_storage_mem_calls(r->st, WS_STORAGE_MEM_GET), gets);
    ck_assert_int_eq(access(spooled, F_OK), -1);
    ws_fetch_spool_close(sp);
    ws_repo_close(r);
}
END_TEST

/* A prefetched segment of a generation that is no longer the spool's is
 * never published. */
START_TEST(spool_stale_generation)
{
    ws_spool *sp = spool_for(URL, SYSID);
    ws_spool_identity other = {.sysid = OTHER};
    ws_spool_state st;
    ws_wal_name w;
    char *part;
    uint64_t gen;
    int fd;

    ck_assert_int_eq(ws_fetch_spool_read_state(sp, &st, &err), 1);
    gen = st.generation;
    ck_assert_int_eq(ws_wal_name_parse(SEG1, &w, &err), 0);
    {
        ws_wal_name pos;

        ws_wal_name_from_segno(1, 0, MiB, &pos);
        ck_assert_int_eq(ws_fetch_spool_advance(sp, &st.id, &pos, MiB, 8, &err), 0);
    }
    /* Published with the current generation: yes. */
    ck_assert_int_eq(ws_fetch_spool_part_create(sp, SEG1, &fd, &part, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_publish(sp, part, &w, gen, &err), 1);
    close(fd);
    free(part);
    /* The spool changed owner meanwhile (a new generation): no. */
    snprintf(other.repo, sizeof other.repo, "%s", URL);
    ck_assert_int_eq(ws_fetch_spool_adopt(sp, &other, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_part_create(sp, SEG1, &fd, &part, &err), 0);
    ck_assert_int_eq(ws_fetch_spool_publish(sp, part, &w, gen, &err), 0);
    ck_assert_int_eq(access(part, F_OK), -1);
    close(fd);
    free(part);
    ws_fetch_spool_close(sp);
}
END_TEST

/* --- the in-memory driver itself ------------------------------------------- */

START_TEST(mem_faults_nth)
{
    ws_storage *st = ws_storage_mem_new("mem://x", false);
    ws_storage_mem_fault f = {.op = WS_STORAGE_MEM_HEAD, .nth = 2, .code = WS_ERR_TRANSIENT};
    ws_obj_info info;

    ws_storage_mem_add_fault(st, &f);
    ck_assert_int_eq(ws_storage_head(st, "a", &info, &err), 0);
    ck_assert_int_eq(ws_storage_head(st, "a", &info, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_TRANSIENT);
    ck_assert_int_eq(ws_storage_head(st, "a", &info, &err), 0);
    ck_assert_uint_eq(ws_storage_mem_calls(st, WS_STORAGE_MEM_HEAD), 3);
    ws_storage_close(st);
}
END_TEST

/* The in-memory driver keeps the contract of every driver. */
static ws_storage *mem_open(void *arg)
{
    ws_storage *st = ws_storage_mem_new("mem://conformance", arg != NULL);

    /* The one with locks also offers create-only commits: both kinds are tested. */
    if (st)
        ws_storage_mem_set_commit_new(st, arg != NULL);
    return st;
}

static Suite *decisions_suite(void)
{
    Suite *s = suite_create("decisions");
    TCase *push_tc = tcase_create("push"), *fetch_tc = tcase_create("fetch");
    static const ws_conformance_opts mem_opts = {.meta_roundtrip = true, .big_size = 4 * MiB};
    static int with_locks = 1;

    ws_conformance_add(s, "mem conformance", mem_open, NULL, NULL, &mem_opts);
    ws_conformance_add(s, "mem conformance, locks", mem_open, NULL, &with_locks, &mem_opts);

    tcase_add_checked_fixture(push_tc, setup, teardown);
    tcase_add_loop_test(push_tc, push_duplicates, 0, 2); /* without and with locks */
    tcase_add_test(push_tc, push_identity);
    tcase_add_test(push_tc, push_identity_cache);
    tcase_add_test(push_tc, push_commit_new);
    tcase_add_test(push_tc, push_faults);
    tcase_add_test(push_tc, push_precommit_leaves_nothing);
    tcase_add_test(push_tc, push_acks);
    tcase_add_test(push_tc, mem_faults_nth);
    suite_add_tcase(s, push_tc);
    tcase_add_checked_fixture(fetch_tc, setup, teardown);
    tcase_add_test(fetch_tc, fetch_answers);
    tcase_add_test(fetch_tc, fetch_no_identity);
    tcase_add_test(fetch_tc, fetch_missing_root);
    tcase_add_test(fetch_tc, fetch_integrity);
    tcase_add_test(fetch_tc, fetch_wrong_key);
    tcase_add_test(fetch_tc, fetch_every_class);
    tcase_add_test(fetch_tc, fetch_identity_cache);
    tcase_add_test(fetch_tc, fetch_spool);
    tcase_add_test(fetch_tc, spool_stale_generation);
    suite_add_tcase(s, fetch_tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(decisions_suite());
    int failed;

    unit_tmp_init("decisions");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
