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

static uint64_t padded(uint64_t n)
{
    return (n + WS_TAR_BLOCK - 1) / WS_TAR_BLOCK * WS_TAR_BLOCK;
}

/* An octal field (leading spaces, digits, then spaces or NULs) or, for
 * numbers too large for octal, base-256 (first byte's top bit set). */
static int number(const uint8_t *f, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;

    if (f[0] & 0x80) {
        if (f[0] != 0x80)
            return -1; /* negative, or beyond 2^(8*(n-1)) */
        for (i = 1; i < n; i++) {
            if (v >> 56)
                return -1;
            v = v << 8 | f[i];
        }
        *out = v;
        return 0;
    }
    while (i < n && f[i] == ' ')
        i++;
    if (i == n || f[i] < '0' || f[i] > '7')
        return -1;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 61)
            return -1;
        v = v << 3 | (uint64_t) (f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = v;
    return 0;
}

static bool checksum_ok(const uint8_t *h)
{
    uint64_t stored;
    unsigned long usum = 0;
    long ssum = 0;

    if (number(h + 148, 8, &stored) < 0)
        return false;
    for (int i = 0; i < WS_TAR_BLOCK; i++) {
        uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];

        usum += c;
        ssum += (signed char) c;
    }
    /* Some old writers summed signed chars. */
    return stored == usum || (ssum >= 0 && stored == (uint64_t) ssum);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
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

/* The path from a pax extended header's "path" record, if any. */
static void pax_path(ws_tar_split *t, const uint8_t *p, uint64_t n)
{
    const uint8_t *end = p + n;

    while (p < end) {
        uint64_t len = 0;
        const uint8_t *q = p;

        while (q < end && *q >= '0' && *q <= '9' && len < n)
            len = len * 10 + (uint64_t) (*q++ - '0');
        if (q == p || q >= end || *q != ' ' || len == 0 || len > (uint64_t) (end - p))
            return; /* malformed: keep what we have; the member is still passed through */
        q++;
        if (end - q >= 5 && memcmp(q, "path=", 5) == 0 && p + len > q + 5 && p[len - 1] == '\n') {
            size_t vlen = (size_t) (p + len - 1 - (q + 5));

            if (vlen <= WS_TAR_PATH_MAX) {
                memcpy(t->ext_path, q + 5, vlen);
                t->ext_path[vlen] = '\0';
            }
        }
        p += len;
    }
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
    size_t nlen = strnlen((const char *) h, 100);

    if (t->ext_path[0]) {
        memcpy(t->path, t->ext_path, sizeof t->path);
        return;
    }
    if (memcmp(h + 257, "ustar", 5) == 0 && h[345]) {
        size_t plen = strnlen((const char *) h + 345, 155);

        snprintf(t->path, sizeof t->path, "%.*s/%.*s", (int) plen, (const char *) h + 345, (int) nlen,
                 (const char *) h);
    } else
        snprintf(t->path, sizeof t->path, "%.*s", (int) nlen, (const char *) h);
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
    if (all_zero(h, WS_TAR_BLOCK)) {
        if (t->ext_len)
            return bad(t, err, "end-of-archive block after an extended header");
        t->zero_seen = true;
        if (place_group(t, WS_TAR_BLOCK, err) < 0)
            return -1;
        return emit(t, h, WS_TAR_BLOCK, err);
    }
    if (t->zero_seen)
        return bad(t, err, "data after the end-of-archive marker");
    if (!checksum_ok(h))
        return bad(t, err, "bad header checksum");
    if (number(h + 124, 12, &size) < 0)
        return bad(t, err, "bad size field");
    if (type == 'x' || type == 'g' || type == 'L' || type == 'K') {
        if (t->ext_len + WS_TAR_BLOCK + padded(size) > WS_TAR_EXT_MAX)
            return bad(t, err, "extended headers larger than 64 KiB");
        memcpy(t->ext + t->ext_len, h, WS_TAR_BLOCK);
        t->ext_len += WS_TAR_BLOCK;
        t->ext_type = type;
        t->ext_data_at = t->ext_len;
        t->ext_size = size;
        t->ext_left = padded(size);
        if (t->ext_left == 0)
            ext_done(t);
        else
            t->st = ST_EXT_DATA;
        return 0;
    }
    header_path(t, h);
    data = has_data(type) ? size : 0;
    if (place_group(t, t->ext_len + WS_TAR_BLOCK + padded(data), err) < 0 || emit(t, t->ext, t->ext_len, err) < 0 ||
        emit(t, h, WS_TAR_BLOCK, err) < 0)
        return -1;
    t->ext_len = 0;
    t->ext_path[0] = '\0';
    t->members++;
    t->size = t->left = data;
    t->pad_left = padded(data) - data;
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
