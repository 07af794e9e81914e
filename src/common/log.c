/*
 * log.c - messages to stderr, one line each.  The stream is locked for the
 * whole line so lines from several threads never interleave.
 */
#include "walship/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char log_progname[64] = "walship";
static ws_log_level log_level = WS_LOG_NOTICE;

static const char *const level_labels[] = {
    [WS_LOG_ERROR] = "ERROR", [WS_LOG_WARNING] = "WARNING", [WS_LOG_NOTICE] = "NOTICE",
    [WS_LOG_INFO] = "INFO",   [WS_LOG_DEBUG] = "DEBUG",
};

void ws_log_init(const char *progname, ws_log_level level)
{
    if (progname && *progname) {
        const char *slash = strrchr(progname, '/');
        if (slash && slash[1])
            progname = slash + 1;
        snprintf(log_progname, sizeof log_progname, "%s", progname);
    }
    log_level = level;
}

const char *const ws_log_level_names[] = {"error", "warning", "notice", "info", "debug", NULL};

const char *ws_log_level_name(ws_log_level l)
{
    if ((unsigned) l >= sizeof ws_log_level_names / sizeof ws_log_level_names[0] - 1)
        return "unknown";
    return ws_log_level_names[l];
}

ws_log_level ws_log_get_level(void)
{
    return log_level;
}

static void log_line(ws_log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

static void log_line(ws_log_level level, const char *fmt, va_list ap)
{
    const char *label = (unsigned) level < sizeof level_labels / sizeof level_labels[0] ? level_labels[level] : "LOG";
    flockfile(stderr);
    fprintf(stderr, "%s: %s: ", log_progname, label);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    funlockfile(stderr);
}

void ws_log(ws_log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    log_line(level, fmt, ap);
    va_end(ap);
}

void ws_log_err(const ws_err *err)
{
    if (!err || err->msg[0] == '\0')
        ws_log(WS_LOG_ERROR, "unknown error (%s)", ws_errcode_name(err ? err->code : WS_OK));
    else
        ws_log(WS_LOG_ERROR, "%s", err->msg);
}
