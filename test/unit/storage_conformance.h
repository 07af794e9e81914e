/*
 * storage_conformance.h - the storage test cases every driver must pass.
 *
 * A driver's test program registers the cases with a factory that opens a
 * storage (and a matching close); the cases are then run by Check like any
 * other.  Each case keeps its keys under its own namespace (key_prefix, the
 * case name and the pid), so a shared bucket or directory works too.
 */
#ifndef WALSHIP_TEST_STORAGE_CONFORMANCE_H
#define WALSHIP_TEST_STORAGE_CONFORMANCE_H

#include <stdbool.h>
#include <stddef.h>

#include <check.h>

#include "walship/storage.h"

typedef struct ws_conformance_opts {
    bool meta_roundtrip;    /* head must return the metadata stored with put */
    size_t many_keys;       /* keys in the paging test; 0 = 1100 (crosses S3's 1000) */
    size_t big_size;        /* bytes of the large round trip; 0 = 20 MiB */
    const char *key_prefix; /* put before every key, e.g. "ci/"; NULL = none */
    int timeout;            /* seconds per case; 0 = 120 */
} ws_conformance_opts;

/*
 * Adds one TCase named `name` with every conformance case to s.  open_fn
 * returns a storage or NULL (the case then fails); close_fn (may be NULL,
 * then ws_storage_close is used) is called once per case.  opts may be NULL.
 * At most 8 registrations per program.
 */
void ws_conformance_add(Suite *s, const char *name, ws_storage *(*open_fn)(void *arg),
                        void (*close_fn)(ws_storage *st, void *arg), void *arg, const ws_conformance_opts *opts);

#endif
