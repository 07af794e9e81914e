/* tar_split.c - tar stream into bounded pieces at member boundaries (tar_split.h). */
#include "walship/tar_split.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { ST_HEADER, ST_EXT_DATA, ST_DATA, ST_PAD } tar_state;

struct ws_tar_split {
    char *name;
    uint64_t max_piece;
    ws_tar_split_ops ops;
    void *arg;

    tar_state st;
    uint8_t hdr[WS_TAR_BLOCK];
    size_t hdr_fill;
    uint64_t offset;  /* archive bytes consumed */
    uint64_t hdr_off; /* archive offset of the header being read */

    /* Extended headers waiting for their member: stored as they came. */
    uint8_t ext[WS_TAR_EXT_MAX];
    size_t ext_len;
    uint8_t ext_type;                   /* of the one whose data is being read */
    size_t ext_data_at;                 /* where its data starts in ext */
    uint64_t ext_size;                  /* its data size (unpadded) */
    uint64_t ext_left;                  /* padded bytes still to read */
    char ext_path[WS_TAR_PATH_MAX + 1]; /* from 'x' path= or 'L', "" if none */

    /* The member being passed through. */
    char path[WS_TAR_PATH_MAX + 1];
    uint64_t size, left, pad_left;
    uint64_t members;
    bool zero_seen; /* an end-of-archive block came: only zeros may follow */

    bool piece_open;
    uint64_t piece_bytes;
    unsigned pieces;
};

ws_tar_split *ws_tar_split_new(const char *name, uint64_t max_piece, const ws_tar_split_ops *ops, void *arg,
                               ws_err *err)
{
    ws_tar_split *t;

    if (max_piece < WS_TAR_PIECE_MIN) {
        ws_err_set(err, WS_ERR_INVALID, "tar piece size %" PRIu64 " is below the minimum of %u bytes", max_piece,
                   WS_TAR_PIECE_MIN);
        return NULL;
    }
    t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->max_piece = max_piece;
    t->ops = *ops;
    t->arg = arg;
    t->st = ST_HEADER;
    return t;
}

void ws_tar_split_free(ws_tar_split *t)
{
    if (!t)
        return;
    free(t->name);
    free(t);
}

uint64_t ws_tar_split_members(const ws_tar_split *t)
{
    return t->members;
}

static int bad(ws_tar_split *t, ws_err *err, const char *what)
{
    return ws_err_set(err, WS_ERR_FORMAT, "archive %s: tar header at offset %" PRIu64 ": %s", t->name, t->hdr_off,
                      what);
}

static int emit(ws_tar_split *t, const uint8_t *buf, size_t len, ws_err *err)
{
    if (len == 0)
        return 0;
    t->piece_bytes += len;
    t->offset += len;
    return t->ops.data(t->arg, buf, len, err);
}

static int piece_end(ws_tar_split *t, ws_err *err)
{
    t->piece_open = false;
    return t->ops.end(t->arg, t->piece_bytes, err);
}

static int piece_begin(ws_tar_split *t, bool continued, ws_err *err)
{
    ws_tar_piece p;

    memset(&p, 0, sizeof p);
    p.index = t->pieces++;
    p.tar_offset = t->offset;
    p.continued = continued;
    if (continued) {
        p.member_offset = t->size - t->left;
        p.member_size = t->size;
        memcpy(p.path, t->path, sizeof p.path);
    }
    t->piece_open = true;
    t->piece_bytes = 0;
    return t->ops.begin(t->arg, &p, err);
}

/* Before a group of `group` bytes: a new piece unless it fits. */
static int place_group(ws_tar_split *t, uint64_t group, ws_err *err)
{
    if (t->piece_open && t->piece_bytes > 0 && t->piece_bytes + group > t->max_piece && piece_end(t, err) < 0)
        return -1;
    if (!t->piece_open)
        return piece_begin(t, false, err);
    return 0;
}

/* The path from a pax extended header's "path" record, if any (malformed
 * records keep what we have: the member is still passed through). */
static void pax_path(ws_tar_split *t, const uint8_t *p, uint64_t n)
{
    char v[WS_TAR_PATH_MAX + 1];

    if (ws_tar_header_pax_value(p, n, "path", v, sizeof v) == 1)
        memcpy(t->ext_path, v, sizeof v);
}

static void ext_done(ws_tar_split *t)
{
    const uint8_t *d = t->ext + t->ext_data_at;

    if (t->ext_type == 'x')
        pax_path(t, d, t->ext_size);
    else if (t->ext_type == 'L') {
        size_t n = strnlen((const char *) d, (size_t) t->ext_size);

        if (n <= WS_TAR_PATH_MAX) {
            memcpy(t->ext_path, d, n);
            t->ext_path[n] = '\0';
        }
    }
    t->st = ST_HEADER;
}

