/*
 * storage_conformance.c - driver-independent storage test cases.
 *
 * Check test functions take only a loop index, so each registration is kept
 * in a small table and its index is the loop index of its cases.
 */
#include "storage_conformance.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_REGS 8
#define KEYBUF   1200

typedef struct reg {
    ws_storage *(*open_fn)(void *arg);
    void (*close_fn)(ws_storage *st, void *arg);
    void *arg;
    ws_conformance_opts opts;
} reg;

static reg regs[MAX_REGS];
static int nregs;

typedef struct ctx {
    reg *r;
    ws_storage *st;
    char ns[256];
    ws_err err;
} ctx;

#define OK(c, call) ck_assert_msg((call) >= 0, "%s failed: %s", #call, (c)->err.msg)

static void ctx_open(ctx *c, int i, const char *casename)
{
    memset(c, 0, sizeof *c);
    ck_assert_int_lt(i, nregs);
    c->r = &regs[i];
    c->st = c->r->open_fn(c->r->arg);
    ck_assert_msg(c->st != NULL, "the storage factory failed");
    snprintf(c->ns, sizeof c->ns, "%s%s.%ld/", c->r->opts.key_prefix, casename, (long) getpid());
}

static void ctx_close(ctx *c)
{
    if (c->r->close_fn)
        c->r->close_fn(c->st, c->r->arg);
    else
        ws_storage_close(c->st);
    c->st = NULL;
}

/* ns + printf(fmt) into buf (KEYBUF bytes). */
static const char *K(const ctx *c, char *buf, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static const char *K(const ctx *c, char *buf, const char *fmt, ...)
{
    va_list ap;
    size_t n = (size_t) snprintf(buf, KEYBUF, "%s", c->ns);

    va_start(ap, fmt);
    vsnprintf(buf + n, KEYBUF - n, fmt, ap);
    va_end(ap);
    return buf;
}

/* --- data ------------------------------------------------------------- */

/* Position-dependent bytes: a shifted or repeated block never matches. */
static uint8_t pat(uint32_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;

    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    return (uint8_t) (x >> 56);
}

static void fill(uint8_t *buf, uint64_t off, size_t len, uint32_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pat(seed, off + i);
}

/* A sink that checks what it receives against pat(seed, start + n). */
typedef struct verify_sink {
    ws_sink base;
    uint32_t seed;
    uint64_t start;
    uint64_t n;
    uint64_t bad_at; /* UINT64_MAX when all matched */
    int finished;
} verify_sink;

static int verify_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    verify_sink *v = (verify_sink *) s;

    if (v->finished)
        return ws_err_set(err, WS_ERR_INVALID, "verify sink: write after finish");
    for (size_t i = 0; i < len; i++)
        if (v->bad_at == UINT64_MAX && buf[i] != pat(v->seed, v->start + v->n + i))
            v->bad_at = v->n + i;
    v->n += len;
    return 0;
}

static int verify_finish(ws_sink *s, ws_err *err)
{
    ((verify_sink *) s)->finished++;
    return 0;
}

static void verify_destroy(ws_sink *s)
{
    (void) s;
}

static const ws_sink_ops verify_ops = {"verify", verify_write, verify_finish, verify_destroy};

static void verify_init(verify_sink *v, uint32_t seed, uint64_t start)
{
    memset(v, 0, sizeof *v);
    v->base.ops = &verify_ops;
    v->seed = seed;
    v->start = start;
    v->bad_at = UINT64_MAX;
}

/* Gets [off, off+len) of key and checks it is pat(seed) with `expect` bytes. */
static void get_check(ctx *c, const char *key, uint64_t off, uint64_t len, uint32_t seed, uint64_t expect)
{
    verify_sink v;

    verify_init(&v, seed, off);
    ck_assert_msg(ws_storage_get(c->st, key, off, len, &v.base, &c->err) == 0, "get %s [%" PRIu64 ", +%" PRIu64 "]: %s",
                  key, off, len, c->err.msg);
    ck_assert_msg(v.finished == 1, "get %s: sink finished %d times", key, v.finished);
    ck_assert_msg(v.n == expect, "get %s [%" PRIu64 ", +%" PRIu64 "]: %" PRIu64 " bytes, want %" PRIu64, key, off, len,
                  v.n, expect);
    ck_assert_msg(v.bad_at == UINT64_MAX, "get %s: wrong byte at %" PRIu64, key, v.bad_at);
}

/* Expects get to fail with code; the message must name the key. */
static void get_fails(ctx *c, const char *key, uint64_t off, uint64_t len, ws_errcode code)
{
    verify_sink v;

    verify_init(&v, 0, off);
    ck_assert_msg(ws_storage_get(c->st, key, off, len, &v.base, &c->err) == -1,
                  "get %s [%" PRIu64 ", +%" PRIu64 "] succeeded", key, off, len);
    ck_assert_msg(c->err.code == code, "get %s: code %s, want %s (%s)", key, ws_errcode_name(c->err.code),
                  ws_errcode_name(code), c->err.msg);
    ck_assert_msg(strstr(c->err.msg, key) != NULL, "error does not name %s: %s", key, c->err.msg);
    ck_assert_msg(strchr(c->err.msg, '\n') == NULL, "error is not one line: %s", c->err.msg);
}

