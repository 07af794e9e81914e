/* kvrec.c - key/value records of local state files (see kvrec.h). */
#include "walship/kvrec.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <string.h>

#include "walship/hex.h"

#define CHECK_KEY  "check"
#define SHA256_LEN 32

static int sha256(const char *buf, size_t len, uint8_t out[SHA256_LEN], ws_err *err)
{
    unsigned n = 0;

    if (EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) != 1 || n != SHA256_LEN)
        return ws_err_set(err, WS_ERR_INTERNAL, "SHA-256 failed");
    return 0;
}

static bool printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

static bool key_ok(const char *k)
{
    size_t n = strlen(k);

    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '_' || k[i] == '-'))
            return false;
    return true;
}

int ws_kvrec_begin(ws_buf *b, const char *magic, unsigned version, ws_err *err)
{
    ws_buf_clear(b);
    return ws_buf_printf(b, err, "%s %u\n", magic, version);
}

int ws_kvrec_add(ws_buf *b, const char *key, const char *value, ws_err *err)
{
    if (!key_ok(key))
        return ws_err_set(err, WS_ERR_INTERNAL, "state record: bad key \"%s\"", key);
    if (!printable(value, strlen(value)) || strcmp(value, "-") == 0)
        return ws_err_set(err, WS_ERR_INVALID, "state record: the value of \"%s\" cannot be recorded", key);
    return ws_buf_printf(b, err, "%s %s\n", key, *value ? value : "-");
}

int ws_kvrec_add_u64(ws_buf *b, const char *key, uint64_t v, ws_err *err)
{
    char t[24];

    snprintf(t, sizeof t, "%" PRIu64, v);
    return ws_kvrec_add(b, key, t, err);
}

int ws_kvrec_add_i64(ws_buf *b, const char *key, int64_t v, ws_err *err)
{
    char t[24];

    snprintf(t, sizeof t, "%" PRId64, v);
    return ws_kvrec_add(b, key, t, err);
}

int ws_kvrec_add_hex(ws_buf *b, const char *key, const void *bytes, size_t n, ws_err *err)
{
    char t[2 * WS_KVREC_FIELDS_MAX * 8 + 1];

    if (n == 0 || 2 * n >= sizeof t)
        return ws_err_set(err, WS_ERR_INTERNAL, "state record: %zu bytes too long for \"%s\"", n, key);
    ws_hex_encode(bytes, n, t);
    return ws_kvrec_add(b, key, t, err);
}

int ws_kvrec_end(ws_buf *b, bool check, ws_err *err)
{
    uint8_t d[SHA256_LEN];

    if (!check)
        return 0;
    if (sha256(b->data ? b->data : "", b->len, d, err) < 0)
        return -1;
    return ws_kvrec_add_hex(b, CHECK_KEY, d, sizeof d, err);
}

/* --- reading ------------------------------------------------------------ */

typedef struct {
    const char *p, *end, *what;
} cursor;

/* The value of the next line, which must be "<key> <value>\n". */
static int next_field(cursor *c, const char *key, const char **val, size_t *vlen, ws_err *err)
{
    size_t n = strlen(key);
    const char *nl = memchr(c->p, '\n', (size_t) (c->end - c->p));

    if (c->p == c->end)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: truncated before \"%s\"", c->what, key);
    if (!nl)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: last line not terminated", c->what);
    if ((size_t) (nl - c->p) < n + 1 || memcmp(c->p, key, n) != 0 || c->p[n] != ' ')
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: expected the line \"%s ...\"", c->what, key);
    *val = c->p + n + 1;
    *vlen = (size_t) (nl - *val);
    if (*vlen == 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" has no value", c->what, key);
    if (!printable(*val, *vlen))
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: control character in \"%s\"", c->what, key);
    c->p = nl + 1;
    return 0;
}

static int parse_dec(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10)
            return -1;
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    *out = v;
    return 0;
}

