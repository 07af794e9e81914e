/* repo_object.c - codec + storage (see repo_object.h). */
#include "walship/repo_object.h"

#include "walship/buf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/hex.h"

int ws_repo_open(const ws_config *cfg, ws_repo **out, ws_err *err)
{
    ws_repo *r = calloc(1, sizeof *r);

    if (!r)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    r->compress = cfg->compress;
    if (cfg->encryption_key_file && ws_key_load(cfg->encryption_key_file, &r->key, err) < 0) {
        free(r);
        return -1;
    }
    if (ws_storage_open(cfg, &r->st, err) < 0) {
        ws_key_free(r->key);
        free(r);
        return -1;
    }
    *out = r;
    return 0;
}

void ws_repo_close(ws_repo *r)
{
    if (!r)
        return;
    ws_storage_close(r->st);
    ws_key_free(r->key);
    free(r);
}

static int digest_meta(const ws_digest *d, ws_meta *m, ws_err *err)
{
    char hex[65], size[32];

    ws_filter_sha256_hex(d->sha256, hex);
    snprintf(size, sizeof size, "%" PRIu64, d->size);
    m->n = 0;
    if (ws_meta_set(m, "walship-format", "1", err) < 0 || ws_meta_set(m, "walship-size", size, err) < 0 ||
        ws_meta_set(m, "walship-sha256", hex, err) < 0)
        return -1;
    return 0;
}

/* --- streaming writer ------------------------------------------------------- */

struct ws_repo_writer {
    ws_sink front; /* the caller's sink: the encoder's, remembering finish */
    ws_put *put;
    ws_sink *count; /* between the encoder and the put: stored bytes */
    ws_encoder *enc;
    bool finished;
};

static int front_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    return ws_sink_write(s->next, buf, len, err);
}

static int front_finish(ws_sink *s, ws_err *err)
{
    ((ws_repo_writer *) s)->finished = true;
    return ws_sink_finish(s->next, err);
}

static void front_destroy(ws_sink *s)
{
    (void) s; /* the writer owns it */
}

static const ws_sink_ops front_ops = {"repo writer", front_write, front_finish, front_destroy};

int ws_repo_writer_open(ws_repo *r, const char *key, uint64_t size_hint, bool pipeline, ws_put_track_cb track,
                        void *track_arg, ws_repo_writer **out, ws_err *err)
{
    ws_codec_opts o = {.compress = r->compress, .key = r->key, .pipeline = pipeline};
    ws_repo_writer *w = calloc(1, sizeof *w);

    *out = NULL;
    if (!w)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    /* Compressed size is unknown; the plaintext size bounds it closely enough
     * for S3 part sizing. */
    if (ws_storage_put_begin(r->st, key, size_hint + WS_HEADER_LEN + WS_TRAILER_LEN + size_hint / 200 + 64, &w->put,
                             err) < 0)
        goto fail;
    if (track && ws_put_track(w->put, track, track_arg, err) < 0)
        goto fail;
    w->count = ws_sink_count_new(ws_put_sink(w->put));
    if (!w->count) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    w->enc = ws_encoder_new(&o, w->count, err);
    if (!w->enc)
        goto fail;
    w->front.ops = &front_ops;
    w->front.next = ws_encoder_sink(w->enc);
    *out = w;
    return 0;
fail:
    ws_repo_writer_free(w);
    return -1;
}

ws_sink *ws_repo_writer_sink(ws_repo_writer *w)
{
    return &w->front;
}

/* Finishes, lets o->precommit veto, commits (o may be NULL): 1 stored, 0
 * (o->only_new) the key holds an object already, -1 error.  digest is
 * filled either way. */
static int writer_commit(ws_repo_writer *w, const ws_repo_put_opts *o, ws_digest *digest, uint64_t *stored_size,
                         ws_err *err)
{
    ws_digest d;
    ws_meta meta;
    int rc;

    if (!w->finished && ws_sink_finish(&w->front, err) < 0)
        return -1;
    ws_encoder_digest(w->enc, &d);
    if ((o && o->precommit && o->precommit(&d, o->precommit_arg, err) < 0) || digest_meta(&d, &meta, err) < 0)
        return -1;
    rc = o && o->only_new ? ws_put_commit_new(w->put, &meta, err) : (ws_put_commit(w->put, &meta, err) < 0 ? -1 : 1);
    if (rc < 0)
        return -1;
    if (digest)
        *digest = d;
    if (stored_size)
        *stored_size = ws_sink_count_bytes(w->count);
    return rc;
}

int ws_repo_writer_commit(ws_repo_writer *w, ws_digest *digest, uint64_t *stored_size, ws_err *err)
{
    return writer_commit(w, NULL, digest, stored_size, err) < 0 ? -1 : 0;
}

