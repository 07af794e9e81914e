/* test_key.c - the key file rule (doc/format.md, "Keys"): printable text
 * loses one final newline, anything else is used byte for byte; objects
 * written by earlier releases (which removed every trailing \n and \r of any
 * file) still decode with the same key file. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/codec.h"
#include "walship/key.h"

static ws_err err;

/* 31 bytes of a raw key, none of them printable or a newline. */
static const uint8_t raw31[31] = {0x9c, 0x01, 0xf3, 0x88, 0x17, 0xe0, 0x00, 0x81, 0xc2, 0x02, 0xfe,
                                  0x90, 0x13, 0xa7, 0xb4, 0x1f, 0xd9, 0x06, 0xee, 0x7f, 0x85, 0xc0,
                                  0x19, 0xab, 0xf0, 0x03, 0x99, 0xde, 0x1c, 0xb7, 0x8e};
/* `openssl rand -base64 32` without its newline. */
static const char b64[] = "q3JtW8y1Kf0b8e3oTqUe0m3t7v0Zb1nQ9n7mB9CfV0k=";

static ws_key *load(const void *file, size_t len)
{
    ws_key *k = NULL;

    ws_err_clear(&err);
    ck_assert_msg(ws_key_from_bytes(file, len, &k, &err) == 0, "%s", err.msg);
    return k;
}

static void id_of(const void *file, size_t len, uint8_t id[WS_KEY_ID_LEN])
{
    ws_key *k = load(file, len);

    memcpy(id, ws_key_id(k), WS_KEY_ID_LEN);
    ws_key_free(k);
}

/* A 32-byte raw key is accepted whatever its last byte: 0x0a and 0x0d
 * included (they were refused before: 2 keys in 256). */
START_TEST(raw_key_any_last_byte)
{
    uint8_t file[34], id[WS_KEY_ID_LEN], other[WS_KEY_ID_LEN];

    memcpy(file, raw31, sizeof raw31);
    for (int b = 0; b < 256; b++) {
        file[31] = (uint8_t) b;
        ck_assert_uint_eq(ws_key_material_len(file, 32), 32);
        ws_key_free(load(file, 32));
    }
    /* Every byte is material: ending in \n, \r or \r\n makes another key. */
    file[31] = '\n';
    id_of(file, 32, id);
    file[31] = '\r';
    id_of(file, 32, other);
    ck_assert_mem_ne(id, other, WS_KEY_ID_LEN);
    file[31] = 0x41;
    file[32] = '\r';
    file[33] = '\n';
    ck_assert_uint_eq(ws_key_material_len(file, 34), 34);
    id_of(file, 34, id);
    id_of(file, 32, other);
    ck_assert_mem_ne(id, other, WS_KEY_ID_LEN);
}
END_TEST

/* A text key with or without a final \n or \r\n is the same key: an editor
 * that adds (or drops) the final newline changes nothing. */
