/*
 * s3_sign.c - AWS SigV4 signing of S3 requests (see s3_sign.h).
 */
#include "walship/s3_sign.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "walship/hex.h"

/* --- secrets ----------------------------------------------------------- */

void ws_s3_sign_secret_free(char *s)
{
    if (s) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}

/* --- primitives ---------------------------------------------------------- */

void ws_s3_sign_sha256_hex(const void *data, size_t len, char out[WS_S3_SHA256_HEX_LEN + 1])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(data, len, md);
    ws_hex_encode(md, sizeof md, out);
}

void ws_s3_sign_amz_date(time_t t, char out[17])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

void ws_s3_sign_uri_encode(ws_buf *b, const char *s, bool keep_slash)
{
    static const char HEX[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if (unreserved(*p) || (keep_slash && *p == '/')) {
            ws_buf_add(b, p, 1);
        } else {
            char e[3] = {'%', HEX[*p >> 4], HEX[*p & 15]};
            ws_buf_add(b, e, 3);
        }
    }
}

typedef struct enc_pair {
    char *name;
    char *value;
} enc_pair;

static int cmp_pair(const void *a, const void *b)
{
    const enc_pair *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value, y->value);
}

static char *encode_dup(const char *s)
{
    ws_buf t;
    ws_buf_init(&t);
    ws_buf_adds(&t, ""); /* allocate even for "" */
    ws_s3_sign_uri_encode(&t, s ? s : "", false);
    if (t.oom) {
        ws_buf_free(&t);
        return NULL;
    }
    return t.data;
}

void ws_s3_sign_canonical_query(ws_buf *b, const ws_s3_param *params, size_t n)
{
    if (n == 0)
        return;
    enc_pair *v = calloc(n, sizeof *v);
    if (!v) {
        b->oom = true;
        return;
    }
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++) {
        v[i].name = encode_dup(params[i].name);
        v[i].value = encode_dup(params[i].value);
        ok = v[i].name && v[i].value;
    }
    if (ok) {
        qsort(v, n, sizeof *v, cmp_pair);
        for (size_t i = 0; i < n; i++) {
            if (i)
                ws_buf_adds(b, "&");
            ws_buf_adds(b, v[i].name);
            ws_buf_adds(b, "=");
            ws_buf_adds(b, v[i].value);
        }
    } else {
        b->oom = true;
    }
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

/* --- signing ------------------------------------------------------------- */

typedef struct canon_hdr {
    char *name;        /* lower case */
    const char *value; /* raw */
} canon_hdr;

static int cmp_hdr(const void *a, const void *b)
{
    return strcmp(((const canon_hdr *) a)->name, ((const canon_hdr *) b)->name);
}

/* Value with leading/trailing blanks removed and inner runs of blanks
 * collapsed to one space, as SigV4 requires. */
static void add_trimmed(ws_buf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    bool space = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = true;
            continue;
        }
        if (space)
            ws_buf_add(b, " ", 1);
        space = false;
        ws_buf_add(b, v, 1);
    }
}

static void hmac(const void *key, size_t keylen, const char *msg, unsigned char out[32])
{
    unsigned int olen = 32;
    HMAC(EVP_sha256(), key, (int) keylen, (const unsigned char *) msg, strlen(msg), out, &olen);
}

