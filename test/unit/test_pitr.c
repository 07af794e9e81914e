/*
 * test_pitr.c - the recovery planner (pitr_plan.h) on archives built in
 * memory: backup choice, stop points, timelines, gaps; and the pieces it
 * stands on: recovery targets (pitr_target.h), times with zones
 * (pg_time.h).
 *
 * The model: each timeline holds a sequence of WAL records (a child
 * timeline starts with a copy of its parent's records up to its switch
 * point, as PostgreSQL's copy of the switch segment does) and a set of
 * archived full segments.  Index entries are computed from the records
 * that end in a segment, as walship-push computes them.  Segments are
 * 1 MiB and records 64 KiB, so a segment holds 16 records.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/pg_time.h"
#include "walship/pitr_plan.h"
#include "walship/pitr_target.h"
#include "walship/wal_index.h"

#define SS     (1u << 20)
#define RS     (64u << 10)
#define MAXTL  5
#define MAXSEG 256
#define SEC    INT64_C(1000000)
#define MAXREC 4096 /* records per timeline */

static ws_err err;

/* ------------------------------------------------------------------------ */
/* The model.                                                                 */

typedef struct mrec {
    uint64_t lsn, end;
    ws_wal_rec_kind kind;
    int64_t time;
    uint32_t xid;
    char name[WS_WAL_RP_NAME_MAX + 1];
} mrec;

typedef struct mtl {
    uint32_t tli;
    mrec *r;
    size_t n, cap;
    uint64_t lsn;      /* where the next record goes */
    bool seg[MAXSEG];  /* archived full segments */
    uint64_t own_from; /* first segment this timeline writes files for */
    bool has_history;
    ws_tli_entry hist[MAXTL];
    size_t nhist;
} mtl;

typedef struct model {
    mtl tl[MAXTL + 1]; /* by tli */
    int64_t clock;
    uint32_t xid;
    ws_backup_record b[8];
    size_t nb;
    ws_repo_wal_list wal;
    ws_pitr_timeline timelines[MAXTL];
    ws_pitr_source src;
    uint64_t records_calls;
} model;

static model M;

static mtl *tl(uint32_t t)
{
    return &M.tl[t];
}

static void m_init(void)
{
    memset(&M, 0, sizeof M);
    M.clock = 700000000 * SEC;
    M.xid = 1000;
    tl(1)->tli = 1;
    tl(1)->lsn = SS; /* WAL starts in segment 1 */
    tl(1)->own_from = 1;
    tl(1)->hist[0] = (ws_tli_entry){.tli = 1, .begin = 0, .end = WS_LSN_END};
    tl(1)->nhist = 1;
}

static mrec *m_rec(uint32_t t, ws_wal_rec_kind kind)
{
    mtl *x = tl(t);
    mrec *r;

    /* Allocated once: tests keep pointers to records. */
    if (!x->r) {
        x->cap = MAXREC;
        x->r = calloc(x->cap, sizeof *x->r);
    }
    ck_assert_uint_lt(x->n, x->cap);
    r = &x->r[x->n++];
    memset(r, 0, sizeof *r);
    r->lsn = x->lsn;
    r->end = x->lsn + RS - 8; /* MAXALIGNed end; a page header follows */
    x->lsn += RS;
    r->kind = kind;
    return r;
}

/* A commit one second after the last event; returns its record. */
static mrec *m_commit(uint32_t t)
{
    mrec *r = m_rec(t, WS_WAL_REC_COMMIT);

    M.clock += SEC;
    r->time = M.clock;
    r->xid = M.xid++;
    return r;
}

static void m_commits(uint32_t t, int n)
{
    while (n-- > 0)
        m_commit(t);
}

static void m_other(uint32_t t, int n)
{
    while (n-- > 0)
        m_rec(t, WS_WAL_REC_OTHER);
}

