/*
 * storage_s3.c - the s3://bucket/prefix driver (see doc/s3.md).
 *
 * Keys live under "prefix/" in the bucket.  Requests, signing and retries are
 * s3_http.c's; XML is s3_xml.c's; this file maps the storage interface onto
 * S3 operations.  A put holds one part in memory: an object that fits in one
 * part is a single PUT at commit (with its metadata), a larger one becomes a
 * multipart upload created lazily when the first part is full.  Multipart
 * objects carry no x-amz-meta (the metadata is only known at commit, after
 * CreateMultipartUpload); the object's trailer is the truth anyway.
 * With s3_conditional_put, ws_put_commit_new sends If-None-Match: * with the
 * PUT (or CompleteMultipartUpload): a store that honours it answers 412 when
 * the key exists.
 */
#include "walship/storage_s3.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <openssl/evp.h>

#include "walship/s3_creds.h"
#include "walship/s3_http.h"
#include "walship/s3_sign.h"
#include "walship/s3_xml.h"

#define LIST_PAGE      "1000"
#define DELETE_BATCH   1000
#define MAX_PAGES      10000000u /* bound on a listing's loop */
#define ABORT_ATTEMPTS 3         /* best effort: the put already failed */
#define BUF_INITIAL    (1u << 20)

#define PUT_HDRS_MAX 3

typedef struct s3_storage {
    ws_storage base;
    ws_s3_creds *creds;
    ws_s3_conn *conn;
    /* Server-side encryption and storage class: sent with every PUT and
     * CreateMultipartUpload (never with GET/HEAD, where S3 refuses some). */
    ws_s3_header put_hdrs[PUT_HDRS_MAX];
    char *put_values[PUT_HDRS_MAX]; /* owned */
    size_t nput_hdrs;
    char *bucket;
    char *prefix; /* "" or without leading/trailing '/' */
    uint64_t part_default;
} s3_storage;

static const ws_storage_ops s3_ops;

/* --- part sizing -------------------------------------------------------- */

uint64_t ws_storage_s3_part_base(uint64_t size_hint, uint64_t default_part)
{
    uint64_t base = default_part < WS_S3_PART_MIN ? WS_S3_PART_MIN : default_part;
    if (size_hint > base && size_hint - base <= base / 8)
        return (size_hint + (1u << 20) - 1) & ~(uint64_t) ((1u << 20) - 1);
    if (size_hint) {
        uint64_t need = size_hint / WS_S3_MAX_PARTS + (size_hint % WS_S3_MAX_PARTS != 0);
        need = (need + (1u << 20) - 1) & ~(uint64_t) ((1u << 20) - 1);
        if (need > base)
            base = need;
    }
    return base > WS_S3_PART_MAX ? WS_S3_PART_MAX : base;
}

uint64_t ws_storage_s3_part_size(uint64_t base, unsigned n)
{
    uint64_t size = base;
    for (unsigned step = (n ? n - 1 : 0) / WS_S3_PARTS_PER_STEP; step > 0 && size < WS_S3_PART_MAX; step--)
        size *= 2;
    return size > WS_S3_PART_MAX ? WS_S3_PART_MAX : size;
}

int ws_storage_s3_set_part_size(ws_storage *st, uint64_t bytes, ws_err *err)
{
    if (!st || st->ops != &s3_ops)
        return ws_err_set(err, WS_ERR_INVALID, "not an s3:// storage");
    if (bytes < WS_S3_PART_MIN || bytes > WS_S3_PART_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "S3 part size %" PRIu64 " is outside [%llu, %llu]", bytes,
                          WS_S3_PART_MIN, WS_S3_PART_MAX);
    ((s3_storage *) st)->part_default = bytes;
    return 0;
}

/* --- helpers -------------------------------------------------------------- */

/* prefix + "/" + key, malloc'd. */
static char *full_key(const s3_storage *s, const char *key)
{
    char *k;
    if (asprintf(&k, "%s%s%s", s->prefix, *s->prefix ? "/" : "", key) < 0)
        return NULL;
    return k;
}

/* "s3://bucket/full/key: " context for a put's error (storage.c's wrappers
 * name the object for the other operations). */
static int fail_obj(const s3_storage *s, const char *fkey, ws_err *err)
{
    return ws_err_prefix(err, "s3://%s/%s", s->bucket, fkey);
}

/* --- put ------------------------------------------------------------------ */

