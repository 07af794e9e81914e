/*
 * fuzz_archive_ack.c - libFuzzer target for walship-push's ack records
 * (archive_ack.h): any input parses or fails with a one-line error, and
 * whatever parses is the canonical text: formatting it again gives the
 * same bytes, so no two texts mean the same ack.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "walship/archive_ack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ws_ack a;
    ws_err err;
    char *text;

    ws_err_clear(&err);
    if (ws_archive_ack_parse((const char *) data, size, "fuzz.ack", &a, &err) < 0) {
        if (err.msg[0] == '\0' || memchr(err.msg, '\n', strlen(err.msg)))
            __builtin_trap();
        return 0;
    }
    text = ws_archive_ack_format(&a, &err);
    if (!text || strlen(text) != size || memcmp(text, data, size) != 0)
        __builtin_trap();
    free(text);
    return 0;
}
