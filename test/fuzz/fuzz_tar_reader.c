/*
 * fuzz_tar_reader.c - libFuzzer target for the tar reader (tar_reader.h)
 * that pitr-restore extracts backups with.
 *
 * The first byte chooses how the input is cut into writes and whether the
 * stream starts inside a member (as an object continuing one does).  Whatever
 * happens: errors are one line; members come one at a time (member, data,
 * end), a member's data never exceeds its size, and a member's path never
 * holds a NUL byte.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "walship/tar_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct state {
    bool in;
    uint64_t size, got;
} state;

static int on_member(void *arg, const ws_tar_member *m, ws_err *err)
{
    state *s = arg;

    (void) err;
    if (s->in || strnlen(m->path, sizeof m->path) == sizeof m->path)
        __builtin_trap();
    s->in = true;
    s->size = m->size;
    s->got = m->continued ? m->offset : 0;
    return 0;
}

static int on_data(void *arg, const uint8_t *buf, size_t len, ws_err *err)
{
    state *s = arg;

    (void) buf;
    (void) err;
    if (!s->in || s->got + len > s->size)
        __builtin_trap();
    s->got += len;
    return 0;
}

static int on_end(void *arg, ws_err *err)
{
    state *s = arg;

    (void) err;
    if (!s->in || s->got != s->size)
        __builtin_trap();
    s->in = false;
    return 0;
}

static void check_err(const ws_err *err)
{
    if (err->msg[0] == '\0' || memchr(err->msg, '\n', strlen(err->msg)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ws_tar_reader_ops ops = {on_member, on_data, on_end};
    state s = {0};
    ws_err err;
    ws_sink *t;
    size_t piece;
    int rc = 0;

    if (size < 1)
        return 0;
    piece = (size_t) (data[0] & 0x3f) * 97 + 1;
    ws_err_clear(&err);
    t = ws_tar_reader_new("fuzz", &ops, &s, &err);
    if (!t)
        return 0;
    if (data[0] & 0x80)
        rc = ws_tar_reader_begin_inside(t, "continued/member", 100000, (data[0] & 0x40) ? 99000 : 5, &err);
    for (size_t off = 1; rc == 0 && off < size; off += piece)
        rc = ws_sink_write(t, data + off, size - off < piece ? size - off : piece, &err);
    if (rc == 0)
        rc = ws_sink_finish(t, &err);
    if (rc < 0)
        check_err(&err);
    ws_sink_free(t);
    return 0;
}
