/*
 * codec.c - walship object format v1: header, payload chain, trailer.
 *
 * Encoder chain: sha256 -> [thread] -> [lz4] -> [aes-gcm] -> trailer -> out
 * Decoder chain: framing -> [aes-gcm] -> [lz4] -> sha256 -> verify -> out
 * The framing stage parses the header and holds back the last
 * WS_TRAILER_LEN bytes (the trailer) from the payload stages.
 */
#include "walship/codec.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "walship/filter_aesgcm.h"
#include "walship/filter_lz4.h"
#include "walship/filter_thread.h"

static const uint8_t HEADER_ID[8] = {'w', 'a', 'l', 's', 'h', 'i', 'p', 0};
static const uint8_t TRAILER_ID[8] = {'w', 's', 't', 'r', 'a', 'i', 'l', 0};

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;

    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

/* --- header and trailer ------------------------------------------------- */

void ws_header_write(const ws_header *h, uint8_t buf[WS_HEADER_LEN])
{
    memset(buf, 0, WS_HEADER_LEN);
    put_le32(buf, WS_SKIPPABLE_HEADER_MAGIC);
    put_le32(buf + 4, WS_HEADER_LEN - 8);
    memcpy(buf + 8, HEADER_ID, 8);
    buf[16] = h->version;
    buf[17] = (uint8_t) h->compress;
    buf[18] = h->encrypted ? 1 : 0;
    buf[19] = 0;
    put_le32(buf + 20, h->encrypted ? h->chunk_size : 0);
    if (h->encrypted) {
        memcpy(buf + 24, h->key_id, WS_KEY_ID_LEN);
        memcpy(buf + 40, h->salt, WS_SALT_LEN);
    }
}

int ws_header_parse(const uint8_t buf[WS_HEADER_LEN], ws_header *h, const char *name, ws_err *err)
{
    memset(h, 0, sizeof *h);
    if (get_le32(buf) != WS_SKIPPABLE_HEADER_MAGIC || memcmp(buf + 8, HEADER_ID, 8) != 0)
        return ws_err_set(err, WS_ERR_FORMAT, "%s: not a walship object (bad magic in header)", name);
    h->version = buf[16];
    if (h->version != WS_FORMAT_VERSION)
        return ws_err_set(err, WS_ERR_FORMAT,
                          "%s: unsupported object format version %u (this walship reads version %d)", name, h->version,
                          WS_FORMAT_VERSION);
    if (get_le32(buf + 4) != WS_HEADER_LEN - 8)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: header is corrupt (bad header length)", name);
    if (buf[17] > WS_COMPRESS_LZ4)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: header is corrupt (unknown compression %u)", name, buf[17]);
    h->compress = (ws_compress) buf[17];
    if (buf[18] > 1 || buf[19] != 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: header is corrupt (bad encryption or reserved byte)", name);
    h->encrypted = buf[18] == 1;
    h->chunk_size = get_le32(buf + 20);
    memcpy(h->key_id, buf + 24, WS_KEY_ID_LEN);
    memcpy(h->salt, buf + 40, WS_SALT_LEN);
    if (h->encrypted) {
        if (h->chunk_size < WS_CHUNK_MIN || h->chunk_size > WS_CHUNK_MAX)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: header is corrupt (chunk size %u out of range)", name,
                              h->chunk_size);
    } else if (h->chunk_size != 0 || !all_zero(buf + 24, WS_KEY_ID_LEN + WS_SALT_LEN))
        /* Every bit of an unencrypted header is fixed, so any flip is seen. */
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: header is corrupt (encryption fields set on a plain object)", name);
    return 0;
}

void ws_codec_trailer_write(const ws_digest *d, uint8_t buf[WS_TRAILER_LEN])
{
    put_le32(buf, WS_SKIPPABLE_TRAILER_MAGIC);
    put_le32(buf + 4, WS_TRAILER_LEN - 8);
    memcpy(buf + 8, TRAILER_ID, 8);
    put_le64(buf + 16, d->size);
    memcpy(buf + 24, d->sha256, WS_SHA256_LEN);
}

