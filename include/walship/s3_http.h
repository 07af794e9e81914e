/*
 * s3_http.h - one S3 endpoint over one reused libcurl handle: addressing,
 * signing of every attempt, retries with backoff inside a time budget, and
 * the mapping of S3 answers to ws_err codes.
 *
 * A connection is used by one thread at a time and is not re-entrant (a sink
 * fed by a GET must not issue requests on the same connection).
 */
#ifndef WALSHIP_S3_HTTP_H
#define WALSHIP_S3_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/s3_creds.h"
#include "walship/s3_sign.h"
#include "walship/sink.h"
#include "walship/storage.h"

typedef struct ws_s3_conn ws_s3_conn;

typedef struct ws_s3_conn_opts {
    const char *endpoint; /* "http[s]://host[:port]" or NULL for AWS */
    const char *region;
    const char *bucket;
    bool host_style; /* virtual-hosted: bucket.host */
    bool verify_tls;
    const char *ca_file;    /* NULL = system CAs */
    double retry_budget;    /* seconds of retrying per request */
    double request_timeout; /* seconds without progress */
    ws_s3_creds *creds;     /* borrowed: must outlive the connection */
} ws_s3_conn_opts;

int ws_s3_conn_new(const ws_s3_conn_opts *o, ws_s3_conn **out, ws_err *err);
void ws_s3_conn_free(ws_s3_conn *c);

typedef struct ws_s3_req {
    const char *op;     /* for messages: "PUT", "UploadPart", ... */
    const char *method; /* GET HEAD PUT POST DELETE */
    const char *key;    /* full object key, or NULL for the bucket */
    const ws_s3_param *query;
    size_t nquery;
    const ws_s3_header *headers; /* extra headers, all signed */
    size_t nheaders;
    const void *body; /* re-sent on every attempt */
    size_t body_len;
    /* GET only: a 2xx body streams into sink (not finished here), limited to
     * bytes [range_off, range_off+range_len) (range_len WS_TO_END = to the
     * end).  A retry resumes after the bytes already delivered. */
    ws_sink *sink;
    uint64_t range_off;
    uint64_t range_len;
    unsigned max_attempts; /* 0 = as many as the budget allows */
} ws_s3_req;

typedef struct ws_s3_resp {
    long status;
    ws_buf body;            /* collected body (not the sink's), bounded */
    int64_t content_length; /* -1 unknown */
    int64_t last_modified;  /* epoch seconds, 0 unknown */
    char etag[128];
    ws_meta meta;       /* x-amz-meta-* */
    uint64_t delivered; /* bytes passed to req->sink */
    unsigned attempts;
} ws_s3_resp;

void ws_s3_resp_init(ws_s3_resp *r);
void ws_s3_resp_free(ws_s3_resp *r);

/*
 * Performs the request, retrying 5xx, 429, 400 RequestTimeout, timeouts,
 * ExpiredToken (with fresh temporary credentials) and broken connections with exponential backoff and full jitter until the retry
 * budget is spent (then WS_ERR_TRANSIENT with the last cause).  0 on 2xx.
 * Otherwise -1 with: 404 -> WS_ERR_NOTFOUND (NoSuchBucket -> WS_ERR_STORAGE),
 * 403 -> WS_ERR_PERM, other answers -> WS_ERR_STORAGE; the message is
 * "<op> failed: <status> <Code>: <Message>".  resp->status is the last HTTP
 * status (0 when none).
 */
int ws_s3_http_request(ws_s3_conn *c, const ws_s3_req *req, ws_s3_resp *resp, ws_err *err);

/* The delay before retry number n (1-based), full jitter: uniform in
 * [0, min(cap, base * 2^(n-1))].  rng is the caller's state. */
double ws_s3_http_backoff(unsigned n, double base, double cap, uint64_t *rng);

#endif
