/*
 * s3_http.c - S3 requests over one reused libcurl easy handle (s3_http.h).
 *
 * curl_easy_reset() before each attempt clears every option but keeps the
 * handle's connection cache, so consecutive requests reuse the TCP/TLS
 * connection (keep-alive) while no option can leak from one request into the
 * next.  Every attempt is signed afresh (date, Range and If-Match may change).
 */
#include "walship/s3_http.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "walship/clock.h"
#include "walship/s3_xml.h"

#define BACKOFF_BASE        0.1 /* seconds */
#define BACKOFF_CAP         5.0
#define MAX_ATTEMPTS        1000 /* a bound on the loop besides the time budget */
#define CONNECT_TIMEOUT_MAX 10.0

struct ws_s3_conn {
    CURL *curl;
    char *scheme; /* "http" or "https" */
    char *host;   /* as sent in Host: (bucket. prepended for host style) */
    char *bucket;
    bool host_style;
    char *region;
    ws_s3_creds *creds; /* borrowed */
    ws_s3_cred cur;     /* the credentials of generation cur_gen */
    uint64_t cur_gen;
    bool verify_tls;
    char *ca_file;
    double budget;
    double timeout;
    uint64_t rng;
    bool busy;
    char errbuf[CURL_ERROR_SIZE];
};

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: plenty for jitter. */
    uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

double ws_s3_http_backoff(unsigned n, double base, double cap, uint64_t *rng)
{
    double ceil_s = base;
    for (unsigned i = 1; i < n && ceil_s < cap; i++)
        ceil_s *= 2;
    if (ceil_s > cap)
        ceil_s = cap;
    double u = (double) (rng_next(rng) >> 11) / 9007199254740992.0; /* [0,1) */
    return u * ceil_s;
}

void ws_s3_conn_free(ws_s3_conn *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->scheme);
    free(c->host);
    free(c->bucket);
    free(c->region);
    ws_s3_cred_free(&c->cur);
    free(c->ca_file);
    free(c);
}

/* "http[s]://host[:port][/]" -> scheme, host[:port]. */
static int parse_endpoint(const char *ep, char **scheme, char **host, ws_err *err)
{
    const char *rest;
    if (strncasecmp(ep, "https://", 8) == 0) {
        *scheme = strdup("https");
        rest = ep + 8;
    } else if (strncasecmp(ep, "http://", 7) == 0) {
        *scheme = strdup("http");
        rest = ep + 7;
    } else {
        return ws_err_set(err, WS_ERR_CONFIG, "s3_endpoint '%s': must start with http:// or https://", ep);
    }
    size_t n = strcspn(rest, "/?#");
    if (n == 0 || (rest[n] && strcmp(rest + n, "/") != 0))
        return ws_err_set(err, WS_ERR_CONFIG, "s3_endpoint '%s': expected http[s]://host[:port] with no path", ep);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char) rest[i];
        if (ch <= ' ' || ch == '@' || ch == '\\' || ch >= 0x7f)
            return ws_err_set(err, WS_ERR_CONFIG, "s3_endpoint '%s': bad character in host", ep);
    }
    *host = strndup(rest, n);
    if (!*scheme || !*host)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    return 0;
}

int ws_s3_conn_new(const ws_s3_conn_opts *o, ws_s3_conn **out, ws_err *err)
{
    *out = NULL;
    ws_s3_conn *c = calloc(1, sizeof *c);
    if (!c)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    char *ep_host = NULL;
    char *aws = NULL;
    const char *ep = o->endpoint;
    if (!ep || !*ep) {
        if (asprintf(&aws, "https://s3.%s.amazonaws.com", o->region) < 0) {
            aws = NULL;
            ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            goto fail;
        }
        ep = aws;
    }
    if (parse_endpoint(ep, &c->scheme, &ep_host, err) < 0)
        goto fail;
    if (o->host_style) {
        if (asprintf(&c->host, "%s.%s", o->bucket, ep_host) < 0) {
            c->host = NULL;
            ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            goto fail;
        }
    } else {
        c->host = ep_host;
        ep_host = NULL;
    }
    c->bucket = strdup(o->bucket);
    c->region = strdup(o->region);
    c->creds = o->creds;
    c->ca_file = o->ca_file && *o->ca_file ? strdup(o->ca_file) : NULL;
    if (!c->bucket || !c->region || (o->ca_file && *o->ca_file && !c->ca_file)) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    c->host_style = o->host_style;
    c->verify_tls = o->verify_tls;
    c->budget = o->retry_budget > 0 ? o->retry_budget : 0;
    c->timeout = o->request_timeout > 0 ? o->request_timeout : 30;
    if (getrandom(&c->rng, sizeof c->rng, 0) != (ssize_t) sizeof c->rng)
        c->rng = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32);
    c->curl = curl_easy_init();
    if (!c->curl) {
        ws_err_set(err, WS_ERR_NOMEM, "cannot create a libcurl handle");
        goto fail;
    }
    free(ep_host);
    free(aws);
    *out = c;
    return 0;