int ws_codec_trailer_parse(const uint8_t buf[WS_TRAILER_LEN], ws_digest *d, const char *name, ws_err *err)
{
    if (get_le32(buf) != WS_SKIPPABLE_TRAILER_MAGIC || get_le32(buf + 4) != WS_TRAILER_LEN - 8 ||
        memcmp(buf + 8, TRAILER_ID, 8) != 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: trailer is missing or corrupt (object truncated?)", name);
    d->size = get_le64(buf + 16);
    memcpy(d->sha256, buf + 24, WS_SHA256_LEN);
    return 0;
}

/* --- encoder ---------------------------------------------------------- */

struct ws_encoder {
    ws_sink base; /* entry point: plaintext in */
    ws_sink tail; /* writes the trailer before finishing out */
    ws_sink *sha, *thr, *lz4, *gcm;
    ws_sink *out;
    uint8_t header[WS_HEADER_LEN];
    ws_digest digest;
};

#define ENC_FROM_TAIL(s) ((ws_encoder *) ((char *) (s) -offsetof(ws_encoder, tail)))

static int enc_make_trailer(ws_encoder *e, uint8_t trailer[WS_TRAILER_LEN], ws_err *err)
{
    if (!ws_filter_sha256_result(e->sha, e->digest.sha256, &e->digest.size))
        return ws_err_set(err, WS_ERR_INTERNAL, "digest not ready for the trailer");
    ws_codec_trailer_write(&e->digest, trailer);
    return 0;
}

static int enc_final_aad(void *arg, uint8_t *buf, size_t *len, ws_err *err)
{
    ws_encoder *e = arg;

    if (*len < WS_TRAILER_LEN)
        return ws_err_set(err, WS_ERR_INTERNAL, "AAD buffer too small");
    *len = WS_TRAILER_LEN;
    return enc_make_trailer(e, buf, err);
}

static int tail_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    return ws_sink_write(ENC_FROM_TAIL(s)->out, buf, len, err);
}

static int tail_finish(ws_sink *s, ws_err *err)
{
    ws_encoder *e = ENC_FROM_TAIL(s);
    uint8_t trailer[WS_TRAILER_LEN];

    if (enc_make_trailer(e, trailer, err) < 0 || ws_sink_write(e->out, trailer, sizeof trailer, err) < 0)
        return -1;
    return ws_sink_finish(e->out, err);
}

static void noop_destroy(ws_sink *s)
{
    (void) s;
}

static const ws_sink_ops tail_ops = {"trailer", tail_write, tail_finish, noop_destroy};

static int enc_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    return ws_sink_write(((ws_encoder *) s)->sha, buf, len, err);
}

static int enc_finish(ws_sink *s, ws_err *err)
{
    return ws_sink_finish(((ws_encoder *) s)->sha, err);
}

static const ws_sink_ops enc_ops = {"encoder", enc_write, enc_finish, noop_destroy};

ws_sink *ws_encoder_sink(ws_encoder *enc)
{
    return &enc->base;
}

void ws_encoder_digest(const ws_encoder *enc, ws_digest *out)
{
    *out = enc->digest;
}

void ws_encoder_free(ws_encoder *e)
{
    if (!e)
        return;
    /* The thread stage first: its worker may still use the later stages. */
    ws_sink_free(e->thr);
    ws_sink_free(e->sha);
    ws_sink_free(e->lz4);
    ws_sink_free(e->gcm);
    free(e);
}

