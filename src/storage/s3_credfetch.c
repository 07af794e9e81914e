/*
 * s3_credfetch.c - temporary credentials over HTTP (s3_credfetch.h).
 *
 * These endpoints are small and rare (a fetch per process, then one per
 * refresh), so each call gets a fresh libcurl handle: the S3 connection's
 * handle may be in the middle of a request when a refresh is due.
 */
#include "walship/s3_credfetch.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "walship/clock.h"
#include "walship/localfile.h"
#include "walship/s3_sign.h"
#include "walship/s3_xml.h"

#define ANSWER_MAX      (64u * 1024) /* every answer here is a few KiB */
#define TOKEN_FILE_MAX  (64u * 1024) /* a Kubernetes token is about 1 KiB */
#define ATTEMPTS        3
#define RETRY_PAUSE     0.2  /* seconds before the 2nd attempt, doubled after */
#define ECS_TIMEOUT     2.0  /* seconds per request */
#define STS_TIMEOUT     10.0 /* seconds per request */
#define IMDS_TOKEN_TTL  "21600"
#define IMDS_ROLE_MAX   128
#define STS_API_VERSION "2011-06-15"

typedef struct http_call {
    const char *method; /* with url, names the request in messages */
    const char *url;
    const char *headers[4]; /* "Name: value", NULL-terminated */
    const char *body;
    size_t body_len;
    double timeout;
    bool direct; /* never through an HTTP proxy */
} http_call;

typedef struct http_answer {
    long status;
    ws_buf body;
    bool too_big;
} http_answer;

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    http_answer *a = arg;
    size_t len = size * nmemb;
    if (a->body.len + len > ANSWER_MAX) {
        a->too_big = true;
        return 0;
    }
    ws_buf_add(&a->body, data, len);
    return a->body.oom ? 0 : len;
}

/* One request.  0 with a->status set when an HTTP answer came; -1 when
 * none did (*no_answer: nothing listening or no reply in time). */
