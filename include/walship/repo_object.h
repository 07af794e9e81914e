/*
 * repo_object.h - storing and reading walship objects in a repository:
 * the codec (codec.h) composed with a storage (storage.h).
 *
 * Every object is stored with metadata walship-format, walship-size and
 * walship-sha256 (plaintext size and SHA-256) where the driver keeps
 * metadata; the trailer inside the object holds the same and is checked on
 * every read.
 */
#ifndef WALSHIP_REPO_OBJECT_H
#define WALSHIP_REPO_OBJECT_H

#include "walship/codec.h"
#include "walship/config.h"
#include "walship/file_out.h"
#include "walship/key.h"
#include "walship/storage.h"

typedef struct ws_repo {
    ws_storage *st;
    ws_key *key; /* NULL: objects are written unencrypted */
    ws_compress compress;
} ws_repo;

/* Opens the storage named by cfg->repo and loads the key, if configured. */
int ws_repo_open(const ws_config *cfg, ws_repo **out, ws_err *err);
void ws_repo_close(ws_repo *repo);

/* Encodes everything read from fd into a new object under key; returns once
 * the object is durable.  digest (may be NULL) receives the plaintext's. */
int ws_repo_put_fd(ws_repo *repo, const char *key, int fd, const char *src_name, uint64_t size_hint, ws_digest *digest,
                   ws_err *err);

/* Called once the whole source is encoded, before the object is committed,
 * with the plaintext's digest: a failure leaves nothing stored. */
typedef int (*ws_repo_precommit_fn)(const ws_digest *plain, void *arg, ws_err *err);

/* How ws_repo_put_fd_opts stores. */
typedef struct ws_repo_put_opts {
    /* Hash on this thread and compress/encrypt on a second one (codec.h):
     * worth it only when a core would otherwise be idle. */
    bool pipeline;
    ws_repo_precommit_fn precommit; /* may be NULL */
    void *precommit_arg;
    /* Commit only if the key holds no object, atomically (ws_put_commit_new:
     * the storage's commit_new must be true). */
    bool only_new;
} ws_repo_put_opts;

/* As ws_repo_put_fd, with options: 1 stored, 0 (only_new) the key holds an
 * object already and nothing was stored, -1 error. */
int ws_repo_put_fd_opts(ws_repo *repo, const char *key, int fd, const char *src_name, uint64_t size_hint,
                        const ws_repo_put_opts *opts, ws_digest *digest, ws_err *err);

/*
 * Streaming: an object written through the codec as its bytes come.  Write
 * into ws_repo_writer_sink() (finishing it is optional), then commit, which
 * returns once the object is durable, with its plaintext digest and the bytes
 * stored.  track (may be NULL) is given to ws_put_track (storage.h).  Freeing
 * an uncommitted writer aborts the object.  pipeline: as for
 * ws_repo_put_fd_pipelined.
 */
typedef struct ws_repo_writer ws_repo_writer;
int ws_repo_writer_open(ws_repo *repo, const char *key, uint64_t size_hint, bool pipeline, ws_put_track_cb track,
                        void *track_arg, ws_repo_writer **out, ws_err *err);
ws_sink *ws_repo_writer_sink(ws_repo_writer *w);
int ws_repo_writer_commit(ws_repo_writer *w, ws_digest *digest, uint64_t *stored_size, ws_err *err);
void ws_repo_writer_free(ws_repo_writer *w);

/* Decodes and verifies the object into dst (finished on success only). */
int ws_repo_get_sink(ws_repo *repo, const char *key, ws_sink *dst, ws_digest *digest, ws_err *err);

/* Decodes and verifies a small object into memory: *out (malloc'd, NUL
 * after the last byte) and *len.  More than max bytes of plaintext fails
 * with WS_ERR_CORRUPT naming what the object should have been (`what`);
 * an absent object is WS_ERR_NOTFOUND. */
int ws_repo_get_mem(ws_repo *repo, const char *key, size_t max, const char *what, char **out, size_t *len, ws_err *err);

/* Decodes into path atomically: the file appears only once verified. */
int ws_repo_get_file(ws_repo *repo, const char *key, const char *path, ws_digest *digest, ws_err *err);

/* The plaintext digest of a stored object without downloading it: from the
 * metadata when present, else from the trailer (one ranged read).
 * 1 found, 0 absent, -1 error. */
int ws_repo_stat(ws_repo *repo, const char *key, ws_digest *digest, uint64_t *stored_size, ws_err *err);

/* Encodes buf[0..len) into a new object under key (small objects). */
int ws_repo_put_mem(ws_repo *repo, const char *key, const void *buf, size_t len, ws_digest *digest, ws_err *err);

/* As ws_repo_stat, but also reads and checks the header and the trailer
 * (two small ranged reads) and that the metadata, when present, agrees with
 * the trailer: an object truncated or overwritten in place fails with
 * WS_ERR_CORRUPT even when its metadata survived.  1 found, 0 absent, -1. */
int ws_repo_stat_checked(ws_repo *repo, const char *key, ws_digest *digest, uint64_t *stored_size, ws_err *err);

#endif
