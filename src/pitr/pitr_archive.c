/* pitr_archive.c - a repository as pitr-restore reads it (pitr_archive.h). */
#include "walship/pitr_archive.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/backup_store.h"
#include "walship/buf.h"
#include "walship/clock.h"
#include "walship/repo_identity.h"
#include "walship/restore_fetch.h"
#include "walship/wal_index.h"

struct ws_pitr_archive {
    ws_repo *repo[WS_PITR_WORKERS_MAX];
    unsigned n;
    ws_repo_identity id;
    ws_repo_wal_list wal;
    ws_backup_record *backups;
    size_t nbackups, cap_backups;
    ws_pitr_bad_record *bad;
    size_t nbad, cap_bad;
    ws_pitr_timeline *tl;
    size_t ntl;
    ws_pitr_source src;

    pthread_mutex_t mu; /* the counters below */
    uint64_t computed, segments, segment_bytes;
    double segment_seconds;
};

int ws_pitr_archive_open(const ws_config *cfg, unsigned workers, ws_pitr_archive **out, ws_err *err)
{
    ws_pitr_archive *a;

    *out = NULL;
    if (workers < 1 || workers > WS_PITR_WORKERS_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "%u connections: expected 1 to %d", workers, WS_PITR_WORKERS_MAX);
    a = calloc(1, sizeof *a);
    if (!a)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    for (unsigned i = 0; i < workers; i++) {
        ws_storage *counted;

        if (ws_repo_open(cfg, &a->repo[i], err) < 0)
            goto fail;
        a->n++;
        counted = ws_storage_count_new(a->repo[i]->st, err);
        if (!counted)
            goto fail;
        a->repo[i]->st = counted;
    }
    *out = a;
    return 0;
fail:
    ws_pitr_archive_close(a);
    return -1;
}

void ws_pitr_archive_close(ws_pitr_archive *a)
{
    if (!a)
        return;
    for (unsigned i = 0; i < a->n; i++)
        ws_repo_close(a->repo[i]);
    ws_repo_wal_list_free(&a->wal);
    for (size_t i = 0; i < a->nbackups; i++)
        ws_backup_record_free(&a->backups[i]);
    free(a->backups);
    free(a->bad);
    for (size_t i = 0; i < a->ntl; i++)
        ws_tli_history_free(&a->tl[i].h);
    free(a->tl);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

ws_repo *ws_pitr_archive_repo(ws_pitr_archive *a)
{
    return a->repo[0];
}

unsigned ws_pitr_archive_workers(const ws_pitr_archive *a)
{
    return a->n;
}

const ws_pitr_source *ws_pitr_archive_source(const ws_pitr_archive *a)
{
    return &a->src;
}

void ws_pitr_archive_stats_get(ws_pitr_archive *a, ws_pitr_archive_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < a->n; i++) {
        ws_storage_counts c;

        ws_storage_count_get(a->repo[i]->st, &c);
        out->ops.get += c.get;
        out->ops.head += c.head;
        out->ops.list += c.list;
        out->ops.put += c.put;
        out->ops.remove += c.remove;
    }
    pthread_mutex_lock(&a->mu);
    out->computed = a->computed;
    out->segments = a->segments;
    out->segment_bytes = a->segment_bytes;
    out->segment_seconds = a->segment_seconds;
    pthread_mutex_unlock(&a->mu);
}

/* ------------------------------------------------------------------------ */
/* Jobs in parallel.                                                          */

typedef struct pool {
    ws_pitr_archive *a;
    size_t njobs;
    ws_pitr_job_fn fn;
    void *arg;
    atomic_size_t next;
    volatile bool stop;
    pthread_mutex_t mu;
    bool failed;
    ws_err first;
} pool;

