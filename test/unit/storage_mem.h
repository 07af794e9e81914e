/*
 * storage_mem.h - an in-memory storage driver behind storage.h, for unit
 * tests of the push and fetch decisions: fast, and with fault injection.
 *
 * Objects live in the process; puts appear at commit.  Faults: the Nth call
 * of an operation (or every call) fails with a given error code, or a get
 * delivers only the first bytes of the object and then reports success (a
 * short read: what the codec must catch).  Locks are optional, to test both
 * kinds of storage (file:// has them, S3 has none): flock()s on files of a
 * private temp directory, removed with the storage.
 */
#ifndef WALSHIP_TEST_STORAGE_MEM_H
#define WALSHIP_TEST_STORAGE_MEM_H

#include <stdbool.h>
#include <stddef.h>

#include "walship/storage.h"

typedef enum {
    WS_STORAGE_MEM_PUT, /* put_begin */
    WS_STORAGE_MEM_COMMIT,
    WS_STORAGE_MEM_GET,
    WS_STORAGE_MEM_HEAD,
    WS_STORAGE_MEM_LIST,
    WS_STORAGE_MEM_REMOVE,
    WS_STORAGE_MEM_NOPS
} ws_storage_mem_op;

typedef struct ws_storage_mem_fault {
    ws_storage_mem_op op;
    unsigned nth;    /* the nth call of op from now (1 = the next), 0 = every call */
    ws_errcode code; /* fail with this code (WS_OK: no failure) */
    bool short_read; /* get: deliver only short_len bytes, then succeed */
    size_t short_len;
    const char *key; /* only calls on this key (NULL: any) */
} ws_storage_mem_fault;

/* A new empty storage named url (for messages); with_locks gives it a lock
 * operation.  NULL when out of memory. */
ws_storage *ws_storage_mem_new(const char *url, bool with_locks);

/* Whether puts offer ws_put_commit_new (as S3 with s3_conditional_put). */
void ws_storage_mem_set_commit_new(ws_storage *st, bool on);

/* Adds a fault (at most 16); ws_storage_mem_clear_faults removes them. */
void ws_storage_mem_add_fault(ws_storage *st, const ws_storage_mem_fault *f);
void ws_storage_mem_clear_faults(ws_storage *st);

/* Calls of op so far. */
unsigned ws_storage_mem_calls(const ws_storage *st, ws_storage_mem_op op);

/* Behind walship's back: replaces an object's bytes (keeping or dropping
 * its metadata), reads them, counts objects. */
void ws_storage_mem_poke(ws_storage *st, const char *key, const void *data, size_t len, bool keep_meta);
const void *ws_storage_mem_peek(const ws_storage *st, const char *key, size_t *len);
size_t ws_storage_mem_count(const ws_storage *st);

#endif
