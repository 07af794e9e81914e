/* tar_header.c - tar header fields (tar_header.h). */
#include "walship/tar_header.h"

#include <stdio.h>
#include <string.h>

uint64_t ws_tar_header_padded(uint64_t n)
{
    return (n + WS_TAR_BLOCK - 1) / WS_TAR_BLOCK * WS_TAR_BLOCK;
}

int ws_tar_header_number(const uint8_t *f, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;

    if (f[0] & 0x80) {
        if (f[0] != 0x80)
            return -1; /* negative, or beyond 2^(8*(n-1)) */
        for (i = 1; i < n; i++) {
            if (v >> 56)
                return -1;
            v = v << 8 | f[i];
        }
        *out = v;
        return 0;
    }
    while (i < n && f[i] == ' ')
        i++;
    if (i == n || f[i] < '0' || f[i] > '7')
        return -1;
    for (; i < n && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 61)
            return -1;
        v = v << 3 | (uint64_t) (f[i] - '0');
    }
    for (; i < n; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = v;
    return 0;
}

bool ws_tar_header_checksum_ok(const uint8_t h[WS_TAR_BLOCK])
{
    uint64_t stored;
    unsigned long usum = 0;
    long ssum = 0;

    if (ws_tar_header_number(h + 148, 8, &stored) < 0)
        return false;
    for (int i = 0; i < WS_TAR_BLOCK; i++) {
        uint8_t c = (i >= 148 && i < 156) ? ' ' : h[i];

        usum += c;
        ssum += (signed char) c;
    }
    return stored == usum || (ssum >= 0 && stored == (uint64_t) ssum);
}

bool ws_tar_header_all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

void ws_tar_header_name(const uint8_t h[WS_TAR_BLOCK], char *out, size_t outlen)
{
    size_t nlen = strnlen((const char *) h, 100);

    if (memcmp(h + 257, "ustar", 5) == 0 && h[345]) {
        size_t plen = strnlen((const char *) h + 345, 155);

        snprintf(out, outlen, "%.*s/%.*s", (int) plen, (const char *) h + 345, (int) nlen, (const char *) h);
    } else
        snprintf(out, outlen, "%.*s", (int) nlen, (const char *) h);
}

void ws_tar_header_linkname(const uint8_t h[WS_TAR_BLOCK], char *out, size_t outlen)
{
    snprintf(out, outlen, "%.*s", (int) strnlen((const char *) h + 157, 100), (const char *) h + 157);
}

int ws_tar_header_pax_value(const uint8_t *p, uint64_t n, const char *keyword, char *out, size_t outlen)
{
    const uint8_t *end = p + n;
    size_t klen = strlen(keyword);
    int found = 0;

    while (p < end) {
        uint64_t len = 0;
        const uint8_t *q = p;

        while (q < end && *q >= '0' && *q <= '9' && len <= n)
            len = len * 10 + (uint64_t) (*q++ - '0');
        if (q == p || q >= end || *q != ' ' || len == 0 || len > (uint64_t) (end - p) || p[len - 1] != '\n')
            return -1;
        q++;
        if ((size_t) (p + len - q) > klen && memcmp(q, keyword, klen) == 0 && q[klen] == '=') {
            const uint8_t *v = q + klen + 1;
            size_t vlen = (size_t) (p + len - 1 - v);

            if (vlen >= outlen || memchr(v, '\0', vlen))
                return -1;
            memcpy(out, v, vlen);
            out[vlen] = '\0';
            found = 1; /* a later record of the same keyword wins */
        }
        p += len;
    }
    return found;
}