int ws_kvrec_parse(const char *buf, size_t len, const char *magic, unsigned version, const char *const *keys,
                   size_t nkeys, bool check, const char *what, ws_kvrec *out, ws_err *err)
{
    cursor c = {.p = buf, .end = buf + len, .what = what};
    size_t mlen = strlen(magic);
    const char *nl, *body_end, *v;
    uint64_t ver;
    size_t vlen;

    memset(out, 0, sizeof *out);
    out->what = what;
    out->keys = keys;
    if (nkeys > WS_KVREC_FIELDS_MAX)
        return ws_err_set(err, WS_ERR_INTERNAL, "%s: too many fields", what);
    if (memchr(buf, '\0', len))
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: contains a NUL byte", what);
    nl = memchr(buf, '\n', len);
    if (!nl || (size_t) (nl - buf) <= mlen + 1 || memcmp(buf, magic, mlen) != 0 || buf[mlen] != ' ')
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: not a %s file", what, magic);
    v = buf + mlen + 1;
    vlen = (size_t) (nl - v);
    if (parse_dec(v, vlen, &ver) < 0 || ver != version)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: unknown %s format version \"%.*s\" (this walship writes %u)", what,
                          magic, (int) (vlen > 20 ? 20 : vlen), printable(v, vlen) ? v : "?", version);
    c.p = nl + 1;
    for (size_t i = 0; i < nkeys; i++) {
        if (next_field(&c, keys[i], &out->v[i].val, &out->v[i].len, err) < 0)
            return -1;
        out->n = i + 1;
    }
    body_end = c.p;
    if (check) {
        uint8_t want[SHA256_LEN], got[SHA256_LEN];

        if (next_field(&c, CHECK_KEY, &v, &vlen, err) < 0)
            return -1;
        if (ws_hex_decode(v, vlen, want, sizeof want) < 0)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" is not 64 lower-case hex digits", what, CHECK_KEY);
        if (c.p != c.end)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: unexpected text after the \"%s\" line", what, CHECK_KEY);
        if (sha256(buf, (size_t) (body_end - buf), got, err) < 0)
            return -1;
        if (memcmp(want, got, sizeof want) != 0)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: checksum mismatch (the file was changed or damaged)", what);
    } else if (c.p != c.end) {
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: unexpected text after the \"%s\" line", what,
                          nkeys ? keys[nkeys - 1] : magic);
    }
    return 0;
}

bool ws_kvrec_empty(const ws_kvrec *r, size_t i)
{
    return i < r->n && r->v[i].len == 1 && r->v[i].val[0] == '-';
}

int ws_kvrec_text(const ws_kvrec *r, size_t i, char *out, size_t outlen, ws_err *err)
{
    size_t n;

    if (i >= r->n)
        return ws_err_set(err, WS_ERR_INTERNAL, "%s: no field %zu", r->what, i);
    n = ws_kvrec_empty(r, i) ? 0 : r->v[i].len;
    if (n >= outlen)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" is too long", r->what, r->keys[i]);
    memcpy(out, r->v[i].val, n);
    out[n] = '\0';
    return 0;
}

int ws_kvrec_u64(const ws_kvrec *r, size_t i, uint64_t max, uint64_t *out, ws_err *err)
{
    uint64_t v;

    if (i >= r->n)
        return ws_err_set(err, WS_ERR_INTERNAL, "%s: no field %zu", r->what, i);
    if (parse_dec(r->v[i].val, r->v[i].len, &v) < 0 || v > max)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" is not a non-negative decimal number up to %" PRIu64,
                          r->what, r->keys[i], max);
    *out = v;
    return 0;
}

int ws_kvrec_i64(const ws_kvrec *r, size_t i, int64_t *out, ws_err *err)
{
    bool neg;
    uint64_t v;

    if (i >= r->n)
        return ws_err_set(err, WS_ERR_INTERNAL, "%s: no field %zu", r->what, i);
    neg = r->v[i].val[0] == '-';
    if (parse_dec(r->v[i].val + neg, r->v[i].len - neg, &v) < 0 || v > (uint64_t) INT64_MAX || (neg && v == 0))
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" is not a decimal number", r->what, r->keys[i]);
    *out = neg ? -(int64_t) v : (int64_t) v;
    return 0;
}

int ws_kvrec_hex(const ws_kvrec *r, size_t i, void *out, size_t n, ws_err *err)
{
    if (i >= r->n)
        return ws_err_set(err, WS_ERR_INTERNAL, "%s: no field %zu", r->what, i);
    if (ws_hex_decode(r->v[i].val, r->v[i].len, out, n) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: \"%s\" is not %zu lower-case hex digits", r->what, r->keys[i],
                          2 * n);
    return 0;
}