fail:
    free(ep_host);
    free(aws);
    ws_s3_conn_free(c);
    return -1;
}

void ws_s3_resp_init(ws_s3_resp *r)
{
    memset(r, 0, sizeof *r);
    ws_buf_init(&r->body);
    r->content_length = -1;
}

void ws_s3_resp_free(ws_s3_resp *r)
{
    ws_buf_free(&r->body);
}

/* --- one attempt --------------------------------------------------------- */

typedef struct xfer {
    const ws_s3_req *req;
    ws_s3_resp *resp;
    long status; /* of the last status line seen */
    bool range_sent;
    uint64_t range_start;      /* first byte asked for */
    uint64_t skip;             /* bytes to drop (server ignored the Range) */
    uint64_t limit;            /* bytes the sink may still take */
    bool enough;               /* stopped reading on purpose: all bytes delivered */
    bool overflow;             /* collected body hit WS_S3_XML_MAX */
    bool checked;              /* the 2xx answer's extent was checked */
    bool short_range;          /* the object ends before the range asked for */
    int64_t cr_first, cr_last; /* Content-Range, -1 when absent */
    int64_t cr_total;          /* object size from Content-Range, -1 unknown */
    bool sink_failed;
    ws_err sink_err;
} xfer;

static bool is_2xx(long s)
{
    return s >= 200 && s < 300;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t len = size * nmemb;
    char line[1024];
    size_t n = len < sizeof line - 1 ? len : sizeof line - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
        line[--n] = '\0';

    if (n == 0 && x->range_sent && x->status == 206 && x->cr_total >= 0 && x->cr_last >= x->cr_total) {
        /* The end of the headers of an impossible answer: s3rver answers a
         * range of an empty object with "bytes 0-0/0" and a body it never
         * sends.  The object is cr_total bytes: stop before waiting. */
        x->short_range = true;
        return 0;
    }

    if (strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after 100 Continue, too): forget the last one. */
        const char *sp = strchr(line, ' ');
        x->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        ws_s3_resp *r = x->resp;
        r->content_length = -1;
        r->last_modified = 0;
        r->etag[0] = '\0';
        r->meta.n = 0;
        x->cr_first = x->cr_last = x->cr_total = -1;
        x->checked = false;
        x->skip = (x->status == 200 && x->range_sent) ? x->range_start : 0;
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon)
        return len;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    ws_s3_resp *r = x->resp;
    if (strcasecmp(line, "Content-Length") == 0) {
        char *end;
        errno = 0;
        long long cl = strtoll(v, &end, 10);
        if (!errno && end != v && cl >= 0)
            r->content_length = cl;
    } else if (strcasecmp(line, "Content-Range") == 0) {
        unsigned long long a, b, t;
        int got = sscanf(v, "bytes %llu-%llu/%llu", &a, &b, &t);
        if (got >= 2 && a <= b && b < INT64_MAX) {
            x->cr_first = (int64_t) a;
            x->cr_last = (int64_t) b;
            if (got == 3 && t < INT64_MAX)
                x->cr_total = (int64_t) t;
        }
    } else if (strcasecmp(line, "Last-Modified") == 0) {
        time_t t = curl_getdate(v, NULL);
        r->last_modified = t > 0 ? (int64_t) t : 0;
    } else if (strcasecmp(line, "ETag") == 0) {
        snprintf(r->etag, sizeof r->etag, "%s", v);
    } else if (strncasecmp(line, "x-amz-meta-", 11) == 0) {
        char name[WS_META_NAME_MAX];
        size_t i = 0;
        for (const char *p = line + 11; *p && i + 1 < sizeof name; p++)
            name[i++] = (char) (*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
        name[i] = '\0';
        ws_err ignored;
        /* Metadata walship cannot hold (other tools') is skipped. */
        (void) ws_meta_set(&r->meta, name, v, &ignored);
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t len = size * nmemb;
    const ws_s3_req *req = x->req;
    if (req->sink && is_2xx(x->status)) {
        if (!x->checked) {
            /* Before the first byte: does the object hold the whole range?
             * (A short range must fail like the file driver, before any
             * byte reaches the sink.) */
            x->checked = true;
            if (x->limit != UINT64_MAX) {
                uint64_t have = 0;
                bool known = true;
                if (x->status == 206 && x->cr_first >= 0)
                    have = (uint64_t) (x->cr_last - x->cr_first + 1);
                else if (x->status == 200 && x->resp->content_length >= 0)
                    have =
                        (uint64_t) x->resp->content_length > x->skip ? (uint64_t) x->resp->content_length - x->skip : 0;
                else
                    known = false;
                if (known && have < x->limit) {
                    x->short_range = true;
                    return 0;
                }
            }
        }
        size_t off = 0;
        if (x->skip) {
            off = x->skip < len ? (size_t) x->skip : len;
            x->skip -= off;
        }
        size_t n = len - off;
        if ((uint64_t) n > x->limit)
            n = (size_t) x->limit;
        if (n) {
            if (ws_sink_write(req->sink, data + off, n, &x->sink_err) < 0) {
                x->sink_failed = true;
                return 0;
            }
            x->resp->delivered += n;
            if (x->limit != UINT64_MAX)
                x->limit -= n;
        }
        if (x->limit == 0 && off + n < len) {
            x->enough = true; /* the server sent more than asked for */
            return 0;
        }
        return len;
    }
    ws_buf *b = &x->resp->body;
    if (b->len + len > WS_S3_XML_MAX) {
        x->overflow = true;
        return len; /* drain; the answer is refused afterwards */
    }
    ws_buf_add(b, data, len);
    return b->oom ? 0 : len;
}

/* ATT_RENEW: the server refused the credentials as expired. */
typedef enum { ATT_OK, ATT_RETRY, ATT_FATAL, ATT_RENEW } att_result;

/* Builds "<status> <Code>: <Message>" from the collected body. */
static void describe_status(const ws_s3_resp *r, ws_s3_error_doc *edoc, char *out, size_t n)
{
    ws_err perr;
    edoc->code[0] = edoc->message[0] = '\0';
    if (r->body.len && ws_s3_xml_parse_error(r->body.data, r->body.len, edoc, &perr) == 1 && edoc->code[0])
        snprintf(out, n, "%ld %s: %s", r->status, edoc->code, edoc->message[0] ? edoc->message : "(no message)");
    else
        snprintf(out, n, "HTTP %ld", r->status);
}

static bool curl_retryable(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return true;
    default:
        return false;
    }
}