static const size_t odd_pieces[] = {1, 7, 4093, 65537, 131071, 3, 0, 250000};

/* Puts size bytes of pat(seed), written in the odd piece sizes above. */
static void put_obj(ctx *c, const char *key, uint64_t size, uint32_t seed, const ws_meta *meta, bool explicit_finish)
{
    ws_put *p = NULL;
    uint8_t *buf = malloc(262144);
    uint64_t off = 0;
    size_t k = 0;

    ck_assert_ptr_nonnull(buf);
    ck_assert_msg(ws_storage_put_begin(c->st, key, size, &p, &c->err) == 0, "put_begin %s: %s", key, c->err.msg);
    ck_assert_ptr_nonnull(p);
    while (off < size) {
        size_t n = odd_pieces[k++ % (sizeof odd_pieces / sizeof odd_pieces[0])];

        if (n > size - off)
            n = (size_t) (size - off);
        fill(buf, off, n, seed);
        ck_assert_msg(ws_sink_write(ws_put_sink(p), buf, n, &c->err) == 0, "write %s: %s", key, c->err.msg);
        off += n;
    }
    if (explicit_finish)
        ck_assert_msg(ws_sink_finish(ws_put_sink(p), &c->err) == 0, "finish %s: %s", key, c->err.msg);
    ck_assert_msg(ws_put_commit(p, meta, &c->err) == 0, "commit %s: %s", key, c->err.msg);
    ws_put_free(p);
    free(buf);
}

/* As put_obj, committed with ws_put_commit_new; returns its result. */
static int put_obj_new(ctx *c, const char *key, uint64_t size, uint32_t seed)
{
    ws_put *p = NULL;
    uint8_t *buf = malloc(65536);
    int rc;

    ck_assert_ptr_nonnull(buf);
    ck_assert_msg(ws_storage_put_begin(c->st, key, size, &p, &c->err) == 0, "put_begin %s: %s", key, c->err.msg);
    for (uint64_t off = 0; off < size; off += 65536) {
        size_t n = size - off < 65536 ? (size_t) (size - off) : 65536;

        fill(buf, off, n, seed);
        ck_assert_msg(ws_sink_write(ws_put_sink(p), buf, n, &c->err) == 0, "write %s: %s", key, c->err.msg);
    }
    rc = ws_put_commit_new(p, NULL, &c->err);
    ck_assert_msg(rc >= 0, "commit_new %s: %s", key, c->err.msg);
    ws_put_free(p);
    free(buf);
    return rc;
}

static void head_size(ctx *c, const char *key, uint64_t size, ws_obj_info *info)
{
    ws_obj_info tmp;

    if (!info)
        info = &tmp;
    ck_assert_msg(ws_storage_head(c->st, key, info, &c->err) == 1, "head %s: not found (%s)", key, c->err.msg);
    ck_assert_msg(info->size == size, "head %s: size %" PRIu64 ", want %" PRIu64, key, info->size, size);
}

static void head_absent(ctx *c, const char *key)
{
    ws_obj_info info;
    int r = ws_storage_head(c->st, key, &info, &c->err);

    ck_assert_msg(r == 0, "head %s: %d, want absent (%s)", key, r, r < 0 ? c->err.msg : "");
}

/* --- listing ---------------------------------------------------------- */

typedef struct listed {
    size_t n, cap;
    char **keys; /* with the namespace removed; a prefix gets a leading '+' */
    uint64_t *sizes;
    size_t stop_after; /* 0 = never */
    const char *ns;
} listed;

static int collect(const ws_list_entry *e, void *arg, ws_err *err)
{
    listed *l = arg;
    size_t nslen = strlen(l->ns);
    char *k;

    if (strncmp(e->key, l->ns, nslen) != 0)
        return ws_err_set(err, WS_ERR_INVALID, "listed key %s outside namespace %s", e->key, l->ns);
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->keys = realloc(l->keys, l->cap * sizeof *l->keys);
        l->sizes = realloc(l->sizes, l->cap * sizeof *l->sizes);
        if (!l->keys || !l->sizes)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    if (asprintf(&k, "%s%s", e->is_prefix ? "+" : "", e->key + nslen) < 0)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    l->keys[l->n] = k;
    l->sizes[l->n] = e->size;
    l->n++;
    return l->stop_after && l->n >= l->stop_after ? 1 : 0;
}

static void listed_free(listed *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l->sizes);
    memset(l, 0, sizeof *l);
}

