/* archive_run.c - one walship-push call with look-ahead (see archive_run.h). */
#include "walship/archive_run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "walship/archive_ack.h"
#include "walship/archive_backlog.h"
#include "walship/archive_queue.h"
#include "walship/buf.h"
#include "walship/clock.h"
#include "walship/errclass.h"
#include "walship/lockfile.h"
#include "walship/log.h"
#include "walship/repo_keys.h"

#define PATH_LEN     4096
#define LATER_NICE   10  /* the work after an acknowledgement yields to PostgreSQL's calls */
#define TEMP_MAX_AGE 600 /* seconds: an ack's temp file older than this was left by a crash */

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Where the call's files are. */
typedef struct {
    const char *path;          /* as given (PostgreSQL: pg_wal/<name>) */
    const char *name;          /* its last component */
    char wal_dir[PATH_LEN];    /* its directory */
    char status_dir[PATH_LEN]; /* wal_dir/archive_status */
    char ack_dir[PATH_LEN];    /* wal_dir/walship-archive */
    bool in_pg_wal;            /* status_dir exists */
    bool acks;                 /* ack_dir usable: local locks, acks, look-ahead */
} places;

static int find_places(const char *path, places *p, ws_err *err)
{
    const char *slash = strrchr(path, '/');
    int n;

    memset(p, 0, sizeof *p);
    p->path = path;
    p->name = slash ? slash + 1 : path;
    if (!slash)
        n = snprintf(p->wal_dir, sizeof p->wal_dir, ".");
    else if (slash == path)
        n = snprintf(p->wal_dir, sizeof p->wal_dir, "/");
    else
        n = snprintf(p->wal_dir, sizeof p->wal_dir, "%.*s", (int) (slash - path), path);
    if (n < 0 || (size_t) n >= sizeof p->wal_dir ||
        snprintf(p->status_dir, sizeof p->status_dir, "%s/" WS_ARCHIVE_STATUS_DIR, p->wal_dir) >=
            (int) sizeof p->status_dir ||
        snprintf(p->ack_dir, sizeof p->ack_dir, "%s/" WS_ACK_DIR, p->wal_dir) >= (int) sizeof p->ack_dir)
        return ws_err_set(err, WS_ERR_INVALID, "%s: path too long", path);
    p->in_pg_wal = is_dir(p->status_dir);
    if (!p->in_pg_wal)
        return 0;
    /* Inside pg_wal, so base backups never copy it; 0700 like the rest. */
    if (mkdir(p->ack_dir, 0700) < 0 && errno != EEXIST)
        ws_log(WS_LOG_WARNING, "could not create directory \"%s\" (%s): archiving without look-ahead", p->ack_dir,
               strerror(errno));
    else if (!is_dir(p->ack_dir))
        ws_log(WS_LOG_WARNING, "\"%s\" is not a directory: archiving without look-ahead", p->ack_dir);
    else if (access(p->ack_dir, R_OK | W_OK | X_OK) < 0)
        ws_log(WS_LOG_WARNING, "cannot use directory \"%s\" (%s): archiving without look-ahead", p->ack_dir,
               strerror(errno));
    else
        p->acks = true;
    return 0;
}

static int stat_id(const char *path, ws_localfile_id *out)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return -1;
    ws_localfile_id_from_stat(&st, out);
    return 0;
}

static void remove_ack(const places *p, const char *name)
{
    ws_err e;

    ws_err_clear(&e);
    if (ws_archive_ack_remove(p->ack_dir, name, &e) < 0)
        ws_log(WS_LOG_WARNING, "%s", e.msg);
}

/*
 * Whether the ack of name (file at file_path) vouches for it; an ack that
 * does not is removed, with a line saying why.  1 vouches, 0 not.
 */
static int ack_vouches(const ws_config *cfg, const places *p, const char *name, const char *file_path, ws_ack *a,
                       bool quiet)
{
    ws_err e;
    ws_localfile_id now;
    const char *why = "the file is missing";
    int found;

    ws_err_clear(&e);
    found = ws_archive_ack_read(p->ack_dir, name, a, &e);
    if (found == 0)
        return 0;
    if (found < 0) {
        ws_log(WS_LOG_WARNING, "ignoring an ack file: %s", e.msg);
        remove_ack(p, name);
        return 0;
    }
    if (stat_id(file_path, &now) == 0 && ws_archive_ack_vouches(a, name, cfg->repo, &now, &why))
        return 1;
    if (!quiet)
        ws_log(WS_LOG_NOTICE, "not trusting the ack of %s in %s: %s", name, p->ack_dir, why);
    remove_ack(p, name);
    return 0;
}

