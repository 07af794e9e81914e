/*
 * error.h - error values that carry context up to the one place that prints.
 *
 * Every fallible function takes a ws_err * as its last argument, returns -1
 * (or NULL) on failure after filling it, and callers add context with
 * ws_err_prefix() on the way up.  Only the executable's main() prints it.
 */
#ifndef WALSHIP_ERROR_H
#define WALSHIP_ERROR_H

#include <stdarg.h>
#include <stddef.h>

typedef enum ws_errcode {
    WS_OK = 0,
    WS_ERR_INVALID, /* bad argument or input (user error) */
    WS_ERR_CONFIG,  /* configuration: unknown key, bad value, missing, unusable key file */
    WS_ERR_IO,      /* a system call failed (local file, or a file:// repository) */
    WS_ERR_NOMEM,
    WS_ERR_INTERNAL,  /* a library or the system behaved unexpectedly (not I/O) */
    WS_ERR_NOTFOUND,  /* object or file definitely absent */
    WS_ERR_CORRUPT,   /* integrity: checksum, tag, truncation, decode */
    WS_ERR_KEY,       /* wrong or missing encryption key */
    WS_ERR_FORMAT,    /* unknown format version or not a walship object */
    WS_ERR_STORAGE,   /* storage refused the request (non-retryable) */
    WS_ERR_TRANSIENT, /* storage unreachable after the retry budget */
    WS_ERR_CONFLICT,  /* an existing object differs (never overwritten) */
    WS_ERR_PERM,      /* storage denied access (e.g. S3 403) */
    WS_ERR_NOREPO     /* no walship repository there: the root is missing, or no identity object */
} ws_errcode;

#define WS_ERR_MSG_MAX 1024

typedef struct ws_err {
    ws_errcode code;
    char msg[WS_ERR_MSG_MAX];
} ws_err;

/* Set the error (replacing any previous one); always returns -1. */
int ws_err_set(ws_err *err, ws_errcode code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Set the error with ": strerror(errnum)" appended; returns -1. */
int ws_err_sys(ws_err *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the message, keeping the code; returns -1. */
int ws_err_prefix(ws_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ws_err_clear(ws_err *err);

/* Untrusted text (a file name from the command line, a config value, an
 * object key) in a message: quoted, '"' and '\\' escaped, control and
 * non-ASCII bytes as \xNN, cut after WS_SHOW_MAX bytes ("..."), so it can
 * neither break nor forge a log line.  Writes out and returns it. */
#define WS_SHOW_MAX 80
#define WS_SHOW_BUF (WS_SHOW_MAX * 4 + 8)
const char *ws_err_show(const char *s, size_t n, char out[WS_SHOW_BUF]);

/* Short name of a code, e.g. "corrupt", for logs and tests. */
const char *ws_errcode_name(ws_errcode code);

#endif