int ws_s3_sign(const ws_s3_sign_input *in, ws_buf *auth, ws_buf *canonical, ws_err *err)
{
    if (strlen(in->amz_date) != 16 || in->amz_date[8] != 'T')
        return ws_err_set(err, WS_ERR_INVALID, "SigV4: bad date '%s'", in->amz_date);
    if (in->nheaders == 0)
        return ws_err_set(err, WS_ERR_INVALID, "SigV4: no headers to sign");

    canon_hdr *h = calloc(in->nheaders, sizeof *h);
    if (!h)
        return ws_err_set(err, WS_ERR_NOMEM, "SigV4: out of memory");
    int rc = -1;
    ws_buf creq, sts, signed_names;
    ws_buf_init(&creq);
    ws_buf_init(&sts);
    ws_buf_init(&signed_names);

    for (size_t i = 0; i < in->nheaders; i++) {
        h[i].name = strdup(in->headers[i].name);
        if (!h[i].name) {
            ws_err_set(err, WS_ERR_NOMEM, "SigV4: out of memory");
            goto out;
        }
        for (char *c = h[i].name; *c; c++)
            *c = (char) tolower((unsigned char) *c);
        h[i].value = in->headers[i].value ? in->headers[i].value : "";
    }
    qsort(h, in->nheaders, sizeof *h, cmp_hdr);
    for (size_t i = 1; i < in->nheaders; i++) {
        if (strcmp(h[i].name, h[i - 1].name) == 0) {
            ws_err_set(err, WS_ERR_INVALID, "SigV4: header '%s' given twice", h[i].name);
            goto out;
        }
    }

    /* Canonical request. */
    ws_buf_adds(&creq, in->method);
    ws_buf_adds(&creq, "\n");
    ws_s3_sign_uri_encode(&creq, in->path, true);
    ws_buf_adds(&creq, "\n");
    ws_s3_sign_canonical_query(&creq, in->params, in->nparams);
    ws_buf_adds(&creq, "\n");
    for (size_t i = 0; i < in->nheaders; i++) {
        ws_buf_adds(&creq, h[i].name);
        ws_buf_adds(&creq, ":");
        add_trimmed(&creq, h[i].value);
        ws_buf_adds(&creq, "\n");
        if (i)
            ws_buf_adds(&signed_names, ";");
        ws_buf_adds(&signed_names, h[i].name);
    }
    ws_buf_adds(&creq, "\n");
    ws_buf_adds(&creq, signed_names.data ? signed_names.data : "");
    ws_buf_adds(&creq, "\n");
    ws_buf_adds(&creq, in->payload_sha256);
    if (creq.oom || signed_names.oom) {
        ws_err_set(err, WS_ERR_NOMEM, "SigV4: out of memory");
        goto out;
    }

    /* String to sign. */
    char date[9];
    memcpy(date, in->amz_date, 8);
    date[8] = '\0';
    char creq_hash[WS_S3_SHA256_HEX_LEN + 1];
    ws_s3_sign_sha256_hex(creq.data, creq.len, creq_hash);
    ws_buf_addf(&sts, "AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s", in->amz_date, date, in->region, in->service,
                creq_hash);

    /* Signing key: HMAC chain from "AWS4" + secret. */
    ws_buf k;
    ws_buf_init(&k);
    ws_buf_adds(&k, "AWS4");
    ws_buf_adds(&k, in->secret_key);
    if (k.oom || sts.oom) {
        if (k.data)
            OPENSSL_cleanse(k.data, k.len);
        ws_buf_free(&k);
        ws_err_set(err, WS_ERR_NOMEM, "SigV4: out of memory");
        goto out;
    }
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    hmac(k.data, k.len, date, k1);
    OPENSSL_cleanse(k.data, k.len);
    ws_buf_free(&k);
    hmac(k1, 32, in->region, k2);
    hmac(k2, 32, in->service, k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts.data, sig);
    OPENSSL_cleanse(k1, 32);
    OPENSSL_cleanse(k2, 32);
    OPENSSL_cleanse(k3, 32);
    OPENSSL_cleanse(k4, 32);
    char sighex[65];
    ws_hex_encode(sig, 32, sighex);

    ws_buf_addf(auth, "AWS4-HMAC-SHA256 Credential=%s/%s/%s/%s/aws4_request,SignedHeaders=%s,Signature=%s",
                in->access_key, date, in->region, in->service, signed_names.data, sighex);
    if (canonical)
        ws_buf_add(canonical, creq.data, creq.len);
    if (auth->oom || (canonical && canonical->oom)) {
        ws_err_set(err, WS_ERR_NOMEM, "SigV4: out of memory");
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < in->nheaders; i++)
        free(h[i].name);
    free(h);
    ws_buf_free(&creq);
    ws_buf_free(&sts);
    ws_buf_free(&signed_names);
    return rc;
}
