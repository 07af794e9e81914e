/*
 * fuzz_config.c - libFuzzer target for the config file parser: any input
 * must give success or a one-line error, never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "walship/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ws_config cfg;
    ws_err err;

    if (ws_config_defaults(&cfg, &err) < 0)
        return 0;
    if (ws_config_parse_buffer(&cfg, "fuzz.conf", (const char *) data, size, &err) < 0) {
        /* Errors are one line, and always say something. */
        if (err.msg[0] == '\0' || memchr(err.msg, '\n', strlen(err.msg)))
            __builtin_trap();
    }
    ws_config_free(&cfg);
    return 0;
}
