/* test_repo_keys.c - object key naming (doc/format.md, "Object keys"). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/repo_keys.h"
#include "walship/storage.h"

static void key_of(const char *name, char *out)
{
    ws_err err;

    ck_assert_msg(ws_repo_keys_wal(name, out, WS_KEY_MAX, &err) == 0, "%s: %s", name, err.msg);
}

START_TEST(wal_keys_have_documented_form)
{
    char k[WS_KEY_MAX];

    key_of("000000010000000000000003", k);
    ck_assert_str_eq(k, "wal/0000000100000000/000000010000000000000003.ws");
    key_of("0000000200000001000000FF.partial", k);
    ck_assert_str_eq(k, "wal/0000000200000001/0000000200000001000000FF.partial.ws");
    key_of("000000010000000000000002.00000028.backup", k);
    ck_assert_str_eq(k, "wal/0000000100000000/000000010000000000000002.00000028.backup.ws");
    key_of("0000000A.history", k);
    ck_assert_str_eq(k, "wal/history/0000000A.history.ws");
    ck_assert(ws_storage_key_valid(k));
}
END_TEST

START_TEST(bad_names_are_refused)
{
    static const char *bad[] = {
        "",
        "00000001000000000000003",
        "0000000100000000000000033",
        "00000001000000000000000g",
        "000000010000000000000003.partia",
        "000000010000000000000003.0000028.backup",
        "00000001.history",
        "0000000a.history",
        "../000000010000000000000003",
        "000000000000000000000003",
        "foo",
        "000000010000000000000003/",
        "000000010000000000000003.ws",
    };
    char k[WS_KEY_MAX];
    ws_err err;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(ws_repo_keys_wal(bad[i], k, sizeof k, &err) == -1, "\"%s\" accepted", bad[i]);
        ck_assert_int_eq(err.code, WS_ERR_INVALID);
        ck_assert_ptr_nonnull(strstr(err.msg, bad[i]));
    }
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* No key may be a prefix of another (S3 listing), and byte order of the
 * segment keys is WAL order. */
START_TEST(no_key_is_a_prefix_of_another)
{
    enum { N = 64 };
    char *keys[N * 3 + 4];
    char name[64];
    size_t n = 0;

    for (unsigned i = 0; i < N; i++) {
        unsigned tli = 1 + i % 3, log = i / 7, seg = (i * 37) % 256;

        snprintf(name, sizeof name, "%08X%08X%08X", tli, log, seg);
        keys[n] = malloc(WS_KEY_MAX);
        key_of(name, keys[n++]);
        snprintf(name, sizeof name, "%08X%08X%08X.partial", tli, log, seg);
        keys[n] = malloc(WS_KEY_MAX);
        key_of(name, keys[n++]);
        snprintf(name, sizeof name, "%08X%08X%08X.%08X.backup", tli, log, seg, i * 40);
        keys[n] = malloc(WS_KEY_MAX);
        key_of(name, keys[n++]);
    }
    for (unsigned t = 2; t < 6; t++) {
        snprintf(name, sizeof name, "%08X.history", t);
        keys[n] = malloc(WS_KEY_MAX);
        key_of(name, keys[n++]);
    }
    qsort(keys, n, sizeof keys[0], cmp_str);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (i != j)
                ck_assert_msg(strncmp(keys[i], keys[j], strlen(keys[i])) != 0, "%s is a prefix of %s", keys[i],
                              keys[j]);
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
}
END_TEST

START_TEST(segment_keys_sort_in_wal_order)
{
    char a[WS_KEY_MAX], b[WS_KEY_MAX];

    key_of("0000000100000000000000FF", a);
    key_of("000000010000000100000000", b);
    ck_assert_int_lt(strcmp(a, b), 0);
    key_of("000000010000000000000009", a);
    key_of("00000001000000000000000A", b);
    ck_assert_int_lt(strcmp(a, b), 0);
}
END_TEST

START_TEST(name_of_key_round_trips)
{
    static const char *names[] = {
        "000000010000000000000003",
        "0000000200000001000000FF.partial",
        "000000010000000000000002.00000028.backup",
        "0000000A.history",
    };
    char k[WS_KEY_MAX], back[64];
    ws_err err;

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        key_of(names[i], k);
        ck_assert_int_eq(ws_repo_keys_wal_name(k, back, sizeof back, &err), 0);
        ck_assert_str_eq(back, names[i]);
    }
    ck_assert_int_eq(ws_repo_keys_wal_name("wal/0000000100000001/000000010000000000000003.ws", back, sizeof back, &err),
                     -1);
    ck_assert_int_eq(ws_repo_keys_wal_name("user/x.ws", back, sizeof back, &err), -1);
}
END_TEST

START_TEST(user_keys)
{
    char k[WS_KEY_MAX];
    ws_err err;

    ck_assert_int_eq(ws_repo_keys_user("demo/sample", k, sizeof k, &err), 0);
    ck_assert_str_eq(k, "user/demo/sample.ws");
    ck_assert_int_eq(ws_repo_keys_user("../etc/passwd", k, sizeof k, &err), -1);
    ck_assert_int_eq(ws_repo_keys_user("/abs", k, sizeof k, &err), -1);
    ck_assert_int_eq(ws_repo_keys_user("sp ace", k, sizeof k, &err), -1);
    ck_assert_int_eq(ws_repo_keys_user("", k, sizeof k, &err), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("repo_keys");
    TCase *tc = tcase_create("keys");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, wal_keys_have_documented_form);
    tcase_add_test(tc, bad_names_are_refused);
    tcase_add_test(tc, no_key_is_a_prefix_of_another);
    tcase_add_test(tc, segment_keys_sort_in_wal_order);
    tcase_add_test(tc, name_of_key_round_trips);
    tcase_add_test(tc, user_keys);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
