/* hex.c - lower-case hexadecimal (see hex.h). */
#include "walship/hex.h"

#include <stdint.h>

static const char digits[] = "0123456789abcdef";

void ws_hex_encode(const void *in, size_t n, char *out)
{
    const uint8_t *p = in;

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int ws_hex_decode(const char *in, size_t len, void *out, size_t n)
{
    uint8_t *p = out;

    if (len != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = digit(in[2 * i]), lo = digit(in[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return -1;
        p[i] = (uint8_t) (hi << 4 | lo);
    }
    return 0;
}
