/*
 * test_storage_file.c - the file:// driver: the conformance cases on a fresh
 * temporary directory, then what only a local directory has: atomic renames
 * seen by a concurrent reader, crash leftovers, directories, bad roots.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "storage_conformance.h"
#include "unit_tmp.h"
#include "walship/storage.h"

static const char *tmpbase(void)
{
    const char *t = getenv("TMPDIR");

    return t && *t ? t : "/tmp";
}

/* A fresh directory for one test; removed by rm_rf. */
static char *make_tmpdir(void)
{
    char *d;

    ck_assert(asprintf(&d, "%s/ws-storage-test-XXXXXX", tmpbase()) > 0);
    ck_assert_msg(mkdtemp(d) != NULL, "mkdtemp %s: %s", d, strerror(errno));
    return d;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static ws_storage *open_url(const char *url, ws_err *err)
{
    ws_config cfg;
    ws_storage *st = NULL;

    memset(&cfg, 0, sizeof cfg);
    cfg.repo = (char *) (uintptr_t) url;
    if (ws_storage_open(&cfg, &st, err) < 0)
        return NULL;
    return st;
}

static ws_storage *must_open(const char *dir)
{
    char *url;
    ws_err err;
    ws_storage *st;

    ck_assert(asprintf(&url, "file://%s", dir) > 0);
    st = open_url(url, &err);
    ck_assert_msg(st != NULL, "open %s: %s", url, err.msg);
    free(url);
    return st;
}

/* --- the conformance factory ------------------------------------------ */

typedef struct factory {
    char *dir; /* of the storage currently open (one per forked test) */
} factory;

static ws_storage *factory_open(void *arg)
{
    factory *f = arg;

    f->dir = make_tmpdir();
    return must_open(f->dir);
}

static void factory_close(ws_storage *st, void *arg)
{
    factory *f = arg;

    ws_storage_close(st);
    rm_rf(f->dir);
    free(f->dir);
    f->dir = NULL;
}

/* Runs before the tests (no ck_assert here): can this filesystem store xattrs? */
static bool xattrs_work(void)
{
    char dir[4096], file[4200];
    int fd;
    bool ok = false;

    snprintf(dir, sizeof dir, "%s/ws-storage-probe-XXXXXX", tmpbase());
    if (!mkdtemp(dir))
        return false;
    snprintf(file, sizeof file, "%s/x", dir);
    fd = open(file, O_WRONLY | O_CREAT, 0600);
    if (fd >= 0) {
        ok = fsetxattr(fd, "user.walship.probe", "1", 1, 0) == 0;
        close(fd);
        unlink(file);
    }
    rmdir(dir);
    return ok;
}

/* --- helpers ---------------------------------------------------------- */

static uint8_t byte_at(uint32_t seed, size_t i)
{
    return (uint8_t) ((i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

static void put_bytes(ws_storage *st, const char *key, size_t n, uint32_t seed)
{
    ws_err err;
    ws_put *p;
    uint8_t *buf = malloc(n ? n : 1);

    ck_assert_ptr_nonnull(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = byte_at(seed, i);
    ck_assert_msg(ws_storage_put_begin(st, key, n, &p, &err) == 0, "%s", err.msg);
    ck_assert_msg(ws_sink_write(ws_put_sink(p), buf, n, &err) == 0, "%s", err.msg);
    ck_assert_msg(ws_put_commit(p, NULL, &err) == 0, "%s", err.msg);
    ws_put_free(p);
    free(buf);
}

/* Returns the object's bytes (caller frees) or NULL when absent. */
static uint8_t *get_bytes(ws_storage *st, const char *key, size_t *len)
{
    ws_err err;
    ws_sink *m = ws_sink_mem_new();
    const uint8_t *d;
    uint8_t *copy = NULL;

    ck_assert_ptr_nonnull(m);
    if (ws_storage_get(st, key, 0, WS_TO_END, m, &err) < 0) {
        ck_assert_msg(err.code == WS_ERR_NOTFOUND, "get %s: %s", key, err.msg);
        ws_sink_free(m);
        return NULL;
    }
    d = ws_sink_mem_data(m, len);
    copy = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, d, *len);
    ws_sink_free(m);
    return copy;
}

static bool exists(const char *dir, const char *rel)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return lstat(path, &st) == 0;
}

/* Writes a file (a fake temp file) with the given age in seconds. */
static void make_file(const char *dir, const char *rel, time_t age)
{
    char path[4096];
    int fd;
    struct timespec ts[2];

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
    ck_assert_msg(fd >= 0, "create %s: %s", path, strerror(errno));
    ck_assert_int_eq(write(fd, "partial", 7), 7);
    close(fd);
    if (age) {
        ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
        ts[0].tv_nsec = ts[1].tv_nsec = 0;
        ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
    }
}

/* Counts names starting with '.' (temp files) in dir/rel. */
static int count_dotfiles(const char *dir, const char *rel)
{
    char path[4200];
    DIR *d;
    struct dirent *de;
    int n = 0;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    d = opendir(path);
    ck_assert_msg(d != NULL, "opendir %s: %s", path, strerror(errno));
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static pid_t dead_pid(void)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    ck_assert(kill(pid, 0) < 0 && errno == ESRCH);
    return pid;
}

typedef struct keylist {
    char keys[16][256];
    size_t n;
} keylist;

static int collect(const ws_list_entry *e, void *arg, ws_err *err)
{
    keylist *l = arg;

    if (l->n == 16)
        return ws_err_set(err, WS_ERR_INVALID, "too many entries");
    snprintf(l->keys[l->n++], 256, "%s%s", e->is_prefix ? "+" : "", e->key);
    return 0;
}

static void list_is(ws_storage *st, const char *prefix, const char *delim, const char *const *want)
{
    keylist l = {.n = 0};
    ws_err err;
    size_t n = 0;

    ck_assert_msg(ws_storage_list(st, prefix, delim, collect, &l, &err) == 0, "%s", err.msg);
    while (want[n])
        n++;
    for (size_t i = 0; i < l.n && i < n; i++)
        ck_assert_str_eq(l.keys[i], want[i]);
    ck_assert_uint_eq(l.n, n);
}

/* --- atomicity -------------------------------------------------------- */

#define SLOW_SIZE   (512 * 1024)
#define SLOW_PIECES 20

/* Child: writes seed's SLOW_SIZE bytes to key over about one second. */
static void slow_writer(ws_storage *st, const char *key, uint32_t seed)
{
    ws_err err;
    ws_put *p;
    static uint8_t buf[SLOW_SIZE];
    size_t piece = SLOW_SIZE / SLOW_PIECES, off = 0;

    for (size_t i = 0; i < SLOW_SIZE; i++)
        buf[i] = byte_at(seed, i);
    if (ws_storage_put_begin(st, key, SLOW_SIZE, &p, &err) < 0)
        _exit(2);
    while (off < SLOW_SIZE) {
        size_t n = SLOW_SIZE - off < piece ? SLOW_SIZE - off : piece;

        if (ws_sink_write(ws_put_sink(p), buf + off, n, &err) < 0)
            _exit(3);
        off += n;
        usleep(50 * 1000);
    }
    if (ws_put_commit(p, NULL, &err) < 0)
        _exit(4);
    ws_put_free(p);
    _exit(0);
}

/* 1: complete object of seed; 0: absent; fails the test on anything else. */
static int observe(ws_storage *st, const char *key, uint32_t seed, uint32_t other_seed, bool other_ok)
{
    ws_obj_info info;
    ws_err err;
    size_t len;
    uint8_t *d;
    int r, h = ws_storage_head(st, key, &info, &err);

    ck_assert_msg(h >= 0, "head: %s", err.msg);
    if (h == 1)
        ck_assert_msg(info.size == SLOW_SIZE, "head saw a partial object: %" PRIu64 " bytes", info.size);
    d = get_bytes(st, key, &len);
    if (!d) {
        ck_assert_msg(!other_ok, "object vanished while being replaced");
        return 0;
    }
    ck_assert_msg(len == SLOW_SIZE, "get saw a partial object: %zu bytes", len);
    /* Plain loops: a Check assertion per byte would be far too slow. */
    r = 1;
    for (size_t i = 0; i < len && r == 1; i++)
        if (d[i] != byte_at(seed, i))
            r = 2;
    if (r == 2) {
        size_t j = 0;

        ck_assert_msg(other_ok, "get saw wrong data");
        while (j < len && d[j] == byte_at(other_seed, j))
            j++;
        ck_assert_msg(j == len, "get saw a mixture of old and new at byte %zu", j);
    }
    free(d);
    return r;
}

static void run_slow(ws_storage *st, const char *key, uint32_t seed, uint32_t old_seed, bool has_old)
{
    pid_t pid = fork();
    int status, seen_before = 0, seen_done = 0, polls = 0;
    struct timespec t0, now;

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        slow_writer(st, key, seed);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Poll until the writer is done and the new object was seen (max 20 s). */
    for (;;) {
        int r = observe(st, key, seed, old_seed, has_old);
        pid_t w;

        polls++;
        if (r == 1)
            seen_done++;
        else
            seen_before++;
        if (seen_done)
            break;
        w = waitpid(pid, &status, WNOHANG);
        ck_assert_int_ge(w, 0);
        if (w == pid) {
            pid = 0;
            ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer failed: %d", status);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        ck_assert_msg(now.tv_sec - t0.tv_sec < 20, "the object never appeared");
        usleep(2000);
    }
    if (pid)
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer failed: %d", status);
    /* The write took ~1 s: the reader must have polled during it. */
    ck_assert_msg(seen_before >= 10, "only %d polls before the commit (%s)", seen_before,
                  has_old ? "replacing" : "creating");
    (void) polls;
}

START_TEST(atomic_slow_write)
{
    char *dir = make_tmpdir();
    ws_storage *st = must_open(dir);

    run_slow(st, "slow/obj", 1, 0, false); /* absent, then whole */
    run_slow(st, "slow/obj", 2, 1, true);  /* old whole, then new whole */
    ck_assert_int_eq(count_dotfiles(dir, "slow"), 0);
    ws_storage_close(st);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* --- crash leftovers -------------------------------------------------- */

START_TEST(crash_leftovers)
{
    char *dir = make_tmpdir();
    ws_storage *st = must_open(dir);
    char dead_tmp[128], live_tmp[128], old_tmp[128], other_tmp[128], path[4200];
    pid_t dead = dead_pid(), crasher;
    int status;
    ws_obj_info info;
    ws_err err;
    size_t len;

    put_bytes(st, "wal/keep", 10, 1);
    snprintf(dead_tmp, sizeof dead_tmp, "wal/.seg.tmp.%ld.0badc0de~", (long) dead);
    snprintf(live_tmp, sizeof live_tmp, "wal/.live.tmp.%ld.00000001~", (long) getpid());
    snprintf(old_tmp, sizeof old_tmp, "wal/.old.tmp.%ld.00000002~", (long) getpid());
    snprintf(other_tmp, sizeof other_tmp, "other/.x.tmp.%ld.00000003~", (long) dead);
    /* A writer that dies in the middle of a put. */
    crasher = fork();
    ck_assert_int_ge(crasher, 0);
    if (crasher == 0) {
        ws_put *p;

        if (ws_storage_put_begin(st, "wal/crashed", 100, &p, &err) < 0 ||
            ws_sink_write(ws_put_sink(p), "half", 4, &err) < 0)
            _exit(1);
        _exit(0); /* no commit, no free: as if killed */
    }
    ck_assert_int_eq(waitpid(crasher, &status, 0), crasher);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    make_file(dir, dead_tmp, 0);
    make_file(dir, live_tmp, 0);
    make_file(dir, old_tmp, 2 * 3600);
    snprintf(path, sizeof path, "%s/other", dir);
    ck_assert_int_eq(mkdir(path, 0750), 0);
    make_file(dir, other_tmp, 0);
    ck_assert_int_eq(count_dotfiles(dir, "wal"), 4);

    /* Leftovers are invisible. */
    {
        const char *const all[] = {"wal/keep", NULL};
        const char *const top[] = {"+wal/", NULL};
        list_is(st, "", NULL, all);
        list_is(st, "", "/", top); /* other/ holds no key */
        list_is(st, "wal/.", NULL, (const char *const[]){NULL});
    }
    ck_assert_int_eq(ws_storage_head(st, "wal/crashed", &info, &err), 0);
    ck_assert_ptr_null(get_bytes(st, "wal/crashed", &len));
    ck_assert_ptr_null(get_bytes(st, "wal/seg", &len));

    /* The next put into wal/ removes the dead writers' and the old temps. */
    put_bytes(st, "wal/next", 10, 2);
    ck_assert(!exists(dir, dead_tmp));
    ck_assert(!exists(dir, old_tmp));
    ck_assert(exists(dir, live_tmp));
    ck_assert(exists(dir, other_tmp)); /* another directory: untouched */
    ck_assert_int_eq(count_dotfiles(dir, "wal"), 1);
    {
        const char *const all[] = {"wal/keep", "wal/next", NULL};
        list_is(st, "", NULL, all);
    }
    ws_storage_close(st);
    rm_rf(dir);
    free(dir);
}
END_TEST

static int token_to_fd(void *arg, const char *token, ws_err *err)
{
    int fd = *(int *) arg;

    (void) err;
    return write(fd, token, strlen(token)) == (ssize_t) strlen(token) ? 0 : -1;
}

START_TEST(abandon_after_crash)
{
    /* A writer killed in a folder no later put visits: its recorded temp file
     * is removed by ws_storage_abandon, with the folders it made. */
    char *dir = make_tmpdir();
    ws_storage *st = must_open(dir);
    char token[512] = "", rel[700], path[4200];
    int fds[2], status;
    pid_t crasher;
    ssize_t n;
    ws_err err;

    ck_assert_int_eq(pipe(fds), 0);
    crasher = fork();
    ck_assert_int_ge(crasher, 0);
    if (crasher == 0) {
        ws_put *p;

        close(fds[0]);
        if (ws_storage_put_begin(st, "backup/one/obj.ws", 100, &p, &err) < 0 ||
            ws_put_track(p, token_to_fd, &fds[1], &err) < 0 || ws_sink_write(ws_put_sink(p), "half", 4, &err) < 0)
            _exit(1);
        _exit(0); /* no commit, no free: as if killed */
    }
    close(fds[1]);
    n = read(fds[0], token, sizeof token - 1);
    close(fds[0]);
    ck_assert_int_eq(waitpid(crasher, &status, 0), crasher);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_gt(n, 0);
    token[n] = '\0';
    ck_assert_msg(strncmp(token, ".obj.ws.tmp.", 12) == 0, "token %s", token);
    snprintf(rel, sizeof rel, "backup/one/%s", token);
    ck_assert(exists(dir, rel));

    /* Only the key's own temp files are accepted. */
    ck_assert_int_eq(ws_storage_abandon(st, "backup/one/other.ws", token, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ck_assert_int_eq(ws_storage_abandon(st, "backup/one/obj.ws", "obj.ws", &err), -1);
    ck_assert_int_eq(ws_storage_abandon(st, "backup/one/obj.ws", "../../x", &err), -1);
    ck_assert(exists(dir, rel));

    /* Without the token: the dead writer's temp files of that key only. */
    {
        char other[128], live[128];

        snprintf(other, sizeof other, "backup/one/.other.ws.tmp.%ld.00000001~", (long) dead_pid());
        snprintf(live, sizeof live, "backup/one/.obj.ws.tmp.%ld.00000002~", (long) getpid());
        make_file(dir, other, 0);
        make_file(dir, live, 0);
        ck_assert_msg(ws_storage_abandon(st, "backup/one/obj.ws", NULL, &err) == 0, "%s", err.msg);
        ck_assert(!exists(dir, rel));
        ck_assert(exists(dir, other)); /* another key's */
        ck_assert(exists(dir, live));  /* a live writer's */
        snprintf(path, sizeof path, "%s/%s", dir, other);
        ck_assert_int_eq(unlink(path), 0);
        snprintf(path, sizeof path, "%s/%s", dir, live);
        ck_assert_int_eq(unlink(path), 0);
    }
    /* Again with the token: already gone is fine. */
    ck_assert_msg(ws_storage_abandon(st, "backup/one/obj.ws", token, &err) == 0, "%s", err.msg);
    ck_assert(!exists(dir, rel));
    snprintf(path, sizeof path, "%s/backup", dir);
    ck_assert_msg(access(path, F_OK) < 0 && errno == ENOENT, "empty folders are removed");
    ck_assert_msg(ws_storage_abandon(st, "backup/one/obj.ws", token, &err) == 0, "%s", err.msg);
    ws_storage_close(st);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* --- roots ------------------------------------------------------------ */

static void open_fails(const char *url, ws_errcode code, const char *must1, const char *must2)
{
    ws_err err;
    ws_storage *st = open_url(url, &err);

    ck_assert_msg(st == NULL, "opening '%s' succeeded", url ? url : "(null)");
    ck_assert_msg(err.code == code, "open '%s': code %s, want %s (%s)", url ? url : "(null)", ws_errcode_name(err.code),
                  ws_errcode_name(code), err.msg);
    ck_assert_msg(strstr(err.msg, must1), "'%s' not in: %s", must1, err.msg);
    if (must2)
        ck_assert_msg(strstr(err.msg, must2), "'%s' not in: %s", must2, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
}

/* The registry's check of the `repo` setting: each driver decides on its
 * own URLs; config reports a rejected one like any bad value. */
static const struct {
    const char *url;
    bool ok;
} urls[] = {
    {"file:///tmp/r", true},
    {"file:///", true},
    {"s3://bucket", true},
    {"s3://my.bucket-1/some/prefix", true},
    {"s3://abc/", true},
    {"s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},
    {"", true},
    {"s3://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
    {"file://relative/x", false},
    {"file:relative", false},
    {"file://", false},
    {"/tmp/r", false},
    {"s3://ab", false},
    {"s3://Bucket", false},
    {"s3://-abc", false},
    {"s3://abc-", false},
    {"s3://bu_cket/x", false},
    {"s3://", false},
    {"http://bucket", false},
};

START_TEST(url_check)
{
    ws_config cfg;
    ws_err err;
    const char *expected;
    char want[300];

    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        ck_assert_int_eq(ws_config_defaults(&cfg, &err), 0);
        cfg.repo = *urls[i].url ? strdup(urls[i].url) : NULL;
        ck_assert_msg((ws_config_check(&cfg, WS_CFG_REPO, ws_storage_url_valid, &err) == 0) == urls[i].ok, "%s: %s",
                      urls[i].url, err.msg);
        if (!urls[i].ok) {
            snprintf(want, sizeof want, "invalid value \"%s\" for repo (from default): expected ", urls[i].url);
            ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
            ck_assert_int_eq(err.code, WS_ERR_CONFIG);
        }
        ck_assert(ws_storage_url_valid(urls[i].url, &expected) == urls[i].ok || !*urls[i].url);
        ck_assert_ptr_nonnull(expected);
        ws_config_free(&cfg);
    }
    /* Each driver says what it wants. */
    ck_assert(!ws_storage_url_valid("s3://Bucket", &expected));
    ck_assert_ptr_nonnull(strstr(expected, "bucket name"));
    ck_assert(!ws_storage_url_valid("file://rel", &expected));
    ck_assert_ptr_nonnull(strstr(expected, "absolute path"));
    ck_assert(!ws_storage_url_valid("ftp://x", &expected));
    ck_assert_ptr_nonnull(strstr(expected, "file:///absolute/path or s3://"));
    /* Global set-up: nothing for file://, a no-op without a URL. */
    ck_assert_int_eq(ws_storage_global_init("file:///x", &err), 0);
    ck_assert_int_eq(ws_storage_global_init(NULL, &err), 0);
}
END_TEST

START_TEST(bad_roots)
{
    char *dir = make_tmpdir(), *file, *url;
    ws_err err;
    ws_storage *st;
    size_t len;
    uint8_t *d;

    open_fails(NULL, WS_ERR_CONFIG, "'repo'", "not set");
    open_fails("", WS_ERR_CONFIG, "'repo'", "not set");
    open_fails("ftp://host/x", WS_ERR_CONFIG, "'ftp'", "ftp://host/x");
    open_fails("/var/lib/walship", WS_ERR_CONFIG, "/var/lib/walship", "not a URL");
    open_fails("file://relative/dir", WS_ERR_CONFIG, "file://relative/dir", "absolute");
    open_fails("file:relative", WS_ERR_CONFIG, "file:relative", "not a URL");

    /* A root below a regular file, and a root that is one. */
    ck_assert(asprintf(&file, "%s/plain", dir) > 0);
    make_file(dir, "plain", 0);
    ck_assert(asprintf(&url, "file://%s/sub/repo", file) > 0);
    open_fails(url, WS_ERR_IO, file, strerror(ENOTDIR));
    free(url);
    ck_assert(asprintf(&url, "file://%s", file) > 0);
    open_fails(url, WS_ERR_IO, file, strerror(ENOTDIR));
    free(url);

    /* A missing root is never created (a typo, or a file system not
     * mounted): a "no repository" error naming it, and nothing made. */
    ck_assert(asprintf(&url, "file://%s/new/deeper/", dir) > 0);
    open_fails(url, WS_ERR_NOREPO, "/new/deeper", "does not exist");
    ck_assert(!exists(dir, "new"));
    /* An existing empty directory is a new repository, trailing '/' or not. */
    free(file);
    ck_assert(asprintf(&file, "%s/new", dir) > 0);
    ck_assert_int_eq(mkdir(file, 0750), 0);
    free(file);
    ck_assert(asprintf(&file, "%s/new/deeper", dir) > 0);
    ck_assert_int_eq(mkdir(file, 0750), 0);
    st = open_url(url, &err);
    ck_assert_msg(st != NULL, "%s", err.msg);
    put_bytes(st, "x", 3, 1);
    ck_assert(exists(dir, "new/deeper/x"));
    d = get_bytes(st, "x", &len);
    ck_assert_uint_eq(len, 3);
    free(d);
    /* Errors name the repository and the key. */
    ck_assert_int_eq(ws_storage_get(st, "nope", 0, WS_TO_END, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, url) && strstr(err.msg, "nope"), "%s", err.msg);
    ws_storage_close(st);
    free(url);
    free(file);
    rm_rf(dir);
    free(dir);
}
END_TEST

/*
 * As an unprivileged user (root drops to nobody in a child): a missing root
 * and an unwritable one give clear errors; reading still works.
 */
START_TEST(unwritable_root)
{
    char *dir = make_tmpdir(), ro[4200], path[4300], msg[2048] = {0};
    int pfd[2], status;
    pid_t pid;
    ssize_t n;

    snprintf(ro, sizeof ro, "%s/ro", dir);
    ck_assert_int_eq(mkdir(ro, 0755), 0);
    {
        ws_storage *st = must_open(ro);
        put_bytes(st, "k", 5, 1);
        ws_storage_close(st);
    }
    snprintf(path, sizeof path, "%s/k", ro);
    ck_assert_int_eq(chmod(path, 0644), 0);
    ck_assert_int_eq(chmod(dir, 0755), 0);
    ck_assert_int_eq(chmod(ro, 0555), 0);
    ck_assert_int_eq(pipe(pfd), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        ws_err err;
        ws_storage *st;
        ws_put *p;
        char url[4300];
        size_t len;
        uint8_t *d;
        int rc = 0;

        close(pfd[0]);
        if (geteuid() == 0 && (setgid(65534) < 0 || setuid(65534) < 0))
            _exit(10);
        snprintf(url, sizeof url, "file://%s/sub", ro);
        st = open_url(url, &err);
        if (st || err.code != WS_ERR_NOREPO || !strstr(err.msg, "does not exist") || !strstr(err.msg, ro))
            rc = 11;
        else
            dprintf(pfd[1], "%s\n", err.msg);
        snprintf(url, sizeof url, "file://%s", ro);
        st = open_url(url, &err);
        if (!st)
            _exit(12);
        if (ws_storage_put_begin(st, "a/b", 0, &p, &err) == 0 || !strstr(err.msg, strerror(EACCES)))
            rc = rc ? rc : 13;
        else
            dprintf(pfd[1], "%s\n", err.msg);
        if (ws_storage_put_begin(st, "k", 0, &p, &err) == 0 || !strstr(err.msg, strerror(EACCES)))
            rc = rc ? rc : 14;
        d = get_bytes(st, "k", &len);
        if (!d || len != 5)
            rc = rc ? rc : 15;
        free(d);
        ws_storage_close(st);
        _exit(rc);
    }
    close(pfd[1]);
    /* Read to EOF: closing early would kill the child with SIGPIPE. */
    for (size_t got = 0; (n = read(pfd[0], msg + got, sizeof msg - 1 - got)) > 0;)
        got += (size_t) n;
    close(pfd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "unprivileged child failed with status %#x; messages: %s", (unsigned) status, msg);
    chmod(ro, 0755);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* --- directories ------------------------------------------------------ */

START_TEST(nested_keys)
{
    char *dir = make_tmpdir(), path[4200];
    ws_storage *st = must_open(dir);
    struct stat sb;
    mode_t um = umask(0);
    ws_err err;
    ws_put *p;
    ws_meta m = {0};
    char val[64];
    ssize_t vl;
    char longseg[300];

    umask(um);
    ck_assert_int_eq(ws_meta_set(&m, "sha256", "abc", &err), 0);
    ck_assert_int_eq(ws_storage_put_begin(st, "a/b/c/d", 3, &p, &err), 0);
    ck_assert_int_eq(ws_sink_write(ws_put_sink(p), "xyz", 3, &err), 0);
    ck_assert_int_eq(ws_put_commit(p, &m, &err), 0);
    ws_put_free(p);
    snprintf(path, sizeof path, "%s/a/b/c/d", dir);
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert(S_ISREG(sb.st_mode));
    ck_assert_uint_eq(sb.st_mode & 0777, 0640 & ~um);
    ck_assert_int_eq(sb.st_size, 3);
    vl = getxattr(path, "user.walship.sha256", val, sizeof val);
    ck_assert(vl == 3 || (vl < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP)));
    if (vl == 3)
        ck_assert(memcmp(val, "abc", 3) == 0);
    ck_assert_int_eq(count_dotfiles(dir, "a/b/c"), 0);

    /* Segments longer than a file name may be are refused clearly. */
    memset(longseg, 's', 299);
    longseg[299] = '\0';
    ck_assert_int_eq(ws_storage_put_begin(st, longseg, 0, &p, &err), -1);
    ck_assert_msg(strstr(err.msg, "file name limit"), "%s", err.msg);

    /* A key where a directory is expected, and the reverse, are clear errors. */
    ck_assert_int_eq(ws_storage_put_begin(st, "a/b/c/d/e", 0, &p, &err), -1);
    ck_assert_msg(strstr(err.msg, "a/b/c/d"), "%s", err.msg);
    ck_assert_int_eq(ws_storage_put_begin(st, "a/b", 0, &p, &err), 0);
    ck_assert_int_eq(ws_put_commit(p, NULL, &err), -1);
    ck_assert_msg(strstr(err.msg, "a/b") && strstr(err.msg, "rename"), "%s", err.msg);
    ws_put_free(p);
    ck_assert_int_eq(count_dotfiles(dir, "a"), 0);
    ws_storage_close(st);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(remove_cleans_dirs)
{
    char *dir = make_tmpdir();
    ws_storage *st = must_open(dir);
    ws_err err;
    ws_put *p;
    const char *k1 = "x/y/z1", *k2 = "x/y2/z";

    put_bytes(st, k1, 1, 1);
    put_bytes(st, k2, 1, 1);
    ck_assert_int_eq(ws_storage_remove(st, &k1, 1, &err), 0);
    ck_assert(!exists(dir, "x/y"));
    ck_assert(exists(dir, "x/y2/z"));
    ck_assert_int_eq(ws_storage_remove(st, &k2, 1, &err), 0);
    ck_assert(!exists(dir, "x"));
    ck_assert(exists(dir, ""));
    /* An aborted put into new directories leaves none behind. */
    ck_assert_int_eq(ws_storage_put_begin(st, "q/r/s", 0, &p, &err), 0);
    ck_assert(exists(dir, "q/r"));
    ws_put_free(p);
    ck_assert(!exists(dir, "q"));
    ws_storage_close(st);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(strangers_ignored)
{
    char *dir = make_tmpdir(), path[4200];
    ws_storage *st = must_open(dir);
    ws_obj_info info;
    ws_err err;
    size_t len;

    put_bytes(st, "k", 1, 1);
    snprintf(path, sizeof path, "%s/lost+found", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    make_file(dir, "lost+found/junk", 0);
    make_file(dir, "with space", 0);
    snprintf(path, sizeof path, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    snprintf(path, sizeof path, "%s/emptydir", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    /* Directories holding only directories and temp files hold no key. */
    snprintf(path, sizeof path, "%s/emptydir/sub", dir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    make_file(dir, "emptydir/sub/.k.tmp.1.00000000~", 0);
    {
        const char *const all[] = {"k", NULL};
        list_is(st, "", NULL, all);
        list_is(st, "", "/", all);
    }
    ck_assert_int_eq(ws_storage_head(st, "fifo", &info, &err), 0);
    ck_assert_ptr_null(get_bytes(st, "fifo", &len));
    ck_assert_int_eq(ws_storage_head(st, "emptydir", &info, &err), 0);
    ws_storage_close(st);
    rm_rf(dir);
    free(dir);
}
END_TEST

/* --- metadata and keys (storage.c, meta.c) ---------------------------- */

START_TEST(meta_rules)
{
    ws_meta m = {0};
    ws_err err;
    char longv[200];

    ck_assert_int_eq(ws_meta_set(&m, "sha256", "00ff", &err), 0);
    ck_assert_int_eq(ws_meta_set(&m, "sha256", "11ee", &err), 0); /* replaces */
    ck_assert_uint_eq(m.n, 1);
    ck_assert_str_eq(ws_meta_get(&m, "sha256"), "11ee");
    ck_assert_ptr_null(ws_meta_get(&m, "size"));
    ck_assert_int_eq(ws_meta_set(&m, "empty", "", &err), 0);
    ck_assert_str_eq(ws_meta_get(&m, "empty"), "");
    ck_assert_int_eq(ws_meta_set(&m, "Upper", "x", &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ck_assert_int_eq(ws_meta_set(&m, "", "x", &err), -1);
    ck_assert_int_eq(ws_meta_set(&m, "a_b", "x", &err), -1);
    ck_assert_int_eq(ws_meta_set(&m, "abcdefghijabcdefghijabcdefghijab", "x", &err), -1);
    ck_assert_int_eq(ws_meta_set(&m, "abcdefghijabcdefghijabcdefghija", "x", &err), 0);
    ck_assert_int_eq(ws_meta_set(&m, "v", "tab\there", &err), -1);
    ck_assert_int_eq(ws_meta_set(&m, "v", " lead", &err), -1);
    ck_assert_int_eq(ws_meta_set(&m, "v", "trail ", &err), -1);
    ck_assert_int_eq(ws_meta_set(&m, "v", "caf\xc3\xa9", &err), -1);
    memset(longv, 'v', sizeof longv);
    longv[WS_META_VALUE_MAX] = '\0';
    ck_assert_int_eq(ws_meta_set(&m, "v", longv, &err), -1);
    longv[WS_META_VALUE_MAX - 1] = '\0';
    ck_assert_int_eq(ws_meta_set(&m, "v", longv, &err), 0);
    ck_assert_uint_eq(m.n, 4);
    for (int i = 0; m.n < WS_META_MAX; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%d", i);
        ck_assert_int_eq(ws_meta_set(&m, name, "1", &err), 0);
    }
    ck_assert_int_eq(ws_meta_set(&m, "onemore", "1", &err), -1);
    ck_assert_msg(strstr(err.msg, "onemore"), "%s", err.msg);
    ck_assert_int_eq(ws_meta_check(&m, &err), 0);
    strcpy(m.e[1].name, m.e[0].name);
    ck_assert_int_eq(ws_meta_check(&m, &err), -1);
}
END_TEST

static factory file_factory;

static Suite *storage_file_suite(void)
{
    Suite *s = suite_create("storage_file");
    TCase *tc = tcase_create("file");
    ws_conformance_opts opts = {.meta_roundtrip = xattrs_work()};

    ws_conformance_add(s, "conformance", factory_open, factory_close, &file_factory, &opts);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, atomic_slow_write);
    tcase_add_test(tc, crash_leftovers);
    tcase_add_test(tc, abandon_after_crash);
    tcase_add_test(tc, url_check);
    tcase_add_test(tc, bad_roots);
    tcase_add_test(tc, unwritable_root);
    tcase_add_test(tc, nested_keys);
    tcase_add_test(tc, remove_cleans_dirs);
    tcase_add_test(tc, strangers_ignored);
    tcase_add_test(tc, meta_rules);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(storage_file_suite());
    int failed;

    unit_tmp_init("storage_file");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