static bool curl_tls_verify(CURLcode rc)
{
    return rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
           rc == CURLE_SSL_ISSUER_ERROR;
}

/* --- HTTP status -> error class ------------------------------------------ */

typedef enum {
    DETAIL_NONE,
    DETAIL_BUCKET, /* the hint follows "bucket '<name>'" */
    DETAIL_CREDS,  /* the credentials' source follows the hint */
} status_detail;

/* One row per answer class; the first row that matches wins. */
typedef struct status_rule {
    long lo, hi;        /* status range, inclusive */
    const char *code;   /* S3 error Code to compare with, NULL = any */
    bool code_differs;  /* match when the Code is NOT code */
    ws_errcode errcode; /* class reported */
    att_result result;  /* retry or give up */
    status_detail detail;
    const char *hint; /* appended in parentheses, NULL = none */
} status_rule;

static const status_rule status_rules[] = {
    {500, LONG_MAX, NULL, false, WS_ERR_TRANSIENT, ATT_RETRY, DETAIL_NONE, NULL},
    {429, 429, NULL, false, WS_ERR_TRANSIENT, ATT_RETRY, DETAIL_NONE, NULL},
    {400, 400, "RequestTimeout", false, WS_ERR_TRANSIENT, ATT_RETRY, DETAIL_NONE, NULL},
    /* A conditional write while another one of the key is in progress. */
    {409, 409, "ConditionalRequestConflict", false, WS_ERR_TRANSIENT, ATT_RETRY, DETAIL_NONE, NULL},
    {400, 403, "ExpiredToken", false, WS_ERR_PERM, ATT_RENEW, DETAIL_CREDS, "the session token has expired"},
    /* A HEAD answer has no body, so no Code: an expired token looks like this. */
    {400, 400, "", false, WS_ERR_STORAGE, ATT_RENEW, DETAIL_CREDS,
     "no error code in the answer; an expired session token gives this on a HEAD"},
    {404, 404, "NoSuchBucket", false, WS_ERR_STORAGE, ATT_FATAL, DETAIL_BUCKET, "does not exist"},
    {404, 404, "NoSuchUpload", true, WS_ERR_NOTFOUND, ATT_FATAL, DETAIL_NONE, "no such object"},
    {403, 403, "SignatureDoesNotMatch", false, WS_ERR_PERM, ATT_FATAL, DETAIL_CREDS,
     "access denied: signature does not match; check the secret access key and s3_region"},
    {403, 403, NULL, false, WS_ERR_PERM, ATT_FATAL, DETAIL_CREDS,
     "access denied; S3 also answers 403 for a missing key when the credentials may not list the bucket"},
    {416, 416, NULL, false, WS_ERR_INVALID, ATT_FATAL, DETAIL_NONE, "the range starts beyond the end of the object"},
    {412, 412, NULL, false, WS_ERR_STORAGE, ATT_FATAL, DETAIL_NONE, "the object changed while it was read"},
};

