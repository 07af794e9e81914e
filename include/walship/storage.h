/*
 * storage.h - one interface for every repository location.
 *
 * A storage holds objects under keys (relative, '/'-separated; see
 * ws_storage_key_valid).  Drivers: file:// (storage_file.c) and s3://
 * (storage_s3.c), chosen by the URL scheme of the `repo` setting.  Each
 * driver owns everything about its kind of storage: its URL syntax
 * (ws_storage_driver.url_valid), its process-wide set-up (global_init), its
 * file naming and its locks; nothing outside src/storage/ parses a
 * repository URL.
 *
 * Writes are streamed: put_begin() returns a ws_put whose embedded sink
 * receives the bytes; nothing is visible under the key until commit()
 * succeeded, and commit() returns only once the object is durable.  Freeing
 * an uncommitted put aborts it and leaves nothing valid behind.
 *
 * A put in progress may hold storage that outlives a killed process (an S3
 * multipart upload, a file:// temp file in a folder no later put visits).
 * ws_put_track() makes the put name each such leftover with a token before
 * any data reaches it; the caller records the token durably, and
 * ws_storage_abandon() removes the leftover later, from any process.
 *
 * Where the storage offers it (ws_storage.commit_new), a put can be committed
 * only if the key holds no object, in one step no other writer can come
 * between (ws_put_commit_new; S3: a conditional PUT, If-None-Match: *), so
 * an existence check before the put is neither needed nor racy.
 *
 * Metadata (ws_meta) is small name/value text stored with the object where the
 * driver can (S3: x-amz-meta-*, file: user xattrs).  It is an optimisation:
 * the object's own trailer (codec.h) is the truth, so a driver that cannot
 * store metadata returns an empty set.
 */
#ifndef WALSHIP_STORAGE_H
#define WALSHIP_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/config.h"
#include "walship/error.h"
#include "walship/sink.h"

#define WS_META_MAX       8
#define WS_META_NAME_MAX  32
#define WS_META_VALUE_MAX 128

typedef struct ws_meta_entry {
    char name[WS_META_NAME_MAX];   /* lower case [a-z0-9-] */
    char value[WS_META_VALUE_MAX]; /* printable ASCII */
} ws_meta_entry;

typedef struct ws_meta {
    size_t n;
    ws_meta_entry e[WS_META_MAX];
} ws_meta;

/* Adds or replaces; -1 when the name/value is invalid or the set is full. */
int ws_meta_set(ws_meta *m, const char *name, const char *value, ws_err *err);
/* NULL when absent. */
const char *ws_meta_get(const ws_meta *m, const char *name);
/* The rules ws_meta_set applies, for drivers reading metadata back. */
bool ws_meta_name_valid(const char *name);
bool ws_meta_value_valid(const char *value);
/* Checks a whole set (e.g. one filled by hand) before a driver stores it. */
int ws_meta_check(const ws_meta *m, ws_err *err);

typedef struct ws_obj_info {
    uint64_t size; /* stored bytes */
    int64_t mtime; /* seconds since the epoch, 0 if unknown */
    ws_meta meta;
} ws_obj_info;

typedef struct ws_list_entry {
    const char *key; /* full key (or common prefix ending in the delimiter) */
    uint64_t size;   /* 0 for a common prefix */
    bool is_prefix;
} ws_list_entry;

/* Return 0 to go on, 1 to stop early (not an error), -1 on error. */
typedef int (*ws_list_cb)(const ws_list_entry *e, void *arg, ws_err *err);

#define WS_TO_END UINT64_MAX

typedef struct ws_storage ws_storage;
typedef struct ws_put ws_put;

typedef struct ws_storage_ops {
    /* size_hint: expected stored size, 0 if unknown (S3 part sizing). */
    int (*put_begin)(ws_storage *st, const char *key, uint64_t size_hint, ws_put **out, ws_err *err);
    /* Streams bytes [offset, offset+length) (length WS_TO_END = to the end)
     * into dst and finishes dst.  Absent: -1 with WS_ERR_NOTFOUND. */
    int (*get)(ws_storage *st, const char *key, uint64_t offset, uint64_t length, ws_sink *dst, ws_err *err);
    /* 1 found (info filled), 0 absent, -1 error. */
    int (*head)(ws_storage *st, const char *key, ws_obj_info *info, ws_err *err);
    /* Every key under prefix in byte order (paging is the driver's job);
     * with a delimiter, keys containing it after the prefix are rolled up
     * into one is_prefix entry. */
    int (*list)(ws_storage *st, const char *prefix, const char *delimiter, ws_list_cb cb, void *arg, ws_err *err);
    /* Absent keys are not an error. */
    int (*remove)(ws_storage *st, const char *const *keys, size_t nkeys, ws_err *err);
    void (*close)(ws_storage *st);
    /* Optional (NULL: the driver leaves nothing behind a killed put).
     * Removes what the put of key named token left; already gone is not an
     * error.  token NULL: what dead writers of key left that the driver can
     * find without a token. */
    int (*abandon)(ws_storage *st, const char *key, const char *token, ws_err *err);
    /* Optional (NULL: the driver has no locks, e.g. S3).  Takes the
     * per-name lock of name among the processes using this storage,
     * waiting up to timeout seconds: 1 locked (*fd holds it, closed to
     * release), 0 still held by another, -1 error. */
    int (*lock)(ws_storage *st, const char *name, double timeout, int *fd, ws_err *err);
} ws_storage_ops;

struct ws_storage {
    const ws_storage_ops *ops;
    char *url;       /* for messages; never holds secrets */
    bool commit_new; /* its puts offer ws_put_commit_new */
    bool remote;     /* a request costs a network round trip: worth overlapping with local work */
};

