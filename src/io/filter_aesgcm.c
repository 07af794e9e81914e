/* filter_aesgcm.c - chunked AES-256-GCM stages (see filter_aesgcm.h). */
#include "walship/filter_aesgcm.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define AAD_MAX 256

typedef struct {
    ws_sink base;
    EVP_CIPHER_CTX *ctx;
    bool decrypt;
    uint32_t chunk_size;
    uint8_t *buf; /* encrypt: plaintext chunk; decrypt: ciphertext+tag */
    size_t fill;
    uint8_t *out; /* chunk_size + tag */
    uint64_t index;
    uint8_t aad[AAD_MAX];
    size_t aad_len;
    ws_aad_fn final_aad;
    void *final_aad_arg;
    char *name;
} gcm_filter;

void ws_filter_aesgcm_nonce(uint64_t index, int final, uint8_t nonce[WS_AESGCM_NONCE_LEN])
{
    for (int i = 0; i < 8; i++)
        nonce[i] = (uint8_t) (index >> (56 - 8 * i));
    nonce[8] = nonce[9] = nonce[10] = 0;
    nonce[11] = final ? 1 : 0;
}

/* Feeds the AAD of a chunk: the fixed prefix, plus the suffix when final. */
static int gcm_aad(gcm_filter *f, bool final, ws_err *err)
{
    uint8_t extra[AAD_MAX];
    size_t extra_len = 0;
    int n;

    if (EVP_CipherUpdate(f->ctx, NULL, &n, f->aad, (int) f->aad_len) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "AES-GCM AAD update failed");
    if (final && f->final_aad) {
        extra_len = sizeof extra;
        if (f->final_aad(f->final_aad_arg, extra, &extra_len, err) < 0)
            return -1;
        if (extra_len > 0 && EVP_CipherUpdate(f->ctx, NULL, &n, extra, (int) extra_len) != 1)
            return ws_err_set(err, WS_ERR_INTERNAL, "AES-GCM AAD update failed");
    }
    return 0;
}

static int gcm_encrypt_chunk(gcm_filter *f, bool final, ws_err *err)
{
    uint8_t nonce[WS_AESGCM_NONCE_LEN];
    int n = 0, m = 0;

    ws_filter_aesgcm_nonce(f->index, final, nonce);
    if (EVP_EncryptInit_ex(f->ctx, NULL, NULL, NULL, nonce) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "AES-GCM initialisation failed");
    if (gcm_aad(f, final, err) < 0)
        return -1;
    if (f->fill > 0 && EVP_EncryptUpdate(f->ctx, f->out, &n, f->buf, (int) f->fill) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "AES-GCM encryption failed");
    if (EVP_EncryptFinal_ex(f->ctx, f->out + n, &m) != 1 ||
        EVP_CIPHER_CTX_ctrl(f->ctx, EVP_CTRL_GCM_GET_TAG, WS_AESGCM_TAG_LEN, f->out + f->fill) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "AES-GCM encryption failed");
    f->index++;
    n = (int) f->fill;
    f->fill = 0;
    return ws_sink_write(f->base.next, f->out, (size_t) n + WS_AESGCM_TAG_LEN, err);
}

/* Moves input into the chunk buffer, up to limit bytes in it. */
static void take(gcm_filter *f, size_t limit, const uint8_t **buf, size_t *len)
{
    size_t n = limit - f->fill;

    if (n > *len)
        n = *len;
    memcpy(f->buf + f->fill, *buf, n);
    f->fill += n;
    *buf += n;
    *len -= n;
}

static int gcm_enc_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    gcm_filter *f = (gcm_filter *) s;

    while (len > 0) {
        /* A full chunk is only known to be non-final once more data comes. */
        if (f->fill == f->chunk_size && gcm_encrypt_chunk(f, false, err) < 0)
            return -1;
        take(f, f->chunk_size, &buf, &len);
    }
    return 0;
}

static int gcm_enc_finish(ws_sink *s, ws_err *err)
{
    gcm_filter *f = (gcm_filter *) s;

    if (gcm_encrypt_chunk(f, true, err) < 0)
        return -1;
    return ws_sink_finish(s->next, err);
}

static int gcm_decrypt_chunk(gcm_filter *f, bool final, ws_err *err)
{
    uint8_t nonce[WS_AESGCM_NONCE_LEN];
    size_t clen = f->fill - WS_AESGCM_TAG_LEN;
    int n = 0, m = 0;

    ws_filter_aesgcm_nonce(f->index, final, nonce);
    if (EVP_DecryptInit_ex(f->ctx, NULL, NULL, NULL, nonce) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "AES-GCM initialisation failed");
    if (gcm_aad(f, final, err) < 0)
        return -1;
    if (clen > 0 && EVP_DecryptUpdate(f->ctx, f->out, &n, f->buf, (int) clen) != 1)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: decryption failed in chunk %llu", f->name,
                          (unsigned long long) f->index);
    if (EVP_CIPHER_CTX_ctrl(f->ctx, EVP_CTRL_GCM_SET_TAG, WS_AESGCM_TAG_LEN, f->buf + clen) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "AES-GCM tag setup failed");
    if (EVP_DecryptFinal_ex(f->ctx, f->out + n, &m) != 1) {
        OPENSSL_cleanse(f->out, clen);
        return ws_err_set(
            err, WS_ERR_CORRUPT,
            "%s: authentication failed in encrypted chunk %llu%s (object corrupted, truncated or reordered)", f->name,
            (unsigned long long) f->index, final ? " (final)" : "");
    }
    f->index++;
    f->fill = 0;
    return ws_sink_write(f->base.next, f->out, clen, err);
}