static const status_rule status_default = {0, LONG_MAX, NULL, false, WS_ERR_STORAGE, ATT_FATAL, DETAIL_NONE, NULL};

static const status_rule *status_rule_for(long status, const char *code)
{
    for (size_t i = 0; i < sizeof status_rules / sizeof status_rules[0]; i++) {
        const status_rule *r = &status_rules[i];
        if (status < r->lo || status > r->hi)
            continue;
        if (r->code && (strcmp(code, r->code) == 0) == r->code_differs)
            continue;
        return r;
    }
    return &status_default;
}

/* A non-2xx answer: the error from its status and S3 error document. */
static att_result map_status(const ws_s3_conn *c, const ws_s3_req *req, const ws_s3_resp *resp, ws_err *err)
{
    ws_s3_error_doc edoc;
    char what[WS_S3_CODE_MAX + WS_S3_MESSAGE_MAX + 32];
    describe_status(resp, &edoc, what, sizeof what);
    const status_rule *r = status_rule_for(resp->status, edoc.code);
    if (!r->hint)
        ws_err_set(err, r->errcode, "%s failed: %s", req->op, what);
    else if (r->detail == DETAIL_BUCKET)
        ws_err_set(err, r->errcode, "%s failed: %s (bucket '%s' %s)", req->op, what, c->bucket, r->hint);
    else if (r->detail == DETAIL_CREDS)
        ws_err_set(err, r->errcode, "%s failed: %s (%s; credentials from %s)", req->op, what, r->hint,
                   ws_s3_creds_source(c->creds));
    else
        ws_err_set(err, r->errcode, "%s failed: %s (%s)", req->op, what, r->hint);
    return r->result;
}

/* --- one attempt, step by step ------------------------------------------- */

#define MAX_HDRS 32

/* What one attempt sends: built afresh each time (date, Range, If-Match). */
typedef struct wire_req {
    ws_buf path; /* raw: /bucket/key (path style) or /key (virtual host) */
    ws_buf url;
    ws_buf auth; /* Authorization value */
    ws_buf line; /* scratch for one header line */
    ws_s3_header h[MAX_HDRS];
    size_t nh;
    char date[17];
    char payload_hash[WS_S3_SHA256_HEX_LEN + 1];
    char range[64];
    struct curl_slist *list;
} wire_req;

static void wire_init(wire_req *w)
{
    memset(w, 0, sizeof *w);
    ws_buf_init(&w->path);
    ws_buf_init(&w->url);
    ws_buf_init(&w->auth);
    ws_buf_init(&w->line);
}

