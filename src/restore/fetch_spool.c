/* fetch_spool.c - the prefetch spool directory (see fetch_spool.h). */
#include "walship/fetch_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "walship/file_out.h"
#include "walship/key.h"
#include "walship/kvrec.h"
#include "walship/localfile.h"
#include "walship/lockfile.h"

#define STATE_FILE      "state"
#define WANT_FILE       "want"
#define LOCK_FILE       "lock"
#define PREFETCHER_FILE "prefetcher"
#define STATE_MAGIC     "walship-spool-state"
#define WANT_MAGIC      "walship-spool-want"
#define FORMAT_VERSION  2
#define PART_INFIX      ".part-"
#define SMALL_FILE_MAX  8192
#define LOCK_TIMEOUT    30.0 /* seconds; holders keep the lock for milliseconds */

struct ws_spool {
    char *path;
};

/* --- text forms (kvrec.h) ---------------------------------------------- */

enum { ST_GENERATION, ST_SYSID, ST_KEY, ST_ENDPOINT, ST_REPO, ST_N };
static const char *const state_keys[ST_N] = {"generation", "sysid", "key", "endpoint", "repo"};
enum { WT_TLI, WT_POS, WT_SEG_SIZE, WT_CAP, WT_DEPTH, WT_N };
static const char *const want_keys[WT_N] = {"tli", "pos", "seg_size", "cap", "depth"};

int ws_fetch_spool_state_format(const ws_spool_state *s, ws_buf *out, ws_err *err)
{
    const ws_spool_identity *id = &s->id;

    if (id->repo[0] == '\0')
        return ws_err_set(err, WS_ERR_INVALID, "spool state: no repository");
    if (ws_kvrec_begin(out, STATE_MAGIC, FORMAT_VERSION, err) < 0 ||
        ws_kvrec_add_u64(out, state_keys[ST_GENERATION], s->generation, err) < 0 ||
        ws_kvrec_add_u64(out, state_keys[ST_SYSID], id->sysid, err) < 0 ||
        ws_kvrec_add(out, state_keys[ST_KEY], id->key_id, err) < 0 ||
        ws_kvrec_add(out, state_keys[ST_ENDPOINT], id->endpoint, err) < 0 ||
        ws_kvrec_add(out, state_keys[ST_REPO], id->repo, err) < 0 || ws_kvrec_end(out, false, err) < 0)
        return ws_err_prefix(err, "spool state");
    return 0;
}

int ws_fetch_spool_state_parse(const char *buf, size_t len, const char *what, ws_spool_state *out, ws_err *err)
{
    ws_kvrec r;

    memset(out, 0, sizeof *out);
    if (ws_kvrec_parse(buf, len, STATE_MAGIC, FORMAT_VERSION, state_keys, ST_N, false, what, &r, err) < 0 ||
        ws_kvrec_u64(&r, ST_GENERATION, UINT64_MAX, &out->generation, err) < 0 ||
        ws_kvrec_u64(&r, ST_SYSID, UINT64_MAX, &out->id.sysid, err) < 0 ||
        ws_kvrec_text(&r, ST_KEY, out->id.key_id, sizeof out->id.key_id, err) < 0 ||
        ws_kvrec_text(&r, ST_ENDPOINT, out->id.endpoint, sizeof out->id.endpoint, err) < 0 ||
        ws_kvrec_text(&r, ST_REPO, out->id.repo, sizeof out->id.repo, err) < 0)
        return -1;
    if (out->id.repo[0] == '\0')
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: no repository", what);
    return 0;
}

int ws_fetch_spool_want_format(const ws_spool_want *w, ws_buf *out, ws_err *err)
{
    char cap[24] = "";

    if (w->cap != WS_SPOOL_NO_CAP)
        snprintf(cap, sizeof cap, "%" PRIu64, w->cap);
    if (ws_kvrec_begin(out, WANT_MAGIC, FORMAT_VERSION, err) < 0 ||
        ws_kvrec_add_u64(out, want_keys[WT_TLI], w->tli, err) < 0 ||
        ws_kvrec_add_u64(out, want_keys[WT_POS], w->pos, err) < 0 ||
        ws_kvrec_add_u64(out, want_keys[WT_SEG_SIZE], w->seg_size, err) < 0 ||
        ws_kvrec_add(out, want_keys[WT_CAP], cap, err) < 0 ||
        ws_kvrec_add_u64(out, want_keys[WT_DEPTH], w->depth, err) < 0 || ws_kvrec_end(out, false, err) < 0)
        return ws_err_prefix(err, "spool want");
    return 0;
}