/* --- the worker pool ------------------------------------------------------ */

typedef enum { JOB_NOT_STARTED, JOB_OK, JOB_FAILED } job_state;

typedef struct {
    char path[PATH_LEN];
    ws_push_job pj;
    job_state state;
    ws_push_result res;
    ws_digest digest;
    ws_err err;
} job;

typedef struct {
    pthread_mutex_t mu;
    job *jobs;
    size_t njobs, next;
    unsigned running;
    bool stop;          /* start no further look-ahead job */
    double start_limit; /* nor after this (monotonic seconds) */
    size_t first_ahead; /* jobs before it are PostgreSQL's own call */
    const ws_config *cfg;
    ws_push_ctx *ctx;
} pool;

static void log_ahead(const job *j)
{
    const char *name = strrchr(j->path, '/') ? strrchr(j->path, '/') + 1 : j->path;
    char hex[65];

    ws_filter_sha256_hex(j->digest.sha256, hex);
    if (j->state == JOB_FAILED) {
        ws_log(WS_LOG_WARNING, "could not archive %s ahead (PostgreSQL's own call for it will try again): %s", name,
               j->err.msg);
        return;
    }
    switch (j->res) {
    case WS_PUSH_STORED:
        ws_log(WS_LOG_INFO, "archived %s ahead (%" PRIu64 " bytes, sha256 %s)", name, j->digest.size, hex);
        break;
    case WS_PUSH_IDENTICAL:
        ws_log(WS_LOG_INFO, "%s is already archived with identical content; not acknowledged", name);
        break;
    case WS_PUSH_ACKED:
        ws_log(WS_LOG_DEBUG, "%s: already acknowledged", name);
        break;
    case WS_PUSH_BUSY:
        ws_log(WS_LOG_INFO, "%s is being archived by another walship-push; left to it", name);
        break;
    case WS_PUSH_NOT_READY:
        ws_log(WS_LOG_DEBUG, "%s: archived meanwhile; left alone", name);
        break;
    }
}

static void *worker(void *arg)
{
    pool *p = arg;
    ws_repo *repo = NULL;

    for (;;) {
        job *j;
        size_t i;
        int rc;

        pthread_mutex_lock(&p->mu);
        if (p->next >= p->njobs || (p->next >= p->first_ahead && (p->stop || ws_clock_now() > p->start_limit))) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        i = p->next++;
        j = &p->jobs[i];
        /* Both cores for one file only when nothing else waits or runs. */
        j->pj.pipeline = p->next == p->njobs && p->running == 0;
        p->running++;
        pthread_mutex_unlock(&p->mu);

        ws_err_clear(&j->err);
        rc = repo ? 0 : ws_repo_open(p->cfg, &repo, &j->err);
        if (rc == 0)
            rc = ws_archive_push(repo, p->ctx, &j->pj, &j->res, &j->digest, &j->err);

        pthread_mutex_lock(&p->mu);
        p->running--;
        j->state = rc == 0 ? JOB_OK : JOB_FAILED;
        if (rc < 0 && (i < p->first_ahead || !repo || ws_errclass_is_global(ws_errclass_of(j->err.code))))
            p->stop = true;
        pthread_mutex_unlock(&p->mu);
        if (i >= p->first_ahead)
            log_ahead(j);
    }
    ws_repo_close(repo);
    return NULL;
}

