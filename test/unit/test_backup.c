/*
 * test_backup.c - base backup pieces without a server: the BASE_BACKUP COPY
 * stream parser (synthetic messages, and with --real the streams PostgreSQL 15
 * sent, captured by bb_fixture.py), the tar splitter, the backup catalog.
 *
 * With --real, WS_TEST_BB_FIXTURE names the fixture directory: the captured
 * archives are split into 1 MiB pieces and every file the server's
 * backup_manifest lists is found, by walking each piece on its own, with the
 * manifest's size and SHA-256.
 */
#include <check.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/backup_catalog.h"
#include "walship/backup_history.h"
#include "walship/backup_preflight.h"
#include "walship/backup_server.h"
#include "walship/basebackup_stream.h"
#include "walship/tar_split.h"

#define MiB (1u << 20)

/* --- a growable byte buffer ------------------------------------------------ */

typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;

        while (nc < b->len + len)
            nc *= 2;
        b->p = realloc(b->p, nc);
        ck_assert_ptr_nonnull(b->p);
        b->cap = nc;
    }
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

static void bytes_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* --- the stream parser: recorded events ------------------------------------- */

typedef struct events {
    char log[4096];
    bytes archive[4];
    char names[4][64], locations[4][256];
    int narchives;
    bytes manifest;
    uint64_t last_progress;
    int nprogress;
    bool fail_data;
} events;

static void logf_(events *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(events *e, const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(e->log);

    va_start(ap, fmt);
    vsnprintf(e->log + n, sizeof e->log - n, fmt, ap);
    va_end(ap);
}

static int ev_archive(void *arg, const char *name, const char *location, ws_err *err)
{
    events *e = arg;

    (void) err;
    logf_(e, "n(%s,%s)", name, location);
    ck_assert_int_lt(e->narchives, 4);
    snprintf(e->names[e->narchives], sizeof e->names[0], "%s", name);
    snprintf(e->locations[e->narchives], sizeof e->locations[0], "%s", location);
    e->narchives++;
    return 0;
}

static int ev_data(void *arg, bool manifest, const uint8_t *buf, size_t len, ws_err *err)
{
    events *e = arg;

    if (e->fail_data)
        return ws_err_set(err, WS_ERR_IO, "sink refused");
    if (len < 64)
        logf_(e, "%c(%.*s)", manifest ? 'M' : 'd', (int) len, (const char *) buf);
    bytes_add(manifest ? &e->manifest : &e->archive[e->narchives - 1], buf, len);
    return 0;
}

static int ev_progress(void *arg, uint64_t done, ws_err *err)
{
    events *e = arg;

    (void) err;
    if (e->nprogress < 8)
        logf_(e, "p(%" PRIu64 ")", done);
    e->last_progress = done;
    e->nprogress++;
    return 0;
}

static int ev_manifest(void *arg, ws_err *err)
{
    (void) err;
    logf_(arg, "m");
    return 0;
}

static const ws_basebackup_events EV = {ev_archive, ev_data, ev_progress, ev_manifest};

static void events_free(events *e)
{
    for (int i = 0; i < 4; i++)
        bytes_free(&e->archive[i]);
    bytes_free(&e->manifest);
}

/* Feeds messages given as (len, bytes) pairs; returns the first failure. */
static int feed(ws_basebackup_stream *s, const char *const *msgs, const size_t *lens, size_t n, ws_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (ws_basebackup_stream_feed(s, (const uint8_t *) msgs[i], lens[i], err) < 0)
            return -1;
    return 0;
}

/* Messages are written as C strings; 'n' and 'p' need embedded NULs, so
 * their lengths come from the content: 'n' = type, name NUL, location NUL;
 * 'p' = 9 bytes; others up to their NUL. */
static size_t message_len(const char *m)
{
    if (m[0] == 'n') {
        size_t a = strlen(m + 1);

        return 1 + a + 1 + strlen(m + 2 + a) + 1;
    }
    if (m[0] == 'p')
        return 9;
    return strlen(m);
}

/* Feeds the messages (NULL-terminated list). */
static int feed_v(ws_basebackup_stream *s, ws_err *err, ...)
{
    const char *msgs[32];
    size_t lens[32], n = 0;
    va_list ap;

    va_start(ap, err);
    for (const char *m; (m = va_arg(ap, const char *)) != NULL && n < 32; n++) {
        msgs[n] = m;
        lens[n] = message_len(m);
    }
    va_end(ap);
    return feed(s, msgs, lens, n, err);
}

START_TEST(stream_valid)
{
    ws_basebackup_stream s;
    events e;
    ws_err err;

    memset(&e, 0, sizeof e);
    ws_basebackup_stream_init(&s, &EV, &e);
    ck_assert_msg(feed_v(&s, &err, "n16384.tar\0/srv/ts", "dabc", "d", "p\0\0\0\0\0\0\0\x05", "nbase.tar\0", "dxyz",
                         "p\0\0\0\0\0\0\x01\x00", "p\0\0\0\0\0\0\x01\x00", "m", "d{}", NULL) == 0,
                  "%s", err.msg);
    ck_assert_int_eq(ws_basebackup_stream_end(&s, true, &err), 0);
    ck_assert_str_eq(e.log, "n(16384.tar,/srv/ts)d(abc)p(5)n(base.tar,)d(xyz)p(256)p(256)mM({})");
    ck_assert_uint_eq(s.archives, 2);
    ck_assert_uint_eq(s.manifest_bytes, 2);
    events_free(&e);
}
END_TEST

static void stream_fails(const char *const *msgs, size_t n, const char *want)
{
    ws_basebackup_stream s;
    events e;
    ws_err err;
    size_t lens[16];
    int rc;

    memset(&e, 0, sizeof e);
    memset(&err, 0, sizeof err);
    for (size_t i = 0; i < n; i++)
        lens[i] = message_len(msgs[i]);
    ws_basebackup_stream_init(&s, &EV, &e);
    rc = feed(&s, msgs, lens, n, &err);
    if (rc == 0)
        rc = ws_basebackup_stream_end(&s, true, &err);
    ck_assert_msg(rc == -1, "accepted; wanted \"%s\"", want);
    ck_assert_int_eq(err.code, WS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, want), "\"%s\" does not say \"%s\"", err.msg, want);
    ck_assert_msg(!strchr(err.msg, '\n'), "not one line: %s", err.msg);
    events_free(&e);
}

#define FAILS(want, ...)                                  \
    do {                                                  \
        static const char *const m_[] = {__VA_ARGS__};    \
        stream_fails(m_, sizeof m_ / sizeof m_[0], want); \
    } while (0)