int ws_fetch_spool_want_parse(const char *buf, size_t len, const char *what, ws_spool_want *out, ws_err *err)
{
    uint64_t tli, seg_size, depth;
    ws_kvrec r;

    memset(out, 0, sizeof *out);
    if (ws_kvrec_parse(buf, len, WANT_MAGIC, FORMAT_VERSION, want_keys, WT_N, false, what, &r, err) < 0 ||
        ws_kvrec_u64(&r, WT_TLI, UINT32_MAX, &tli, err) < 0 ||
        ws_kvrec_u64(&r, WT_POS, UINT64_MAX - 1, &out->pos, err) < 0 ||
        ws_kvrec_u64(&r, WT_SEG_SIZE, WS_WAL_SEG_SIZE_MAX, &seg_size, err) < 0 ||
        ws_kvrec_u64(&r, WT_DEPTH, 1024, &depth, err) < 0)
        return -1;
    if (ws_kvrec_empty(&r, WT_CAP))
        out->cap = WS_SPOOL_NO_CAP;
    else if (ws_kvrec_u64(&r, WT_CAP, UINT64_MAX - 1, &out->cap, err) < 0)
        return -1;
    if (tli == 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: bad tli", what);
    if (!ws_wal_name_seg_size_valid(seg_size))
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: bad seg_size", what);
    out->tli = (uint32_t) tli;
    out->seg_size = (uint32_t) seg_size;
    out->depth = (unsigned) depth;
    return 0;
}

bool ws_fetch_spool_identity_equal(const ws_spool_identity *a, const ws_spool_identity *b)
{
    return a->sysid == b->sysid && strcmp(a->repo, b->repo) == 0 && strcmp(a->endpoint, b->endpoint) == 0 &&
           strcmp(a->key_id, b->key_id) == 0;
}

bool ws_fetch_spool_identity_make(const char *repo, const char *endpoint, const ws_key *key, uint64_t sysid,
                                  ws_spool_identity *out)
{
    int n = snprintf(out->repo, sizeof out->repo, "%s", repo);

    if (n < 0 || (size_t) n >= sizeof out->repo)
        return false;
    n = snprintf(out->endpoint, sizeof out->endpoint, "%s", endpoint ? endpoint : "");
    if (n < 0 || (size_t) n >= sizeof out->endpoint)
        return false;
    out->key_id[0] = '\0';
    if (key)
        ws_key_id_hex(ws_key_id(key), out->key_id);
    out->sysid = sysid;
    return true;
}

bool ws_fetch_spool_want_equal(const ws_spool_want *a, const ws_spool_want *b)
{
    return a->tli == b->tli && a->pos == b->pos && a->seg_size == b->seg_size && a->cap == b->cap &&
           a->depth == b->depth;
}

bool ws_fetch_spool_wants_segno(const ws_spool_want *w, uint32_t tli, uint64_t segno)
{
    return tli == w->tli && segno > w->pos && segno - w->pos <= w->depth && segno < w->cap;
}

bool ws_fetch_spool_wants(const ws_spool_want *w, const ws_wal_name *seg)
{
    uint64_t segno;
    ws_err err;

    if (seg->kind != WS_WAL_SEGMENT || ws_wal_name_segno(seg, w->seg_size, &segno, &err) < 0)
        return false;
    return ws_fetch_spool_wants_segno(w, seg->tli, segno);
}

ws_spool_entry_kind ws_fetch_spool_classify(const char *entry, ws_wal_name *seg, pid_t *pid)
{
    static const char *const control[] = {LOCK_FILE, STATE_FILE, WANT_FILE, PREFETCHER_FILE};
    char head[WS_WAL_SEG_NAME_LEN + 1];
    ws_wal_name w;
    ws_err err;
    size_t len = strlen(entry);

    for (size_t i = 0; i < sizeof control / sizeof control[0]; i++)
        if (strcmp(entry, control[i]) == 0)
            return WS_SPOOL_ENT_CONTROL;
    /* state and want being replaced (localfile.h) */
    if (ws_localfile_is_tmp_name(entry) && (strncmp(entry, "." STATE_FILE ".", strlen(STATE_FILE) + 2) == 0 ||
                                            strncmp(entry, "." WANT_FILE ".", strlen(WANT_FILE) + 2) == 0))
        return WS_SPOOL_ENT_CONTROL;
    if (len < WS_WAL_SEG_NAME_LEN)
        return WS_SPOOL_ENT_OTHER;
    memcpy(head, entry, WS_WAL_SEG_NAME_LEN);
    head[WS_WAL_SEG_NAME_LEN] = '\0';
    if (!ws_wal_name_is_segment(head) || ws_wal_name_parse(head, &w, &err) < 0)
        return WS_SPOOL_ENT_OTHER;
    if (len == WS_WAL_SEG_NAME_LEN) {
        if (seg)
            *seg = w;
        return WS_SPOOL_ENT_SEGMENT;
    }
    if (strncmp(entry + WS_WAL_SEG_NAME_LEN, PART_INFIX, strlen(PART_INFIX)) == 0) {
        const char *d = entry + WS_WAL_SEG_NAME_LEN + strlen(PART_INFIX);
        size_t nd = strlen(d);
        long v = 0;

        if (nd == 0 || nd > 9 || d[0] == '0' || strspn(d, "0123456789") != nd)
            return WS_SPOOL_ENT_OTHER;
        v = strtol(d, NULL, 10);
        if (seg)
            *seg = w;
        if (pid)
            *pid = (pid_t) v;
        return WS_SPOOL_ENT_PART;
    }
    return WS_SPOOL_ENT_OTHER;
}

/* --- the directory ---------------------------------------------------- */

int ws_fetch_spool_dir_for(const char *dest, char *out, size_t len, ws_err *err)
{
    char *dup = strdup(dest), *dir;
    char cwd[PATH_MAX];
    int n;

    if (!dup)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    dir = dirname(dup);
    if (dir[0] == '/') {
        n = snprintf(out, len, "%s/%s", dir, WS_SPOOL_DIR_NAME);
    } else {
        if (!getcwd(cwd, sizeof cwd)) {
            free(dup);
            return ws_err_sys(err, errno, "could not get the working directory");
        }
        if (strcmp(dir, ".") == 0)
            n = snprintf(out, len, "%s/%s", cwd, WS_SPOOL_DIR_NAME);
        else
            n = snprintf(out, len, "%s/%s/%s", cwd, dir, WS_SPOOL_DIR_NAME);
    }
    free(dup);
    if (n < 0 || (size_t) n >= len)
        return ws_err_set(err, WS_ERR_INVALID, "spool directory path too long for \"%s\"", dest);
    return 0;
}

static int check_dir(const char *dir, ws_err *err)
{
    struct stat st;

    if (lstat(dir, &st) < 0)
        return ws_err_sys(err, errno, "prefetch spool \"%s\"", dir);
    if (!S_ISDIR(st.st_mode))
        return ws_err_set(err, WS_ERR_INVALID, "prefetch spool \"%s\" is not a directory", dir);
    if (st.st_uid != geteuid())
        return ws_err_set(err, WS_ERR_INVALID, "prefetch spool \"%s\" belongs to another user (uid %u)", dir,
                          (unsigned) st.st_uid);
    if (st.st_mode & 077)
        return ws_err_set(err, WS_ERR_INVALID, "prefetch spool \"%s\" is accessible to other users (mode %04o)", dir,
                          (unsigned) (st.st_mode & 07777));
    return 0;
}

int ws_fetch_spool_open(const char *dir, bool create, ws_spool **out, ws_err *err)
{
    ws_spool *sp;

    *out = NULL;
    if (access(dir, F_OK) < 0 && errno == ENOENT) {
        if (!create)
            return 0;
        if (mkdir(dir, 0700) < 0 && errno != EEXIST)
            return ws_err_sys(err, errno, "could not create prefetch spool \"%s\"", dir);
    }
    if (check_dir(dir, err) < 0)
        return -1;
    sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->path = strdup(dir))) {
        free(sp);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    *out = sp;
    return 1;
}