static mrec *m_restore_point(uint32_t t, const char *name)
{
    mrec *r = m_rec(t, WS_WAL_REC_RESTORE_POINT);

    M.clock += SEC;
    r->time = M.clock;
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

/* A WAL switch: the next record starts the next segment. */
static void m_switch(uint32_t t)
{
    mtl *x = tl(t);
    mrec *r = m_rec(t, WS_WAL_REC_SWITCH);

    r->end = r->lsn + 32;
    x->lsn = (r->lsn / SS + 1) * SS;
}

/* Timeline child branches off parent at the parent's current position:
 * its records start with a copy of the parent's. */
static void m_branch(uint32_t parent, uint32_t child, uint64_t at)
{
    mtl *p = tl(parent), *c = tl(child);

    memset(c, 0, sizeof *c);
    c->tli = child;
    c->cap = MAXREC;
    c->r = calloc(c->cap, sizeof *c->r);
    for (size_t i = 0; i < p->n && p->r[i].end <= at; i++)
        c->r[c->n++] = p->r[i];
    c->lsn = at;
    c->own_from = at / SS;
    memcpy(c->hist, p->hist, sizeof p->hist);
    c->nhist = p->nhist;
    c->hist[c->nhist - 1].end = at;
    c->hist[c->nhist] = (ws_tli_entry){.tli = child, .begin = at, .end = WS_LSN_END};
    c->nhist++;
    c->has_history = true;
}

/* Archives every full segment the timeline has written (from its own first
 * one up to, not including, the one its next record goes into). */
static void m_archive(uint32_t t)
{
    mtl *x = tl(t);

    for (uint64_t s = x->own_from; s < x->lsn / SS && s < MAXSEG; s++)
        x->seg[s] = true;
}

static const char *backup_id(size_t n)
{
    static char ids[8][WS_BACKUP_ID_LEN + 1];

    snprintf(ids[n], sizeof ids[n], "20240101T00%02zuZ-0000000%zu", n, n);
    return ids[n];
}

/* A backup on timeline t: busy ones have commits between start and stop. */
static ws_backup_record *m_backup(uint32_t t, int busy_commits)
{
    ws_backup_record *b = &M.b[M.nb];

    ws_backup_record_init(b);
    snprintf(b->id, sizeof b->id, "%s", backup_id(M.nb));
    M.nb++;
    b->status = WS_BACKUP_COMPLETE;
    b->sysid = 42;
    b->seg_size = SS;
    b->has_start = b->has_stop = true;
    b->start_tli = b->stop_tli = t;
    b->start_lsn = tl(t)->lsn;
    b->has_times = true;
    M.clock += SEC;
    b->start_time = M.clock;
    m_other(t, 1); /* the checkpoint */
    m_commits(t, busy_commits);
    m_other(t, 1); /* the backup end record */
    b->stop_lsn = tl(t)->r[tl(t)->n - 1].end;
    b->checkpoint_lsn = b->start_lsn;
    M.clock += SEC;
    b->stop_time = M.clock;
    return b;
}

/* --- the source ---------------------------------------------------------- */

static void index_of(uint32_t t, uint64_t segno, ws_wal_index *ix)
{
    mtl *x = tl(t);
    uint64_t lo = segno * SS, hi = lo + SS;
    ws_wal_name w;

    ws_wal_index_init(ix);
    ws_wal_name_from_segno(t, segno, SS, &w);
    ws_wal_name_format(&w, ix->segment);
    ix->tli = t;
    ix->seg_size = SS;
    ix->sysid = 42;
    ix->stop = WS_WAL_STOP_END;
    ix->stop_lsn = hi;
    for (size_t i = 0; i < x->n; i++) {
        mrec *r = &x->r[i];
        ws_wal_xact_range *xr;

        if (r->end <= lo || r->end > hi)
            continue;
        if (ix->records++ == 0)
            ix->first_lsn = r->lsn;
        ix->end_lsn = r->end;
        if (r->kind == WS_WAL_REC_SWITCH) {
            ix->stop = WS_WAL_STOP_SWITCH;
            ix->stop_lsn = r->end;
        }
        xr = r->kind == WS_WAL_REC_COMMIT ? &ix->commits : r->kind == WS_WAL_REC_ABORT ? &ix->aborts : NULL;
        if (xr) {
            if (xr->count++ == 0) {
                xr->time_min = xr->time_max = r->time;
                xr->xid_min = xr->xid_max = r->xid;
            }
            if (r->time < xr->time_min)
                xr->time_min = r->time;
            if (r->time > xr->time_max)
                xr->time_max = r->time;
            if (ws_wal_index_xid_precedes(r->xid, xr->xid_min))
                xr->xid_min = r->xid;
            if (ws_wal_index_xid_precedes(xr->xid_max, r->xid))
                xr->xid_max = r->xid;
        }
        if (r->kind == WS_WAL_REC_RESTORE_POINT) {
            ix->restore_points = realloc(ix->restore_points, (ix->n_restore_points + 1) * sizeof *ix->restore_points);
            ws_wal_restore_point *rp = &ix->restore_points[ix->n_restore_points++];
            memset(rp, 0, sizeof *rp);
            snprintf(rp->name, sizeof rp->name, "%s", r->name);
            rp->time = r->time;
            rp->lsn = r->lsn;
            rp->end_lsn = r->end;
        }
    }
}

static int src_index(void *arg, const ws_wal_name *segs, size_t n, ws_wal_index *out, int *found, ws_err *e)
{
    (void) arg;
    for (size_t i = 0; i < n; i++) {
        uint64_t segno;

        ck_assert_int_eq(ws_wal_name_segno(&segs[i], SS, &segno, e), 0);
        ck_assert_msg(tl(segs[i].tli)->seg[segno], "index of a segment that is not archived");
        index_of(segs[i].tli, segno, &out[i]);
        found[i] = 1;
    }
    return 0;
}

static int src_records(void *arg, const ws_wal_name *prev, const ws_wal_name *seg, ws_pitr_record_fn fn, void *fn_arg,
                       ws_err *e)
{
    uint64_t segno, lo, hi;
    mtl *x = tl(seg->tli);

    (void) arg;
    (void) prev;
    M.records_calls++;
    ck_assert_int_eq(ws_wal_name_segno(seg, SS, &segno, e), 0);
    ck_assert_msg(x->seg[segno], "records of a segment that is not archived");
    lo = segno * SS;
    hi = lo + SS;
    for (size_t i = 0; i < x->n; i++) {
        ws_wal_record r;

        if (x->r[i].end <= lo || x->r[i].end > hi)
            continue;
        memset(&r, 0, sizeof r);
        r.lsn = x->r[i].lsn;
        r.end_lsn = x->r[i].end;
        r.kind = x->r[i].kind;
        r.time = x->r[i].time;
        r.target_xid = x->r[i].xid;
        snprintf(r.name, sizeof r.name, "%s", x->r[i].name);
        if (fn(fn_arg, &r, e) < 0)
            return -1;
    }
    return 0;
}

/* Builds the source from the model: listing, timelines, backups. */
static const ws_pitr_source *m_source(void)
{
    ws_repo_wal_list *l = &M.wal;
    size_t nt = 0;

    ws_repo_wal_list_free(l);
    for (uint32_t t = 1; t <= MAXTL; t++) {
        mtl *x = tl(t);

        if (!x->tli)
            continue;
        for (uint64_t s = 0; s < MAXSEG; s++) {
            if (!x->seg[s])
                continue;
            l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
            memset(&l->v[l->n], 0, sizeof *l->v);
            ws_wal_name_from_segno(t, s, SS, &l->v[l->n].name);
            l->v[l->n].stored_size = SS / 4;
            l->n++;
        }
        M.timelines[nt].tli = t;
        M.timelines[nt].has_history = x->has_history;
        M.timelines[nt].h.n = x->nhist;
        M.timelines[nt].h.e = x->hist;
        nt++;
    }
    ck_assert_int_eq(ws_repo_wal_list_sort(l, SS, &err), 0);
    memset(&M.src, 0, sizeof M.src);
    M.src.seg_size = SS;
    M.src.sysid = 42;
    M.src.backups = M.b;
    M.src.nbackups = M.nb;
    M.src.timelines = M.timelines;
    M.src.ntimelines = nt;
    M.src.wal = l;
    M.src.index_batch = src_index;
    M.src.records = src_records;
    return &M.src;
}

static void m_free(void)
{
    for (uint32_t t = 1; t <= MAXTL; t++)
        free(tl(t)->r);
    ws_repo_wal_list_free(&M.wal);
}

static ws_pitr_plan_opts opts_time(int64_t t)
{
    ws_pitr_plan_opts o;

    memset(&o, 0, sizeof o);
    ws_pitr_target_init(&o.target);
    o.target.kind = WS_PITR_TIME;
    o.target.time = t;
    return o;
}

static ws_pitr_plan_opts opts_kind(ws_pitr_target_kind k)
{
    ws_pitr_plan_opts o;

    memset(&o, 0, sizeof o);
    ws_pitr_target_init(&o.target);
    o.target.kind = k;
    return o;
}

static void plan(const ws_pitr_plan_opts *o, ws_pitr_plan *p)
{
    ws_pitr_plan_init(p);
    ws_err_clear(&err);
    ck_assert_msg(ws_pitr_plan_make(m_source(), o, p, &err) == 0, "%s", err.msg);
}

static const char *chosen(const ws_pitr_plan *p)
{
    return p->backup == SIZE_MAX ? "(none)" : M.b[p->backup].id;
}

static const char *why_rejected(const ws_pitr_plan *p, const char *id)
{
    for (size_t i = 0; i < p->nrejected; i++)
        if (strcmp(p->rejected[i].id, id) == 0)
            return p->rejected[i].why;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Backup choice on one timeline.                                            */

/* B1, commits, B2 (busy), commits, switch: the common history. */
typedef struct hist1 {
    mrec *before_b2; /* a commit between B1's end and B2's start */
    mrec *during_b2; /* a commit between B2's start and stop */
    mrec *after_b2;
} hist1;

static hist1 h1;

static void build_linear(void)
{
    m_init();
    m_commits(1, 5);
    m_backup(1, 0);
    m_commits(1, 20);
    h1.before_b2 = &tl(1)->r[tl(1)->n - 3];
    m_backup(1, 3);
    /* The commit during backup 2: the one record before its end. */
    h1.during_b2 = &tl(1)->r[tl(1)->n - 3];
    m_commits(1, 20);
    h1.after_b2 = &tl(1)->r[tl(1)->n - 5];
    m_switch(1);
    m_archive(1);
}

START_TEST(test_time_between_backups)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;
    int64_t t;
    mrec *next;

    build_linear();
    t = h1.before_b2->time + SEC / 2;
    next = h1.before_b2 + 1;
    o = opts_time(t);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(0));
    ck_assert_uint_eq(p.timeline, 1);
    ck_assert(p.stop.set && !p.stop_after);
    ck_assert_uint_eq(p.stop.lsn, next->lsn);
    ck_assert_int_eq(p.stop.time, next->time);
    ck_assert(p.last_kept.set);
    ck_assert_uint_eq(p.last_kept.lsn, h1.before_b2->lsn);
    ck_assert_uint_eq(p.stop_lsn, next->lsn);
    /* B2 is later, and rejected because it is consistent after R. */
    ck_assert_ptr_nonnull(why_rejected(&p, backup_id(1)));
    ck_assert_ptr_nonnull(strstr(why_rejected(&p, backup_id(1)), "consistent"));
    /* The WAL: from B1's start segment to the segment holding R. */
    ck_assert_uint_eq(p.wal_count, next->end / SS - M.b[0].start_lsn / SS + 1);
    ck_assert_uint_gt(p.index_reads, 0);
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_time_after_second_backup)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;

    build_linear();
    o = opts_time(h1.after_b2->time);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(1));
    ck_assert_uint_eq(p.stop.lsn, (h1.after_b2 + 1)->lsn);
    ck_assert_uint_eq(p.last_kept.lsn, h1.after_b2->lsn);
    ck_assert_uint_eq(p.nrejected, 0);
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_time_during_second_backup)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;

    build_linear();
    /* Before the commit written while backup 2 ran. */
    o = opts_time(h1.during_b2->time - SEC / 2);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(0));
    ck_assert_uint_eq(p.stop.lsn, h1.during_b2->lsn);
    ck_assert_ptr_nonnull(why_rejected(&p, backup_id(1)));
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_exclusive_time)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;

    build_linear();
    /* Exactly a commit's time: inclusive keeps it, exclusive stops before it. */
    o = opts_time(h1.after_b2->time);
    o.target.inclusive = false;
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.stop.lsn, h1.after_b2->lsn);
    ck_assert_uint_eq(p.last_kept.lsn, (h1.after_b2 - 1)->lsn);
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_idle_backup_after_target)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;
    mrec *c1, *c2;
    int64_t t;

    build_linear();
    /* Commits, then a backup on an idle database, then commits again. */
    m_commits(1, 3);
    c1 = &tl(1)->r[tl(1)->n - 3];
    c2 = c1 + 1;
    t = c1->time + SEC / 2; /* c2 and c3 end after the target, before backup 3 */
    m_other(1, 20);
    M.clock += 60 * SEC;
    m_backup(1, 0);
    m_commits(1, 10);
    m_switch(1);
    m_archive(1);
    o = opts_time(t);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(1));
    ck_assert_uint_eq(p.stop.lsn, c2->lsn);
    ck_assert_ptr_nonnull(why_rejected(&p, backup_id(2)));
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_older_than_every_backup)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;

    build_linear();
    o = opts_time(tl(1)->r[0].time - 3600 * SEC);
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_NO_BACKUP);
    ck_assert_ptr_nonnull(strstr(p.problem, "older than every backup"));
    ck_assert_ptr_nonnull(why_rejected(&p, backup_id(0)));
    ck_assert_ptr_nonnull(why_rejected(&p, backup_id(1)));
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_time_beyond_archive)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;
    char newest[WS_PG_TIME_TEXT_MAX];

    build_linear();
    o = opts_time(M.clock + 600 * SEC);
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_UNREACHED);
    ck_assert(p.has_newest);
    ws_pg_time_format_utc(M.clock, newest);
    ck_assert_int_eq(p.newest_time, M.clock);
    ck_assert_msg(strstr(p.problem, newest) && strstr(p.problem, "10 min"), "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(1));
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_latest_and_immediate)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o = opts_kind(WS_PITR_LATEST);
    char first[WS_WAL_NAME_MAX];
    ws_wal_name w;

    build_linear();
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(1));
    ck_assert(!p.stop.set);
    ck_assert_uint_eq(p.stop_lsn, tl(1)->r[tl(1)->n - 1].end);
    ck_assert(p.has_newest);
    ck_assert_int_eq(p.newest_time, M.clock);
    ws_wal_name_from_segno(1, M.b[1].start_lsn / SS, SS, &w);
    ws_wal_name_format(&w, first);
    ck_assert_str_eq(p.wal_first, first);
    ws_pitr_plan_free(&p);

    o = opts_kind(WS_PITR_IMMEDIATE);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(1));
    ck_assert_uint_eq(p.stop_lsn, M.b[1].stop_lsn);
    ck_assert_uint_eq(p.timeline, 1);
    ck_assert_uint_eq(p.wal_count, M.b[1].stop_lsn / SS - M.b[1].start_lsn / SS + 1);
    ws_pitr_plan_free(&p);

    o.backup_id = backup_id(0);
    plan(&o, &p);
    ck_assert_str_eq(chosen(&p), backup_id(0));
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_xid_name_lsn)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;
    mrec *rp, *c;

    build_linear();
    m_commits(1, 2);
    rp = m_restore_point(1, "before-upgrade");
    m_commits(1, 4);
    c = &tl(1)->r[tl(1)->n - 2];
    m_switch(1);
    m_archive(1);

    o = opts_kind(WS_PITR_NAME);
    snprintf(o.target.name, sizeof o.target.name, "before-upgrade");
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert(p.stop_after);
    ck_assert_uint_eq(p.stop.lsn, rp->lsn);
    ck_assert_uint_eq(p.stop_lsn, rp->end);
    ck_assert_str_eq(chosen(&p), backup_id(1));
    ws_pitr_plan_free(&p);

    snprintf(o.target.name, sizeof o.target.name, "no-such-point");
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_UNREACHED);
    ck_assert_ptr_nonnull(strstr(p.problem, "no-such-point"));
    ws_pitr_plan_free(&p);

    o = opts_kind(WS_PITR_XID);
    o.target.xid = c->xid;
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert(p.stop_after);
    ck_assert_uint_eq(p.stop.lsn, c->lsn);
    ck_assert_uint_eq(p.last_kept.lsn, c->lsn);
    ws_pitr_plan_free(&p);

    /* An xid that committed before backup 2 started: backup 1. */
    o.target.xid = h1.before_b2->xid;
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(0));
    ck_assert_ptr_nonnull(why_rejected(&p, backup_id(1)));
    ws_pitr_plan_free(&p);

    o = opts_kind(WS_PITR_LSN);
    o.target.lsn = c->lsn - 100; /* inside the record before c */
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.stop.lsn, c->lsn);
    ck_assert(p.stop_after);
    ws_pitr_plan_free(&p);

    o.target.lsn = tl(1)->lsn + 10 * SS;
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_UNREACHED);
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_gap)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o = opts_kind(WS_PITR_LATEST);
    uint64_t hole;
    char name[WS_WAL_NAME_MAX];
    ws_wal_name w;

    build_linear();
    m_commits(1, 40);
    m_switch(1);
    m_archive(1);
    hole = M.b[1].stop_lsn / SS + 2;
    tl(1)->seg[hole] = false;
    ws_wal_name_from_segno(1, hole, SS, &w);
    ws_wal_name_format(&w, name);
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_GAP);
    ck_assert_str_eq(p.gap_segment, name);
    ck_assert_msg(strstr(p.problem, name), "%s", p.problem);
    ck_assert(p.furthest.set);
    ck_assert_uint_eq(p.furthest.end_lsn / SS, hole - 1);
    ws_pitr_plan_free(&p);

    o.force = true;
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_FORCED);
    ck_assert(p.stop.set && p.stop_after);
    ck_assert_uint_eq(p.stop.lsn, p.furthest.lsn);
    ws_pitr_plan_free(&p);

    /* A hole before backup 2 is consistent: backup 2 cannot be used. */
    tl(1)->seg[hole] = true;
    tl(1)->seg[M.b[1].start_lsn / SS] = false;
    o.force = false;
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_GAP);
    ck_assert_str_eq(chosen(&p), backup_id(0));
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Timelines.                                                                 */