static void run_pool(pool *p, unsigned workers)
{
    pthread_t th[64];
    unsigned started = 0;

    if (workers > p->njobs)
        workers = (unsigned) p->njobs;
    if (workers > 64)
        workers = 64;
    /* This thread is a worker too; a thread that cannot start is a
     * worker less, not an error. */
    while (started + 1 < workers && pthread_create(&th[started], NULL, worker, p) == 0)
        started++;
    worker(p);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

/* --- choosing the look-ahead ------------------------------------------------ */

/*
 * The names a background look-ahead process is done with: seen
 * acknowledged, or its job ended without failing.  It does not take them
 * again: PostgreSQL's call consumes an ack before its .ready file is
 * renamed, and a later batch must not archive that file a second time.
 */
typedef struct {
    char (*v)[WS_WAL_NAME_MAX];
    size_t n, cap;
} name_set;

static bool name_set_has(const name_set *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

/* Out of memory only means a name may be taken again. */
static void name_set_add(name_set *s, const char *name)
{
    if (name_set_has(s, name))
        return;
    void *v = s->v;
    ws_err e;

    if (ws_buf_grow_array(&v, &s->cap, s->n + 1, sizeof *s->v, &e) < 0)
        return;
    s->v = v;
    snprintf(s->v[s->n++], WS_WAL_NAME_MAX, "%s", name);
}

typedef struct {
    const ws_config *cfg;
    const places *p;
    name_set *done;
} pick_arg;

/* Already archived ahead, or done with by this process: not again. */
static bool already_acked(const ws_ready *r, void *arg)
{
    const pick_arg *a = arg;
    char file[PATH_LEN];
    ws_ack ack;

    if (name_set_has(a->done, r->name))
        return true;
    if (snprintf(file, sizeof file, "%s/%s", a->p->wal_dir, r->name) >= (int) sizeof file)
        return true; /* cannot name it: leave it to PostgreSQL's own call */
    if (ack_vouches(a->cfg, a->p, r->name, file, &ack, false) != 1)
        return false;
    name_set_add(a->done, r->name);
    return true;
}

/* --- after the jobs ----------------------------------------------------- */

/* Removes acks nobody will consume (their file is archived, gone or
 * changed) and temp files a crash left.  Removing an ack is always safe:
 * at worst the file is archived again, as identical content. */
static void clean_ack_dir(const ws_config *cfg, const places *p)
{
    DIR *d = opendir(p->ack_dir);
    struct dirent *de;
    time_t now = time(NULL);

    if (!d)
        return;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        size_t len = strlen(n), sl = strlen(WS_ACK_SUFFIX);

        if (n[0] == '.' && strstr(n, ".tmp.")) {
            struct stat st;

            if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
                now - st.st_mtime > TEMP_MAX_AGE)
                unlinkat(dirfd(d), n, 0);
            continue;
        }
        if (len > sl && len - sl < WS_WAL_NAME_MAX && strcmp(n + len - sl, WS_ACK_SUFFIX) == 0) {
            char name[WS_WAL_NAME_MAX], file[PATH_LEN];
            ws_ack ack;

            memcpy(name, n, len - sl);
            name[len - sl] = '\0';
            if (!ws_archive_queue_exists(p->status_dir, name))
                remove_ack(p, name); /* archived (.done) or gone */
            else if (snprintf(file, sizeof file, "%s/%s", p->wal_dir, name) < (int) sizeof file)
                ack_vouches(cfg, p, name, file, &ack, false);
        }
    }
    closedir(d);
}

static void report_backlog(const ws_config *cfg, const places *p, const ws_ready_list *l)
{
    ws_backlog_state prev, next;
    uint64_t threshold = (uint64_t) cfg->archive_lookahead + 1;
    int64_t now = (int64_t) time(NULL);
    ws_backlog_action act;
    ws_err e;

    ws_archive_backlog_load(p->ack_dir, &prev);
    act = ws_archive_backlog_decide(&prev, l->total, threshold, now, &next);
    if (act == WS_BACKLOG_QUIET)
        return;
    if (act == WS_BACKLOG_BEHIND)
        ws_log(WS_LOG_NOTICE,
               "archiving is behind: %zu WAL files wait (.ready), the oldest (%s) for %" PRId64
               " s; one call archives up to %" PRIu64 " (archive_lookahead + 1); no WAL is dropped",
               l->total, l->oldest_name, now > l->oldest ? now - l->oldest : 0, threshold);
    else
        ws_log(WS_LOG_NOTICE, "archiving has caught up: %zu WAL files wait (.ready)", l->total);
    ws_err_clear(&e);
    if (ws_archive_backlog_save(p->ack_dir, &next, &e) < 0)
        ws_log(WS_LOG_WARNING, "%s", e.msg);
}

