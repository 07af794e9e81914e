/*
 * kvrec.h - the one text format of walship's local state files (archive
 * acknowledgements, the prefetch spool's state and want files, the archive
 * backlog; doc/format.md, "Local state files"):
 *
 *   MAGIC VERSION\n          e.g. "walship-ack 1"
 *   key value\n              the record's keys, each once, in a fixed order
 *   ...
 *   check SHA256\n           optional: SHA-256 (lower-case hex) of every
 *                            byte before this line
 *
 * Values are printable ASCII (no control character); an empty value is
 * written "-", so "-" itself cannot be stored.  Reading is strict: the
 * magic, the version, exactly the expected keys in order, the check line
 * when one is expected, and nothing after; any deviation is
 * WS_ERR_CORRUPT naming the file, so a damaged or foreign file is never
 * taken for a valid one.
 */
#ifndef WALSHIP_KVREC_H
#define WALSHIP_KVREC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/buf.h"
#include "walship/error.h"

#define WS_KVREC_FIELDS_MAX 16

/* --- writing: begin, add the fields in order, end ---------------------- */

int ws_kvrec_begin(ws_buf *b, const char *magic, unsigned version, ws_err *err);
/* value "" is written as "-"; a value with a control character or "-"
 * itself is refused (WS_ERR_INVALID). */
int ws_kvrec_add(ws_buf *b, const char *key, const char *value, ws_err *err);
int ws_kvrec_add_u64(ws_buf *b, const char *key, uint64_t v, ws_err *err);
int ws_kvrec_add_i64(ws_buf *b, const char *key, int64_t v, ws_err *err);
int ws_kvrec_add_hex(ws_buf *b, const char *key, const void *bytes, size_t n, ws_err *err);
/* With check, appends the check line. */
int ws_kvrec_end(ws_buf *b, bool check, ws_err *err);

/* --- reading ------------------------------------------------------------ */

typedef struct ws_kvrec {
    const char *what; /* names the file in messages */
    const char *const *keys;
    size_t n;
    struct {
        const char *val; /* points into the parsed text */
        size_t len;
    } v[WS_KVREC_FIELDS_MAX];
} ws_kvrec;

/* Parses buf[0..len) as a record of exactly keys[0..nkeys) (at most
 * WS_KVREC_FIELDS_MAX); out points into buf afterwards. */
int ws_kvrec_parse(const char *buf, size_t len, const char *magic, unsigned version, const char *const *keys,
                   size_t nkeys, bool check, const char *what, ws_kvrec *out, ws_err *err);

/* Field i as text into out (outlen bytes with the NUL): "-" reads as "". */
int ws_kvrec_text(const ws_kvrec *r, size_t i, char *out, size_t outlen, ws_err *err);
/* Field i as a decimal number as written (no sign, no leading zero), at most max. */
int ws_kvrec_u64(const ws_kvrec *r, size_t i, uint64_t max, uint64_t *out, ws_err *err);
int ws_kvrec_i64(const ws_kvrec *r, size_t i, int64_t *out, ws_err *err);
/* Field i as exactly n bytes in lower-case hex. */
int ws_kvrec_hex(const ws_kvrec *r, size_t i, void *out, size_t n, ws_err *err);
/* Whether field i is the empty value "-". */
bool ws_kvrec_empty(const ws_kvrec *r, size_t i);

#endif
