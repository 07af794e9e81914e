/*
 * basebackup_stream.h - PostgreSQL 15's BASE_BACKUP COPY stream, message by
 * message.
 *
 * With the default target the server sends one COPY OUT stream; each
 * CopyData message starts with a type byte:
 *
 *   'n' archive name NUL, tablespace location NUL  (a new tar archive starts;
 *       the location is empty for the main data directory)
 *   'd' bytes                                       (data of the current archive,
 *       or of the manifest after 'm')
 *   'p' int64, network byte order                   (bytes sent so far)
 *   'm'                                             (the backup manifest starts)
 *
 * The parser checks the order (data only inside an archive or the manifest,
 * nothing after the manifest but its data, progress never going back) and
 * hands each event to a callback; it keeps no data.  Messages come from
 * libpq's PQgetCopyData, one whole message per call.
 */
#ifndef WALSHIP_BASEBACKUP_STREAM_H
#define WALSHIP_BASEBACKUP_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

#define WS_BASEBACKUP_NAME_MAX 1024 /* bytes of an archive name or location accepted */

typedef struct ws_basebackup_events {
    /* A tar archive starts: name (e.g. "base.tar", "16384.tar") and the
     * tablespace's location ("" for the data directory). */
    int (*archive)(void *arg, const char *name, const char *location, ws_err *err);
    /* Bytes of the current archive (manifest false) or of the manifest. */
    int (*data)(void *arg, bool manifest, const uint8_t *buf, size_t len, ws_err *err);
    /* The server's count of bytes sent so far (may be NULL). */
    int (*progress)(void *arg, uint64_t done, ws_err *err);
    /* The manifest starts; the archives are complete. */
    int (*manifest)(void *arg, ws_err *err);
} ws_basebackup_events;

typedef enum { WS_BASEBACKUP_START, WS_BASEBACKUP_ARCHIVE, WS_BASEBACKUP_MANIFEST } ws_basebackup_state;

typedef struct ws_basebackup_stream {
    ws_basebackup_events ev;
    void *arg;
    ws_basebackup_state state;
    unsigned archives;      /* 'n' messages so far */
    uint64_t messages;      /* messages fed so far, for errors */
    uint64_t archive_bytes; /* of the current archive */
    uint64_t manifest_bytes;
    uint64_t progress; /* last 'p' value */
} ws_basebackup_stream;

void ws_basebackup_stream_init(ws_basebackup_stream *s, const ws_basebackup_events *ev, void *arg);

/* One CopyData message.  A callback's error is returned as is; a malformed
 * or misplaced message is WS_ERR_FORMAT naming the message number. */
int ws_basebackup_stream_feed(ws_basebackup_stream *s, const uint8_t *msg, size_t len, ws_err *err);

/* At the end of the COPY stream: fails unless at least one archive came and,
 * when want_manifest, the manifest. */
int ws_basebackup_stream_end(ws_basebackup_stream *s, bool want_manifest, ws_err *err);

#endif