/* Timeline 1 with two backups; timeline 2 branches off at `at` (a restore
 * promoted there); timeline 1 goes on writing when keep_writing. */
static uint64_t build_branch(bool keep_writing, int64_t *t_before, int64_t *t_tl1_after, int64_t *t_tl2)
{
    uint64_t at;

    build_linear();
    m_commits(1, 10);
    m_switch(1);
    m_commits(1, 10);
    *t_before = tl(1)->r[tl(1)->n - 5].time + SEC / 2;
    at = tl(1)->r[tl(1)->n - 3].end;
    if (keep_writing) {
        m_commits(1, 30);
        *t_tl1_after = tl(1)->r[tl(1)->n - 10].time + SEC / 2;
        m_switch(1);
        m_archive(1);
    } else {
        /* Promotion: timeline 1's last segment is only a .partial. */
        tl(1)->n -= 2;
        tl(1)->lsn = at;
        m_archive(1);
        *t_tl1_after = 0;
    }
    m_branch(1, 2, at);
    M.clock += 3600 * SEC;
    m_other(2, 1); /* end of recovery */
    m_commits(2, 10);
    m_backup(2, 0);
    m_commits(2, 30);
    *t_tl2 = tl(2)->r[tl(2)->n - 10].time + SEC / 2;
    m_switch(2);
    m_archive(2);
    return at;
}

