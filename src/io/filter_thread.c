/* filter_thread.c - hand the rest of the chain to a worker thread. */
#include "walship/filter_thread.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t len;
} block_t;

typedef struct {
    ws_sink base;
    pthread_t thread;
    bool started, joined;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled on every queue change */
    block_t *q;
    unsigned depth, head, count;
    bool finishing; /* producer queued its last block */
    bool stop;      /* destroy before finish: worker must quit */
    bool failed;
    bool finished_ok;
    ws_err werr;
    size_t block;
    uint8_t *cur; /* producer's block being filled */
    size_t cur_fill;
    /* Blocks the worker is done with, for the producer to fill again:
     * a fresh block per write would fault in new pages every time. */
    uint8_t **spare;
    unsigned nspare;
} thr_filter;

/* Under t->mu: keeps b for reuse, or frees it when enough are kept. */
static void recycle(thr_filter *t, uint8_t *b)
{
    if (t->nspare < t->depth + 1)
        t->spare[t->nspare++] = b;
    else
        free(b);
}

static void *worker(void *arg)
{
    thr_filter *t = arg;

    for (;;) {
        block_t b;

        pthread_mutex_lock(&t->mu);
        while (t->count == 0 && !t->finishing && !t->stop)
            pthread_cond_wait(&t->cv, &t->mu);
        if (t->stop || (t->count == 0 && t->finishing)) {
            bool finish = !t->stop;

            pthread_mutex_unlock(&t->mu);
            if (finish) {
                ws_err e;
                int rc;

                ws_err_clear(&e);
                rc = ws_sink_finish(t->base.next, &e);
                pthread_mutex_lock(&t->mu);
                if (rc < 0) {
                    t->failed = true;
                    t->werr = e;
                } else
                    t->finished_ok = true;
                pthread_cond_broadcast(&t->cv);
                pthread_mutex_unlock(&t->mu);
            }
            return NULL;
        }
        b = t->q[t->head];
        t->head = (t->head + 1) % t->depth;
        t->count--;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);

        {
            ws_err e;
            int rc;

            ws_err_clear(&e);
            rc = ws_sink_write(t->base.next, b.data, b.len, &e);
            pthread_mutex_lock(&t->mu);
            recycle(t, b.data);
            pthread_mutex_unlock(&t->mu);
            if (rc < 0) {
                pthread_mutex_lock(&t->mu);
                t->failed = true;
                t->werr = e;
                pthread_cond_broadcast(&t->cv);
                pthread_mutex_unlock(&t->mu);
                return NULL;
            }
        }
    }
}

static int enqueue_cur(thr_filter *t, ws_err *err)
{
    int rc = 0;

    pthread_mutex_lock(&t->mu);
    while (t->count == t->depth && !t->failed)
        pthread_cond_wait(&t->cv, &t->mu);
    if (t->failed) {
        *err = t->werr;
        rc = -1;
    } else {
        t->q[(t->head + t->count) % t->depth] = (block_t){t->cur, t->cur_fill};
        t->count++;
        t->cur = NULL;
        t->cur_fill = 0;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

static int thr_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    thr_filter *t = (thr_filter *) s;

    while (len > 0) {
        size_t n;

        if (!t->cur) {
            pthread_mutex_lock(&t->mu);
            if (t->nspare > 0)
                t->cur = t->spare[--t->nspare];
            pthread_mutex_unlock(&t->mu);
        }
        if (!t->cur) {
            t->cur = malloc(t->block);
            if (!t->cur)
                return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        }
        n = t->block - t->cur_fill;
        if (n > len)
            n = len;
        memcpy(t->cur + t->cur_fill, buf, n);
        t->cur_fill += n;
        buf += n;
        len -= n;
        if (t->cur_fill == t->block && enqueue_cur(t, err) < 0)
            return -1;
    }
    return 0;
}

static int thr_finish(ws_sink *s, ws_err *err)
{
    thr_filter *t = (thr_filter *) s;
    int rc = 0;

    if (t->cur_fill > 0 && enqueue_cur(t, err) < 0)
        rc = -1;
    pthread_mutex_lock(&t->mu);
    t->finishing = true;
    if (rc < 0)
        t->stop = true;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    t->joined = true;
    if (rc < 0)
        return -1;
    if (t->failed) {
        *err = t->werr;
        return -1;
    }
    return 0;
}

static void thr_destroy(ws_sink *s)
{
    thr_filter *t = (thr_filter *) s;

    if (t->started && !t->joined) {
        pthread_mutex_lock(&t->mu);
        t->stop = true;
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    for (unsigned i = 0; i < t->count; i++)
        free(t->q[(t->head + i) % t->depth].data);
    for (unsigned i = 0; i < t->nspare; i++)
        free(t->spare[i]);
    free(t->spare);
    free(t->q);
    free(t->cur);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}

static const ws_sink_ops thr_ops = {"thread", thr_write, thr_finish, thr_destroy};

ws_sink *ws_filter_thread_new(ws_sink *next, size_t block, unsigned depth, ws_err *err)
{
    thr_filter *t = calloc(1, sizeof *t);

    if (!t) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->base.ops = &thr_ops;
    t->base.next = next;
    t->block = block ? block : WS_IO_BLOCK;
    t->depth = depth ? depth : 4;
    t->q = calloc(t->depth, sizeof *t->q);
    t->spare = calloc(t->depth + 1, sizeof *t->spare);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    if (!t->q || !t->spare) {
        thr_destroy(&t->base);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (pthread_create(&t->thread, NULL, worker, t) != 0) {
        thr_destroy(&t->base);
        ws_err_set(err, WS_ERR_INTERNAL, "could not start a worker thread");
        return NULL;
    }
    t->started = true;
    return &t->base;
}
