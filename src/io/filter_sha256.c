/* filter_sha256.c - hashing pass-through stage (OpenSSL EVP). */
#include "walship/filter_sha256.h"

#include <stdlib.h>

#include <openssl/evp.h>

#include "walship/hex.h"

typedef struct {
    ws_sink base;
    EVP_MD_CTX *md;
    uint64_t size;
    bool done;
    uint8_t digest[WS_SHA256_LEN];
} sha_filter;

static int sha_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    sha_filter *f = (sha_filter *) s;

    if (len == 0)
        return 0;
    if (EVP_DigestUpdate(f->md, buf, len) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "SHA-256 update failed");
    f->size += len;
    return s->next ? ws_sink_write(s->next, buf, len, err) : 0;
}

static int sha_finish(ws_sink *s, ws_err *err)
{
    sha_filter *f = (sha_filter *) s;
    unsigned int n = 0;

    /* The digest is ready before the stages below finish: they may need it
     * (the codec's trailer). */
    if (EVP_DigestFinal_ex(f->md, f->digest, &n) != 1 || n != WS_SHA256_LEN)
        return ws_err_set(err, WS_ERR_INTERNAL, "SHA-256 finalisation failed");
    f->done = true;
    return ws_sink_finish_next(s, err);
}

static void sha_destroy(ws_sink *s)
{
    sha_filter *f = (sha_filter *) s;

    EVP_MD_CTX_free(f->md);
    free(f);
}

static const ws_sink_ops sha_ops = {"sha256", sha_write, sha_finish, sha_destroy};

ws_sink *ws_filter_sha256_new(ws_sink *next, ws_err *err)
{
    sha_filter *f = calloc(1, sizeof *f);

    if (!f) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->base.ops = &sha_ops;
    f->base.next = next;
    f->md = EVP_MD_CTX_new();
    if (!f->md || EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1) {
        sha_destroy(&f->base);
        ws_err_set(err, WS_ERR_INTERNAL, "SHA-256 initialisation failed");
        return NULL;
    }
    return &f->base;
}

bool ws_filter_sha256_result(const ws_sink *s, uint8_t digest[WS_SHA256_LEN], uint64_t *size)
{
    const sha_filter *f = (const sha_filter *) s;

    if (!f->done)
        return false;
    for (int i = 0; i < WS_SHA256_LEN; i++)
        digest[i] = f->digest[i];
    *size = f->size;
    return true;
}

void ws_filter_sha256_hex(const uint8_t digest[WS_SHA256_LEN], char out[65])
{
    ws_hex_encode(digest, WS_SHA256_LEN, out);
}