static int http_once(const http_call *r, http_answer *a, bool *no_answer, ws_err *err)
{
    *no_answer = false;
    a->status = 0;
    a->too_big = false;
    ws_buf_clear(&a->body);
    CURL *k = curl_easy_init();
    if (!k)
        return ws_err_set(err, WS_ERR_NOMEM, "%s %s: cannot create a libcurl handle", r->method, r->url);
    struct curl_slist *list = NULL;
    int rc = -1;
    for (size_t i = 0; i < sizeof r->headers / sizeof r->headers[0] && r->headers[i]; i++) {
        struct curl_slist *l = curl_slist_append(list, r->headers[i]);
        if (!l) {
            ws_err_set(err, WS_ERR_NOMEM, "%s %s: out of memory", r->method, r->url);
            goto out;
        }
        list = l;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(k, CURLOPT_URL, r->url);
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, (long) (r->timeout * 1000));
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, (long) (r->timeout * 1000));
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, a);
    if (r->direct)
        curl_easy_setopt(k, CURLOPT_NOPROXY, "*");
    if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, r->method);
        curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) r->body_len);
        curl_easy_setopt(k, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    }
    CURLcode cc = curl_easy_perform(k);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(k, CURLINFO_RESPONSE_CODE, &a->status);
        rc = 0;
    } else if (a->too_big) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s %s: answer larger than %u bytes", r->method, r->url, ANSWER_MAX);
    } else if (a->body.oom) {
        ws_err_set(err, WS_ERR_NOMEM, "%s %s: out of memory", r->method, r->url);
    } else {
        *no_answer = cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT ||
                     cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
                     cc == CURLE_SEND_ERROR;
        ws_err_set(err, WS_ERR_TRANSIENT, "%s %s: %s", r->method, r->url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
out:
    curl_slist_free_all(list);
    curl_easy_cleanup(k);
    return rc;
}

static bool retryable_status(long s)
{
    return s >= 500 || s == 429;
}

/* Up to `attempts` tries while there is no answer or a 5xx/429 one.  0 with
 * the last answer (any status), or -1 (err; *no_answer as http_once). */
static int http_call_retry(const http_call *r, unsigned attempts, http_answer *a, bool *no_answer, ws_err *err)
{
    double pause = RETRY_PAUSE;
    for (unsigned n = 1;; n++) {
        int rc = http_once(r, a, no_answer, err);
        if (rc < 0 && err->code != WS_ERR_TRANSIENT)
            return -1;
        if (rc == 0 && !retryable_status(a->status))
            return 0;
        if (n >= attempts)
            return rc;
        ws_clock_sleep(pause);
        pause *= 2;
    }
}

/* "GET url answered HTTP 403: <the answer on one line>" into err. */
static int answer_error(const http_call *r, const http_answer *a, ws_errcode code, const char *hint, ws_err *err)
{
    char text[160] = "";
    size_t j = 0;
    bool space = false;
    for (size_t i = 0; a->body.data && i < a->body.len && j + 1 < sizeof text; i++) {
        unsigned char c = (unsigned char) a->body.data[i];
        if (c <= ' ') {
            space = j > 0;
            continue;
        }
        if (space && j + 2 < sizeof text)
            text[j++] = ' ';
        space = false;
        text[j++] = c == 0x7f || c >= 0x80 ? '?' : (char) c;
    }
    text[j] = '\0';
    return ws_err_set(err, code, "%s %s answered HTTP %ld%s%s%s%s", r->method, r->url, a->status, text[0] ? ": " : "",
                      text, hint ? "; " : "", hint ? hint : "");
}

/* A JSON string member, copied; NULL when absent, not a string or empty. */
static char *json_str(json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s && *s ? strdup(s) : NULL;
}

int ws_s3_credfetch_parse_json(const char *text, size_t len, const char *what, ws_s3_cred *out, ws_err *err)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!o)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: malformed JSON answer: line %d: %s", what, je.line,
                          ws_err_show(je.text, strlen(je.text), (char[WS_SHOW_BUF]){0}));
    int rc = -1;
    const char *code = json_string_value(json_object_get(o, "Code"));
    if (!json_is_object(o)) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: the answer is not a JSON object", what);
        goto out;
    }
    if (code && strcmp(code, "Success") != 0) {
        const char *msg = json_string_value(json_object_get(o, "Message"));
        ws_err_set(err, WS_ERR_CONFIG, "%s: Code %.64s%s%.200s", what, code, msg ? ": " : "", msg ? msg : "");
        goto out;
    }
    out->access_key = json_str(o, "AccessKeyId");
    out->secret_key = json_str(o, "SecretAccessKey");
    out->session_token = json_str(o, "Token");
    const char *missing = !out->access_key ? "AccessKeyId" : !out->secret_key ? "SecretAccessKey" : NULL;
    if (missing) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: no %s in the answer", what, missing);
        goto out;
    }
    json_t *exp = json_object_get(o, "Expiration");
    if (exp && (!json_is_string(exp) || ws_s3_creds_parse_time(json_string_value(exp), &out->expires) < 0)) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: Expiration is not an ISO 8601 UTC time", what);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        ws_s3_cred_free(out);
    /* The parsed tree holds the secret too. */
    const char *sk = json_string_value(json_object_get(o, "SecretAccessKey"));
    if (sk)
        OPENSSL_cleanse((void *) (uintptr_t) sk, strlen(sk));
    json_decref(o);
    return rc;
}

/* A token file's content without surrounding white space (malloc'd). */
static int read_token_file(const char *path, const char *what, char **out, ws_err *err)
{
    char *text;
    size_t len;
    *out = NULL;
    int r = ws_localfile_read(path, TOKEN_FILE_MAX, 0, &text, &len, err);
    if (r == 0)
        ws_err_set(err, WS_ERR_CONFIG, "\"%s\" does not exist", path);
    if (r <= 0) {
        err->code = WS_ERR_CONFIG;
        return ws_err_prefix(err, "%s", what);
    }
    size_t b = 0, e = len;
    while (b < e && (text[b] == ' ' || text[b] == '\t' || text[b] == '\r' || text[b] == '\n'))
        b++;
    while (e > b && (text[e - 1] == ' ' || text[e - 1] == '\t' || text[e - 1] == '\r' || text[e - 1] == '\n'))
        e--;
    if (e == b) {
        free(text);
        return ws_err_set(err, WS_ERR_CONFIG, "%s %s is empty", what, path);
    }
    memmove(text, text + b, e - b);
    text[e - b] = '\0';
    *out = text;
    return 0;
}

/* --- STS AssumeRoleWithWebIdentity --------------------------------------- */

static void form_param(ws_buf *b, const char *name, const char *value)
{
    if (b->len)
        ws_buf_adds(b, "&");
    ws_buf_adds(b, name);
    ws_buf_adds(b, "=");
    ws_s3_sign_uri_encode(b, value, false);
}

/* Takes the strings of an STS answer into *out, with the expiry parsed. */
static int sts_to_cred(ws_s3_sts_creds *sc, ws_s3_cred *out, ws_err *err)
{
    if (ws_s3_creds_parse_time(sc->expiration, &out->expires) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "STS answer: Expiration '%.40s' is not an ISO 8601 UTC time",
                          sc->expiration);
    out->access_key = sc->access_key;
    out->secret_key = sc->secret_key;
    out->session_token = sc->session_token;
    sc->access_key = sc->secret_key = sc->session_token = NULL;
    return 0;
}

