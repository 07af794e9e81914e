/* error.c - building error messages with context (see error.h). */
#include "walship/error.h"

#include <stdio.h>
#include <string.h>

int ws_err_set(ws_err *err, ws_errcode code, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return -1;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int ws_err_sys(ws_err *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    if (!err)
        return -1;
    err->code = WS_ERR_IO;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, ": %s", strerror(errnum));
    return -1;
}

int ws_err_prefix(ws_err *err, const char *fmt, ...)
{
    char ctx[WS_ERR_MSG_MAX];
    char old[WS_ERR_MSG_MAX];
    va_list ap;

    if (!err)
        return -1;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    /* Truncation keeps the start of the context and of the message. */
    {
        size_t n = strlen(ctx), m = strlen(old), cap = sizeof err->msg - 1, pos = 0;

        if (n > cap)
            n = cap;
        memcpy(err->msg, ctx, n);
        pos = n;
        if (pos + 2 <= cap) {
            memcpy(err->msg + pos, ": ", 2);
            pos += 2;
        }
        if (m > cap - pos)
            m = cap - pos;
        memcpy(err->msg + pos, old, m);
        err->msg[pos + m] = '\0';
    }
    return -1;
}

const char *ws_err_show(const char *s, size_t n, char out[WS_SHOW_BUF])
{
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;

    out[j++] = '"';
    for (size_t i = 0; i < n && i < WS_SHOW_MAX; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c == '"' || c == '\\') {
            out[j++] = '\\';
            out[j++] = (char) c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[j++] = '\\';
            out[j++] = 'x';
            out[j++] = hex[c >> 4];
            out[j++] = hex[c & 15];
        } else {
            out[j++] = (char) c;
        }
    }
    if (n > WS_SHOW_MAX) {
        memcpy(out + j, "...", 3);
        j += 3;
    }
    out[j++] = '"';
    out[j] = '\0';
    return out;
}

void ws_err_clear(ws_err *err)
{
    if (err) {
        err->code = WS_OK;
        err->msg[0] = '\0';
    }
}

const char *ws_errcode_name(ws_errcode code)
{
    switch (code) {
    case WS_OK:
        return "ok";
    case WS_ERR_INVALID:
        return "invalid";
    case WS_ERR_CONFIG:
        return "config";
    case WS_ERR_IO:
        return "io";
    case WS_ERR_NOMEM:
        return "nomem";
    case WS_ERR_INTERNAL:
        return "internal";
    case WS_ERR_NOTFOUND:
        return "notfound";
    case WS_ERR_CORRUPT:
        return "corrupt";
    case WS_ERR_KEY:
        return "key";
    case WS_ERR_FORMAT:
        return "format";
    case WS_ERR_STORAGE:
        return "storage";
    case WS_ERR_TRANSIENT:
        return "transient";
    case WS_ERR_CONFLICT:
        return "conflict";
    case WS_ERR_PERM:
        return "permission";
    case WS_ERR_NOREPO:
        return "norepo";
    }
    return "unknown";
}
