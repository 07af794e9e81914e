/*
 * tar_split.h - cuts a tar stream into pieces of bounded size at member
 * boundaries, checking every header on the way.
 *
 * A member group is a member with the extended headers before it (pax 'x'
 * and 'g', GNU 'L' and 'K'), its data and padding; an end-of-archive zero
 * block is a group of its own.  A group starts a new piece when it does not
 * fit in what is left of the current one, so every piece is a sequence of
 * whole groups that a reader can extract on its own.  A group larger than a
 * piece is split inside its data: the piece that begins inside it says so
 * (continued, path, the offset of its first byte in the member's data, the
 * member's size).  A cut never falls inside a header or the padding, so a
 * piece holds at most max_piece + 511 bytes.
 *
 * The splitter keeps no data beyond one header group (at most
 * WS_TAR_EXT_MAX bytes of extended headers).
 */
#ifndef WALSHIP_TAR_SPLIT_H
#define WALSHIP_TAR_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/tar_header.h"

#define WS_TAR_PIECE_MIN (1u << 20) /* smallest max_piece accepted */

typedef struct ws_tar_piece {
    unsigned index;                 /* 0, 1, ... in the archive */
    uint64_t tar_offset;            /* of the piece's first byte in the archive */
    bool continued;                 /* the piece starts inside a member's data */
    uint64_t member_offset;         /* continued: bytes of that member's data in earlier pieces */
    uint64_t member_size;           /* continued: the member's data size */
    char path[WS_TAR_PATH_MAX + 1]; /* continued: the member's path */
} ws_tar_piece;

typedef struct ws_tar_split_ops {
    /* A piece starts; every byte until end() belongs to it. */
    int (*begin)(void *arg, const ws_tar_piece *piece, ws_err *err);
    int (*data)(void *arg, const uint8_t *buf, size_t len, ws_err *err);
    /* The piece is complete (len: its bytes). */
    int (*end)(void *arg, uint64_t len, ws_err *err);
} ws_tar_split_ops;

typedef struct ws_tar_split ws_tar_split;

/* name names the archive in errors. */
ws_tar_split *ws_tar_split_new(const char *name, uint64_t max_piece, const ws_tar_split_ops *ops, void *arg,
                               ws_err *err);

/* Any number of bytes of the archive. */
int ws_tar_split_write(ws_tar_split *t, const uint8_t *buf, size_t len, ws_err *err);

/* The archive ended: fails unless it ended between members; ends the last
 * piece (an empty archive is one empty piece). */
int ws_tar_split_finish(ws_tar_split *t, ws_err *err);

/* Members (not counting extended headers and zero blocks) seen so far. */
uint64_t ws_tar_split_members(const ws_tar_split *t);

void ws_tar_split_free(ws_tar_split *t);

#endif