/* Called with a token (printable ASCII, at most WS_PUT_TOKEN_MAX bytes)
 * each time a put comes to hold a leftover; a failure fails the put. */
#define WS_PUT_TOKEN_MAX 1024
typedef int (*ws_put_track_cb)(void *arg, const char *token, ws_err *err);

typedef struct ws_put_ops {
    int (*commit)(ws_put *p, const ws_meta *meta, ws_err *err);
    void (*destroy)(ws_put *p); /* aborts when not committed */
    /* Optional (NULL: nothing to track).  May call cb at once. */
    int (*track)(ws_put *p, ws_put_track_cb cb, void *arg, ws_err *err);
    /* Present where the storage's commit_new is true: see ws_put_commit_new. */
    int (*commit_new)(ws_put *p, const ws_meta *meta, ws_err *err);
} ws_put_ops;

/* The sink must be the first member: (ws_sink *) put is the data sink. */
struct ws_put {
    ws_sink sink;
    const ws_put_ops *ops;
};

static inline ws_sink *ws_put_sink(ws_put *p)
{
    return &p->sink;
}

/* Finishes the sink if not yet finished, then makes the object durable. */
static inline int ws_put_commit(ws_put *p, const ws_meta *meta, ws_err *err)
{
    return p->ops->commit(p, meta, err);
}

/*
 * As ws_put_commit, but only if the key holds no object, atomically (the
 * storage's commit_new must be true): 1 committed, 0 an object is there
 * already (nothing was stored or changed; free the put), -1 error.
 */
static inline int ws_put_commit_new(ws_put *p, const ws_meta *meta, ws_err *err)
{
    if (!p->ops->commit_new)
        return ws_err_set(err, WS_ERR_INTERNAL, "this storage cannot commit an object only where none is");
    return p->ops->commit_new(p, meta, err);
}

static inline void ws_put_free(ws_put *p)
{
    if (p)
        p->ops->destroy(p);
}

/* Before the first write: cb(arg, token) for every leftover the put comes to
 * hold (file://: its temp file, at once; S3: its multipart upload, before
 * the first part is sent). */
static inline int ws_put_track(ws_put *p, ws_put_track_cb cb, void *arg, ws_err *err)
{
    return p->ops->track ? p->ops->track(p, cb, arg, err) : 0;
}

/* A kind of storage: one row of the registry (storage.c). */
typedef struct ws_storage_driver {
    const char *scheme; /* the URL scheme, e.g. "file" */
    /* Whether url (of this scheme) names a storage of this kind; when not,
     * *expected says what is accepted. */
    bool (*url_valid)(const char *url, const char **expected);
    /* Optional: process-wide set-up, once, before any thread exists. */
    int (*global_init)(ws_err *err);
    int (*open)(const ws_config *cfg, const char *url, ws_storage **out, ws_err *err);
} ws_storage_driver;

extern const ws_storage_driver ws_storage_file_driver;
extern const ws_storage_driver ws_storage_s3_driver;

/* Whether url names a storage of a known kind (the driver of its scheme
 * decides); when not, *expected says what is accepted.  The check of the
 * `repo` setting. */
bool ws_storage_url_valid(const char *url, const char **expected);

/* The process-wide set-up of the driver of url (libcurl and libxml2 for
 * s3://; nothing for file://).  Call once from main(), before threads. */
int ws_storage_global_init(const char *url, ws_err *err);

/* Opens the storage named by cfg->repo (file:// or s3://). */
int ws_storage_open(const ws_config *cfg, ws_storage **out, ws_err *err);
void ws_storage_close(ws_storage *st);

/*
 * A per-name lock among the processes using one storage, where the driver
 * has locks (file://: flock on a file of the repository's own; see
 * doc/storage.md).  Waits up to timeout seconds.  1 locked (*out set;
 * ws_storage_unlock after use), 0 the driver has no locks (*out NULL:
 * callers rely on reading back what they wrote, as on S3), -1 error
 * (WS_ERR_TRANSIENT: still held by another after timeout).
 */
typedef struct ws_storage_lock ws_storage_lock;
int ws_storage_lock_name(ws_storage *st, const char *name, double timeout, ws_storage_lock **out, ws_err *err);
void ws_storage_unlock(ws_storage_lock *lock);

/* Keys: 1..1024 bytes of [A-Za-z0-9._-/], no leading '/', no empty, "." or
 * ".." segment, not ending in '/'. */
bool ws_storage_key_valid(const char *key);

/* Convenience wrappers over the ops with the key added to error context. */
int ws_storage_put_begin(ws_storage *st, const char *key, uint64_t size_hint, ws_put **out, ws_err *err);
int ws_storage_get(ws_storage *st, const char *key, uint64_t offset, uint64_t length, ws_sink *dst, ws_err *err);
int ws_storage_head(ws_storage *st, const char *key, ws_obj_info *info, ws_err *err);
int ws_storage_list(ws_storage *st, const char *prefix, const char *delimiter, ws_list_cb cb, void *arg, ws_err *err);
int ws_storage_remove(ws_storage *st, const char *const *keys, size_t nkeys, ws_err *err);
/* Removes the leftover a tracked put of key named token; 0 when removed or
 * already gone (or the driver leaves none).  With token NULL, removes what
 * dead writers of key left where the driver can find it without a token
 * (file://: their temp files; S3: nothing, upload ids cannot be found). */
int ws_storage_abandon(ws_storage *st, const char *key, const char *token, ws_err *err);

#endif