static int fetch_web_identity(const ws_s3_fetch_params *p, ws_s3_cred *out, ws_err *err)
{
    char *token = NULL;
    if (read_token_file(p->token_file, "web identity token file (AWS_WEB_IDENTITY_TOKEN_FILE)", &token, err) < 0)
        return -1;
    ws_buf body;
    ws_buf_init(&body);
    form_param(&body, "Action", "AssumeRoleWithWebIdentity");
    form_param(&body, "RoleArn", p->role_arn);
    form_param(&body, "RoleSessionName", p->session_name);
    form_param(&body, "Version", STS_API_VERSION);
    form_param(&body, "WebIdentityToken", token);
    ws_s3_sign_secret_free(token);
    http_call r = {
        .method = "POST",
        .url = p->url,
        .headers = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", "Accept: text/xml", "Expect:"},
        .body = body.data,
        .body_len = body.len,
        .timeout = STS_TIMEOUT};
    http_answer a = {0};
    ws_buf_init(&a.body);
    bool no_answer;
    int rc = -1;
    if (body.oom) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (unsigned n = 1; n <= ATTEMPTS; n++) {
        if (http_call_retry(&r, ATTEMPTS, &a, &no_answer, err) < 0)
            goto out;
        ws_s3_error_doc edoc;
        ws_s3_sts_creds sc;
        int x = ws_s3_xml_parse_sts(a.body.data, a.body.len, &sc, &edoc, err);
        if (a.status == 200 && x == 0) {
            rc = sts_to_cred(&sc, out, err);
            ws_s3_sts_creds_free(&sc);
            goto out;
        }
        ws_s3_sts_creds_free(&sc);
        if (a.status == 200 || x < 0) {
            if (a.status != 200)
                answer_error(&r, &a, retryable_status(a.status) ? WS_ERR_TRANSIENT : WS_ERR_STORAGE, NULL, err);
            else
                ws_err_prefix(err, "POST %s", p->url);
            goto out;
        }
        /* The identity provider was slow or down: worth another try. */
        if (strcmp(edoc.code, "IDPCommunicationError") == 0 && n < ATTEMPTS) {
            ws_clock_sleep(RETRY_PAUSE * n);
            continue;
        }
        bool denied = strcmp(edoc.code, "AccessDenied") == 0 || strcmp(edoc.code, "InvalidIdentityToken") == 0 ||
                      strcmp(edoc.code, "ExpiredTokenException") == 0 || a.status == 403;
        ws_err_set(err,
                   denied                       ? WS_ERR_PERM
                   : retryable_status(a.status) ? WS_ERR_TRANSIENT
                                                : WS_ERR_STORAGE,
                   "STS refused: HTTP %ld %s: %s", a.status, edoc.code[0] ? edoc.code : "(no code)", edoc.message);
        goto out;
    }
out:
    OPENSSL_cleanse(body.data, body.len);
    ws_buf_free(&body);
    ws_buf_free(&a.body);
    return rc;
}

/* --- the ECS container endpoint ------------------------------------------ */

static int fetch_ecs(const ws_s3_fetch_params *p, ws_s3_cred *out, ws_err *err)
{
    char *token = NULL;
    if (p->auth_token_file) {
        if (read_token_file(p->auth_token_file, "container authorization token file", &token, err) < 0)
            return -1;
    } else if (p->auth_token && !(token = strdup(p->auth_token))) {
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    char *auth = NULL;
    if (token && asprintf(&auth, "Authorization: %s", token) < 0) {
        auth = NULL;
        ws_s3_sign_secret_free(token);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    char what[1100];
    snprintf(what, sizeof what, "GET %s", p->url);
    http_call r = {.method = "GET",
                   .url = p->url,
                   .headers = {"Accept: application/json", auth},
                   .timeout = ECS_TIMEOUT,
                   .direct = true};
    http_answer a = {0};
    ws_buf_init(&a.body);
    bool no_answer;
    int rc = http_call_retry(&r, ATTEMPTS, &a, &no_answer, err);
    if (rc == 0 && a.status != 200)
        rc = answer_error(&r, &a, a.status == 401 || a.status == 403 ? WS_ERR_PERM : WS_ERR_STORAGE, NULL, err);
    if (rc == 0)
        rc = ws_s3_credfetch_parse_json(a.body.data, a.body.len, what, out, err);
    ws_s3_sign_secret_free(auth);
    ws_s3_sign_secret_free(token);
    if (a.body.data)
        OPENSSL_cleanse(a.body.data, a.body.len);
    ws_buf_free(&a.body);
    return rc;
}

/* --- the EC2 instance metadata service (IMDSv2) --------------------------- */

static bool valid_role(const char *s, size_t n)
{
    if (n == 0 || n > IMDS_ROLE_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("+=,.@_-", c)))
            return false;
    }
    return true;
}