void ws_fetch_spool_close(ws_spool *sp)
{
    if (!sp)
        return;
    free(sp->path);
    free(sp);
}

const char *ws_fetch_spool_path(const ws_spool *sp)
{
    return sp->path;
}

static int path_in(const ws_spool *sp, const char *name, char *out, size_t len, ws_err *err)
{
    int n = snprintf(out, len, "%s/%s", sp->path, name);

    if (n < 0 || (size_t) n >= len)
        return ws_err_set(err, WS_ERR_INVALID, "path too long in \"%s\"", sp->path);
    return 0;
}

/*
 * Takes the spool lock (flock on `lock`).  The whole spool may be removed
 * by its holder (ws_fetch_spool_remove), so the lock only counts when the file
 * locked is still the one at that path.  1 locked (*fd), 0 the spool is gone
 * and create is false, -1 error.
 */
static int spool_lock(ws_spool *sp, bool create, int *fd_out, ws_err *err)
{
    char path[PATH_MAX];

    if (path_in(sp, LOCK_FILE, path, sizeof path, err) < 0)
        return -1;
    for (int attempt = 0; attempt < 20; attempt++) {
        int fd, rc;

        if (create && mkdir(sp->path, 0700) < 0 && errno != EEXIST)
            return ws_err_sys(err, errno, "could not create prefetch spool \"%s\"", sp->path);
        rc = ws_lockfile_take(path, true, true, LOCK_TIMEOUT, &fd, err);
        if (rc < 0 && err->code == WS_ERR_NOTFOUND) {
            if (!create)
                return 0; /* the spool is gone */
            continue;
        }
        if (rc < 0)
            return -1;
        if (rc == 0)
            return ws_err_set(err, WS_ERR_TRANSIENT, "\"%s\" stayed locked for %.0f s", path, LOCK_TIMEOUT);
        if (ws_lockfile_still_at(fd, path)) {
            *fd_out = fd;
            return 1;
        }
        ws_lockfile_release(fd); /* removed while we waited: start over */
    }
    return ws_err_set(err, WS_ERR_TRANSIENT, "could not lock prefetch spool \"%s\"", sp->path);
}

