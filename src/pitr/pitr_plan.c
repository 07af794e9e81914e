/* pitr_plan.c - the recovery planner (pitr_plan.h; doc/restore.md). */
#include "walship/pitr_plan.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/buf.h"
#include "walship/pg_time.h"

#define BATCH         16   /* index entries asked for at once */
#define BACK_MAX      4096 /* segments looked at before a backup's start */
#define NEWEST_BACK   64   /* segments looked at from the end for the newest commit */
#define ONE_SECOND_US INT64_C(1000000)

/* ------------------------------------------------------------------------ */
/* The index cache: every entry read once per plan.                           */

typedef struct cached {
    bool used;
    uint32_t tli;
    uint64_t segno;
    ws_wal_index ix;
} cached;

typedef struct planner {
    const ws_pitr_source *src;
    const ws_pitr_plan_opts *o;
    ws_pitr_plan *plan;
    uint32_t ss;
    cached *cache;
    size_t cache_cap, cache_n;
} planner;

static size_t slot_of(const planner *pl, uint32_t tli, uint64_t segno)
{
    uint64_t h = (segno * UINT64_C(0x9E3779B97F4A7C15)) ^ ((uint64_t) tli * UINT64_C(0xC2B2AE3D27D4EB4F));

    return (size_t) (h >> 17) & (pl->cache_cap - 1);
}

static cached *cache_find(planner *pl, uint32_t tli, uint64_t segno)
{
    if (!pl->cache_cap)
        return NULL;
    for (size_t i = slot_of(pl, tli, segno);; i = (i + 1) & (pl->cache_cap - 1)) {
        cached *c = &pl->cache[i];

        if (!c->used)
            return NULL;
        if (c->tli == tli && c->segno == segno)
            return c;
    }
}

static int cache_grow(planner *pl, ws_err *err)
{
    size_t cap = pl->cache_cap ? pl->cache_cap * 2 : 1024;
    cached *old = pl->cache, *v = calloc(cap, sizeof *v);
    size_t oldcap = pl->cache_cap;

    if (!v)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    pl->cache = v;
    pl->cache_cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].used)
            continue;
        for (size_t j = slot_of(pl, old[i].tli, old[i].segno);; j = (j + 1) & (cap - 1))
            if (!v[j].used) {
                v[j] = old[i];
                break;
            }
    }
    free(old);
    return 0;
}

/* Takes ix (moved in). */
static int cache_put(planner *pl, uint32_t tli, uint64_t segno, ws_wal_index *ix, ws_err *err)
{
    if ((pl->cache_n + 1) * 2 > pl->cache_cap && cache_grow(pl, err) < 0)
        return -1;
    for (size_t i = slot_of(pl, tli, segno);; i = (i + 1) & (pl->cache_cap - 1)) {
        cached *c = &pl->cache[i];

        if (!c->used) {
            c->used = true;
            c->tli = tli;
            c->segno = segno;
            c->ix = *ix;
            pl->cache_n++;
            return 0;
        }
    }
}

static void cache_free(planner *pl)
{
    for (size_t i = 0; i < pl->cache_cap; i++)
        if (pl->cache[i].used)
            ws_wal_index_free(&pl->cache[i].ix);
    free(pl->cache);
}

/* ------------------------------------------------------------------------ */
/* Small helpers.                                                             */

const char *ws_pitr_status_name(ws_pitr_status s)
{
    static const char *const names[] = {"ok", "forced", "gap", "ambiguous", "unreached", "no-backup"};

    return (unsigned) s < sizeof names / sizeof names[0] ? names[s] : "?";
}

void ws_pitr_plan_init(ws_pitr_plan *p)
{
    memset(p, 0, sizeof *p);
    p->backup = SIZE_MAX;
}

void ws_pitr_plan_free(ws_pitr_plan *p)
{
    ws_tli_history_free(&p->path);
    free(p->rejected);
    for (size_t i = 0; i < p->noutcomes; i++)
        free(p->outcomes[i].tlis);
    free(p->outcomes);
    for (size_t i = 0; i < p->nnotes; i++)
        free(p->notes[i]);
    free(p->notes);
    ws_pitr_plan_init(p);
}

const ws_pitr_timeline *ws_pitr_source_timeline(const ws_pitr_source *src, uint32_t tli)
{
    for (size_t i = 0; i < src->ntimelines; i++)
        if (src->timelines[i].tli == tli)
            return &src->timelines[i];
    return NULL;
}

static int note(ws_pitr_plan *p, ws_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int note(ws_pitr_plan *p, ws_err *err, const char *fmt, ...)
{
    ws_buf b = {0};
    va_list ap;
    char line[1024];
    void *v = p->notes;
    size_t cap = p->nnotes;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < p->nnotes; i++)
        if (strcmp(p->notes[i], line) == 0)
            return 0;
    if (ws_buf_append(&b, line, strlen(line), err) < 0)
        return -1;
    /* Grow one at a time: notes are few. */
    if (ws_buf_grow_array(&v, &cap, p->nnotes + 1, sizeof *p->notes, err) < 0) {
        ws_buf_free(&b);
        return -1;
    }
    p->notes = v;
    p->notes[p->nnotes++] = b.data;
    return 0;
}

/* Backups not chosen, with the reason; the first reason given stands. */
typedef struct rejlist {
    ws_pitr_rejected *v;
    size_t n, cap;
} rejlist;

static int reject(rejlist *l, const ws_backup_record *b, ws_err *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int reject(rejlist *l, const ws_backup_record *b, ws_err *err, const char *fmt, ...)
{
    va_list ap;
    void *v = l->v;

    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].id, b->id) == 0)
            return 0;
    if (ws_buf_grow_array(&v, &l->cap, l->n + 1, sizeof *l->v, err) < 0)
        return -1;
    l->v = v;
    snprintf(l->v[l->n].id, sizeof l->v[l->n].id, "%s", b->id);
    va_start(ap, fmt);
    vsnprintf(l->v[l->n].why, sizeof l->v[l->n].why, fmt, ap);
    va_end(ap);
    l->n++;
    return 0;
}

static int reject_copy(rejlist *to, const rejlist *from, const ws_pitr_source *src, ws_err *err)
{
    for (size_t i = 0; i < from->n; i++)
        for (size_t j = 0; j < src->nbackups; j++)
            if (strcmp(src->backups[j].id, from->v[i].id) == 0 &&
                reject(to, &src->backups[j], err, "%s", from->v[i].why) < 0)
                return -1;
    return 0;
}

static void seg_name(uint32_t tli, uint64_t segno, uint32_t ss, char out[WS_WAL_NAME_MAX])
{
    ws_wal_name w;

    ws_wal_name_from_segno(tli, segno, ss, &w);
    ws_wal_name_format(&w, out);
}

static void time_text(int64_t t, char out[WS_PG_TIME_TEXT_MAX])
{
    ws_pg_time_format_utc(t, out);
}

static bool ends_xact(ws_wal_rec_kind k)
{
    return k == WS_WAL_REC_COMMIT || k == WS_WAL_REC_COMMIT_PREPARED || k == WS_WAL_REC_ABORT ||
           k == WS_WAL_REC_ABORT_PREPARED;
}

static bool xid_in(uint32_t x, uint32_t lo, uint32_t hi)
{
    return !ws_wal_index_xid_precedes(x, lo) && !ws_wal_index_xid_precedes(hi, x);
}