/* Lists ns+sub with delim and compares with want (NULL-terminated). */
static void list_expect(ctx *c, const char *sub, const char *delim, const char *const *want)
{
    char prefix[KEYBUF];
    listed l = {.ns = c->ns};
    size_t nwant = 0;

    K(c, prefix, "%s", sub);
    ck_assert_msg(ws_storage_list(c->st, prefix, delim, collect, &l, &c->err) == 0, "list %s: %s", prefix, c->err.msg);
    while (want[nwant])
        nwant++;
    for (size_t i = 0; i < l.n && i < nwant; i++)
        ck_assert_msg(strcmp(l.keys[i], want[i]) == 0, "list '%s' delim '%s': entry %zu is '%s', want '%s'", sub,
                      delim ? delim : "", i, l.keys[i], want[i]);
    ck_assert_msg(l.n == nwant, "list '%s' delim '%s': %zu entries, want %zu", sub, delim ? delim : "", l.n, nwant);
    for (size_t i = 0; i < l.n; i++)
        if (l.keys[i][0] == '+')
            ck_assert_msg(l.sizes[i] == 0, "common prefix %s has size %" PRIu64, l.keys[i], l.sizes[i]);
    listed_free(&l);
}

/* --- cases ------------------------------------------------------------ */

START_TEST(roundtrip_small)
{
    ctx c;
    char key[KEYBUF];

    ctx_open(&c, _i, "small");
    for (uint64_t size = 0; size <= 2; size++) {
        ws_sink *m = ws_sink_mem_new();
        const uint8_t *data;
        size_t len;
        uint8_t want[8];

        K(&c, key, "obj-%" PRIu64, size);
        put_obj(&c, key, size, 7, NULL, size == 1);
        head_size(&c, key, size, NULL);
        ck_assert_ptr_nonnull(m);
        OK(&c, ws_storage_get(c.st, key, 0, WS_TO_END, m, &c.err));
        data = ws_sink_mem_data(m, &len);
        fill(want, 0, sizeof want, 7);
        ck_assert_uint_eq(len, size);
        ck_assert(size == 0 || memcmp(data, want, len) == 0);
        ws_sink_free(m);
    }
    ctx_close(&c);
}
END_TEST

START_TEST(roundtrip_1mib_pieces)
{
    ctx c;
    char key[KEYBUF];
    const uint64_t size = 1024 * 1024;

    ctx_open(&c, _i, "mib");
    /* With an explicit finish, and with commit doing the finish. */
    put_obj(&c, K(&c, key, "a/finished"), size, 11, NULL, true);
    get_check(&c, key, 0, WS_TO_END, 11, size);
    head_size(&c, key, size, NULL);
    put_obj(&c, K(&c, key, "a/unfinished"), size + 1, 12, NULL, false);
    get_check(&c, key, 0, WS_TO_END, 12, size + 1);
    head_size(&c, key, size + 1, NULL);
    ctx_close(&c);
}
END_TEST

START_TEST(roundtrip_big)
{
    ctx c;
    char key[KEYBUF];
    uint64_t size;

    ctx_open(&c, _i, "big");
    size = c.r->opts.big_size;
    put_obj(&c, K(&c, key, "big"), size, 13, NULL, true);
    head_size(&c, key, size, NULL);
    get_check(&c, key, 0, WS_TO_END, 13, size);
    /* A range across several read blocks. */
    get_check(&c, key, size / 3 + 5, size / 3 + 7, 13, size / 3 + 7);
    ctx_close(&c);
}
END_TEST

START_TEST(overwrite_replaces)
{
    ctx c;
    char key[KEYBUF];
    ws_meta m1 = {0}, m2 = {0};
    ws_obj_info info;

    ctx_open(&c, _i, "overwrite");
    OK(&c, ws_meta_set(&m1, "first", "1", &c.err));
    OK(&c, ws_meta_set(&m2, "second", "2", &c.err));
    put_obj(&c, K(&c, key, "o"), 3000, 1, &m1, true);
    get_check(&c, key, 0, WS_TO_END, 1, 3000);
    put_obj(&c, key, 1000, 2, &m2, true);
    get_check(&c, key, 0, WS_TO_END, 2, 1000);
    head_size(&c, key, 1000, &info);
    ck_assert_ptr_null(ws_meta_get(&info.meta, "first"));
    if (c.r->opts.meta_roundtrip)
        ck_assert_str_eq(ws_meta_get(&info.meta, "second"), "2");
    ctx_close(&c);
}
END_TEST

/* Where offered, a create-only commit stores a new object and leaves an
 * existing one alone (small: a single PUT; big: multipart on S3). */
