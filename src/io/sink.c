/* sink.c - chain plumbing, terminal sinks and sources (see sink.h). */
#include "walship/sink.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ws_sink_free(ws_sink *s)
{
    if (s)
        s->ops->destroy(s);
}

int ws_sink_finish_next(ws_sink *s, ws_err *err)
{
    return s->next ? ws_sink_finish(s->next, err) : 0;
}

/* --- fd sink ----------------------------------------------------------- */

typedef struct {
    ws_sink base;
    int fd;
    char *name;
} fd_sink;

static int fd_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    fd_sink *f = (fd_sink *) s;

    while (len > 0) {
        ssize_t n = write(f->fd, buf, len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return ws_err_sys(err, errno, "could not write \"%s\"", f->name);
        }
        buf += n;
        len -= (size_t) n;
    }
    return 0;
}

static int fd_finish(ws_sink *s, ws_err *err)
{
    (void) s;
    (void) err;
    return 0;
}

static void fd_destroy(ws_sink *s)
{
    fd_sink *f = (fd_sink *) s;

    free(f->name);
    free(f);
}

static const ws_sink_ops fd_ops = {"fd", fd_write, fd_finish, fd_destroy};

ws_sink *ws_sink_fd_new(int fd, const char *name_for_errors)
{
    fd_sink *f = calloc(1, sizeof *f);

    if (!f)
        return NULL;
    f->name = strdup(name_for_errors ? name_for_errors : "(fd)");
    if (!f->name) {
        free(f);
        return NULL;
    }
    f->base.ops = &fd_ops;
    f->fd = fd;
    return &f->base;
}

/* --- memory sink --------------------------------------------------------- */

typedef struct {
    ws_sink base;
    uint8_t *data;
    size_t len, cap;
} mem_sink;

static int mem_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    mem_sink *m = (mem_sink *) s;

    if (len == 0)
        return 0;
    if (m->len + len > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        uint8_t *p;

        while (cap < m->len + len)
            cap *= 2;
        p = realloc(m->data, cap);
        if (!p)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory (%zu bytes)", cap);
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, buf, len);
    m->len += len;
    return 0;
}

static void mem_destroy(ws_sink *s)
{
    mem_sink *m = (mem_sink *) s;

    free(m->data);
    free(m);
}

static const ws_sink_ops mem_ops = {"mem", mem_write, fd_finish, mem_destroy};

ws_sink *ws_sink_mem_new(void)
{
    mem_sink *m = calloc(1, sizeof *m);

    if (m)
        m->base.ops = &mem_ops;
    return m ? &m->base : NULL;
}

const uint8_t *ws_sink_mem_data(const ws_sink *s, size_t *len)
{
    const mem_sink *m = (const mem_sink *) s;

    *len = m->len;
    return m->data;
}

/* --- counting sink (the null sink is one without next) --------------------- */

typedef struct {
    ws_sink base;
    uint64_t count;
} count_sink;

static int count_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    ((count_sink *) s)->count += len;
    return s->next ? ws_sink_write(s->next, buf, len, err) : 0;
}

static void count_destroy(ws_sink *s)
{
    free(s);
}

static const ws_sink_ops count_ops = {"count", count_write, ws_sink_finish_next, count_destroy};

ws_sink *ws_sink_count_new(ws_sink *next)
{
    count_sink *n = calloc(1, sizeof *n);

    if (!n)
        return NULL;
    n->base.ops = &count_ops;
    n->base.next = next;
    return &n->base;
}

uint64_t ws_sink_count_bytes(const ws_sink *s)
{
    return ((const count_sink *) s)->count;
}

ws_sink *ws_sink_null_new(void)
{
    return ws_sink_count_new(NULL);
}

uint64_t ws_sink_null_count(const ws_sink *s)
{
    return ws_sink_count_bytes(s);
}

/* --- sources ---------------------------------------------------------------- */

int ws_sink_pump_fd(int fd, const char *name_for_errors, ws_sink *sink, ws_err *err)
{
    uint8_t *buf = malloc(WS_IO_BLOCK);
    int rc = -1;

    if (!buf)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    for (;;) {
        ssize_t n = read(fd, buf, WS_IO_BLOCK);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            ws_err_sys(err, errno, "could not read \"%s\"", name_for_errors ? name_for_errors : "(fd)");
            goto out;
        }
        if (n == 0)
            break;
        if (ws_sink_write(sink, buf, (size_t) n, err) < 0)
            goto out;
    }
    rc = ws_sink_finish(sink, err);
out:
    free(buf);
    return rc;
}

int ws_sink_pump_mem(const void *buf, size_t len, size_t piece, ws_sink *sink, ws_err *err)
{
    const uint8_t *p = buf;

    if (piece == 0)
        piece = len ? len : 1;
    while (len > 0) {
        size_t n = len < piece ? len : piece;

        if (ws_sink_write(sink, p, n, err) < 0)
            return -1;
        p += n;
        len -= n;
    }
    return ws_sink_finish(sink, err);
}