/* ------------------------------------------------------------------------ */
/* Walking a path as recovery reads it.                                       */

/* The segment of lsn (the one holding the byte before it when at_end). */
static uint64_t segno_of(const planner *pl, uint64_t lsn)
{
    return lsn / pl->ss;
}

static ssize_t entry_of(const ws_tli_history *P, uint32_t tli)
{
    for (size_t i = 0; i < P->n; i++)
        if (P->e[i].tli == tli)
            return (ssize_t) i;
    return -1;
}

/* The first LSN in [from, to) owned (tliOfPointInHistory) by an entry newer
 * than index k, or `to`. */
static uint64_t first_newer(const ws_tli_history *P, size_t k, uint64_t from, uint64_t to)
{
    uint64_t cut = to;

    /* Ownership changes only at the entries' bounds. */
    if (entry_of(P, ws_tli_history_tli_at(P, from)) > (ssize_t) k)
        return from;
    for (size_t i = 0; i < P->n; i++) {
        uint64_t pts[2] = {P->e[i].begin, P->e[i].end};

        for (int j = 0; j < 2; j++)
            if (pts[j] > from && pts[j] < cut && entry_of(P, ws_tli_history_tli_at(P, pts[j])) > (ssize_t) k)
                cut = pts[j];
    }
    return cut;
}

/* A step of the walk: the file recovery reads for segment segno. */
typedef struct step {
    uint64_t segno;
    bool have;
    ws_wal_name file;   /* have: the file (PostgreSQL's XLogFileReadAnyTLI) */
    uint64_t stored;    /* its stored size */
    uint64_t seg_start; /* LSN */
    uint64_t valid_end; /* have: the path's WAL it holds ends here (<= the segment's end) */
    uint32_t want_tli;  /* the timeline whose WAL is needed first where it is not */
} step;

static void pick(const planner *pl, const ws_tli_history *P, uint64_t segno, step *s)
{
    uint64_t seg_end = (segno + 1) * pl->ss;

    memset(s, 0, sizeof *s);
    s->segno = segno;
    s->seg_start = segno * pl->ss;
    for (size_t i = P->n; i-- > 0;) {
        const ws_repo_wal_file *f;

        if (!ws_tli_entry_may_hold_segment(&P->e[i], segno, pl->ss))
            continue;
        f = ws_repo_wal_list_find(pl->src->wal, P->e[i].tli, segno, WS_WAL_SEGMENT);
        if (!f)
            continue;
        /* Recovery takes the first it finds; what it holds of the path ends
         * where a newer timeline of the path begins, or where this one
         * ended in the path (a file that went on past its switch point). */
        s->have = true;
        s->file = f->name;
        s->stored = f->stored_size;
        s->valid_end = first_newer(P, i, s->seg_start, seg_end);
        if (P->e[i].end != 0 && P->e[i].end != WS_LSN_END && P->e[i].end < s->valid_end)
            s->valid_end = P->e[i].end > s->seg_start ? P->e[i].end : s->seg_start;
        break;
    }
    s->want_tli = ws_tli_history_tli_at(P, s->have ? s->valid_end : s->seg_start);
    if (s->have && s->valid_end <= s->seg_start)
        s->have = false;
}

/* Whether the path has WAL recovery would read after segment segno. */
static bool later_wal(const planner *pl, const ws_tli_history *P, uint64_t segno)
{
    uint64_t max = 0;
    const ws_repo_wal_list *l = pl->src->wal;

    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].name.kind == WS_WAL_SEGMENT && entry_of(P, l->v[i].name.tli) >= 0 && l->v[i].segno > max)
            max = l->v[i].segno;
    for (uint64_t s = segno + 1; s <= max; s++) {
        step st;

        pick(pl, P, s, &st);
        if (st.have)
            return true;
    }
    return false;
}

/* Index entries of the steps that have a file, through the cache. */
static int fetch_index(planner *pl, step *steps, size_t n, ws_err *err)
{
    ws_wal_name want[BATCH];
    ws_wal_index got[BATCH];
    int found[BATCH];
    size_t nwant = 0;

    for (size_t i = 0; i < n; i++)
        if (steps[i].have && !cache_find(pl, steps[i].file.tli, steps[i].segno))
            want[nwant++] = steps[i].file;
    if (nwant == 0)
        return 0;
    memset(got, 0, sizeof got);
    for (size_t i = 0; i < nwant; i++)
        ws_wal_index_init(&got[i]);
    if (pl->src->index_batch(pl->src->arg, want, nwant, got, found, err) < 0) {
        for (size_t i = 0; i < nwant; i++)
            ws_wal_index_free(&got[i]);
        return -1;
    }
    pl->plan->index_reads += nwant;
    for (size_t i = 0; i < nwant; i++) {
        uint64_t segno;

        if (ws_wal_name_segno(&want[i], pl->ss, &segno, err) < 0)
            return -1;
        if (!found[i]) {
            /* A segment without an entry: the source could not make one. */
            char name[WS_WAL_NAME_MAX];

            ws_wal_name_format(&want[i], name);
            for (size_t j = i; j < nwant; j++)
                ws_wal_index_free(&got[j]);
            return ws_err_set(err, WS_ERR_CORRUPT, "no WAL index entry for archived segment %s", name);
        }
        if (cache_put(pl, want[i].tli, segno, &got[i], err) < 0) {
            for (size_t j = i; j < nwant; j++)
                ws_wal_index_free(&got[j]);
            return -1;
        }
    }
    return 0;
}

static const ws_wal_index *index_of(planner *pl, const step *s)
{
    cached *c = cache_find(pl, s->file.tli, s->segno);

    return c ? &c->ix : NULL;
}

/* Walks P from segment `from`, one step at a time in direction dir (+1 or
 * -1), index entries fetched ahead; fn returns 1 to stop, 0 to go on.
 * Steps without a file are given to fn too (it decides). */
typedef int (*walk_fn)(planner *pl, void *arg, const step *s, const ws_wal_index *ix, ws_err *err);

static int walk(planner *pl, const ws_tli_history *P, uint64_t from, int dir, uint64_t max_steps, walk_fn fn, void *arg,
                ws_err *err)
{
    uint64_t segno = from, done = 0;

    for (;;) {
        step steps[BATCH];
        size_t n = 0;

        while (n < BATCH && done + n < max_steps) {
            pick(pl, P, segno, &steps[n]);
            n++;
            if (!steps[n - 1].have || (dir < 0 && segno == 0))
                break;
            segno += dir;
        }
        if (n == 0)
            return 0;
        if (fetch_index(pl, steps, n, err) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            int rc = fn(pl, arg, &steps[i], steps[i].have ? index_of(pl, &steps[i]) : NULL, err);

            if (rc != 0)
                return rc < 0 ? -1 : 0;
            if (!steps[i].have || (dir < 0 && steps[i].segno == 0))
                return 0;
        }
        done += n;
        if (done >= max_steps)
            return 0;
    }
}

/* ------------------------------------------------------------------------ */
/* Reading a segment's records.                                               */

typedef struct rec_scan {
    planner *pl;
    const ws_tli_history *P;
    uint64_t lo, hi; /* records starting in [lo, hi) count */
    bool want_match; /* stop at the first that meets the target */
    ws_pitr_rec match;
    ws_pitr_rec last_xact;   /* the last commit/abort before the match */
    bool evidence;           /* a commit/abort before the match that does not meet a time target */
    ws_pitr_rec last_record; /* the last record of all */
} rec_scan;