static void log_main(const places *p, const job *j)
{
    char hex[65];

    ws_filter_sha256_hex(j->digest.sha256, hex);
    switch (j->res) {
    case WS_PUSH_STORED: {
        char key[WS_KEY_MAX];
        ws_err e;

        if (ws_repo_keys_wal(p->name, key, sizeof key, &e) < 0)
            snprintf(key, sizeof key, "?");
        ws_log(WS_LOG_INFO, "archived %s as %s (%" PRIu64 " bytes, sha256 %s)", p->name, key, j->digest.size, hex);
        break;
    }
    case WS_PUSH_IDENTICAL:
        ws_log(WS_LOG_NOTICE, "%s is already archived with identical content (sha256 %s, %" PRIu64 " bytes)", p->name,
               hex, j->digest.size);
        break;
    case WS_PUSH_ACKED:
        ws_log(WS_LOG_INFO, "%s was archived ahead by another walship-push (sha256 %s, %" PRIu64 " bytes)", p->name,
               hex, j->digest.size);
        break;
    case WS_PUSH_BUSY:
    case WS_PUSH_NOT_READY:
        break; /* look-ahead jobs only */
    }
}

static void log_summary(const places *p, const pool *pl, double secs)
{
    unsigned ahead = 0, identical = 0, others = 0, failed = 0, not_started = 0;

    for (size_t i = pl->first_ahead; i < pl->njobs; i++) {
        const job *j = &pl->jobs[i];

        if (j->state == JOB_NOT_STARTED)
            not_started++;
        else if (j->state == JOB_FAILED)
            failed++;
        else if (j->res == WS_PUSH_STORED)
            ahead++;
        else if (j->res == WS_PUSH_IDENTICAL)
            identical++;
        else
            others++;
    }
    ws_log(failed ? WS_LOG_NOTICE : WS_LOG_INFO,
           "look-ahead with %s: %u archived ahead, %u already stored, %u left to others, %u failed, %u not started "
           "(%.1f s)",
           p->name, ahead, identical, others, failed, not_started, secs);
}

/* --- the background look-ahead process ------------------------------------ */

#define LOOKAHEAD_LOCK   "lookahead.lock"
#define LOOKAHEAD_ROUNDS 10000 /* bound on batches one background process takes */

/* Picks up to archive_lookahead .ready files after `skip` that no ack
 * covers, as look-ahead jobs appended to pl->jobs (capacity max). */
static void pick_ahead(const ws_config *cfg, const places *p, const ws_ready_list *ready, const char *skip,
                       name_set *done, pool *pl, size_t max)
{
    pick_arg pa = {.cfg = cfg, .p = p, .done = done};
    size_t *picked, npicked;

    if (max == 0 || ready->n == 0 || !(picked = calloc(max, sizeof *picked)))
        return;
    npicked = ws_archive_queue_pick(ready, skip, max, already_acked, &pa, picked);
    for (size_t k = 0; k < npicked; k++) {
        job *j = &pl->jobs[pl->njobs];

        if (snprintf(j->path, sizeof j->path, "%s/%s", p->wal_dir, ready->v[picked[k]].name) >= (int) sizeof j->path)
            continue;
        j->pj.path = j->path;
        j->pj.ahead = true;
        pl->njobs++;
    }
    free(picked);
}

/*
 * The body of the background process: batch after batch of look-ahead
 * jobs while .ready files wait that no ack covers, each batch on
 * archive_workers threads, until none is left, a batch achieves nothing,
 * or WS_LOOKAHEAD_START_LIMIT has passed.  `skip` is PostgreSQL's own file
 * of the call that started it, archived by that call.
 */
static void lookahead_loop(const ws_config *cfg, const places *p, const char *skip, ws_push_after_stored_fn fn,
                           void *arg)
{
    double t0 = ws_clock_now();
    name_set done = {0};
    ws_push_ctx ctx;

    ws_archive_push_ctx_init(&ctx, cfg, p->ack_dir, p->status_dir);
    ctx.after_stored = fn;
    ctx.after_stored_arg = arg;
    for (unsigned round = 0; round < LOOKAHEAD_ROUNDS && ws_clock_now() - t0 < WS_LOOKAHEAD_START_LIMIT; round++) {
        ws_ready_list ready = {0};
        unsigned progress = 0;
        bool stopped;
        pool pl;
        ws_err e;

        ws_err_clear(&e);
        if (ws_archive_queue_scan(p->status_dir, &ready, &e) < 0) {
            ws_log(WS_LOG_WARNING, "%s", e.msg);
            break;
        }
        memset(&pl, 0, sizeof pl);
        pl.jobs = calloc(cfg->archive_lookahead, sizeof *pl.jobs);
        if (pl.jobs)
            pick_ahead(cfg, p, &ready, skip, &done, &pl, cfg->archive_lookahead);
        ws_archive_queue_list_free(&ready);
        if (pl.njobs == 0) {
            free(pl.jobs);
            break;
        }
        pthread_mutex_init(&pl.mu, NULL);
        pl.cfg = cfg;
        pl.ctx = &ctx;
        pl.start_limit = t0 + WS_LOOKAHEAD_START_LIMIT;
        run_pool(&pl, cfg->archive_workers);
        for (size_t i = 0; i < pl.njobs; i++) {
            const job *j = &pl.jobs[i];

            if (j->state != JOB_OK)
                continue;
            name_set_add(&done, strrchr(j->path, '/') ? strrchr(j->path, '/') + 1 : j->path);
            if (j->res == WS_PUSH_STORED || j->res == WS_PUSH_IDENTICAL)
                progress++;
        }
        log_summary(p, &pl, ws_clock_now() - t0);
        stopped = pl.stop;
        pthread_mutex_destroy(&pl.mu);
        free(pl.jobs);
        if (stopped || progress == 0)
            break;
    }
    free(done.v);
    ws_archive_push_ctx_destroy(&ctx);
}

