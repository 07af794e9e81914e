/* filter_sha256.h - pass-through filter that hashes and counts the bytes. */
#ifndef WALSHIP_FILTER_SHA256_H
#define WALSHIP_FILTER_SHA256_H

#include "walship/sink.h"
#include <stdbool.h>

#define WS_SHA256_LEN 32

/* next may be NULL: then the filter only hashes. */
ws_sink *ws_filter_sha256_new(ws_sink *next, ws_err *err);

/* Valid once finish() ran: the digest and byte count of what passed. */
bool ws_filter_sha256_result(const ws_sink *s, uint8_t digest[WS_SHA256_LEN], uint64_t *size);

/* Lower-case hex of a digest; out has room for 65 bytes. */
void ws_filter_sha256_hex(const uint8_t digest[WS_SHA256_LEN], char out[65]);

#endif