START_TEST(commit_new)
{
    ctx c;
    char key[KEYBUF];
    ws_put *p = NULL;

    ctx_open(&c, _i, "commitnew");
    if (!c.st->commit_new) {
        /* Not offered: the put has no such commit, and says so. */
        OK(&c, ws_storage_put_begin(c.st, K(&c, key, "none"), 1, &p, &c.err));
        ck_assert(p->ops->commit_new == NULL);
        ck_assert_int_eq(ws_put_commit_new(p, NULL, &c.err), -1);
        ws_put_free(p);
        head_absent(&c, key);
        ctx_close(&c);
        return;
    }
    ck_assert_int_eq(put_obj_new(&c, K(&c, key, "small"), 1000, 3), 1);
    get_check(&c, key, 0, WS_TO_END, 3, 1000);
    ck_assert_int_eq(put_obj_new(&c, key, 500, 4), 0);
    get_check(&c, key, 0, WS_TO_END, 3, 1000);
    /* An ordinary commit still replaces. */
    put_obj(&c, key, 700, 5, NULL, true);
    get_check(&c, key, 0, WS_TO_END, 5, 700);
    ck_assert_int_eq(put_obj_new(&c, K(&c, key, "big"), c.r->opts.big_size, 6), 1);
    ck_assert_int_eq(put_obj_new(&c, key, c.r->opts.big_size, 7), 0);
    get_check(&c, key, 0, 4096, 6, 4096);
    head_size(&c, key, c.r->opts.big_size, NULL);
    ctx_close(&c);
}
END_TEST

START_TEST(get_absent)
{
    ctx c;
    char key[KEYBUF], dkey[KEYBUF];

    ctx_open(&c, _i, "absent");
    get_fails(&c, K(&c, key, "nope"), 0, WS_TO_END, WS_ERR_NOTFOUND);
    get_fails(&c, K(&c, key, "no/such/dir"), 0, WS_TO_END, WS_ERR_NOTFOUND);
    get_fails(&c, K(&c, key, "nope"), 5, 10, WS_ERR_NOTFOUND);
    head_absent(&c, K(&c, key, "nope"));
    /* The "directory" above a key is no object. */
    put_obj(&c, K(&c, dkey, "d/x"), 10, 3, NULL, true);
    get_fails(&c, K(&c, key, "d"), 0, WS_TO_END, WS_ERR_NOTFOUND);
    head_absent(&c, key);
    /* A key is exact: no prefix matching. */
    head_absent(&c, K(&c, key,
                      "d/"
                      "x0"));
    ctx_close(&c);
}
END_TEST

START_TEST(head_found)
{
    ctx c;
    char key[KEYBUF];
    ws_obj_info info;
    int64_t now = (int64_t) time(NULL);

    ctx_open(&c, _i, "head");
    put_obj(&c, K(&c, key, "h/obj"), 12345, 4, NULL, true);
    head_size(&c, key, 12345, &info);
    ck_assert_msg(info.mtime == 0 || (info.mtime > now - 86400 && info.mtime < now + 86400),
                  "mtime %" PRId64 " is far from now %" PRId64, info.mtime, now);
    ck_assert_uint_eq(info.meta.n, 0);
    head_absent(&c, K(&c, key, "h/other"));
    ctx_close(&c);
}
END_TEST

START_TEST(meta_roundtrip)
{
    ctx c;
    char key[KEYBUF];
    ws_meta m = {0}, bad = {0};
    ws_obj_info info;
    ws_put *p;
    const char *sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    ctx_open(&c, _i, "meta");
    OK(&c, ws_meta_set(&m, "sha256", sha, &c.err));
    OK(&c, ws_meta_set(&m, "size", "12345", &c.err));
    OK(&c, ws_meta_set(&m, "x-y", "a b, c=d", &c.err));
    put_obj(&c, K(&c, key, "m"), 100, 5, &m, true);
    head_size(&c, key, 100, &info);
    if (c.r->opts.meta_roundtrip || info.meta.n > 0) {
        ck_assert_uint_eq(info.meta.n, 3);
        ck_assert_str_eq(ws_meta_get(&info.meta, "sha256"), sha);
        ck_assert_str_eq(ws_meta_get(&info.meta, "size"), "12345");
        ck_assert_str_eq(ws_meta_get(&info.meta, "x-y"), "a b, c=d");
    }
    /* A hand-filled invalid set is refused and nothing is stored. */
    bad.n = 1;
    strcpy(bad.e[0].name, "Bad_Name");
    strcpy(bad.e[0].value, "v");
    OK(&c, ws_storage_put_begin(c.st, K(&c, key, "badmeta"), 3, &p, &c.err));
    OK(&c, ws_sink_write(ws_put_sink(p), "abc", 3, &c.err));
    ck_assert_int_eq(ws_put_commit(p, &bad, &c.err), -1);
    ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
    ws_put_free(p);
    head_absent(&c, key);
    ctx_close(&c);
}
END_TEST