static void wire_free(wire_req *w)
{
    curl_slist_free_all(w->list);
    ws_buf_free(&w->path);
    ws_buf_free(&w->url);
    ws_buf_free(&w->auth);
    ws_buf_free(&w->line);
}

static void build_path(const ws_s3_conn *c, const ws_s3_req *req, ws_buf *path)
{
    if (!c->host_style) {
        ws_buf_adds(path, "/");
        ws_buf_adds(path, c->bucket);
    }
    if (req->key) {
        ws_buf_adds(path, "/");
        ws_buf_adds(path, req->key);
    } else if (c->host_style) {
        ws_buf_adds(path, "/");
    }
}

/* The headers to sign: S3's own, the byte range still wanted (GET into a
 * sink; sets x's range state), If-Match on a resume, then the caller's. */
static int build_headers(const ws_s3_conn *c, const ws_s3_req *req, const ws_s3_resp *resp, const char *if_match,
                         xfer *x, wire_req *w, ws_err *err)
{
    if (req->nheaders > MAX_HDRS - 6)
        return ws_err_set(err, WS_ERR_INVALID, "%s: too many headers", req->op);
    ws_s3_sign_amz_date(time(NULL), w->date);
    ws_s3_sign_sha256_hex(req->body ? req->body : "", req->body ? req->body_len : 0, w->payload_hash);
    ws_s3_header *h = w->h;
    size_t nh = 0;
    h[nh++] = (ws_s3_header){"host", c->host};
    h[nh++] = (ws_s3_header){"x-amz-content-sha256", w->payload_hash};
    h[nh++] = (ws_s3_header){"x-amz-date", w->date};
    if (c->cur.session_token)
        h[nh++] = (ws_s3_header){"x-amz-security-token", c->cur.session_token};
    if (req->sink) {
        uint64_t start = req->range_off + resp->delivered;
        x->limit = req->range_len == WS_TO_END ? UINT64_MAX : req->range_len - resp->delivered;
        /* A Range exactly as wide as the bytes wanted, so the answer ends
         * where reading ends and the connection stays usable; only a read of
         * the whole object sends none. */
        if (start > 0 || req->range_len != WS_TO_END) {
            if (req->range_len == WS_TO_END)
                snprintf(w->range, sizeof w->range, "bytes=%llu-", (unsigned long long) start);
            else
                snprintf(w->range, sizeof w->range, "bytes=%llu-%llu", (unsigned long long) start,
                         (unsigned long long) (req->range_off + req->range_len - 1));
            h[nh++] = (ws_s3_header){"range", w->range};
            x->range_sent = true;
            x->range_start = start;
        }
        if (if_match && *if_match)
            h[nh++] = (ws_s3_header){"if-match", if_match};
    }
    for (size_t i = 0; i < req->nheaders; i++)
        h[nh++] = req->headers[i];
    w->nh = nh;
    return 0;
}

static int sign_request(const ws_s3_conn *c, const ws_s3_req *req, wire_req *w, ws_err *err)
{
    if (w->path.oom)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    ws_s3_sign_input in = {
        .method = req->method,
        .path = w->path.data,
        .params = req->query,
        .nparams = req->nquery,
        .headers = w->h,
        .nheaders = w->nh,
        .payload_sha256 = w->payload_hash,
        .amz_date = w->date,
        .region = c->region,
        .service = "s3",
        .access_key = c->cur.access_key,
        .secret_key = c->cur.secret_key,
    };
    return ws_s3_sign(&in, &w->auth, NULL, err);
}

/* The URL (the same canonical query string that was signed) and the header
 * list: the signed headers, Authorization, no Expect, a default type. */
