/* archive_backlog.c - backlog reports (see archive_backlog.h). */
#include "walship/archive_backlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/kvrec.h"
#include "walship/localfile.h"

ws_backlog_action ws_archive_backlog_decide(const ws_backlog_state *prev, uint64_t count, uint64_t threshold,
                                            int64_t now, ws_backlog_state *next)
{
    bool due = prev->at == 0 || now - prev->at >= WS_BACKLOG_INTERVAL || now < prev->at;

    *next = *prev;
    if (count > threshold) {
        if (!due || (prev->high && count <= prev->count))
            return WS_BACKLOG_QUIET;
        *next = (ws_backlog_state){.high = true, .count = count, .at = now};
        return WS_BACKLOG_BEHIND;
    }
    if (!prev->high || !due)
        return WS_BACKLOG_QUIET;
    *next = (ws_backlog_state){.high = false, .count = count, .at = now};
    return WS_BACKLOG_NORMAL;
}

#define MAGIC   "walship-backlog"
#define VERSION 2

enum { F_HIGH, F_COUNT, F_AT, F_N };
static const char *const keys[F_N] = {"high", "count", "at"};

void ws_archive_backlog_load(const char *dir, ws_backlog_state *out)
{
    char path[4096], *buf = NULL;
    uint64_t high, count;
    int64_t at;
    size_t len;
    ws_kvrec r;
    ws_err e;

    memset(out, 0, sizeof *out);
    if (snprintf(path, sizeof path, "%s/" WS_BACKLOG_FILE, dir) >= (int) sizeof path ||
        ws_localfile_read(path, 1024, WS_LOCALFILE_NOFOLLOW, &buf, &len, &e) != 1)
        return;
    if (ws_kvrec_parse(buf, len, MAGIC, VERSION, keys, F_N, false, path, &r, &e) == 0 &&
        ws_kvrec_u64(&r, F_HIGH, 1, &high, &e) == 0 && ws_kvrec_u64(&r, F_COUNT, UINT64_MAX, &count, &e) == 0 &&
        ws_kvrec_i64(&r, F_AT, &at, &e) == 0 && at > 0)
        *out = (ws_backlog_state){.high = high == 1, .count = count, .at = at};
    free(buf);
}

int ws_archive_backlog_save(const char *dir, const ws_backlog_state *s, ws_err *err)
{
    char path[4096];
    ws_buf text = {0};
    int rc = -1;

    if (snprintf(path, sizeof path, "%s/" WS_BACKLOG_FILE, dir) >= (int) sizeof path)
        return ws_err_set(err, WS_ERR_INVALID, "%s: path too long", dir);
    if (ws_kvrec_begin(&text, MAGIC, VERSION, err) == 0 && ws_kvrec_add_u64(&text, keys[F_HIGH], s->high, err) == 0 &&
        ws_kvrec_add_u64(&text, keys[F_COUNT], s->count, err) == 0 &&
        ws_kvrec_add_i64(&text, keys[F_AT], s->at, err) == 0 && ws_kvrec_end(&text, false, err) == 0 &&
        ws_localfile_write(path, text.data, text.len, 0600, 0, err) == 0)
        rc = 0;
    ws_buf_free(&text);
    return rc;
}