static void rec_copy(const planner *pl, const ws_tli_history *P, const ws_wal_record *r, ws_pitr_rec *out)
{
    (void) pl;
    memset(out, 0, sizeof *out);
    out->set = true;
    out->tli = ws_tli_history_tli_at(P, r->lsn);
    out->lsn = r->lsn;
    out->end_lsn = r->end_lsn;
    out->kind = r->kind;
    out->time = r->time;
    out->xid = r->target_xid;
    memcpy(out->name, r->name, sizeof out->name);
}

static int on_record(void *arg, const ws_wal_record *r, ws_err *err)
{
    rec_scan *rs = arg;

    (void) err;
    if (r->lsn < rs->lo || r->lsn >= rs->hi || r->end_lsn > rs->hi)
        return 0;
    if (rs->want_match && rs->match.set)
        return 0;
    if (rs->want_match && ws_pitr_target_matches(&rs->pl->o->target, r)) {
        rec_copy(rs->pl, rs->P, r, &rs->match);
        return 0;
    }
    if (ends_xact(r->kind)) {
        rec_copy(rs->pl, rs->P, r, &rs->last_xact);
        if (rs->pl->o->target.kind == WS_PITR_TIME)
            rs->evidence = true;
    }
    rec_copy(rs->pl, rs->P, r, &rs->last_record);
    return 0;
}

/* The file recovery reads before s, when s's first record began there. */
static bool prev_file(planner *pl, const ws_tli_history *P, const step *s, const ws_wal_index *ix, ws_wal_name *out)
{
    step p;

    if (s->segno == 0 || !ix || ix->records == 0 || ix->first_lsn >= s->seg_start)
        return false;
    pick(pl, P, s->segno - 1, &p);
    if (!p.have)
        return false;
    *out = p.file;
    return true;
}

static int read_records(planner *pl, const ws_tli_history *P, const step *s, const ws_wal_index *ix, rec_scan *rs,
                        ws_err *err)
{
    ws_wal_name prev;
    bool has_prev = prev_file(pl, P, s, ix, &prev);

    rs->pl = pl;
    rs->P = P;
    pl->plan->segment_reads += has_prev ? 2 : 1;
    return pl->src->records(pl->src->arg, has_prev ? &prev : NULL, &s->file, on_record, rs, err);
}

/* ------------------------------------------------------------------------ */
/* Searching for the stop point from a backup's start.                        */

typedef enum { S_FOUND, S_END, S_BROKEN } search_end;

typedef struct search {
    /* in */
    const ws_tli_history *P;
    bool find;          /* look for the target's stop record (else: walk to the end) */
    uint64_t until_lsn; /* immediate: walk to the segment holding the byte before it */
    /* out */
    search_end end;
    ws_pitr_rec R;
    bool evidence;         /* time targets: a commit/abort before R that does not meet it */
    ws_pitr_rec last_xact; /* the last commit/abort before R, exact when last_exact */
    bool last_exact;
    bool has_last_seg;
    uint64_t last_xact_segno; /* the segment of the last one */
    bool has_newest;          /* the newest commit/abort time seen */
    int64_t newest;
    /* the walk */
    bool any;
    ws_wal_name first_file, last_file;
    uint64_t first_segno, last_segno, count, stored;
    uint64_t valid_end; /* where the path's valid WAL ends (S_END/S_BROKEN) */
    uint64_t last_end;  /* end of the last valid record read so far */
    char missing[WS_WAL_NAME_MAX];
    char why[512];
    step last_step; /* the last file walked */
} search;

/* Whether the index says the segment may hold the stop record. */
static bool may_hold_target(const planner *pl, const ws_wal_index *ix, uint64_t hi)
{
    const ws_pitr_target *t = &pl->o->target;
    const ws_wal_xact_range *r[2] = {&ix->commits, &ix->aborts};

    switch (t->kind) {
    case WS_PITR_TIME:
        for (int i = 0; i < 2; i++)
            if (r[i]->count && (t->inclusive ? r[i]->time_max > t->time : r[i]->time_max >= t->time))
                return true;
        return false;
    case WS_PITR_XID:
        for (int i = 0; i < 2; i++)
            if (r[i]->count && xid_in(t->xid, r[i]->xid_min, r[i]->xid_max))
                return true;
        return false;
    case WS_PITR_LSN:
        return ix->records > 0 && ix->end_lsn > t->lsn && t->lsn < hi;
    default:
        return false;
    }
}

/* Time targets: whether the index shows a commit/abort that does not meet
 * the target (so, as commit times go, nothing before it does). */
static bool index_evidence(const planner *pl, const ws_wal_index *ix)
{
    const ws_pitr_target *t = &pl->o->target;
    const ws_wal_xact_range *r[2] = {&ix->commits, &ix->aborts};

    for (int i = 0; i < 2; i++)
        if (r[i]->count && (t->inclusive ? r[i]->time_min <= t->time : r[i]->time_min < t->time))
            return true;
    return false;
}

static void note_newest(search *s, const ws_wal_index *ix)
{
    const ws_wal_xact_range *r[2] = {&ix->commits, &ix->aborts};

    for (int i = 0; i < 2; i++)
        if (r[i]->count && (!s->has_newest || r[i]->time_max > s->newest)) {
            s->has_newest = true;
            s->newest = r[i]->time_max;
        }
}

