/*
 * sink.h - the streaming filter chain.
 *
 * Data flows one way: a source pushes bytes into a sink; a filter is a sink
 * that transforms bytes and pushes them into its `next` sink; the last sink
 * writes somewhere (a file descriptor, memory, a storage object).  Like
 * PostgreSQL 15's bbstreamer.  A stage does not own `next`: whoever built the
 * chain frees every stage (ws_sink_free), in any order, after use.
 *
 * Contract: write() may be called any number of times with any length
 * (including 0); finish() is called once at end of stream, flushes the stage
 * and then calls finish() on next.  After an error the chain is dead: the
 * caller only frees it.
 */
#ifndef WALSHIP_SINK_H
#define WALSHIP_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

typedef struct ws_sink ws_sink;

typedef struct ws_sink_ops {
    const char *name;
    int (*write)(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err);
    int (*finish)(ws_sink *s, ws_err *err);
    void (*destroy)(ws_sink *s); /* free this stage only */
} ws_sink_ops;

struct ws_sink {
    const ws_sink_ops *ops;
    ws_sink *next; /* NULL for a terminal sink */
};

static inline int ws_sink_write(ws_sink *s, const void *buf, size_t len, ws_err *err)
{
    return s->ops->write(s, (const uint8_t *) buf, len, err);
}

static inline int ws_sink_finish(ws_sink *s, ws_err *err)
{
    return s->ops->finish(s, err);
}

/* Frees one stage (NULL is allowed). */
void ws_sink_free(ws_sink *s);

/* Finish the next stage, or succeed when there is none. */
int ws_sink_finish_next(ws_sink *s, ws_err *err);

/* --- terminal sinks -------------------------------------------------- */

/* Writes to fd (not closed by the sink; finish does not fsync). */
ws_sink *ws_sink_fd_new(int fd, const char *name_for_errors);

/* Collects everything in memory (tests, small objects only). */
ws_sink *ws_sink_mem_new(void);
const uint8_t *ws_sink_mem_data(const ws_sink *s, size_t *len);

/* Discards everything, counting bytes (verification runs). */
ws_sink *ws_sink_null_new(void);
uint64_t ws_sink_null_count(const ws_sink *s);

/* Counts the bytes passing into next (a filter; NULL next = the null sink). */
ws_sink *ws_sink_count_new(ws_sink *next);
uint64_t ws_sink_count_bytes(const ws_sink *s);

/* --- sources ---------------------------------------------------------- */

#define WS_IO_BLOCK (256 * 1024)

/* Reads fd to EOF into sink in WS_IO_BLOCK pieces, then finishes sink. */
int ws_sink_pump_fd(int fd, const char *name_for_errors, ws_sink *sink, ws_err *err);

/* Same for a memory buffer, written in pieces of `piece` bytes (0 = one). */
int ws_sink_pump_mem(const void *buf, size_t len, size_t piece, ws_sink *sink, ws_err *err);

#endif
