/* basebackup_stream.c - BASE_BACKUP's COPY stream parser (basebackup_stream.h). */
#include "walship/basebackup_stream.h"

#include <inttypes.h>
#include <string.h>

void ws_basebackup_stream_init(ws_basebackup_stream *s, const ws_basebackup_events *ev, void *arg)
{
    memset(s, 0, sizeof *s);
    s->ev = *ev;
    s->arg = arg;
    s->state = WS_BASEBACKUP_START;
}

static int bad(ws_basebackup_stream *s, ws_err *err, const char *what)
{
    return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP stream, message %" PRIu64 ": %s", s->messages, what);
}

/* Copies a NUL-terminated string starting at *p (before end) into out. */
static int take_string(const uint8_t **p, const uint8_t *end, char *out, size_t outlen)
{
    const uint8_t *nul = memchr(*p, 0, (size_t) (end - *p));
    size_t n;

    if (!nul)
        return -1;
    n = (size_t) (nul - *p);
    if (n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((*p)[i] < 0x20 || (*p)[i] == 0x7f)
            return -1;
    memcpy(out, *p, n);
    out[n] = '\0';
    *p = nul + 1;
    return 0;
}

static int on_archive(ws_basebackup_stream *s, const uint8_t *msg, size_t len, ws_err *err)
{
    char name[WS_BASEBACKUP_NAME_MAX], location[WS_BASEBACKUP_NAME_MAX];
    const uint8_t *p = msg + 1, *end = msg + len;

    if (s->state == WS_BASEBACKUP_MANIFEST)
        return bad(s, err, "a new archive after the manifest");
    if (take_string(&p, end, name, sizeof name) < 0 || take_string(&p, end, location, sizeof location) < 0 || p != end)
        return bad(s, err, "malformed new-archive message");
    if (!*name)
        return bad(s, err, "new-archive message without a name");
    s->state = WS_BASEBACKUP_ARCHIVE;
    s->archives++;
    s->archive_bytes = 0;
    return s->ev.archive(s->arg, name, location, err);
}

static int on_data(ws_basebackup_stream *s, const uint8_t *msg, size_t len, ws_err *err)
{
    bool manifest = s->state == WS_BASEBACKUP_MANIFEST;

    if (s->state == WS_BASEBACKUP_START)
        return bad(s, err, "data before the first archive");
    if (manifest)
        s->manifest_bytes += len - 1;
    else
        s->archive_bytes += len - 1;
    if (len == 1)
        return 0;
    return s->ev.data(s->arg, manifest, msg + 1, len - 1, err);
}

static int on_progress(ws_basebackup_stream *s, const uint8_t *msg, size_t len, ws_err *err)
{
    uint64_t v = 0;

    if (len != 9)
        return bad(s, err, "progress message of the wrong length");
    for (int i = 1; i < 9; i++)
        v = v << 8 | msg[i];
    if (v > INT64_MAX)
        return bad(s, err, "negative progress");
    if (v < s->progress)
        return bad(s, err, "progress went back");
    s->progress = v;
    return s->ev.progress ? s->ev.progress(s->arg, v, err) : 0;
}

static int on_manifest(ws_basebackup_stream *s, size_t len, ws_err *err)
{
    if (len != 1)
        return bad(s, err, "malformed manifest message");
    if (s->state == WS_BASEBACKUP_MANIFEST)
        return bad(s, err, "a second manifest");
    if (s->state == WS_BASEBACKUP_START)
        return bad(s, err, "manifest before any archive");
    s->state = WS_BASEBACKUP_MANIFEST;
    return s->ev.manifest(s->arg, err);
}

int ws_basebackup_stream_feed(ws_basebackup_stream *s, const uint8_t *msg, size_t len, ws_err *err)
{
    s->messages++;
    if (len == 0)
        return bad(s, err, "empty message");
    switch (msg[0]) {
    case 'n':
        return on_archive(s, msg, len, err);
    case 'd':
        return on_data(s, msg, len, err);
    case 'p':
        return on_progress(s, msg, len, err);
    case 'm':
        return on_manifest(s, len, err);
    default:
        if (msg[0] >= 0x20 && msg[0] < 0x7f)
            return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP stream, message %" PRIu64 ": unknown type '%c'",
                              s->messages, msg[0]);
        return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP stream, message %" PRIu64 ": unknown type 0x%02x",
                          s->messages, msg[0]);
    }
}

int ws_basebackup_stream_end(ws_basebackup_stream *s, bool want_manifest, ws_err *err)
{
    if (s->archives == 0)
        return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP stream ended without any archive");
    if (want_manifest && s->state != WS_BASEBACKUP_MANIFEST)
        return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP stream ended without the backup manifest");
    return 0;
}
