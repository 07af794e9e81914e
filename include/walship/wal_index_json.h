/*
 * wal_index_json.h - the JSON form of a WAL index entry (wal_index.h), as
 * stored in the repository (doc/format.md, "WAL segment index").
 */
#ifndef WALSHIP_WAL_INDEX_JSON_H
#define WALSHIP_WAL_INDEX_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "walship/error.h"
#include "walship/wal_index.h"

/* The entry as JSON (malloc'd, NUL-terminated); pretty: indented. */
char *ws_wal_index_json_format(const ws_wal_index *ix, bool pretty, ws_err *err);

/* Parses and checks an entry (what names it in messages); WS_ERR_FORMAT
 * for another version, WS_ERR_CORRUPT for anything else wrong. */
int ws_wal_index_json_parse(const char *buf, size_t len, const char *what, ws_wal_index *out, ws_err *err);

#endif