typedef struct s3_put {
    ws_put base;
    s3_storage *st;
    char *key; /* full key */
    uint8_t *buf;
    size_t len; /* bytes buffered */
    size_t cap; /* allocated */
    uint64_t part_base;
    uint64_t part_size;    /* of the part being filled */
    uint64_t total;        /* bytes received */
    char *upload_id;       /* NULL until the multipart upload exists */
    ws_put_track_cb track; /* told each upload id (ws_put_track) */
    void *track_arg;
    char **etags; /* per uploaded part */
    unsigned nparts;
    unsigned etag_cap;
    bool failed;
    bool committed;
} s3_put;

static void put_abort_upload(s3_put *p)
{
    if (!p->upload_id)
        return;
    ws_s3_param q[] = {{"uploadId", p->upload_id}};
    ws_s3_req req = {.op = "AbortMultipartUpload",
                     .method = "DELETE",
                     .key = p->key,
                     .query = q,
                     .nquery = 1,
                     .max_attempts = ABORT_ATTEMPTS};
    ws_s3_resp resp;
    ws_err ignored;
    ws_s3_resp_init(&resp);
    /* Best effort (s3rver answers 405); a lifecycle rule cleans up the rest. */
    (void) ws_s3_http_request(p->st->conn, &req, &resp, &ignored);
    ws_s3_resp_free(&resp);
    free(p->upload_id);
    p->upload_id = NULL;
}

/* Marks the put failed (aborting a multipart upload) and adds context. */
static int put_fail(s3_put *p, ws_err *err)
{
    p->failed = true;
    put_abort_upload(p);
    return fail_obj(p->st, p->key, err);
}

static int create_upload(s3_put *p, ws_err *err)
{
    ws_s3_param q[] = {{"uploads", ""}};
    ws_s3_req req = {.op = "CreateMultipartUpload",
                     .method = "POST",
                     .key = p->key,
                     .query = q,
                     .nquery = 1,
                     .headers = p->st->put_hdrs,
                     .nheaders = p->st->nput_hdrs};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    int rc = ws_s3_http_request(p->st->conn, &req, &resp, err);
    if (rc == 0)
        rc = ws_s3_xml_parse_upload_id(resp.body.data, resp.body.len, &p->upload_id, err);
    ws_s3_resp_free(&resp);
    /* The caller records the id before any part is sent (put_fail aborts). */
    if (rc == 0 && p->track && p->track(p->track_arg, p->upload_id, err) < 0)
        return ws_err_prefix(err, "recording upload id");
    return rc;
}

/* Uploads the buffer as the next part and empties it. */
static int upload_part(s3_put *p, ws_err *err)
{
    if (!p->upload_id && create_upload(p, err) < 0)
        return -1;
    if (p->nparts >= WS_S3_MAX_PARTS)
        return ws_err_set(err, WS_ERR_INVALID, "object too large: more than %u parts", WS_S3_MAX_PARTS);
    if (p->nparts == p->etag_cap) {
        unsigned nc = p->etag_cap ? p->etag_cap * 2 : 16;
        char **e = realloc(p->etags, nc * sizeof *e);
        if (!e)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        p->etags = e;
        p->etag_cap = nc;
    }
    char num[16];
    snprintf(num, sizeof num, "%u", p->nparts + 1);
    ws_s3_param q[] = {{"partNumber", num}, {"uploadId", p->upload_id}};
    ws_s3_req req = {.op = "UploadPart",
                     .method = "PUT",
                     .key = p->key,
                     .query = q,
                     .nquery = 2,
                     .body = p->buf,
                     .body_len = p->len};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    int rc = ws_s3_http_request(p->st->conn, &req, &resp, err);
    if (rc == 0 && !resp.etag[0])
        rc = ws_err_set(err, WS_ERR_STORAGE, "UploadPart %u: no ETag in the answer", p->nparts + 1);
    if (rc == 0) {
        p->etags[p->nparts] = strdup(resp.etag);
        if (!p->etags[p->nparts])
            rc = ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        else
            p->nparts++;
    }
    ws_s3_resp_free(&resp);
    if (rc < 0)
        return ws_err_prefix(err, "part %u", p->nparts + 1);
    p->len = 0;
    p->part_size = ws_storage_s3_part_size(p->part_base, p->nparts + 1);
    return 0;
}

