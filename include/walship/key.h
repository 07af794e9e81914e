/*
 * key.h - encryption key material and derivation.
 *
 * The key file holds at least 32 bytes of secret material, raw or text (e.g.
 * `openssl rand -base64 32`).  A file that is entirely printable ASCII text
 * apart from one final newline (\n or \r\n) is used without that newline;
 * any other file is used byte for byte (doc/format.md, "Keys").  Per object,
 * an AES-256 key is derived with HKDF-SHA256 from the material and a random
 * salt stored in the object header.  The key id (HKDF with an empty salt and
 * its own info string) names the material so keys can be rotated; it reveals
 * nothing usable about the key.
 */
#ifndef WALSHIP_KEY_H
#define WALSHIP_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

#define WS_KEY_ID_LEN  16
#define WS_KEY_MIN_LEN 32
#define WS_KEY_MAX_LEN 4096
#define WS_SALT_LEN    32

typedef struct ws_key ws_key;

int ws_key_load(const char *path, ws_key **out, ws_err *err);
int ws_key_from_bytes(const void *material, size_t len, ws_key **out, ws_err *err);
void ws_key_free(ws_key *key); /* wipes the material */

const uint8_t *ws_key_id(const ws_key *key);
void ws_key_id_hex(const uint8_t id[WS_KEY_ID_LEN], char out[2 * WS_KEY_ID_LEN + 1]);

/* How many bytes of a key file of len bytes are key material. */
size_t ws_key_material_len(const void *file, size_t len);

/* The per-object AES-256 key for this salt (for writing). */
int ws_key_derive(const ws_key *key, const uint8_t salt[WS_SALT_LEN], uint8_t out[32], ws_err *err);

/* For reading an object whose header names key id `id`: whether the key
 * file has material of that id (its own, or the material earlier releases
 * read from the same file: every trailing \n and \r removed), and the
 * object key derived from that material. */
bool ws_key_has_id(const ws_key *key, const uint8_t id[WS_KEY_ID_LEN]);
int ws_key_derive_for(const ws_key *key, const uint8_t id[WS_KEY_ID_LEN], const uint8_t salt[WS_SALT_LEN],
                      uint8_t out[32], ws_err *err);

/* Fills buf with cryptographically random bytes. */
int ws_key_random_bytes(uint8_t *buf, size_t len, ws_err *err);

#endif