static int build_wire(const ws_s3_conn *c, const ws_s3_req *req, bool has_body, wire_req *w, ws_err *err)
{
    ws_buf_addf(&w->url, "%s://%s", c->scheme, c->host);
    ws_s3_sign_uri_encode(&w->url, w->path.data, true);
    if (req->nquery) {
        ws_buf_adds(&w->url, "?");
        ws_s3_sign_canonical_query(&w->url, req->query, req->nquery);
    }
    bool have_ctype = false;
    for (size_t i = 0; i < w->nh; i++) {
        ws_buf_clear(&w->line);
        ws_buf_addf(&w->line, "%s: %s", w->h[i].name, w->h[i].value);
        if (strcasecmp(w->h[i].name, "content-type") == 0)
            have_ctype = true;
        struct curl_slist *l = w->line.oom ? NULL : curl_slist_append(w->list, w->line.data);
        if (!l)
            return ws_err_set(err, WS_ERR_NOMEM, "%s: out of memory", req->op);
        w->list = l;
    }
    ws_buf_clear(&w->line);
    ws_buf_addf(&w->line, "Authorization: %s", w->auth.data);
    const char *extra[] = {w->line.data,
                           "Expect:", has_body && !have_ctype ? "Content-Type: application/octet-stream" : NULL};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        if (!extra[i])
            continue;
        struct curl_slist *l = w->line.oom ? NULL : curl_slist_append(w->list, extra[i]);
        if (!l)
            return ws_err_set(err, WS_ERR_NOMEM, "%s: out of memory", req->op);
        w->list = l;
    }
    if (w->url.oom)
        return ws_err_set(err, WS_ERR_NOMEM, "%s: out of memory", req->op);
    return 0;
}