START_TEST(text_key_final_newline)
{
    char file[128];
    uint8_t id[WS_KEY_ID_LEN], other[WS_KEY_ID_LEN];
    size_t n = strlen(b64);

    id_of(b64, n, id);
    ck_assert_uint_eq(ws_key_material_len(b64, n), n);
    snprintf(file, sizeof file, "%s\n", b64);
    ck_assert_uint_eq(ws_key_material_len(file, n + 1), n);
    id_of(file, n + 1, other);
    ck_assert_mem_eq(id, other, WS_KEY_ID_LEN);
    snprintf(file, sizeof file, "%s\r\n", b64);
    ck_assert_uint_eq(ws_key_material_len(file, n + 2), n);
    id_of(file, n + 2, other);
    ck_assert_mem_eq(id, other, WS_KEY_ID_LEN);
    /* Hex text, as `openssl rand -hex 32` writes it. */
    snprintf(file, sizeof file, "%s\n", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    ck_assert_uint_eq(ws_key_material_len(file, 65), 64);
    /* Only one newline goes: two, or a bare \r, are not text. */
    snprintf(file, sizeof file, "%s\n\n", b64);
    ck_assert_uint_eq(ws_key_material_len(file, n + 2), n + 2);
    snprintf(file, sizeof file, "%s\r", b64);
    ck_assert_uint_eq(ws_key_material_len(file, n + 1), n + 1);
    /* White space inside is text; a tab or a non-ASCII byte is not. */
    ck_assert_uint_eq(ws_key_material_len("a passphrase of several words, 40 chars\n", 40), 39);
    ck_assert_uint_eq(ws_key_material_len("tab\there and more than thirty-two\n", 35), 35);
    ck_assert_uint_eq(ws_key_material_len("caf\xc3\xa9 and more than thirty-two bytes\n", 37), 37);
}
END_TEST

START_TEST(too_short_and_too_long)
{
    ws_key *k = NULL;
    char *big;

    ck_assert_int_eq(ws_key_from_bytes("zq9x!", 5, &k, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_KEY);
    ck_assert_ptr_null(strstr(err.msg, "zq9x")); /* material never echoed */
    ck_assert_int_eq(ws_key_from_bytes("0123456789abcdef0123456789abcde\n", 32, &k, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "31 bytes of text without its final newline, at least 32 needed"));
    ck_assert_int_eq(ws_key_from_bytes(raw31, sizeof raw31, &k, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "too short: 31 bytes, at least 32"));
    big = malloc(WS_KEY_MAX_LEN + 1);
    memset(big, 'k', WS_KEY_MAX_LEN + 1);
    ck_assert_int_eq(ws_key_from_bytes(big, WS_KEY_MAX_LEN + 1, &k, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "too long"));
    free(big);
}
END_TEST

START_TEST(key_file_load)
{
    char path[UNIT_TMP_MAX];
    int fd = mkstemp(unit_tmp_template(path, sizeof path, "ws-key"));
    uint8_t id[WS_KEY_ID_LEN];
    ws_key *k = NULL;
    char file[64];

    snprintf(file, sizeof file, "%s\n", b64);
    id_of(b64, strlen(b64), id);
    ck_assert_int_eq(write(fd, file, strlen(file)), (ssize_t) strlen(file));
    close(fd);
    ck_assert_int_eq(ws_key_load(path, &k, &err), 0);
    ck_assert_mem_eq(id, ws_key_id(k), WS_KEY_ID_LEN);
    ws_key_free(k);
    unlink(path);
    /* A missing key file, a FIFO (never blocks), short material: all
     * configuration errors naming the file, never WS_ERR_KEY (that is for
     * objects the key cannot open). */
    ck_assert_int_eq(ws_key_load(path, &k, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    alarm(10);
    ck_assert_int_eq(ws_key_load(path, &k, &err), -1);
    alarm(0);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_ptr_nonnull(strstr(err.msg, "FIFO"));
    unlink(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_eq(write(fd, "qzxwv", 5), 5);
    close(fd);
    ck_assert_int_eq(ws_key_load(path, &k, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_ptr_null(strstr(err.msg, "qzxwv"));
    unlink(path);
    /* Group- or world-readable: refused, saying how to fix it. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_eq(write(fd, file, strlen(file)), (ssize_t) strlen(file));
    close(fd);
    ck_assert_int_eq(ws_key_load(path, &k, &err), 0);
    ws_key_free(k);
    for (size_t i = 0; i < 3; i++) {
        static const mode_t modes[] = {0604, 0640, 0660};

        ck_assert_int_eq(chmod(path, modes[i]), 0);
        ck_assert_int_eq(ws_key_load(path, &k, &err), -1);
        ck_assert_int_eq(err.code, WS_ERR_CONFIG);
        ck_assert_msg(strstr(err.msg, "accessible to other users") && strstr(err.msg, "chmod 600"), "%s", err.msg);
    }
    unlink(path);
}
END_TEST

/* --- objects written by an earlier release ------------------------------ */

/*
 * `walship repo-put` of "walship key fixture\n" (compress = none) by the
 * release before this key rule, with three key files:
 *   A  47 raw bytes 0x80..0xae and "\n"  (read then as 47 bytes; now 48)
 *   B  a base64 line and "\n\n"           (read then without both; now as is)
 *   C  the same base64 line and "\n"      (the same material then and now)
 */
static const char key_b64_line[] = "S2V5IG1hdGVyaWFsIGZvciB3YWxzaGlwIGxlZ2FjeSB0ZXN0cw==";
static const char *const old_objects[3] = {
    "572a4d184000000077616c7368697000010001000000040026cb151f30098b49b856cbe926cd217ff238c7b34992fef5"
    "7c6607608a82b4020c9601fabfd60ab0da7df76c9843281b03fafd91e20d488afa5089e458b7a5ae6da5face3a3e05b0"
    "405ace67582dce1825594df35f2a4d18300000007773747261696c0014000000000000007dc1b93347dfe5774740f4e3"
    "37129c5a8aea9eb995ecd806196135fa20f2849b",
    "572a4d184000000077616c736869700001000100000004003cfbeeb3501bb5b96beee994953e87582ecadc58899546cc"
    "d2f88bd4d951956f87b811432deb467bd32f51e87eb65f9ed2d38a2339c884aed1db82a3c670a1bf982337f494bbb066"
    "4798923a1a7d14429a50496c5f2a4d18300000007773747261696c0014000000000000007dc1b93347dfe5774740f4e3"
    "37129c5a8aea9eb995ecd806196135fa20f2849b",
    "572a4d184000000077616c736869700001000100000004003cfbeeb3501bb5b96beee994953e8758da503b487df981e6"
    "d0bca88a015b4adde5cd0fe95c74507561040697c7ce3eb2eface74103a6a4a1fd5d3634fc59d22642cbc0a114374d0d"
    "cbfc30324fcef47f2d5f22c25f2a4d18300000007773747261696c0014000000000000007dc1b93347dfe5774740f4e3"
    "37129c5a8aea9eb995ecd806196135fa20f2849b",
};

static size_t key_file(int which, uint8_t *out)
{
    size_t n = 0;

    if (which == 0) {
        for (int b = 0x80; b <= 0xae; b++)
            out[n++] = (uint8_t) b;
        out[n++] = '\n';
        return n;
    }
    n = strlen(key_b64_line);
    memcpy(out, key_b64_line, n);
    out[n++] = '\n';
    if (which == 1)
        out[n++] = '\n';
    return n;
}

static size_t unhex(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v;

        ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t) v;
    }
    return n;
}

/* Decodes obj with key; 0 and the plaintext in out (cap bytes), or -1. */
static int decode(const uint8_t *obj, size_t len, const ws_key *key, uint8_t *out, size_t cap, size_t *got)
{
    ws_sink *mem = ws_sink_mem_new();
    ws_decoder *d = ws_decoder_new(key, "fixture.ws", mem, &err);
    const uint8_t *p;
    int rc;

    ck_assert_ptr_nonnull(d);
    rc = ws_sink_pump_mem(obj, len, 7, ws_decoder_sink(d), &err);
    if (rc == 0) {
        p = ws_sink_mem_data(mem, got);
        ck_assert_uint_le(*got, cap);
        memcpy(out, p, *got);
    }
    ws_decoder_free(d);
    ws_sink_free(mem);
    return rc;
}

static size_t encode(const void *data, size_t len, const ws_key *key, uint8_t *out, size_t cap)
{
    ws_codec_opts o = {.compress = WS_COMPRESS_NONE, .key = key};
    ws_sink *mem = ws_sink_mem_new();
    ws_encoder *e = ws_encoder_new(&o, mem, &err);
    const uint8_t *p;
    size_t n;

    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(ws_sink_pump_mem(data, len, 0, ws_encoder_sink(e), &err), 0);
    p = ws_sink_mem_data(mem, &n);
    ck_assert_uint_le(n, cap);
    memcpy(out, p, n);
    ws_encoder_free(e);
    ws_sink_free(mem);
    return n;
}

START_TEST(object_of_an_earlier_release_decodes)
{
    static const char plain[] = "walship key fixture\n";
    uint8_t file[80], obj[256], out[64];
    size_t flen = key_file(_i, file), olen = unhex(old_objects[_i], obj), got = 0;
    ws_key *k = load(file, flen);
    /* The header (offset 24) names the key: the old material's id for A
     * and B, which is not the key's id now; the same id for C. */
    bool same_id = memcmp(obj + 24, ws_key_id(k), WS_KEY_ID_LEN) == 0;

    ck_assert(same_id == (_i == 2));
    ck_assert(ws_key_has_id(k, obj + 24));
    ck_assert_msg(decode(obj, olen, k, out, sizeof out, &got) == 0, "%s", err.msg);
    ck_assert_uint_eq(got, strlen(plain));
    ck_assert_mem_eq(out, plain, got);

    /* New objects name the key's material now, and decode too. */
    olen = encode(plain, strlen(plain), k, obj, sizeof obj);
    ck_assert_mem_eq(obj + 24, ws_key_id(k), WS_KEY_ID_LEN);
    ck_assert_int_eq(decode(obj, olen, k, out, sizeof out, &got), 0);
    ck_assert_mem_eq(out, plain, strlen(plain));
    ws_key_free(k);
}
END_TEST

/* A binary key is its bytes: objects written while an editor's newline was
 * in the file need that newline (the error names both key ids); another
 * key file never decodes. */
START_TEST(other_key_is_wrong_key)
{
    static const char plain[] = "some WAL";
    uint8_t file[80], obj[256], out[64];
    size_t flen, olen, got;
    ws_key *k;
    char want[2 * WS_KEY_ID_LEN + 1], msg[128];

    memcpy(file, raw31, sizeof raw31);
    file[31] = 0x41;
    file[32] = '\n';
    k = load(file, 33);
    olen = encode(plain, strlen(plain), k, obj, sizeof obj);
    ws_key_free(k);
    k = load(file, 32);
    ck_assert(!ws_key_has_id(k, obj + 24));
    ck_assert_int_eq(decode(obj, olen, k, out, sizeof out, &got), -1);
    ck_assert_int_eq(err.code, WS_ERR_KEY);
    ws_key_id_hex(obj + 24, want);
    snprintf(msg, sizeof msg, "wrong key: object was encrypted with key id %s", want);
    ck_assert_msg(strstr(err.msg, msg) != NULL, "%s", err.msg);
    ws_key_free(k);
    /* The old reading of that file (the newline removed) is the 32-byte key:
     * an object it wrote decodes with the file as it is now. */
    k = load(file, 32);
    olen = encode(plain, strlen(plain), k, obj, sizeof obj);
    ws_key_free(k);
    k = load(file, 33);
    ck_assert_int_eq(decode(obj, olen, k, out, sizeof out, &got), 0);
    ws_key_free(k);
    /* Key C's file on key A's object. */
    olen = unhex(old_objects[0], obj);
    flen = key_file(2, file);
    k = load(file, flen);
    ck_assert_int_eq(decode(obj, olen, k, out, sizeof out, &got), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "wrong key"));
    ws_key_free(k);
}
END_TEST

static Suite *key_suite(void)
{
    Suite *s = suite_create("key");
    TCase *tc = tcase_create("key");

    tcase_add_test(tc, raw_key_any_last_byte);
    tcase_add_test(tc, text_key_final_newline);
    tcase_add_test(tc, too_short_and_too_long);
    tcase_add_test(tc, key_file_load);
    tcase_add_loop_test(tc, object_of_an_earlier_release_decodes, 0, 3);
    tcase_add_test(tc, other_key_is_wrong_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(key_suite());
    int failed;

    unit_tmp_init("key");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
