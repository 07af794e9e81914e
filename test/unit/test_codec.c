/* test_codec.c - the object format: round trips, corruption, keys, tools. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <lz4frame.h>

#include "unit_tmp.h"
#include "walship/codec.h"
#include "walship/filter_aesgcm.h"

#define SMALL_CHUNK 4096u

static ws_key *test_key(const char *seed)
{
    char material[64];
    ws_key *k = NULL;
    ws_err err;

    snprintf(material, sizeof material, "%s-0123456789abcdef0123456789abcdef", seed);
    ck_assert_int_eq(ws_key_from_bytes(material, strlen(material), &k, &err), 0);
    return k;
}

/* Deterministic data shaped like WAL: 8 KiB pages of headers, repeated
 * tuples and some noise, compressible a few times. */
static uint8_t *wal_like(size_t len)
{
    uint8_t *p = malloc(len ? len : 1);
    uint32_t x = 2463534242u;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if (i % 8192 < 24)
            p[i] = (uint8_t) (i / 8192);
        else if ((i / 64) % 4 == 0)
            p[i] = (uint8_t) x;
        else
            p[i] = (uint8_t) ("INSERT pgbench_history tid bid aid delta "[i % 41]);
    }
    return p;
}

static uint8_t *encode(const uint8_t *data, size_t len, ws_compress c, const ws_key *key, uint32_t chunk, size_t piece,
                       size_t *out_len)
{
    ws_codec_opts o = {.compress = c, .key = key, .chunk_size = chunk};
    ws_sink *mem = ws_sink_mem_new();
    ws_err err;
    ws_encoder *e = ws_encoder_new(&o, mem, &err);
    const uint8_t *d;
    uint8_t *copy;
    ws_digest dg;

    ck_assert_msg(e != NULL, "%s", err.msg);
    ck_assert_msg(ws_sink_pump_mem(data, len, piece, ws_encoder_sink(e), &err) == 0, "%s", err.msg);
    ws_encoder_digest(e, &dg);
    ck_assert_uint_eq(dg.size, len);
    d = ws_sink_mem_data(mem, out_len);
    copy = malloc(*out_len);
    memcpy(copy, d, *out_len);
    ws_encoder_free(e);
    ws_sink_free(mem);
    return copy;
}

/* Decodes; returns 0 and the plaintext on success, -1 and err on failure. */
static int decode(const uint8_t *obj, size_t len, const ws_key *key, size_t piece, uint8_t **plain, size_t *plain_len,
                  ws_err *err)
{
    ws_sink *mem = ws_sink_mem_new();
    ws_decoder *d = ws_decoder_new(key, "test/object.ws", mem, err);
    int rc;

    ck_assert_ptr_nonnull(d);
    rc = ws_sink_pump_mem(obj, len, piece, ws_decoder_sink(d), err);
    if (rc == 0 && plain) {
        const uint8_t *p = ws_sink_mem_data(mem, plain_len);

        *plain = malloc(*plain_len + 1);
        if (*plain_len > 0)
            memcpy(*plain, p, *plain_len);
    }
    ws_decoder_free(d);
    ws_sink_free(mem);
    return rc;
}

static void roundtrip(size_t len, ws_compress c, bool encrypt, uint32_t chunk, size_t piece)
{
    ws_key *key = encrypt ? test_key("rt") : NULL;
    uint8_t *data = wal_like(len), *plain = NULL, *obj;
    size_t obj_len, plain_len = 0;
    ws_err err;

    obj = encode(data, len, c, key, chunk, piece, &obj_len);
    ck_assert_uint_ge(obj_len, WS_HEADER_LEN + WS_TRAILER_LEN);
    ck_assert_msg(decode(obj, obj_len, key, piece ? piece + 7 : 0, &plain, &plain_len, &err) == 0, "len %zu: %s", len,
                  err.msg);
    ck_assert_uint_eq(plain_len, len);
    ck_assert(len == 0 || memcmp(plain, data, len) == 0);
    free(data);
    free(plain);
    free(obj);
    ws_key_free(key);
}

