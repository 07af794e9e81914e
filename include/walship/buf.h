/*
 * buf.h - a growable byte buffer and growable arrays.
 *
 * A ws_buf starts zeroed ({0}, ws_buf_init); its data is always
 * NUL-terminated once something was appended, so text can be used as a
 * string.  Growth doubles the capacity and checks for overflow.
 *
 * Two ways to append: checked (ws_buf_append, ws_buf_printf: -1 with err on
 * failure) and unchecked (ws_buf_add, ws_buf_adds, ws_buf_addf), for text
 * built in many small steps, such as a request: a failure sets oom, later
 * unchecked appends do nothing, and the caller checks oom once at the end.
 */
#ifndef WALSHIP_BUF_H
#define WALSHIP_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "walship/error.h"

typedef struct ws_buf {
    char *data; /* NULL until the first append */
    size_t len; /* bytes used, the NUL not counted */
    size_t cap; /* bytes allocated */
    bool oom;   /* an unchecked append failed: the content is incomplete */
} ws_buf;

static inline void ws_buf_init(ws_buf *b)
{
    *b = (ws_buf){0};
}

/* Makes room for `more` bytes after len (and the NUL). */
int ws_buf_reserve(ws_buf *b, size_t more, ws_err *err);

int ws_buf_append(ws_buf *b, const void *p, size_t n, ws_err *err);
int ws_buf_printf(ws_buf *b, ws_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Unchecked appends (see above). */
void ws_buf_add(ws_buf *b, const void *p, size_t n);
void ws_buf_adds(ws_buf *b, const char *s);
void ws_buf_addf(ws_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Empties the buffer, keeping its memory, and forgets oom. */
void ws_buf_clear(ws_buf *b);
void ws_buf_free(ws_buf *b);

/*
 * Makes *v (an array of elem-byte elements with capacity *cap) hold at
 * least need elements, doubling from 16; *v and *cap change only on
 * success.  For arrays that grow one element at a time.
 */
int ws_buf_grow_array(void **v, size_t *cap, size_t need, size_t elem, ws_err *err);

#endif
