/*
 * codec.h - the walship object format, version 1 (doc/format.md).
 *
 *   header (72 bytes, an LZ4 skippable frame) | payload | trailer (56 bytes,
 *   an LZ4 skippable frame)
 *
 * payload = plaintext, or its LZ4 frame, optionally encrypted in chunks
 * (filter_aesgcm.h).  The trailer records the plaintext size and SHA-256.
 * Because header and trailer are skippable frames, an unencrypted lz4 object
 * is a valid .lz4 file: `lz4 -d < object > file` recovers it.
 *
 * Encoding: write plaintext into ws_encoder_sink(), finish it; the object
 * bytes go to `out`.  Decoding: write object bytes into ws_decoder_sink(),
 * finish it; plaintext goes to `out`.  finish() fails unless every check
 * passed (framing, tags, LZ4, size and SHA-256), so the caller publishes
 * the output only after a successful finish.  Memory stays bounded (about
 * two chunks plus LZ4 state) whatever the object size.
 */
#ifndef WALSHIP_CODEC_H
#define WALSHIP_CODEC_H

#include <stdbool.h>
#include <stdint.h>

#include "walship/config.h"
#include "walship/filter_sha256.h"
#include "walship/key.h"
#include "walship/sink.h"

#define WS_FORMAT_VERSION 1
#define WS_HEADER_LEN     72
#define WS_TRAILER_LEN    56
#define WS_CHUNK_DEFAULT  (256u * 1024u)
#define WS_CHUNK_MIN      4096u
#define WS_CHUNK_MAX      (16u * 1024u * 1024u)

#define WS_SKIPPABLE_HEADER_MAGIC  0x184D2A57u
#define WS_SKIPPABLE_TRAILER_MAGIC 0x184D2A5Fu

typedef struct ws_digest {
    uint64_t size;                 /* plaintext bytes */
    uint8_t sha256[WS_SHA256_LEN]; /* of the plaintext */
} ws_digest;

typedef struct ws_header {
    uint8_t version;
    ws_compress compress;
    bool encrypted;
    uint32_t chunk_size;
    uint8_t key_id[WS_KEY_ID_LEN];
    uint8_t salt[WS_SALT_LEN];
} ws_header;

typedef struct ws_codec_opts {
    ws_compress compress;
    const ws_key *key;   /* NULL: no encryption */
    uint32_t chunk_size; /* 0: WS_CHUNK_DEFAULT */
    bool pipeline;       /* hash on this thread, the rest on a worker */
} ws_codec_opts;

typedef struct ws_encoder ws_encoder;
typedef struct ws_decoder ws_decoder;

ws_encoder *ws_encoder_new(const ws_codec_opts *opts, ws_sink *out, ws_err *err);
ws_sink *ws_encoder_sink(ws_encoder *enc);
/* After a successful finish. */
void ws_encoder_digest(const ws_encoder *enc, ws_digest *out);
void ws_encoder_free(ws_encoder *enc);

/* key may be NULL (then encrypted objects fail with WS_ERR_KEY).  name is the
 * object's name for every error message. */
ws_decoder *ws_decoder_new(const ws_key *key, const char *name, ws_sink *out, ws_err *err);
ws_sink *ws_decoder_sink(ws_decoder *dec);
void ws_decoder_digest(const ws_decoder *dec, ws_digest *out);
void ws_decoder_free(ws_decoder *dec);

/* Parse and fully validate a header / trailer (name for messages). */
int ws_header_parse(const uint8_t buf[WS_HEADER_LEN], ws_header *out, const char *name, ws_err *err);
void ws_header_write(const ws_header *h, uint8_t buf[WS_HEADER_LEN]);
int ws_codec_trailer_parse(const uint8_t buf[WS_TRAILER_LEN], ws_digest *out, const char *name, ws_err *err);
void ws_codec_trailer_write(const ws_digest *d, uint8_t buf[WS_TRAILER_LEN]);

#endif