static int fetch_imds(const ws_s3_fetch_params *p, ws_s3_cred *out, ws_err *err)
{
    const char *base = p->url;
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    char url[1024], what[1100], tok_hdr[256], role[IMDS_ROLE_MAX + 1];
    http_answer a = {0};
    ws_buf_init(&a.body);
    bool no_answer;
    int rc = -1;

    /* 1. A session token (PUT): what makes it IMDSv2.  No retry when
     *    nothing answers: that is the "not on EC2" case and must be quick. */
    snprintf(url, sizeof url, "%.*s/latest/api/token", (int) bl, base);
    http_call r = {.method = "PUT",
                   .url = url,
                   .headers = {"X-aws-ec2-metadata-token-ttl-seconds: " IMDS_TOKEN_TTL, "Expect:"},
                   .timeout = WS_S3_IMDS_TIMEOUT,
                   .direct = true};
    if (http_once(&r, &a, &no_answer, err) < 0) {
        if (no_answer)
            err->code = WS_ERR_NOTFOUND;
        goto out;
    }
    if (retryable_status(a.status) && http_call_retry(&r, ATTEMPTS, &a, &no_answer, err) < 0)
        goto out;
    if (a.status != 200 || a.body.len == 0 || a.body.len >= sizeof tok_hdr - 40) {
        answer_error(&r, &a, retryable_status(a.status) ? WS_ERR_TRANSIENT : WS_ERR_CONFIG,
                     "no IMDSv2 session token: walship does not use IMDSv1 (allow IMDSv2 on the instance, and a hop "
                     "limit of 2 in a container)",
                     err);
        goto out;
    }
    snprintf(tok_hdr, sizeof tok_hdr, "X-aws-ec2-metadata-token: %.*s", (int) a.body.len, a.body.data);

    /* 2. The role of the instance profile. */
    snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/", (int) bl, base);
    r.method = "GET";
    r.headers[0] = tok_hdr;
    r.headers[1] = NULL;
    r.timeout = 2 * WS_S3_IMDS_TIMEOUT;
    if (http_call_retry(&r, ATTEMPTS, &a, &no_answer, err) < 0)
        goto out;
    if (a.status != 200) {
        answer_error(&r, &a, a.status == 404 ? WS_ERR_CONFIG : WS_ERR_TRANSIENT,
                     a.status == 404 ? "no IAM role: attach an instance profile to the instance" : NULL, err);
        goto out;
    }
    size_t rl = a.body.len ? strcspn(a.body.data, "\r\n") : 0;
    if (!valid_role(a.body.data, rl)) {
        ws_err_set(err, WS_ERR_CORRUPT, "GET %s: the answer is not a role name", url);
        goto out;
    }
    memcpy(role, a.body.data, rl);
    role[rl] = '\0';

    /* 3. The role's credentials. */
    snprintf(url, sizeof url, "%.*s/latest/meta-data/iam/security-credentials/%s", (int) bl, base, role);
    if (http_call_retry(&r, ATTEMPTS, &a, &no_answer, err) < 0)
        goto out;
    if (a.status != 200) {
        answer_error(&r, &a, WS_ERR_TRANSIENT, NULL, err);
        goto out;
    }
    snprintf(what, sizeof what, "GET %s", url);
    rc = ws_s3_credfetch_parse_json(a.body.data, a.body.len, what, out, err);
out:
    OPENSSL_cleanse(tok_hdr, sizeof tok_hdr);
    if (a.body.data)
        OPENSSL_cleanse(a.body.data, a.body.len);
    ws_buf_free(&a.body);
    return rc;
}

int ws_s3_credfetch(const ws_s3_fetch_params *p, ws_s3_cred *out, ws_err *err)
{
    memset(out, 0, sizeof *out);
    switch (p->kind) {
    case WS_S3_FETCH_WEB_IDENTITY:
        return fetch_web_identity(p, out, err);
    case WS_S3_FETCH_ECS:
        return fetch_ecs(p, out, err);
    case WS_S3_FETCH_IMDS:
        return fetch_imds(p, out, err);
    }
    return ws_err_set(err, WS_ERR_INVALID, "unknown credentials source");
}