START_TEST(test_timeline_promoted)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;
    int64_t before, after, on2;

    build_branch(false, &before, &after, &on2);
    o = opts_kind(WS_PITR_LATEST);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 2);
    ck_assert_str_eq(chosen(&p), backup_id(2));
    ws_pitr_plan_free(&p);

    /* A time on timeline 2: its backup. */
    o = opts_time(on2);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 2);
    ck_assert_str_eq(chosen(&p), backup_id(2));
    ck_assert_uint_eq(p.stop.tli, 2);
    ws_pitr_plan_free(&p);

    /* A time on timeline 1 before the switch, in the segment timeline 1
     * archived only as .partial: read from timeline 2's copy. */
    o = opts_time(before);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.stop.tli, 1);
    ck_assert_str_eq(chosen(&p), backup_id(1));
    ck_assert_uint_eq(p.timeline, 2);
    ck_assert_uint_eq(p.wal_last[7], '2');
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_timeline_ambiguous)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;
    int64_t before, tl1_after, on2;

    build_branch(true, &before, &tl1_after, &on2);
    /* Timeline 1 kept writing after timeline 2 branched off: a time after
     * the branch point is reached along both paths, at different places. */
    o = opts_time(tl1_after);
    /* Timeline 2's commits are an hour later: its first commit after the
     * target is where it stops. */
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_AMBIGUOUS);
    ck_assert_uint_eq(p.noutcomes, 2);
    ck_assert(p.outcomes[0].has_times && p.outcomes[1].has_times);
    ck_assert_ptr_nonnull(strstr(p.problem, "--target-timeline"));
    ws_pitr_plan_free(&p);

    o.tli_mode = WS_PITR_TLI_NUMBER;
    o.tli = 1;
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 1);
    ws_pitr_plan_free(&p);

    /* Before the branch point both paths stop at the same record: one outcome. */
    o = opts_time(before);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 1);
    ck_assert_uint_eq(p.stop.tli, 1);
    ws_pitr_plan_free(&p);

    /* latest: two ends. */
    o = opts_kind(WS_PITR_LATEST);
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_AMBIGUOUS);
    ws_pitr_plan_free(&p);

    o.tli_mode = WS_PITR_TLI_LATEST;
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 2);
    /* Backup 2 of timeline 1 was taken before the branch point: usable;
     * the newest on the path is timeline 2's. */
    ck_assert_str_eq(chosen(&p), backup_id(2));
    ws_pitr_plan_free(&p);

    o.tli_mode = WS_PITR_TLI_CURRENT;
    o.backup_id = backup_id(1);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 1);
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