static void setup_curl(ws_s3_conn *c, const ws_s3_req *req, bool has_body, const wire_req *w, xfer *x)
{
    CURL *k = c->curl;
    curl_easy_reset(k);
    c->errbuf[0] = '\0';
    curl_easy_setopt(k, CURLOPT_URL, w->url.data);
    curl_easy_setopt(k, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(k, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(k, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(k, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(k, CURLOPT_HTTPHEADER, w->list);
    curl_easy_setopt(k, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(k, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(k, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(k, CURLOPT_WRITEDATA, x);
    double ct = c->timeout < CONNECT_TIMEOUT_MAX ? c->timeout : CONNECT_TIMEOUT_MAX;
    curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, (long) (ct * 1000));
    curl_easy_setopt(k, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(k, CURLOPT_LOW_SPEED_TIME, (long) ceil(c->timeout));
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, c->verify_tls ? 1L : 0L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, c->verify_tls ? 2L : 0L);
    if (c->ca_file)
        curl_easy_setopt(k, CURLOPT_CAINFO, c->ca_file);
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(k, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(k, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(k, CURLOPT_CUSTOMREQUEST, req->method);
        if (has_body) {
            /* From memory, not copied: the caller keeps it for retries. */
            curl_easy_setopt(k, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) (req->body ? req->body_len : 0));
            curl_easy_setopt(k, CURLOPT_POSTFIELDS, req->body ? (const char *) req->body : "");
        }
    }
}

/* After the transfer: did a ranged GET get every byte it asked for?  -1 (err
 * set) when the object ends before the range does. */
static int check_range(const ws_s3_req *req, const ws_s3_resp *resp, const xfer *x, CURLcode rc, ws_err *err)
{
    if (!((rc == CURLE_WRITE_ERROR && x->short_range) ||
          (rc == CURLE_OK && req->sink && is_2xx(x->status) && x->limit != UINT64_MAX && x->limit != 0)))
        return 0;
    int64_t size = x->cr_total >= 0 ? x->cr_total : (x->status == 200 ? resp->content_length : -1);
    if (size >= 0)
        return ws_err_set(err, WS_ERR_INVALID,
                          "%s failed: range of %llu bytes at byte %llu is beyond the end of the object (%lld bytes)",
                          req->op, (unsigned long long) req->range_len, (unsigned long long) req->range_off,
                          (long long) size);
    return ws_err_set(err, WS_ERR_INVALID, "%s failed: the byte range ends beyond the end of the object", req->op);
}

/* A transfer that failed below HTTP (connection, TLS, time-out). */
static att_result map_curl_error(const ws_s3_conn *c, const ws_s3_req *req, const ws_s3_resp *resp, CURLcode rc,
                                 ws_err *err)
{
    const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
    if (curl_tls_verify(rc)) {
        ws_err_set(err, WS_ERR_STORAGE,
                   "%s failed: TLS verification failed: %s (name the CA certificate in s3_ca_file, "
                   "or set s3_verify_tls = off)",
                   req->op, detail);
        return ATT_FATAL;
    }
    if (resp->body.oom) {
        ws_err_set(err, WS_ERR_NOMEM, "%s failed: out of memory", req->op);
        return ATT_FATAL;
    }
    bool retry = curl_retryable(rc);
    ws_err_set(err, retry ? WS_ERR_TRANSIENT : WS_ERR_STORAGE, "%s failed: %s", req->op, detail);
    return retry ? ATT_RETRY : ATT_FATAL;
}

static att_result attempt(ws_s3_conn *c, const ws_s3_req *req, ws_s3_resp *resp, const char *if_match, ws_err *err)
{
    const bool has_body = req->body || strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0;
    xfer x = {.req = req, .resp = resp, .limit = UINT64_MAX, .cr_first = -1, .cr_last = -1, .cr_total = -1};
    att_result result = ATT_FATAL;
    wire_req w;
    wire_init(&w);

    ws_buf_clear(&resp->body);
    resp->status = 0;
    resp->attempts++;

    /* The current credentials: refreshed first when they are about to expire. */
    if (ws_s3_creds_get(c->creds, &c->cur, &c->cur_gen, err) < 0) {
        result = err->code == WS_ERR_TRANSIENT ? ATT_RETRY : ATT_FATAL;
        goto out;
    }
    build_path(c, req, &w.path);
    if (build_headers(c, req, resp, if_match, &x, &w, err) < 0 || sign_request(c, req, &w, err) < 0 ||
        build_wire(c, req, has_body, &w, err) < 0)
        goto out;
    setup_curl(c, req, has_body, &w, &x);

    CURLcode rc = curl_easy_perform(c->curl);
    resp->status = x.status;
    if (rc == CURLE_WRITE_ERROR && x.sink_failed) {
        *err = x.sink_err;
        goto out;
    }
    if (rc == CURLE_WRITE_ERROR && x.enough)
        rc = CURLE_OK;
    if (check_range(req, resp, &x, rc, err) < 0)
        goto out;
    if (rc != CURLE_OK) {
        result = map_curl_error(c, req, resp, rc, err);
        goto out;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    if (!is_2xx(resp->status))
        result = map_status(c, req, resp, err);
    else if (x.overflow)
        ws_err_set(err, WS_ERR_STORAGE, "%s failed: response larger than %u bytes", req->op, WS_S3_XML_MAX);
    else
        result = ATT_OK;
out:
    wire_free(&w);
    return result;
}

int ws_s3_http_request(ws_s3_conn *c, const ws_s3_req *req, ws_s3_resp *resp, ws_err *err)
{
    if (c->busy)
        return ws_err_set(err, WS_ERR_INVALID, "%s: the S3 connection is already in use (re-entrant call)", req->op);
    if (req->sink && req->range_len == 0)
        return ws_err_set(err, WS_ERR_INVALID, "%s: empty byte range", req->op);
    c->busy = true;
    double first_failure = 0;
    bool renewed = false;
    char etag[sizeof resp->etag] = "";
    int rc = -1;
    for (unsigned n = 1;; n++) {
        att_result r = attempt(c, req, resp, resp->delivered ? etag : NULL, err);
        /* Temporary credentials refused as expired: fetch new ones, once per
         * request (a second refusal is not about expiry). */
        if (r == ATT_RENEW && !renewed && ws_s3_creds_refreshable(c->creds)) {
            ws_s3_creds_expired(c->creds, c->cur_gen);
            renewed = true;
            r = ATT_RETRY;
        } else if (r == ATT_RENEW) {
            r = ATT_FATAL;
        }
        if (req->sink && !etag[0] && is_2xx(resp->status))
            memcpy(etag, resp->etag, sizeof etag); /* resumes must see the same object */
        if (r == ATT_OK) {
            rc = 0;
            break;
        }
        if (r == ATT_FATAL)
            break;
        double t = ws_clock_now();
        if (first_failure == 0)
            first_failure = t;
        double d = ws_s3_http_backoff(n, BACKOFF_BASE, BACKOFF_CAP, &c->rng);
        unsigned max = req->max_attempts ? req->max_attempts : MAX_ATTEMPTS;
        if (n >= max || t - first_failure + d > c->budget) {
            ws_err_prefix(err, "gave up after %u attempt%s and %.1f s of retrying (s3_retry_budget = %g s); last error",
                          n, n == 1 ? "" : "s", t - first_failure, c->budget);
            err->code = WS_ERR_TRANSIENT;
            break;
        }
        ws_clock_sleep(d);
    }
    c->busy = false;
    return rc;
}