static const size_t boundary_sizes[] = {
    0,
    1,
    2,
    SMALL_CHUNK - 1,
    SMALL_CHUNK,
    SMALL_CHUNK + 1,
    2 * SMALL_CHUNK - 1,
    2 * SMALL_CHUNK,
    2 * SMALL_CHUNK + 1,
    10 * SMALL_CHUNK,
    300000,
};

START_TEST(roundtrip_boundaries)
{
    /* _i enumerates compress x encrypt. */
    ws_compress c = (_i & 1) ? WS_COMPRESS_LZ4 : WS_COMPRESS_NONE;
    bool enc = (_i & 2) != 0;

    for (size_t i = 0; i < sizeof boundary_sizes / sizeof boundary_sizes[0]; i++) {
        roundtrip(boundary_sizes[i], c, enc, SMALL_CHUNK, 0);
        roundtrip(boundary_sizes[i], c, enc, SMALL_CHUNK, 333);
        roundtrip(boundary_sizes[i], c, enc, SMALL_CHUNK, 1);
    }
}
END_TEST

START_TEST(roundtrip_16mib_wal)
{
    ws_compress c = (_i & 1) ? WS_COMPRESS_LZ4 : WS_COMPRESS_NONE;

    roundtrip(16u << 20, c, (_i & 2) != 0, 0, 65536 + 3);
}
END_TEST

START_TEST(roundtrip_100mib)
{
    roundtrip(100u << 20, WS_COMPRESS_LZ4, _i != 0, 0, 1 << 20);
}
END_TEST

START_TEST(compression_shrinks_wal_like_data)
{
    size_t len = 1 << 20, obj_len;
    uint8_t *data = wal_like(len);
    uint8_t *obj = encode(data, len, WS_COMPRESS_LZ4, NULL, 0, 0, &obj_len);

    ck_assert_uint_lt(obj_len, len / 2);
    free(obj);
    free(data);
}
END_TEST

