/*
 * s3_xml.h - parsing of the S3 XML documents the driver reads (libxml2):
 * ListObjectsV2 results, Error documents, InitiateMultipartUploadResult,
 * CompleteMultipartUpload results and DeleteObjects results; and STS's
 * AssumeRoleWithWebIdentity answer (temporary credentials).
 *
 * Elements are matched by local name (S3 puts them in its 2006-03-01
 * namespace, s3rver and others sometimes do not).  Entities are never
 * expanded beyond XML's predefined ones and no network access is made.
 * Malformed input gives WS_ERR_CORRUPT with a one-line cause, never a crash.
 */
#ifndef WALSHIP_S3_XML_H
#define WALSHIP_S3_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

/* Larger documents are refused (a 1000-key page is a few hundred KiB). */
#define WS_S3_XML_MAX (8u * 1024 * 1024)

#define WS_S3_CODE_MAX    64
#define WS_S3_MESSAGE_MAX 256

typedef struct ws_s3_list_item {
    char *key;     /* full key as stored (unescaped) */
    uint64_t size; /* 0 for a common prefix */
    bool is_prefix;
} ws_s3_list_item;

typedef struct ws_s3_list_page {
    ws_s3_list_item *items; /* Contents then CommonPrefixes, document order */
    size_t n;
    bool truncated;
    char *next_token; /* NextContinuationToken, NULL when absent */
} ws_s3_list_page;

/* A ListBucketResult (ListObjectsV2).  A truncated page without a token is an
 * error (paging could not go on). */
int ws_s3_xml_parse_list(const char *xml, size_t len, ws_s3_list_page *out, ws_err *err);
void ws_s3_list_page_free(ws_s3_list_page *p);

typedef struct ws_s3_error_doc {
    char code[WS_S3_CODE_MAX];       /* "" when absent */
    char message[WS_S3_MESSAGE_MAX]; /* "" when absent; truncated, printable */
} ws_s3_error_doc;

/* 1 when xml is an <Error> document (fields filled), 0 when it is well-formed
 * but something else, -1 when it is not XML at all (err filled). */
int ws_s3_xml_parse_error(const char *xml, size_t len, ws_s3_error_doc *out, ws_err *err);

/* The UploadId of an InitiateMultipartUploadResult (malloc'd). */
int ws_s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id, ws_err *err);

/* A CompleteMultipartUpload answer: 0 for a CompleteMultipartUploadResult,
 * -1 for an Error document (S3 may send one with status 200) or anything else. */
int ws_s3_xml_check_complete(const char *xml, size_t len, ws_s3_error_doc *edoc, ws_err *err);

typedef struct ws_s3_delete_error {
    char *key;
    char code[WS_S3_CODE_MAX];
    char message[WS_S3_MESSAGE_MAX];
} ws_s3_delete_error;

typedef struct ws_s3_delete_result {
    ws_s3_delete_error *errors;
    size_t nerrors;
    size_t ndeleted;
} ws_s3_delete_result;

/* A DeleteResult: per-key <Error> entries collected in out. */
int ws_s3_xml_parse_delete(const char *xml, size_t len, ws_s3_delete_result *out, ws_err *err);
void ws_s3_delete_result_free(ws_s3_delete_result *r);

/* The Credentials of an AssumeRoleWithWebIdentityResponse (malloc'd). */
typedef struct ws_s3_sts_creds {
    char *access_key;
    char *secret_key; /* wiped when freed */
    char *session_token;
    char *expiration; /* as sent, e.g. "2014-10-24T23:00:23Z" */
} ws_s3_sts_creds;

/* An AssumeRoleWithWebIdentityResponse: its Credentials into *out (all four
 * fields required), 0.  An STS <ErrorResponse>: edoc filled, 1.  Anything
 * else: -1 (WS_ERR_CORRUPT). */
int ws_s3_xml_parse_sts(const char *xml, size_t len, ws_s3_sts_creds *out, ws_s3_error_doc *edoc, ws_err *err);
void ws_s3_sts_creds_free(ws_s3_sts_creds *c);

/* Appends s with & < > " ' escaped (for request bodies). */
struct ws_buf;
void ws_s3_xml_escape(struct ws_buf *b, const char *s);

#endif
