/* buf.c - growable buffers and arrays (see buf.h). */
#include "walship/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ws_buf_grow_array(void **v, size_t *cap, size_t need, size_t elem, ws_err *err)
{
    size_t ncap = *cap ? *cap : 16;
    void *nv;

    if (need <= *cap)
        return 0;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        ncap *= 2;
    }
    if (elem && ncap > SIZE_MAX / elem)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    nv = realloc(*v, ncap * elem);
    if (!nv)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    *v = nv;
    *cap = ncap;
    return 0;
}

int ws_buf_reserve(ws_buf *b, size_t more, ws_err *err)
{
    void *p = b->data;

    if (more > SIZE_MAX - b->len - 1)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    if (ws_buf_grow_array(&p, &b->cap, b->len + more + 1, 1, err) < 0)
        return -1;
    b->data = p;
    return 0;
}

int ws_buf_append(ws_buf *b, const void *p, size_t n, ws_err *err)
{
    if (ws_buf_reserve(b, n, err) < 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int ws_buf_printf(ws_buf *b, ws_err *err, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return ws_err_set(err, WS_ERR_INTERNAL, "could not format text");
    if (ws_buf_reserve(b, (size_t) n, err) < 0)
        return -1;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
    return 0;
}

void ws_buf_add(ws_buf *b, const void *p, size_t n)
{
    ws_err ignored;

    if (!b->oom && ws_buf_append(b, p, n, &ignored) < 0)
        b->oom = true;
}

void ws_buf_adds(ws_buf *b, const char *s)
{
    ws_buf_add(b, s, strlen(s));
}

void ws_buf_addf(ws_buf *b, const char *fmt, ...)
{
    ws_err ignored;
    va_list ap;
    int n;

    if (b->oom)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || ws_buf_reserve(b, (size_t) n, &ignored) < 0) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t) n;
}

void ws_buf_clear(ws_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[0] = '\0';
}

void ws_buf_free(ws_buf *b)
{
    free(b->data);
    *b = (ws_buf){0};
}
