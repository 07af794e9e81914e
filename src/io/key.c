/* key.c - loading key material, HKDF-SHA256 derivation, key ids. */
#include "walship/key.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "walship/hex.h"
#include "walship/localfile.h"

struct ws_key {
    uint8_t material[WS_KEY_MAX_LEN];
    size_t len; /* of the material */
    uint8_t id[WS_KEY_ID_LEN];
    /* The same file as walship read key files before the text rule (every
     * trailing \n and \r removed), when that differs and is long enough:
     * material[0..old_len), with old_id.  Objects name it by its id; it
     * is used to decrypt them, never to encrypt. */
    size_t old_len;
    uint8_t old_id[WS_KEY_ID_LEN];
};

static const char KEY_ID_INFO[] = "walship key id v1";
static const char OBJECT_KEY_INFO[] = "walship object key v1";

static int hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len, const char *info,
                uint8_t *out, size_t out_len, ws_err *err)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM params[5], *p = params;
    char digest[] = "SHA256";
    int ok;

    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) (uintptr_t) ikm, ikm_len);
    if (salt_len > 0)
        *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) (uintptr_t) salt, salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *) (uintptr_t) info, strlen(info));
    *p = OSSL_PARAM_construct_end();
    ok = ctx && EVP_KDF_derive(ctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return ok ? 0 : ws_err_set(err, WS_ERR_INTERNAL, "HKDF-SHA256 key derivation failed");
}

/* Whether m[0..len) is printable ASCII text (base64, hex, a passphrase). */
static bool printable(const uint8_t *m, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (m[i] < 0x20 || m[i] > 0x7e)
            return false;
    return true;
}

size_t ws_key_material_len(const void *file, size_t len)
{
    const uint8_t *m = file;
    size_t text = len;

    /* One final newline of a text file is not material (editors add or
     * drop it); in any other file every byte is. */
    if (text > 0 && m[text - 1] == '\n') {
        text--;
        if (text > 0 && m[text - 1] == '\r')
            text--;
    }
    return printable(m, text) ? text : len;
}

int ws_key_from_bytes(const void *material, size_t len, ws_key **out, ws_err *err)
{
    const uint8_t *m = material;
    size_t given = len, old = len;
    ws_key *k;

    len = ws_key_material_len(m, given);
    if (len < WS_KEY_MIN_LEN)
        return ws_err_set(err, WS_ERR_KEY, "key material is too short: %zu bytes%s, at least %d needed", len,
                          len < given ? " of text without its final newline" : "", WS_KEY_MIN_LEN);
    if (len > WS_KEY_MAX_LEN)
        return ws_err_set(err, WS_ERR_KEY, "key material is too long: more than %d bytes", WS_KEY_MAX_LEN);
    k = calloc(1, sizeof *k);
    if (!k)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    memcpy(k->material, m, len);
    k->len = len;
    if (hkdf(k->material, k->len, NULL, 0, KEY_ID_INFO, k->id, sizeof k->id, err) < 0) {
        ws_key_free(k);
        return -1;
    }
    /* Earlier releases removed every trailing \n and \r, of any file. */
    while (old > 0 && (m[old - 1] == '\n' || m[old - 1] == '\r'))
        old--;
    if (old != len && old >= WS_KEY_MIN_LEN) {
        k->old_len = old;
        if (hkdf(k->material, k->old_len, NULL, 0, KEY_ID_INFO, k->old_id, sizeof k->old_id, err) < 0) {
            ws_key_free(k);
            return -1;
        }
    }
    *out = k;
    return 0;
}

int ws_key_load(const char *path, ws_key **out, ws_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    /* Never blocks on a FIFO or device named by mistake (localfile.h).  The
     * key opens every object: a file others can read is refused, as ssh
     * refuses such a private key (doc/configuration.md). */
    rc = ws_localfile_read(path, WS_KEY_MAX_LEN + 8, WS_LOCALFILE_PRIVATE, &buf, &len, err);
    if (rc == 0)
        ws_err_set(err, WS_ERR_CONFIG, "\"%s\" does not exist", path);
    if (rc == 1) {
        rc = ws_key_from_bytes(buf, len, out, err) < 0 ? -1 : 1;
        OPENSSL_cleanse(buf, len);
    }
    free(buf);
    if (rc == 1)
        return 0;
    /* A key file that is missing, unreadable or not key material is a
     * configuration error; WS_ERR_KEY is for objects the key cannot open. */
    if (err->code != WS_ERR_NOMEM)
        err->code = WS_ERR_CONFIG;
    return ws_err_prefix(err, "encryption key file \"%s\"", path);
}

void ws_key_free(ws_key *key)
{
    if (key) {
        OPENSSL_cleanse(key, sizeof *key);
        free(key);
    }
}

const uint8_t *ws_key_id(const ws_key *key)
{
    return key->id;
}

void ws_key_id_hex(const uint8_t id[WS_KEY_ID_LEN], char out[2 * WS_KEY_ID_LEN + 1])
{
    ws_hex_encode(id, WS_KEY_ID_LEN, out);
}

int ws_key_derive(const ws_key *key, const uint8_t salt[WS_SALT_LEN], uint8_t out[32], ws_err *err)
{
    return hkdf(key->material, key->len, salt, WS_SALT_LEN, OBJECT_KEY_INFO, out, 32, err);
}

bool ws_key_has_id(const ws_key *key, const uint8_t id[WS_KEY_ID_LEN])
{
    return memcmp(key->id, id, WS_KEY_ID_LEN) == 0 || (key->old_len && memcmp(key->old_id, id, WS_KEY_ID_LEN) == 0);
}

int ws_key_derive_for(const ws_key *key, const uint8_t id[WS_KEY_ID_LEN], const uint8_t salt[WS_SALT_LEN],
                      uint8_t out[32], ws_err *err)
{
    size_t len = key->len;

    if (memcmp(key->id, id, WS_KEY_ID_LEN) != 0) {
        if (!key->old_len || memcmp(key->old_id, id, WS_KEY_ID_LEN) != 0)
            return ws_err_set(err, WS_ERR_KEY, "the key has no material with that key id");
        len = key->old_len;
    }
    return hkdf(key->material, len, salt, WS_SALT_LEN, OBJECT_KEY_INFO, out, 32, err);
}

int ws_key_random_bytes(uint8_t *buf, size_t len, ws_err *err)
{
    if (RAND_bytes(buf, (int) len) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "could not obtain random bytes");
    return 0;
}
