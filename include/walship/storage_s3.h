/*
 * storage_s3.h - the s3:// driver's multipart sizing (storage_s3.c).
 *
 * A put buffers one part in memory.  Part sizes: the first part is
 * max(default, size_hint / 10000 rounded up to 1 MiB), or the hint rounded
 * up to 1 MiB when it is at most an eighth above the default (a 16 MiB WAL
 * segment that does not compress, plus the codec's framing, is then one PUT
 * rather than a multipart upload of two parts); then the size doubles
 * after every 1000 parts (part n is base * 2^((n-1)/1000)), capped at 5 GiB.
 * So an upload whose hint was right never needs growth, and one without a
 * hint (or one that outgrows it) reaches 10,000 parts only beyond ~13 TiB
 * with the 16 MiB default, above S3's 5 TiB object limit.
 */
#ifndef WALSHIP_STORAGE_S3_H
#define WALSHIP_STORAGE_S3_H

#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/storage.h"

#define WS_S3_PART_MIN       (5ULL << 20) /* S3's minimum (all parts but the last) */
#define WS_S3_PART_DEFAULT   (16ULL << 20)
#define WS_S3_PART_MAX       (5ULL << 30) /* S3's maximum */
#define WS_S3_MAX_PARTS      10000u
#define WS_S3_PARTS_PER_STEP 1000u /* parts between doublings */

/* Size of the first part for an expected object size (0 = unknown). */
uint64_t ws_storage_s3_part_base(uint64_t size_hint, uint64_t default_part);

/* Size of part number n (1-based) of an upload whose first part is base. */
uint64_t ws_storage_s3_part_size(uint64_t base, unsigned n);

/* Changes the default part size of an open s3:// storage (tests,
 * benchmarks); at least WS_S3_PART_MIN. */
int ws_storage_s3_set_part_size(ws_storage *st, uint64_t bytes, ws_err *err);

#endif
