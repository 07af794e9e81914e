/*
 * hex.h - lower-case hexadecimal, the form walship writes everywhere
 * (digests, key ids, state files).  Decoding accepts exactly that form.
 */
#ifndef WALSHIP_HEX_H
#define WALSHIP_HEX_H

#include <stddef.h>

/* Writes 2n lower-case digits and a NUL to out (2n + 1 bytes). */
void ws_hex_encode(const void *in, size_t n, char *out);

/* Decodes exactly 2n lower-case hex digits in[0..len) into out[0..n);
 * -1 (out unspecified) on any other length or character. */
int ws_hex_decode(const char *in, size_t len, void *out, size_t n);

#endif