static void spool_unlock(int fd)
{
    ws_lockfile_release(fd);
}

/* Reads the small file name: 1 read (*buf malloc'd), 0 absent, -1 error. */
static int read_small(ws_spool *sp, const char *name, char **buf, size_t *len, ws_err *err)
{
    char path[PATH_MAX];

    if (path_in(sp, name, path, sizeof path, err) < 0)
        return -1;
    return ws_localfile_read(path, SMALL_FILE_MAX, WS_LOCALFILE_NOFOLLOW, buf, len, err);
}

/* Replaces name atomically (the caller holds the spool lock).  The spool
 * is a cache: nothing here needs to survive a crash, so no fsync. */
static int write_small(ws_spool *sp, const char *name, const ws_buf *text, ws_err *err)
{
    char path[PATH_MAX];

    if (path_in(sp, name, path, sizeof path, err) < 0)
        return -1;
    return ws_localfile_write(path, text->data, text->len, 0600, WS_LOCALFILE_NOSYNC, err);
}

typedef int (*parse_fn)(const char *buf, size_t len, const char *what, void *out, ws_err *err);

/* Reads the record in file name with parse: 1 read, 0 absent, -1 error. */
static int read_record(ws_spool *sp, const char *name, parse_fn parse, void *out, ws_err *err)
{
    char what[PATH_MAX + 16], *buf;
    size_t len;
    int rc = read_small(sp, name, &buf, &len, err);

    if (rc <= 0)
        return rc;
    snprintf(what, sizeof what, "%s/%s", sp->path, name);
    rc = parse(buf, len, what, out, err) < 0 ? -1 : 1;
    free(buf);
    return rc;
}

static int parse_state(const char *buf, size_t len, const char *what, void *out, ws_err *err)
{
    return ws_fetch_spool_state_parse(buf, len, what, out, err);
}

static int parse_want(const char *buf, size_t len, const char *what, void *out, ws_err *err)
{
    return ws_fetch_spool_want_parse(buf, len, what, out, err);
}

int ws_fetch_spool_read_state(ws_spool *sp, ws_spool_state *out, ws_err *err)
{
    return read_record(sp, STATE_FILE, parse_state, out, err);
}

int ws_fetch_spool_read_want(ws_spool *sp, ws_spool_want *out, ws_err *err)
{
    return read_record(sp, WANT_FILE, parse_want, out, err);
}

/* Removes entries chosen by keep() (false = remove).  Errors other than
 * "already gone" are reported; the caller decides whether they matter. */
typedef bool (*keep_fn)(const char *entry, ws_spool_entry_kind kind, const ws_wal_name *seg, void *arg);