ws_encoder *ws_encoder_new(const ws_codec_opts *opts, ws_sink *out, ws_err *err)
{
    ws_encoder *e = calloc(1, sizeof *e);
    ws_header h = {0};
    ws_sink *next;

    if (!e) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    e->base.ops = &enc_ops;
    e->tail.ops = &tail_ops;
    e->out = out;
    h.version = WS_FORMAT_VERSION;
    h.compress = opts->compress;
    h.encrypted = opts->key != NULL;
    if (h.encrypted) {
        uint8_t key[32];

        h.chunk_size = opts->chunk_size ? opts->chunk_size : WS_CHUNK_DEFAULT;
        if (h.chunk_size < WS_CHUNK_MIN || h.chunk_size > WS_CHUNK_MAX) {
            ws_err_set(err, WS_ERR_INVALID, "chunk size %u out of range", h.chunk_size);
            goto fail;
        }
        memcpy(h.key_id, ws_key_id(opts->key), WS_KEY_ID_LEN);
        if (ws_key_random_bytes(h.salt, WS_SALT_LEN, err) < 0 || ws_key_derive(opts->key, h.salt, key, err) < 0)
            goto fail;
        ws_header_write(&h, e->header);
        e->gcm =
            ws_filter_aesgcm_encrypt_new(&e->tail, key, h.chunk_size, e->header, WS_HEADER_LEN, enc_final_aad, e, err);
        OPENSSL_cleanse(key, sizeof key);
        if (!e->gcm)
            goto fail;
    } else
        ws_header_write(&h, e->header);
    next = e->gcm ? e->gcm : &e->tail;
    if (h.compress == WS_COMPRESS_LZ4) {
        e->lz4 = ws_filter_lz4_compress_new(next, 0, err);
        if (!e->lz4)
            goto fail;
        next = e->lz4;
    }
    if (opts->pipeline) {
        e->thr = ws_filter_thread_new(next, 1024 * 1024, 4, err);
        if (!e->thr)
            goto fail;
        next = e->thr;
    }
    e->sha = ws_filter_sha256_new(next, err);
    if (!e->sha)
        goto fail;
    if (ws_sink_write(out, e->header, WS_HEADER_LEN, err) < 0)
        goto fail;
    return e;
fail:
    ws_encoder_free(e);
    return NULL;
}

/* --- decoder ------------------------------------------------------------ */

struct ws_decoder {
    ws_sink base;   /* entry point: object bytes in */
    ws_sink verify; /* compares the digest with the trailer */
    const ws_key *key;
    char *name;
    ws_sink *out;
    ws_sink *first; /* payload stage fed by the framing */
    ws_sink *gcm, *lz4, *sha;
    uint8_t header[WS_HEADER_LEN];
    size_t header_fill;
    bool header_done;
    uint8_t hold[WS_TRAILER_LEN];
    size_t hold_fill;
    ws_digest trailer;
};

#define DEC_FROM_VERIFY(s) ((ws_decoder *) ((char *) (s) -offsetof(ws_decoder, verify)))

static int verify_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    return ws_sink_write(DEC_FROM_VERIFY(s)->out, buf, len, err);
}

static int verify_finish(ws_sink *s, ws_err *err)
{
    ws_decoder *d = DEC_FROM_VERIFY(s);
    ws_digest got;

    if (!ws_filter_sha256_result(d->sha, got.sha256, &got.size))
        return ws_err_set(err, WS_ERR_INTERNAL, "digest not ready");
    if (got.size != d->trailer.size)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: size mismatch: the trailer records %llu bytes, %llu decoded",
                          d->name, (unsigned long long) d->trailer.size, (unsigned long long) got.size);
    if (CRYPTO_memcmp(got.sha256, d->trailer.sha256, WS_SHA256_LEN) != 0) {
        char want[65], have[65];

        ws_filter_sha256_hex(d->trailer.sha256, want);
        ws_filter_sha256_hex(got.sha256, have);
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: SHA-256 mismatch: the trailer records %s, decoded data has %s",
                          d->name, want, have);
    }
    return ws_sink_finish(d->out, err);
}

static const ws_sink_ops verify_ops = {"verify", verify_write, verify_finish, noop_destroy};

static int dec_final_aad(void *arg, uint8_t *buf, size_t *len, ws_err *err)
{
    ws_decoder *d = arg;

    if (*len < WS_TRAILER_LEN)
        return ws_err_set(err, WS_ERR_INTERNAL, "AAD buffer too small");
    memcpy(buf, d->hold, WS_TRAILER_LEN);
    *len = WS_TRAILER_LEN;
    return 0;
}

