/*
 * s3_xml.c - S3 XML responses through libxml2 (see s3_xml.h).
 *
 * Documents are parsed into a tree (they are bounded by WS_S3_XML_MAX) with
 * network access off and a DTD refused outright, so no entity other than the
 * predefined ones can ever be expanded (no XXE, no "billion laughs").  Text is
 * read from text/CDATA children only.
 */
#include "walship/s3_xml.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include "walship/buf.h"
#include "walship/s3_sign.h"

#define PARSE_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS)

/* Copies src into dst (size n), replacing control characters by '?' so an
 * error line stays one printable line. */
static void copy_printable(char *dst, size_t n, const char *src)
{
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++) {
        unsigned char c = (unsigned char) src[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? '?' : (char) c;
    }
    if (n)
        dst[i] = '\0';
}

static xmlDocPtr parse(const char *xml, size_t len, const char *what, ws_err *err)
{
    if (!xml || len == 0) {
        ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: empty document", what);
        return NULL;
    }
    if (len > WS_S3_XML_MAX) {
        ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: document of %zu bytes exceeds the %u-byte limit", what, len,
                   WS_S3_XML_MAX);
        return NULL;
    }
    xmlResetLastError();
    xmlDocPtr doc = xmlReadMemory(xml, (int) len, "s3-response.xml", NULL, PARSE_OPTS);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        char msg[200];
        copy_printable(msg, sizeof msg, e && e->message ? e->message : "not well-formed");
        size_t ml = strlen(msg);
        while (ml && (msg[ml - 1] == ' ' || msg[ml - 1] == '?'))
            msg[--ml] = '\0';
        ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: line %d: %s", what, e ? e->line : 0, msg);
        return NULL;
    }
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: a DTD is not allowed", what);
        return NULL;
    }
    if (!xmlDocGetRootElement(doc)) {
        xmlFreeDoc(doc);
        ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: no root element", what);
        return NULL;
    }
    return doc;
}

static bool is_elem(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *) n->name, name) == 0;
}

/* Concatenated text/CDATA children (malloc'd, "" when none); NULL on OOM. */
static char *text_of(const xmlNode *n)
{
    ws_buf b;
    ws_buf_init(&b);
    ws_buf_adds(&b, "");
    for (const xmlNode *c = n->children; c; c = c->next) {
        if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
            ws_buf_adds(&b, (const char *) c->content);
    }
    if (b.oom) {
        ws_buf_free(&b);
        return NULL;
    }
    return b.data;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (is_elem(c, name))
            return c;
    return NULL;
}

/* Text of the named child into a fixed buffer ("" when absent). */
static void child_text_fixed(const xmlNode *n, const char *name, char *dst, size_t dstlen)
{
    dst[0] = '\0';
    const xmlNode *c = child(n, name);
    if (!c)
        return;
    char *t = text_of(c);
    copy_printable(dst, dstlen, t ? t : "");
    free(t);
}

static void fill_error_doc(const xmlNode *root, ws_s3_error_doc *out)
{
    child_text_fixed(root, "Code", out->code, sizeof out->code);
    child_text_fixed(root, "Message", out->message, sizeof out->message);
}

int ws_s3_xml_parse_error(const char *xml, size_t len, ws_s3_error_doc *out, ws_err *err)
{
    out->code[0] = out->message[0] = '\0';
    xmlDocPtr doc = parse(xml, len, "S3 error document", err);
    if (!doc)
        return -1;
    const xmlNode *root = xmlDocGetRootElement(doc);
    int rc = 0;
    if (is_elem(root, "Error")) {
        fill_error_doc(root, out);
        rc = 1;
    }
    xmlFreeDoc(doc);
    return rc;
}

/* An <Error> root where another document was expected. */
static int unexpected_root(const xmlNode *root, const char *what, ws_err *err)
{
    if (is_elem(root, "Error")) {
        ws_s3_error_doc e;
        fill_error_doc(root, &e);
        return ws_err_set(err, WS_ERR_STORAGE, "%s: S3 error %s: %s", what, e.code[0] ? e.code : "(no code)",
                          e.message);
    }
    char name[64];
    copy_printable(name, sizeof name, (const char *) root->name);
    return ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: unexpected root element <%s>", what, name);
}

/* Parses a document whose root must be the element 'name'; NULL (err set,
 * nothing to free) when it cannot be parsed or has another root. */
static xmlDocPtr parse_rooted(const char *xml, size_t len, const char *name, const char *what, const xmlNode **root,
                              ws_err *err)
{
    xmlDocPtr doc = parse(xml, len, what, err);

    if (!doc)
        return NULL;
    *root = xmlDocGetRootElement(doc);
    if (!is_elem(*root, name)) {
        unexpected_root(*root, what, err);
        xmlFreeDoc(doc);
        return NULL;
    }
    return doc;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned) (*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

void ws_s3_list_page_free(ws_s3_list_page *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].key);
    free(p->items);
    free(p->next_token);
    memset(p, 0, sizeof *p);
}