static int remove_entries(ws_spool *sp, keep_fn keep, void *arg, ws_err *err)
{
    DIR *d = opendir(sp->path);
    struct dirent *de;
    int rc = 0;

    if (!d) {
        if (errno == ENOENT)
            return 0;
        return ws_err_sys(err, errno, "could not open directory \"%s\"", sp->path);
    }
    while ((de = readdir(d)) != NULL) {
        ws_wal_name seg;
        ws_spool_entry_kind kind;
        char path[PATH_MAX];

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        kind = ws_fetch_spool_classify(de->d_name, &seg, NULL);
        if (keep(de->d_name, kind, &seg, arg))
            continue;
        if (path_in(sp, de->d_name, path, sizeof path, err) < 0 || (unlink(path) < 0 && errno != ENOENT)) {
            if (rc == 0 && errno != ENOENT)
                ws_err_sys(err, errno, "could not remove \"%s\"", path);
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

static bool keep_lock_only(const char *entry, ws_spool_entry_kind kind, const ws_wal_name *seg, void *arg)
{
    return strcmp(entry, LOCK_FILE) == 0 || strcmp(entry, PREFETCHER_FILE) == 0;
}

static uint64_t new_generation(void)
{
    uint64_t g = 0;
    ws_err e;

    if (ws_key_random_bytes((uint8_t *) &g, sizeof g, &e) < 0)
        g = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32);
    return g;
}

/* With the spool lock held: makes the state match id, emptying the spool
 * when it does not (or is missing or unreadable). */
static int adopt_locked(ws_spool *sp, const ws_spool_identity *id, ws_err *err)
{
    ws_spool_state st, cur;
    ws_buf text = {0};
    int rc;

    if (ws_fetch_spool_read_state(sp, &cur, err) == 1 && ws_fetch_spool_identity_equal(&cur.id, id))
        return 0;
    /* Another repository, key or cluster, or no (readable) state: nothing
     * in here may be served.  The `prefetcher` lock file stays (a running
     * prefetcher sees the new generation and leaves). */
    if (remove_entries(sp, keep_lock_only, NULL, err) < 0)
        return -1;
    st.id = *id;
    st.generation = new_generation();
    rc = ws_fetch_spool_state_format(&st, &text, err) < 0 ? -1 : write_small(sp, STATE_FILE, &text, err);
    ws_buf_free(&text);
    return rc;
}

int ws_fetch_spool_adopt(ws_spool *sp, const ws_spool_identity *id, ws_err *err)
{
    int fd = -1, rc;

    if (spool_lock(sp, true, &fd, err) < 0)
        return -1;
    rc = adopt_locked(sp, id, err);
    spool_unlock(fd);
    return rc;
}

/* --- walship-fetch ---------------------------------------------------- */

/* Waits while a writer holds NAME.part-*; true when there was one (the
 * caller looks for the final name again). */
static bool wait_for_writer(ws_spool *sp, const char *name, double wait_max)
{
    char part[PATH_MAX] = "";
    DIR *d = opendir(sp->path);
    struct dirent *de;
    ws_err e;
    int fd, got;

    if (!d)
        return false;
    while ((de = readdir(d)) != NULL) {
        ws_wal_name seg;
        char segname[WS_WAL_NAME_MAX];

        if (ws_fetch_spool_classify(de->d_name, &seg, NULL) != WS_SPOOL_ENT_PART)
            continue;
        ws_wal_name_format(&seg, segname);
        if (strcmp(segname, name) == 0 && snprintf(part, sizeof part, "%s/%s", sp->path, de->d_name) > 0)
            break;
        part[0] = '\0';
    }
    closedir(d);
    if (!part[0])
        return false;
    fd = open(part, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT; /* just renamed (or dropped) */
    got = ws_lockfile_flock(fd, false, wait_max, part, &e);
    close(fd);
    return got == 1;
}

int ws_fetch_spool_take(ws_spool *sp, const ws_wal_name *seg, const char *dest, uint64_t sysid, double wait_max,
                        ws_wal_header *hdr, ws_err *err)
{
    char name[WS_WAL_NAME_MAX], path[PATH_MAX];
    uint8_t head[WS_WAL_LONG_HEADER_LEN];
    struct stat st, dst;
    int fd;

    ws_err_clear(err);
    if (seg->kind != WS_WAL_SEGMENT)
        return 0;
    ws_wal_name_format(seg, name);
    if (path_in(sp, name, path, sizeof path, err) < 0)
        return 0;
    fd = ws_localfile_open(path, WS_LOCALFILE_NOFOLLOW, &st, err);
    if (fd < 0 && err->code == WS_ERR_NOTFOUND && wait_for_writer(sp, name, wait_max))
        fd = ws_localfile_open(path, WS_LOCALFILE_NOFOLLOW, &st, err);
    if (fd < 0) {
        if (err->code == WS_ERR_NOTFOUND) {
            ws_err_clear(err); /* not spooled: fetched directly, nothing wrong */
            return 0;
        }
        if (err->code == WS_ERR_INVALID) /* not a regular file: never served */
            unlink(path);
        return 0;
    }
    if (st.st_uid != geteuid()) {
        ws_err_set(err, WS_ERR_INVALID, "spooled \"%s\" is not a regular file of this user", path);
        goto refuse;
    }
    if (pread(fd, head, sizeof head, 0) != (ssize_t) sizeof head) {
        ws_err_set(err, WS_ERR_CORRUPT, "spooled \"%s\" is too short", path);
        goto refuse;
    }
    if (ws_wal_segment_check(head, sizeof head, (uint64_t) st.st_size, seg, path, hdr, err) < 0)
        goto refuse;
    if (hdr->sysid != sysid) {
        ws_err_set(err, WS_ERR_CORRUPT, "spooled \"%s\" has system identifier %" PRIu64 ", the cluster %" PRIu64, path,
                   hdr->sysid, sysid);
        goto refuse;
    }
    if (rename(path, dest) < 0) {
        if (errno != ENOENT)
            ws_err_sys(err, errno, "could not rename \"%s\" to \"%s\"", path, dest);
        close(fd);
        return 0;
    }
    /* What was renamed must be the file checked (the spool is only ever
     * changed under its lock, so this is a belt to those braces). */
    if (stat(dest, &dst) < 0 || dst.st_dev != st.st_dev || dst.st_ino != st.st_ino) {
        unlink(dest);
        ws_err_set(err, WS_ERR_INVALID, "spooled \"%s\" changed while it was served", path);
        close(fd);
        return 0;
    }
    close(fd);
    return 1; /* no fsync of dest's directory: as for a direct fetch (restore_run.c) */
refuse:
    unlink(path);
    close(fd);
    return 0;
}

static bool keep_not_segments(const char *entry, ws_spool_entry_kind kind, const ws_wal_name *seg, void *arg)
{
    return kind != WS_SPOOL_ENT_SEGMENT && kind != WS_SPOOL_ENT_PART;
}

static int write_want(ws_spool *sp, const ws_spool_want *w, ws_err *err)
{
    ws_buf text = {0};
    int rc = ws_fetch_spool_want_format(w, &text, err) < 0 ? -1 : write_small(sp, WANT_FILE, &text, err);

    ws_buf_free(&text);
    return rc;
}

int ws_fetch_spool_advance(ws_spool *sp, const ws_spool_identity *id, const ws_wal_name *seg, uint32_t seg_size,
                           unsigned depth, ws_err *err)
{
    ws_spool_want old, w = {0};
    uint64_t segno;
    int fd = -1, have;

    if (ws_wal_name_segno(seg, seg_size, &segno, err) < 0)
        return -1;
    if (spool_lock(sp, true, &fd, err) < 0)
        return -1;
    /* The spool may have been removed (an idle prefetcher) or taken over
     * since this call looked at it. */
    if (adopt_locked(sp, id, err) < 0) {
        spool_unlock(fd);
        return -1;
    }
    have = ws_fetch_spool_read_want(sp, &old, err);
    w.tli = seg->tli;
    w.pos = segno;
    w.seg_size = seg_size;
    w.depth = depth;
    w.cap = WS_SPOOL_NO_CAP;
    if (have == 1 && old.tli == w.tli && old.seg_size == seg_size) {
        if (old.cap > segno)
            w.cap = old.cap;
    } else if (remove_entries(sp, keep_not_segments, NULL, err) < 0) {
        /* A new timeline (or no usable position): nothing spooled is wanted. */
        spool_unlock(fd);
        return -1;
    }
    if (write_want(sp, &w, err) < 0) {
        spool_unlock(fd);
        return -1;
    }
    spool_unlock(fd);
    return 0;
}

typedef struct cap_arg {
    uint32_t tli;
    uint64_t cap;
    uint32_t seg_size;
} cap_arg;

static bool keep_below_cap(const char *entry, ws_spool_entry_kind kind, const ws_wal_name *seg, void *arg)
{
    const cap_arg *c = arg;
    uint64_t segno;
    ws_err e;

    if (kind != WS_SPOOL_ENT_SEGMENT && kind != WS_SPOOL_ENT_PART)
        return true;
    if (seg->tli != c->tli || ws_wal_name_segno(seg, c->seg_size, &segno, &e) < 0)
        return false;
    return segno < c->cap;
}

/* Caps the window of timeline tli at the segment holding lsn (seg NULL) or
 * at segment seg; the segment size comes from the want file. */
static int limit(ws_spool *sp, uint32_t tli, const ws_wal_name *seg, uint64_t lsn, ws_err *err)
{
    ws_spool_want w;
    uint64_t cap;
    cap_arg c;
    int fd = -1, rc;

    rc = spool_lock(sp, false, &fd, err);
    if (rc <= 0)
        return rc;
    rc = ws_fetch_spool_read_want(sp, &w, err);
    if (rc <= 0 || w.tli != tli) {
        spool_unlock(fd);
        return rc < 0 ? -1 : 0;
    }
    if (seg) {
        if (ws_wal_name_segno(seg, w.seg_size, &cap, err) < 0) {
            spool_unlock(fd);
            return -1;
        }
    } else {
        cap = lsn / w.seg_size;
    }
    if (cap <= w.pos) {
        spool_unlock(fd);
        return 0;
    }
    if (cap < w.cap) {
        w.cap = cap;
        if (write_want(sp, &w, err) < 0) {
            spool_unlock(fd);
            return -1;
        }
    }
    c.tli = tli;
    c.cap = w.cap;
    c.seg_size = w.seg_size;
    rc = remove_entries(sp, keep_below_cap, &c, err);
    spool_unlock(fd);
    return rc;
}

int ws_fetch_spool_limit_at_segment(ws_spool *sp, const ws_wal_name *seg, ws_err *err)
{
    if (seg->kind != WS_WAL_SEGMENT)
        return 0;
    return limit(sp, seg->tli, seg, 0, err);
}

int ws_fetch_spool_limit_at_lsn(ws_spool *sp, uint32_t tli, uint64_t lsn, ws_err *err)
{
    return limit(sp, tli, NULL, lsn, err);
}

/* Opens `prefetcher` and tries to lock it; 1 locked (*fd), 0 held by
 * another process, -1 error. */
static int try_prefetcher_lock(ws_spool *sp, bool exclusive, int *fd_out, ws_err *err)
{
    char path[PATH_MAX];

    if (path_in(sp, PREFETCHER_FILE, path, sizeof path, err) < 0)
        return -1;
    return ws_lockfile_take(path, exclusive, true, 0, fd_out, err);
}

bool ws_fetch_spool_prefetcher_running(ws_spool *sp)
{
    ws_err err;
    int fd, rc = try_prefetcher_lock(sp, false, &fd, &err);

    if (rc == 1)
        ws_lockfile_release(fd);
    return rc == 0;
}

/* --- the prefetcher ----------------------------------------------------- */

int ws_fetch_spool_claim_prefetcher(ws_spool *sp, int *fd_out, ws_err *err)
{
    char path[PATH_MAX], pid[32];
    int fd, rc, n, wfd;

    rc = try_prefetcher_lock(sp, true, &fd, err);
    if (rc <= 0)
        return rc;
    if (path_in(sp, PREFETCHER_FILE, path, sizeof path, err) < 0 || !ws_lockfile_still_at(fd, path)) {
        ws_lockfile_release(fd); /* the spool went away meanwhile */
        return 0;
    }
    /* The pid, for people looking; the lock is what counts. */
    n = snprintf(pid, sizeof pid, "%d\n", (int) getpid());
    wfd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (wfd < 0 || ws_localfile_write_all(wfd, pid, (size_t) n, path, err) < 0) {
        if (wfd < 0)
            ws_err_sys(err, errno, "could not write \"%s\"", path);
        else
            close(wfd);
        ws_lockfile_release(fd);
        return -1;
    }
    close(wfd);
    *fd_out = fd;
    return 1;
}

int ws_fetch_spool_part_create(ws_spool *sp, const char *name, int *fd_out, char **path_out, ws_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX], entry[WS_WAL_NAME_MAX + 32];
    int fd;

    /* Made under a hidden name and locked before it gets its visible name:
     * a visible NAME.part-PID is locked for as long as its writer lives, so
     * a reader waits for it and a sweep never takes it for abandoned. */
    snprintf(entry, sizeof entry, "%s" PART_INFIX "%d", name, (int) getpid());
    if (path_in(sp, entry, path, sizeof path, err) < 0)
        return -1;
    snprintf(entry, sizeof entry, ".%s" PART_INFIX "%d", name, (int) getpid());
    if (path_in(sp, entry, tmp, sizeof tmp, err) < 0)
        return -1;
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ws_err_sys(err, errno, "could not create \"%s\"", tmp);
    /* A new file nobody else has open: one try is enough. */
    if (ws_lockfile_flock(fd, true, 0, tmp, err) != 1) {
        close(fd);
        unlink(tmp);
        return ws_err_prefix(err, "could not lock the new part file");
    }
    if (rename(tmp, path) < 0) {
        int e = errno;

        close(fd);
        unlink(tmp);
        return ws_err_sys(err, e, "could not rename \"%s\" to \"%s\"", tmp, path);
    }
    *path_out = strdup(path);
    if (!*path_out) {
        close(fd);
        unlink(path);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    *fd_out = fd;
    return 0;
}

int ws_fetch_spool_publish(ws_spool *sp, const char *part_path, const ws_wal_name *seg, uint64_t gen, ws_err *err)
{
    char name[WS_WAL_NAME_MAX], path[PATH_MAX];
    ws_spool_state st;
    ws_spool_want w;
    int fd = -1, rc;

    ws_wal_name_format(seg, name);
    if (path_in(sp, name, path, sizeof path, err) < 0) {
        unlink(part_path);
        return -1;
    }
    rc = spool_lock(sp, false, &fd, err);
    if (rc <= 0) {
        unlink(part_path);
        return rc;
    }
    if (ws_fetch_spool_read_state(sp, &st, err) != 1 || st.generation != gen ||
        ws_fetch_spool_read_want(sp, &w, err) != 1 || !ws_fetch_spool_wants(&w, seg)) {
        unlink(part_path);
        spool_unlock(fd);
        return 0;
    }
    if (rename(part_path, path) < 0) {
        int e = errno;

        unlink(part_path);
        spool_unlock(fd);
        if (e == ENOENT) /* removed by a clear meanwhile */
            return 0;
        return ws_err_sys(err, e, "could not rename \"%s\" to \"%s\"", part_path, path);
    }
    spool_unlock(fd);
    return 1;
}

/* True when no process holds the part file's lock (its writer is gone). */
static bool part_abandoned(const char *path)
{
    ws_err e;
    int fd;

    if (ws_lockfile_take(path, false, false, 0, &fd, &e) != 1)
        return false; /* held by its writer, or gone */
    ws_lockfile_release(fd);
    return true;
}

typedef struct sweep_arg {
    ws_spool *sp;
    const ws_spool_want *want;
    bool *present;
    bool remove_live;
} sweep_arg;

/* Keeps what is not a segment or part file, complete segments in the window
 * (noting them), and parts in the window whose writer is alive. */
static bool keep_wanted(const char *entry, ws_spool_entry_kind kind, const ws_wal_name *seg, void *arg)
{
    const sweep_arg *a = arg;
    char path[PATH_MAX];
    uint64_t segno;
    ws_err e;

    if (kind != WS_SPOOL_ENT_SEGMENT && kind != WS_SPOOL_ENT_PART)
        return true;
    if (!a->want || !ws_fetch_spool_wants(a->want, seg))
        return false;
    if (kind == WS_SPOOL_ENT_SEGMENT) {
        if (a->present && ws_wal_name_segno(seg, a->want->seg_size, &segno, &e) == 0)
            a->present[segno - a->want->pos] = true;
        return true;
    }
    return !a->remove_live && path_in(a->sp, entry, path, sizeof path, &e) == 0 && !part_abandoned(path);
}

int ws_fetch_spool_sweep(ws_spool *sp, const ws_spool_want *want, bool *present, bool remove_live, ws_err *err)
{
    sweep_arg a = {.sp = sp, .want = want, .present = present, .remove_live = remove_live};

    if (present && want)
        memset(present, 0, (want->depth + 1) * sizeof *present);
    return remove_entries(sp, keep_wanted, &a, err);
}

static bool keep_nothing(const char *entry, ws_spool_entry_kind kind, const ws_wal_name *seg, void *arg)
{
    return strcmp(entry, LOCK_FILE) == 0; /* removed last, while still held */
}

int ws_fetch_spool_remove(ws_spool *sp, const ws_spool_want *want_seen, ws_err *err)
{
    char lock[PATH_MAX];
    ws_spool_want w;
    int fd = -1, rc;

    rc = spool_lock(sp, false, &fd, err);
    if (rc <= 0)
        return rc < 0 ? -1 : 1;
    if (want_seen && (ws_fetch_spool_read_want(sp, &w, err) != 1 || !ws_fetch_spool_want_equal(&w, want_seen))) {
        spool_unlock(fd);
        return 0;
    }
    rc = remove_entries(sp, keep_nothing, NULL, err);
    if (path_in(sp, LOCK_FILE, lock, sizeof lock, err) < 0 || unlink(lock) < 0)
        rc = -1;
    if (rc == 0 && rmdir(sp->path) < 0 && errno != ENOENT)
        rc = ws_err_sys(err, errno, "could not remove directory \"%s\"", sp->path);
    spool_unlock(fd);
    return rc < 0 ? -1 : 1;
}
