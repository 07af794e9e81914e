/* filter_lz4.h - LZ4 frame (the standard format, as the lz4 tool writes it). */
#ifndef WALSHIP_FILTER_LZ4_H
#define WALSHIP_FILTER_LZ4_H

#include "walship/sink.h"

/* Compresses into one LZ4 frame with a content checksum (level 0 = fast). */
ws_sink *ws_filter_lz4_compress_new(ws_sink *next, int level, ws_err *err);

/* Decompresses exactly one LZ4 frame; bytes after it, or a frame that does
 * not end, are corruption.  `name` is used in error messages. */
ws_sink *ws_filter_lz4_decompress_new(ws_sink *next, const char *name, ws_err *err);

#endif
