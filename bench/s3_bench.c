/*
 * s3_bench.c - PUT/GET throughput and latency of the S3 storage driver.
 *
 * Usage: s3_bench [--big N] [--small N] [--label TEXT]
 *
 * Settings come from the environment as for walship itself (WALSHIP_REPO,
 * WALSHIP_S3_ENDPOINT, WALSHIP_S3_CA_FILE, AWS_*; no config file is read),
 * normally exported by bench/run-s3-bench.  Through ONE open storage (one
 * reused libcurl handle, so connections are kept alive) it PUTs N objects of
 * 16 MiB (keys big-000..), GETs them back, then the same for N objects of
 * 1 KiB (keys small-000..).  Raw bytes through the storage interface, no
 * codec, so the figures compare with curl on the same keys.  Requests are
 * sequential; every GET is checked for its length.
 *
 * Output: one TSV line per figure:
 *   label<TAB>op<TAB>size<TAB>n<TAB>MB/s<TAB>req/s<TAB>median ms<TAB>p95 ms
 * MB/s (10^6 bytes) and req/s are over the summed request times;
 * percentiles are nearest-rank.
 */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "walship/config.h"
#include "walship/log.h"
#include "walship/sink.h"
#include "walship/storage.h"

extern char **environ;

#define BIG_SIZE   ((size_t) 16 * 1024 * 1024)
#define SMALL_SIZE ((size_t) 1024)
#define MAX_N      10000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p of the samples <= it. */
static double percentile(const double *sorted, size_t n, double p)
{
    size_t rank = (size_t) (p * (double) n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

static void report(const char *label, const char *op, const char *size, double *lat, size_t n, size_t bytes_each)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += lat[i];
    qsort(lat, n, sizeof *lat, cmp_double);
    printf("%s\t%s\t%s\t%zu\t%.2f\t%.1f\t%.2f\t%.2f\n", label, op, size, n,
           (double) bytes_each * (double) n / total / 1e6, (double) n / total, percentile(lat, n, 0.5) * 1e3,
           percentile(lat, n, 0.95) * 1e3);
    fflush(stdout);
}

static int put_one(ws_storage *st, const char *key, const uint8_t *buf, size_t len, ws_err *err)
{
    ws_put *p = NULL;
    if (ws_storage_put_begin(st, key, len, &p, err) < 0)
        return -1;
    int rc = ws_sink_write(ws_put_sink(p), buf, len, err);
    if (rc == 0)
        rc = ws_put_commit(p, NULL, err);
    ws_put_free(p);
    return rc;
}

static int get_one(ws_storage *st, const char *key, size_t expect, ws_err *err)
{
    ws_sink *s = ws_sink_null_new();
    if (!s)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    int rc = ws_storage_get(st, key, 0, WS_TO_END, s, err);
    if (rc == 0 && ws_sink_null_count(s) != expect)
        rc = ws_err_set(err, WS_ERR_CORRUPT, "%s: got %llu bytes, expected %zu", key,
                        (unsigned long long) ws_sink_null_count(s), expect);
    ws_sink_free(s);
    return rc;
}

/* PUTs then GETs n objects of len bytes named stem-000, stem-001, ... */
static int run_kind(ws_storage *st, const char *label, const char *size_name, const char *stem, size_t len, size_t n,
                    ws_err *err)
{
    uint8_t *buf = malloc(len);
    double *lat = calloc(n, sizeof *lat);
    int rc = -1;
    if (!buf || !lat) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Incompressible, deterministic content. */
    uint32_t x = 12345;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t) (x >> 16);
    }
    char key[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s-%03zu", stem, i);
        buf[0] = (uint8_t) i; /* objects differ */
        double t0 = now_s();
        if (put_one(st, key, buf, len, err) < 0)
            goto out;
        lat[i] = now_s() - t0;
    }
    report(label, "PUT", size_name, lat, n, len);
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "%s-%03zu", stem, i);
        double t0 = now_s();
        if (get_one(st, key, len, err) < 0)
            goto out;
        lat[i] = now_s() - t0;
    }
    report(label, "GET", size_name, lat, n, len);
    rc = 0;
out:
    free(lat);
    free(buf);
    return rc;
}

static int parse_n(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > MAX_N)
        return -1;
    *out = (size_t) v;
    return 0;
}

int main(int argc, char **argv)
{
    size_t nbig = 20, nsmall = 200;
    const char *label = "walship";
    static const struct option longopts[] = {
        {"big", required_argument, NULL, 'b'},
        {"small", required_argument, NULL, 's'},
        {"label", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    ws_log_init("s3_bench", WS_LOG_NOTICE);
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((c == 'b' && parse_n(optarg, &nbig) < 0) || (c == 's' && parse_n(optarg, &nsmall) < 0) || c == '?') {
            fprintf(stderr, "usage: s3_bench [--big N] [--small N] [--label TEXT] (N in 1..%d)\n", MAX_N);
            return 2;
        }
        if (c == 'l')
            label = optarg;
    }

    ws_err err = {0};
    ws_config cfg;
    /* No default config file: only what run-s3-bench exported counts. */
    if (ws_config_load_from(&cfg, NULL, NULL, environ, &err) < 0) {
        ws_log_err(&err);
        return 1;
    }
    ws_storage *st = NULL;
    int rc = 1;
    if (ws_config_require(&cfg, WS_CFG_REPO, &err) < 0 || ws_storage_open(&cfg, &st, &err) < 0) {
        ws_log_err(&err);
        goto out;
    }
    if (run_kind(st, label, "16 MiB", "big", BIG_SIZE, nbig, &err) < 0 ||
        run_kind(st, label, "1 KiB", "small", SMALL_SIZE, nsmall, &err) < 0) {
        ws_log_err(&err);
        goto out;
    }
    rc = 0;
out:
    ws_storage_close(st);
    ws_config_free(&cfg);
    return rc;
}
