/*
 * test_storage_s3.c - the s3:// driver against s3rver through walship's
 * verifying, fault-injecting proxy (test/proxy/s3proxy.py, started by
 * test/integration/s3env), over HTTP and HTTPS.
 *
 * The proxy checks every request's SigV4 signature with botocore and the
 * body against x-amz-content-sha256, so a request the driver signs wrongly
 * fails here even though s3rver checks nothing.  Its log lets the tests
 * assert on what was sent (e.g. the AbortMultipartUpload of a failed put).
 */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storage_conformance.h"
#include "walship/s3_http.h"
#include "walship/storage.h"
#include "walship/storage_s3.h"

#define MiB (1024u * 1024u)

typedef struct env {
    char dir[256];
    char http[128], https[128], ca[320], bucket[64], ctl_http[160], ctl_https[160];
} env;

static env E;
static char s3env_path[512];

/* --- environment --------------------------------------------------------- */

static int run_s3env(const char *verb)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' %s '%s' --parent-pid %ld --max-lifetime 1800 >'%s/s3env.out' 2>&1", s3env_path,
             verb, E.dir, (long) getpid(), E.dir);
    if (strcmp(verb, "stop") == 0)
        snprintf(cmd, sizeof cmd, "'%s' stop '%s' >/dev/null 2>&1", s3env_path, E.dir);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void env_value(const char *text, const char *name, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "export %s=", name);
    const char *p = strstr(text, pat);
    out[0] = '\0';
    if (!p)
        return;
    p += strlen(pat);
    size_t len = strcspn(p, "\n");
    if (len && p[0] == '\'' && p[len - 1] == '\'') {
        p++;
        len -= 2;
    }
    snprintf(out, n, "%.*s", (int) len, p);
}

static int start_env(void)
{
    const char *s = getenv("S3ENV");
    snprintf(s3env_path, sizeof s3env_path, "%s", s ? s : "test/integration/s3env");
    snprintf(E.dir, sizeof E.dir, "/tmp/walship-s3test-XXXXXX");
    if (!mkdtemp(E.dir))
        return -1;
    if (run_s3env("start") != 0) {
        fprintf(stderr, "s3env start failed; see %s/s3env.out\n", E.dir);
        return -1;
    }
    char path[300], text[4096];
    snprintf(path, sizeof path, "%s/env.sh", E.dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    env_value(text, "S3ENV_HTTP_ENDPOINT", E.http, sizeof E.http);
    env_value(text, "S3ENV_HTTPS_ENDPOINT", E.https, sizeof E.https);
    env_value(text, "S3ENV_CA_FILE", E.ca, sizeof E.ca);
    env_value(text, "S3ENV_BUCKET", E.bucket, sizeof E.bucket);
    env_value(text, "S3ENV_CONTROL_HTTP", E.ctl_http, sizeof E.ctl_http);
    env_value(text, "S3ENV_CONTROL_HTTPS", E.ctl_https, sizeof E.ctl_https);
    return E.http[0] && E.https[0] && E.bucket[0] && E.ctl_http[0] ? 0 : -1;
}

/* --- proxy control ------------------------------------------------------- */

static size_t collect(char *d, size_t sz, size_t n, void *arg)
{
    ws_buf_add(arg, d, sz * n);
    return sz * n;
}

/* method "GET"/"POST"/"DELETE" on the control URL + name; returns the body. */
static char *control(bool https, const char *method, const char *name, const char *json)
{
    char url[300];
    snprintf(url, sizeof url, "%s/%s", https ? E.ctl_https : E.ctl_http, name);
    ws_buf b;
    ws_buf_init(&b);
    ws_buf_adds(&b, "");
    CURL *k = curl_easy_init();
    ck_assert_ptr_nonnull(k);
    curl_easy_setopt(k, CURLOPT_URL, url);
    curl_easy_setopt(k, CURLOPT_CAINFO, E.ca);
    curl_easy_setopt(k, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, method);
    if (json)
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, json);
    CURLcode rc = curl_easy_perform(k);
    long status = 0;
    curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(k);
    ck_assert_msg(rc == CURLE_OK && status == 200, "proxy control %s %s: %s / %ld: %s", method, url,
                  curl_easy_strerror(rc), status, b.data);
    return b.data;
}

