/* tar_reader.c - a tar stream member by member (tar_reader.h). */
#include "walship/tar_reader.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { ST_HEADER, ST_EXT, ST_DATA, ST_PAD, ST_ZERO } tar_state;

typedef struct ws_tar_reader {
    ws_sink base;
    char *name;
    ws_tar_reader_ops ops;
    void *arg;

    tar_state st;
    uint8_t hdr[WS_TAR_BLOCK];
    size_t hdr_fill;
    uint64_t offset;  /* bytes consumed */
    uint64_t hdr_off; /* offset of the header being read */

    uint8_t ext[WS_TAR_EXT_MAX]; /* the data of the extended header being read */
    size_t ext_len;
    char ext_type;
    uint64_t ext_size, ext_left;
    char ext_path[WS_TAR_PATH_MAX + 1], ext_link[WS_TAR_PATH_MAX + 1];
    bool has_ext_size;
    uint64_t ext_size_value;
    size_t ext_total; /* bytes of extended headers before this member */

    ws_tar_member m; /* the member being read */
    uint64_t left, pad_left;
    uint64_t member_base; /* data bytes of the member before this stream */
    bool begun;           /* a byte arrived */
    bool in_member;
} ws_tar_reader;

static int bad(ws_tar_reader *t, ws_err *err, const char *what)
{
    return ws_err_set(err, WS_ERR_CORRUPT, "%s: tar header at offset %" PRIu64 ": %s", t->name, t->hdr_off, what);
}

static int end_member(ws_tar_reader *t, ws_err *err)
{
    t->in_member = false;
    return t->ops.member_end(t->arg, err);
}

/* The extended header just read applies to the next member. */
static int ext_done(ws_tar_reader *t, ws_err *err)
{
    if (t->ext_type == 'x') {
        char v[32];
        int rc = ws_tar_header_pax_value(t->ext, t->ext_size, "path", t->ext_path, sizeof t->ext_path);

        if (rc < 0 || ws_tar_header_pax_value(t->ext, t->ext_size, "linkpath", t->ext_link, sizeof t->ext_link) < 0)
            return bad(t, err, "malformed pax extended header");
        rc = ws_tar_header_pax_value(t->ext, t->ext_size, "size", v, sizeof v);
        if (rc < 0)
            return bad(t, err, "malformed pax extended header");
        if (rc == 1) {
            char *end;

            t->ext_size_value = strtoull(v, &end, 10);
            if (!*v || *end)
                return bad(t, err, "bad pax size");
            t->has_ext_size = true;
        }
    } else if (t->ext_type == 'L' || t->ext_type == 'K') {
        size_t n = strnlen((const char *) t->ext, t->ext_size);

        if (n > WS_TAR_PATH_MAX)
            return bad(t, err, "GNU long name too long");
        memcpy(t->ext_type == 'L' ? t->ext_path : t->ext_link, t->ext, n);
        (t->ext_type == 'L' ? t->ext_path : t->ext_link)[n] = '\0';
    }
    t->st = ST_HEADER;
    return 0;
}

static int header_done(ws_tar_reader *t, ws_err *err)
{
    const uint8_t *h = t->hdr;
    uint64_t size, mode;
    char type = (char) h[156];

    t->hdr_fill = 0;
    if (ws_tar_header_all_zero(h, WS_TAR_BLOCK)) {
        if (t->ext_total)
            return bad(t, err, "end-of-archive block after an extended header");
        t->st = ST_ZERO;
        return 0;
    }
    if (!ws_tar_header_checksum_ok(h))
        return bad(t, err, "bad header checksum");
    if (ws_tar_header_number(h + 124, 12, &size) < 0)
        return bad(t, err, "bad size field");
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        t->ext_total += WS_TAR_BLOCK + ws_tar_header_padded(size);
        if (t->ext_total > WS_TAR_EXT_MAX || size > WS_TAR_EXT_MAX)
            return bad(t, err, "extended headers larger than 64 KiB");
        t->ext_type = type;
        t->ext_size = size;
        t->ext_left = ws_tar_header_padded(size);
        t->ext_len = 0;
        if (t->ext_left == 0)
            return ext_done(t, err);
        t->st = ST_EXT;
        return 0;
    }
    memset(&t->m, 0, sizeof t->m);
    if (t->ext_path[0])
        memcpy(t->m.path, t->ext_path, sizeof t->m.path);
    else
        ws_tar_header_name(h, t->m.path, sizeof t->m.path);
    if (t->ext_link[0])
        memcpy(t->m.link, t->ext_link, sizeof t->m.link);
    else
        ws_tar_header_linkname(h, t->m.link, sizeof t->m.link);
    if (t->has_ext_size)
        size = t->ext_size_value;
    if (ws_tar_header_number(h + 100, 8, &mode) < 0)
        return bad(t, err, "bad mode field");
    t->m.mode = (unsigned) (mode & 07777);
    t->m.type = (type == '\0' || type == '7') ? '0' : type;
    /* Only regular files carry data here (PostgreSQL sends nothing else). */
    t->m.size = t->m.type == '0' ? size : 0;
    if (t->m.type != '0' && size != 0 && t->m.type != '1' && t->m.type != '2' && t->m.type != '5')
        t->m.size = size; /* the data of other kinds is passed on, to be refused by the caller */
    t->ext_path[0] = t->ext_link[0] = '\0';
    t->has_ext_size = false;
    t->ext_total = 0;
    t->member_base = 0;
    t->left = t->m.size;
    t->pad_left = ws_tar_header_padded(t->m.size) - t->m.size;
    t->in_member = true;
    if (t->ops.member(t->arg, &t->m, err) < 0)
        return -1;
    if (t->left == 0) {
        t->st = ST_HEADER;
        return end_member(t, err);
    }
    t->st = ST_DATA;
    return 0;
}