/*
 * Forks a process nobody waits for: a double fork, in a session of its own
 * (the signals PostgreSQL sends to the archiver's process group at shutdown
 * do not cut its work short), stdin and stdout on /dev/null (stderr stays:
 * the server log).  1 in the caller once it runs, 0 in that process (which
 * ends with _exit), -1 when none could be started.  Called where this
 * process runs no other thread.
 */
static int detach(void)
{
    pid_t child;
    int status, devnull;

    fflush(NULL);
    child = fork();
    if (child < 0)
        return -1;
    if (child > 0)
        return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1 : -1;
    /* First child: leave the session, fork the worker and exit at once. */
    setsid();
    child = fork();
    if (child != 0)
        _exit(child < 0 ? 1 : 0);
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        dup2(devnull, STDIN_FILENO);
        dup2(devnull, STDOUT_FILENO);
        close(devnull);
    }
    return 0;
}

/*
 * Starts the look-ahead in a process of its own when .ready files wait
 * that no ack covers and no such process runs already (its lock file
 * says), so uploads go on while PostgreSQL's archiver makes its next,
 * quick calls on acks: the call itself returns once its own file is
 * archived.  Detached, so nobody waits for it; it holds the lock while it
 * works.  Must be called before this process starts a thread.
 */
static void start_lookahead(const ws_config *cfg, const places *p, const ws_ready_list *ready, const char *skip,
                            ws_push_after_stored_fn fn, void *arg)
{
    char lock_path[PATH_LEN];
    int fd;

    if (cfg->archive_lookahead == 0 || ready->n == 0 || (ready->n == 1 && strcmp(ready->v[0].name, skip) == 0))
        return;
    if (snprintf(lock_path, sizeof lock_path, "%s/%s", p->ack_dir, LOOKAHEAD_LOCK) >= (int) sizeof lock_path)
        return;
    {
        ws_err e;

        /* Held (0) means one runs already; an error means no look-ahead. */
        if (ws_lockfile_take(lock_path, true, true, 0, &fd, &e) != 1)
            return;
    }
    if (detach() != 0) {
        /* The caller: the lock (shared with the worker's copy of fd) stays
         * with the worker, if one started. */
        close(fd);
        return;
    }
    lookahead_loop(cfg, p, skip, fn, arg);
    close(fd);
    _exit(0);
}

/*
 * The call's work that may follow its acknowledgement (ws_push_later): in
 * a detached process, so the exit status reaches PostgreSQL without waiting
 * for it; in this one when no process can be started.  That process starts
 * once this one has exited (it waits for the end of a pipe only this one
 * holds) and at a lower priority, so on a busy machine it takes no CPU from
 * this call's end or from PostgreSQL's next call.  A failure is only
 * logged: the file is archived, and the work is derived data.
 */