/* ustar: prefix "/" name; older formats: name. */
static void header_path(ws_tar_split *t, const uint8_t *h)
{
    if (t->ext_path[0])
        memcpy(t->path, t->ext_path, sizeof t->path);
    else
        ws_tar_header_name(h, t->path, sizeof t->path);
}

static bool has_data(uint8_t type)
{
    return !(type >= '1' && type <= '6');
}

static int header_done(ws_tar_split *t, ws_err *err)
{
    const uint8_t *h = t->hdr;
    uint64_t size, data;
    uint8_t type = h[156];

    t->hdr_fill = 0;
    if (ws_tar_header_all_zero(h, WS_TAR_BLOCK)) {
        if (t->ext_len)
            return bad(t, err, "end-of-archive block after an extended header");
        t->zero_seen = true;
        if (place_group(t, WS_TAR_BLOCK, err) < 0)
            return -1;
        return emit(t, h, WS_TAR_BLOCK, err);
    }
    if (t->zero_seen)
        return bad(t, err, "data after the end-of-archive marker");
    if (!ws_tar_header_checksum_ok(h))
        return bad(t, err, "bad header checksum");
    if (ws_tar_header_number(h + 124, 12, &size) < 0)
        return bad(t, err, "bad size field");
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        if (t->ext_len + WS_TAR_BLOCK + ws_tar_header_padded(size) > WS_TAR_EXT_MAX)
            return bad(t, err, "extended headers larger than 64 KiB");
        memcpy(t->ext + t->ext_len, h, WS_TAR_BLOCK);
        t->ext_len += WS_TAR_BLOCK;
        t->ext_type = type;
        t->ext_data_at = t->ext_len;
        t->ext_size = size;
        t->ext_left = ws_tar_header_padded(size);
        if (t->ext_left == 0)
            ext_done(t);
        else
            t->st = ST_EXT_DATA;
        return 0;
    }
    header_path(t, h);
    data = has_data(type) ? size : 0;
    if (place_group(t, t->ext_len + WS_TAR_BLOCK + ws_tar_header_padded(data), err) < 0 ||
        emit(t, t->ext, t->ext_len, err) < 0 || emit(t, h, WS_TAR_BLOCK, err) < 0)
        return -1;
    t->ext_len = 0;
    t->ext_path[0] = '\0';
    t->members++;
    t->size = t->left = data;
    t->pad_left = ws_tar_header_padded(data) - data;
    t->st = data ? ST_DATA : ST_HEADER;
    return 0;
}

int ws_tar_split_write(ws_tar_split *t, const uint8_t *buf, size_t len, ws_err *err)
{
    while (len > 0) {
        size_t n;

        switch (t->st) {
        case ST_HEADER:
            if (t->hdr_fill == 0)
                t->hdr_off = t->offset + t->ext_len;
            n = WS_TAR_BLOCK - t->hdr_fill < len ? WS_TAR_BLOCK - t->hdr_fill : len;
            memcpy(t->hdr + t->hdr_fill, buf, n);
            t->hdr_fill += n;
            if (t->hdr_fill == WS_TAR_BLOCK && header_done(t, err) < 0)
                return -1;
            break;
        case ST_EXT_DATA:
            n = t->ext_left < len ? (size_t) t->ext_left : len;
            memcpy(t->ext + t->ext_len, buf, n);
            t->ext_len += n;
            t->ext_left -= n;
            if (t->ext_left == 0)
                ext_done(t);
            break;
        case ST_DATA:
            if (t->piece_bytes >= t->max_piece) {
                /* A member larger than a piece: cut inside its data. */
                if (piece_end(t, err) < 0 || piece_begin(t, true, err) < 0)
                    return -1;
            }
            n = t->left < len ? (size_t) t->left : len;
            if (n > t->max_piece - t->piece_bytes)
                n = (size_t) (t->max_piece - t->piece_bytes);
            if (emit(t, buf, n, err) < 0)
                return -1;
            t->left -= n;
            if (t->left == 0)
                t->st = t->pad_left ? ST_PAD : ST_HEADER;
            break;
        case ST_PAD:
        default:
            n = t->pad_left < len ? (size_t) t->pad_left : len;
            if (emit(t, buf, n, err) < 0)
                return -1;
            t->pad_left -= n;
            if (t->pad_left == 0)
                t->st = ST_HEADER;
            break;
        }
        buf += n;
        len -= n;
    }
    return 0;
}

int ws_tar_split_finish(ws_tar_split *t, ws_err *err)
{
    if (t->st != ST_HEADER || t->hdr_fill != 0 || t->ext_len != 0)
        return ws_err_set(err, WS_ERR_FORMAT, "archive %s ends inside a member (after %" PRIu64 " bytes)", t->name,
                          t->offset + t->ext_len + t->hdr_fill);
    if (!t->piece_open && t->pieces == 0 && piece_begin(t, false, err) < 0)
        return -1;
    if (t->piece_open)
        return piece_end(t, err);
    return 0;
}
