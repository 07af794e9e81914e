/*
 * test_s3_policy.c - the S3 driver's numeric policies: retry backoff with
 * full jitter, and multipart part sizing (never more than 10,000 parts).
 */
#include <check.h>
#include <stdlib.h>

#include "walship/s3_http.h"
#include "walship/storage_s3.h"

#define MiB (1ULL << 20)

START_TEST(backoff_full_jitter)
{
    uint64_t rng = 12345;
    for (unsigned n = 1; n <= 20; n++) {
        double ceil_s = 0.1;
        for (unsigned i = 1; i < n; i++)
            ceil_s = ceil_s * 2 > 5.0 ? 5.0 : ceil_s * 2;
        double lo = 1e9, hi = -1, sum = 0;
        for (int i = 0; i < 2000; i++) {
            double d = ws_s3_http_backoff(n, 0.1, 5.0, &rng);
            ck_assert(d >= 0 && d <= ceil_s);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
            sum += d;
        }
        /* Spread over the whole window (full jitter), mean near the middle. */
        ck_assert(lo < ceil_s * 0.05);
        ck_assert(hi > ceil_s * 0.95);
        ck_assert(sum / 2000 > ceil_s * 0.4 && sum / 2000 < ceil_s * 0.6);
    }
}
END_TEST

START_TEST(part_base_from_hint)
{
    ck_assert_uint_eq(ws_storage_s3_part_base(0, WS_S3_PART_DEFAULT), 16 * MiB);
    ck_assert_uint_eq(ws_storage_s3_part_base(16 * MiB, WS_S3_PART_DEFAULT), 16 * MiB);
    /* A little above the default: one part holds it all. */
    ck_assert_uint_eq(ws_storage_s3_part_base(16 * MiB + 1, WS_S3_PART_DEFAULT), 17 * MiB);
    ck_assert_uint_eq(ws_storage_s3_part_base(18 * MiB, WS_S3_PART_DEFAULT), 18 * MiB);
    ck_assert_uint_eq(ws_storage_s3_part_base(18 * MiB + 1, WS_S3_PART_DEFAULT), 16 * MiB);
    ck_assert_uint_eq(ws_storage_s3_part_base(1, 1), WS_S3_PART_MIN);
    /* 1 TiB: 10,000 parts need ~104.9 MiB each, rounded up to 105 MiB. */
    uint64_t tib = 1ULL << 40;
    uint64_t b = ws_storage_s3_part_base(tib, WS_S3_PART_DEFAULT);
    ck_assert_uint_eq(b, 105 * MiB);
    ck_assert(b * WS_S3_MAX_PARTS >= tib);
    ck_assert_uint_eq(ws_storage_s3_part_base(UINT64_MAX, WS_S3_PART_DEFAULT), WS_S3_PART_MAX);
}
END_TEST

START_TEST(part_growth_without_hint)
{
    uint64_t base = ws_storage_s3_part_base(0, WS_S3_PART_DEFAULT);
    ck_assert_uint_eq(ws_storage_s3_part_size(base, 1), base);
    ck_assert_uint_eq(ws_storage_s3_part_size(base, 1000), base);
    ck_assert_uint_eq(ws_storage_s3_part_size(base, 1001), 2 * base);
    ck_assert_uint_eq(ws_storage_s3_part_size(base, 2001), 4 * base);
    uint64_t total = 0, prev = 0;
    for (unsigned n = 1; n <= WS_S3_MAX_PARTS; n++) {
        uint64_t s = ws_storage_s3_part_size(base, n);
        ck_assert(s >= prev && s >= WS_S3_PART_MIN && s <= WS_S3_PART_MAX);
        prev = s;
        total += s;
    }
    /* 10,000 parts hold more than S3's 5 TiB maximum object. */
    ck_assert(total > 5ULL << 40);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("s3_policy");
    TCase *t = tcase_create("policy");
    tcase_add_test(t, backoff_full_jitter);
    tcase_add_test(t, part_base_from_hint);
    tcase_add_test(t, part_growth_without_hint);
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