void ws_repo_writer_free(ws_repo_writer *w)
{
    if (!w)
        return;
    ws_encoder_free(w->enc);
    ws_sink_free(w->count);
    ws_put_free(w->put);
    free(w);
}

/* Encodes fd or buf[0..len) into a new object under key; returns once the
 * object is durable: 1 stored, 0 (o->only_new) the key holds one already. */
static int put_encoded(ws_repo *r, const char *key, int fd, const char *src_name, const void *buf, size_t len,
                       uint64_t size_hint, const ws_repo_put_opts *o, ws_digest *digest, ws_err *err)
{
    ws_repo_writer *w;
    int rc = -1;

    if (ws_repo_writer_open(r, key, size_hint, o->pipeline, NULL, NULL, &w, err) < 0)
        return -1;
    /* The pumps finish the sink; commit's finish then finds it finished. */
    if ((buf ? ws_sink_pump_mem(buf, len, 0, ws_repo_writer_sink(w), err)
             : ws_sink_pump_fd(fd, src_name, ws_repo_writer_sink(w), err)) == 0)
        rc = writer_commit(w, o, digest, NULL, err);
    ws_repo_writer_free(w);
    return rc;
}

int ws_repo_put_fd(ws_repo *r, const char *key, int fd, const char *src_name, uint64_t size_hint, ws_digest *digest,
                   ws_err *err)
{
    static const ws_repo_put_opts o = {.pipeline = true};

    return put_encoded(r, key, fd, src_name, NULL, 0, size_hint, &o, digest, err) < 0 ? -1 : 0;
}

int ws_repo_put_fd_opts(ws_repo *r, const char *key, int fd, const char *src_name, uint64_t size_hint,
                        const ws_repo_put_opts *opts, ws_digest *digest, ws_err *err)
{
    return put_encoded(r, key, fd, src_name, NULL, 0, size_hint, opts, digest, err);
}

int ws_repo_get_sink(ws_repo *r, const char *key, ws_sink *dst, ws_digest *digest, ws_err *err)
{
    ws_decoder *dec = ws_decoder_new(r->key, key, dst, err);
    int rc;

    if (!dec)
        return -1;
    rc = ws_storage_get(r->st, key, 0, WS_TO_END, ws_decoder_sink(dec), err);
    if (rc == 0 && digest)
        ws_decoder_digest(dec, digest);
    ws_decoder_free(dec);
    return rc;
}

/* A memory sink that refuses more than max bytes. */
typedef struct capped_sink {
    ws_sink base;
    ws_buf buf;
    size_t max;
    const char *key, *what;
} capped_sink;

static int capped_write(ws_sink *s, const uint8_t *data, size_t len, ws_err *err)
{
    capped_sink *c = (capped_sink *) s;

    if (len > c->max - c->buf.len)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: larger than %zu bytes: not %s", c->key, c->max, c->what);
    return ws_buf_append(&c->buf, data, len, err);
}

static int capped_finish(ws_sink *s, ws_err *err)
{
    (void) s;
    (void) err;
    return 0;
}

static void capped_destroy(ws_sink *s)
{
    (void) s; /* on the caller's stack */
}

static const ws_sink_ops capped_ops = {"bounded memory", capped_write, capped_finish, capped_destroy};

int ws_repo_get_mem(ws_repo *r, const char *key, size_t max, const char *what, char **out, size_t *len, ws_err *err)
{
    capped_sink c = {.base = {.ops = &capped_ops}, .max = max, .key = key, .what = what};

    *out = NULL;
    *len = 0;
    if (ws_repo_get_sink(r, key, &c.base, NULL, err) < 0 || ws_buf_reserve(&c.buf, 0, err) < 0) {
        ws_buf_free(&c.buf);
        return -1;
    }
    *out = c.buf.data;
    *len = c.buf.len;
    return 0;
}

int ws_repo_get_file(ws_repo *r, const char *key, const char *path, ws_digest *digest, ws_err *err)
{
    ws_file_out *f = ws_file_out_open(path, 0600, err);
    int rc = -1;

    if (!f)
        return -1;
    if (ws_repo_get_sink(r, key, ws_file_out_sink(f), digest, err) == 0)
        rc = ws_file_out_commit(f, err);
    ws_file_out_free(f);
    return rc;
}

/* A digest in metadata: exactly 64 lower-case hex digits. */
static int hex_to_digest(const char *hex, uint8_t out[WS_SHA256_LEN])
{
    return hex ? ws_hex_decode(hex, strlen(hex), out, WS_SHA256_LEN) : -1;
}

