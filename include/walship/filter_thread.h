/*
 * filter_thread.h - runs the rest of the chain on a worker thread.
 *
 * Writes are copied into a small bounded queue of buffers and pushed into
 * `next` by a worker, so the stage before (e.g. hashing) and the stages after
 * (compression, encryption, output) use two cores.  Memory is bounded by
 * depth x block bytes.  An error in the worker is returned by the next
 * write() or by finish().
 */
#ifndef WALSHIP_FILTER_THREAD_H
#define WALSHIP_FILTER_THREAD_H

#include "walship/sink.h"

ws_sink *ws_filter_thread_new(ws_sink *next, size_t block, unsigned depth, ws_err *err);

#endif
