/*
 * test_s3_sign.c - the SigV4 signer against AWS's published S3 examples
 * ("Signature Calculations for the Authorization Header: Transferring Payload
 * in a Single Chunk", example credentials AKIAIOSFODNN7EXAMPLE), plus the
 * canonical encoding rules the examples do not cover.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "walship/s3_sign.h"

#define AK   "AKIAIOSFODNN7EXAMPLE"
#define SK   "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define DATE "20130524T000000Z"

static char *sign(const char *method, const char *path, const ws_s3_param *q, size_t nq, const ws_s3_header *h,
                  size_t nh, const char *payload, ws_buf *canon)
{
    ws_s3_sign_input in = {
        .method = method,
        .path = path,
        .params = q,
        .nparams = nq,
        .headers = h,
        .nheaders = nh,
        .payload_sha256 = payload,
        .amz_date = DATE,
        .region = "us-east-1",
        .service = "s3",
        .access_key = AK,
        .secret_key = SK,
    };
    ws_buf auth;
    ws_err err = {0};
    ws_buf_init(&auth);
    ck_assert_msg(ws_s3_sign(&in, &auth, canon, &err) == 0, "%s", err.msg);
    return auth.data;
}

static const char *sig_of(const char *auth)
{
    const char *s = strstr(auth, "Signature=");
    ck_assert_ptr_nonnull(s);
    return s + 10;
}

START_TEST(aws_get_object)
{
    ws_s3_header h[] = {
        {"Host", HOST},
        {"Range", "bytes=0-9"},
        {"x-amz-content-sha256", WS_S3_EMPTY_SHA256},
        {"x-amz-date", DATE},
    };
    ws_buf canon;
    ws_buf_init(&canon);
    char *auth = sign("GET", "/test.txt", NULL, 0, h, 4, WS_S3_EMPTY_SHA256, &canon);
    ck_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                           "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                           "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
    ck_assert_str_eq(canon.data, "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                                 "x-amz-content-sha256:" WS_S3_EMPTY_SHA256 "\nx-amz-date:20130524T000000Z\n\n"
                                 "host;range;x-amz-content-sha256;x-amz-date\n" WS_S3_EMPTY_SHA256);
    free(auth);
    ws_buf_free(&canon);
}
END_TEST

START_TEST(aws_put_object)
{
    const char *body = "Welcome to Amazon S3.";
    char hash[65];
    ws_s3_sign_sha256_hex(body, strlen(body), hash);
    ck_assert_str_eq(hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    ws_s3_header h[] = {
        {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
        {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
        {"Host", HOST},
        {"x-amz-date", DATE},
        {"x-amz-content-sha256", hash},
    };
    ws_buf canon;
    ws_buf_init(&canon);
    char *auth = sign("PUT", "/test$file.text", NULL, 0, h, 5, hash, &canon);
    ck_assert_str_eq(sig_of(auth), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
    ck_assert_ptr_nonnull(strstr(auth, "SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,"));
    ck_assert_int_eq(strncmp(canon.data, "PUT\n/test%24file.text\n\n", 23), 0);
    free(auth);
    ws_buf_free(&canon);
}
END_TEST

START_TEST(aws_get_lifecycle)
{
    ws_s3_header h[] = {{"host", HOST}, {"x-amz-content-sha256", WS_S3_EMPTY_SHA256}, {"x-amz-date", DATE}};
    ws_s3_param q[] = {{"lifecycle", NULL}};
    ws_buf canon;
    ws_buf_init(&canon);
    char *auth = sign("GET", "/", q, 1, h, 3, WS_S3_EMPTY_SHA256, &canon);
    ck_assert_str_eq(sig_of(auth), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    ck_assert_int_eq(strncmp(canon.data, "GET\n/\nlifecycle=\n", 17), 0);
    free(auth);
    ws_buf_free(&canon);
}
END_TEST

START_TEST(aws_list_objects)
{
    ws_s3_header h[] = {{"host", HOST}, {"x-amz-content-sha256", WS_S3_EMPTY_SHA256}, {"x-amz-date", DATE}};
    /* Given out of order: the signer must sort. */
    ws_s3_param q[] = {{"prefix", "J"}, {"max-keys", "2"}};
    char *auth = sign("GET", "/", q, 2, h, 3, WS_S3_EMPTY_SHA256, NULL);
    ck_assert_str_eq(sig_of(auth), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    free(auth);
}
END_TEST