static int list_add(ws_s3_list_page *p, size_t *cap, char *key, uint64_t size, bool is_prefix)
{
    if (ws_buf_grow_array((void **) &p->items, cap, p->n + 1, sizeof *p->items, NULL) < 0)
        return -1;
    p->items[p->n].key = key;
    p->items[p->n].size = size;
    p->items[p->n].is_prefix = is_prefix;
    p->n++;
    return 0;
}

int ws_s3_xml_parse_list(const char *xml, size_t len, ws_s3_list_page *out, ws_err *err)
{
    static const char what[] = "ListObjectsV2 response";
    memset(out, 0, sizeof *out);
    const xmlNode *root;
    xmlDocPtr doc = parse_rooted(xml, len, "ListBucketResult", what, &root, err);
    if (!doc)
        return -1;
    size_t cap = 0;
    char *t = NULL;
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (is_elem(c, "IsTruncated")) {
            if (!(t = text_of(c)))
                goto oom;
            if (strcmp(t, "true") == 0)
                out->truncated = true;
            else if (strcmp(t, "false") != 0) {
                ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: IsTruncated is neither true nor false", what);
                goto fail;
            }
            free(t);
            t = NULL;
        } else if (is_elem(c, "NextContinuationToken")) {
            free(out->next_token);
            if (!(out->next_token = text_of(c)))
                goto oom;
        } else if (is_elem(c, "Contents")) {
            const xmlNode *k = child(c, "Key"), *s = child(c, "Size");
            if (!k) {
                ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: <Contents> without <Key>", what);
                goto fail;
            }
            uint64_t size = 0;
            if (s) {
                if (!(t = text_of(s)))
                    goto oom;
                if (parse_u64(t, &size) < 0) {
                    ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: bad <Size>", what);
                    goto fail;
                }
                free(t);
                t = NULL;
            }
            if (!(t = text_of(k)))
                goto oom;
            if (!*t) {
                ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: empty <Key>", what);
                goto fail;
            }
            if (list_add(out, &cap, t, size, false) < 0)
                goto oom;
            t = NULL;
        } else if (is_elem(c, "CommonPrefixes")) {
            const xmlNode *p = child(c, "Prefix");
            if (!p) {
                ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: <CommonPrefixes> without <Prefix>", what);
                goto fail;
            }
            if (!(t = text_of(p)))
                goto oom;
            if (list_add(out, &cap, t, 0, true) < 0)
                goto oom;
            t = NULL;
        }
    }
    if (out->truncated && (!out->next_token || !*out->next_token)) {
        ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: truncated page without NextContinuationToken", what);
        goto fail;
    }
    xmlFreeDoc(doc);
    return 0;
oom:
    ws_err_set(err, WS_ERR_NOMEM, "parsing %s: out of memory", what);
fail:
    free(t);
    ws_s3_list_page_free(out);
    xmlFreeDoc(doc);
    return -1;
}

int ws_s3_xml_parse_upload_id(const char *xml, size_t len, char **upload_id, ws_err *err)
{
    static const char what[] = "CreateMultipartUpload response";
    *upload_id = NULL;
    const xmlNode *root;
    xmlDocPtr doc = parse_rooted(xml, len, "InitiateMultipartUploadResult", what, &root, err);
    if (!doc)
        return -1;
    int rc = -1;
    const xmlNode *u = child(root, "UploadId");
    char *t = u ? text_of(u) : NULL;
    if (u && !t)
        ws_err_set(err, WS_ERR_NOMEM, "parsing %s: out of memory", what);
    else if (!t || !*t)
        ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: no UploadId", what);
    else {
        *upload_id = t;
        t = NULL;
        rc = 0;
    }
    free(t);
    xmlFreeDoc(doc);
    return rc;
}

int ws_s3_xml_check_complete(const char *xml, size_t len, ws_s3_error_doc *edoc, ws_err *err)
{
    static const char what[] = "CompleteMultipartUpload response";
    edoc->code[0] = edoc->message[0] = '\0';
    xmlDocPtr doc = parse(xml, len, what, err);
    if (!doc)
        return -1;
    const xmlNode *root = xmlDocGetRootElement(doc);
    int rc = 0;
    if (is_elem(root, "Error")) {
        fill_error_doc(root, edoc);
        rc = unexpected_root(root, what, err);
    } else if (!is_elem(root, "CompleteMultipartUploadResult")) {
        rc = unexpected_root(root, what, err);
    }
    xmlFreeDoc(doc);
    return rc;
}