static void run_later(const ws_config *cfg, const char *name, ws_push_later *later)
{
    int gate[2] = {-1, -1}, detached;
    ws_repo *repo = NULL;
    ws_err e;

    if (pipe2(gate, O_CLOEXEC) < 0)
        gate[0] = gate[1] = -1;
    detached = detach();
    if (detached == 1)
        return; /* gate[1] stays open until this process exits */
    if (detached == 0 && gate[0] >= 0) {
        char c;

        close(gate[1]);
        while (read(gate[0], &c, 1) < 0 && errno == EINTR)
            ;
        close(gate[0]);
        if (setpriority(PRIO_PROCESS, 0, LATER_NICE) < 0)
            ws_log(WS_LOG_DEBUG, "could not lower the priority of the process storing what follows %s", name);
    } else if (gate[0] >= 0) {
        close(gate[0]);
        close(gate[1]);
    }
    ws_err_clear(&e);
    if (ws_repo_open(cfg, &repo, &e) < 0 || later->fn(repo, later->state, &e) < 0)
        ws_log(WS_LOG_WARNING, "%s is archived, but after that: %s", name, e.msg);
    ws_repo_close(repo);
    if (detached == 0) {
        ws_push_later_clear(later);
        _exit(0);
    }
}

/* The call's work; 0 when path is archived, else -1 with err. */
static int archive_call(const ws_config *cfg, const char *path, ws_push_after_stored_fn after_stored, void *arg,
                        ws_err *err)
{
    double t0 = ws_clock_now();
    ws_ready_list ready = {0};
    ws_push_later later = {0};
    ws_push_ctx ctx;
    places p;
    pool pl;
    ws_ack ack;
    int rc = -1;

    if (ws_config_require(cfg, WS_CFG_REPO, err) < 0 || find_places(path, &p, err) < 0)
        return -1;
    if (p.in_pg_wal) {
        ws_err e;

        ws_err_clear(&e);
        if (ws_archive_queue_scan(p.status_dir, &ready, &e) < 0)
            ws_log(WS_LOG_WARNING, "%s", e.msg);
    }

    /* PostgreSQL asks for a file an earlier call archived ahead. */
    if (p.acks && ack_vouches(cfg, &p, p.name, path, &ack, false)) {
        char hex[65];

        remove_ack(&p, p.name);
        ws_filter_sha256_hex(ack.digest.sha256, hex);
        ws_log(WS_LOG_INFO, "%s was archived ahead (sha256 %s, %" PRIu64 " bytes)", p.name, hex, ack.digest.size);
        /* Keep the background look-ahead going while WAL keeps coming. */
        start_lookahead(cfg, &p, &ready, p.name, after_stored, arg);
        report_backlog(cfg, &p, &ready);
        ws_archive_queue_list_free(&ready);
        return 0;
    }

    /* The files waiting behind this one go to a background process. */
    if (p.acks)
        start_lookahead(cfg, &p, &ready, p.name, after_stored, arg);

    memset(&pl, 0, sizeof pl);
    pl.jobs = calloc(1, sizeof *pl.jobs);
    if (!pl.jobs) {
        ws_archive_queue_list_free(&ready);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    snprintf(pl.jobs[0].path, sizeof pl.jobs[0].path, "%s", path);
    pl.jobs[0].pj.path = pl.jobs[0].path;
    pl.jobs[0].pj.later = &later;
    pl.njobs = 1;
    pl.first_ahead = 1;
    pthread_mutex_init(&pl.mu, NULL);
    pl.cfg = cfg;
    pl.ctx = &ctx;
    pl.start_limit = t0 + WS_LOOKAHEAD_START_LIMIT;
    ws_archive_push_ctx_init(&ctx, cfg, p.acks ? p.ack_dir : NULL, p.status_dir);
    ctx.after_stored = after_stored;
    ctx.after_stored_arg = arg;

    run_pool(&pl, 1);

    if (pl.jobs[0].state == JOB_OK) {
        log_main(&p, &pl.jobs[0]);
        rc = 0;
    } else
        *err = pl.jobs[0].err;
    if (p.acks) {
        clean_ack_dir(cfg, &p);
        report_backlog(cfg, &p, &ready);
    }
    ws_archive_push_ctx_destroy(&ctx);
    pthread_mutex_destroy(&pl.mu);
    free(pl.jobs);
    ws_archive_queue_list_free(&ready);
    /* Last: the detached process must not hold anything the call still
     * uses, and the call must not wait for it. */
    if (rc == 0 && later.fn)
        run_later(cfg, p.name, &later);
    ws_push_later_clear(&later);
    return rc;
}

int ws_archive_run(const ws_config *cfg, const char *path, ws_push_after_stored_fn after_stored, void *arg)
{
    ws_err err;

    ws_err_clear(&err);
    if (archive_call(cfg, path, after_stored, arg, &err) == 0)
        return WS_EXIT_OK;
    ws_log_err(&err);
    return ws_errclass_push_exit(ws_errclass_of(err.code));
}
