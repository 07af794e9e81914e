/* filter_lz4.c - LZ4 frame compression and decompression stages. */
#include "walship/filter_lz4.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <lz4frame.h>

/* Input is fed to LZ4F in slices of this size so the output buffer, sized
 * by LZ4F_compressBound for one slice, is bounded. */
#define LZ4_SLICE (256 * 1024)

typedef struct {
    ws_sink base;
    LZ4F_cctx *cctx;
    LZ4F_preferences_t prefs;
    uint8_t *out;
    size_t out_cap;
    bool begun;
} lz4c_filter;

static int lz4c_begin(lz4c_filter *f, ws_err *err)
{
    size_t n = LZ4F_compressBegin(f->cctx, f->out, f->out_cap, &f->prefs);

    if (LZ4F_isError(n))
        return ws_err_set(err, WS_ERR_INTERNAL, "lz4 compression failed: %s", LZ4F_getErrorName(n));
    f->begun = true;
    return ws_sink_write(f->base.next, f->out, n, err);
}

static int lz4c_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    lz4c_filter *f = (lz4c_filter *) s;

    if (!f->begun && lz4c_begin(f, err) < 0)
        return -1;
    while (len > 0) {
        size_t in = len < LZ4_SLICE ? len : LZ4_SLICE;
        size_t n = LZ4F_compressUpdate(f->cctx, f->out, f->out_cap, buf, in, NULL);

        if (LZ4F_isError(n))
            return ws_err_set(err, WS_ERR_INTERNAL, "lz4 compression failed: %s", LZ4F_getErrorName(n));
        if (n > 0 && ws_sink_write(s->next, f->out, n, err) < 0)
            return -1;
        buf += in;
        len -= in;
    }
    return 0;
}

static int lz4c_finish(ws_sink *s, ws_err *err)
{
    lz4c_filter *f = (lz4c_filter *) s;
    size_t n;

    if (!f->begun && lz4c_begin(f, err) < 0)
        return -1;
    n = LZ4F_compressEnd(f->cctx, f->out, f->out_cap, NULL);
    if (LZ4F_isError(n))
        return ws_err_set(err, WS_ERR_INTERNAL, "lz4 compression failed: %s", LZ4F_getErrorName(n));
    if (ws_sink_write(s->next, f->out, n, err) < 0)
        return -1;
    return ws_sink_finish(s->next, err);
}

static void lz4c_destroy(ws_sink *s)
{
    lz4c_filter *f = (lz4c_filter *) s;

    LZ4F_freeCompressionContext(f->cctx);
    free(f->out);
    free(f);
}

static const ws_sink_ops lz4c_ops = {"lz4-compress", lz4c_write, lz4c_finish, lz4c_destroy};

ws_sink *ws_filter_lz4_compress_new(ws_sink *next, int level, ws_err *err)
{
    lz4c_filter *f = calloc(1, sizeof *f);

    if (!f)
        goto nomem;
    f->base.ops = &lz4c_ops;
    f->base.next = next;
    f->prefs.frameInfo.blockSizeID = LZ4F_max256KB;
    f->prefs.frameInfo.blockMode = LZ4F_blockLinked;
    /* No XXH32 content checksum: the codec's SHA-256 of the plaintext
     * already covers it, and liblz4's XXH32 cost more CPU than the
     * compression itself on backup data. */
    f->prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    f->prefs.compressionLevel = level;
    f->out_cap = LZ4F_compressBound(LZ4_SLICE, &f->prefs);
    if (f->out_cap < LZ4F_HEADER_SIZE_MAX)
        f->out_cap = LZ4F_HEADER_SIZE_MAX;
    f->out = malloc(f->out_cap);
    if (!f->out || LZ4F_isError(LZ4F_createCompressionContext(&f->cctx, LZ4F_VERSION))) {
        lz4c_destroy(&f->base);
        goto nomem;
    }
    return &f->base;
nomem:
    ws_err_set(err, WS_ERR_NOMEM, "out of memory for lz4 compression");
    return NULL;
}

/* --- decompression ------------------------------------------------------ */

typedef struct {
    ws_sink base;
    LZ4F_dctx *dctx;
    uint8_t *out;
    size_t out_cap;
    bool ended; /* the frame's end mark and checksum were read */
    char *name;
} lz4d_filter;

static int lz4d_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    /* An XXH32 content checksum (older frames have one) is not computed:
     * the codec verifies the SHA-256 of the same plaintext. */
    static const LZ4F_decompressOptions_t opts = {.skipChecksums = 1};
    lz4d_filter *f = (lz4d_filter *) s;
    bool pending = false; /* dst was filled: LZ4F may hold more output */

    while (len > 0 || pending) {
        size_t out_n = f->out_cap;
        size_t in_n = len;
        size_t hint;

        if (f->ended && len > 0)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: unexpected data after the end of the lz4 frame", f->name);
        hint = LZ4F_decompress(f->dctx, f->out, &out_n, buf, &in_n, &opts);
        if (LZ4F_isError(hint))
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: lz4 decompression failed: %s", f->name,
                              LZ4F_getErrorName(hint));
        if (out_n > 0 && ws_sink_write(s->next, f->out, out_n, err) < 0)
            return -1;
        if (hint == 0)
            f->ended = true;
        buf += in_n;
        len -= in_n;
        pending = out_n == f->out_cap;
        if (in_n == 0 && out_n == 0) {
            /* No progress in either direction: stop instead of spinning. */
            if (len > 0)
                return ws_err_set(err, WS_ERR_CORRUPT, "%s: lz4 decompression made no progress", f->name);
            break;
        }
    }
    return 0;
}

static int lz4d_finish(ws_sink *s, ws_err *err)
{
    lz4d_filter *f = (lz4d_filter *) s;

    if (!f->ended)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: lz4 frame is truncated", f->name);
    return ws_sink_finish(s->next, err);
}

static void lz4d_destroy(ws_sink *s)
{
    lz4d_filter *f = (lz4d_filter *) s;

    LZ4F_freeDecompressionContext(f->dctx);
    free(f->out);
    free(f->name);
    free(f);
}

static const ws_sink_ops lz4d_ops = {"lz4-decompress", lz4d_write, lz4d_finish, lz4d_destroy};

ws_sink *ws_filter_lz4_decompress_new(ws_sink *next, const char *name, ws_err *err)
{
    lz4d_filter *f = calloc(1, sizeof *f);

    if (!f)
        goto nomem;
    f->base.ops = &lz4d_ops;
    f->base.next = next;
    f->out_cap = LZ4_SLICE;
    /* Zeroed: a corrupt match offset may read from the output buffer. */
    f->out = calloc(1, f->out_cap);
    f->name = strdup(name ? name : "(object)");
    if (!f->out || !f->name || LZ4F_isError(LZ4F_createDecompressionContext(&f->dctx, LZ4F_VERSION))) {
        lz4d_destroy(&f->base);
        goto nomem;
    }
    return &f->base;
nomem:
    ws_err_set(err, WS_ERR_NOMEM, "out of memory for lz4 decompression");
    return NULL;
}
