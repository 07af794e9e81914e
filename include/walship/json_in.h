/*
 * json_in.h - reading JSON documents field by field with one error.
 *
 * A reader remembers the first problem ("what: field "x" is not an
 * integer") and every later call returns a neutral value, so a parser reads
 * all fields straight through and checks ws_json_in_failed() once.  Errors
 * are WS_ERR_CORRUPT: the document is walship's own and should be right.
 */
#ifndef WALSHIP_JSON_IN_H
#define WALSHIP_JSON_IN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "walship/error.h"

typedef struct ws_json_in {
    const char *what; /* names the document in messages */
    ws_err *err;
    bool failed;
} ws_json_in;

void ws_json_in_init(ws_json_in *in, const char *what, ws_err *err);

/* Parses buf[0..len) as one JSON object (at most max bytes); NULL with the
 * reader failed otherwise.  The caller json_decref()s it. */
json_t *ws_json_in_parse(ws_json_in *in, const char *buf, size_t len, size_t max);

/* Records the problem (only the first one counts). */
void ws_json_in_bad(ws_json_in *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool ws_json_in_failed(const ws_json_in *in)
{
    return in->failed;
}

/* The field, or NULL (an error when required). */
json_t *ws_json_in_field(ws_json_in *in, json_t *o, const char *key, bool required);
/* An object or array field (required); NULL on error. */
json_t *ws_json_in_object(ws_json_in *in, json_t *o, const char *key);
json_t *ws_json_in_array(ws_json_in *in, json_t *o, const char *key);
/* An integer in [min, max]. */
int64_t ws_json_in_int(ws_json_in *in, json_t *o, const char *key, int64_t min, int64_t max);
/* A number (integer or real) in [min, max]. */
double ws_json_in_number(ws_json_in *in, json_t *o, const char *key, double min, double max);
bool ws_json_in_bool(ws_json_in *in, json_t *o, const char *key);
/* A string without NUL bytes; NULL when absent and not required. */
const char *ws_json_in_str(ws_json_in *in, json_t *o, const char *key, bool required);
/* PostgreSQL's "X/X" notation. */
uint64_t ws_json_in_lsn(ws_json_in *in, json_t *o, const char *key);
/* 64 lower-case hex digits. */
void ws_json_in_sha256(ws_json_in *in, json_t *o, const char *key, uint8_t out[32]);
/* A decimal string of an unsigned 64-bit number (JSON integers are signed). */
uint64_t ws_json_in_u64_text(ws_json_in *in, json_t *o, const char *key);

#endif
