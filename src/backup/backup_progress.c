/* backup_progress.c - progress bar or phase lines (backup_progress.h). */
#include "walship/backup_progress.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "walship/clock.h"
#include "walship/log.h"

#define REDRAW_EVERY 0.2 /* seconds between bar redraws */
#define BAR_WIDTH    30

struct ws_backup_progress {
    FILE *out;
    bool tty, quiet;
    bool bar_shown; /* a bar line is on screen, not ended */
    double started, last_draw;
};

ws_backup_progress *ws_backup_progress_new(FILE *out, bool tty, bool quiet)
{
    ws_backup_progress *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->out = out;
    p->tty = tty;
    p->quiet = quiet;
    p->started = ws_clock_now();
    return p;
}

void ws_backup_progress_free(ws_backup_progress *p)
{
    if (p)
        ws_backup_progress_done(p);
    free(p);
}

void ws_backup_progress_size(uint64_t bytes, char out[32])
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double) bytes;
    int u = 0;

    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, 32, "%" PRIu64 " B", bytes);
    else
        snprintf(out, 32, "%.1f %s", v, units[u]);
}

void ws_backup_progress_done(ws_backup_progress *p)
{
    if (p && p->bar_shown) {
        fputc('\n', p->out);
        fflush(p->out);
        p->bar_shown = false;
    }
}

void ws_backup_progress_phase(ws_backup_progress *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!p || p->quiet)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ws_backup_progress_done(p);
    ws_log(WS_LOG_NOTICE, "%s", msg);
    p->started = ws_clock_now();
    p->last_draw = 0;
}

static void draw(ws_backup_progress *p, const char *line)
{
    /* \r, the line, then clear to the end of the screen line. */
    fprintf(p->out, "\r%s\033[K", line);
    fflush(p->out);
    p->bar_shown = true;
}

void ws_backup_progress_bytes(ws_backup_progress *p, uint64_t done, uint64_t total)
{
    double t = ws_clock_now(), elapsed, rate;
    char line[256], d[32], tot[32], bar[BAR_WIDTH + 1], eta[32] = "";
    int filled;

    if (!p || p->quiet || !p->tty || (t - p->last_draw < REDRAW_EVERY && done < total))
        return;
    p->last_draw = t;
    elapsed = t - p->started;
    rate = elapsed > 0 ? (double) done / elapsed : 0;
    ws_backup_progress_size(done, d);
    ws_backup_progress_size(total, tot);
    if (total && done <= total) {
        filled = (int) ((double) done / (double) total * BAR_WIDTH);
        if (rate > 0) {
            double left = (double) (total - done) / rate;

            snprintf(eta, sizeof eta, " ETA %d:%02d", (int) left / 60, (int) left % 60);
        }
    } else
        filled = BAR_WIDTH;
    memset(bar, '#', (size_t) filled);
    memset(bar + filled, '.', (size_t) (BAR_WIDTH - filled));
    bar[BAR_WIDTH] = '\0';
    snprintf(line, sizeof line, "[%s] %3d%% %s of %s  %.1f MB/s%s", bar,
             total ? (int) ((double) (done > total ? total : done) * 100 / (double) total) : 100, d, tot, rate / 1e6,
             eta);
    draw(p, line);
}

void ws_backup_progress_wal(ws_backup_progress *p, unsigned done, unsigned total, double waited, double timeout)
{
    char line[256];
    double t = ws_clock_now();

    if (!p || p->quiet || !p->tty || (t - p->last_draw < REDRAW_EVERY && done < total))
        return;
    p->last_draw = t;
    snprintf(line, sizeof line, "WAL in the repository: %u of %u files (waited %.0f s of %.0f s)", done, total, waited,
             timeout);
    draw(p, line);
}
