/*
 * tar_header.h - the fields of tar headers (POSIX ustar, with pax 'x'/'g'
 * and GNU 'L'/'K' extended headers), shared by the tar splitter
 * (tar_split.h) and the tar reader (tar_reader.h).
 */
#ifndef WALSHIP_TAR_HEADER_H
#define WALSHIP_TAR_HEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_TAR_BLOCK    512
#define WS_TAR_EXT_MAX  (64u * 1024u) /* bytes of extended headers before one member */
#define WS_TAR_PATH_MAX 4096

/* n rounded up to whole blocks. */
uint64_t ws_tar_header_padded(uint64_t n);

/* A numeric field: octal (leading spaces, digits, then spaces or NULs) or,
 * for numbers too large for octal, base-256 (first byte 0x80).  -1 when
 * malformed or negative. */
int ws_tar_header_number(const uint8_t *field, size_t n, uint64_t *out);

/* Whether the header's checksum field matches its bytes (unsigned sum, or
 * the signed sum some old writers used). */
bool ws_tar_header_checksum_ok(const uint8_t h[WS_TAR_BLOCK]);

bool ws_tar_header_all_zero(const uint8_t *p, size_t n);

/* The header's own name: ustar "prefix/name", else name (at most 255 bytes). */
void ws_tar_header_name(const uint8_t h[WS_TAR_BLOCK], char *out, size_t outlen);

/* The header's link name (at most 100 bytes). */
void ws_tar_header_linkname(const uint8_t h[WS_TAR_BLOCK], char *out, size_t outlen);

/* The value of a pax extended header's record "keyword=value" in
 * data[0..n): 1 found (copied to out, NUL-terminated), 0 absent, -1 the
 * records are malformed or the value does not fit in outlen - 1 bytes (or
 * holds a NUL byte). */
int ws_tar_header_pax_value(const uint8_t *data, uint64_t n, const char *keyword, char *out, size_t outlen);

#endif