START_TEST(stream_errors)
{
    FAILS("message 1: data before the first archive", "dabc");
    FAILS("message 2: unknown type 'z'", "nbase.tar\0", "zzz");
    FAILS("unknown type 0x01", "\x01");
    FAILS("message 1: manifest before any archive", "m");
    FAILS("malformed manifest message", "nbase.tar\0", "mx");
    FAILS("a second manifest", "nbase.tar\0", "m", "m");
    FAILS("a new archive after the manifest", "nbase.tar\0", "m", "n1.tar\0");
    FAILS("progress went back", "nbase.tar\0", "p\0\0\0\0\0\0\0\x09", "p\0\0\0\0\0\0\0\x08");
    FAILS("negative progress", "nbase.tar\0", "p\xff\0\0\0\0\0\0\x08");
    FAILS("new-archive message without a name", "n\0");
    FAILS("ended without any archive", "p\0\0\0\0\0\0\0\x01");
    FAILS("ended without the backup manifest", "nbase.tar\0", "dabc");

    /* Malformed 'n' messages need exact bytes. */
    {
        static const struct {
            const char *m;
            size_t len;
        } bad[] = {{"nbase.tar", 9}, {"nbase.tar\0", 10}, {"nbase.tar\0\0x", 12}, {"nba\x01se\0\0", 8}, {"n", 1}};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            ws_basebackup_stream s;
            events e;
            ws_err err;

            memset(&e, 0, sizeof e);
            ws_basebackup_stream_init(&s, &EV, &e);
            ck_assert_int_eq(ws_basebackup_stream_feed(&s, (const uint8_t *) bad[i].m, bad[i].len, &err), -1);
            ck_assert_msg(strstr(err.msg, "malformed new-archive message"), "%zu: %s", i, err.msg);
        }
    }
    /* A progress message of the wrong length. */
    {
        ws_basebackup_stream s;
        events e;
        ws_err err;

        memset(&e, 0, sizeof e);
        ws_basebackup_stream_init(&s, &EV, &e);
        ck_assert_int_eq(ws_basebackup_stream_feed(&s, (const uint8_t *) "nbase.tar\0", 11, &err), 0);
        ck_assert_int_eq(ws_basebackup_stream_feed(&s, (const uint8_t *) "p\0\0\0\0\0\0\0\0\0", 10, &err), -1);
        ck_assert_msg(strstr(err.msg, "message 2: progress message of the wrong length"), "%s", err.msg);
    }
    /* An empty message. */
    {
        ws_basebackup_stream s;
        events e;
        ws_err err;

        memset(&e, 0, sizeof e);
        ws_basebackup_stream_init(&s, &EV, &e);
        ck_assert_int_eq(ws_basebackup_stream_feed(&s, (const uint8_t *) "", 0, &err), -1);
        ck_assert_msg(strstr(err.msg, "empty message"), "%s", err.msg);
    }
}
END_TEST

START_TEST(stream_callback_error)
{
    ws_basebackup_stream s;
    events e;
    ws_err err;

    memset(&e, 0, sizeof e);
    e.fail_data = true;
    ws_basebackup_stream_init(&s, &EV, &e);
    ck_assert_int_eq(feed_v(&s, &err, "nbase.tar\0", "dabc", NULL), -1);
    ck_assert_int_eq(err.code, WS_ERR_IO);
    ck_assert_str_eq(err.msg, "sink refused");
    /* A manifest-less stream is fine when no manifest was asked for. */
    memset(&e, 0, sizeof e);
    ws_basebackup_stream_init(&s, &EV, &e);
    ck_assert_int_eq(feed_v(&s, &err, "nbase.tar\0", "dabc", NULL), 0);
    ck_assert_int_eq(ws_basebackup_stream_end(&s, false, &err), 0);
    events_free(&e);
}
END_TEST

/* --- tar: building archives ------------------------------------------------- */

static void octal(uint8_t *f, size_t n, uint64_t v)
{
    snprintf((char *) f, n, "%0*" PRIo64, (int) n - 1, v);
}

static void header(bytes *b, const char *name, char type, uint64_t size, const char *prefix)
{
    uint8_t h[512];
    unsigned sum = 0;

    memset(h, 0, sizeof h);
    snprintf((char *) h, 100, "%s", name);
    octal(h + 100, 8, 0600);
    octal(h + 108, 8, 0);
    octal(h + 116, 8, 0);
    if (size < 077777777777ull)
        octal(h + 124, 12, size);
    else {
        h[124] = 0x80;
        for (int i = 0; i < 8; i++)
            h[135 - i] = (uint8_t) (size >> (8 * i));
    }
    octal(h + 136, 12, 0);
    h[156] = (uint8_t) type;
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    if (prefix)
        snprintf((char *) h + 345, 155, "%s", prefix);
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *) h + 148, 8, "%06o", sum);
    bytes_add(b, h, sizeof h);
}

static uint8_t pattern(uint32_t seed, uint64_t i)
{
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;

    x ^= x >> 31;
    return (uint8_t) (x * 0x94D049BB133111EBull >> 56);
}

static void member(bytes *b, const char *name, uint64_t size, uint32_t seed)
{
    static const uint8_t zero[512];
    uint8_t buf[4096];

    header(b, name, '0', size, NULL);
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < sizeof buf ? (size_t) (size - off) : sizeof buf;

        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(seed, off + i);
        bytes_add(b, buf, n);
        off += n;
    }
    bytes_add(b, zero, (512 - size % 512) % 512);
}

static void end_blocks(bytes *b)
{
    static const uint8_t zero[1024];

    bytes_add(b, zero, sizeof zero);
}

/* --- tar: the splitter's pieces -------------------------------------------- */

typedef struct piece_rec {
    ws_tar_piece info;
    bytes data;
    uint64_t len;
    bool ended;
} piece_rec;

typedef struct pieces {
    piece_rec p[256];
    int n;
} pieces;

static int pc_begin(void *arg, const ws_tar_piece *info, ws_err *err)
{
    pieces *ps = arg;

    (void) err;
    ck_assert_int_lt(ps->n, 256);
    ck_assert_uint_eq(info->index, (unsigned) ps->n);
    ck_assert(ps->n == 0 || ps->p[ps->n - 1].ended);
    memset(&ps->p[ps->n], 0, sizeof ps->p[0]);
    ps->p[ps->n].info = *info;
    ps->n++;
    return 0;
}

static int pc_data(void *arg, const uint8_t *buf, size_t len, ws_err *err)
{
    pieces *ps = arg;

    (void) err;
    ck_assert(!ps->p[ps->n - 1].ended);
    bytes_add(&ps->p[ps->n - 1].data, buf, len);
    return 0;
}

static int pc_end(void *arg, uint64_t len, ws_err *err)
{
    pieces *ps = arg;

    (void) err;
    ps->p[ps->n - 1].ended = true;
    ps->p[ps->n - 1].len = len;
    ck_assert_uint_eq(len, ps->p[ps->n - 1].data.len);
    return 0;
}

static const ws_tar_split_ops PIECE_OPS = {pc_begin, pc_data, pc_end};

static void pieces_free(pieces *ps)
{
    for (int i = 0; i < ps->n; i++)
        bytes_free(&ps->p[i].data);
    ps->n = 0;
}

/* Splits b written in chunks of `chunk` bytes (0: varied sizes). */
static int split(const bytes *b, uint64_t max, size_t chunk, pieces *ps, uint64_t *members, ws_err *err)
{
    ws_tar_split *t = ws_tar_split_new("test.tar", max, &PIECE_OPS, ps, err);
    size_t off = 0, k = 0;
    int rc = 0;

    ck_assert_ptr_nonnull(t);
    memset(ps, 0, sizeof *ps);
    while (rc == 0 && off < b->len) {
        static const size_t sizes[] = {1, 511, 512, 513, 7, 65536, 4096, 100000};
        size_t n = chunk ? chunk : sizes[k++ % 8];

        if (n > b->len - off)
            n = b->len - off;
        rc = ws_tar_split_write(t, b->p + off, n, err);
        off += n;
    }
    if (rc == 0)
        rc = ws_tar_split_finish(t, err);
    if (members)
        *members = ws_tar_split_members(t);
    ws_tar_split_free(t);
    return rc;
}

/* The pieces concatenate to the archive, each at most max + 511 bytes, and
 * each starts with a header (or a zero block) unless it is continued. */
static void check_pieces(const bytes *b, const pieces *ps, uint64_t max)
{
    uint64_t off = 0;

    for (int i = 0; i < ps->n; i++) {
        const piece_rec *p = &ps->p[i];

        ck_assert(p->ended);
        ck_assert_uint_eq(p->info.tar_offset, off);
        ck_assert_uint_le(p->len, max + 511);
        ck_assert_msg(memcmp(p->data.p, b->p + off, p->len) == 0 || p->len == 0, "piece %d differs", i);
        if (!p->info.continued && p->len)
            ck_assert_msg(memcmp(p->data.p + 257, "ustar", 5) == 0 || p->data.p[0] == 0, "piece %d: no header", i);
        off += p->len;
    }
    ck_assert_uint_eq(off, b->len);
}

