/*
 * storage_count.h - a storage that counts the operations made through it
 * and passes them to another (the storage requests a plan made, say).
 * One list() counts as one operation, however many pages the driver reads.
 */
#ifndef WALSHIP_STORAGE_COUNT_H
#define WALSHIP_STORAGE_COUNT_H

#include <stdint.h>

#include "walship/storage.h"

typedef struct ws_storage_counts {
    uint64_t get, head, list, put, remove;
} ws_storage_counts;

/* Wraps inner, which the new storage owns (closing it closes inner). */
ws_storage *ws_storage_count_new(ws_storage *inner, ws_err *err);

/* The counts so far of a storage made by ws_storage_count_new (all zero
 * for any other storage); safe while other threads use it. */
void ws_storage_count_get(const ws_storage *st, ws_storage_counts *out);

/* get + head + list + put + remove. */
uint64_t ws_storage_counts_total(const ws_storage_counts *c);

#endif