static int gcm_dec_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    gcm_filter *f = (gcm_filter *) s;
    size_t whole = (size_t) f->chunk_size + WS_AESGCM_TAG_LEN;

    while (len > 0) {
        /* A full buffer followed by more bytes is a non-final chunk. */
        if (f->fill == whole && gcm_decrypt_chunk(f, false, err) < 0)
            return -1;
        take(f, whole, &buf, &len);
    }
    return 0;
}

static int gcm_dec_finish(ws_sink *s, ws_err *err)
{
    gcm_filter *f = (gcm_filter *) s;

    if (f->fill < WS_AESGCM_TAG_LEN)
        return ws_err_set(err, WS_ERR_CORRUPT,
                          "%s: encrypted payload is truncated (final chunk missing after chunk %llu)", f->name,
                          (unsigned long long) f->index);
    if (gcm_decrypt_chunk(f, true, err) < 0)
        return -1;
    return ws_sink_finish(s->next, err);
}

static void gcm_destroy(ws_sink *s)
{
    gcm_filter *f = (gcm_filter *) s;

    EVP_CIPHER_CTX_free(f->ctx);
    if (f->buf)
        OPENSSL_cleanse(f->buf, f->chunk_size + WS_AESGCM_TAG_LEN);
    if (f->out)
        OPENSSL_cleanse(f->out, f->chunk_size + WS_AESGCM_TAG_LEN);
    free(f->buf);
    free(f->out);
    free(f->name);
    free(f);
}

static const ws_sink_ops gcm_enc_ops = {"aes-256-gcm-encrypt", gcm_enc_write, gcm_enc_finish, gcm_destroy};
static const ws_sink_ops gcm_dec_ops = {"aes-256-gcm-decrypt", gcm_dec_write, gcm_dec_finish, gcm_destroy};

static ws_sink *gcm_new(bool decrypt, ws_sink *next, const uint8_t key[WS_AESGCM_KEY_LEN], uint32_t chunk_size,
                        const uint8_t *aad, size_t aad_len, ws_aad_fn final_aad, void *final_aad_arg, const char *name,
                        ws_err *err)
{
    gcm_filter *f;

    if (chunk_size == 0 || chunk_size > (1u << 30) || aad_len > AAD_MAX) {
        ws_err_set(err, WS_ERR_INVALID, "invalid AES-GCM chunk size %u or AAD length %zu", chunk_size, aad_len);
        return NULL;
    }
    f = calloc(1, sizeof *f);
    if (!f) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->base.ops = decrypt ? &gcm_dec_ops : &gcm_enc_ops;
    f->base.next = next;
    f->decrypt = decrypt;
    f->chunk_size = chunk_size;
    f->buf = malloc((size_t) chunk_size + WS_AESGCM_TAG_LEN);
    f->out = malloc((size_t) chunk_size + WS_AESGCM_TAG_LEN);
    f->name = strdup(name ? name : "(object)");
    f->ctx = EVP_CIPHER_CTX_new();
    memcpy(f->aad, aad, aad_len);
    f->aad_len = aad_len;
    f->final_aad = final_aad;
    f->final_aad_arg = final_aad_arg;
    if (!f->buf || !f->out || !f->name || !f->ctx) {
        gcm_destroy(&f->base);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    /* Key schedule once; each chunk only sets its nonce. */
    if (EVP_CipherInit_ex(f->ctx, EVP_aes_256_gcm(), NULL, NULL, NULL, decrypt ? 0 : 1) != 1 ||
        EVP_CIPHER_CTX_ctrl(f->ctx, EVP_CTRL_GCM_SET_IVLEN, WS_AESGCM_NONCE_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(f->ctx, NULL, NULL, key, NULL, decrypt ? 0 : 1) != 1) {
        gcm_destroy(&f->base);
        ws_err_set(err, WS_ERR_INTERNAL, "AES-256-GCM initialisation failed");
        return NULL;
    }
    return &f->base;
}

ws_sink *ws_filter_aesgcm_encrypt_new(ws_sink *next, const uint8_t key[WS_AESGCM_KEY_LEN], uint32_t chunk_size,
                                      const uint8_t *aad, size_t aad_len, ws_aad_fn final_aad, void *final_aad_arg,
                                      ws_err *err)
{
    return gcm_new(false, next, key, chunk_size, aad, aad_len, final_aad, final_aad_arg, NULL, err);
}

ws_sink *ws_filter_aesgcm_decrypt_new(ws_sink *next, const uint8_t key[WS_AESGCM_KEY_LEN], uint32_t chunk_size,
                                      const uint8_t *aad, size_t aad_len, ws_aad_fn final_aad, void *final_aad_arg,
                                      const char *name, ws_err *err)
{
    return gcm_new(true, next, key, chunk_size, aad, aad_len, final_aad, final_aad_arg, name, err);
}
