/* json_in.c - field-by-field JSON reading with one error (json_in.h). */
#include "walship/json_in.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/hex.h"
#include "walship/wal_index.h"

void ws_json_in_init(ws_json_in *in, const char *what, ws_err *err)
{
    in->what = what;
    in->err = err;
    in->failed = false;
}

void ws_json_in_bad(ws_json_in *in, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (in->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ws_err_set(in->err, WS_ERR_CORRUPT, "%s: %s", in->what, msg);
    in->failed = true;
}

json_t *ws_json_in_parse(ws_json_in *in, const char *buf, size_t len, size_t max)
{
    json_error_t je;
    json_t *root;

    if (len > max) {
        ws_json_in_bad(in, "larger than %zu bytes", max);
        return NULL;
    }
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        ws_json_in_bad(in, "not valid JSON: line %d: %s", je.line,
                       ws_err_show(je.text, strlen(je.text), (char[WS_SHOW_BUF]){0}));
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        ws_json_in_bad(in, "not a JSON object");
        return NULL;
    }
    return root;
}

json_t *ws_json_in_field(ws_json_in *in, json_t *o, const char *key, bool required)
{
    json_t *v = o ? json_object_get(o, key) : NULL;

    if (!v && required)
        ws_json_in_bad(in, "missing field \"%s\"", key);
    return v;
}

static json_t *typed(ws_json_in *in, json_t *o, const char *key, json_type type, const char *type_name)
{
    json_t *v = ws_json_in_field(in, o, key, true);

    if (v && json_typeof(v) != type) {
        ws_json_in_bad(in, "field \"%s\" is not %s", key, type_name);
        return NULL;
    }
    return v;
}

json_t *ws_json_in_object(ws_json_in *in, json_t *o, const char *key)
{
    return typed(in, o, key, JSON_OBJECT, "an object");
}

json_t *ws_json_in_array(ws_json_in *in, json_t *o, const char *key)
{
    return typed(in, o, key, JSON_ARRAY, "an array");
}

int64_t ws_json_in_int(ws_json_in *in, json_t *o, const char *key, int64_t min, int64_t max)
{
    json_t *v = typed(in, o, key, JSON_INTEGER, "an integer");
    json_int_t n;

    if (!v)
        return min > 0 ? min : (max < 0 ? max : 0);
    n = json_integer_value(v);
    if (n < min || n > max) {
        ws_json_in_bad(in, "field \"%s\" is out of range (%" JSON_INTEGER_FORMAT ")", key, n);
        return min > 0 ? min : (max < 0 ? max : 0);
    }
    return n;
}

double ws_json_in_number(ws_json_in *in, json_t *o, const char *key, double min, double max)
{
    json_t *v = ws_json_in_field(in, o, key, true);
    double d;

    if (!v)
        return min;
    if (!json_is_number(v)) {
        ws_json_in_bad(in, "field \"%s\" is not a number", key);
        return min;
    }
    d = json_number_value(v);
    if (!(d >= min && d <= max)) {
        ws_json_in_bad(in, "field \"%s\" is out of range", key);
        return min;
    }
    return d;
}

bool ws_json_in_bool(ws_json_in *in, json_t *o, const char *key)
{
    json_t *v = ws_json_in_field(in, o, key, true);

    if (v && !json_is_boolean(v)) {
        ws_json_in_bad(in, "field \"%s\" is not true or false", key);
        return false;
    }
    return v && json_is_true(v);
}

const char *ws_json_in_str(ws_json_in *in, json_t *o, const char *key, bool required)
{
    json_t *v = ws_json_in_field(in, o, key, required);
    const char *s;

    if (!v)
        return NULL;
    if (!json_is_string(v)) {
        ws_json_in_bad(in, "field \"%s\" is not a string", key);
        return NULL;
    }
    s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) {
        ws_json_in_bad(in, "field \"%s\" holds a NUL byte", key);
        return NULL;
    }
    return s;
}

uint64_t ws_json_in_lsn(ws_json_in *in, json_t *o, const char *key)
{
    const char *s = ws_json_in_str(in, o, key, true);
    uint64_t lsn = 0;

    if (s && ws_wal_name_parse_lsn(s, &lsn) < 0)
        ws_json_in_bad(in, "field \"%s\" is not an LSN (\"%.40s\")", key, s);
    return lsn;
}

void ws_json_in_sha256(ws_json_in *in, json_t *o, const char *key, uint8_t out[32])
{
    const char *s = ws_json_in_str(in, o, key, true);

    memset(out, 0, 32);
    if (s && ws_hex_decode(s, strlen(s), out, 32) < 0) {
        memset(out, 0, 32);
        ws_json_in_bad(in, "field \"%s\" is not 64 lower-case hex digits", key);
    }
}

uint64_t ws_json_in_u64_text(ws_json_in *in, json_t *o, const char *key)
{
    const char *s = ws_json_in_str(in, o, key, true);
    unsigned long long v;
    char *end;

    if (!s)
        return 0;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1])) {
        ws_json_in_bad(in, "field \"%s\" is not a decimal number (\"%.40s\")", key, s);
        return 0;
    }
    return v;
}
