/*
 * s3_sign.h - AWS Signature Version 4 for S3 requests (header-based, payload
 * signed in a single chunk), with OpenSSL's HMAC/SHA-256.
 *
 * Our own signer rather than CURLOPT_AWS_SIGV4 because libcurl 7.88 signs the
 * query string as given instead of canonicalising it.  The same canonical
 * query string built here is what the request sends, so the two never differ.
 *
 * Also holds the free that wipes a secret first.  Text is built in ws_buf
 * (buf.h) with its unchecked appends.
 */
#ifndef WALSHIP_S3_SIGN_H
#define WALSHIP_S3_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "walship/buf.h"
#include "walship/error.h"

/* Overwrites the NUL-terminated secret s, then frees it (NULL is fine). */
void ws_s3_sign_secret_free(char *s);

/* --- request pieces ----------------------------------------------------- */

typedef struct ws_s3_param {
    const char *name;
    const char *value; /* NULL or "" = empty value ("?delete" signs as "delete=") */
} ws_s3_param;

typedef struct ws_s3_header {
    const char *name; /* any case */
    const char *value;
} ws_s3_header;

#define WS_S3_SHA256_HEX_LEN 64
#define WS_S3_EMPTY_SHA256   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* out receives 64 hex digits and a NUL. */
void ws_s3_sign_sha256_hex(const void *data, size_t len, char out[WS_S3_SHA256_HEX_LEN + 1]);

/* "YYYYMMDDTHHMMSSZ" for t (UTC). */
void ws_s3_sign_amz_date(time_t t, char out[17]);

/* Appends s URI-encoded per SigV4: A-Z a-z 0-9 - . _ ~ stay, every other byte
 * becomes %XX (upper-case hex); '/' stays only when keep_slash. */
void ws_s3_sign_uri_encode(ws_buf *b, const char *s, bool keep_slash);

/* Appends the canonical query string: names and values encoded, pairs sorted
 * by encoded name then value, joined with '&'; an empty value gives "name=". */
void ws_s3_sign_canonical_query(ws_buf *b, const ws_s3_param *params, size_t n);

typedef struct ws_s3_sign_input {
    const char *method;        /* "GET", "PUT", ... */
    const char *path;          /* raw, unencoded, starting with '/' */
    const ws_s3_param *params; /* raw */
    size_t nparams;
    /* Every header to sign, including host, x-amz-date, x-amz-content-sha256
     * (and x-amz-security-token when used). */
    const ws_s3_header *headers;
    size_t nheaders;
    const char *payload_sha256; /* hex */
    const char *amz_date;       /* "YYYYMMDDTHHMMSSZ" */
    const char *region;
    const char *service; /* "s3" */
    const char *access_key;
    const char *secret_key;
} ws_s3_sign_input;

/*
 * Computes the Authorization header value ("AWS4-HMAC-SHA256 Credential=...,
 * SignedHeaders=...,Signature=...") into *auth (appended).  When canonical is
 * not NULL the canonical request is appended to it (tests, debugging).
 */
int ws_s3_sign(const ws_s3_sign_input *in, ws_buf *auth, ws_buf *canonical, ws_err *err);

#endif