static int reader_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    ws_tar_reader *t = (ws_tar_reader *) s;

    t->begun = t->begun || len > 0;
    while (len > 0) {
        size_t n;

        switch (t->st) {
        case ST_HEADER:
            if (t->hdr_fill == 0)
                t->hdr_off = t->offset;
            n = WS_TAR_BLOCK - t->hdr_fill < len ? WS_TAR_BLOCK - t->hdr_fill : len;
            memcpy(t->hdr + t->hdr_fill, buf, n);
            t->hdr_fill += n;
            t->offset += n;
            if (t->hdr_fill == WS_TAR_BLOCK && header_done(t, err) < 0)
                return -1;
            break;
        case ST_EXT:
            n = t->ext_left < len ? (size_t) t->ext_left : len;
            if (t->ext_len + n > sizeof t->ext)
                return bad(t, err, "extended header too large");
            memcpy(t->ext + t->ext_len, buf, n);
            t->ext_len += n;
            t->ext_left -= n;
            t->offset += n;
            if (t->ext_left == 0 && ext_done(t, err) < 0)
                return -1;
            break;
        case ST_DATA:
            n = t->left < len ? (size_t) t->left : len;
            if (t->ops.data(t->arg, buf, n, err) < 0)
                return -1;
            t->left -= n;
            t->offset += n;
            if (t->left == 0) {
                t->st = t->pad_left ? ST_PAD : ST_HEADER;
                if (end_member(t, err) < 0)
                    return -1;
            }
            break;
        case ST_PAD:
            n = t->pad_left < len ? (size_t) t->pad_left : len;
            t->pad_left -= n;
            t->offset += n;
            if (t->pad_left == 0)
                t->st = ST_HEADER;
            break;
        case ST_ZERO:
        default:
            n = len;
            if (!ws_tar_header_all_zero(buf, n)) {
                t->hdr_off = t->offset;
                return bad(t, err, "data after the end-of-archive marker");
            }
            t->offset += n;
            break;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

static int reader_finish(ws_sink *s, ws_err *err)
{
    ws_tar_reader *t = (ws_tar_reader *) s;

    if (t->st == ST_DATA)
        return ws_sink_finish_next(s, err); /* the next piece goes on with it */
    if (t->st == ST_EXT || t->hdr_fill != 0 || t->ext_total != 0 || t->st == ST_PAD) {
        t->hdr_off = t->offset;
        return bad(t, err, "the stream ends inside a header or padding");
    }
    return ws_sink_finish_next(s, err);
}

static void reader_destroy(ws_sink *s)
{
    ws_tar_reader *t = (ws_tar_reader *) s;

    free(t->name);
    free(t);
}

static const ws_sink_ops reader_ops = {"tar reader", reader_write, reader_finish, reader_destroy};

ws_sink *ws_tar_reader_new(const char *name, const ws_tar_reader_ops *ops, void *arg, ws_err *err)
{
    ws_tar_reader *t = calloc(1, sizeof *t);

    if (!t || !(t->name = strdup(name))) {
        free(t);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->base.ops = &reader_ops;
    t->ops = *ops;
    t->arg = arg;
    t->st = ST_HEADER;
    return &t->base;
}

int ws_tar_reader_begin_inside(ws_sink *s, const char *path, uint64_t size, uint64_t offset, ws_err *err)
{
    ws_tar_reader *t = (ws_tar_reader *) s;
    size_t n = strlen(path);

    if (t->begun || offset >= size || n > WS_TAR_PATH_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "%s: cannot start inside member \"%.200s\" at %" PRIu64 " of %" PRIu64,
                          t->name, path, offset, size);
    memset(&t->m, 0, sizeof t->m);
    memcpy(t->m.path, path, n + 1);
    t->m.type = '0';
    t->m.size = size;
    t->m.mode = 0600;
    t->m.continued = true;
    t->m.offset = offset;
    t->member_base = offset;
    t->left = size - offset;
    t->pad_left = ws_tar_header_padded(size) - size;
    t->in_member = true;
    t->st = ST_DATA;
    return t->ops.member(t->arg, &t->m, err);
}

bool ws_tar_reader_position(const ws_sink *s, const char **path, uint64_t *data_done)
{
    const ws_tar_reader *t = (const ws_tar_reader *) s;

    if (t->st != ST_DATA)
        return false;
    *path = t->m.path;
    *data_done = t->m.size - t->left;
    return true;
}

bool ws_tar_reader_ended(const ws_sink *s)
{
    return ((const ws_tar_reader *) s)->st == ST_ZERO;
}
