/* prefetcher.c - the background prefetcher (see prefetcher.h). */
#include "walship/prefetcher.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "walship/clock.h"
#include "walship/errclass.h"
#include "walship/log.h"
#include "walship/repo_object.h"
#include "walship/restore_fetch.h"

/* Worker exit statuses. */
enum { PF_OK = 0, PF_ABSENT = 10, PF_INTEGRITY = 11, PF_ERROR = 12, PF_UNWANTED = 13 };

#define LOOP_MS     100
#define MAX_BACKOFF 32
#define DONE_SLOTS  2048 /* > twice the largest window */

typedef struct worker {
    pid_t pid; /* 0: free slot */
    ws_wal_name seg;
    uint64_t segno;
    bool cancelled;
} worker;

/* A segment that could not be fetched: not asked for again before next. */
typedef struct backoff {
    uint32_t tli;
    uint64_t segno;
    double next;
    double delay;
    bool warned;
} backoff;

typedef struct prefetcher {
    const ws_config *cfg;
    ws_spool *sp;
    ws_proc_id owner;
    uint64_t gen;
    ws_spool_want want;
    bool have_want;
    double last_change;
    worker w[WS_PREFETCH_IN_FLIGHT];
    backoff b[MAX_BACKOFF];
    size_t nb;
    bool *present; /* [0..1024]: segment pos+i is in the spool */
    /* done[segno % DONE_SLOTS] == segno + 1: segment segno of the window's
     * timeline was complete in the spool.  When it vanishes, walship-fetch
     * has taken it (and is about to move the position), so it is not
     * fetched again; forgotten when the window moves back or to another
     * timeline. */
    uint64_t *done;
} prefetcher;

/* --- one segment, in a child process ------------------------------------ */