static int dec_start(ws_decoder *d, ws_err *err)
{
    ws_header h;
    ws_sink *next;

    if (ws_header_parse(d->header, &h, d->name, err) < 0)
        return -1;
    d->sha = ws_filter_sha256_new(&d->verify, err);
    if (!d->sha)
        return -1;
    next = d->sha;
    if (h.compress == WS_COMPRESS_LZ4) {
        d->lz4 = ws_filter_lz4_decompress_new(next, d->name, err);
        if (!d->lz4)
            return -1;
        next = d->lz4;
    }
    if (h.encrypted) {
        char want[2 * WS_KEY_ID_LEN + 1], have[2 * WS_KEY_ID_LEN + 1];
        uint8_t key[32];

        ws_key_id_hex(h.key_id, want);
        if (!d->key)
            return ws_err_set(err, WS_ERR_KEY,
                              "%s: object is encrypted (key id %s) but no encryption_key_file is configured", d->name,
                              want);
        if (!ws_key_has_id(d->key, h.key_id)) {
            ws_key_id_hex(ws_key_id(d->key), have);
            return ws_err_set(err, WS_ERR_KEY,
                              "%s: wrong key: object was encrypted with key id %s, the configured key has id %s",
                              d->name, want, have);
        }
        if (ws_key_derive_for(d->key, h.key_id, h.salt, key, err) < 0)
            return -1;
        d->gcm = ws_filter_aesgcm_decrypt_new(next, key, h.chunk_size, d->header, WS_HEADER_LEN, dec_final_aad, d,
                                              d->name, err);
        OPENSSL_cleanse(key, sizeof key);
        if (!d->gcm)
            return -1;
        next = d->gcm;
    }
    d->first = next;
    d->header_done = true;
    return 0;
}

static int dec_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    ws_decoder *d = (ws_decoder *) s;
    size_t total, emit, from_hold, from_buf;

    if (!d->header_done) {
        size_t n = WS_HEADER_LEN - d->header_fill;

        if (n > len)
            n = len;
        memcpy(d->header + d->header_fill, buf, n);
        d->header_fill += n;
        buf += n;
        len -= n;
        if (d->header_fill < WS_HEADER_LEN)
            return 0;
        if (dec_start(d, err) < 0)
            return -1;
    }
    /* Hold back the last WS_TRAILER_LEN bytes: they may be the trailer. */
    total = d->hold_fill + len;
    if (total <= WS_TRAILER_LEN) {
        memcpy(d->hold + d->hold_fill, buf, len);
        d->hold_fill += len;
        return 0;
    }
    emit = total - WS_TRAILER_LEN;
    from_hold = emit < d->hold_fill ? emit : d->hold_fill;
    if (from_hold > 0 && ws_sink_write(d->first, d->hold, from_hold, err) < 0)
        return -1;
    memmove(d->hold, d->hold + from_hold, d->hold_fill - from_hold);
    d->hold_fill -= from_hold;
    from_buf = emit - from_hold;
    if (from_buf > 0 && ws_sink_write(d->first, buf, from_buf, err) < 0)
        return -1;
    memcpy(d->hold + d->hold_fill, buf + from_buf, len - from_buf);
    d->hold_fill += len - from_buf;
    return 0;
}

static int dec_finish(ws_sink *s, ws_err *err)
{
    ws_decoder *d = (ws_decoder *) s;

    if (!d->header_done)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: object is truncated: %zu of %d header bytes", d->name,
                          d->header_fill, WS_HEADER_LEN);
    if (d->hold_fill < WS_TRAILER_LEN)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: object is truncated: trailer missing", d->name);
    if (ws_codec_trailer_parse(d->hold, &d->trailer, d->name, err) < 0)
        return -1;
    return ws_sink_finish(d->first, err);
}

static const ws_sink_ops dec_ops = {"decoder", dec_write, dec_finish, noop_destroy};

ws_decoder *ws_decoder_new(const ws_key *key, const char *name, ws_sink *out, ws_err *err)
{
    ws_decoder *d = calloc(1, sizeof *d);

    if (!d || !(d->name = strdup(name ? name : "(object)"))) {
        free(d);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    d->base.ops = &dec_ops;
    d->verify.ops = &verify_ops;
    d->key = key;
    d->out = out;
    return d;
}

ws_sink *ws_decoder_sink(ws_decoder *dec)
{
    return &dec->base;
}

void ws_decoder_digest(const ws_decoder *dec, ws_digest *out)
{
    *out = dec->trailer;
}

void ws_decoder_free(ws_decoder *d)
{
    if (!d)
        return;
    ws_sink_free(d->gcm);
    ws_sink_free(d->lz4);
    ws_sink_free(d->sha);
    free(d->name);
    free(d);
}
