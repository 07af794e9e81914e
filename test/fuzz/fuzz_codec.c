/*
 * fuzz_codec.c - libFuzzer target for the object decoder.
 *
 * Byte 0 picks a mode: raw input straight into the decoder (with and without
 * a key); or a valid object encoded from the input, damaged at a position and
 * bit taken from the input, which must then fail to decode or yield exactly
 * the original plaintext (never anything else).
 */
#include <stdlib.h>
#include <string.h>

#include "walship/codec.h"

static ws_key *fuzz_key(void)
{
    static const char material[] = "fuzz-key-material-0123456789abcdef";
    ws_key *k = NULL;
    ws_err err;

    if (ws_key_from_bytes(material, sizeof material - 1, &k, &err) < 0)
        abort();
    return k;
}

static int decode(const uint8_t *obj, size_t len, const ws_key *key, size_t piece, ws_sink *out)
{
    ws_err err;
    ws_decoder *d = ws_decoder_new(key, "fuzz", out, &err);
    int rc;

    if (!d)
        abort();
    rc = ws_sink_pump_mem(obj, len, piece, ws_decoder_sink(d), &err);
    ws_decoder_free(d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ws_key *key;
    ws_sink *out;

    if (size < 4)
        return 0;
    key = fuzz_key();
    out = ws_sink_null_new();
    if (data[0] < 128) {
        (void) decode(data + 1, size - 1, (data[0] & 1) ? key : NULL, (size_t) data[1] + 1, out);
    } else {
        ws_codec_opts o = {.compress = (data[0] & 1) ? WS_COMPRESS_LZ4 : WS_COMPRESS_NONE,
                           .key = (data[0] & 2) ? key : NULL,
                           .chunk_size = WS_CHUNK_MIN};
        ws_sink *mem = ws_sink_mem_new();
        ws_err err;
        ws_encoder *e = ws_encoder_new(&o, mem, &err);
        size_t obj_len, pos;
        const uint8_t *obj;
        uint8_t *copy;

        if (!e || ws_sink_pump_mem(data + 4, size - 4, 0, ws_encoder_sink(e), &err) < 0)
            abort();
        obj = ws_sink_mem_data(mem, &obj_len);
        copy = malloc(obj_len);
        memcpy(copy, obj, obj_len);
        if (decode(copy, obj_len, o.key, 0, out) != 0)
            abort(); /* a valid object must decode */
        pos = ((size_t) data[1] << 8 | data[2]) % obj_len;
        copy[pos] ^= (uint8_t) (1u << (data[3] & 7));
        {
            /* A damaged object may only decode if what it yields is exactly
             * the original (e.g. an LZ4 match rewritten to an equivalent
             * one); anything else must fail. */
            ws_sink *got = ws_sink_mem_new();
            size_t got_len;
            const uint8_t *g;

            if (decode(copy, obj_len, o.key, 0, got) == 0) {
                g = ws_sink_mem_data(got, &got_len);
                if (got_len != size - 4 || (got_len && memcmp(g, data + 4, got_len) != 0))
                    abort();
            }
            ws_sink_free(got);
        }
        free(copy);
        ws_encoder_free(e);
        ws_sink_free(mem);
    }
    ws_sink_free(out);
    ws_key_free(key);
    return 0;
}
