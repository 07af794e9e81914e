/*
 * filter_aesgcm.h - chunked AES-256-GCM authenticated encryption.
 *
 * The stream is cut into chunks of chunk_size plaintext bytes; the last
 * (final) chunk holds 0..chunk_size bytes.  Each chunk is written as
 * ciphertext followed by its 16-byte tag.  Nonce = chunk index (u64 big
 * endian) || final flag (u32 big endian, 1 on the final chunk), so chunks
 * cannot be reordered, dropped or the stream truncated unnoticed.  AAD = a
 * fixed prefix (the object header) for every chunk, plus a suffix given at
 * finish time (the trailer) for the final chunk.  The decryptor releases a
 * chunk's plaintext only after its tag verified.
 */
#ifndef WALSHIP_FILTER_AESGCM_H
#define WALSHIP_FILTER_AESGCM_H

#include "walship/sink.h"

#define WS_AESGCM_KEY_LEN   32
#define WS_AESGCM_TAG_LEN   16
#define WS_AESGCM_NONCE_LEN 12

/* Called at finish to fetch the final chunk's extra AAD (at most 256 bytes). */
typedef int (*ws_aad_fn)(void *arg, uint8_t *buf, size_t *len, ws_err *err);

ws_sink *ws_filter_aesgcm_encrypt_new(ws_sink *next, const uint8_t key[WS_AESGCM_KEY_LEN], uint32_t chunk_size,
                                      const uint8_t *aad, size_t aad_len, ws_aad_fn final_aad, void *final_aad_arg,
                                      ws_err *err);

ws_sink *ws_filter_aesgcm_decrypt_new(ws_sink *next, const uint8_t key[WS_AESGCM_KEY_LEN], uint32_t chunk_size,
                                      const uint8_t *aad, size_t aad_len, ws_aad_fn final_aad, void *final_aad_arg,
                                      const char *name, ws_err *err);

/* Build the 12-byte nonce of a chunk (exposed for tests and the format doc). */
void ws_filter_aesgcm_nonce(uint64_t index, int final, uint8_t nonce[WS_AESGCM_NONCE_LEN]);

#endif