static int search_step(planner *pl, void *arg, const step *st, const ws_wal_index *ix, ws_err *err)
{
    search *s = arg;
    uint64_t seg_end = st->seg_start + pl->ss, hi;
    bool damaged = false;
    char name[WS_WAL_NAME_MAX];

    if (!st->have) {
        s->valid_end = s->any ? s->last_end : st->seg_start;
        seg_name(st->want_tli, st->segno, pl->ss, s->missing);
        if (later_wal(pl, s->P, st->segno)) {
            s->end = S_BROKEN;
            snprintf(s->why, sizeof s->why, "segment %s is not in the archive", s->missing);
        } else
            s->end = S_END;
        return 1;
    }
    if (!s->any) {
        s->any = true;
        s->first_file = st->file;
        s->first_segno = st->segno;
    }
    s->last_file = st->file;
    s->last_segno = st->segno;
    s->last_step = *st;
    s->count++;
    s->stored += st->stored;
    hi = st->valid_end;
    if (ix->stop != WS_WAL_STOP_END && ix->stop != WS_WAL_STOP_SWITCH && ix->stop_lsn < hi) {
        hi = ix->stop_lsn;
        damaged = true;
    }
    if (ix->records)
        s->last_end = ix->end_lsn < hi ? ix->end_lsn : hi;
    note_newest(s, ix);

    if (s->find) {
        const ws_pitr_target *t = &pl->o->target;

        if (t->kind == WS_PITR_NAME) {
            for (size_t i = 0; i < ix->n_restore_points; i++) {
                const ws_wal_restore_point *rp = &ix->restore_points[i];

                if (rp->lsn < hi && rp->end_lsn <= hi && strcmp(rp->name, t->name) == 0) {
                    memset(&s->R, 0, sizeof s->R);
                    s->R.set = true;
                    s->R.tli = ws_tli_history_tli_at(s->P, rp->lsn);
                    s->R.lsn = rp->lsn;
                    s->R.end_lsn = rp->end_lsn;
                    s->R.kind = WS_WAL_REC_RESTORE_POINT;
                    s->R.time = rp->time;
                    memcpy(s->R.name, rp->name, sizeof s->R.name);
                    s->end = S_FOUND;
                    return 1;
                }
            }
        } else if (may_hold_target(pl, ix, hi)) {
            rec_scan rs;

            memset(&rs, 0, sizeof rs);
            rs.lo = 0;
            rs.hi = hi;
            rs.want_match = true;
            if (read_records(pl, s->P, st, ix, &rs, err) < 0)
                return -1;
            if (rs.last_xact.set) {
                s->last_xact = rs.last_xact;
                s->last_exact = true;
                s->has_last_seg = true;
                s->last_xact_segno = st->segno;
            }
            if (rs.evidence)
                s->evidence = true;
            if (rs.match.set) {
                s->R = rs.match;
                s->end = S_FOUND;
                return 1;
            }
        }
        if (t->kind == WS_PITR_TIME && index_evidence(pl, ix))
            s->evidence = true;
        if (ix->commits.count + ix->aborts.count > 0 && !(s->last_exact && s->last_xact_segno == st->segno)) {
            s->last_exact = false;
            s->has_last_seg = true;
            s->last_xact_segno = st->segno;
        }
    } else if (s->until_lsn && seg_end >= s->until_lsn) {
        /* Immediate: the backup's own WAL is all there. */
        s->end = S_FOUND;
        if (hi < s->until_lsn) {
            ws_wal_name_format(&st->file, name);
            s->valid_end = hi;
            snprintf(s->missing, sizeof s->missing, "%s", name);
            snprintf(s->why, sizeof s->why, "segment %s %s", name,
                     damaged ? ix->stop_detail : "does not hold the WAL of the path up to the backup's end");
            s->end = S_BROKEN;
        }
        return 1;
    }
    if (hi < seg_end) {
        ws_wal_name_format(&st->file, name);
        s->valid_end = hi;
        if (!later_wal(pl, s->P, st->segno)) {
            /* The last segment recovery reads: its WAL simply ends here. */
            s->end = S_END;
            if (damaged) {
                char at[18];

                ws_wal_name_format_lsn(hi, at);
                snprintf(s->why, sizeof s->why, "the last archived segment %s ends early at %s: %s", name, at,
                         ix->stop_detail);
            }
            return 1;
        }
        s->end = S_BROKEN;
        if (damaged) {
            snprintf(s->missing, sizeof s->missing, "%s", name);
            snprintf(s->why, sizeof s->why, "segment %s is damaged: %s", name, ix->stop_detail);
        } else {
            seg_name(ws_tli_history_tli_at(s->P, hi), st->segno, pl->ss, s->missing);
            snprintf(s->why, sizeof s->why,
                     "segment %s is not in the archive (%s holds the WAL of timeline %" PRIu32
                     " only up to its switch point)",
                     s->missing, name, st->file.tli);
        }
        return 1;
    }
    return 0;
}

static int search_from(planner *pl, const ws_tli_history *P, uint64_t start_lsn, search *s, ws_err *err)
{
    s->P = P;
    s->end = S_END;
    return walk(pl, P, segno_of(pl, start_lsn), +1, UINT64_MAX, search_step, s, err);
}