typedef struct worker {
    pool *p;
    ws_repo *repo;
    pthread_t th;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    pool *p = w->p;

    while (!p->stop) {
        size_t j = atomic_fetch_add(&p->next, 1);
        ws_err e;

        if (j >= p->njobs)
            break;
        ws_err_clear(&e);
        if (p->fn(p->arg, w->repo, j, &p->stop, &e) < 0) {
            pthread_mutex_lock(&p->mu);
            if (!p->failed) {
                p->failed = true;
                p->first = e;
            }
            p->stop = true;
            pthread_mutex_unlock(&p->mu);
            break;
        }
    }
    return NULL;
}

int ws_pitr_archive_parallel(ws_pitr_archive *a, size_t njobs, ws_pitr_job_fn fn, void *arg, ws_err *err)
{
    pool p = {.a = a, .njobs = njobs, .fn = fn, .arg = arg};
    worker w[WS_PITR_WORKERS_MAX];
    unsigned nthreads = a->n < njobs ? a->n : (unsigned) njobs, started = 0;

    if (njobs == 0)
        return 0;
    atomic_init(&p.next, 0);
    pthread_mutex_init(&p.mu, NULL);
    if (nthreads <= 1) {
        w[0].p = &p;
        w[0].repo = a->repo[0];
        work(&w[0]);
    } else {
        for (unsigned i = 0; i < nthreads; i++) {
            w[i].p = &p;
            w[i].repo = a->repo[i];
            if (pthread_create(&w[i].th, NULL, work, &w[i]) != 0)
                break;
            started++;
        }
        if (started == 0)
            work(&w[0]); /* no thread could start: do it here */
        for (unsigned i = 0; i < started; i++)
            pthread_join(w[i].th, NULL);
    }
    pthread_mutex_destroy(&p.mu);
    if (p.failed) {
        *err = p.first;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading segments.                                                          */

typedef struct rec_fwd {
    ws_pitr_record_fn fn;
    void *arg;
    bool forward;
} rec_fwd;

static int fwd_record(void *arg, const ws_wal_record *rec, ws_err *err)
{
    rec_fwd *f = arg;

    return f->forward ? f->fn(f->arg, rec, err) : 0;
}

/* Streams one verified segment into a reader (begun, fed, ended). */
static int feed(ws_pitr_archive *a, ws_repo *repo, ws_wal_reader *r, const ws_wal_name *w, ws_err *err)
{
    char name[WS_WAL_NAME_MAX];
    ws_sink *sink;
    bool local;
    ws_digest d = {0};
    double t0 = ws_clock_now();
    int rc;

    ws_wal_name_format(w, name);
    if (ws_wal_reader_begin(r, w, a->id.seg_size, err) < 0)
        return -1;
    sink = ws_wal_reader_sink_new(r, NULL, err);
    if (!sink)
        return -1;
    rc = ws_restore_fetch(repo, w, name, a->id.sysid, sink, &local, &d, err);
    ws_sink_free(sink);
    if (rc < 0) {
        ws_wal_reader_reset(r);
        return ws_err_prefix(err, "reading segment %s", name);
    }
    pthread_mutex_lock(&a->mu);
    a->segments++;
    a->segment_bytes += d.size;
    a->segment_seconds += ws_clock_now() - t0;
    pthread_mutex_unlock(&a->mu);
    return 0;
}

static int src_records(void *arg, const ws_wal_name *prev, const ws_wal_name *seg, ws_pitr_record_fn fn, void *fn_arg,
                       ws_err *err)
{
    ws_pitr_archive *a = arg;
    rec_fwd f = {.fn = fn, .arg = fn_arg};
    ws_wal_reader_opts o = {.on_record = fwd_record, .arg = &f};
    ws_wal_reader *r = ws_wal_reader_new(&o, err);
    int rc = -1;

    if (!r)
        return -1;
    if (prev && feed(a, a->repo[0], r, prev, err) < 0)
        goto out;
    f.forward = true;
    rc = feed(a, a->repo[0], r, seg, err);
out:
    ws_wal_reader_free(r);
    return rc;
}

/* An index entry made from the segment (and the one before it on its
 * timeline, when archived, to read a record that began there). */
static int compute_index(ws_pitr_archive *a, ws_repo *repo, const ws_wal_name *w, ws_wal_index *out, ws_err *err)
{
    ws_wal_indexer *x = ws_wal_indexer_new(err);
    uint64_t segno;
    int rc = -1;

    if (!x)
        return -1;
    if (ws_wal_name_segno(w, a->id.seg_size, &segno, err) < 0)
        goto out;
    if (segno > 0 && ws_repo_wal_list_find(&a->wal, w->tli, segno - 1, WS_WAL_SEGMENT)) {
        ws_wal_name p;
        ws_sink *sink;
        char name[WS_WAL_NAME_MAX];
        bool local;
        ws_err ignored;

        ws_wal_name_from_segno(w->tli, segno - 1, a->id.seg_size, &p);
        ws_wal_name_format(&p, name);
        if (ws_wal_indexer_begin(x, &p, a->id.seg_size, err) < 0)
            goto out;
        sink = ws_wal_indexer_sink_new(x, NULL, err);
        if (!sink)
            goto out;
        /* Only to carry a record: a failure just leaves the entry saying so. */
        if (ws_restore_fetch(repo, &p, name, a->id.sysid, sink, &local, NULL, &ignored) < 0)
            ws_wal_indexer_reset(x);
        ws_sink_free(sink);
    }
    {
        char name[WS_WAL_NAME_MAX];
        ws_sink *sink;
        bool local;

        ws_wal_name_format(w, name);
        if (ws_wal_indexer_begin(x, w, a->id.seg_size, err) < 0)
            goto out;
        sink = ws_wal_indexer_sink_new(x, NULL, err);
        if (!sink)
            goto out;
        rc = ws_restore_fetch(repo, w, name, a->id.sysid, sink, &local, NULL, err);
        ws_sink_free(sink);
        if (rc < 0 || (rc = ws_wal_indexer_take(x, out, err)) < 0) {
            ws_err_prefix(err, "indexing segment %s", name);
            goto out;
        }
    }
    pthread_mutex_lock(&a->mu);
    a->computed++;
    pthread_mutex_unlock(&a->mu);
out:
    ws_wal_indexer_free(x);
    return rc;
}

typedef struct index_job {
    ws_pitr_archive *a;
    const ws_wal_name *segs;
    ws_wal_index *out;
    int *found;
} index_job;

static int index_one(void *arg, ws_repo *repo, size_t j, const volatile bool *stop, ws_err *err)
{
    index_job *ij = arg;
    char name[WS_WAL_NAME_MAX];

    (void) stop;
    ws_wal_name_format(&ij->segs[j], name);
    if (ws_wal_index_get(repo, name, &ij->out[j], err) == 0) {
        ij->found[j] = 1;
        return 0;
    }
    if (err->code != WS_ERR_NOTFOUND)
        return ws_err_prefix(err, "WAL index entry of %s", name);
    ws_err_clear(err);
    ws_wal_index_free(&ij->out[j]);
    ws_wal_index_init(&ij->out[j]);
    if (compute_index(ij->a, repo, &ij->segs[j], &ij->out[j], err) < 0)
        return -1;
    ij->found[j] = 1;
    return 0;
}

static int src_index_batch(void *arg, const ws_wal_name *segs, size_t n, ws_wal_index *out, int *found, ws_err *err)
{
    index_job ij = {.a = arg, .segs = segs, .out = out, .found = found};

    memset(found, 0, n * sizeof *found);
    return ws_pitr_archive_parallel(arg, n, index_one, &ij, err);
}

/* ------------------------------------------------------------------------ */
/* Loading.                                                                   */

static int load_catalog(ws_pitr_archive *a, ws_err *err)
{
    char **ids;
    size_t n;
    int rc = 0;

    if (ws_backup_store_ids(a->repo[0], &ids, &n, err) < 0)
        return ws_err_prefix(err, "reading the backup catalog");
    for (size_t i = 0; i < n && rc == 0; i++) {
        ws_backup_record r;
        ws_err e;
        int found;
        void *v;

        ws_err_clear(&e);
        found = ws_backup_store_get(a->repo[0], ids[i], &r, &e);
        if (found == 0)
            continue;
        if (found < 0) {
            if (e.code != WS_ERR_CORRUPT && e.code != WS_ERR_FORMAT && e.code != WS_ERR_KEY) {
                *err = e;
                rc = ws_err_prefix(err, "reading the backup catalog");
                break;
            }
            v = a->bad;
            if (ws_buf_grow_array(&v, &a->cap_bad, a->nbad + 1, sizeof *a->bad, err) < 0) {
                rc = -1;
                break;
            }
            a->bad = v;
            snprintf(a->bad[a->nbad].id, sizeof a->bad[a->nbad].id, "%s", ids[i]);
            snprintf(a->bad[a->nbad].why, sizeof a->bad[a->nbad].why, "%s", e.msg);
            a->nbad++;
            continue;
        }
        v = a->backups;
        if (ws_buf_grow_array(&v, &a->cap_backups, a->nbackups + 1, sizeof *a->backups, err) < 0) {
            ws_backup_record_free(&r);
            rc = -1;
            break;
        }
        a->backups = v;
        a->backups[a->nbackups++] = r;
    }
    ws_backup_store_ids_free(ids, n);
    return rc;
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *) x, b = *(const uint32_t *) y;

    return a < b ? -1 : a > b;
}

static int load_timelines(ws_pitr_archive *a, ws_err *err)
{
    uint32_t *t = malloc((a->wal.n + a->nbackups + 1) * sizeof *t);
    size_t n = 0, k = 0;

    if (!t)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < a->wal.n; i++)
        t[n++] = a->wal.v[i].name.tli;
    for (size_t i = 0; i < a->nbackups; i++)
        if (a->backups[i].has_start)
            t[n++] = a->backups[i].start_tli;
    qsort(t, n, sizeof *t, cmp_u32);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || t[k - 1] != t[i])
            t[k++] = t[i];
    a->tl = calloc(k ? k : 1, sizeof *a->tl);
    if (!a->tl) {
        free(t);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        ws_pitr_timeline *x = &a->tl[a->ntl];
        bool listed = ws_repo_wal_list_find(&a->wal, t[i], 0, WS_WAL_HISTORY) != NULL;

        x->tli = t[i];
        if (listed) {
            if (ws_repo_wal_history_load(a->repo[0], t[i], &x->h, &x->has_history, err) < 0) {
                free(t);
                return -1;
            }
        } else {
            x->h.e = calloc(1, sizeof *x->h.e);
            if (!x->h.e) {
                free(t);
                return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            }
            x->h.n = 1;
            x->h.e[0].tli = t[i];
            x->h.e[0].end = WS_LSN_END;
        }
        a->ntl++;
    }
    free(t);
    return 0;
}

int ws_pitr_archive_load(ws_pitr_archive *a, ws_err *err)
{
    int found = ws_repo_identity_load(a->repo[0], &a->id, err);

    if (found < 0)
        return -1;
    if (found == 0)
        return ws_repo_identity_verify(a->repo[0], 0, err) < 0
                   ? -1
                   : ws_err_set(err, WS_ERR_CONFIG, "%s is not a walship repository", a->repo[0]->st->url);
    if (load_catalog(a, err) < 0 || ws_repo_wal_list_load(a->repo[0], &a->wal, err) < 0 ||
        ws_repo_wal_list_sort(&a->wal, a->id.seg_size, err) < 0 || load_timelines(a, err) < 0)
        return -1;
    a->src.seg_size = a->id.seg_size;
    a->src.sysid = a->id.sysid;
    a->src.backups = a->backups;
    a->src.nbackups = a->nbackups;
    a->src.bad = a->bad;
    a->src.nbad = a->nbad;
    a->src.timelines = a->tl;
    a->src.ntimelines = a->ntl;
    a->src.wal = &a->wal;
    a->src.index_batch = src_index_batch;
    a->src.records = src_records;
    a->src.arg = a;
    return 0;
}