static int worker_main(const ws_config *cfg, const char *dir, const ws_wal_name *seg, uint64_t gen, bool quiet)
{
    char name[WS_WAL_NAME_MAX];
    ws_spool *sp = NULL;
    ws_repo *repo = NULL;
    ws_sink *sink = NULL;
    char *part = NULL;
    bool local = false;
    ws_digest d;
    ws_err err;
    int fd = -1, status = PF_ERROR, rc;

    ws_err_clear(&err);
    ws_wal_name_format(seg, name);
    if (ws_fetch_spool_open(dir, false, &sp, &err) != 1) {
        status = PF_UNWANTED;
        goto done;
    }
    /* The part file first: walship-fetch asking for this segment from now
     * on waits for it instead of fetching it a second time. */
    if (ws_fetch_spool_part_create(sp, name, &fd, &part, &err) < 0 || ws_repo_open(cfg, &repo, &err) < 0) {
        if (part)
            unlink(part);
        goto fail;
    }
    sink = ws_sink_fd_new(fd, part);
    if (!sink) {
        ws_err_set(&err, WS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    /* No system identifier check here: serving from the spool checks it. */
    if (ws_restore_fetch(repo, seg, name, 0, sink, &local, &d, &err) < 0) {
        unlink(part);
        if (err.code == WS_ERR_NOTFOUND) {
            status = PF_ABSENT;
            goto done;
        }
        if (!local && ws_errclass_of(err.code) == WS_CLASS_INTEGRITY)
            status = PF_INTEGRITY;
        goto fail;
    }
    if (fsync(fd) < 0) {
        ws_err_sys(&err, errno, "could not fsync \"%s\"", part);
        unlink(part);
        goto fail;
    }
    rc = ws_fetch_spool_publish(sp, part, seg, gen, &err);
    if (rc < 0)
        goto fail;
    if (rc == 0) {
        status = PF_UNWANTED;
        goto done;
    }
    ws_log(WS_LOG_INFO, "prefetched %s (%" PRIu64 " bytes verified)", name, d.size);
    status = PF_OK;
    goto done;
fail:
    ws_log(quiet ? WS_LOG_DEBUG : WS_LOG_WARNING,
           "could not prefetch %s, not spooled (walship-fetch fetches it directly when asked): %s", name, err.msg);
done:
    ws_sink_free(sink);
    if (fd >= 0)
        close(fd); /* releases the part file's lock, after publishing */
    free(part);
    ws_repo_close(repo);
    ws_fetch_spool_close(sp);
    return status;
}

static void spawn(prefetcher *p, worker *w, uint64_t segno)
{
    bool quiet = false;
    pid_t pid;

    ws_wal_name_from_segno(p->want.tli, segno, p->want.seg_size, &w->seg);
    for (size_t i = 0; i < p->nb; i++)
        if (p->b[i].tli == p->want.tli && p->b[i].segno == segno)
            quiet = p->b[i].warned;
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        ws_log(WS_LOG_DEBUG, "fork failed: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        sigset_t none;

        sigemptyset(&none);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        sigprocmask(SIG_SETMASK, &none, NULL);
        _exit(worker_main(p->cfg, ws_fetch_spool_path(p->sp), &w->seg, p->gen, quiet));
    }
    w->pid = pid;
    w->segno = segno;
    w->cancelled = false;
}

/* Removes a worker's part file (it may have been killed half-way). */
static void drop_part(prefetcher *p, const worker *w)
{
    char name[WS_WAL_NAME_MAX], path[4096];

    ws_wal_name_format(&w->seg, name);
    snprintf(path, sizeof path, "%s/%s.part-%d", ws_fetch_spool_path(p->sp), name, (int) w->pid);
    unlink(path);
    snprintf(path, sizeof path, "%s/.%s.part-%d", ws_fetch_spool_path(p->sp), name, (int) w->pid);
    unlink(path);
}

static void note_failure(prefetcher *p, const worker *w, int status)
{
    double first = status == PF_ABSENT ? 1.0 : status == PF_INTEGRITY ? 5.0 : 2.0;
    double max = status == PF_ABSENT ? 8.0 : status == PF_INTEGRITY ? 60.0 : 30.0;
    backoff *b = NULL;

    for (size_t i = 0; i < p->nb; i++)
        if (p->b[i].tli == w->seg.tli && p->b[i].segno == w->segno)
            b = &p->b[i];
    if (!b) {
        if (p->nb == MAX_BACKOFF)
            p->nb--; /* forget the newest: MAX_BACKOFF is far above what a window holds */
        b = &p->b[p->nb++];
        b->tli = w->seg.tli;
        b->segno = w->segno;
        b->delay = first;
        b->warned = false;
    } else {
        b->delay = b->delay * 2 > max ? max : b->delay * 2;
    }
    b->next = ws_clock_now() + b->delay;
    if (status != PF_ABSENT)
        b->warned = true; /* the worker logged it once */
}

static void clear_failure(prefetcher *p, uint32_t tli, uint64_t segno)
{
    for (size_t i = 0; i < p->nb; i++)
        if (p->b[i].tli == tli && p->b[i].segno == segno) {
            p->b[i] = p->b[--p->nb];
            return;
        }
}

static void reap(prefetcher *p, bool block)
{
    for (size_t i = 0; i < WS_PREFETCH_IN_FLIGHT; i++) {
        worker *w = &p->w[i];
        int st, status;
        pid_t r;

        if (w->pid == 0)
            continue;
        do
            r = waitpid(w->pid, &st, block ? 0 : WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r == 0)
            continue;
        status = r > 0 && WIFEXITED(st) ? WEXITSTATUS(st) : PF_ERROR;
        if (r < 0 || !WIFEXITED(st))
            drop_part(p, w);
        if (!w->cancelled) {
            if (status == PF_OK && w->seg.tli == p->want.tli)
                p->done[w->segno % DONE_SLOTS] = w->segno + 1;
            if (status == PF_OK)
                clear_failure(p, w->seg.tli, w->segno);
            else if (status != PF_UNWANTED)
                note_failure(p, w, status);
        }
        w->pid = 0;
    }
}

static size_t busy(const prefetcher *p)
{
    size_t n = 0;

    for (size_t i = 0; i < WS_PREFETCH_IN_FLIGHT; i++)
        n += p->w[i].pid != 0;
    return n;
}

static void stop_workers(prefetcher *p)
{
    for (size_t i = 0; i < WS_PREFETCH_IN_FLIGHT; i++)
        if (p->w[i].pid) {
            kill(p->w[i].pid, SIGTERM);
            p->w[i].cancelled = true;
        }
    reap(p, true);
}

/* A new position: workers outside the window stop, old failures are
 * forgotten. */
static void follow(prefetcher *p, const ws_spool_want *w)
{
    size_t j = 0;

    if (!p->have_want || w->tli != p->want.tli || w->seg_size != p->want.seg_size || w->pos < p->want.pos)
        memset(p->done, 0, DONE_SLOTS * sizeof *p->done);
    p->want = *w;
    p->have_want = true;
    p->last_change = ws_clock_now();
    for (size_t i = 0; i < WS_PREFETCH_IN_FLIGHT; i++)
        if (p->w[i].pid && !ws_fetch_spool_wants_segno(w, p->w[i].seg.tli, p->w[i].segno)) {
            kill(p->w[i].pid, SIGTERM);
            p->w[i].cancelled = true;
        }
    for (size_t i = 0; i < p->nb; i++)
        if (ws_fetch_spool_wants_segno(w, p->b[i].tli, p->b[i].segno))
            p->b[j++] = p->b[i];
    p->nb = j;
}

static void dispatch(prefetcher *p)
{
    const ws_spool_want *w = &p->want;
    double now = ws_clock_now();

    for (unsigned i = 1; i <= w->depth; i++) {
        uint64_t segno = w->pos + i;
        bool flying = false, held = false;

        if (segno >= w->cap)
            break;
        if (p->present[i] || p->done[segno % DONE_SLOTS] == segno + 1)
            continue;
        for (size_t k = 0; k < WS_PREFETCH_IN_FLIGHT; k++)
            flying |= p->w[k].pid && p->w[k].seg.tli == w->tli && p->w[k].segno == segno;
        if (flying)
            continue;
        for (size_t k = 0; k < p->nb; k++)
            held |= p->b[k].tli == w->tli && p->b[k].segno == segno && p->b[k].next > now;
        if (held)
            break; /* in order: nothing after a segment that is not there yet */
        for (size_t k = 0; k < WS_PREFETCH_IN_FLIGHT; k++)
            if (!p->w[k].pid) {
                spawn(p, &p->w[k], segno);
                break;
            }
        if (busy(p) == WS_PREFETCH_IN_FLIGHT)
            break;
    }
}

static void detach_stdio(void)
{
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        dup2(fd, STDOUT_FILENO);
        if (fd > STDERR_FILENO)
            close(fd);
    }
    /* Nothing of the caller's (PostgreSQL's files, sockets, our repository
     * connection) stays open here. */
    if (close_range(3, ~0U, 0) < 0) /* kernels before 5.9 */
        for (int i = 3; i < 1024; i++)
            close(i);
}

static const char *run(prefetcher *p, const sigset_t *waitset, bool *clean)
{
    ws_spool_state st;
    ws_err err;

    *clean = true;
    for (;;) {
        struct timespec ts = {0, LOOP_MS * 1000000L};
        ws_spool_want w;
        siginfo_t si;
        int rc, sig;

        reap(p, false);
        if (!ws_proc_alive(&p->owner))
            return "the PostgreSQL startup process is gone: recovery ended or the server stopped";
        rc = ws_fetch_spool_read_state(p->sp, &st, &err);
        if (rc != 1 || st.generation != p->gen) {
            *clean = false;
            return "the spool was removed or taken over";
        }
        rc = ws_fetch_spool_read_want(p->sp, &w, &err);
        if (rc == 1 && (!p->have_want || !ws_fetch_spool_want_equal(&w, &p->want)))
            follow(p, &w);
        if (ws_clock_now() - p->last_change > WS_PREFETCH_IDLE && busy(p) == 0) {
            rc = ws_fetch_spool_remove(p->sp, p->have_want ? &p->want : NULL, &err);
            if (rc != 0) {
                *clean = false; /* done (or failed: leave it for the next prefetcher) */
                return rc > 0 ? "no new request for 60 s; spool removed" : "no new request for 60 s";
            }
            continue; /* a new position arrived meanwhile */
        }
        if (p->have_want) {
            if (ws_fetch_spool_sweep(p->sp, &p->want, p->present, false, &err) < 0)
                ws_log(WS_LOG_DEBUG, "%s", err.msg);
            for (unsigned i = 1; i <= p->want.depth; i++)
                if (p->present[i])
                    p->done[(p->want.pos + i) % DONE_SLOTS] = p->want.pos + i + 1;
            dispatch(p);
        }
        sig = sigtimedwait(waitset, &si, &ts);
        if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
            return "terminated";
    }
}

static void __attribute__((noreturn)) prefetcher_main(const ws_config *cfg, const char *dir, const ws_proc_id *owner)
{
    prefetcher p = {0};
    ws_spool_state st;
    sigset_t waitset;
    const char *why;
    ws_err err;
    bool clean;
    int lock_fd = -1;

    detach_stdio();
    umask(077);
    if (chdir("/") < 0) {
        /* never fails; the spool path is absolute anyway */
    }
    ws_log_init("walship-prefetch", cfg->log_level);
    signal(SIGPIPE, SIG_IGN); /* the server log may be a pipe to a logger that is gone */
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&waitset);
    sigaddset(&waitset, SIGCHLD);
    sigaddset(&waitset, SIGTERM);
    sigaddset(&waitset, SIGINT);
    sigaddset(&waitset, SIGHUP);
    sigprocmask(SIG_BLOCK, &waitset, NULL);

    p.cfg = cfg;
    p.owner = *owner;
    p.last_change = ws_clock_now();
    p.present = calloc(1025, sizeof *p.present);
    p.done = calloc(DONE_SLOTS, sizeof *p.done);
    if (!p.present || !p.done || ws_fetch_spool_open(dir, false, &p.sp, &err) != 1 ||
        ws_fetch_spool_claim_prefetcher(p.sp, &lock_fd, &err) != 1 || ws_fetch_spool_read_state(p.sp, &st, &err) != 1)
        _exit(0); /* another prefetcher runs, or the spool is gone */
    p.gen = st.generation;
    ws_log(WS_LOG_INFO, "started in %s (pid %d, for PostgreSQL process %d)", dir, (int) getpid(), (int) owner->pid);
    why = run(&p, &waitset, &clean);
    stop_workers(&p);
    if (clean && ws_fetch_spool_remove(p.sp, NULL, &err) < 0)
        ws_log(WS_LOG_WARNING, "could not remove the prefetch spool: %s", err.msg);
    ws_log(WS_LOG_INFO, "stopped (%s)%s", why, clean ? "; spool removed" : "");
    _exit(0);
}

int ws_prefetcher_ensure(const ws_config *cfg, ws_spool *sp, const ws_proc_id *owner, ws_err *err)
{
    void (*old)(int);
    pid_t pid;
    int st;

    if (ws_fetch_spool_prefetcher_running(sp))
        return 0;
    old = signal(SIGCHLD, SIG_DFL); /* so the intermediate child can be waited for */
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        signal(SIGCHLD, old);
        return ws_err_sys(err, errno, "could not start the prefetcher");
    }
    if (pid == 0) {
        /* Its own session (PostgreSQL's signals to the startup process's
         * group do not reach it, so it can clean up after the server), and
         * a second fork so it is nobody's child to wait for. */
        setsid();
        pid = fork();
        if (pid != 0)
            _exit(0);
        prefetcher_main(cfg, ws_fetch_spool_path(sp), owner);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    signal(SIGCHLD, old);
    return 0;
}