/* The exact last commit/abort before R when only its segment is known. */
static int exact_last_xact(planner *pl, search *s, ws_err *err)
{
    step st;
    rec_scan rs;
    const ws_wal_index *ix;

    if (s->last_exact || !s->has_last_seg)
        return 0;
    pick(pl, s->P, s->last_xact_segno, &st);
    if (!st.have || fetch_index(pl, &st, 1, err) < 0)
        return st.have ? -1 : 0;
    ix = index_of(pl, &st);
    memset(&rs, 0, sizeof rs);
    rs.hi = st.valid_end;
    if (read_records(pl, s->P, &st, ix, &rs, err) < 0)
        return -1;
    if (rs.last_xact.set) {
        s->last_xact = rs.last_xact;
        s->last_exact = true;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Backups.                                                                   */

static bool backup_tli_ok(const ws_backup_record *b, const ws_tli_history *P)
{
    return b->start_tli == b->stop_tli && ws_tli_history_tli_at(P, b->start_lsn) == b->start_tli &&
           ws_tli_history_tli_at(P, b->stop_lsn > 0 ? b->stop_lsn - 1 : 0) == b->start_tli;
}

/* Why b cannot start a recovery along P (NULL when it can). */
static const char *not_admissible(const planner *pl, const ws_backup_record *b, const ws_tli_history *P,
                                  uint32_t cand_tli, char *buf, size_t len)
{
    char lsn[18];
    uint64_t end;
    uint32_t next;

    if (b->status != WS_BACKUP_COMPLETE)
        return b->status == WS_BACKUP_RUNNING ? "it is not complete (running or interrupted)" : "it failed";
    if (!b->has_start || !b->has_stop)
        return "its record has no start or stop LSN";
    if (b->sysid != pl->src->sysid) {
        snprintf(buf, len, "it is of another cluster (system identifier %" PRIu64 ")", b->sysid);
        return buf;
    }
    if (b->seg_size != pl->ss)
        return "its WAL segment size differs from the archive's";
    if (pl->o->tli_mode == WS_PITR_TLI_CURRENT && b->start_tli != cand_tli) {
        snprintf(buf, len, "it is on timeline %" PRIu32 ", not the timeline asked for", b->start_tli);
        return buf;
    }
    if (entry_of(P, b->start_tli) < 0) {
        snprintf(buf, len, "it is on timeline %" PRIu32 ", which is not on the path of timeline %" PRIu32, b->start_tli,
                 cand_tli);
        return buf;
    }
    if (!backup_tli_ok(b, P)) {
        if (ws_tli_history_switch_point(P, b->start_tli, &end, &next) && next) {
            ws_wal_name_format_lsn(end, lsn);
            snprintf(buf, len,
                     "it was taken on timeline %" PRIu32 " after that timeline's switch point %s to timeline %" PRIu32
                     " on the path of timeline %" PRIu32,
                     b->start_tli, lsn, next, cand_tli);
        } else
            snprintf(buf, len, "its WAL is not on the path of timeline %" PRIu32, cand_tli);
        return buf;
    }
    return NULL;
}

static int cmp_backup_newest(const void *a, const void *b, const ws_backup_record *v)
{
    const ws_backup_record *x = &v[*(const size_t *) a], *y = &v[*(const size_t *) b];

    if (x->stop_lsn != y->stop_lsn)
        return x->stop_lsn > y->stop_lsn ? -1 : 1;
    return strcmp(y->id, x->id);
}

/* Sorts backup indexes newest first (by stop LSN, then id). */
static void sort_newest(size_t *idx, size_t n, const ws_backup_record *v)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && cmp_backup_newest(&idx[j], &idx[j - 1], v) < 0; j--) {
            size_t t = idx[j];

            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
}

/* ------------------------------------------------------------------------ */
/* Evidence before a backup's start (time targets).                          */

typedef enum { EV_OK, EV_AFTER, EV_UNKNOWN } evidence;

typedef struct back_scan {
    const ws_tli_history *P;
    evidence ev;
    int64_t when;
    ws_wal_name where;
} back_scan;

static int back_step(planner *pl, void *arg, const step *st, const ws_wal_index *ix, ws_err *err)
{
    back_scan *b = arg;
    const ws_pitr_target *t = &pl->o->target;

    (void) err;
    if (!st->have)
        return 1; /* EV_UNKNOWN stands */
    const ws_wal_xact_range *r[2] = {&ix->commits, &ix->aborts};

    for (int i = 0; i < 2; i++)
        if (r[i]->count && (t->inclusive ? r[i]->time_max > t->time : r[i]->time_max >= t->time)) {
            b->ev = EV_AFTER;
            b->when = r[i]->time_max;
            b->where = st->file;
            return 1;
        }
    if (ix->commits.count + ix->aborts.count > 0) {
        b->ev = EV_OK;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* One candidate path.                                                        */

typedef enum { C_NOBACKUP, C_REACHED, C_END, C_BROKEN } cand_kind;

typedef struct cand {
    uint32_t tli;
    const ws_tli_history *P;
    bool has_history;
    cand_kind kind;
    size_t backup;
    search s;
    char backup_why[512];
    uint32_t at_tli; /* the outcome's point */
    uint64_t at_lsn;
    rejlist rej;    /* backups on the path not chosen */
    rejlist notadm; /* backups not on the path */
} cand;

static int try_backups(planner *pl, cand *c, ws_err *err)
{
    const ws_pitr_source *src = pl->src;
    const ws_pitr_target *t = &pl->o->target;
    size_t *idx = calloc(src->nbackups ? src->nbackups : 1, sizeof *idx), n = 0;
    char buf[512], lsn1[18], lsn2[18], tt[WS_PG_TIME_TEXT_MAX], tt2[WS_PG_TIME_TEXT_MAX];
    bool have_end = false;
    search end_s;
    size_t end_backup = SIZE_MAX;
    int rc = -1;

    if (!idx)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    c->kind = C_NOBACKUP;
    c->backup = SIZE_MAX;
    for (size_t i = 0; i < src->nbackups; i++) {
        const ws_backup_record *b = &src->backups[i];
        const char *why;

        if (pl->o->backup_id && strcmp(b->id, pl->o->backup_id) != 0)
            continue;
        why = not_admissible(pl, b, c->P, c->tli, buf, sizeof buf);
        if (why) {
            if (reject(&c->notadm, b, err, "%s", why) < 0)
                goto out;
            continue;
        }
        idx[n++] = i;
    }
    sort_newest(idx, n, src->backups);
    for (size_t k = 0; k < n; k++) {
        const ws_backup_record *b = &src->backups[idx[k]];
        search s;

        memset(&s, 0, sizeof s);
        s.find = t->kind != WS_PITR_LATEST;
        if (search_from(pl, c->P, b->start_lsn, &s, err) < 0)
            goto out;
        ws_wal_name_format_lsn(b->stop_lsn, lsn1);
        if (s.end == S_FOUND) {
            uint64_t bound = ws_pitr_target_stops_after(t) ? s.R.end_lsn : s.R.lsn;

            if (b->stop_lsn > bound) {
                ws_wal_name_format_lsn(s.R.lsn, lsn2);
                if (reject(&c->rej, b, err,
                           "it becomes consistent only at %s, after the stop point %s: recovery from it would fail "
                           "(\"requested recovery stop point is before consistent recovery point\")",
                           lsn1, lsn2) < 0)
                    goto out;
                continue;
            }
            if (t->kind == WS_PITR_TIME && !s.evidence && !(b->has_times && t->time >= b->start_time + ONE_SECOND_US)) {
                back_scan bs = {.P = c->P, .ev = EV_UNKNOWN};
                uint64_t from = segno_of(pl, b->start_lsn);

                if (from > 0 && walk(pl, c->P, from - 1, -1, BACK_MAX, back_step, &bs, err) < 0)
                    goto out;
                if (bs.ev == EV_AFTER) {
                    char name[WS_WAL_NAME_MAX];

                    ws_wal_name_format(&bs.where, name);
                    time_text(bs.when, tt);
                    if (reject(&c->rej, b, err,
                               "a transaction ended after the target before it started (at %s, in %s): it holds "
                               "changes made after the target",
                               tt, name) < 0)
                        goto out;
                    continue;
                }
                if (bs.ev == EV_UNKNOWN) {
                    if (b->has_times)
                        time_text(b->start_time, tt);
                    if (reject(&c->rej, b, err,
                               "it started after the target (at %s) and the archive holds no WAL before it to prove "
                               "that no transaction ended between the target and its start",
                               b->has_times ? tt : "an unknown time") < 0)
                        goto out;
                    continue;
                }
            }
            c->kind = C_REACHED;
            c->backup = idx[k];
            c->s = s;
            snprintf(c->backup_why, sizeof c->backup_why,
                     "the newest backup on the path that is consistent (at %s) before the stop point", lsn1);
            rc = 0;
            goto out;
        }
        if (s.end == S_BROKEN && s.valid_end < b->stop_lsn) {
            if (reject(&c->rej, b, err, "the WAL it needs to become consistent (to %s) is incomplete: %s", lsn1,
                       s.why) < 0)
                goto out;
            continue;
        }
        if (s.end == S_END && s.valid_end < b->stop_lsn) {
            ws_wal_name_format_lsn(s.valid_end, lsn2);
            if (reject(&c->rej, b, err,
                       "the archive ends at %s, before it becomes consistent at %s (its WAL is not all archived yet)",
                       lsn2, lsn1) < 0)
                goto out;
            continue;
        }
        /* The path ends (or breaks) after this backup became consistent,
         * without the target. */
        if (!have_end) {
            have_end = true;
            end_s = s;
            end_backup = idx[k];
        }
        if (s.end == S_BROKEN || t->kind == WS_PITR_LATEST || t->kind == WS_PITR_TIME || t->kind == WS_PITR_LSN)
            break;
        /* xid, name: the target may lie before this backup; an older one may reach it. */
        if (reject(&c->rej, b, err, "the target is not in the WAL from its start (%s)",
                   ws_pitr_target_kind_name(t->kind)) < 0)
            goto out;
    }
    if (have_end) {
        c->kind = end_s.end == S_BROKEN ? C_BROKEN : C_END;
        c->backup = end_backup;
        c->s = end_s;
        /* An xid/name target searched from older backups: the newest one is the reference. */
        for (size_t i = 0; i < c->rej.n; i++)
            if (strcmp(c->rej.v[i].id, src->backups[end_backup].id) == 0) {
                memmove(&c->rej.v[i], &c->rej.v[i + 1], (c->rej.n - i - 1) * sizeof *c->rej.v);
                c->rej.n--;
                break;
            }
        ws_wal_name_format_lsn(src->backups[end_backup].stop_lsn, lsn1);
        snprintf(c->backup_why, sizeof c->backup_why, "the newest backup on the path (consistent at %s)", lsn1);
    }
    (void) tt2;
    rc = 0;
out:
    free(idx);
    return rc;
}

/* The point a candidate leads to. */
static void cand_point(cand *c)
{
    if (c->kind == C_REACHED) {
        c->at_lsn = c->s.R.lsn;
        c->at_tli = ws_tli_history_tli_at(c->P, c->s.R.lsn);
    } else {
        c->at_lsn = c->s.valid_end;
        c->at_tli = ws_tli_history_tli_at(c->P, c->s.valid_end ? c->s.valid_end - 1 : 0);
    }
}

/* Whether a's point lies on b's path no further than b's. */
static bool dominated(const cand *a, const cand *b)
{
    uint64_t probe = a->at_lsn ? a->at_lsn - 1 : 0;

    return ws_tli_history_tli_at(b->P, probe) == a->at_tli && a->at_lsn <= b->at_lsn;
}

/* ------------------------------------------------------------------------ */
/* Immediate.                                                                 */

static int plan_immediate(planner *pl, ws_err *err)
{
    const ws_pitr_source *src = pl->src;
    ws_pitr_plan *p = pl->plan;
    size_t best = SIZE_MAX;
    const ws_pitr_timeline *tl;
    search s;
    char buf[512], lsn[18];
    rejlist rej = {0};
    int rc = -1;

    for (size_t i = 0; i < src->nbackups; i++) {
        const ws_backup_record *b = &src->backups[i];
        ws_tli_history own = {0};
        ws_tli_entry e = {.tli = b->start_tli, .begin = 0, .end = WS_LSN_END};
        const char *why;

        if (pl->o->backup_id && strcmp(b->id, pl->o->backup_id) != 0)
            continue;
        own.n = 1;
        own.e = &e;
        why = not_admissible(pl, b, &own, b->start_tli, buf, sizeof buf);
        if (why) {
            if (reject(&rej, b, err, "%s", why) < 0)
                goto out;
            continue;
        }
        if (best == SIZE_MAX || cmp_backup_newest(&i, &best, src->backups) < 0)
            best = i;
    }
    p->rejected = rej.v;
    p->nrejected = rej.n;
    rej.v = NULL;
    rc = 0;
out:
    free(rej.v);
    if (rc < 0)
        return -1;
    if (best == SIZE_MAX) {
        p->status = WS_PITR_PLAN_NO_BACKUP;
        snprintf(p->problem, sizeof p->problem, "%s",
                 pl->o->backup_id ? "the backup asked for cannot be restored" : "the catalog holds no complete backup");
        return 0;
    }
    p->backup = best;
    p->timeline = src->backups[best].start_tli;
    tl = ws_pitr_source_timeline(src, p->timeline);
    p->path_has_history = tl && tl->has_history;
    if (tl) {
        p->path.e = malloc(tl->h.n * sizeof *p->path.e);
        if (!p->path.e)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        memcpy(p->path.e, tl->h.e, tl->h.n * sizeof *p->path.e);
        p->path.n = tl->h.n;
    } else {
        p->path.e = calloc(1, sizeof *p->path.e);
        if (!p->path.e)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        p->path.n = 1;
        p->path.e[0].tli = p->timeline;
        p->path.e[0].end = WS_LSN_END;
    }
    memset(&s, 0, sizeof s);
    s.P = &p->path;
    s.until_lsn = src->backups[best].stop_lsn;
    s.end = S_END;
    if (walk(pl, &p->path, segno_of(pl, src->backups[best].start_lsn), +1, UINT64_MAX, search_step, &s, err) < 0)
        return -1;
    p->stop_lsn = s.until_lsn;
    ws_wal_name_format_lsn(p->stop_lsn, lsn);
    snprintf(p->backup_why, sizeof p->backup_why, "%s (consistent at %s)",
             pl->o->backup_id ? "the backup asked for" : "the newest complete backup", lsn);
    if (s.any) {
        ws_wal_name_format(&s.first_file, p->wal_first);
        ws_wal_name_format(&s.last_file, p->wal_last);
    }
    p->wal_count = s.count;
    p->wal_bytes = s.count * (uint64_t) pl->ss;
    p->wal_stored = s.stored;
    if (s.end != S_FOUND) {
        p->status = WS_PITR_PLAN_GAP;
        snprintf(p->gap_segment, sizeof p->gap_segment, "%s", s.missing);
        snprintf(p->gap_why, sizeof p->gap_why, "%s", s.why[0] ? s.why : "the backup's WAL is not all archived");
        snprintf(p->problem, sizeof p->problem, "backup %s cannot become consistent: %s", src->backups[best].id,
                 p->gap_why);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The plan.                                                                  */

static int set_path(ws_pitr_plan *p, const cand *c, ws_err *err)
{
    p->path.e = malloc(c->P->n * sizeof *p->path.e);
    if (!p->path.e)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    memcpy(p->path.e, c->P->e, c->P->n * sizeof *p->path.e);
    p->path.n = c->P->n;
    p->path_has_history = c->has_history;
    return 0;
}

/* The archive after the stop point: segments, its end and newest commit. */
static int archive_after(planner *pl, const cand *c, ws_err *err)
{
    ws_pitr_plan *p = pl->plan;
    const search *s = &c->s;
    uint64_t segno = s->last_segno + 1, last = s->last_segno;
    step st;
    int found = 0;

    for (;; segno++) {
        pick(pl, c->P, segno, &st);
        if (!st.have)
            break;
        p->wal_after++;
        last = segno;
    }
    p->archive_end_lsn = s->valid_end;
    for (uint64_t i = 0; i < NEWEST_BACK && last >= i; i++) {
        const ws_wal_index *ix;

        pick(pl, c->P, last - i, &st);
        if (!st.have || fetch_index(pl, &st, 1, err) < 0)
            return st.have ? -1 : 0;
        ix = index_of(pl, &st);
        if (i == 0 && ix->records)
            p->archive_end_lsn = ix->end_lsn < st.valid_end ? ix->end_lsn : st.valid_end;
        if (ix->commits.count + ix->aborts.count > 0) {
            p->has_newest = true;
            p->newest_time = ix->commits.count && (!ix->aborts.count || ix->commits.time_max >= ix->aborts.time_max)
                                 ? ix->commits.time_max
                                 : ix->aborts.time_max;
            found = 1;
            break;
        }
    }
    (void) found;
    return 0;
}

/* The last record recovery can replay before a gap (for --force). */
static int furthest_record(planner *pl, const cand *c, ws_err *err)
{
    ws_pitr_plan *p = pl->plan;
    const step *st = &c->s.last_step;
    const ws_wal_index *ix;
    rec_scan rs;

    if (!c->s.any)
        return 0;
    ix = index_of(pl, st);
    memset(&rs, 0, sizeof rs);
    rs.hi = c->s.valid_end;
    if (read_records(pl, c->P, st, ix, &rs, err) < 0)
        return -1;
    p->furthest = rs.last_record;
    return 0;
}

static int fill_from(planner *pl, cand *c, ws_err *err)
{
    ws_pitr_plan *p = pl->plan;
    const ws_pitr_target *t = &pl->o->target;
    char lsn[18], tt[WS_PG_TIME_TEXT_MAX], span[WS_PG_TIME_TEXT_MAX];

    p->backup = c->backup;
    p->timeline = c->tli;
    snprintf(p->backup_why, sizeof p->backup_why, "%s", c->backup_why);
    if (set_path(p, c, err) < 0)
        return -1;
    if (c->s.any) {
        ws_wal_name_format(&c->s.first_file, p->wal_first);
        ws_wal_name_format(&c->s.last_file, p->wal_last);
    }
    p->wal_count = c->s.count;
    p->wal_bytes = c->s.count * (uint64_t) pl->ss;
    p->wal_stored = c->s.stored;
    if (archive_after(pl, c, err) < 0)
        return -1;
    if (c->kind == C_REACHED) {
        if (exact_last_xact(pl, &c->s, err) < 0)
            return -1;
        p->stop = c->s.R;
        p->stop_after = ws_pitr_target_stops_after(t);
        p->stop_lsn = p->stop_after ? c->s.R.end_lsn : c->s.R.lsn;
        if (c->s.last_exact)
            p->last_kept = c->s.last_xact;
        if (p->stop_after && ends_xact(c->s.R.kind))
            p->last_kept = c->s.R;
        p->status = WS_PITR_PLAN_OK;
        return 0;
    }
    if (c->kind == C_BROKEN) {
        snprintf(p->gap_segment, sizeof p->gap_segment, "%s", c->s.missing);
        snprintf(p->gap_why, sizeof p->gap_why, "%s", c->s.why);
        if (furthest_record(pl, c, err) < 0)
            return -1;
        ws_wal_name_format_lsn(p->furthest.set ? p->furthest.end_lsn : c->s.valid_end, lsn);
        if (pl->o->force && p->furthest.set) {
            p->status = WS_PITR_PLAN_FORCED;
            p->stop = p->furthest;
            p->stop_after = true;
            p->stop_lsn = p->furthest.end_lsn;
            snprintf(p->problem, sizeof p->problem,
                     "a gap in the WAL: %s; forced: recovery stops at the furthest point, %s, and pauses", p->gap_why,
                     lsn);
        } else {
            p->status = WS_PITR_PLAN_GAP;
            snprintf(p->problem, sizeof p->problem,
                     "a gap in the WAL: %s; recovery can get no further than %s (--force restores to that point)",
                     p->gap_why, lsn);
        }
        return 0;
    }
    /* The path ends without the target. */
    p->stop_lsn = c->s.valid_end;
    if (t->kind == WS_PITR_LATEST) {
        p->status = WS_PITR_PLAN_OK;
        return 0;
    }
    p->status = WS_PITR_PLAN_UNREACHED;
    ws_wal_name_format_lsn(p->archive_end_lsn, lsn);
    switch (t->kind) {
    case WS_PITR_TIME:
        if (p->has_newest) {
            time_text(p->newest_time, tt);
            ws_pg_time_format_span(t->time - p->newest_time, span);
            snprintf(p->problem, sizeof p->problem,
                     "the archive does not reach the target: the newest archived commit is at %s; the target is %s "
                     "after it. Recovery would end at the end of the archive (%s) and PostgreSQL 15 stops there "
                     "(\"recovery ended before configured recovery target was reached\"): restore with --target latest "
                     "to recover everything archived",
                     tt, span, lsn);
        } else
            snprintf(p->problem, sizeof p->problem,
                     "the archive does not reach the target: no transaction ends after the backup in the archived WAL "
                     "(it ends at %s); restore with --target latest to recover everything archived",
                     lsn);
        break;
    case WS_PITR_XID:
        snprintf(p->problem, sizeof p->problem,
                 "transaction %" PRIu32 " does not commit or abort in the archived WAL after any backup's start (the "
                 "archive ends at %s)",
                 t->xid, lsn);
        break;
    case WS_PITR_NAME:
        snprintf(p->problem, sizeof p->problem,
                 "no restore point named \"%s\" in the archived WAL after any backup's start (the archive ends at %s)",
                 t->name, lsn);
        break;
    case WS_PITR_LSN: {
        char want[18];

        ws_wal_name_format_lsn(t->lsn, want);
        snprintf(p->problem, sizeof p->problem, "LSN %s is beyond the end of the archive (%s)", want, lsn);
        break;
    }
    default:
        break;
    }
    return 0;
}

static int add_outcome(ws_pitr_plan *p, const cand *c, ws_err *err)
{
    void *v = p->outcomes;
    size_t cap = p->noutcomes;
    ws_pitr_outcome *o;
    char lsn[18];

    for (size_t i = 0; i < p->noutcomes; i++) {
        o = &p->outcomes[i];
        if (o->at_tli == c->at_tli && o->at_lsn == c->at_lsn) {
            uint32_t *t = realloc(o->tlis, (o->ntlis + 1) * sizeof *t);

            if (!t)
                return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            o->tlis = t;
            o->tlis[o->ntlis++] = c->tli;
            return 0;
        }
    }
    if (ws_buf_grow_array(&v, &cap, p->noutcomes + 1, sizeof *p->outcomes, err) < 0)
        return -1;
    p->outcomes = v;
    o = &p->outcomes[p->noutcomes++];
    memset(o, 0, sizeof *o);
    o->tli = c->tli;
    o->tlis = malloc(sizeof *o->tlis);
    if (!o->tlis)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    o->tlis[0] = c->tli;
    o->ntlis = 1;
    o->reached = c->kind == C_REACHED;
    o->at_tli = c->at_tli;
    o->at_lsn = c->at_lsn;
    ws_wal_name_format_lsn(c->at_lsn, lsn);
    if (c->kind == C_REACHED)
        snprintf(o->what, sizeof o->what, "reaches the target at %s on timeline %" PRIu32, lsn, c->at_tli);
    else
        snprintf(o->what, sizeof o->what, "%s at %s on timeline %" PRIu32,
                 c->kind == C_BROKEN ? "breaks off (gap)" : "ends", lsn, c->at_tli);
    return 0;
}

/* Commit times on a candidate's own timeline (its last entry): the first
 * and last segment's ranges. */
static int outcome_times(planner *pl, const cand *c, ws_pitr_outcome *o, ws_err *err)
{
    const ws_repo_wal_list *l = pl->src->wal;
    uint32_t tli = o->at_tli;
    bool first = true;

    for (size_t i = 0; i < l->n; i++) {
        step st;
        const ws_wal_index *ix;
        const ws_wal_xact_range *r[2];

        if (l->v[i].name.kind != WS_WAL_SEGMENT || l->v[i].name.tli != tli)
            continue;
        pick(pl, c->P, l->v[i].segno, &st);
        if (!st.have || st.file.tli != tli || fetch_index(pl, &st, 1, err) < 0) {
            if (st.have && st.file.tli == tli)
                return -1;
            continue;
        }
        ix = index_of(pl, &st);
        r[0] = &ix->commits;
        r[1] = &ix->aborts;
        for (int k = 0; k < 2; k++) {
            if (!r[k]->count)
                continue;
            if (first || r[k]->time_min < o->time_first)
                o->time_first = r[k]->time_min;
            if (first || r[k]->time_max > o->time_last)
                o->time_last = r[k]->time_max;
            first = false;
            o->has_times = true;
        }
    }
    return 0;
}

int ws_pitr_plan_make(const ws_pitr_source *src, const ws_pitr_plan_opts *o, ws_pitr_plan *plan, ws_err *err)
{
    planner pl = {.src = src, .o = o, .plan = plan, .ss = src->seg_size};
    cand *cands = NULL;
    size_t ncands = 0, best = SIZE_MAX;
    int rc = -1;

    ws_pitr_plan_free(plan);
    plan->target = o->target;
    if (o->backup_id) {
        bool known = false;

        for (size_t i = 0; i < src->nbackups && !known; i++)
            known = strcmp(src->backups[i].id, o->backup_id) == 0;
        if (!known) {
            plan->status = WS_PITR_PLAN_NO_BACKUP;
            snprintf(plan->problem, sizeof plan->problem, "backup %s is not in the catalog", o->backup_id);
            for (size_t i = 0; i < src->nbad; i++)
                if (strcmp(src->bad[i].id, o->backup_id) == 0)
                    snprintf(plan->problem, sizeof plan->problem, "the record of backup %s cannot be read: %.900s",
                             o->backup_id, src->bad[i].why);
            return 0;
        }
    }
    if (o->target.kind == WS_PITR_IMMEDIATE) {
        rc = plan_immediate(&pl, err);
        goto out;
    }

    /* The candidate paths. */
    cands = calloc(src->ntimelines ? src->ntimelines : 1, sizeof *cands);
    if (!cands) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < src->ntimelines; i++) {
        const ws_pitr_timeline *tl = &src->timelines[i];
        bool take = false;

        switch (o->tli_mode) {
        case WS_PITR_TLI_AUTO:
            take = true;
            break;
        case WS_PITR_TLI_NUMBER:
            take = tl->tli == o->tli;
            break;
        case WS_PITR_TLI_LATEST:
            take = i == src->ntimelines - 1;
            break;
        case WS_PITR_TLI_CURRENT:
            for (size_t b = 0; b < src->nbackups && !take; b++)
                take = src->backups[b].status == WS_BACKUP_COMPLETE && src->backups[b].start_tli == tl->tli;
            break;
        }
        if (!take)
            continue;
        cands[ncands].tli = tl->tli;
        cands[ncands].P = &tl->h;
        cands[ncands].has_history = tl->has_history;
        ncands++;
    }
    if (ncands == 0) {
        plan->status = WS_PITR_PLAN_NO_BACKUP;
        if (o->tli_mode == WS_PITR_TLI_NUMBER)
            snprintf(plan->problem, sizeof plan->problem,
                     "timeline %" PRIu32 " is not in the archive (no history file, segment or backup names it)",
                     o->tli);
        else
            snprintf(plan->problem, sizeof plan->problem, "the archive holds no timeline with a backup");
        rc = 0;
        goto out;
    }
    for (size_t i = 0; i < ncands; i++) {
        if (try_backups(&pl, &cands[i], err) < 0)
            goto out;
        cand_point(&cands[i]);
    }

    /* Outcomes: paths that reach the target, else where the paths end. */
    {
        bool any_reached = false;

        for (size_t i = 0; i < ncands; i++)
            any_reached |= cands[i].kind == C_REACHED;
        for (size_t i = 0; i < ncands; i++) {
            cand *c = &cands[i];
            bool keep = any_reached ? c->kind == C_REACHED : c->kind != C_NOBACKUP;

            for (size_t j = 0; keep && !any_reached && j < ncands; j++)
                if (j != i && cands[j].kind != C_NOBACKUP && dominated(c, &cands[j]) &&
                    !(cands[j].at_lsn == c->at_lsn && cands[j].at_tli == c->at_tli))
                    keep = false;
            if (keep && add_outcome(plan, c, err) < 0)
                goto out;
        }
    }
    if (plan->noutcomes == 0) {
        rejlist all = {0};

        for (size_t i = 0; i < ncands; i++)
            if (reject_copy(&all, &cands[i].rej, src, err) < 0 || reject_copy(&all, &cands[i].notadm, src, err) < 0) {
                free(all.v);
                goto out;
            }
        plan->rejected = all.v;
        plan->nrejected = all.n;
        plan->status = WS_PITR_PLAN_NO_BACKUP;
        snprintf(plan->problem, sizeof plan->problem, "%s",
                 plan->nrejected ? "no backup can be recovered to the target (each one's reason is listed)"
                                 : "the catalog holds no complete backup that recovery could start from");
        if (o->target.kind == WS_PITR_TIME && plan->nrejected) {
            char tt[WS_PG_TIME_TEXT_MAX];

            time_text(o->target.time, tt);
            snprintf(plan->problem, sizeof plan->problem,
                     "the target %s is older than every backup that can be proven to hold nothing after it (each "
                     "backup's reason is listed)",
                     tt);
        }
        rc = 0;
        goto out;
    }
    if (plan->noutcomes > 1) {
        plan->status = WS_PITR_PLAN_AMBIGUOUS;
        for (size_t k = 0; k < plan->noutcomes; k++)
            for (size_t i = 0; i < ncands; i++)
                if (cands[i].tli == plan->outcomes[k].tli && outcome_times(&pl, &cands[i], &plan->outcomes[k], err) < 0)
                    goto out;
        snprintf(plan->problem, sizeof plan->problem,
                 "%zu timeline paths lead to different places for this target: choose one with --target-timeline",
                 plan->noutcomes);
        rc = 0;
        goto out;
    }
    /* One outcome: of its paths, the one with the newest backup, then the
     * lowest timeline. */
    for (size_t i = 0; i < ncands; i++) {
        cand *c = &cands[i];

        if (c->kind == C_NOBACKUP || c->at_tli != plan->outcomes[0].at_tli || c->at_lsn != plan->outcomes[0].at_lsn)
            continue;
        if (plan->outcomes[0].reached != (c->kind == C_REACHED))
            continue;
        if (best == SIZE_MAX || src->backups[c->backup].stop_lsn > src->backups[cands[best].backup].stop_lsn)
            best = i;
    }
    for (size_t i = 0; i < plan->noutcomes; i++)
        free(plan->outcomes[i].tlis);
    free(plan->outcomes);
    plan->outcomes = NULL;
    plan->noutcomes = 0;
    /* The backups not chosen on that path, and those not on it. */
    {
        rejlist chosen = {0};

        if (reject_copy(&chosen, &cands[best].rej, src, err) < 0 ||
            reject_copy(&chosen, &cands[best].notadm, src, err) < 0) {
            free(chosen.v);
            goto out;
        }
        plan->rejected = chosen.v;
        plan->nrejected = chosen.n;
    }
    if (fill_from(&pl, &cands[best], err) < 0)
        goto out;
    for (size_t i = 0; i < ncands; i++)
        if (i != best && cands[i].kind == C_BROKEN && cands[best].kind == C_REACHED &&
            note(plan, err, "the path of timeline %" PRIu32 " has a gap (%s) before it could reach the target",
                 cands[i].tli, cands[i].s.why) < 0)
            goto out;
    rc = 0;
out:
    /* Rejections only speak of backups newer than the one chosen. */
    if (rc == 0 && plan->backup != SIZE_MAX) {
        size_t k = 0;
        const ws_backup_record *chosen = &src->backups[plan->backup];

        for (size_t i = 0; i < plan->nrejected; i++) {
            const ws_backup_record *b = NULL;

            for (size_t j = 0; j < src->nbackups && !b; j++)
                if (strcmp(src->backups[j].id, plan->rejected[i].id) == 0)
                    b = &src->backups[j];
            if (b && b != chosen && strcmp(b->id, chosen->id) > 0)
                plan->rejected[k++] = plan->rejected[i];
        }
        plan->nrejected = k;
    }
    for (size_t i = 0; i < ncands; i++) {
        free(cands[i].rej.v);
        free(cands[i].notadm.v);
    }
    free(cands);
    cache_free(&pl);
    return rc;
}
