/*
 * buf.h - a growable byte buffer and growable arrays.
 *
 * A ws_buf starts zeroed ({0}); its data is always NUL-terminated once
 * something was appended, so text can be used as a string.  Growth doubles
 * the capacity and checks for overflow.
 */
#ifndef WALSHIP_BUF_H
#define WALSHIP_BUF_H

#include <stddef.h>

#include "walship/error.h"

typedef struct ws_buf {
    char *data; /* NULL until the first append */
    size_t len; /* bytes used, the NUL not counted */
    size_t cap; /* bytes allocated */
} ws_buf;

/* Makes room for `more` bytes after len (and the NUL). */
int ws_buf_reserve(ws_buf *b, size_t more, ws_err *err);

int ws_buf_append(ws_buf *b, const void *p, size_t n, ws_err *err);
int ws_buf_printf(ws_buf *b, ws_err *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Empties the buffer, keeping its memory. */
void ws_buf_clear(ws_buf *b);
void ws_buf_free(ws_buf *b);

/*
 * Makes *v (an array of elem-byte elements with capacity *cap) hold at
 * least need elements, doubling from 16; *v and *cap change only on
 * success.  For arrays that grow one element at a time.
 */
int ws_buf_grow_array(void **v, size_t *cap, size_t need, size_t elem, ws_err *err);

#endif