START_TEST(signature_depends_on_inputs)
{
    ws_s3_header h[] = {{"host", HOST}, {"x-amz-content-sha256", WS_S3_EMPTY_SHA256}, {"x-amz-date", DATE}};
    ws_s3_param q[] = {{"prefix", "J"}, {"max-keys", "3"}};
    char *auth = sign("GET", "/", q, 2, h, 3, WS_S3_EMPTY_SHA256, NULL);
    ck_assert_str_ne(sig_of(auth), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    free(auth);
}
END_TEST

static char *canonical_query(const ws_s3_param *q, size_t n)
{
    ws_buf b;
    ws_buf_init(&b);
    ws_buf_adds(&b, "");
    ws_s3_sign_canonical_query(&b, q, n);
    ck_assert(!b.oom);
    return b.data;
}

START_TEST(query_sorting_and_encoding)
{
    ws_s3_param q[] = {
        {"prefix", "wal/0000 0001~x"},     {"list-type", "2"}, {"delimiter", "/"},
        {"continuation-token", "a+b=c&d"}, {"uploads", ""},
    };
    char *s = canonical_query(q, 5);
    ck_assert_str_eq(s, "continuation-token=a%2Bb%3Dc%26d&delimiter=%2F&list-type=2&"
                        "prefix=wal%2F0000%200001~x&uploads=");
    free(s);
}
END_TEST

START_TEST(query_same_name_sorted_by_value)
{
    ws_s3_param q[] = {{"a", "z"}, {"a", "b"}, {"A", "x"}};
    char *s = canonical_query(q, 3);
    ck_assert_str_eq(s, "A=x&a=b&a=z"); /* byte order: upper case first */
    free(s);
}
END_TEST

START_TEST(query_empty_and_utf8)
{
    ws_s3_param q[] = {{"k\xc3\xa9", NULL}, {"x", "\xe2\x82\xac"}};
    char *s = canonical_query(q, 2);
    ck_assert_str_eq(s, "k%C3%A9=&x=%E2%82%AC");
    free(s);
    s = canonical_query(NULL, 0);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(uri_encode_rules)
{
    ws_buf b;
    ws_buf_init(&b);
    ws_s3_sign_uri_encode(&b, "a/b c~d-e_f.g*h!'()%", true);
    ck_assert_str_eq(b.data, "a/b%20c~d-e_f.g%2Ah%21%27%28%29%25");
    ws_buf_clear(&b);
    ws_s3_sign_uri_encode(&b, "a/b", false);
    ck_assert_str_eq(b.data, "a%2Fb");
    ws_buf_free(&b);
}
END_TEST

START_TEST(header_values_trimmed)
{
    ws_s3_header h[] = {{"host", HOST}, {"X-Amz-Meta-Note", "  a   b \t c  "}, {"x-amz-date", DATE}};
    ws_buf canon;
    ws_buf_init(&canon);
    char *auth = sign("PUT", "/k", NULL, 0, h, 3, WS_S3_EMPTY_SHA256, &canon);
    ck_assert_ptr_nonnull(strstr(canon.data, "\nx-amz-meta-note:a b c\n"));
    ck_assert_ptr_nonnull(strstr(auth, "SignedHeaders=host;x-amz-date;x-amz-meta-note,"));
    free(auth);
    ws_buf_free(&canon);
}
END_TEST

START_TEST(duplicate_header_rejected)
{
    ws_s3_header h[] = {{"host", HOST}, {"Host", HOST}};
    ws_s3_sign_input in = {.method = "GET",
                           .path = "/",
                           .headers = h,
                           .nheaders = 2,
                           .payload_sha256 = WS_S3_EMPTY_SHA256,
                           .amz_date = DATE,
                           .region = "us-east-1",
                           .service = "s3",
                           .access_key = AK,
                           .secret_key = SK};
    ws_buf auth;
    ws_err err = {0};
    ws_buf_init(&auth);
    ck_assert_int_eq(ws_s3_sign(&in, &auth, NULL, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INVALID);
    ck_assert_ptr_null(strstr(err.msg, SK));
    in.nheaders = 1;
    in.amz_date = "2013-05-24";
    ck_assert_int_eq(ws_s3_sign(&in, &auth, NULL, &err), -1);
    ws_buf_free(&auth);
}
END_TEST

START_TEST(sha256_and_date)
{
    char hex[65], d[17];
    ws_s3_sign_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex, WS_S3_EMPTY_SHA256);
    ws_s3_sign_amz_date((time_t) 1369353600, d);
    ck_assert_str_eq(d, "20130524T000000Z");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("s3_sign");
    TCase *t = tcase_create("aws_examples");
    tcase_add_test(t, aws_get_object);
    tcase_add_test(t, aws_put_object);
    tcase_add_test(t, aws_get_lifecycle);
    tcase_add_test(t, aws_list_objects);
    tcase_add_test(t, signature_depends_on_inputs);
    suite_add_tcase(s, t);
    t = tcase_create("canonical");
    tcase_add_test(t, query_sorting_and_encoding);
    tcase_add_test(t, query_same_name_sorted_by_value);
    tcase_add_test(t, query_empty_and_utf8);
    tcase_add_test(t, uri_encode_rules);
    tcase_add_test(t, header_values_trimmed);
    tcase_add_test(t, duplicate_header_rejected);
    tcase_add_test(t, sha256_and_date);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