START_TEST(ranged_get)
{
    ctx c;
    char key[KEYBUF], zkey[KEYBUF];

    ctx_open(&c, _i, "range");
    put_obj(&c, K(&c, key, "r"), 1000, 6, NULL, true);
    get_check(&c, key, 0, 10, 6, 10);
    get_check(&c, key, 500, 100, 6, 100);
    get_check(&c, key, 990, WS_TO_END, 6, 10);
    get_check(&c, key, 0, 1000, 6, 1000);
    get_check(&c, key, 999, 1, 6, 1);
    get_check(&c, key, 1000, 0, 6, 0);
    get_check(&c, key, 1000, WS_TO_END, 6, 0);
    get_check(&c, key, 10, 0, 6, 0);
    get_fails(&c, key, 995, 10, WS_ERR_INVALID);
    ck_assert_msg(strstr(c.err.msg, "1000"), "range error does not give the size: %s", c.err.msg);
    get_fails(&c, key, 1001, WS_TO_END, WS_ERR_INVALID);
    get_fails(&c, key, 2000, 0, WS_ERR_INVALID);
    put_obj(&c, K(&c, zkey, "zero"), 0, 6, NULL, true);
    get_check(&c, zkey, 0, WS_TO_END, 6, 0);
    get_check(&c, zkey, 0, 0, 6, 0);
    get_fails(&c, zkey, 1, WS_TO_END, WS_ERR_INVALID);
    get_fails(&c, zkey, 0, 1, WS_ERR_INVALID);
    ctx_close(&c);
}
END_TEST

static const char *const list_keys[] = {"B", "d1-z", "d1.z/y", "d1/x1", "d1/x2", "d2/sub/k", "e", "f/g", NULL};

static int fail_cb(const ws_list_entry *e, void *arg, ws_err *err)
{
    (void) arg;
    return ws_err_set(err, WS_ERR_CORRUPT, "callback refused %s", e->key);
}

START_TEST(list_basic)
{
    ctx c;
    char key[KEYBUF];
    listed l;

    ctx_open(&c, _i, "list");
    /* Put in an order unlike the byte order. */
    for (size_t i = 0; list_keys[i]; i++) {
        size_t j = (i * 5) % 8;
        put_obj(&c, K(&c, key, "%s", list_keys[j]), j + 1, 8, NULL, true);
    }
    {
        const char *const want[] = {"B", "d1-z", "d1.z/y", "d1/x1", "d1/x2", "d2/sub/k", "e", "f/g", NULL};
        listed sz = {.ns = c.ns};

        list_expect(&c, "", NULL, want);
        OK(&c, ws_storage_list(c.st, c.ns, NULL, collect, &sz, &c.err));
        ck_assert_uint_eq(sz.n, 8);
        for (size_t i = 0; i < sz.n; i++)
            ck_assert_uint_eq(sz.sizes[i], i + 1);
        listed_free(&sz);
    }
    {
        const char *const want[] = {"d1-z", "d1.z/y", "d1/x1", "d1/x2", NULL};
        list_expect(&c, "d1", NULL, want);
    }
    {
        const char *const want[] = {"B", "d1-z", "+d1.z/", "+d1/", "+d2/", "e", "+f/", NULL};
        list_expect(&c, "", "/", want);
    }
    {
        const char *const want[] = {"d1-z", "+d1.z/", "+d1/", "+d2/", NULL};
        list_expect(&c, "d", "/", want);
    }
    {
        const char *const want[] = {"d1/x1", "d1/x2", NULL};
        list_expect(&c, "d1/", "/", want);
    }
    {
        const char *const want[] = {"+d2/sub/", NULL};
        list_expect(&c, "d2/", "/", want);
    }
    {
        const char *const want[] = {"B", "+d1-", "d1.z/y", "d1/x1", "d1/x2", "d2/sub/k", "e", "f/g", NULL};
        list_expect(&c, "", "-", want);
    }
    {
        const char *const want[] = {"d1/x1", NULL};
        list_expect(&c, "d1/x1", NULL, want);
    }
    {
        const char *const none[] = {NULL};
        list_expect(&c, "zzz", NULL, none);
        list_expect(&c, "zzz", "/", none);
        list_expect(&c, "d1/x3", NULL, none);
        list_expect(&c, "d1/x1/", NULL, none);
    }
    /* The callback may stop early; that is no error. */
    memset(&l, 0, sizeof l);
    l.ns = c.ns;
    l.stop_after = 2;
    OK(&c, ws_storage_list(c.st, c.ns, NULL, collect, &l, &c.err));
    ck_assert_uint_eq(l.n, 2);
    ck_assert_str_eq(l.keys[1], "d1-z");
    listed_free(&l);
    /* A callback's error is returned with its code. */
    ck_assert_int_eq(ws_storage_list(c.st, c.ns, NULL, fail_cb, NULL, &c.err), -1);
    ck_assert_int_eq(c.err.code, WS_ERR_CORRUPT);
    ck_assert_msg(strstr(c.err.msg, "callback refused"), "%s", c.err.msg);
    ctx_close(&c);
}
END_TEST