static int put_write(ws_sink *s, const uint8_t *data, size_t len, ws_err *err)
{
    s3_put *p = (s3_put *) s;
    if (p->failed || p->committed)
        return ws_err_set(err, WS_ERR_INVALID, "s3://%s/%s: write after %s", p->st->bucket, p->key,
                          p->failed ? "an error" : "commit");
    while (len) {
        if (p->len == p->part_size && upload_part(p, err) < 0)
            return put_fail(p, err);
        size_t n = p->part_size - p->len < len ? (size_t) (p->part_size - p->len) : len;
        if (p->len + n > p->cap) {
            size_t nc = p->cap ? p->cap : BUF_INITIAL;
            while (nc < p->len + n)
                nc *= 2;
            if (nc > p->part_size)
                nc = (size_t) p->part_size;
            uint8_t *b = realloc(p->buf, nc);
            if (!b) {
                ws_err_set(err, WS_ERR_NOMEM, "out of memory for a %zu-byte part buffer", nc);
                return put_fail(p, err);
            }
            p->buf = b;
            p->cap = nc;
        }
        memcpy(p->buf + p->len, data, n);
        p->len += n;
        p->total += n;
        data += n;
        len -= n;
    }
    return 0;
}

static int put_finish(ws_sink *s, ws_err *err)
{
    (void) s;
    (void) err;
    return 0; /* nothing is stored before commit */
}

/* A write's answer when it was conditional: 412 means the key holds an
 * object (0); anything else stays an error. */
static int conditional_result(int rc, bool conditional, const ws_s3_resp *resp, ws_err *err)
{
    if (rc < 0 && conditional && resp->status == 412) {
        ws_err_clear(err);
        return 0;
    }
    return rc < 0 ? -1 : 1;
}

/* One PUT of the whole object: 1 stored, 0 (conditional) the key exists. */
static int put_single(s3_put *p, const ws_meta *meta, bool conditional, ws_err *err)
{
    char names[WS_META_MAX][WS_META_NAME_MAX + 16];
    ws_s3_header h[WS_META_MAX + PUT_HDRS_MAX + 1];
    size_t nh = 0;
    for (size_t i = 0; i < p->st->nput_hdrs; i++)
        h[nh++] = p->st->put_hdrs[i];
    if (conditional)
        h[nh++] = (ws_s3_header){"if-none-match", "*"};
    for (size_t i = 0; meta && i < meta->n && i < WS_META_MAX; i++) {
        snprintf(names[i], sizeof names[i], "x-amz-meta-%s", meta->e[i].name);
        h[nh++] = (ws_s3_header){names[i], meta->e[i].value};
    }
    ws_s3_req req = {.op = "PUT",
                     .method = "PUT",
                     .key = p->key,
                     .headers = h,
                     .nheaders = nh,
                     .body = p->buf ? (const void *) p->buf : "",
                     .body_len = p->len};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    /* S3 checked the body against the signed x-amz-content-sha256 before
     * answering 200: the answer is the check after write. */
    int rc = ws_s3_http_request(p->st->conn, &req, &resp, err);
    if (rc == 0 && !resp.etag[0])
        rc = ws_err_set(err, WS_ERR_STORAGE, "PUT: no ETag in the answer");
    rc = conditional_result(rc, conditional, &resp, err);
    ws_s3_resp_free(&resp);
    return rc;
}