static void proxy_config(bool https, const char *json)
{
    free(control(https, "POST", "config", json));
}

static void proxy_reset(bool https)
{
    free(control(https, "POST", "reset", "{}"));
}

/* The proxy's request log: a JSON array of its entries. */
static json_t *proxy_log(bool https)
{
    char *text = control(https, "GET", "log", NULL);
    json_t *arr = json_array();
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_error_t je;
        json_t *e = json_loads(line, 0, &je);
        ck_assert_msg(e != NULL, "bad log line: %s", line);
        json_array_append_new(arr, e);
    }
    free(text);
    return arr;
}

static const char *jstr(json_t *e, const char *k)
{
    const char *s = json_string_value(json_object_get(e, k));
    return s ? s : "";
}

static size_t log_count(json_t *log, const char *op, const char *fault)
{
    size_t n = 0, i;
    json_t *e;
    json_array_foreach(log, i, e)
    {
        if ((!op || strcmp(jstr(e, "op"), op) == 0) &&
            (!fault ||
             (fault[0] == '*' ? json_is_string(json_object_get(e, "fault")) : strcmp(jstr(e, "fault"), fault) == 0)))
            n++;
    }
    return n;
}

/* --- storage helpers ---------------------------------------------------------- */

typedef struct opts {
    bool https;
    bool no_ca;
    bool no_verify;
    const char *bucket;
    const char *prefix;
    const char *secret;
    const char *region;
    double budget;
    double timeout;
    bool conditional; /* s3_conditional_put */
} opts;

static ws_storage *open_s3(const opts *o, ws_err *err)
{
    char repo[256], endpoint[160], region[64], ca[320], ak[] = "S3RVER", sk[128];
    snprintf(repo, sizeof repo, "s3://%s/%s", o->bucket ? o->bucket : E.bucket, o->prefix ? o->prefix : "it");
    snprintf(endpoint, sizeof endpoint, "%s", o->https ? E.https : E.http);
    snprintf(region, sizeof region, "%s", o->region ? o->region : "us-east-1");
    snprintf(ca, sizeof ca, "%s", E.ca);
    snprintf(sk, sizeof sk, "%s", o->secret ? o->secret : "S3RVER");
    ws_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.repo = repo;
    cfg.s3_endpoint = endpoint;
    cfg.s3_region = region;
    cfg.s3_uri_style = WS_URI_PATH;
    cfg.s3_verify_tls = !o->no_verify;
    cfg.s3_ca_file = o->https && !o->no_ca ? ca : NULL;
    cfg.s3_retry_budget = o->budget > 0 ? o->budget : 20;
    cfg.s3_request_timeout = o->timeout > 0 ? o->timeout : 10;
    cfg.s3_conditional_put = o->conditional;
    cfg.aws_access_key_id = ak;
    cfg.aws_secret_access_key = sk;
    ws_storage *st = NULL;
    if (ws_storage_open(&cfg, &st, err) < 0)
        return NULL;
    return st;
}

static ws_storage *must_open(const opts *o)
{
    ws_err err = {0};
    ws_storage *st = open_s3(o, &err);
    ck_assert_msg(st != NULL, "open: %s", err.msg);
    return st;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (uint8_t) (x >> 16);
    }
}

/* Puts n bytes of pattern seed in 64 KiB writes; returns commit's result. */
static int put_pattern(ws_storage *st, const char *key, size_t n, unsigned seed, uint64_t hint, ws_err *err)
{
    uint8_t *b = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(b);
    fill(b, n, seed);
    ws_put *p = NULL;
    int rc = ws_storage_put_begin(st, key, hint, &p, err);
    for (size_t off = 0; rc == 0 && off < n; off += 65536)
        rc = ws_sink_write(ws_put_sink(p), b + off, n - off < 65536 ? n - off : 65536, err);
    if (rc == 0)
        rc = ws_put_commit(p, NULL, err);
    ws_put_free(p);
    free(b);
    return rc;
}