/* A backup of timeline 1 taken after timeline 2 branched off holds WAL that
 * is not on timeline 2's path: a target on timeline 2 never uses it, and the
 * plan says why. */
START_TEST(test_ancestor_backup_after_switch)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;
    uint64_t at;
    int64_t on2;
    const char *why;

    build_linear(); /* backups 0 and 1 */
    m_commits(1, 10);
    at = tl(1)->r[tl(1)->n - 3].end;
    m_commits(1, 5);
    m_backup(1, 0); /* backup 2: timeline 1, after the branch point */
    m_commits(1, 10);
    m_switch(1);
    m_archive(1);
    m_branch(1, 2, at);
    M.clock += 3600 * SEC;
    m_other(2, 1);
    m_commits(2, 20);
    on2 = tl(2)->r[tl(2)->n - 5].time + SEC / 2;
    m_switch(2);
    m_archive(2);

    o = opts_time(on2);
    o.tli_mode = WS_PITR_TLI_NUMBER;
    o.tli = 2;
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 2);
    ck_assert_str_eq(chosen(&p), backup_id(1));
    why = why_rejected(&p, backup_id(2));
    ck_assert_msg(why && strstr(why, "switch point"), "%s", why ? why : "(backup 2 not listed)");
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

/* A history whose switch point goes back (t/028_pitr_timelines.pl): timeline
 * 2 branches at A, timeline 3 branches off timeline 2's path at B < A (in
 * WAL timeline 2 copied from timeline 1). */