START_TEST(list_many)
{
    ctx c;
    char key[KEYBUF], prefix[KEYBUF];
    size_t n;
    listed l = {0};
    char **keys;
    size_t want_sub = 0;

    ctx_open(&c, _i, "many");
    n = c.r->opts.many_keys;
    keys = calloc(n, sizeof *keys);
    ck_assert_ptr_nonnull(keys);
    /* Put in reverse order so no driver gets sorted input for free. */
    for (size_t i = n; i-- > 0;) {
        char name[32];

        snprintf(name, sizeof name, "k%05zu", i);
        put_obj(&c, K(&c, key, "many/%s", name), 1, (uint32_t) i, NULL, true);
        keys[i] = strdup(key);
        if (strncmp(name, "k001", 4) == 0)
            want_sub++;
    }
    l.ns = c.ns;
    OK(&c, ws_storage_list(c.st, K(&c, prefix, "many/"), NULL, collect, &l, &c.err));
    ck_assert_uint_eq(l.n, n);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(l.keys[i] + strlen("many/"), strrchr(keys[i], '/') + 1);
        ck_assert_uint_eq(l.sizes[i], 1);
    }
    listed_free(&l);
    l.ns = c.ns;
    OK(&c, ws_storage_list(c.st, K(&c, prefix, "many/k001"), "/", collect, &l, &c.err));
    ck_assert_uint_eq(l.n, want_sub);
    listed_free(&l);
    {
        const char *const want[] = {"+many/", NULL};
        list_expect(&c, "", "/", want);
    }
    /* One batch removes them all. */
    OK(&c, ws_storage_remove(c.st, (const char *const *) keys, n, &c.err));
    {
        const char *const none[] = {NULL};
        list_expect(&c, "", NULL, none);
    }
    for (size_t i = 0; i < n; i++)
        free(keys[i]);
    free(keys);
    ctx_close(&c);
}
END_TEST

START_TEST(remove_batch)
{
    ctx c;
    char a[KEYBUF], bc[KEYBUF], bd[KEYBUF], absent[KEYBUF];

    ctx_open(&c, _i, "remove");
    put_obj(&c, K(&c, a, "a"), 10, 9, NULL, true);
    put_obj(&c, K(&c, bc, "b/c"), 10, 9, NULL, true);
    put_obj(&c, K(&c, bd, "b/d"), 10, 9, NULL, true);
    K(&c, absent, "absent/x");
    {
        const char *const keys[] = {a, absent, bc};
        OK(&c, ws_storage_remove(c.st, keys, 3, &c.err));
        head_absent(&c, a);
        head_absent(&c, bc);
        head_size(&c, bd, 10, NULL);
        /* Again: all absent now, still fine. */
        OK(&c, ws_storage_remove(c.st, keys, 3, &c.err));
        OK(&c, ws_storage_remove(c.st, keys, 0, &c.err));
    }
    {
        /* An invalid key refuses the whole batch before anything is removed. */
        const char *const keys[] = {bd, "bad//key"};
        ck_assert_int_eq(ws_storage_remove(c.st, keys, 2, &c.err), -1);
        ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
        head_size(&c, bd, 10, NULL);
    }
    {
        const char *const want[] = {"b/d", NULL};
        list_expect(&c, "", NULL, want);
    }
    ctx_close(&c);
}
END_TEST

START_TEST(uncommitted_invisible)
{
    ctx c;
    char key[KEYBUF], old[KEYBUF];
    ws_put *p;
    uint8_t buf[1000];
    listed l;

    ctx_open(&c, _i, "uncommitted");
    fill(buf, 0, sizeof buf, 10);
    OK(&c, ws_storage_put_begin(c.st, K(&c, key, "u/new"), sizeof buf, &p, &c.err));
    OK(&c, ws_sink_write(ws_put_sink(p), buf, sizeof buf, &c.err));
    OK(&c, ws_sink_finish(ws_put_sink(p), &c.err));
    head_absent(&c, key);
    get_fails(&c, key, 0, WS_TO_END, WS_ERR_NOTFOUND);
    memset(&l, 0, sizeof l);
    l.ns = c.ns;
    OK(&c, ws_storage_list(c.st, c.ns, NULL, collect, &l, &c.err));
    ck_assert_uint_eq(l.n, 0);
    listed_free(&l);
    OK(&c, ws_put_commit(p, NULL, &c.err));
    ws_put_free(p);
    get_check(&c, key, 0, WS_TO_END, 10, sizeof buf);

    /* While a replacement is being written, the old object stays whole. */
    put_obj(&c, K(&c, old, "u/old"), 100, 1, NULL, true);
    OK(&c, ws_storage_put_begin(c.st, old, 50, &p, &c.err));
    fill(buf, 0, 50, 2);
    OK(&c, ws_sink_write(ws_put_sink(p), buf, 50, &c.err));
    get_check(&c, old, 0, WS_TO_END, 1, 100);
    head_size(&c, old, 100, NULL);
    OK(&c, ws_put_commit(p, NULL, &c.err));
    ws_put_free(p);
    get_check(&c, old, 0, WS_TO_END, 2, 50);
    ctx_close(&c);
}
END_TEST