void ws_s3_delete_result_free(ws_s3_delete_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nerrors; i++)
        free(r->errors[i].key);
    free(r->errors);
    memset(r, 0, sizeof *r);
}

int ws_s3_xml_parse_delete(const char *xml, size_t len, ws_s3_delete_result *out, ws_err *err)
{
    static const char what[] = "DeleteObjects response";
    memset(out, 0, sizeof *out);
    const xmlNode *root;
    xmlDocPtr doc = parse_rooted(xml, len, "DeleteResult", what, &root, err);
    if (!doc)
        return -1;
    size_t cap = 0;
    for (const xmlNode *c = root->children; c; c = c->next) {
        if (is_elem(c, "Deleted")) {
            out->ndeleted++;
        } else if (is_elem(c, "Error")) {
            if (ws_buf_grow_array((void **) &out->errors, &cap, out->nerrors + 1, sizeof *out->errors, NULL) < 0)
                goto oom;
            ws_s3_delete_error *e = &out->errors[out->nerrors];
            const xmlNode *k = child(c, "Key");
            e->key = k ? text_of(k) : strdup("");
            if (!e->key)
                goto oom;
            child_text_fixed(c, "Code", e->code, sizeof e->code);
            child_text_fixed(c, "Message", e->message, sizeof e->message);
            out->nerrors++;
        }
    }
    xmlFreeDoc(doc);
    return 0;
oom:
    ws_err_set(err, WS_ERR_NOMEM, "parsing %s: out of memory", what);
    ws_s3_delete_result_free(out);
    xmlFreeDoc(doc);
    return -1;
}

/* Text of the named child, malloc'd; NULL (err set) when absent or empty. */
static char *required_text(const xmlNode *n, const char *name, const char *what, ws_err *err)
{
    const xmlNode *c = child(n, name);
    char *t = c ? text_of(c) : NULL;
    if (c && !t) {
        ws_err_set(err, WS_ERR_NOMEM, "parsing %s: out of memory", what);
        return NULL;
    }
    if (!t || !*t) {
        free(t);
        ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: no %s", what, name);
        return NULL;
    }
    return t;
}

void ws_s3_sts_creds_free(ws_s3_sts_creds *c)
{
    if (!c)
        return;
    free(c->access_key);
    ws_s3_sign_secret_free(c->secret_key);
    ws_s3_sign_secret_free(c->session_token);
    free(c->expiration);
    memset(c, 0, sizeof *c);
}

int ws_s3_xml_parse_sts(const char *xml, size_t len, ws_s3_sts_creds *out, ws_s3_error_doc *edoc, ws_err *err)
{
    static const char what[] = "STS AssumeRoleWithWebIdentity response";
    memset(out, 0, sizeof *out);
    edoc->code[0] = edoc->message[0] = '\0';
    xmlDocPtr doc = parse(xml, len, what, err);
    if (!doc)
        return -1;
    const xmlNode *root = xmlDocGetRootElement(doc);
    int rc = -1;
    if (is_elem(root, "ErrorResponse") || is_elem(root, "Error")) {
        const xmlNode *e = is_elem(root, "Error") ? root : child(root, "Error");
        if (e)
            fill_error_doc(e, edoc);
        rc = 1;
    } else {
        const xmlNode *res =
            is_elem(root, "AssumeRoleWithWebIdentityResponse") ? child(root, "AssumeRoleWithWebIdentityResult") : NULL;
        const xmlNode *cr = res ? child(res, "Credentials") : NULL;
        if (!cr) {
            char name[64];
            copy_printable(name, sizeof name, (const char *) root->name);
            ws_err_set(err, WS_ERR_CORRUPT, "malformed %s: no Credentials (root element <%s>)", what, name);
        } else if (!(out->access_key = required_text(cr, "AccessKeyId", what, err)) ||
                   !(out->secret_key = required_text(cr, "SecretAccessKey", what, err)) ||
                   !(out->session_token = required_text(cr, "SessionToken", what, err)) ||
                   !(out->expiration = required_text(cr, "Expiration", what, err))) {
            ws_s3_sts_creds_free(out);
        } else {
            rc = 0;
        }
    }
    xmlFreeDoc(doc);
    return rc;
}

void ws_s3_xml_escape(struct ws_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            ws_buf_adds(b, "&amp;");
            break;
        case '<':
            ws_buf_adds(b, "&lt;");
            break;
        case '>':
            ws_buf_adds(b, "&gt;");
            break;
        case '"':
            ws_buf_adds(b, "&quot;");
            break;
        case '\'':
            ws_buf_adds(b, "&apos;");
            break;
        default:
            ws_buf_add(b, s, 1);
            break;
        }
    }
}
