/* archive_backlog.c - backlog reports (see archive_backlog.h). */
#include "walship/archive_backlog.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "walship/file_out.h"

ws_backlog_action ws_backlog_decide(const ws_backlog_state *prev, uint64_t count, uint64_t threshold, int64_t now,
                                    ws_backlog_state *next)
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

void ws_backlog_load(const char *dir, ws_backlog_state *out)
{
    char path[4096], buf[128];
    int high, fd;
    ssize_t n;
    uint64_t count;
    int64_t at;

    memset(out, 0, sizeof *out);
    if (snprintf(path, sizeof path, "%s/" WS_BACKLOG_FILE, dir) >= (int) sizeof path)
        return;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return;
    buf[n] = '\0';
    if (sscanf(buf, "walship-backlog 1 high %d count %" SCNu64 " at %" SCNd64, &high, &count, &at) == 3 &&
        (high == 0 || high == 1) && at > 0)
        *out = (ws_backlog_state){.high = high == 1, .count = count, .at = at};
}

int ws_backlog_save(const char *dir, const ws_backlog_state *s, ws_err *err)
{
    char path[4096], text[128];
    ws_file_out *f;
    int rc = -1;

    if (snprintf(path, sizeof path, "%s/" WS_BACKLOG_FILE, dir) >= (int) sizeof path)
        return ws_err_set(err, WS_ERR_INVALID, "%s: path too long", dir);
    snprintf(text, sizeof text, "walship-backlog 1 high %d count %" PRIu64 " at %" PRId64 "\n", s->high ? 1 : 0,
             s->count, s->at);
    f = ws_file_out_open(path, 0600, err);
    if (!f)
        return -1;
    if (ws_sink_write(ws_file_out_sink(f), text, strlen(text), err) == 0 &&
        ws_sink_finish(ws_file_out_sink(f), err) == 0 && ws_file_out_commit(f, err) == 0)
        rc = 0;
    ws_file_out_free(f);
    return rc;
}
