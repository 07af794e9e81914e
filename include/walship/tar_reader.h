/*
 * tar_reader.h - a tar stream read member by member, as a sink: each
 * member's header (path, type, size, link name, mode), then its data, then
 * its end.  Extended headers (pax 'x' path/linkpath/size, GNU 'L'/'K') are
 * applied to the member that follows; pax 'g' headers are skipped.  Every
 * header is checked (checksum, numeric fields); the end-of-archive blocks
 * end the stream (only zeros may follow).
 *
 * A stream may start inside a member's data (a piece of an archive cut by
 * tar_split.h): ws_tar_reader_begin_inside() says how many data bytes of
 * which member come first.  It may also end inside a member's data (the
 * next piece goes on with it): finish accepts that and
 * ws_tar_reader_position() tells where it stopped.
 *
 * Memory: one header block and at most WS_TAR_EXT_MAX bytes of extended
 * headers; data passes straight through.
 */
#ifndef WALSHIP_TAR_READER_H
#define WALSHIP_TAR_READER_H

#include <stdbool.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/sink.h"
#include "walship/tar_header.h"

typedef struct ws_tar_member {
    char path[WS_TAR_PATH_MAX + 1];
    char link[WS_TAR_PATH_MAX + 1]; /* symbolic and hard links: the target */
    char type;                      /* '0' file ('\0' and '7' read as '0'), '1' hard link, '2' symlink,
                                     * '5' directory, others as written */
    uint64_t size;                  /* data bytes (0 unless a file) */
    unsigned mode;
    bool continued;  /* begun in an earlier piece (begin_inside) */
    uint64_t offset; /* continued: data bytes of it in earlier pieces */
} ws_tar_member;

typedef struct ws_tar_reader_ops {
    int (*member)(void *arg, const ws_tar_member *m, ws_err *err);
    int (*data)(void *arg, const uint8_t *buf, size_t len, ws_err *err);
    /* The member's data ended (also for members without data). */
    int (*member_end)(void *arg, ws_err *err);
} ws_tar_reader_ops;

typedef struct ws_tar_reader ws_tar_reader;

/* name names the stream in errors.  Free with ws_sink_free; the sink is
 * the reader. */
ws_sink *ws_tar_reader_new(const char *name, const ws_tar_reader_ops *ops, void *arg, ws_err *err);

/* Before any byte: the stream starts with data of member `path` (a file of
 * `size` bytes) from data offset `offset` on. */
int ws_tar_reader_begin_inside(ws_sink *reader, const char *path, uint64_t size, uint64_t offset, ws_err *err);

/* After finish: whether the stream ended inside a member's data, and then
 * which member and how many of its data bytes came so far (from its
 * start, earlier pieces included). */
bool ws_tar_reader_position(const ws_sink *reader, const char **path, uint64_t *data_done);

/* Whether the end-of-archive blocks came. */
bool ws_tar_reader_ended(const ws_sink *reader);

#endif