int ws_repo_stat(ws_repo *r, const char *key, ws_digest *digest, uint64_t *stored_size, ws_err *err)
{
    ws_obj_info info;
    const char *size, *sha;
    int found = ws_storage_head(r->st, key, &info, err);
    ws_sink *mem;
    int rc;

    if (found <= 0)
        return found;
    if (stored_size)
        *stored_size = info.size;
    size = ws_meta_get(&info.meta, "walship-size");
    sha = ws_meta_get(&info.meta, "walship-sha256");
    if (size && sha && hex_to_digest(sha, digest->sha256) == 0) {
        char *end;

        errno = 0;
        digest->size = strtoull(size, &end, 10);
        if (errno == 0 && *end == '\0')
            return 1;
    }
    /* No usable metadata: read the trailer. */
    if (info.size < WS_HEADER_LEN + WS_TRAILER_LEN)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: object is truncated (%" PRIu64 " bytes)", key, info.size);
    mem = ws_sink_mem_new();
    if (!mem)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    rc = ws_storage_get(r->st, key, info.size - WS_TRAILER_LEN, WS_TRAILER_LEN, mem, err);
    if (rc == 0) {
        size_t len;
        const uint8_t *t = ws_sink_mem_data(mem, &len);

        rc = len == WS_TRAILER_LEN ? ws_codec_trailer_parse(t, digest, key, err)
                                   : ws_err_set(err, WS_ERR_CORRUPT, "%s: short trailer read", key);
    }
    ws_sink_free(mem);
    return rc < 0 ? -1 : 1;
}

int ws_repo_put_mem(ws_repo *r, const char *key, const void *buf, size_t len, ws_digest *digest, ws_err *err)
{
    static const uint8_t empty[1];
    /* Small objects: a worker thread would cost more than it saves. */
    static const ws_repo_put_opts o = {.pipeline = false};

    return put_encoded(r, key, -1, NULL, len ? buf : empty, len, len, &o, digest, err) < 0 ? -1 : 0;
}

/* Reads bytes [off, off+len) of key into out (exactly len bytes or error). */
static int read_range(ws_repo *r, const char *key, uint64_t off, size_t len, uint8_t *out, ws_err *err)
{
    ws_sink *mem = ws_sink_mem_new();
    int rc;

    if (!mem)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    rc = ws_storage_get(r->st, key, off, len, mem, err);
    if (rc == 0) {
        size_t got;
        const uint8_t *data = ws_sink_mem_data(mem, &got);

        if (got == len)
            memcpy(out, data, len);
        else
            rc = ws_err_set(err, WS_ERR_CORRUPT, "%s: short read (%zu of %zu bytes)", key, got, len);
    }
    ws_sink_free(mem);
    return rc;
}

int ws_repo_stat_checked(ws_repo *r, const char *key, ws_digest *digest, uint64_t *stored_size, ws_err *err)
{
    ws_obj_info info;
    uint8_t head[WS_HEADER_LEN], tail[WS_TRAILER_LEN];
    ws_header h;
    ws_digest t;
    const char *size, *sha;
    int found = ws_storage_head(r->st, key, &info, err);

    if (found <= 0)
        return found;
    if (stored_size)
        *stored_size = info.size;
    if (info.size < WS_HEADER_LEN + WS_TRAILER_LEN)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: object is truncated (%" PRIu64 " bytes)", key, info.size);
    if (read_range(r, key, 0, WS_HEADER_LEN, head, err) < 0)
        return -1;
    if (ws_header_parse(head, &h, key, err) < 0) {
        /* Garbage is damage; a real header of another version is not. */
        uint32_t magic =
            (uint32_t) head[0] | (uint32_t) head[1] << 8 | (uint32_t) head[2] << 16 | (uint32_t) head[3] << 24;

        if (magic != WS_SKIPPABLE_HEADER_MAGIC)
            err->code = WS_ERR_CORRUPT;
        return -1;
    }
    if (read_range(r, key, info.size - WS_TRAILER_LEN, WS_TRAILER_LEN, tail, err) < 0 ||
        ws_codec_trailer_parse(tail, &t, key, err) < 0)
        return -1;
    size = ws_meta_get(&info.meta, "walship-size");
    sha = ws_meta_get(&info.meta, "walship-sha256");
    if (size || sha) {
        uint8_t msha[WS_SHA256_LEN];
        char *end;
        unsigned long long msize;

        errno = 0;
        msize = size ? strtoull(size, &end, 10) : 0;
        if (!size || !sha || errno || *end || hex_to_digest(sha, msha) < 0 || msize != t.size ||
            memcmp(msha, t.sha256, WS_SHA256_LEN) != 0)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: stored metadata disagrees with the object's trailer", key);
    }
    *digest = t;
    return 1;
}