START_TEST(aborted_put)
{
    ctx c;
    char key[KEYBUF], old[KEYBUF];
    ws_put *p;
    uint8_t buf[5000];

    ctx_open(&c, _i, "aborted");
    fill(buf, 0, sizeof buf, 3);
    /* Freed after writing, after finishing, and right away. */
    for (int mode = 0; mode < 3; mode++) {
        OK(&c, ws_storage_put_begin(c.st, K(&c, key, "a/x"), 0, &p, &c.err));
        if (mode < 2)
            OK(&c, ws_sink_write(ws_put_sink(p), buf, sizeof buf, &c.err));
        if (mode == 1)
            OK(&c, ws_sink_finish(ws_put_sink(p), &c.err));
        ws_put_free(p);
        head_absent(&c, key);
    }
    {
        const char *const none[] = {NULL};
        list_expect(&c, "", NULL, none);
    }
    /* An aborted replacement leaves the old object intact. */
    put_obj(&c, K(&c, old, "a/old"), 300, 4, NULL, true);
    OK(&c, ws_storage_put_begin(c.st, old, 0, &p, &c.err));
    OK(&c, ws_sink_write(ws_put_sink(p), buf, sizeof buf, &c.err));
    ws_put_free(p);
    get_check(&c, old, 0, WS_TO_END, 4, 300);
    {
        const char *const want[] = {"a/old", NULL};
        list_expect(&c, "", NULL, want);
    }
    ctx_close(&c);
}
END_TEST

typedef struct tokens {
    char tok[4][WS_PUT_TOKEN_MAX + 1];
    size_t n;
} tokens;

static int take_token(void *arg, const char *token, ws_err *err)
{
    tokens *t = arg;

    (void) err;
    ck_assert_uint_lt(t->n, 4);
    ck_assert_uint_le(strlen(token), WS_PUT_TOKEN_MAX);
    snprintf(t->tok[t->n++], sizeof t->tok[0], "%s", token);
    return 0;
}

static int refuse_token(void *arg, const char *token, ws_err *err)
{
    (void) arg;
    (void) token;
    return ws_err_set(err, WS_ERR_IO, "cannot record the token");
}

START_TEST(abandoned_put)
{
    ctx c;
    char key[KEYBUF];
    ws_put *p;
    tokens t;
    uint8_t *buf = malloc(1 << 20);
    size_t total;
    int rc = 0;

    ck_assert_ptr_nonnull(buf);
    ctx_open(&c, _i, "abandoned");
    memset(&t, 0, sizeof t);
    /* Large enough to become a multipart upload where the driver has them. */
    OK(&c, ws_storage_put_begin(c.st, K(&c, key, "b/x"), 0, &p, &c.err));
    OK(&c, ws_put_track(p, take_token, &t, &c.err));
    for (total = 0; total < c.r->opts.big_size && rc == 0; total += 1 << 20) {
        fill(buf, total, 1 << 20, 7);
        rc = ws_sink_write(ws_put_sink(p), buf, 1 << 20, &c.err);
    }
    ck_assert_msg(rc == 0, "write: %s", c.err.msg);
    ck_assert_uint_le(t.n, 1);
    /* As if its process had been killed: abandoned by someone else, twice. */
    for (size_t i = 0; i < t.n; i++) {
        OK(&c, ws_storage_abandon(c.st, key, t.tok[i], &c.err));
        OK(&c, ws_storage_abandon(c.st, key, t.tok[i], &c.err));
    }
    head_absent(&c, key);
    {
        const char *const none[] = {NULL};
        list_expect(&c, "", NULL, none);
    }
    ws_put_free(p);
    ck_assert_int_eq(ws_storage_abandon(c.st, key, "", &c.err), -1);
    ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
    ck_assert_int_eq(ws_storage_abandon(c.st, key, "a b", &c.err), -1);
    ck_assert_int_eq(c.err.code, WS_ERR_INVALID);

    /* A token that cannot be recorded fails the put before data is lost. */
    memset(&t, 0, sizeof t);
    OK(&c, ws_storage_put_begin(c.st, key, 0, &p, &c.err));
    rc = ws_put_track(p, refuse_token, NULL, &c.err);
    for (total = 0; total < c.r->opts.big_size && rc == 0; total += 1 << 20)
        rc = ws_sink_write(ws_put_sink(p), buf, 1 << 20, &c.err);
    if (rc == 0)
        rc = ws_put_commit(p, NULL, &c.err);
    ws_put_free(p);
    /* Drivers without leftovers never call back: the put then succeeds. */
    if (rc < 0) {
        ck_assert_msg(strstr(c.err.msg, "cannot record the token"), "%s", c.err.msg);
        head_absent(&c, key);
    }
    free(buf);
    ctx_close(&c);
}
END_TEST