/* 1 assembled, 0 (conditional) the key exists, -1 error. */
static int complete_upload(s3_put *p, bool conditional, ws_err *err)
{
    ws_buf body;
    ws_buf_init(&body);
    ws_buf_adds(&body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (unsigned i = 0; i < p->nparts; i++) {
        ws_buf_addf(&body, "<Part><PartNumber>%u</PartNumber><ETag>", i + 1);
        ws_s3_xml_escape(&body, p->etags[i]);
        ws_buf_adds(&body, "</ETag></Part>");
    }
    ws_buf_adds(&body, "</CompleteMultipartUpload>");
    if (body.oom) {
        ws_buf_free(&body);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    ws_s3_param q[] = {{"uploadId", p->upload_id}};
    ws_s3_header h[] = {{"content-type", "application/xml"}, {"if-none-match", "*"}};
    ws_s3_req req = {.op = "CompleteMultipartUpload",
                     .method = "POST",
                     .key = p->key,
                     .query = q,
                     .nquery = 1,
                     .headers = h,
                     .nheaders = conditional ? 2 : 1,
                     .body = body.data,
                     .body_len = body.len};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    int rc = ws_s3_http_request(p->st->conn, &req, &resp, err);
    if (conditional_result(rc, conditional, &resp, err) == 0) {
        ws_s3_resp_free(&resp);
        ws_buf_free(&body);
        return 0;
    }
    if (rc == 0) {
        /* S3 may answer 200 and report the failure in the body. */
        ws_s3_error_doc e;
        rc = ws_s3_xml_check_complete(resp.body.data, resp.body.len, &e, err);
        if (rc < 0)
            ws_err_prefix(err, "CompleteMultipartUpload failed");
    }
    ws_s3_resp_free(&resp);
    ws_buf_free(&body);
    if (rc < 0)
        return -1;

    /* The object is assembled: check its size before saying it is done. */
    ws_s3_req hreq = {.op = "HEAD", .method = "HEAD", .key = p->key};
    ws_s3_resp_init(&resp);
    rc = ws_s3_http_request(p->st->conn, &hreq, &resp, err);
    if (rc == 0 && (resp.content_length < 0 || (uint64_t) resp.content_length != p->total))
        rc = ws_err_set(err, WS_ERR_CORRUPT, "after CompleteMultipartUpload the object has %lld bytes, not %" PRIu64,
                        (long long) resp.content_length, p->total);
    ws_s3_resp_free(&resp);
    return rc < 0 ? -1 : 1;
}

/* 1 committed, 0 (conditional) the key holds an object: nothing stored, the
 * put is done with. */
static int commit_put(s3_put *p, const ws_meta *meta, bool conditional, ws_err *err)
{
    int rc;

    if (p->failed)
        return ws_err_set(err, WS_ERR_INVALID, "s3://%s/%s: commit after an error", p->st->bucket, p->key);
    if (p->committed)
        return ws_err_set(err, WS_ERR_INVALID, "s3://%s/%s: already committed", p->st->bucket, p->key);
    if (meta && ws_meta_check(meta, err) < 0)
        return put_fail(p, err);
    if (!p->upload_id) {
        rc = put_single(p, meta, conditional, err);
    } else {
        rc = p->len && upload_part(p, err) < 0 ? -1 : complete_upload(p, conditional, err);
        if (rc > 0) {
            free(p->upload_id);
            p->upload_id = NULL;
        }
    }
    if (rc < 0)
        return put_fail(p, err);
    if (rc == 0) {
        p->failed = true; /* nothing more to do with it */
        put_abort_upload(p);
        return 0;
    }
    p->committed = true;
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = 0;
    return 1;
}

static int put_commit(ws_put *base, const ws_meta *meta, ws_err *err)
{
    return commit_put((s3_put *) base, meta, false, err) < 0 ? -1 : 0;
}

static int put_commit_new(ws_put *base, const ws_meta *meta, ws_err *err)
{
    return commit_put((s3_put *) base, meta, true, err);
}

static void put_destroy(ws_put *base)
{
    s3_put *p = (s3_put *) base;
    if (!p)
        return;
    if (!p->committed)
        put_abort_upload(p);
    for (unsigned i = 0; i < p->nparts; i++)
        free(p->etags[i]);
    free(p->etags);
    free(p->upload_id);
    free(p->buf);
    free(p->key);
    free(p);
}

static void put_sink_destroy(ws_sink *s)
{
    put_destroy((ws_put *) s);
}

static const ws_sink_ops put_sink_ops = {
    .name = "s3 put",
    .write = put_write,
    .finish = put_finish,
    .destroy = put_sink_destroy,
};

static int put_track(ws_put *base, ws_put_track_cb cb, void *arg, ws_err *err)
{
    s3_put *p = (s3_put *) base;

    p->track = cb;
    p->track_arg = arg;
    return p->upload_id ? cb(arg, p->upload_id, err) : 0;
}

static const ws_put_ops put_ops = {
    .commit = put_commit,
    .destroy = put_destroy,
    .track = put_track,
};

/* Only where the store honours If-None-Match (s3_conditional_put). */
static const ws_put_ops put_ops_conditional = {
    .commit = put_commit,
    .destroy = put_destroy,
    .track = put_track,
    .commit_new = put_commit_new,
};

static int s3_put_begin(ws_storage *st_, const char *key, uint64_t size_hint, ws_put **out, ws_err *err)
{
    s3_storage *s = (s3_storage *) st_;
    s3_put *p = calloc(1, sizeof *p);
    if (!p || !(p->key = full_key(s, key))) {
        free(p);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    p->base.sink.ops = &put_sink_ops;
    p->base.sink.next = NULL;
    p->base.ops = s->base.commit_new ? &put_ops_conditional : &put_ops;
    p->st = s;
    p->part_base = ws_storage_s3_part_base(size_hint, s->part_default);
    p->part_size = ws_storage_s3_part_size(p->part_base, 1);
    *out = &p->base;
    return 0;
}

/* --- get / head ----------------------------------------------------------- */

static int s3_head_full(s3_storage *s, const char *fkey, ws_obj_info *info, ws_err *err)
{
    ws_s3_req req = {.op = "HEAD", .method = "HEAD", .key = fkey};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    int rc = ws_s3_http_request(s->conn, &req, &resp, err);
    if (rc < 0) {
        ws_s3_resp_free(&resp);
        return err->code == WS_ERR_NOTFOUND ? 0 : -1;
    }
    if (resp.content_length < 0) {
        ws_s3_resp_free(&resp);
        return ws_err_set(err, WS_ERR_STORAGE, "HEAD: no Content-Length in the answer");
    }
    memset(info, 0, sizeof *info);
    info->size = (uint64_t) resp.content_length;
    info->mtime = resp.last_modified;
    info->meta = resp.meta;
    ws_s3_resp_free(&resp);
    return 1;
}

static int s3_head(ws_storage *st_, const char *key, ws_obj_info *info, ws_err *err)
{
    s3_storage *s = (s3_storage *) st_;
    char *fkey = full_key(s, key);
    if (!fkey)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    int rc = s3_head_full(s, fkey, info, err);
    free(fkey);
    return rc;
}

/* Ranges S3 cannot express (empty ones, or starting at the very end): decide
 * with a HEAD like the file driver would. */
static int get_by_head(s3_storage *s, const char *fkey, uint64_t offset, uint64_t length, ws_sink *dst, ws_err *err)
{
    ws_obj_info info = {0};
    int r = s3_head_full(s, fkey, &info, err);
    if (r < 0)
        return -1;
    if (r == 0)
        return ws_err_set(err, WS_ERR_NOTFOUND, "no such object");
    if (offset > info.size || (length != WS_TO_END && length > info.size - offset))
        return ws_err_set(err, WS_ERR_INVALID,
                          "range at byte %" PRIu64 " is beyond the end of the object (%" PRIu64 " bytes)", offset,
                          info.size);
    if (offset < info.size && length != 0)
        return ws_err_set(err, WS_ERR_STORAGE, "the object changed while it was read");
    return ws_sink_finish(dst, err);
}

static int s3_get(ws_storage *st_, const char *key, uint64_t offset, uint64_t length, ws_sink *dst, ws_err *err)
{
    s3_storage *s = (s3_storage *) st_;
    char *fkey = full_key(s, key);
    if (!fkey)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    int rc;
    if (length == 0) {
        rc = get_by_head(s, fkey, offset, length, dst, err);
        free(fkey);
        return rc;
    }
    ws_s3_req req = {.op = "GET", .method = "GET", .key = fkey, .sink = dst, .range_off = offset, .range_len = length};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    rc = ws_s3_http_request(s->conn, &req, &resp, err);
    if (rc < 0 && resp.status == 416 && resp.delivered == 0) {
        /* Starting exactly at the end is a valid empty read. */
        rc = get_by_head(s, fkey, offset, length, dst, err);
    } else if (rc == 0) {
        rc = ws_sink_finish(dst, err);
    }
    ws_s3_resp_free(&resp);
    free(fkey);
    return rc;
}

/* --- list ------------------------------------------------------------------- */

static int cmp_item(const void *a, const void *b)
{
    return strcmp(((const ws_s3_list_item *) a)->key, ((const ws_s3_list_item *) b)->key);
}

/*
 * Delimiters are applied here, not by the server: s3rver drops common
 * prefixes of keys nested below them ("a/b/c" gives no "a/" for delimiter
 * "/"), and rolling up sorted keys is exact on every server.  The cost is
 * that a delimited listing reads every key under the prefix.
 */
static int s3_list(ws_storage *st_, const char *prefix, const char *delimiter, ws_list_cb cb, void *arg, ws_err *err)
{
    s3_storage *s = (s3_storage *) st_;
    size_t strip = *s->prefix ? strlen(s->prefix) + 1 : 0;
    char *fprefix = full_key(s, prefix);
    char *token = NULL;
    char *last_rollup = NULL; /* the common prefix emitted last */
    int rc = -1;
    if (!fprefix)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    size_t fplen = strlen(fprefix);
    if (delimiter && !*delimiter)
        delimiter = NULL;

    for (unsigned page = 0;; page++) {
        if (page >= MAX_PAGES) {
            ws_err_set(err, WS_ERR_STORAGE, "ListObjectsV2: more than %u pages", MAX_PAGES);
            break;
        }
        ws_s3_param q[4];
        size_t nq = 0;
        q[nq++] = (ws_s3_param){"list-type", "2"};
        q[nq++] = (ws_s3_param){"max-keys", LIST_PAGE};
        if (*fprefix)
            q[nq++] = (ws_s3_param){"prefix", fprefix};
        if (token)
            q[nq++] = (ws_s3_param){"continuation-token", token};
        ws_s3_req req = {.op = "ListObjectsV2", .method = "GET", .key = NULL, .query = q, .nquery = nq};
        ws_s3_resp resp;
        ws_s3_list_page pg;
        ws_s3_resp_init(&resp);
        int r = ws_s3_http_request(s->conn, &req, &resp, err);
        if (r == 0)
            r = ws_s3_xml_parse_list(resp.body.data, resp.body.len, &pg, err);
        ws_s3_resp_free(&resp);
        if (r < 0)
            break;
        /* S3 pages are in byte order already; a sort costs little and keeps
         * the promise with servers that are not (s3rver). */
        qsort(pg.items, pg.n, sizeof *pg.items, cmp_item);
        int stop = 0;
        for (size_t i = 0; i < pg.n && stop == 0; i++) {
            char *k = pg.items[i].key;
            if (pg.items[i].is_prefix || strncmp(k, fprefix, fplen) != 0 || strlen(k) <= strip)
                continue; /* not ours (a server bug): never hand it out */
            ws_list_entry e = {.key = k + strip, .size = pg.items[i].size};
            const char *d = delimiter ? strstr(k + fplen, delimiter) : NULL;
            if (d) {
                /* Sorted keys sharing a rolled-up prefix are adjacent. */
                size_t plen = (size_t) (d - k) + strlen(delimiter);
                if (last_rollup && strlen(last_rollup) == plen && strncmp(last_rollup, k, plen) == 0)
                    continue;
                free(last_rollup);
                if (!(last_rollup = strndup(k, plen))) {
                    stop = ws_err_set(err, WS_ERR_NOMEM, "out of memory");
                    break;
                }
                k[plen] = '\0';
                e.size = 0;
                e.is_prefix = true;
            }
            stop = cb(&e, arg, err);
        }
        if (stop < 0) {
            ws_s3_list_page_free(&pg);
            break;
        }
        if (stop > 0 || !pg.truncated) {
            ws_s3_list_page_free(&pg);
            rc = 0;
            break;
        }
        if (token && strcmp(token, pg.next_token) == 0) {
            ws_s3_list_page_free(&pg);
            ws_err_set(err, WS_ERR_STORAGE, "ListObjectsV2: the server repeated a continuation token");
            break;
        }
        free(token);
        token = pg.next_token;
        pg.next_token = NULL;
        ws_s3_list_page_free(&pg);
    }
    free(last_rollup);
    free(token);
    free(fprefix);
    return rc;
}

/* --- remove ------------------------------------------------------------------ */

static int delete_batch(s3_storage *s, const char *const *keys, size_t n, ws_err *err)
{
    ws_buf body;
    ws_buf_init(&body);
    ws_buf_adds(&body, "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>");
    for (size_t i = 0; i < n; i++) {
        char *fk = full_key(s, keys[i]);
        if (!fk) {
            body.oom = true;
            break;
        }
        ws_buf_adds(&body, "<Object><Key>");
        ws_s3_xml_escape(&body, fk);
        ws_buf_adds(&body, "</Key></Object>");
        free(fk);
    }
    ws_buf_adds(&body, "</Delete>");
    if (body.oom) {
        ws_buf_free(&body);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    /* DeleteObjects requires Content-MD5 (base64 of the body's MD5). */
    unsigned char md5[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char md5b64[32];
    EVP_Digest(body.data, body.len, md5, &mdlen, EVP_md5(), NULL);
    EVP_EncodeBlock((unsigned char *) md5b64, md5, (int) mdlen);

    ws_s3_param q[] = {{"delete", ""}};
    ws_s3_header h[] = {{"content-md5", md5b64}, {"content-type", "application/xml"}};
    ws_s3_req req = {.op = "DeleteObjects",
                     .method = "POST",
                     .query = q,
                     .nquery = 1,
                     .headers = h,
                     .nheaders = 2,
                     .body = body.data,
                     .body_len = body.len};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    int rc = ws_s3_http_request(s->conn, &req, &resp, err);
    ws_buf_free(&body);
    if (rc == 0) {
        ws_s3_delete_result res;
        rc = ws_s3_xml_parse_delete(resp.body.data, resp.body.len, &res, err);
        for (size_t i = 0; rc == 0 && i < res.nerrors; i++) {
            const ws_s3_delete_error *e = &res.errors[i];
            if (strcmp(e->code, "NoSuchKey") == 0)
                continue; /* absent keys are not an error */
            rc = ws_err_set(err, strcmp(e->code, "AccessDenied") == 0 ? WS_ERR_PERM : WS_ERR_STORAGE,
                            "DeleteObjects failed for s3://%s/%s: %s: %s", s->bucket, e->key, e->code, e->message);
        }
        if (rc == 0 || res.nerrors)
            ws_s3_delete_result_free(&res);
    }
    ws_s3_resp_free(&resp);
    return rc;
}

/* AbortMultipartUpload of an upload a killed put left (token = upload id).
 * An upload already gone (404 NoSuchUpload) is done; so is one the server
 * cannot abort (405/501: s3rver), where only a lifecycle rule helps. */
static int s3_abandon(ws_storage *st_, const char *key, const char *token, ws_err *err)
{
    s3_storage *s = (s3_storage *) st_;
    if (!token)
        return 0; /* an upload id cannot be found without listing uploads */
    char *fkey = full_key(s, key);
    if (!fkey)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    ws_s3_param q[] = {{"uploadId", token}};
    ws_s3_req req = {.op = "AbortMultipartUpload", .method = "DELETE", .key = fkey, .query = q, .nquery = 1};
    ws_s3_resp resp;
    ws_s3_resp_init(&resp);
    int rc = ws_s3_http_request(s->conn, &req, &resp, err);
    if (rc < 0 && (err->code == WS_ERR_NOTFOUND || resp.status == 405 || resp.status == 501))
        rc = 0;
    ws_s3_resp_free(&resp);
    free(fkey);
    return rc;
}

static int s3_remove(ws_storage *st_, const char *const *keys, size_t nkeys, ws_err *err)
{
    s3_storage *s = (s3_storage *) st_;
    for (size_t i = 0; i < nkeys; i += DELETE_BATCH) {
        size_t n = nkeys - i < DELETE_BATCH ? nkeys - i : DELETE_BATCH;
        if (delete_batch(s, keys + i, n, err) < 0)
            return -1;
    }
    return 0;
}

/* --- open / close ------------------------------------------------------------ */

static void s3_close(ws_storage *st_)
{
    s3_storage *s = (s3_storage *) st_;
    if (!s)
        return;
    ws_s3_conn_free(s->conn);
    ws_s3_creds_close(s->creds);
    for (size_t i = 0; i < s->nput_hdrs; i++)
        free(s->put_values[i]);
    free(s->bucket);
    free(s->prefix);
    free(s->base.url);
    free(s);
}

static const ws_storage_ops s3_ops = {
    .put_begin = s3_put_begin,
    .get = s3_get,
    .head = s3_head,
    .list = s3_list,
    .remove = s3_remove,
    .close = s3_close,
    .abandon = s3_abandon,
};

/* AWS's rules, loosely: 3..63 of [a-z0-9.-], starting and ending alnum. */
static bool bucket_valid(const char *b, size_t n)
{
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '.' && c != '-') || i == 0 || i == n - 1))
            return false;
    }
    return true;
}

#define S3_URL_FORM                                                                                                  \
    "s3://bucket[/prefix] with a bucket name of 3 to 63 characters (a-z, 0-9, '.', '-') starting and ending with a " \
    "letter or digit"

static bool s3_url_valid(const char *url, const char **expected)
{
    const char *b = url + 5;
    size_t bn;

    *expected = S3_URL_FORM;
    if (strncmp(url, "s3://", 5) != 0)
        return false;
    bn = strcspn(b, "/");
    return bucket_valid(b, bn);
}

static int s3_global_init(ws_err *err)
{
    /* libcurl and libxml2 initialise global state lazily, which is not
     * safe once several threads may do it at once. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return ws_err_set(err, WS_ERR_INTERNAL, "could not initialise libcurl");
    xmlInitParser();
    /* A peer closing a connection must be an error on that request, not
     * the end of the process. */
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

static int s3_open(const ws_config *cfg, const char *url, ws_storage **out, ws_err *err)
{
    *out = NULL;
    if (strncmp(url, "s3://", 5) != 0)
        return ws_err_set(err, WS_ERR_CONFIG, "'%s' is not an S3 repository URL: want s3://bucket/prefix", url);
    const char *b = url + 5;
    size_t bn = strcspn(b, "/");
    if (!bucket_valid(b, bn))
        return ws_err_set(err, WS_ERR_CONFIG,
                          "'%s': bad bucket name: want 3..63 characters of [a-z0-9.-] starting and ending "
                          "with a letter or digit",
                          url);
    const char *pre = b + bn;
    while (*pre == '/')
        pre++;
    size_t pn = strlen(pre);
    while (pn && pre[pn - 1] == '/')
        pn--;
    /* The config accepts these in any case; S3 wants them as written here. */
    bool kms = cfg->s3_sse && strcasecmp(cfg->s3_sse, "aws:kms") == 0;
    const char *sse = !cfg->s3_sse || !*cfg->s3_sse ? NULL : kms ? "aws:kms" : "AES256";
    if (cfg->s3_sse_kms_key_id && *cfg->s3_sse_kms_key_id && !kms)
        return ws_err_set(err, WS_ERR_CONFIG, "'%s': s3_sse_kms_key_id is set but s3_sse is not aws:kms", url);

    s3_storage *s = calloc(1, sizeof *s);
    if (!s)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    s->base.ops = &s3_ops;
    s->base.commit_new = cfg->s3_conditional_put;
    s->base.remote = true;
    s->part_default = WS_S3_PART_DEFAULT;
    s->base.url = strdup(url);
    s->bucket = strndup(b, bn);
    s->prefix = strndup(pre, pn);
    if (!s->base.url || !s->bucket || !s->prefix) {
        s3_close(&s->base);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    if (*s->prefix && !ws_storage_key_valid(s->prefix)) {
        ws_err_set(err, WS_ERR_CONFIG,
                   "'%s': bad prefix '%s': want characters of [A-Za-z0-9._-/] without empty, '.' or '..' "
                   "segments",
                   url, s->prefix);
        s3_close(&s->base);
        return -1;
    }
    const ws_s3_header put_hdrs[PUT_HDRS_MAX] = {
        {"x-amz-server-side-encryption", sse},
        {"x-amz-server-side-encryption-aws-kms-key-id", kms ? cfg->s3_sse_kms_key_id : NULL},
        {"x-amz-storage-class", cfg->s3_storage_class},
    };
    for (size_t i = 0; i < PUT_HDRS_MAX; i++) {
        if (!put_hdrs[i].value || !*put_hdrs[i].value)
            continue;
        if (!(s->put_values[s->nput_hdrs] = strdup(put_hdrs[i].value))) {
            s3_close(&s->base);
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        }
        s->put_hdrs[s->nput_hdrs] = (ws_s3_header){put_hdrs[i].name, s->put_values[s->nput_hdrs]};
        s->nput_hdrs++;
    }
    if (ws_s3_creds_open(cfg, &s->creds, err) < 0) {
        s3_close(&s->base);
        return ws_err_prefix(err, "'%s'", url);
    }
    ws_s3_conn_opts o = {
        .endpoint = cfg->s3_endpoint,
        .region = cfg->s3_region && *cfg->s3_region ? cfg->s3_region : "us-east-1",
        .bucket = s->bucket,
        .host_style = cfg->s3_uri_style == WS_URI_HOST,
        .verify_tls = cfg->s3_verify_tls,
        .ca_file = cfg->s3_ca_file,
        .retry_budget = cfg->s3_retry_budget,
        .request_timeout = cfg->s3_request_timeout,
        .creds = s->creds,
    };
    if (ws_s3_conn_new(&o, &s->conn, err) < 0) {
        s3_close(&s->base);
        return ws_err_prefix(err, "'%s'", url);
    }
    *out = &s->base;
    return 0;
}

const ws_storage_driver ws_storage_s3_driver = {
    .scheme = "s3",
    .url_valid = s3_url_valid,
    .global_init = s3_global_init,
    .open = s3_open,
};
