/* repo_object.c - codec + storage (see repo_object.h). */
#include "walship/repo_object.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

    ws_sha256_hex(d->sha256, hex);
    snprintf(size, sizeof size, "%" PRIu64, d->size);
    m->n = 0;
    if (ws_meta_set(m, "walship-format", "1", err) < 0 || ws_meta_set(m, "walship-size", size, err) < 0 ||
        ws_meta_set(m, "walship-sha256", hex, err) < 0)
        return -1;
    return 0;
}

int ws_repo_put_fd(ws_repo *r, const char *key, int fd, const char *src_name, uint64_t size_hint, ws_digest *digest,
                   ws_err *err)
{
    ws_codec_opts o = {.compress = r->compress, .key = r->key, .pipeline = true};
    ws_put *put = NULL;
    ws_encoder *enc = NULL;
    ws_digest d;
    ws_meta meta;
    int rc = -1;

    /* Compressed size is unknown; the plaintext size bounds it closely enough
     * for S3 part sizing. */
    if (ws_storage_put_begin(r->st, key, size_hint + WS_HEADER_LEN + WS_TRAILER_LEN + size_hint / 200 + 64, &put,
                             err) < 0)
        return -1;
    enc = ws_encoder_new(&o, ws_put_sink(put), err);
    if (!enc)
        goto out;
    if (ws_pump_fd(fd, src_name, ws_encoder_sink(enc), err) < 0)
        goto out;
    ws_encoder_digest(enc, &d);
    if (digest_meta(&d, &meta, err) < 0 || ws_put_commit(put, &meta, err) < 0)
        goto out;
    if (digest)
        *digest = d;
    rc = 0;
out:
    ws_encoder_free(enc);
    ws_put_free(put);
    return rc;
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

static int hex_to_digest(const char *hex, uint8_t out[WS_SHA256_LEN])
{
    if (!hex || strlen(hex) != 64)
        return -1;
    for (int i = 0; i < WS_SHA256_LEN; i++) {
        unsigned v;

        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t) v;
    }
    return 0;
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

        rc = len == WS_TRAILER_LEN ? ws_trailer_parse(t, digest, key, err)
                                   : ws_err_set(err, WS_ERR_CORRUPT, "%s: short trailer read", key);
    }
    ws_sink_free(mem);
    return rc < 0 ? -1 : 1;
}