START_TEST(invalid_keys)
{
    static const char *const bad[] = {"",     "/a",  "a/",   "a//b", "a/./b", "a/../b", "..",          ".", "./a",
                                      "a/..", "a b", "a\\b", "a\nb", "a:b",   "a~",     "caf\xc3\xa9", NULL};
    static const char *const good[] = {"a", "A/b.c-d_E", "0", "a.b", "..a", "a/.b/..c", "a...", NULL};
    ctx c;
    char long_key[1026];
    ws_put *p = (ws_put *) &p;
    ws_obj_info info;
    ws_sink *m;

    ctx_open(&c, _i, "invalid");
    memset(long_key, 'k', 1025);
    long_key[1025] = '\0';
    ck_assert(!ws_storage_key_valid(long_key));
    long_key[1024] = '\0';
    ck_assert(ws_storage_key_valid(long_key));
    ck_assert(!ws_storage_key_valid(NULL));
    for (size_t i = 0; good[i]; i++)
        ck_assert_msg(ws_storage_key_valid(good[i]), "'%s' should be valid", good[i]);
    m = ws_sink_mem_new();
    ck_assert_ptr_nonnull(m);
    for (size_t i = 0; bad[i]; i++) {
        ck_assert_msg(!ws_storage_key_valid(bad[i]), "'%s' should be invalid", bad[i]);
        ck_assert_int_eq(ws_storage_put_begin(c.st, bad[i], 0, &p, &c.err), -1);
        ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
        ck_assert_ptr_null(p);
        ck_assert_msg(strchr(c.err.msg, '\n') == NULL, "not one line: %s", c.err.msg);
        ck_assert_int_eq(ws_storage_get(c.st, bad[i], 0, WS_TO_END, m, &c.err), -1);
        ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
        ck_assert_int_eq(ws_storage_head(c.st, bad[i], &info, &c.err), -1);
        ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
        ck_assert_int_eq(ws_storage_remove(c.st, &bad[i], 1, &c.err), -1);
        ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
    }
    ws_sink_free(m);
    ck_assert_int_eq(ws_storage_list(c.st, "/x", NULL, collect, NULL, &c.err), -1);
    ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
    ck_assert_int_eq(ws_storage_list(c.st, "a b", NULL, collect, NULL, &c.err), -1);
    ck_assert_int_eq(c.err.code, WS_ERR_INVALID);
    ctx_close(&c);
}
END_TEST

void ws_conformance_add(Suite *s, const char *name, ws_storage *(*open_fn)(void *arg),
                        void (*close_fn)(ws_storage *st, void *arg), void *arg, const ws_conformance_opts *opts)
{
    TCase *tc = tcase_create(name);
    reg *r;
    int i;

    if (nregs >= MAX_REGS) {
        /* Not inside a test yet: Check cannot report this. */
        fprintf(stderr, "ws_conformance_add: more than %d registrations\n", MAX_REGS);
        abort();
    }
    i = nregs++;
    r = &regs[i];
    r->open_fn = open_fn;
    r->close_fn = close_fn;
    r->arg = arg;
    if (opts)
        r->opts = *opts;
    if (!r->opts.many_keys)
        r->opts.many_keys = 1100;
    if (!r->opts.big_size)
        r->opts.big_size = 20u * 1024 * 1024;
    if (!r->opts.key_prefix)
        r->opts.key_prefix = "";
    if (!r->opts.timeout)
        r->opts.timeout = 120;
    tcase_set_timeout(tc, r->opts.timeout);
    tcase_add_loop_test(tc, roundtrip_small, i, i + 1);
    tcase_add_loop_test(tc, roundtrip_1mib_pieces, i, i + 1);
    tcase_add_loop_test(tc, roundtrip_big, i, i + 1);
    tcase_add_loop_test(tc, overwrite_replaces, i, i + 1);
    tcase_add_loop_test(tc, commit_new, i, i + 1);
    tcase_add_loop_test(tc, get_absent, i, i + 1);
    tcase_add_loop_test(tc, head_found, i, i + 1);
    tcase_add_loop_test(tc, meta_roundtrip, i, i + 1);
    tcase_add_loop_test(tc, ranged_get, i, i + 1);
    tcase_add_loop_test(tc, list_basic, i, i + 1);
    tcase_add_loop_test(tc, list_many, i, i + 1);
    tcase_add_loop_test(tc, remove_batch, i, i + 1);
    tcase_add_loop_test(tc, uncommitted_invisible, i, i + 1);
    tcase_add_loop_test(tc, aborted_put, i, i + 1);
    tcase_add_loop_test(tc, invalid_keys, i, i + 1);
    tcase_add_loop_test(tc, abandoned_put, i, i + 1);
    suite_add_tcase(s, tc);
}
