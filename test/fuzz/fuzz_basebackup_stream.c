/*
 * fuzz_basebackup_stream.c - libFuzzer target for the BASE_BACKUP COPY
 * stream parser (basebackup_stream.h) and the tar splitter it feeds
 * (tar_split.h), as walship-backup chains them.
 *
 * The input is a sequence of messages, each a 2-byte little-endian length
 * and that many bytes.  Whatever happens, errors are one line, and the
 * pieces the splitter makes tile each archive: contiguous, at most the
 * bound plus 511 bytes, together exactly the archive's bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "walship/basebackup_stream.h"
#include "walship/tar_split.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct state {
    ws_tar_split *t;
    uint64_t archive_bytes; /* into the splitter */
    uint64_t piece_bytes;   /* out of it, in ended pieces */
    uint64_t cur;           /* bytes of the open piece */
    uint64_t next_offset;
    bool open;
} state;

static void check_err(const ws_err *err)
{
    if (err->msg[0] == '\0' || memchr(err->msg, '\n', strlen(err->msg)))
        __builtin_trap();
}

static int p_begin(void *arg, const ws_tar_piece *p, ws_err *err)
{
    state *s = arg;

    (void) err;
    if (s->open || p->tar_offset != s->next_offset)
        __builtin_trap();
    s->open = true;
    s->cur = 0;
    return 0;
}

static int p_data(void *arg, const uint8_t *buf, size_t len, ws_err *err)
{
    state *s = arg;

    (void) buf;
    (void) err;
    if (!s->open)
        __builtin_trap();
    s->cur += len;
    return 0;
}

static int p_end(void *arg, uint64_t len, ws_err *err)
{
    state *s = arg;

    (void) err;
    if (!s->open || len != s->cur || len > WS_TAR_PIECE_MIN + 511)
        __builtin_trap();
    s->open = false;
    s->piece_bytes += len;
    s->next_offset += len;
    return 0;
}

static const ws_tar_split_ops ops = {p_begin, p_data, p_end};

static int end_archive(state *s, ws_err *err)
{
    int rc;

    if (!s->t)
        return 0;
    rc = ws_tar_split_finish(s->t, err);
    if (rc == 0 && (s->open || s->piece_bytes != s->archive_bytes))
        __builtin_trap();
    ws_tar_split_free(s->t);
    s->t = NULL;
    return rc;
}

static int ev_archive(void *arg, const char *name, const char *location, ws_err *err)
{
    state *s = arg;

    (void) location;
    if (end_archive(s, err) < 0)
        return -1;
    memset(s, 0, sizeof *s);
    s->t = ws_tar_split_new(name, WS_TAR_PIECE_MIN, &ops, s, err);
    return s->t ? 0 : -1;
}

static int ev_data(void *arg, bool manifest, const uint8_t *buf, size_t len, ws_err *err)
{
    state *s = arg;

    if (manifest)
        return 0;
    s->archive_bytes += len;
    return ws_tar_split_write(s->t, buf, len, err);
}

static int ev_manifest(void *arg, ws_err *err)
{
    return end_archive(arg, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ws_basebackup_events ev = {ev_archive, ev_data, NULL, ev_manifest};
    ws_basebackup_stream bs;
    state s;
    ws_err err;
    int rc = 0;

    memset(&s, 0, sizeof s);
    ws_err_clear(&err);
    ws_basebackup_stream_init(&bs, &ev, &s);
    while (rc == 0 && size >= 2) {
        size_t len = (size_t) data[0] | (size_t) data[1] << 8;

        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        rc = ws_basebackup_stream_feed(&bs, data, len, &err);
        data += len;
        size -= len;
    }
    if (rc == 0)
        rc = end_archive(&s, &err);
    if (rc == 0)
        rc = ws_basebackup_stream_end(&bs, false, &err);
    if (rc < 0)
        check_err(&err);
    ws_tar_split_free(s.t);
    return 0;
}