START_TEST(test_timeline_backward_switch)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;
    int64_t before, after, on2;
    uint64_t A, B;
    mrec *last3;

    A = build_branch(false, &before, &after, &on2);
    /* B: a few records before A, on timeline 1. */
    B = A - 4 * RS;
    ck_assert_uint_eq(B / SS, A / SS);
    /* Timeline 3 = timeline 2's history, then "2 <TAB> B". */
    {
        mtl *c = tl(3);

        memset(c, 0, sizeof *c);
        c->tli = 3;
        c->cap = MAXREC;
        c->r = calloc(c->cap, sizeof *c->r);
        for (size_t i = 0; i < tl(1)->n && tl(1)->r[i].end <= B; i++)
            c->r[c->n++] = tl(1)->r[i];
        c->lsn = B;
        c->own_from = B / SS;
        c->hist[0] = (ws_tli_entry){.tli = 1, .begin = 0, .end = A};
        c->hist[1] = (ws_tli_entry){.tli = 2, .begin = A, .end = B};
        c->hist[2] = (ws_tli_entry){.tli = 3, .begin = B, .end = WS_LSN_END};
        c->nhist = 3;
        c->has_history = true;
    }
    M.clock += 7200 * SEC;
    m_other(3, 1);
    m_commits(3, 25);
    last3 = &tl(3)->r[tl(3)->n - 1];
    m_switch(3);
    m_archive(3);

    o = opts_kind(WS_PITR_LATEST);
    o.tli_mode = WS_PITR_TLI_NUMBER;
    o.tli = 3;
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 3);
    ck_assert_str_eq(chosen(&p), backup_id(1)); /* timeline 2's backup is not on this path */
    ck_assert_ptr_nonnull(why_rejected(&p, backup_id(2)));
    ck_assert_int_eq(p.newest_time, last3->time);
    ws_pitr_plan_free(&p);

    /* Automatic: timeline 3 and timeline 2 end in different places. */
    o.tli_mode = WS_PITR_TLI_AUTO;
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_AMBIGUOUS);
    ws_pitr_plan_free(&p);

    /* A time on timeline 3 is only on its path. */
    o = opts_time(last3->time - 5 * SEC);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_uint_eq(p.timeline, 3);
    ck_assert_uint_eq(p.stop.tli, 3);
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

