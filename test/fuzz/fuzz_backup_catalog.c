/*
 * fuzz_backup_catalog.c - libFuzzer target for the backup catalog reader
 * (backup_catalog.h): any input parses or fails with a one-line error, and
 * a record that parses is written and read back to the same JSON.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "walship/backup_catalog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ws_backup_record r, again;
    ws_err err;
    char *text, *text2;

    ws_err_clear(&err);
    if (ws_backup_record_from_json((const char *) data, size, "catalog/fuzz.ws", &r, &err) < 0) {
        if (err.msg[0] == '\0' || memchr(err.msg, '\n', strlen(err.msg)))
            __builtin_trap();
        return 0;
    }
    text = ws_backup_record_to_json(&r, false, &err);
    if (!text)
        __builtin_trap();
    if (ws_backup_record_from_json(text, strlen(text), "again", &again, &err) < 0)
        __builtin_trap();
    text2 = ws_backup_record_to_json(&again, false, &err);
    if (!text2 || strcmp(text, text2) != 0)
        __builtin_trap();
    free(text);
    free(text2);
    ws_backup_record_free(&r);
    ws_backup_record_free(&again);
    return 0;
}