static void get_pattern(ws_storage *st, const char *key, size_t n, unsigned seed, uint64_t off, uint64_t len)
{
    uint8_t *want = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(want);
    fill(want, n, seed);
    ws_sink *m = ws_sink_mem_new();
    ws_err err = {0};
    ck_assert_msg(ws_storage_get(st, key, off, len, m, &err) == 0, "get %s: %s", key, err.msg);
    size_t got_len;
    const uint8_t *got = ws_sink_mem_data(m, &got_len);
    size_t expect = len == WS_TO_END ? n - (size_t) off : (size_t) len;
    ck_assert_uint_eq(got_len, expect);
    ck_assert(expect == 0 || memcmp(got, want + off, expect) == 0);
    ws_sink_free(m);
    free(want);
}

static int head(ws_storage *st, const char *key, ws_obj_info *info)
{
    ws_err err = {0};
    int r = ws_storage_head(st, key, info, &err);
    ck_assert_msg(r >= 0, "head %s: %s", key, err.msg);
    return r;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* --- conformance --------------------------------------------------------------- */

static ws_storage *conf_open(void *arg)
{
    /* Over HTTPS with conditional writes (the proxy answers If-None-Match as
     * S3 does), over HTTP without: both kinds of commit are tested. */
    opts o = {.https = arg != NULL, .prefix = arg ? "conf-https" : "conf-http", .conditional = arg != NULL};
    ws_err err = {0};
    ws_storage *st = open_s3(&o, &err);
    if (!st)
        fprintf(stderr, "open: %s\n", err.msg);
    return st;
}

/* Every request the conformance cases sent was signed right (botocore agrees)
 * with the payload hashed, never UNSIGNED-PAYLOAD or STREAMING. */
static void check_all_signed(bool https)
{
    json_t *log = proxy_log(https);
    size_t i;
    json_t *e;
    ck_assert_uint_gt(json_array_size(log), 100);
    json_array_foreach(log, i, e)
    {
        ck_assert_msg(strcmp(jstr(e, "sig"), "ok") == 0, "request %s %s?%s: signature %s", jstr(e, "method"),
                      jstr(e, "path"), jstr(e, "query"), jstr(e, "sig"));
        const char *h = jstr(json_object_get(e, "headers"), "x-amz-content-sha256");
        ck_assert_msg(strlen(h) == 64 && strspn(h, "0123456789abcdef") == 64, "payload hash '%s'", h);
    }
    /* Listing pages were followed and DeleteObjects carried Content-MD5. */
    ck_assert_uint_gt(log_count(log, "ListObjectsV2", NULL), 2);
    json_array_foreach(log, i, e)
    {
        if (strcmp(jstr(e, "op"), "DeleteObjects") == 0)
            ck_assert(strlen(jstr(json_object_get(e, "headers"), "content-md5")) == 24);
    }
    ck_assert_uint_gt(log_count(log, "CompleteMultipartUpload", NULL), 0);
    json_decref(log);
}

START_TEST(all_signed_http)
{
    check_all_signed(false);
}
END_TEST

START_TEST(all_signed_https)
{
    check_all_signed(true);
}
END_TEST

/* --- failures the driver must report clearly ---------------------------------- */

START_TEST(wrong_secret)
{
    opts o = {.secret = "not-the-secret-4711", .prefix = "badsecret"};
    ws_storage *st = must_open(&o);
    ws_err err = {0};
    ck_assert_int_eq(put_pattern(st, "wal/x.ws", 1000, 1, 0, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_PERM);
    ck_assert_msg(strstr(err.msg, "s3://walship-test/badsecret/wal/x.ws: PUT failed: 403 SignatureDoesNotMatch"), "%s",
                  err.msg);
    ck_assert_msg(strstr(err.msg, "signature does not match"), "%s", err.msg);
    ck_assert_ptr_null(strstr(err.msg, "not-the-secret-4711"));
    ws_obj_info info;
    ck_assert_int_eq(ws_storage_head(st, "wal/x.ws", &info, &err), -1); /* HEAD 403: never "absent" */
    ck_assert_int_eq(err.code, WS_ERR_PERM);
    ck_assert_msg(strstr(err.msg, "access denied"), "%s", err.msg);
    ws_storage_close(st);

    opts good = {.prefix = "badsecret"};
    st = must_open(&good);
    ck_assert_int_eq(head(st, "wal/x.ws", &info), 0);
    ws_storage_close(st);
}
END_TEST

START_TEST(wrong_region)
{
    opts o = {.region = "eu-west-3", .prefix = "badregion"};
    ws_storage *st = must_open(&o);
    ws_err err = {0};
    ck_assert_int_eq(put_pattern(st, "k", 10, 1, 0, &err), -1);
    ck_assert_msg(err.code == WS_ERR_PERM || err.code == WS_ERR_STORAGE, "%s", err.msg);
    ck_assert_msg(strstr(err.msg, "PUT failed: 4"), "%s", err.msg);
    ws_storage_close(st);
    opts good = {.prefix = "badregion"};
    st = must_open(&good);
    ws_obj_info info;
    ck_assert_int_eq(head(st, "k", &info), 0);
    ws_storage_close(st);
}
END_TEST

static int count_cb(const ws_list_entry *e, void *arg, ws_err *err)
{
    (void) e;
    (void) err;
    (*(size_t *) arg)++;
    return 0;
}

START_TEST(missing_bucket)
{
    opts o = {.bucket = "no-such-bucket-4711"};
    ws_storage *st = must_open(&o);
    ws_err err = {0};
    ck_assert_int_eq(put_pattern(st, "k", 10, 1, 0, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_STORAGE);
    ck_assert_msg(strstr(err.msg, "NoSuchBucket") && strstr(err.msg, "bucket 'no-such-bucket-4711' does not exist"),
                  "%s", err.msg);
    size_t n = 0;
    ck_assert_int_eq(ws_storage_list(st, "", NULL, count_cb, &n, &err), -1);
    ck_assert_msg(strstr(err.msg, "does not exist"), "%s", err.msg);
    ws_storage_close(st);
}
END_TEST

START_TEST(missing_credentials)
{
    ws_config cfg;
    char repo[] = "s3://walship-test/p", off[] = "true";
    memset(&cfg, 0, sizeof cfg);
    cfg.repo = repo;
    cfg.aws_env[WS_AWS_EC2_METADATA_DISABLED] = off; /* no instance metadata lookup off loopback */
    ws_storage *st = NULL;
    ws_err err = {0};
    ck_assert_int_eq(ws_storage_open(&cfg, &st, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "AWS_ACCESS_KEY_ID") && strstr(err.msg, "AWS_SECRET_ACCESS_KEY"), "%s", err.msg);
}
END_TEST

START_TEST(tls_verification)
{
    /* The proxy's certificate is self-signed: refused unless s3_ca_file names it. */
    opts o = {.https = true, .no_ca = true, .prefix = "tls"};
    ws_storage *st = must_open(&o);
    ws_err err = {0};
    double t0 = now_s();
    ck_assert_int_eq(put_pattern(st, "k", 10, 1, 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "TLS verification failed") && strstr(err.msg, "s3_ca_file"), "%s", err.msg);
    ck_assert_msg(now_s() - t0 < 5, "a verification failure is not retried");
    ws_storage_close(st);

    opts off = {.https = true, .no_ca = true, .no_verify = true, .prefix = "tls"};
    st = must_open(&off);
    ck_assert_msg(put_pattern(st, "k", 10, 1, 0, &err) == 0, "%s", err.msg);
    ws_storage_close(st);
    opts ca = {.https = true, .prefix = "tls"};
    st = must_open(&ca);
    get_pattern(st, "k", 10, 1, 0, WS_TO_END);
    ws_storage_close(st);
}
END_TEST

/* --- faults --------------------------------------------------------------------- */

static void workload(ws_storage *st, const char *tag)
{
    ws_err err = {0};
    char key[128];
    for (unsigned i = 0; i < 15; i++) {
        snprintf(key, sizeof key, "%s/small-%02u", tag, i);
        ck_assert_msg(put_pattern(st, key, 3000 + i, i, 0, &err) == 0, "put %s: %s", key, err.msg);
    }
    snprintf(key, sizeof key, "%s/big", tag);
    ck_assert_msg(put_pattern(st, key, 12 * MiB + 7, 99, 0, &err) == 0, "put %s: %s", key, err.msg);
    for (unsigned i = 0; i < 15; i++) {
        snprintf(key, sizeof key, "%s/small-%02u", tag, i);
        get_pattern(st, key, 3000 + i, i, 0, WS_TO_END);
        get_pattern(st, key, 3000 + i, i, 100, 1000);
        ws_obj_info info;
        ck_assert_int_eq(head(st, key, &info), 1);
        ck_assert_uint_eq(info.size, 3000 + i);
    }
    snprintf(key, sizeof key, "%s/big", tag);
    get_pattern(st, key, 12 * MiB + 7, 99, 0, WS_TO_END);
    get_pattern(st, key, 12 * MiB + 7, 99, 5 * MiB - 3, 3 * MiB);
    size_t n = 0;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s/", tag);
    ck_assert_msg(ws_storage_list(st, prefix, NULL, count_cb, &n, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(n, 16);
    const char *keys[16];
    char names[16][64];
    for (unsigned i = 0; i < 16; i++) {
        if (i < 15)
            snprintf(names[i], sizeof names[i], "%s/small-%02u", tag, i);
        else
            snprintf(names[i], sizeof names[i], "%s/big", tag);
        keys[i] = names[i];
    }
    ck_assert_msg(ws_storage_remove(st, keys, 16, &err) == 0, "%s", err.msg);
    n = 0;
    ck_assert_msg(ws_storage_list(st, prefix, NULL, count_cb, &n, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(n, 0);
}

static void faults_20(bool https)
{
    opts o = {.https = https, .prefix = "faults20", .budget = 60, .timeout = 3};
    ws_storage *st = must_open(&o);
    ws_err err = {0};
    ck_assert_int_eq(ws_storage_s3_set_part_size(st, 5 * MiB, &err), 0);
    proxy_reset(https);
    proxy_config(https, "{\"fault_rate\": 0.2, \"faults\": [\"500\", \"503\", \"timeout400\", \"reset\", \"stall\"],"
                        " \"stall_seconds\": 30, \"seed\": 7}");
    workload(st, https ? "s" : "h");
    json_t *log = proxy_log(https);
    proxy_reset(https);
    /* The faults really happened, of every kind, on multipart requests too. */
    ck_assert_uint_gt(log_count(log, NULL, "*"), 10);
    ck_assert_uint_gt(log_count(log, NULL, "reset"), 0);
    ck_assert_uint_gt(log_count(log, NULL, "503"), 0);
    ck_assert_uint_gt(log_count(log, "GetObject", "reset"), 0);
    json_decref(log);
    ws_storage_close(st);
}

START_TEST(faults_20_http)
{
    faults_20(false);
}
END_TEST

START_TEST(faults_20_https)
{
    faults_20(true);
}
END_TEST

START_TEST(faults_100)
{
    const double budget = 2;
    opts o = {.prefix = "faults100", .budget = budget, .timeout = 2};
    ws_storage *st = must_open(&o);
    ws_err err = {0};
    ck_assert_int_eq(ws_storage_s3_set_part_size(st, 5 * MiB, &err), 0);
    ck_assert_msg(put_pattern(st, "old", 100, 5, 0, &err) == 0, "%s", err.msg);

    proxy_reset(false);
    proxy_config(false, "{\"fault_rate\": 1.0, \"faults\": [\"500\", \"503\", \"timeout400\", \"reset\"]}");
    double t0 = now_s();
    ck_assert_int_eq(put_pattern(st, "small", 1000, 1, 0, &err), -1);
    double took = now_s() - t0;
    ck_assert_int_eq(err.code, WS_ERR_TRANSIENT);
    ck_assert_msg(strstr(err.msg, "s3_retry_budget") && strstr(err.msg, "PUT failed"), "%s", err.msg);
    ck_assert_msg(took < budget + 6, "gave up after %.1f s", took);
    ws_sink *m = ws_sink_mem_new();
    ck_assert_int_eq(ws_storage_get(st, "old", 0, WS_TO_END, m, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_TRANSIENT);
    ws_sink_free(m);
    size_t n = 0;
    ck_assert_int_eq(ws_storage_list(st, "", NULL, count_cb, &n, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_TRANSIENT);

    /* A multipart put whose parts all fail: aborted, nothing stored. */
    proxy_reset(false);
    proxy_config(false, "{\"fault_rate\": 1.0, \"faults\": [\"500\", \"503\", \"reset\"],"
                        " \"only\": [\"UploadPart\", \"CompleteMultipartUpload\"]}");
    ck_assert_int_eq(put_pattern(st, "big", 12 * MiB, 2, 0, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_TRANSIENT);
    ck_assert_msg(strstr(err.msg, "UploadPart failed"), "%s", err.msg);
    json_t *log = proxy_log(false);
    ck_assert_uint_eq(log_count(log, "CreateMultipartUpload", NULL), 1);
    ck_assert_uint_gt(log_count(log, "UploadPart", NULL), 1);
    ck_assert_uint_eq(log_count(log, "CompleteMultipartUpload", NULL), 0);
    ck_assert_uint_ge(log_count(log, "AbortMultipartUpload", NULL), 1);
    json_decref(log);

    /* Failing at completion: aborted too. */
    proxy_reset(false);
    proxy_config(false, "{\"fault_rate\": 1.0, \"faults\": [\"500\"], \"only\": [\"CompleteMultipartUpload\"]}");
    ck_assert_int_eq(put_pattern(st, "big2", 11 * MiB, 3, 0, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_TRANSIENT);
    log = proxy_log(false);
    ck_assert_uint_ge(log_count(log, "CompleteMultipartUpload", NULL), 1);
    ck_assert_uint_ge(log_count(log, "AbortMultipartUpload", NULL), 1);
    json_decref(log);

    proxy_reset(false);
    ws_obj_info info;
    ck_assert_int_eq(head(st, "small", &info), 0);
    ck_assert_int_eq(head(st, "big", &info), 0);
    ck_assert_int_eq(head(st, "big2", &info), 0);
    get_pattern(st, "old", 100, 5, 0, WS_TO_END);
    ws_storage_close(st);
}
END_TEST

START_TEST(stalled_get_resumes)
{
    /* A GET cut off mid-body resumes with a Range (and If-Match) from the
     * bytes already delivered; the sink sees every byte exactly once. */
    opts o = {.prefix = "resume", .budget = 30, .timeout = 2};
    ws_storage *st = must_open(&o);
    ws_err err = {0};
    ck_assert_msg(put_pattern(st, "obj", 3 * MiB + 11, 8, 0, &err) == 0, "%s", err.msg);
    proxy_reset(false);
    proxy_config(false, "{\"next\": [\"reset\", \"reset\"], \"only\": [\"GetObject\"]}");
    get_pattern(st, "obj", 3 * MiB + 11, 8, 0, WS_TO_END);
    proxy_config(false, "{\"next\": [\"reset\"], \"only\": [\"GetObject\"]}");
    get_pattern(st, "obj", 3 * MiB + 11, 8, 1000, 2 * MiB);
    json_t *log = proxy_log(false);
    size_t i, ranged = 0;
    json_t *e;
    json_array_foreach(log, i, e)
    {
        json_t *h = json_object_get(e, "headers");
        if (strcmp(jstr(e, "op"), "GetObject") == 0 && jstr(h, "range")[0]) {
            ranged++;
            ck_assert_msg(jstr(h, "if-match")[0] || strcmp(jstr(h, "range"), "bytes=1000-2098151") == 0,
                          "resumed GET without If-Match");
        }
    }
    ck_assert_uint_ge(ranged, 3);
    json_decref(log);
    proxy_reset(false);
    ws_storage_close(st);
}
END_TEST

static int token_to_fd(void *arg, const char *token, ws_err *err)
{
    int fd = *(int *) arg;
    (void) err;
    return write(fd, token, strlen(token)) == (ssize_t) strlen(token) ? 0 : -1;
}

START_TEST(abandon_after_crash)
{
    /* A writer killed mid-upload: the upload id it recorded lets another
     * process send AbortMultipartUpload for it (s3rver answers 405, which
     * ws_storage_abandon accepts: the proxy's log proves the abort went out). */
    opts o = {.prefix = "abandon", .budget = 10, .timeout = 5};
    ws_storage *st = must_open(&o);
    ws_err err = {0};
    char token[1100] = "";
    int fds[2], status;
    ck_assert_int_eq(ws_storage_s3_set_part_size(st, 5 * MiB, &err), 0);
    proxy_reset(false);
    ck_assert_int_eq(pipe(fds), 0);
    pid_t crasher = fork();
    ck_assert_int_ge(crasher, 0);
    if (crasher == 0) {
        uint8_t *b = malloc(MiB);
        ws_put *p;
        close(fds[0]);
        if (!b || ws_storage_put_begin(st, "backup/obj.ws", 0, &p, &err) < 0 ||
            ws_put_track(p, token_to_fd, &fds[1], &err) < 0)
            _exit(1);
        fill(b, MiB, 4);
        for (int i = 0; i < 12; i++)
            if (ws_sink_write(ws_put_sink(p), b, MiB, &err) < 0)
                _exit(1);
        _exit(0); /* no commit, no free: as if killed */
    }
    close(fds[1]);
    ssize_t n = read(fds[0], token, sizeof token - 1);
    close(fds[0]);
    ck_assert_int_eq(waitpid(crasher, &status, 0), crasher);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_gt(n, 0);
    token[n] = '\0';
    json_t *log = proxy_log(false);
    ck_assert_uint_eq(log_count(log, "CreateMultipartUpload", NULL), 1);
    ck_assert_uint_ge(log_count(log, "UploadPart", NULL), 2);
    ck_assert_uint_eq(log_count(log, "AbortMultipartUpload", NULL), 0);
    json_decref(log);

    ck_assert_msg(ws_storage_abandon(st, "backup/obj.ws", token, &err) == 0, "%s", err.msg);
    log = proxy_log(false);
    size_t i, aborts = 0;
    json_t *e;
    char want[1200];
    snprintf(want, sizeof want, "uploadId=%s", token);
    json_array_foreach(log, i, e)
    {
        if (strcmp(jstr(e, "op"), "AbortMultipartUpload") == 0 &&
            strcmp(jstr(e, "key"), "abandon/backup/obj.ws") == 0 && strstr(jstr(e, "query"), want))
            aborts++;
    }
    ck_assert_uint_eq(aborts, 1);
    json_decref(log);
    ws_obj_info info;
    ck_assert_int_eq(head(st, "backup/obj.ws", &info), 0);
    proxy_reset(false);
    ws_storage_close(st);
}
END_TEST

/* --- listing ------------------------------------------------------------------- */

typedef struct seen {
    size_t n;
    char last[256];
    bool sorted;
    bool found;
    const char *want;
} seen;

static int seen_cb(const ws_list_entry *e, void *arg, ws_err *err)
{
    (void) err;
    seen *s = arg;
    if (s->n && strcmp(s->last, e->key) >= 0)
        s->sorted = false;
    snprintf(s->last, sizeof s->last, "%s", e->key);
    if (s->want && strcmp(e->key, s->want) == 0)
        s->found = true;
    s->n++;
    return 0;
}

START_TEST(keys_needing_xml_escapes)
{
    /* walship's own keys never need escaping, but a bucket can hold anything:
     * put one with the raw request layer, list it and delete it (the
     * DeleteObjects body escapes it) through the driver. */
    ws_s3_conn_opts co = {.endpoint = E.http,
                          .region = "us-east-1",
                          .bucket = E.bucket,
                          .verify_tls = true,
                          .retry_budget = 10,
                          .request_timeout = 10};
    ws_config cfg;
    char ak[] = "S3RVER", sk[] = "S3RVER";
    memset(&cfg, 0, sizeof cfg);
    cfg.aws_access_key_id = ak;
    cfg.aws_secret_access_key = sk;
    ws_err err = {0};
    ck_assert_msg(ws_s3_creds_open(&cfg, &co.creds, &err) == 0, "%s", err.msg);
    ws_s3_conn *c = NULL;
    ck_assert_msg(ws_s3_conn_new(&co, &c, &err) == 0, "%s", err.msg);
    const char *odd = "escapes/a&b<c>d'e\"f g+h";
    ws_s3_req req = {.op = "PUT", .method = "PUT", .key = odd, .body = "x", .body_len = 1};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    ck_assert_msg(ws_s3_http_request(c, &req, &resp, &err) == 0, "%s", err.msg);
    ws_s3_resp_free(&resp);
    ws_s3_conn_free(c);
    ws_s3_creds_close(co.creds);

    ws_storage *st = must_open(&(opts){.prefix = "escapes"});
    seen s = {.sorted = true, .want = "a&b<c>d'e\"f g+h"};
    ck_assert_msg(ws_storage_list(st, "", NULL, seen_cb, &s, &err) == 0, "%s", err.msg);
    ck_assert_msg(s.found, "listed %zu keys, last '%s'", s.n, s.last);
    const char *keys[] = {"a&b<c>d'e\"f g+h"};
    ck_assert_msg(st->ops->remove(st, keys, 1, &err) == 0, "%s", err.msg);
    ws_obj_info info;
    ck_assert_int_eq(st->ops->head(st, keys[0], &info, &err), 0);
    ws_storage_close(st);
}
END_TEST

START_TEST(malformed_listing)
{
    ws_storage *st = must_open(&(opts){.prefix = "malformed"});
    ws_err err = {0};
    ck_assert_msg(put_pattern(st, "k1", 10, 1, 0, &err) == 0, "%s", err.msg);
    proxy_reset(false);
    proxy_config(false, "{\"malformed_xml\": true}");
    size_t n = 0;
    ck_assert_int_eq(ws_storage_list(st, "", NULL, count_cb, &n, &err), -1);
    proxy_reset(false);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.msg, "malformed ListObjectsV2 response"), "%s", err.msg);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    ck_assert_uint_eq(n, 0);
    ws_storage_close(st);
}
END_TEST

START_TEST(virtual_host_style_url)
{
    /* 127.0.0.1 cannot carry a bucket label, so only the open/addressing
     * path is checked: a host-style storage opens and refuses no input. */
    ws_config cfg;
    char repo[] = "s3://walship-test/p", ep[] = "https://s3.example.invalid", reg[] = "us-east-1", ak[] = "A",
         sk[] = "B";
    memset(&cfg, 0, sizeof cfg);
    cfg.repo = repo;
    cfg.s3_endpoint = ep;
    cfg.s3_region = reg;
    cfg.s3_uri_style = WS_URI_HOST;
    cfg.s3_verify_tls = true;
    cfg.aws_access_key_id = ak;
    cfg.aws_secret_access_key = sk;
    ws_storage *st = NULL;
    ws_err err = {0};
    ck_assert_msg(ws_storage_open(&cfg, &st, &err) == 0, "%s", err.msg);
    ws_storage_close(st);
    char bad[] = "ftp://x";
    cfg.s3_endpoint = bad;
    ck_assert_int_eq(ws_storage_open(&cfg, &st, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_msg(strstr(err.msg, "s3_endpoint"), "%s", err.msg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("storage_s3");
    static const ws_conformance_opts conf = {.meta_roundtrip = true, .timeout = 300};
    ws_conformance_add(s, "conformance_http", conf_open, NULL, NULL, &conf);
    ws_conformance_add(s, "conformance_https", conf_open, NULL, (void *) 1, &conf);
    TCase *t = tcase_create("signing");
    tcase_add_test(t, all_signed_http);
    tcase_add_test(t, all_signed_https);
    suite_add_tcase(s, t);
    t = tcase_create("errors");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, wrong_secret);
    tcase_add_test(t, wrong_region);
    tcase_add_test(t, missing_bucket);
    tcase_add_test(t, missing_credentials);
    tcase_add_test(t, tls_verification);
    tcase_add_test(t, virtual_host_style_url);
    tcase_add_test(t, keys_needing_xml_escapes);
    tcase_add_test(t, malformed_listing);
    suite_add_tcase(s, t);
    t = tcase_create("faults");
    tcase_set_timeout(t, 400);
    tcase_add_test(t, faults_20_http);
    tcase_add_test(t, faults_20_https);
    tcase_add_test(t, faults_100);
    tcase_add_test(t, stalled_get_resumes);
    tcase_add_test(t, abandon_after_crash);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (start_env() < 0) {
        fprintf(stderr, "cannot start the S3 test environment (s3rver + proxy)\n");
        if (E.dir[0])
            run_s3env("stop");
        return EXIT_FAILURE;
    }
    SRunner *r = srunner_create(suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    run_s3env("stop");
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