START_TEST(tar_whole_members)
{
    bytes b = {0};
    pieces ps;
    ws_err err;
    uint64_t members;
    static const size_t chunks[] = {0, 7, 512, 1 << 20};

    /* 0.3 MiB members: three fit in a 1 MiB piece, a fourth starts the next. */
    for (int i = 0; i < 10; i++) {
        char name[32];

        snprintf(name, sizeof name, "base/1/%d", 1000 + i);
        member(&b, name, 300 * 1024 + (size_t) i, (uint32_t) i);
    }
    header(&b, "pg_wal", '5', 0, NULL);
    end_blocks(&b);
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        ck_assert_msg(split(&b, MiB, chunks[c], &ps, &members, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(members, 11);
        ck_assert_int_eq(ps.n, 4);
        for (int i = 0; i < ps.n; i++) {
            ck_assert(!ps.p[i].info.continued);
            ck_assert_uint_le(ps.p[i].len, MiB);
        }
        check_pieces(&b, &ps, MiB);
        pieces_free(&ps);
    }
    bytes_free(&b);
}
END_TEST

START_TEST(tar_large_member)
{
    bytes b = {0};
    pieces ps;
    ws_err err;
    uint64_t size = 3 * MiB + 100;

    member(&b, "small", 1000, 1);
    member(&b, "base/1/big", size, 2);
    member(&b, "after", 10, 3);
    end_blocks(&b);
    ck_assert_msg(split(&b, MiB, 0, &ps, NULL, &err) == 0, "%s", err.msg);
    check_pieces(&b, &ps, MiB);
    /* "small" alone; then the big member's header and data cut at 1 MiB. */
    ck_assert_int_eq(ps.n, 5);
    ck_assert(!ps.p[0].info.continued);
    ck_assert_uint_eq(ps.p[0].len, 1536);
    ck_assert(!ps.p[1].info.continued);
    ck_assert_uint_eq(ps.p[1].len, MiB);
    for (int i = 2; i < 5; i++) {
        ck_assert(ps.p[i].info.continued);
        ck_assert_str_eq(ps.p[i].info.path, "base/1/big");
        ck_assert_uint_eq(ps.p[i].info.member_size, size);
        ck_assert_uint_eq(ps.p[i].info.member_offset, (uint64_t) (i - 1) * MiB - 512);
    }
    /* The last piece: the rest of the data, its padding, the next member. */
    ck_assert_uint_eq(ps.p[4].len, (size - (3 * MiB - 512)) + 412 + 1024 + 1024);
    pieces_free(&ps);
    bytes_free(&b);
}
END_TEST

START_TEST(tar_extended_headers)
{
    bytes b = {0}, pax = {0};
    pieces ps;
    ws_err err;
    char rec[300], longname[200];
    static const uint8_t zero[512];

    /* pax: "len path=value\n" */
    memset(longname, 'p', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    snprintf(rec, sizeof rec, "%zu path=%s\n", strlen(longname) + 10, longname);
    ck_assert_uint_eq(strlen(rec), strlen(longname) + 10);
    header(&b, "././@PaxHeader", 'x', strlen(rec), NULL);
    bytes_add(&b, rec, strlen(rec));
    bytes_add(&b, zero, 512 - strlen(rec));
    member(&b, "short-name", 2 * MiB, 5);
    /* GNU long name. */
    header(&b, "././@LongLink", 'L', 150, NULL);
    memset(rec, 'g', 149);
    rec[149] = '\0';
    bytes_add(&b, rec, 150);
    bytes_add(&b, zero, 512 - 150);
    member(&b, "cut", 2 * MiB, 6);
    /* ustar prefix. */
    header(&b, "name", '0', 0, "some/prefix");
    member(&b, "x", 3 * MiB, 7);
    bytes_free(&pax);
    ck_assert_msg(split(&b, MiB, 0, &ps, NULL, &err) == 0, "%s", err.msg);
    check_pieces(&b, &ps, MiB);
    {
        int seen_pax = 0, seen_gnu = 0;

        for (int i = 0; i < ps.n; i++) {
            if (!ps.p[i].info.continued)
                continue;
            if (strcmp(ps.p[i].info.path, longname) == 0)
                seen_pax++;
            else if (strlen(ps.p[i].info.path) == 149 && ps.p[i].info.path[0] == 'g')
                seen_gnu++;
            else
                ck_assert_str_eq(ps.p[i].info.path, "x");
        }
        ck_assert_int_ge(seen_pax, 1);
        ck_assert_int_ge(seen_gnu, 1);
    }
    pieces_free(&ps);
    bytes_free(&b);
}
END_TEST

START_TEST(tar_base256_size)
{
    /* A size written in base-256 is read (the value here is small). */
    bytes b = {0};
    uint8_t h[512];
    unsigned sum = 0;
    pieces ps;
    ws_err err;

    header(&b, "f", '0', 0, NULL);
    memcpy(h, b.p, 512);
    memset(h + 124, 0, 12);
    h[124] = 0x80;
    h[135] = 0x10; /* 16 bytes */
    memset(h + 148, ' ', 8);
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *) h + 148, 8, "%06o", sum);
    b.len = 0;
    bytes_add(&b, h, 512);
    bytes_add(&b, "0123456789abcdef", 16);
    {
        static const uint8_t zero[496];
        bytes_add(&b, zero, sizeof zero);
    }
    end_blocks(&b);
    ck_assert_msg(split(&b, MiB, 0, &ps, NULL, &err) == 0, "%s", err.msg);
    check_pieces(&b, &ps, MiB);
    pieces_free(&ps);
    bytes_free(&b);
}
END_TEST

static void tar_fails(const bytes *b, const char *want)
{
    pieces ps;
    ws_err err;

    memset(&err, 0, sizeof err);
    ck_assert_msg(split(b, MiB, 0, &ps, NULL, &err) == -1, "accepted; wanted %s", want);
    ck_assert_int_eq(err.code, WS_ERR_FORMAT);
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, "test.tar"), "\"%s\" does not say \"%s\"", err.msg, want);
    pieces_free(&ps);
}

START_TEST(tar_errors)
{
    bytes b = {0};

    member(&b, "a", 100, 1);
    b.p[0] ^= 1; /* name changes: checksum no longer matches */
    tar_fails(&b, "offset 0: bad header checksum");
    bytes_free(&b);

    member(&b, "a", 100, 1);
    member(&b, "b", 100, 1);
    b.p[1024 + 124] = 'x';
    tar_fails(&b, "offset 1024: bad");
    bytes_free(&b);

    member(&b, "a", 100, 1);
    end_blocks(&b);
    member(&b, "late", 10, 2);
    tar_fails(&b, "data after the end-of-archive marker");
    bytes_free(&b);

    member(&b, "a", 5000, 1);
    b.len -= 1000;
    tar_fails(&b, "ends inside a member");
    bytes_free(&b);

    member(&b, "a", 5000, 1);
    b.len = 100; /* inside the header */
    tar_fails(&b, "ends inside a member");
    bytes_free(&b);

    header(&b, "huge", 'x', 70000, NULL);
    {
        uint8_t *z = calloc(1, 70144);
        bytes_add(&b, z, 70144);
        free(z);
    }
    tar_fails(&b, "extended headers larger than 64 KiB");
    bytes_free(&b);

    {
        static const uint8_t zero[512];
        header(&b, "././@PaxHeader", 'x', 0, NULL);
        bytes_add(&b, zero, 512);
        tar_fails(&b, "end-of-archive block after an extended header");
        bytes_free(&b);
    }
    {
        ws_err err;
        ck_assert_ptr_null(ws_tar_split_new("x", 1000, &PIECE_OPS, NULL, &err));
        ck_assert_int_eq(err.code, WS_ERR_INVALID);
    }
}
END_TEST