START_TEST(test_backup_override_and_unknown)
{
    ws_pitr_plan p;
    ws_pitr_plan_opts o;

    build_linear();
    o = opts_time(h1.after_b2->time);
    o.backup_id = backup_id(0);
    plan(&o, &p);
    ck_assert_msg(p.status == WS_PITR_PLAN_OK, "%s", p.problem);
    ck_assert_str_eq(chosen(&p), backup_id(0));
    ws_pitr_plan_free(&p);

    o.backup_id = "20991231T000000Z-FFFFFFFF";
    plan(&o, &p);
    ck_assert_int_eq(p.status, WS_PITR_PLAN_NO_BACKUP);
    ck_assert_ptr_nonnull(strstr(p.problem, "not in the catalog"));
    ws_pitr_plan_free(&p);

    /* A running backup is never chosen. */
    M.b[1].status = WS_BACKUP_RUNNING;
    o.backup_id = NULL;
    plan(&o, &p);
    ck_assert_str_eq(chosen(&p), backup_id(0));
    ck_assert_ptr_nonnull(why_rejected(&p, backup_id(1)));
    ws_pitr_plan_free(&p);
    m_free();
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Targets and times.                                                        */

START_TEST(test_time_parse)
{
    int64_t a, b;
    ws_zone_abbrev cest = {"CEST", 7200};

    ck_assert_int_eq(ws_pg_time_parse("2024-05-01 12:00:00+00", NULL, 0, NULL, &a, &err), 0);
    ck_assert_int_eq(ws_pg_time_parse("2024-05-01T14:00:00 +02:00", NULL, 0, NULL, &b, &err), 0);
    ck_assert_int_eq(a, b);
    ck_assert_int_eq(ws_pg_time_parse("2024-05-01 14:00:00.5 Europe/Berlin", NULL, 0, NULL, &b, &err), 0);
    ck_assert_int_eq(b - a, 500000);
    ck_assert_int_eq(ws_pg_time_parse("2024-05-01 14:00:00.000001 CEST", &cest, 1, "UTC", &b, &err), 0);
    ck_assert_int_eq(b - a, 1);
    ck_assert_int_eq(ws_pg_time_parse("2024-05-01 12:00:00 UTC", NULL, 0, NULL, &b, &err), 0);
    ck_assert_int_eq(a, b);
    /* 2000-01-01 00:00:00 UTC is 0. */
    ck_assert_int_eq(ws_pg_time_parse("2000-01-01 00:00:00Z", NULL, 0, NULL, &b, &err), 0);
    ck_assert_int_eq(b, 0);
    /* The zone is required. */
    ck_assert_int_eq(ws_pg_time_parse("2024-05-01 12:00:00", NULL, 0, NULL, &b, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no time zone"));
    /* Unknown abbreviations and zones are refused, not taken for UTC. */
    ck_assert_int_eq(ws_pg_time_parse("2024-05-01 12:00:00 XYZT", NULL, 0, "UTC", &b, &err), -1);
    ck_assert_int_eq(ws_pg_time_parse("2024-05-01 12:00:00 Mars/Olympus", NULL, 0, NULL, &b, &err), -1);
    /* An hour that happens twice, and one that does not exist. */
    ck_assert_int_eq(ws_pg_time_parse("2023-10-29 02:30:00 Europe/Berlin", NULL, 0, NULL, &b, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "ambiguous"));
    ck_assert_int_eq(ws_pg_time_parse("2023-03-26 02:30:00 Europe/Berlin", NULL, 0, NULL, &b, &err), -1);
    ck_assert_int_eq(ws_pg_time_parse("2023-02-30 12:00:00+00", NULL, 0, NULL, &b, &err), -1);
    ck_assert_int_eq(ws_pg_time_parse("2023-02-01 12:00:00.1234567+00", NULL, 0, NULL, &b, &err), -1);
}
END_TEST

START_TEST(test_time_text)
{
    char out[WS_PG_TIME_TEXT_MAX];
    ws_zone_abbrev z;

    ws_pg_time_format_utc(INT64_C(767795696123456), out);
    ck_assert_str_eq(out, "2024-04-30 12:34:56.123456+00");
    ck_assert_int_eq(ws_pg_time_abbrev_of("2024-04-30 14:34:56 CEST", INT64_C(767795696000000), &z), 0);
    ck_assert_str_eq(z.abbr, "CEST");
    ck_assert_int_eq(z.offset, 7200);
    ws_pg_time_format_span(INT64_C(150) * SEC, out);
    ck_assert_str_eq(out, "2 min 30 s");
}
END_TEST

START_TEST(test_targets)
{
    ws_pitr_target t;
    ws_wal_record r;

    ws_pitr_target_init(&t);
    ck_assert_int_eq(ws_pitr_target_set_xid(&t, "4294967296012", &err), 0);
    ck_assert_uint_eq(t.xid, 12); /* the epoch is cut off, as PostgreSQL does */
    ck_assert_int_eq(ws_pitr_target_set_xid(&t, "-5", &err), -1);
    ck_assert_int_eq(ws_pitr_target_set_lsn(&t, "1/A0", &err), 0);
    ck_assert_uint_eq(t.lsn, UINT64_C(0x1000000A0));
    ck_assert_int_eq(ws_pitr_target_set_lsn(&t, "zz", &err), -1);
    ck_assert_int_eq(ws_pitr_target_set_name(&t, "", &err), -1);
    ck_assert_int_eq(ws_pitr_target_set_keyword(&t, "soon", &err), -1);

    memset(&r, 0, sizeof r);
    r.kind = WS_WAL_REC_ABORT;
    r.time = 100;
    t.kind = WS_PITR_TIME;
    t.time = 100;
    t.inclusive = true;
    ck_assert(!ws_pitr_target_matches(&t, &r)); /* inclusive: stops after a later one */
    t.inclusive = false;
    ck_assert(ws_pitr_target_matches(&t, &r)); /* aborts count too */
    r.kind = WS_WAL_REC_PREPARE;
    ck_assert(!ws_pitr_target_matches(&t, &r));
    t.kind = WS_PITR_NAME;
    ck_assert(ws_pitr_target_stops_after(&t));
    t.kind = WS_PITR_TIME;
    ck_assert(!ws_pitr_target_stops_after(&t));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pitr");
    TCase *c = tcase_create("planner");

    tcase_add_test(c, test_time_between_backups);
    tcase_add_test(c, test_time_after_second_backup);
    tcase_add_test(c, test_time_during_second_backup);
    tcase_add_test(c, test_exclusive_time);
    tcase_add_test(c, test_idle_backup_after_target);
    tcase_add_test(c, test_older_than_every_backup);
    tcase_add_test(c, test_time_beyond_archive);
    tcase_add_test(c, test_latest_and_immediate);
    tcase_add_test(c, test_xid_name_lsn);
    tcase_add_test(c, test_gap);
    tcase_add_test(c, test_timeline_promoted);
    tcase_add_test(c, test_timeline_ambiguous);
    tcase_add_test(c, test_timeline_backward_switch);
    tcase_add_test(c, test_ancestor_backup_after_switch);
    tcase_add_test(c, test_backup_override_and_unknown);
    suite_add_tcase(s, c);
    c = tcase_create("targets");
    tcase_add_test(c, test_time_parse);
    tcase_add_test(c, test_time_text);
    tcase_add_test(c, test_targets);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    int failed;

    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? 1 : 0;
}
