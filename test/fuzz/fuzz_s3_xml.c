/*
 * fuzz_s3_xml.c - libFuzzer target for the S3 XML parsers (ListObjectsV2
 * pages, Error documents, multipart and DeleteObjects results, STS
 * credentials): any input must give a result or a one-line error, never a
 * crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "walship/s3_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(const ws_err *err)
{
    if (err->msg[0] == '\0' || memchr(err->msg, '\n', strlen(err->msg)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *) data;
    ws_err err;

    ws_s3_list_page pg;
    if (ws_s3_xml_parse_list(xml, size, &pg, &err) == 0) {
        for (size_t i = 0; i < pg.n; i++)
            if (!pg.items[i].key || (!pg.items[i].is_prefix && !pg.items[i].key[0]))
                __builtin_trap();
        if (pg.truncated && (!pg.next_token || !pg.next_token[0]))
            __builtin_trap();
        ws_s3_list_page_free(&pg);
    } else {
        check_err(&err);
        if (pg.items || pg.next_token)
            __builtin_trap();
    }

    ws_s3_error_doc e;
    int r = ws_s3_xml_parse_error(xml, size, &e, &err);
    if (r < 0)
        check_err(&err);
    else if (memchr(e.message, '\n', strlen(e.message)))
        __builtin_trap();

    char *id = NULL;
    if (ws_s3_xml_parse_upload_id(xml, size, &id, &err) == 0)
        free(id);
    else
        check_err(&err);

    if (ws_s3_xml_check_complete(xml, size, &e, &err) < 0)
        check_err(&err);

    ws_s3_delete_result d;
    if (ws_s3_xml_parse_delete(xml, size, &d, &err) == 0)
        ws_s3_delete_result_free(&d);
    else
        check_err(&err);

    ws_s3_sts_creds sc;
    r = ws_s3_xml_parse_sts(xml, size, &sc, &e, &err);
    if (r == 0) {
        if (!sc.access_key[0] || !sc.secret_key[0] || !sc.session_token[0] || !sc.expiration[0])
            __builtin_trap();
        ws_s3_sts_creds_free(&sc);
    } else if (r < 0) {
        check_err(&err);
    }
    if (sc.access_key || sc.secret_key)
        __builtin_trap();
    return 0;
}