START_TEST(tar_empty)
{
    bytes b = {0};
    pieces ps;
    ws_err err;

    ck_assert_int_eq(split(&b, MiB, 0, &ps, NULL, &err), 0);
    ck_assert_int_eq(ps.n, 1);
    ck_assert_uint_eq(ps.p[0].len, 0);
    pieces_free(&ps);
}
END_TEST

/* --- captured streams (--real) ---------------------------------------------- */

static const char *fixture(void)
{
    const char *d = getenv("WS_TEST_BB_FIXTURE");

    ck_assert_msg(d && *d, "WS_TEST_BB_FIXTURE is not set (run through bb_fixture.py)");
    return d;
}

static json_t *load_json_file(const char *path)
{
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);

    ck_assert_msg(j != NULL, "%s: %s", path, je.text);
    return j;
}

/* Replays a capture file (4-byte little-endian length, message). */
static int replay(const char *name, events *e, bool want_manifest, uint64_t *nmsgs, ws_err *err)
{
    char path[4096];
    FILE *f;
    ws_basebackup_stream s;
    uint8_t l[4];
    int rc = 0;

    snprintf(path, sizeof path, "%s/%s.stream", fixture(), name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s", path);
    ws_basebackup_stream_init(&s, &EV, e);
    while (rc == 0 && fread(l, 1, 4, f) == 4) {
        size_t len = (size_t) l[0] | (size_t) l[1] << 8 | (size_t) l[2] << 16 | (size_t) l[3] << 24;
        uint8_t *m = malloc(len ? len : 1);

        ck_assert_ptr_nonnull(m);
        ck_assert_uint_eq(fread(m, 1, len, f), len);
        rc = ws_basebackup_stream_feed(&s, m, len, err);
        free(m);
    }
    fclose(f);
    if (rc == 0)
        rc = ws_basebackup_stream_end(&s, want_manifest, err);
    *nmsgs = s.messages;
    return rc;
}

/* Per-file digests found by walking pieces. */
typedef struct file_digest {
    char path[512];
    uint64_t size;
    EVP_MD_CTX *ctx;
    char hex[65];
    int found;
} file_digest;

typedef struct walk {
    file_digest f[4096];
    int n;
} walk;

static file_digest *wfile(walk *w, const char *path, bool create)
{
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->f[i].path, path) == 0)
            return &w->f[i];
    ck_assert_msg(create, "no member %s seen before its continuation", path);
    ck_assert_int_lt(w->n, 4096);
    memset(&w->f[w->n], 0, sizeof w->f[0]);
    snprintf(w->f[w->n].path, sizeof w->f[0].path, "%s", path);
    w->f[w->n].ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(w->f[w->n].ctx, EVP_sha256(), NULL);
    return &w->f[w->n++];
}

static void wfinal(file_digest *fd)
{
    uint8_t md[32];
    unsigned n;

    EVP_DigestFinal_ex(fd->ctx, md, &n);
    EVP_MD_CTX_free(fd->ctx);
    fd->ctx = NULL;
    for (int i = 0; i < 32; i++)
        snprintf(fd->hex + 2 * i, 3, "%02x", md[i]);
}

/* Walks one piece on its own: continued data first, then whole members
 * (simple ustar, as PostgreSQL writes). */
static void walk_piece(walk *w, const piece_rec *p, const char *path_prefix)
{
    const uint8_t *d = p->data.p;
    uint64_t pos = 0, len = p->len;

    if (p->info.continued) {
        char path[600];
        file_digest *fd;
        uint64_t left = p->info.member_size - p->info.member_offset, n = left < len ? left : len;

        snprintf(path, sizeof path, "%s%s", path_prefix, p->info.path);
        fd = wfile(w, path, false);
        ck_assert_uint_eq(fd->size, p->info.member_offset); /* bytes so far */
        EVP_DigestUpdate(fd->ctx, d, n);
        fd->size += n;
        if (n < left)
            return;
        wfinal(fd);
        pos = (n + 511) / 512 * 512;
    }
    while (pos < len) {
        const uint8_t *h = d + pos;
        char path[600];
        uint64_t size = strtoull((const char *) h + 124, NULL, 8);
        uint64_t in_piece;
        file_digest *fd;

        if (h[0] == 0) {
            pos += 512;
            continue;
        }
        pos += 512;
        if (h[156] != '0')
            continue;
        snprintf(path, sizeof path, "%s%.100s", path_prefix, (const char *) h);
        fd = wfile(w, path, true);
        in_piece = len - pos < size ? len - pos : size;
        EVP_DigestUpdate(fd->ctx, d + pos, in_piece);
        fd->size = in_piece;
        if (in_piece == size) {
            wfinal(fd);
            pos += (size + 511) / 512 * 512;
        } else
            pos = len;
    }
}

START_TEST(real_full_stream)
{
    char path[4096];
    json_t *facts, *manifest, *files, *f;
    events e;
    ws_err err;
    uint64_t nmsgs, total = 0;
    walk *w = calloc(1, sizeof *w);
    size_t i;
    int base = -1, ts = -1;
    json_int_t oid;
    const char *location;

    ck_assert_ptr_nonnull(w);
    snprintf(path, sizeof path, "%s/facts.json", fixture());
    facts = load_json_file(path);
    oid = json_integer_value(json_object_get(json_object_get(facts, "tablespace"), "oid"));
    location = json_string_value(json_object_get(json_object_get(facts, "tablespace"), "location"));
    memset(&e, 0, sizeof e);
    ck_assert_msg(replay("full", &e, true, &nmsgs, &err) == 0, "%s", err.msg);
    ck_assert_uint_gt(nmsgs, 100);

    /* The tablespace's archive and the data directory's. */
    ck_assert_int_eq(e.narchives, 2);
    for (int a = 0; a < 2; a++) {
        if (strcmp(e.names[a], "base.tar") == 0) {
            ck_assert_str_eq(e.locations[a], "");
            base = a;
        } else {
            char want[32];

            snprintf(want, sizeof want, "%lld.tar", (long long) oid);
            ck_assert_str_eq(e.names[a], want);
            ck_assert_str_eq(e.locations[a], location);
            ts = a;
        }
        total += e.archive[a].len;
    }
    ck_assert(base >= 0 && ts >= 0);
    /* PROGRESS: the last report counts every archive byte. */
    ck_assert_int_ge(e.nprogress, 2);
    ck_assert_uint_eq(e.last_progress, total);

    /* Split at 1 MiB and walk every piece on its own. */
    for (int a = 0; a < 2; a++) {
        pieces *ps = calloc(1, sizeof *ps);
        char prefix[64] = "";
        bool any_continued = false;

        ck_assert_ptr_nonnull(ps);
        ck_assert_msg(split(&e.archive[a], MiB, 0, ps, NULL, &err) == 0, "%s", err.msg);
        check_pieces(&e.archive[a], ps, MiB);
        if (a == ts)
            snprintf(prefix, sizeof prefix, "pg_tblspc/%lld/", (long long) oid);
        for (int p = 0; p < ps->n; p++) {
            walk_piece(w, &ps->p[p], prefix);
            any_continued |= ps->p[p].info.continued;
        }
        if (a == base) {
            ck_assert_int_gt(ps->n, 20);
            ck_assert_msg(any_continued, "no member larger than a piece in base.tar");
        }
        pieces_free(ps);
        free(ps);
    }

    /* Every file of the manifest, with its size and SHA-256, and no other. */
    manifest = json_loadb((const char *) e.manifest.p, e.manifest.len, 0, NULL);
    ck_assert_ptr_nonnull(manifest);
    files = json_object_get(manifest, "Files");
    ck_assert_uint_gt(json_array_size(files), 500);
    json_array_foreach(files, i, f)
    {
        const char *p = json_string_value(json_object_get(f, "Path"));
        file_digest *fd = wfile(w, p, true);

        ck_assert_msg(fd->ctx == NULL, "%s: not found in the pieces", p);
        ck_assert_uint_eq(fd->size, (uint64_t) json_integer_value(json_object_get(f, "Size")));
        ck_assert_str_eq(fd->hex, json_string_value(json_object_get(f, "Checksum")));
        fd->found++;
    }
    for (int k = 0; k < w->n; k++)
        ck_assert_msg(w->f[k].found == 1, "%s is in the archives but not in the manifest", w->f[k].path);
    ck_assert_ptr_nonnull(wfile(w, "tablespace_map", false));
    ck_assert_ptr_nonnull(wfile(w, "backup_label", false));
    json_decref(manifest);
    json_decref(facts);
    events_free(&e);
    free(w);
}
END_TEST

