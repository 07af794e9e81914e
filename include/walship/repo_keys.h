/*
 * repo_keys.h - object keys in a repository (doc/format.md, "Object keys").
 *
 * Every key ends in WS_OBJ_SUFFIX and its variable parts are fixed-width hex,
 * so keys sort in WAL order and no key is a prefix of another key (S3
 * listing and s3rver's paging rely on it).
 */
#ifndef WALSHIP_REPO_KEYS_H
#define WALSHIP_REPO_KEYS_H

#include <stddef.h>

#include "walship/error.h"
#include "walship/wal_name.h"

#define WS_OBJ_SUFFIX ".ws"
#define WS_KEY_MAX    256

/* wal/<TTTTTTTTXXXXXXXX>/<file name>.ws for segments, .partial and .backup
 * files; wal/history/<TTTTTTTT>.history.ws for history files. */
int ws_repo_keys_wal(const char *wal_file_name, char *out, size_t outlen, ws_err *err);

/* The listing prefix of one timeline's segments with this log id. */
int ws_repo_keys_wal_dir(unsigned tli, unsigned log, char *out, size_t outlen);

/* Reverses ws_repo_keys_wal: the WAL file name a key stores, or -1. */
int ws_repo_keys_wal_name(const char *key, char *out, size_t outlen, ws_err *err);

/* index/<TTTTTTTTXXXXXXXX>/<name>.ws: the WAL index entry (wal_index.h) of a
 * segment or .partial file name. */
int ws_repo_keys_index(const char *segment, char *out, size_t outlen, ws_err *err);

/* Free-form objects stored by `walship repo-put` live under user/. */
int ws_repo_keys_user(const char *name, char *out, size_t outlen, ws_err *err);

#endif