/* Pipeline mode: hashing on this thread, the rest on a worker. */
START_TEST(roundtrip_pipeline)
{
    ws_key *key = _i ? test_key("pipe") : NULL;
    size_t len = (8u << 20) + 12345, obj_len, plain_len;
    uint8_t *data = wal_like(len), *plain = NULL;
    ws_codec_opts o = {.compress = WS_COMPRESS_LZ4, .key = key, .pipeline = true};
    ws_sink *mem = ws_sink_mem_new();
    ws_err err;
    ws_encoder *e = ws_encoder_new(&o, mem, &err);
    const uint8_t *obj;

    ck_assert_ptr_nonnull(e);
    ck_assert_msg(ws_sink_pump_mem(data, len, 100000, ws_encoder_sink(e), &err) == 0, "%s", err.msg);
    obj = ws_sink_mem_data(mem, &obj_len);
    ck_assert_msg(decode(obj, obj_len, key, 0, &plain, &plain_len, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(plain_len, len);
    ck_assert(memcmp(plain, data, len) == 0);
    ws_encoder_free(e);
    ws_sink_free(mem);
    free(plain);
    free(data);
    ws_key_free(key);
}
END_TEST

/* A sink that fails after n bytes: errors from the worker must surface. */
typedef struct {
    ws_sink base;
    size_t left;
} fail_sink;

static int fail_write(ws_sink *s, const uint8_t *b, size_t len, ws_err *err)
{
    fail_sink *f = (fail_sink *) s;

    (void) b;
    if (len > f->left)
        return ws_err_set(err, WS_ERR_IO, "disk full (test)");
    f->left -= len;
    return 0;
}

static int fail_finish(ws_sink *s, ws_err *err)
{
    (void) s;
    (void) err;
    return 0;
}

static void fail_destroy(ws_sink *s)
{
    (void) s;
}

static const ws_sink_ops fail_ops = {"fail", fail_write, fail_finish, fail_destroy};

START_TEST(pipeline_error_propagates)
{
    fail_sink fs = {{&fail_ops, NULL}, 100000};
    ws_codec_opts o = {.compress = WS_COMPRESS_NONE, .pipeline = true};
    size_t len = 4u << 20;
    uint8_t *data = wal_like(len);
    ws_err err;
    ws_encoder *e = ws_encoder_new(&o, &fs.base, &err);

    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(ws_sink_pump_mem(data, len, 65536, ws_encoder_sink(e), &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "disk full"));
    ws_encoder_free(e);
    free(data);
}
END_TEST

/* Every single-bit flip anywhere must be detected (never a silent success). */
static void flip_every_region(ws_compress c, bool encrypt)
{
    ws_key *key = encrypt ? test_key("flip") : NULL;
    size_t len = 3 * SMALL_CHUNK + 100, obj_len;
    uint8_t *data = wal_like(len);
    uint8_t *obj = encode(data, len, c, key, SMALL_CHUNK, 0, &obj_len);
    ws_err err;

    for (size_t pos = 0; pos < obj_len; pos++) {
        /* Header and trailer: every byte; payload: a sample of bytes. */
        if (pos >= WS_HEADER_LEN && pos < obj_len - WS_TRAILER_LEN && pos % 97 != 0 &&
            !(encrypt && (pos - WS_HEADER_LEN) % (SMALL_CHUNK + 16) >= SMALL_CHUNK))
            continue;
        for (int bit = 0; bit < 8; bit += (pos < WS_HEADER_LEN ? 1 : 3)) {
            obj[pos] ^= (uint8_t) (1u << bit);
            ck_assert_msg(decode(obj, obj_len, key, 0, NULL, NULL, &err) == -1,
                          "flip at byte %zu bit %d of %zu not detected", pos, bit, obj_len);
            ck_assert_msg(err.code == WS_ERR_CORRUPT || err.code == WS_ERR_FORMAT || err.code == WS_ERR_KEY,
                          "flip at %zu: unexpected code %s: %s", pos, ws_errcode_name(err.code), err.msg);
            ck_assert_ptr_nonnull(strstr(err.msg, "test/object.ws"));
            obj[pos] ^= (uint8_t) (1u << bit);
        }
    }
    ck_assert_int_eq(decode(obj, obj_len, key, 0, NULL, NULL, &err), 0);
    free(obj);
    free(data);
    ws_key_free(key);
}

START_TEST(corruption_flips)
{
    flip_every_region((_i & 1) ? WS_COMPRESS_LZ4 : WS_COMPRESS_NONE, (_i & 2) != 0);
}
END_TEST

/* Truncation at every chunk boundary (and around it) and at other points. */
START_TEST(corruption_truncation)
{
    bool encrypt = (_i & 2) != 0;
    ws_key *key = encrypt ? test_key("trunc") : NULL;
    size_t len = 4 * SMALL_CHUNK, obj_len;
    uint8_t *data = wal_like(len);
    uint8_t *obj = encode(data, len, (_i & 1) ? WS_COMPRESS_LZ4 : WS_COMPRESS_NONE, key, SMALL_CHUNK, 0, &obj_len);
    ws_err err;

    for (size_t cut = 0; cut < obj_len; cut++) {
        bool chunk_edge = encrypt && cut > WS_HEADER_LEN &&
                          ((cut - WS_HEADER_LEN) % (SMALL_CHUNK + 16) <= 1 ||
                           (cut - WS_HEADER_LEN) % (SMALL_CHUNK + 16) == SMALL_CHUNK + 15);

        if (!(cut < WS_HEADER_LEN + 2 || cut > obj_len - WS_TRAILER_LEN - 3 || chunk_edge || cut % 211 == 0))
            continue;
        ck_assert_msg(decode(obj, cut, key, 0, NULL, NULL, &err) == -1, "truncation to %zu of %zu not detected", cut,
                      obj_len);
        ck_assert_int_eq(err.code == WS_ERR_CORRUPT || err.code == WS_ERR_FORMAT, 1);
    }
    free(obj);
    free(data);
    ws_key_free(key);
}
END_TEST

/* Removing or swapping whole encrypted chunks (and keeping the trailer). */
START_TEST(corruption_chunk_reorder_and_drop)
{
    ws_key *key = test_key("order");
    size_t len = 4 * SMALL_CHUNK + 10, obj_len, cl = SMALL_CHUNK + 16;
    uint8_t *data = wal_like(len);
    uint8_t *obj = encode(data, len, WS_COMPRESS_NONE, key, SMALL_CHUNK, 0, &obj_len);
    uint8_t *tmp = malloc(obj_len);
    ws_err err;

    /* swap chunks 0 and 1 */
    memcpy(tmp, obj, obj_len);
    memcpy(tmp + WS_HEADER_LEN, obj + WS_HEADER_LEN + cl, cl);
    memcpy(tmp + WS_HEADER_LEN + cl, obj + WS_HEADER_LEN, cl);
    ck_assert_int_eq(decode(tmp, obj_len, key, 0, NULL, NULL, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "authentication failed"));
    /* drop chunk 1 */
    memcpy(tmp, obj, WS_HEADER_LEN + cl);
    memcpy(tmp + WS_HEADER_LEN + cl, obj + WS_HEADER_LEN + 2 * cl, obj_len - WS_HEADER_LEN - 2 * cl);
    ck_assert_int_eq(decode(tmp, obj_len - cl, key, 0, NULL, NULL, &err), -1);
    /* drop the final chunk but keep the trailer: a full chunk is then last */
    memcpy(tmp, obj, WS_HEADER_LEN + 4 * cl);
    memcpy(tmp + WS_HEADER_LEN + 4 * cl, obj + obj_len - WS_TRAILER_LEN, WS_TRAILER_LEN);
    ck_assert_int_eq(decode(tmp, WS_HEADER_LEN + 4 * cl + WS_TRAILER_LEN, key, 0, NULL, NULL, &err), -1);
    free(tmp);
    free(obj);
    free(data);
    ws_key_free(key);
}
END_TEST

START_TEST(wrong_key_and_missing_key)
{
    ws_key *k1 = test_key("one"), *k2 = test_key("two");
    size_t obj_len;
    uint8_t *data = wal_like(1000);
    uint8_t *obj = encode(data, 1000, WS_COMPRESS_LZ4, k1, 0, 0, &obj_len);
    ws_err err;

    ck_assert_int_eq(decode(obj, obj_len, k2, 0, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_KEY);
    ck_assert_ptr_nonnull(strstr(err.msg, "wrong key"));
    ck_assert_ptr_nonnull(strstr(err.msg, "test/object.ws"));
    ck_assert_int_eq(decode(obj, obj_len, NULL, 0, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_KEY);
    ck_assert_ptr_nonnull(strstr(err.msg, "no encryption_key_file"));
    ck_assert_int_eq(decode(obj, obj_len, k1, 0, NULL, NULL, &err), 0);
    free(obj);
    free(data);
    ws_key_free(k1);
    ws_key_free(k2);
}
END_TEST

START_TEST(same_key_id_different_material_fails_auth)
{
    /* Key ids are derived from the material, so equal ids mean equal keys;
     * forge the id in the header to check the tag still protects. */
    ws_key *k1 = test_key("alpha"), *k2 = test_key("bravo");
    size_t obj_len;
    uint8_t *data = wal_like(5000);
    uint8_t *obj = encode(data, 5000, WS_COMPRESS_NONE, k1, SMALL_CHUNK, 0, &obj_len);
    ws_err err;

    memcpy(obj + 24, ws_key_id(k2), WS_KEY_ID_LEN);
    ck_assert_int_eq(decode(obj, obj_len, k2, 0, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    free(obj);
    free(data);
    ws_key_free(k1);
    ws_key_free(k2);
}
END_TEST

START_TEST(unknown_version_and_not_an_object)
{
    size_t obj_len;
    uint8_t *data = wal_like(100);
    uint8_t *obj = encode(data, 100, WS_COMPRESS_LZ4, NULL, 0, 0, &obj_len);
    ws_err err;

    obj[16] = 2;
    ck_assert_int_eq(decode(obj, obj_len, NULL, 0, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "unsupported object format version 2"));
    ck_assert_int_eq(decode(data, 100, NULL, 0, NULL, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "not a walship object"));
    free(obj);
    free(data);
}
END_TEST

START_TEST(nonce_layout)
{
    uint8_t n[12];
    static const uint8_t want[12] = {0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 1};

    ws_filter_aesgcm_nonce(0x102, 1, n);
    ck_assert_int_eq(memcmp(n, want, 12), 0);
}
END_TEST

/* An unencrypted lz4 object is a valid .lz4 file, as doc/format.md says. */
START_TEST(standard_tools_recover_plain_objects)
{
    size_t len = 200000, obj_len;
    uint8_t *data = wal_like(len);
    char dir[256], cmd[2048], path[300];
    FILE *f;

    if (system("command -v lz4 >/dev/null 2>&1") != 0) {
        free(data);
        ck_abort_msg("the lz4 tool is needed for this test (apt-get install lz4)");
    }
    ck_assert_ptr_nonnull(mkdtemp(unit_tmp_template(dir, sizeof dir, "ws-tools")));
    for (int c = 0; c < 2; c++) {
        uint8_t *obj = encode(data, len, c ? WS_COMPRESS_LZ4 : WS_COMPRESS_NONE, NULL, 0, 0, &obj_len);

        snprintf(path, sizeof path, "%s/obj", dir);
        f = fopen(path, "wb");
        ck_assert_uint_eq(fwrite(obj, 1, obj_len, f), obj_len);
        fclose(f);
        snprintf(path, sizeof path, "%s/plain", dir);
        f = fopen(path, "wb");
        ck_assert_uint_eq(fwrite(data, 1, len, f), len);
        fclose(f);
        if (c)
            snprintf(cmd, sizeof cmd,
                     "tail -c +%d %s/obj | lz4 -d -c | cmp -s - %s/plain && lz4 -d -c < %s/obj | cmp -s - %s/plain",
                     WS_HEADER_LEN + 1, dir, dir, dir, dir);
        else
            snprintf(cmd, sizeof cmd, "tail -c +%d %s/obj | head -c -%d | cmp -s - %s/plain", WS_HEADER_LEN + 1, dir,
                     WS_TRAILER_LEN, dir);
        ck_assert_msg(system(cmd) == 0, "standard tools could not recover: %s", cmd);
        free(obj);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(data);
}
END_TEST

/* Objects written with an LZ4 content checksum (XXH32) still decode, and a
 * flipped byte in them still fails; new objects carry none. */
START_TEST(lz4_content_checksum_frames_decode)
{
    size_t len = 700000, obj_len, frame_len, old_len, plain_len = 0;
    uint8_t *data = wal_like(len), *plain = NULL, *obj, *old;
    LZ4F_preferences_t prefs;
    ws_err err;

    obj = encode(data, len, WS_COMPRESS_LZ4, NULL, 0, 0, &obj_len);
    /* FLG byte after the frame's magic number: bit 2 = content checksum. */
    ck_assert_uint_eq(obj[WS_HEADER_LEN + 4] & 0x04, 0);
    memset(&prefs, 0, sizeof prefs);
    prefs.frameInfo.blockSizeID = LZ4F_max256KB;
    prefs.frameInfo.blockMode = LZ4F_blockLinked;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    frame_len = LZ4F_compressFrameBound(len, &prefs);
    old = malloc(WS_HEADER_LEN + frame_len + WS_TRAILER_LEN);
    ck_assert_ptr_nonnull(old);
    /* Same header and trailer (the trailer's SHA-256 is of the plaintext). */
    memcpy(old, obj, WS_HEADER_LEN);
    frame_len = LZ4F_compressFrame(old + WS_HEADER_LEN, frame_len, data, len, &prefs);
    ck_assert(!LZ4F_isError(frame_len));
    ck_assert_uint_eq(old[WS_HEADER_LEN + 4] & 0x04, 0x04);
    memcpy(old + WS_HEADER_LEN + frame_len, obj + obj_len - WS_TRAILER_LEN, WS_TRAILER_LEN);
    old_len = WS_HEADER_LEN + frame_len + WS_TRAILER_LEN;
    ck_assert_msg(decode(old, old_len, NULL, 4096, &plain, &plain_len, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(plain_len, len);
    ck_assert(memcmp(plain, data, len) == 0);
    free(plain);
    plain = NULL;
    old[WS_HEADER_LEN + frame_len / 2] ^= 0x10;
    ck_assert_int_eq(decode(old, old_len, NULL, 4096, &plain, &plain_len, &err), -1);
    ck_assert_msg(strstr(err.msg, "test/object.ws"), "%s", err.msg);
    free(plain);
    free(old);
    free(obj);
    free(data);
}
END_TEST

/* Encoder piped straight into decoder: 512 MiB streams in bounded memory. */
START_TEST(bounded_memory_streaming)
{
    ws_key *key = test_key("mem");
    ws_sink *null = ws_sink_null_new();
    ws_err err;
    ws_decoder *d = ws_decoder_new(key, "big", null, &err);
    ws_codec_opts o = {.compress = WS_COMPRESS_LZ4, .key = key};
    ws_encoder *e = ws_encoder_new(&o, ws_decoder_sink(d), &err);
    size_t block = 1 << 20;
    uint8_t *data = wal_like(block);
    struct rusage before, after;

    ck_assert_ptr_nonnull(e);
    getrusage(RUSAGE_SELF, &before);
    for (int i = 0; i < 512; i++) {
        data[i] ^= 1; /* vary the blocks a little */
        ck_assert_msg(ws_sink_write(ws_encoder_sink(e), data, block, &err) == 0, "%s", err.msg);
    }
    ck_assert_msg(ws_sink_finish(ws_encoder_sink(e), &err) == 0, "%s", err.msg);
    getrusage(RUSAGE_SELF, &after);
    ck_assert_uint_eq(ws_sink_null_count(null), (uint64_t) 512 * block);
    /* ru_maxrss is in KiB: the stream must not grow the process by >16 MiB. */
    ck_assert_msg(after.ru_maxrss - before.ru_maxrss < 16 * 1024, "RSS grew by %ld KiB",
                  after.ru_maxrss - before.ru_maxrss);
    ws_encoder_free(e);
    ws_decoder_free(d);
    ws_sink_free(null);
    free(data);
    ws_key_free(key);
}
END_TEST

static Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("roundtrip");
    TCase *bad = tcase_create("corruption");
    TCase *misc = tcase_create("misc");

    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, roundtrip_boundaries, 0, 4);
    tcase_add_loop_test(tc, roundtrip_16mib_wal, 0, 4);
    tcase_add_loop_test(tc, roundtrip_100mib, 0, 2);
    tcase_add_test(tc, compression_shrinks_wal_like_data);
    tcase_add_loop_test(tc, roundtrip_pipeline, 0, 2);
    tcase_add_test(tc, pipeline_error_propagates);
    suite_add_tcase(s, tc);

    tcase_set_timeout(bad, 300);
    tcase_add_loop_test(bad, corruption_flips, 0, 4);
    tcase_add_loop_test(bad, corruption_truncation, 0, 4);
    tcase_add_test(bad, corruption_chunk_reorder_and_drop);
    tcase_add_test(bad, wrong_key_and_missing_key);
    tcase_add_test(bad, same_key_id_different_material_fails_auth);
    tcase_add_test(bad, unknown_version_and_not_an_object);
    suite_add_tcase(s, bad);

    tcase_set_timeout(misc, 300);
    tcase_add_test(misc, nonce_layout);
    tcase_add_test(misc, standard_tools_recover_plain_objects);
    tcase_add_test(misc, lz4_content_checksum_frames_decode);
    tcase_add_test(misc, bounded_memory_streaming);
    suite_add_tcase(s, misc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(codec_suite());
    int failed;

    unit_tmp_init("codec");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