START_TEST(real_no_manifest)
{
    events e;
    ws_err err;
    uint64_t nmsgs;

    memset(&e, 0, sizeof e);
    ck_assert_int_eq(replay("nomanifest", &e, true, &nmsgs, &err), -1);
    ck_assert_msg(strstr(err.msg, "without the backup manifest"), "%s", err.msg);
    events_free(&e);
    memset(&e, 0, sizeof e);
    ck_assert_msg(replay("nomanifest", &e, false, &nmsgs, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(e.narchives, 2);
    events_free(&e);
}
END_TEST

/* --- the catalog ---------------------------------------------------------------- */

static void sample_record(ws_backup_record *r)
{
    ws_err err;
    ws_backup_archive *a;
    ws_backup_object *o;
    char key[128];

    ws_backup_record_init(r);
    ws_backup_catalog_make_id(1714566896.5, 0x1A2B3C4D, r->id);
    ck_assert_str_eq(r->id, "20240501T123456Z-1A2B3C4D");
    r->status = WS_BACKUP_COMPLETE;
    r->label = strdup("nightly");
    r->walship_version = strdup("0.1.0");
    r->sysid = 7310386722349829663ull;
    r->pg_version_num = 150020;
    r->seg_size = 16 << 20;
    r->data_checksums = true;
    r->has_start = r->has_stop = r->has_times = true;
    r->start_lsn = 0x2000028;
    r->start_tli = r->stop_tli = 1;
    r->checkpoint_lsn = 0x2000060;
    r->stop_lsn = 0x3000000; /* a segment boundary: the last segment is ...02 */
    snprintf(r->wal_first, sizeof r->wal_first, "000000010000000000000002");
    snprintf(r->wal_last, sizeof r->wal_last, "000000010000000000000002");
    snprintf(r->history_file, sizeof r->history_file, "000000010000000000000002.00000028.backup");
    r->start_time = 767451296000000;
    r->stop_time = 767451299000000;
    r->start_time_server = strdup("2024-04-26 12:54:56 UTC");
    r->stop_time_server = strdup("2024-04-26 12:54:59 UTC");
    r->started_at = 1714566896.5;
    r->finished_at = 1714566900.25;
    snprintf(r->compress, sizeof r->compress, "lz4");
    r->encrypted = true;
    snprintf(r->key_id, sizeof r->key_id, "00112233445566778899aabbccddeeff");
    r->object_size = 1 << 30;
    for (int n = 0; n < 2; n++) {
        a = ws_backup_record_add_archive(r, n ? "16384.tar" : "base.tar", &err);
        ck_assert_ptr_nonnull(a);
        a->tablespace = n == 1;
        if (n) {
            a->ts_oid = 16384;
            a->ts_location = strdup("/srv/ts");
        }
        a->est_size = 1000;
        a->members = 3;
        for (int k = 0; k < 2; k++) {
            snprintf(key, sizeof key, "backup/%s/%s.%08X.ws", r->id, a->name, k);
            o = ws_backup_archive_add_object(a, key, &err);
            ck_assert_ptr_nonnull(o);
            o->tar_offset = a->tar_size;
            o->size = 4096 + (uint64_t) k;
            o->stored_size = 100 + (uint64_t) k;
            memset(o->sha256, 0xA0 + k, 32);
            if (k == 1) {
                o->continued = true;
                o->member_path = strdup("base/5/16385");
                o->member_offset = 3000;
                o->member_size = 9000;
            }
            a->tar_size += o->size;
            a->stored_size += o->stored_size;
        }
        r->tar_size += a->tar_size;
        r->stored_size += a->stored_size;
        r->db_size += a->est_size;
    }
    r->has_manifest = true;
    snprintf(key, sizeof key, "backup/%s/backup_manifest.ws", r->id);
    r->manifest.key = strdup(key);
    r->manifest.size = 500;
    r->manifest.stored_size = 200;
    memset(r->manifest.sha256, 0x11, 32);
    r->stored_size += 200;
}

START_TEST(catalog_roundtrip)
{
    ws_backup_record r, back;
    ws_err err;
    char *text, *again;

    sample_record(&r);
    text = ws_backup_record_to_json(&r, true, &err);
    ck_assert_ptr_nonnull(text);
    ck_assert_msg(ws_backup_record_from_json(text, strlen(text), "rec", &back, &err) == 0, "%s\n%s", err.msg, text);
    again = ws_backup_record_to_json(&back, true, &err);
    ck_assert_str_eq(text, again);
    ck_assert_uint_eq(back.stop_lsn, 0x3000000);
    ck_assert_uint_eq(back.archives[1].ts_oid, 16384);
    ck_assert(back.archives[0].objects[1].continued);
    ck_assert_str_eq(back.archives[0].objects[1].member_path, "base/5/16385");
    ck_assert_int_eq(back.start_time, 767451296000000);
    ck_assert(strstr(text, "\"time_text\": \"2024-04-26T12:54:56.000000Z\""));
    ck_assert(strstr(text, "\"system_identifier\": \"7310386722349829663\""));
    free(again);
    ws_backup_record_free(&back);

    /* A running record carries who runs it and the uploads in progress. */
    r.status = WS_BACKUP_RUNNING;
    r.host = strdup("db1");
    r.boot_id = strdup("b00t");
    r.pid = 4242;
    r.pid_start = 123456789;
    r.heartbeat = 1714566899;
    ck_assert_int_eq(ws_backup_record_add_pending(&r, r.archives[0].objects[0].key, "upload-1", &err), 0);
    ck_assert_int_eq(ws_backup_record_add_pending(&r, r.archives[0].objects[1].key, NULL, &err), 0);
    free(text);
    text = ws_backup_record_to_json(&r, false, &err);
    ck_assert_msg(ws_backup_record_from_json(text, strlen(text), "rec", &back, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(back.status, WS_BACKUP_RUNNING);
    ck_assert_uint_eq(back.npending, 2);
    ck_assert_str_eq(back.pending[0].token, "upload-1");
    ck_assert_ptr_null(back.pending[1].token);
    ck_assert_int_eq(back.pid, 4242);
    ck_assert_uint_eq(back.pid_start, 123456789);
    ws_backup_record_free(&back);
    free(text);
    ws_backup_record_free(&r);
}
END_TEST

/* Replaces the first occurrence of from in a fresh copy of the sample's JSON
 * and expects the reader to refuse it saying want. */
static void catalog_refuses(const char *from, const char *to, ws_errcode code, const char *want)
{
    ws_backup_record r, back;
    ws_err err;
    char *text, *pos, *bad;

    sample_record(&r);
    text = ws_backup_record_to_json(&r, false, &err);
    ck_assert_ptr_nonnull(text);
    pos = strstr(text, from);
    ck_assert_msg(pos != NULL, "\"%s\" not in %s", from, text);
    bad = malloc(strlen(text) + strlen(to) + 1);
    memcpy(bad, text, (size_t) (pos - text));
    strcpy(bad + (pos - text), to);
    strcat(bad, pos + strlen(from));
    ck_assert_msg(ws_backup_record_from_json(bad, strlen(bad), "catalog/x.ws", &back, &err) == -1, "accepted: %s", bad);
    ck_assert_int_eq(err.code, code);
    ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, "catalog/x.ws"), "\"%s\" does not say \"%s\"", err.msg,
                  want);
    free(bad);
    free(text);
    ws_backup_record_free(&r);
}

START_TEST(catalog_reader_refuses)
{
    catalog_refuses("\"walship_backup\":1", "\"walship_backup\":2", WS_ERR_FORMAT,
                    "unsupported backup record version 2");
    catalog_refuses("\"walship_backup\":1,", "", WS_ERR_FORMAT, "not a walship backup record");
    catalog_refuses("\"status\":\"complete\"", "\"status\":\"done\"", WS_ERR_CORRUPT, "unknown status");
    catalog_refuses("\"id\":\"20240501T123456Z-1A2B3C4D\"", "\"id\":\"x\"", WS_ERR_CORRUPT, "not a backup id");
    catalog_refuses("\"tar_offset\":4096", "\"tar_offset\":4095", WS_ERR_CORRUPT, "starts at 4095, not 4096");
    catalog_refuses("backup/20240501T123456Z-1A2B3C4D/base.tar.00000000.ws", "backup/other/base.tar.00000000.ws",
                    WS_ERR_CORRUPT, "is not a walship object in backup/20240501T123456Z-1A2B3C4D/");
    catalog_refuses("base.tar.00000001.ws", "../x.ws", WS_ERR_CORRUPT, "not a walship object");
    catalog_refuses("\"sha256\":\"a0a0", "\"sha256\":\"A0a0", WS_ERR_CORRUPT, "lower-case hex");
    catalog_refuses("\"stop\":{\"lsn\":\"0/3000000\"", "\"stop\":{\"lsn\":\"0/2000000\"", WS_ERR_CORRUPT,
                    "not in order");
    catalog_refuses("\"segment\":\"000000010000000000000002\",\"time\":767451299",
                    "\"segment\":\"000000010000000000000003\",\"time\":767451299", WS_ERR_CORRUPT,
                    "does not match its LSN");
    catalog_refuses("\"tar\":16386", "\"tar\":16387", WS_ERR_CORRUPT, "sizes do not add up");
    catalog_refuses("\"tar_size\":8193", "\"tar_size\":8194", WS_ERR_CORRUPT, "add up to 8193");
    catalog_refuses("\"name\":\"16384.tar\"", "\"name\":\"../x.tar\"", WS_ERR_CORRUPT, "is not base.tar or OID.tar");
    catalog_refuses("\"name\":\"16384.tar\"", "\"name\":\"base.tar\"", WS_ERR_CORRUPT, "appears twice");
    catalog_refuses("\"location\":\"/srv/ts\"", "\"location\":\"srv\"", WS_ERR_CORRUPT, "is not absolute");
    catalog_refuses("\"offset\":3000", "\"offset\":9000", WS_ERR_CORRUPT, "inconsistent");
    catalog_refuses(",\"manifest\":{", ",\"manifesto\":{", WS_ERR_CORRUPT, "missing field \"manifest\"");
    catalog_refuses("\"checkpoint_lsn\":\"0/2000060\"", "\"checkpoint_lsn\":\"0/1\"", WS_ERR_CORRUPT, "not in order");
    catalog_refuses("{", "[", WS_ERR_CORRUPT, "not valid JSON");
    catalog_refuses("\"system_identifier\":\"7310386722349829663\"", "\"system_identifier\":\"-1\"", WS_ERR_CORRUPT,
                    "not a decimal number");
}
END_TEST

START_TEST(catalog_ids_and_keys)
{
    char key[128], id[WS_BACKUP_ID_LEN + 1];
    ws_err err;

    ck_assert(ws_backup_catalog_id_valid("20240501T123456Z-1A2B3C4D"));
    ck_assert(!ws_backup_catalog_id_valid("20240501T123456Z-1a2b3c4d"));
    ck_assert(!ws_backup_catalog_id_valid("20240501T123456Z-1A2B3C4"));
    ck_assert(!ws_backup_catalog_id_valid("20240501 123456Z-1A2B3C4D"));
    ck_assert_int_eq(ws_backup_catalog_key("20240501T123456Z-1A2B3C4D", key, sizeof key, &err), 0);
    ck_assert_str_eq(key, "catalog/20240501T123456Z-1A2B3C4D.ws");
    ck_assert_int_eq(ws_backup_catalog_id_of_key(key, id), 0);
    ck_assert_str_eq(id, "20240501T123456Z-1A2B3C4D");
    ck_assert_int_eq(ws_backup_catalog_id_of_key("catalog/20240501T123456Z-1A2B3C4D.wsx", id), -1);
    ck_assert_int_eq(ws_backup_catalog_id_of_key("catalog/x.ws", id), -1);
    ck_assert_int_eq(ws_backup_catalog_key("../x", key, sizeof key, &err), -1);
    ck_assert_int_eq(ws_backup_catalog_dir("20240501T123456Z-1A2B3C4D", key, sizeof key, &err), 0);
    ck_assert_str_eq(key, "backup/20240501T123456Z-1A2B3C4D/");
    /* Ids sort by time. */
    {
        char a[WS_BACKUP_ID_LEN + 1], b[WS_BACKUP_ID_LEN + 1];

        ws_backup_catalog_make_id(1714566896, 0xFFFFFFFF, a);
        ws_backup_catalog_make_id(1714566897, 0, b);
        ck_assert_int_lt(strcmp(a, b), 0);
    }
}
END_TEST

/* Reads the catalog fuzz seed `name` (WS_TEST_CATALOG_SEEDS) into a
 * malloc'd buffer; *len its length. */
static char *read_seed(const char *name, size_t *len, char *path, size_t pathlen)
{
    const char *dir = getenv("WS_TEST_CATALOG_SEEDS");
    char *buf = malloc(1 << 20);
    FILE *f;

    ck_assert_msg(dir && *dir, "WS_TEST_CATALOG_SEEDS is not set");
    ck_assert_ptr_nonnull(buf);
    snprintf(path, pathlen, "%s/%s", dir, name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s", path);
    *len = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

/* Records whose text would break the error line (a status with a newline,
 * a JSON syntax error next to one): refused with one line, the text escaped. */
START_TEST(catalog_errors_one_line)
{
    static const char *const names[] = {"status-with-newline.json", "json-error-with-newline.json"};

    for (size_t i = 0; i < 2; i++) {
        char path[4096];
        size_t n;
        char *buf = read_seed(names[i], &n, path, sizeof path);
        ws_backup_record r;
        ws_err err;

        ws_err_clear(&err);
        ck_assert_int_eq(ws_backup_record_from_json(buf, n, path, &r, &err), -1);
        ck_assert_msg(err.msg[0] && !strchr(err.msg, '\n') && strstr(err.msg, "\\x0a"), "%s", err.msg);
        free(buf);
    }
}
END_TEST

START_TEST(catalog_fuzz_seeds)
{
    /* The fuzz target's seeds stay valid records (else it only fuzzes errors). */
    static const char *const names[] = {"complete.json", "running.json", "failed.json"};

    for (size_t i = 0; i < 3; i++) {
        char path[4096];
        size_t n;
        char *buf = read_seed(names[i], &n, path, sizeof path);
        ws_backup_record r;
        ws_err err;

        ck_assert_msg(ws_backup_record_from_json(buf, n, path, &r, &err) == 0, "%s", err.msg);
        ck_assert_int_eq(r.status, (ws_backup_status) (i == 0   ? WS_BACKUP_COMPLETE
                                                       : i == 1 ? WS_BACKUP_RUNNING
                                                                : WS_BACKUP_FAILED));
        ws_backup_record_free(&r);
        free(buf);
    }
}
END_TEST

/* --- the backup history file ------------------------------------------------------ */

static const char HISTORY[] = "START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\n"
                              "STOP WAL LOCATION: 0/2000100 (file 000000010000000000000002)\n"
                              "CHECKPOINT LOCATION: 0/2000060\n"
                              "BACKUP METHOD: streamed\n"
                              "BACKUP FROM: primary\n"
                              "START TIME: 2024-05-01 12:34:56 CEST\n"
                              "LABEL: nightly: it's here\n"
                              "START TIMELINE: 1\n"
                              "STOP TIME: 2024-05-01 12:35:10 CEST\n"
                              "STOP TIMELINE: 1\n";

START_TEST(history_parse)
{
    ws_backup_history h;
    ws_err err;
    char bad[sizeof HISTORY];

    ck_assert_msg(ws_backup_history_parse(HISTORY, strlen(HISTORY), "x.backup", &h, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(h.start_lsn, 0x2000028);
    ck_assert_uint_eq(h.stop_lsn, 0x2000100);
    ck_assert_uint_eq(h.checkpoint_lsn, 0x2000060);
    ck_assert_uint_eq(h.start_tli, 1);
    ck_assert_uint_eq(h.stop_tli, 1);
    ck_assert_str_eq(h.label, "nightly: it's here");
    ck_assert_str_eq(h.start_time, "2024-05-01 12:34:56 CEST");
    ck_assert_str_eq(h.from, "primary");
    /* Each damaged line is named. */
    static const struct {
        const char *from, *to, *want;
    } cases[] = {
        {"STOP WAL LOCATION: 0/2000100 (file", "STOP WAL LOCATION: 0/2000100 [file", "malformed \"STOP WAL LOCATION\""},
        {"CHECKPOINT LOCATION: 0/2000060", "CHECKPOINT LOCATION: 0/20000Z0", "\"CHECKPOINT LOCATION\" is not an LSN"},
        {"START TIMELINE: 1", "START TIMELINE: 0", "\"START TIMELINE\" is not a timeline"},
        {"LABEL: ", "LABEL- ", "no \"LABEL\" line"},
        {"START WAL LOCATION: 0/2000028", "START WAL LOCATION: 0/3000028", "not in order"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *pos;

        memcpy(bad, HISTORY, sizeof HISTORY);
        pos = strstr(bad, cases[i].from);
        ck_assert_ptr_nonnull(pos);
        ck_assert_uint_eq(strlen(cases[i].from), strlen(cases[i].to));
        memcpy(pos, cases[i].to, strlen(cases[i].to));
        ck_assert_int_eq(ws_backup_history_parse(bad, strlen(bad), "x.backup", &h, &err), -1);
        ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
        ck_assert_msg(strstr(err.msg, cases[i].want) && strstr(err.msg, "x.backup"), "%s", err.msg);
    }
}
END_TEST

START_TEST(history_times)
{
    int64_t t;
    ws_err err;
    /* 2024-05-01 10:34:56 UTC as a TimestampTz. */
    const int64_t want = (1714559696LL - 946684800LL) * 1000000;

    ck_assert_int_eq(ws_backup_history_time("2024-05-01 10:34:56 UTC", NULL, &t, &err), 0);
    ck_assert_int_eq(t, want);
    ck_assert_int_eq(ws_backup_history_time("2024-05-01 12:34:56 +02", NULL, &t, &err), 0);
    ck_assert_int_eq(t, want);
    ck_assert_int_eq(ws_backup_history_time("2024-05-01 05:04:56 -0530", NULL, &t, &err), 0);
    ck_assert_int_eq(t, want);
    ck_assert_int_eq(ws_backup_history_time("2024-05-01 16:04:56 +05:30", NULL, &t, &err), 0);
    ck_assert_int_eq(t, want);
    /* An abbreviation, through the server's log_timezone (tz database). */
    if (access("/usr/share/zoneinfo/Europe/Berlin", R_OK) == 0) {
        ck_assert_msg(ws_backup_history_time("2024-05-01 12:34:56 CEST", "Europe/Berlin", &t, &err) == 0, "%s",
                      err.msg);
        ck_assert_int_eq(t, want);
        /* Winter time: CET = UTC+1. */
        ck_assert_int_eq(ws_backup_history_time("2024-01-01 01:00:00 CET", "Europe/Berlin", &t, &err), 0);
        ck_assert_int_eq(t, (1704067200LL - 946684800LL) * 1000000);
        /* The hour a clock goes back: the abbreviation decides. */
        ck_assert_int_eq(ws_backup_history_time("2023-10-29 02:30:00 CEST", "Europe/Berlin", &t, &err), 0);
        ck_assert_int_eq(t, (1698539400LL - 946684800LL) * 1000000);
        ck_assert_int_eq(ws_backup_history_time("2023-10-29 02:30:00 CET", "Europe/Berlin", &t, &err), 0);
        ck_assert_int_eq(t, (1698543000LL - 946684800LL) * 1000000);
        ck_assert_int_eq(ws_backup_history_time("2024-05-01 12:34:56 EST", "Europe/Berlin", &t, &err), -1);
        ck_assert_msg(strstr(err.msg, "EST is not an abbreviation of Europe/Berlin"), "%s", err.msg);
        ck_assert_ptr_null(getenv("TZ")); /* left as it was */
    }
    ck_assert_int_eq(ws_backup_history_time("2024-05-01 12:34:56 CEST", NULL, &t, &err), -1);
    ck_assert_int_eq(ws_backup_history_time("2024-13-01 12:34:56 UTC", NULL, &t, &err), -1);
    ck_assert_int_eq(ws_backup_history_time("2024-05-01 12:34:56", NULL, &t, &err), -1);
    ck_assert_int_eq(ws_backup_history_time("2024-05-01 12:34:56 UTC x", NULL, &t, &err), -1);
}
END_TEST

/* --- refusals before a backup --------------------------------------------------------- */

static char conf_dir[256];

/* Writes a config file; its path goes to path. */
static const char *write_conf(const char *name, const char *text, char path[512])
{
    FILE *f;

    if (!conf_dir[0]) {
        unit_tmp_template(conf_dir, sizeof conf_dir, "ws-preflight");
        ck_assert_ptr_nonnull(mkdtemp(conf_dir));
    }
    snprintf(path, 512, "%s/%s", conf_dir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Removes the config files of a test and their directory. */
static void drop_confs(const char *const *paths, size_t n)
{
    for (size_t i = 0; i < n; i++)
        unlink(paths[i]);
    rmdir(conf_dir);
    conf_dir[0] = '\0';
}

static int archive_check(const char *cmd, const char *our_repo, char *note, ws_err *err)
{
    ws_config cfg;
    int rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.repo = (char *) (uintptr_t) our_repo;
    rc = ws_backup_preflight_archive_command(cmd, &cfg, "/nonexistent/walship.conf", note, 512, err);
    return rc;
}

START_TEST(preflight_archive_command)
{
    char note[512], cmd[1024], p1[512], p2[512];
    ws_err err;
    const char *mine = write_conf("mine.conf", "repo = file:///srv/walship\n", p1);
    const char *other = write_conf("other.conf", "repo = s3://bucket/other\n", p2);

    /* walship-push with this repository, however it is spelled. */
    snprintf(cmd, sizeof cmd, "walship-push --config %s %%p", mine);
    ck_assert_msg(archive_check(cmd, "file:///srv/walship/", note, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(note, "");
    snprintf(cmd, sizeof cmd, "/usr/bin/walship-push --config='%s' \"%%p\"", mine);
    ck_assert_msg(archive_check(cmd, "file:///srv/walship", note, &err) == 0, "%s", err.msg);
    snprintf(cmd, sizeof cmd, "WALSHIP_LOG_LEVEL=info exec /opt/bin/walship-push --config=%s %%p", mine);
    ck_assert_msg(archive_check(cmd, "file:///srv/walship", note, &err) == 0, "%s", err.msg);
    ck_assert_msg(
        archive_check("WALSHIP_REPO=file:///srv/walship walship-push %p", "file:///srv/walship", note, &err) == 0, "%s",
        err.msg);
    snprintf(cmd, sizeof cmd, "test -f /x && env WALSHIP_CONFIG=%s walship-push %%p", mine);
    ck_assert_msg(archive_check(cmd, "file:///srv/walship", note, &err) == 0, "%s", err.msg);
    /* The repository cannot be known from here: accepted with a note. */
    ck_assert_int_eq(archive_check("walship-push %p", "file:///srv/walship", note, &err), 0);
    ck_assert_msg(strstr(note, "not checked"), "%s", note);
    ck_assert_int_eq(archive_check("walship-push --config rel.conf %p", "file:///srv/walship", note, &err), 0);
    ck_assert_msg(strstr(note, "relative config file rel.conf"), "%s", note);
    ck_assert_int_eq(archive_check("walship-push --config /nonexistent/x.conf %p", "file:///srv/walship", note, &err),
                     0);
    ck_assert_msg(strstr(note, "cannot read"), "%s", note);

    /* Refused. */
    snprintf(cmd, sizeof cmd, "walship-push --config %s %%p", other);
    ck_assert_int_eq(archive_check(cmd, "file:///srv/walship", note, &err), -1);
    ck_assert_msg(strstr(err.msg, "stores WAL in s3://bucket/other, not in this repository (file:///srv/walship)"),
                  "%s", err.msg);
    ck_assert_int_eq(archive_check("WALSHIP_REPO=file:///elsewhere walship-push %p", "file:///srv/walship", note, &err),
                     -1);
    ck_assert_int_eq(archive_check("cp %p /archive/%f", "file:///srv/walship", note, &err), -1);
    ck_assert_msg(strstr(err.msg, "is not walship-push") && strstr(err.msg, "--no-archive-check"), "%s", err.msg);
    ck_assert_int_eq(archive_check("walship-push /tmp/x", "file:///srv/walship", note, &err), -1);
    ck_assert_msg(strstr(err.msg, "does not pass %p"), "%s", err.msg);
    ck_assert_int_eq(archive_check("echo walship-push %p", "file:///srv/walship", note, &err), -1);
    ck_assert_int_eq(archive_check("walship-push '%p", "file:///srv/walship", note, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    drop_confs((const char *[]){mine, other}, 2);
}
END_TEST

START_TEST(preflight_server)
{
    ws_backup_server_info info;
    ws_config cfg;
    ws_err err;
    char note[512];
    char p1[512];
    const char *mine = write_conf("mine2.conf", "repo = file:///srv/walship\n", p1);
    char cmd[512], repo[] = "file:///srv/walship", empty[] = "", lib[] = "basic_archive";

    memset(&cfg, 0, sizeof cfg);
    cfg.repo = repo;
    memset(&info, 0, sizeof info);
    snprintf(cmd, sizeof cmd, "walship-push --config %s %%p", mine);
    info.version_num = 150020;
    snprintf(info.wal_level, sizeof info.wal_level, "replica");
    snprintf(info.archive_mode, sizeof info.archive_mode, "on");
    info.archive_command = cmd;
    info.archive_library = empty;
    ck_assert_msg(ws_backup_preflight_server(&info, &cfg, true, NULL, note, sizeof note, &err) == 0, "%s", err.msg);

#define REFUSED(want)                                                                                       \
    do {                                                                                                    \
        ck_assert_int_eq(ws_backup_preflight_server(&info, &cfg, true, NULL, note, sizeof note, &err), -1); \
        ck_assert_msg(strstr(err.msg, want), "%s", err.msg);                                                \
    } while (0)
    info.version_num = 140011;
    REFUSED("PostgreSQL 15 or later required (the server is 14.11)");
    info.version_num = 150020;
    info.in_hot_standby = true;
    REFUSED("the server is a standby");
    info.in_hot_standby = false;
    snprintf(info.wal_level, sizeof info.wal_level, "minimal");
    REFUSED("wal_level is minimal");
    snprintf(info.wal_level, sizeof info.wal_level, "logical");
    snprintf(info.archive_mode, sizeof info.archive_mode, "off");
    REFUSED("archive_mode is off");
    /* --no-archive-check skips the archive settings only. */
    ck_assert_int_eq(ws_backup_preflight_server(&info, &cfg, false, NULL, note, sizeof note, &err), 0);
    snprintf(info.archive_mode, sizeof info.archive_mode, "always");
    info.archive_library = lib;
    REFUSED("archive_library is set ('basic_archive')");
    info.archive_library = empty;
    info.archive_command = empty;
    REFUSED("archive_command is empty");
#undef REFUSED
    drop_confs(&mine, 1);
}
END_TEST

START_TEST(server_messages)
{
    char out[1024];

    ws_backup_server_one_line("connection to server on socket \"/x/.s.PGSQL.5432\" failed: FATAL:  role \"a\" "
                              "does not exist\n\tIs it?\n",
                              out, sizeof out);
    ck_assert_str_eq(out,
                     "connection to server on socket \"/x/.s.PGSQL.5432\" failed: role \"a\" does not exist Is it?");
    ws_backup_server_explain_connect("FATAL:  must be superuser or replication role to start walsender\n", "app", out,
                                     sizeof out);
    ck_assert_msg(strstr(out, "ALTER ROLE app REPLICATION"), "%s", out);
    ws_backup_server_explain_connect(
        "FATAL:  number of requested standby connections exceeds max_wal_senders (currently 3)", "app", out,
        sizeof out);
    ck_assert_msg(strstr(out, "no free WAL sender"), "%s", out);
    ws_backup_server_explain_connect(
        "FATAL:  number of requested standby connections exceeds max_wal_senders (currently 0)", "app", out,
        sizeof out);
    ck_assert_msg(strstr(out, "wal_level = minimal") && strstr(out, "max_wal_senders = 0"), "%s", out);
    ws_backup_server_explain_connect("FATAL:  password authentication failed for user \"app\"", "app", out, sizeof out);
    ck_assert_msg(strstr(out, "refused the login") && strstr(out, "replication"), "%s", out);
    ws_backup_server_explain_connect("connection to server at \"127.0.0.1\", port 1 failed: Connection refused", "app",
                                     out, sizeof out);
    ck_assert_msg(strstr(out, "cannot reach the PostgreSQL server"), "%s", out);
    ws_backup_server_explain_connect("something else", "app", out, sizeof out);
    ck_assert_msg(strstr(out, "cannot connect to PostgreSQL for replication: something else"), "%s", out);
}
END_TEST

static Suite *suite(bool real)
{
    Suite *s = suite_create("backup");
    TCase *tc = tcase_create(real ? "real" : "backup");

    tcase_set_timeout(tc, 300);
    if (real) {
        tcase_add_test(tc, real_full_stream);
        tcase_add_test(tc, real_no_manifest);
    } else {
        tcase_add_test(tc, stream_valid);
        tcase_add_test(tc, stream_errors);
        tcase_add_test(tc, stream_callback_error);
        tcase_add_test(tc, tar_whole_members);
        tcase_add_test(tc, tar_large_member);
        tcase_add_test(tc, tar_extended_headers);
        tcase_add_test(tc, tar_base256_size);
        tcase_add_test(tc, tar_errors);
        tcase_add_test(tc, tar_empty);
        tcase_add_test(tc, catalog_roundtrip);
        tcase_add_test(tc, catalog_reader_refuses);
        tcase_add_test(tc, catalog_ids_and_keys);
        tcase_add_test(tc, catalog_fuzz_seeds);
        tcase_add_test(tc, catalog_errors_one_line);
        tcase_add_test(tc, history_parse);
        tcase_add_test(tc, history_times);
        tcase_add_test(tc, preflight_archive_command);
        tcase_add_test(tc, preflight_server);
        tcase_add_test(tc, server_messages);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    bool real = argc > 1 && strcmp(argv[1], "--real") == 0;
    SRunner *r = srunner_create(suite(real));
    int failed;

    unit_tmp_init("backup");

    srunner_run_all(r, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
