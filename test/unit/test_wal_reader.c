/*
 * test_wal_reader.c - the WAL record reader (wal_reader.h) and the segment
 * index (wal_index.h).
 *
 *   test_wal_reader          synthetic WAL built here: page and record
 *                            layout, every way a segment can stop, entries,
 *                            JSON, repository objects
 *   test_wal_reader --real   real WAL from PostgreSQL 15 in the fixture made
 *                            by wal_fixture.py (WS_TEST_WAL_FIXTURE), checked
 *                            against what SQL and pg_waldump reported
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/crc32c.h"
#include "walship/repo_keys.h"
#include "walship/repo_object.h"
#include "walship/wal_index.h"
#include "walship/wal_index_json.h"
#include "walship/wal_reader.h"
#include "walship/wal_segment.h"

#define PAGE     8192
#define SEG1     (1u << 20)
#define SYSID    UINT64_C(7300000000000000001)
#define MAXAL(x) (((x) + UINT64_C(7)) & ~UINT64_C(7))

static ws_err err;

/* For helpers called thousands of times: ck_assert records a checkpoint
 * per call, which makes long loops slow. */
#define REQUIRE(cond)                                             \
    do {                                                          \
        if (!(cond))                                              \
            ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
    } while (0)

/* --- a small WAL writer ------------------------------------------------------ */

typedef struct synth {
    uint8_t *buf; /* nseg + 1 segments: the last one takes overflow */
    size_t size;
    uint32_t seg_size;
    uint32_t tli;
    uint64_t base; /* LSN of buf[0] */
    uint64_t pos;  /* where the next record goes */
    uint64_t prev; /* start of the last record */
    uint16_t magic;
} synth;

static void synth_init(synth *s, uint64_t first_segno, int nseg)
{
    memset(s, 0, sizeof *s);
    s->seg_size = SEG1;
    s->tli = 1;
    s->base = first_segno * SEG1;
    s->size = (size_t) (nseg + 1) * SEG1;
    s->buf = calloc(1, s->size);
    REQUIRE(s->buf);
    s->pos = s->base;
    s->prev = s->base - 0x100; /* some earlier record */
    s->magic = 0xD110;         /* PostgreSQL 15 */
}

static uint8_t *at(synth *s, uint64_t lsn)
{
    REQUIRE(lsn >= s->base && lsn - s->base < s->size);
    return s->buf + (lsn - s->base);
}

static uint32_t hdr_size(const synth *s, uint64_t page)
{
    return page % s->seg_size == 0 ? 40 : 24;
}

static void page_header(synth *s, uint64_t page, uint16_t info, uint32_t rem)
{
    uint8_t *p = at(s, page);
    uint32_t bl = PAGE;
    uint64_t sysid = SYSID;

    if (page % s->seg_size == 0)
        info |= 0x0002;
    memcpy(p, &s->magic, 2);
    memcpy(p + 2, &info, 2);
    memcpy(p + 4, &s->tli, 4);
    memcpy(p + 8, &page, 8);
    memcpy(p + 16, &rem, 4);
    if (page % s->seg_size == 0) {
        memcpy(p + 24, &sysid, 8);
        memcpy(p + 32, &s->seg_size, 4);
        memcpy(p + 36, &bl, 4);
    }
}

/* Lays a whole record out at s->pos across pages; returns its LSN. */
static uint64_t synth_put(synth *s, const uint8_t *rec, uint32_t len)
{
    uint32_t done = 0;
    uint64_t lsn;

    if (s->pos % PAGE == 0) {
        page_header(s, s->pos, 0, 0);
        s->pos += hdr_size(s, s->pos);
    }
    lsn = s->pos;
    while (done < len) {
        uint32_t n;

        if (s->pos % PAGE == 0) {
            page_header(s, s->pos, 0x0001, len - done);
            s->pos += hdr_size(s, s->pos);
        }
        n = len - done < PAGE - s->pos % PAGE ? len - done : (uint32_t) (PAGE - s->pos % PAGE);
        memcpy(at(s, s->pos), rec + done, n);
        s->pos += n;
        done += n;
    }
    s->pos = MAXAL(s->pos);
    s->prev = lsn;
    return lsn;
}

static void seal(uint8_t *r, uint32_t tot)
{
    uint32_t crc = ws_crc32c_final(ws_crc32c_update(ws_crc32c_update(WS_CRC32C_INIT, r + 24, tot - 24), r, 20));

    memcpy(r + 20, &crc, 4);
}

/* A record whose body (all after the 24-byte header) is given. */
static uint64_t synth_raw(synth *s, uint8_t rmid, uint8_t info, uint32_t xid, const uint8_t *body, uint32_t body_len)
{
    uint32_t tot = 24 + body_len;
    uint8_t *r = calloc(1, tot);
    uint64_t lsn;

    REQUIRE(r);
    memcpy(r, &tot, 4);
    memcpy(r + 4, &xid, 4);
    memcpy(r + 8, &s->prev, 8);
    r[16] = info;
    r[17] = rmid;
    if (body_len)
        memcpy(r + 24, body, body_len);
    seal(r, tot);
    lsn = synth_put(s, r, tot);
    free(r);
    return lsn;
}

/* A record with only main data. */
static uint64_t synth_rec(synth *s, uint8_t rmid, uint8_t info, uint32_t xid, const void *main, uint32_t main_len)
{
    uint8_t *b = malloc(main_len + 5);
    uint32_t n = 0;
    uint64_t lsn;

    REQUIRE(b);
    if (main_len > 0 && main_len < 256) {
        b[n++] = 255;
        b[n++] = (uint8_t) main_len;
    } else if (main_len > 0) {
        b[n++] = 254;
        memcpy(b + n, &main_len, 4);
        n += 4;
    }
    if (main_len)
        memcpy(b + n, main, main_len);
    lsn = synth_raw(s, rmid, info, xid, b, n + main_len);
    free(b);
    return lsn;
}

static uint64_t synth_filler(synth *s, uint32_t size)
{
    uint8_t *m = malloc(size);
    uint64_t lsn;

    REQUIRE(m);
    for (uint32_t i = 0; i < size; i++)
        m[i] = (uint8_t) (i * 7 + 1);
    lsn = synth_rec(s, 21, 0x00, 0, m, size); /* RM_LOGICALMSG_ID */
    free(m);
    return lsn;
}

typedef struct xact_opts {
    uint32_t nsub, nrels, nstats, ninvals;
    bool dbinfo;
    uint32_t twophase; /* 0: none */
} xact_opts;

/* Main data of a commit/abort: xact_time, xinfo and the optional parts. */
static uint32_t xact_main(uint8_t *out, int64_t time, bool commit, const xact_opts *o)
{
    uint32_t n = 0, xinfo = 0;

    memcpy(out, &time, 8);
    n = 8;
    xinfo |= o->dbinfo ? 1u : 0;
    xinfo |= o->nsub ? 2u : 0;
    xinfo |= o->nrels ? 4u : 0;
    xinfo |= (o->ninvals && commit) ? 8u : 0;
    xinfo |= o->twophase ? 16u : 0;
    xinfo |= o->nstats ? (1u << 8) : 0;
    memcpy(out + n, &xinfo, 4);
    n += 4;
    if (o->dbinfo) {
        memset(out + n, 0x11, 8);
        n += 8;
    }
    if (o->nsub) {
        memcpy(out + n, &o->nsub, 4);
        n += 4;
        for (uint32_t i = 0; i < o->nsub; i++) {
            uint32_t x = 100000 + i;

            memcpy(out + n, &x, 4);
            n += 4;
        }
    }
    if (o->nrels) {
        memcpy(out + n, &o->nrels, 4);
        memset(out + n + 4, 0x22, 12 * o->nrels);
        n += 4 + 12 * o->nrels;
    }
    if (o->nstats) {
        memcpy(out + n, &o->nstats, 4);
        memset(out + n + 4, 0x33, 12 * o->nstats);
        n += 4 + 12 * o->nstats;
    }
    if (o->ninvals && commit) {
        memcpy(out + n, &o->ninvals, 4);
        memset(out + n + 4, 0x44, 16 * o->ninvals);
        n += 4 + 16 * o->ninvals;
    }
    if (o->twophase) {
        memcpy(out + n, &o->twophase, 4);
        n += 4;
        memcpy(out + n, "gid\0", 4);
        n += 4;
    }
    return n;
}

static uint64_t synth_xact(synth *s, uint8_t op, uint32_t xid, int64_t time, const xact_opts *o)
{
    static const xact_opts none = {0};
    uint32_t cap = 64 + 4 * (o ? o->nsub : 0) + 16 * (o ? o->ninvals + o->nrels + o->nstats : 0);
    uint8_t *m = malloc(cap);
    uint32_t n;
    uint64_t lsn;

    REQUIRE(m);
    n = xact_main(m, time, op == 0x00 || op == 0x30, o ? o : &none);
    lsn = synth_rec(s, 1, (uint8_t) (op | 0x80), xid, m, n);
    free(m);
    return lsn;
}

static uint64_t synth_restore_point(synth *s, const char *name, int64_t time)
{
    uint8_t m[72] = {0};

    memcpy(m, &time, 8);
    memcpy(m + 8, name, strlen(name));
    return synth_rec(s, 0, 0x70, 0, m, sizeof m);
}

static uint64_t synth_switch(synth *s)
{
    return synth_rec(s, 0, 0x40, 0, NULL, 0);
}

/* Fillers until the position reaches lsn (records may run past it). */
static void synth_fill_to(synth *s, uint64_t lsn, uint32_t size)
{
    while (s->pos < lsn)
        synth_filler(s, size);
}

/* Fillers so that the next record starts exactly at target (aligned, not
 * at a page boundary). */
static void synth_land(synth *s, uint64_t target)
{
    for (int guard = 0; guard < 100000; guard++) {
        uint64_t start = s->pos % PAGE == 0 ? s->pos + hdr_size(s, s->pos) : s->pos, hdrs = 0;

        if (start == target)
            return;
        REQUIRE(start < target);
        /* page headers between start and target */
        for (uint64_t pg = start - start % PAGE + PAGE; pg < target; pg += PAGE)
            hdrs += hdr_size(s, pg);
        if (target - start - hdrs >= 24 + 5 + 256 && target - start - hdrs < 50000) {
            synth_filler(s, (uint32_t) (target - start - hdrs - 29));
            ck_assert_uint_eq(s->pos, target);
            return;
        }
        synth_filler(s, 3000);
    }
    ck_abort_msg("could not land at the target");
}

static uint64_t seg_end(const synth *s, int k)
{
    return s->base + (uint64_t) (k + 1) * s->seg_size;
}

static ws_wal_name segname(uint64_t segno)
{
    ws_wal_name w;

    ws_wal_name_from_segno(1, segno, SEG1, &w);
    return w;
}

/* Reads segment k of s (chunk: write size, 0 = whole) into x; returns the entry. */
static ws_wal_index index_seg(ws_wal_indexer *x, synth *s, int k, size_t chunk, size_t len)
{
    ws_wal_name w = segname(s->base / SEG1 + (uint64_t) k);
    const uint8_t *p = s->buf + (size_t) k * SEG1;
    ws_wal_index ix;

    if (len == 0)
        len = SEG1;
    ck_assert_msg(ws_wal_indexer_begin(x, &w, SEG1, &err) == 0, "%s", err.msg);
    for (size_t off = 0; off < len;) {
        size_t n = chunk && chunk < len - off ? chunk : len - off;

        /* ck_assert records a point per call: too slow in a byte loop */
        if (ws_wal_indexer_write(x, p + off, n, &err) < 0)
            ck_abort_msg("%s", err.msg);
        off += n;
    }
    ck_assert_msg(ws_wal_indexer_end(x, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ws_wal_indexer_take(x, &ix, &err), 0);
    return ix;
}

static ws_wal_index index_alone(synth *s, int k, size_t chunk, size_t len)
{
    ws_wal_indexer *x = ws_wal_indexer_new(&err);
    ws_wal_index ix;

    REQUIRE(x);
    ix = index_seg(x, s, k, chunk, len);
    ws_wal_indexer_free(x);
    return ix;
}

static void assert_lsn(uint64_t got, uint64_t want, const char *what)
{
    char g[18], w[18];

    ws_wal_name_format_lsn(got, g);
    ws_wal_name_format_lsn(want, w);
    ck_assert_msg(got == want, "%s: got %s, want %s", what, g, w);
}

/* --- CRC-32C ----------------------------------------------------------------- */

START_TEST(test_crc32c_vectors)
{
    static const char check[] = "123456789";
    uint8_t zeros[32] = {0}, ones[32];
    uint8_t buf[1000];

    memset(ones, 0xFF, sizeof ones);
    /* The CRC-32C check value, and RFC 3720 (iSCSI) B.4 vectors. */
    ck_assert_uint_eq(ws_crc32c_final(ws_crc32c_update(WS_CRC32C_INIT, check, 9)), 0xE3069283u);
    ck_assert_uint_eq(ws_crc32c_final(ws_crc32c_update_sw(WS_CRC32C_INIT, check, 9)), 0xE3069283u);
    ck_assert_uint_eq(ws_crc32c_final(ws_crc32c_update(WS_CRC32C_INIT, zeros, 32)), 0x8A9136AAu);
    ck_assert_uint_eq(ws_crc32c_final(ws_crc32c_update(WS_CRC32C_INIT, ones, 32)), 0x62A8AB43u);
    /* Both implementations agree at every length and alignment, and in pieces. */
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t) (i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t len = 0; len + off <= sizeof buf; len += 37) {
            uint32_t a = ws_crc32c_update(WS_CRC32C_INIT, buf + off, len);
            uint32_t b = ws_crc32c_update_sw(WS_CRC32C_INIT, buf + off, len);
            uint32_t c = ws_crc32c_update(ws_crc32c_update(WS_CRC32C_INIT, buf + off, len / 3), buf + off + len / 3,
                                          len - len / 3);

            if (a != b || a != c)
                ck_abort_msg("CRC-32C differs at offset %zu length %zu: %08X %08X %08X", off, len, a, b, c);
        }
}
END_TEST

/* --- reading ----------------------------------------------------------------- */

/* One segment: commits, aborts, prepared transactions, restore points, and
 * fillers to its end; read in pieces of every awkward size. */
START_TEST(test_read_segment_in_pieces)
{
    static const size_t chunks[] = {0, 1, 7, 24, 4096, 8191, 8192, 8193, 65537};
    xact_opts sub = {.nsub = 3, .dbinfo = true, .nrels = 2, .ninvals = 2, .nstats = 1};
    xact_opts p1 = {.twophase = 900, .dbinfo = true};
    synth s;
    uint64_t rp, c1;

    synth_init(&s, 5, 1);
    c1 = synth_xact(&s, 0x00, 1000, 5000000, &sub);  /* commit */
    synth_xact(&s, 0x20, 1001, 4000000, NULL);       /* abort, earlier time */
    synth_filler(&s, 20000);                         /* spans pages */
    synth_rec(&s, 1, 0x10, 900, "prepare-body", 12); /* prepare of 900 */
    synth_xact(&s, 0x30, 0, 7000000, &p1);           /* commit prepared 900 */
    rp = synth_restore_point(&s, "before-upgrade", 6000000);
    synth_xact(&s, 0x00, 999, 3000000, NULL);                        /* commit: smaller xid, earliest */
    synth_xact(&s, 0x40, 0, 8000000, &(xact_opts){.twophase = 901}); /* abort prepared 901 */
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        ws_wal_index ix = index_alone(&s, 0, chunks[i], 0);

        ck_assert_str_eq(ix.segment, "000000010000000000000005");
        ck_assert_int_eq(ix.stop, WS_WAL_STOP_END);
        assert_lsn(ix.stop_lsn, 6 * (uint64_t) SEG1, "stop");
        ck_assert(!ix.continued_unread);
        ck_assert_uint_eq(ix.sysid, SYSID);
        ck_assert_uint_eq(ix.pg_version, 15);
        assert_lsn(ix.first_lsn, c1, "first");
        ck_assert_uint_eq(ix.commits.count, 3);
        ck_assert_uint_eq(ix.commits.prepared, 1);
        ck_assert_uint_eq(ix.commits.xid_min, 900);
        ck_assert_uint_eq(ix.commits.xid_max, 1000);
        ck_assert_int_eq(ix.commits.time_min, 3000000);
        ck_assert_int_eq(ix.commits.time_max, 7000000);
        ck_assert_uint_eq(ix.aborts.count, 2);
        ck_assert_uint_eq(ix.aborts.prepared, 1);
        ck_assert_uint_eq(ix.aborts.xid_min, 901);
        ck_assert_uint_eq(ix.aborts.xid_max, 1001);
        ck_assert_int_eq(ix.aborts.time_min, 4000000);
        ck_assert_int_eq(ix.aborts.time_max, 8000000);
        ck_assert_uint_eq(ix.prepares.count, 1);
        ck_assert_uint_eq(ix.prepares.xid_min, 900);
        ck_assert_uint_eq(ix.n_restore_points, 1);
        ck_assert_str_eq(ix.restore_points[0].name, "before-upgrade");
        ck_assert_int_eq(ix.restore_points[0].time, 6000000);
        assert_lsn(ix.restore_points[0].lsn, rp, "restore point");
        assert_lsn(ix.restore_points[0].end_lsn, rp + MAXAL(24 + 2 + 72), "restore point end");
        ws_wal_index_free(&ix);
    }
    free(s.buf);
}
END_TEST

typedef struct rec_log {
    ws_wal_record r[64];
    int n;
} rec_log;

static int log_record(void *arg, const ws_wal_record *rec, ws_err *e)
{
    rec_log *l = arg;

    (void) e;
    if (l->n < 64)
        l->r[l->n] = *rec;
    l->n++;
    return 0;
}

/* Reads segment k with a plain reader, logging every record. */
static ws_wal_seg_result read_logged(synth *s, int k, size_t len, rec_log *log, uint32_t cap)
{
    ws_wal_reader_opts o = {.record_cap = cap, .on_record = log_record, .arg = log};
    ws_wal_reader *r = ws_wal_reader_new(&o, &err);
    ws_wal_name w = segname(s->base / SEG1 + (uint64_t) k);
    ws_wal_seg_result res;

    ck_assert_ptr_nonnull(r);
    memset(log, 0, sizeof *log);
    ck_assert_int_eq(ws_wal_reader_begin(r, &w, SEG1, &err), 0);
    ck_assert_int_eq(ws_wal_reader_write(r, s->buf + (size_t) k * SEG1, len ? len : SEG1, &err), 0);
    ck_assert_int_eq(ws_wal_reader_end(r, &res, &err), 0);
    ws_wal_reader_free(r);
    return res;
}

/* Records of block references, and main data after block data and images
 * (PostgreSQL 15 image flags). */
START_TEST(test_record_with_blocks)
{
    synth s;
    uint8_t body[300], main[64];
    uint32_t n = 0, mlen;
    uint16_t u16;
    rec_log log;
    ws_wal_seg_result res;

    synth_init(&s, 1, 1);
    mlen = xact_main(main, 123456789, true, &(xact_opts){.nsub = 1});
    /* block 0: data (10 bytes), its own relation; block 3: compressed image
     * with a hole (LZ4 0x08 | HAS_HOLE 0x01), same relation */
    body[n++] = 0;
    body[n++] = 0x20;
    u16 = 10;
    memcpy(body + n, &u16, 2);
    n += 2;
    memset(body + n, 0xAB, 12 + 4);
    n += 16;
    body[n++] = 3;
    body[n++] = 0x10 | 0x80;
    u16 = 0;
    memcpy(body + n, &u16, 2);
    n += 2;
    u16 = 40; /* bimg_len */
    memcpy(body + n, &u16, 2);
    n += 2;
    u16 = 100; /* hole_offset */
    memcpy(body + n, &u16, 2);
    n += 2;
    body[n++] = 0x08 | 0x01;
    u16 = 500; /* hole_length */
    memcpy(body + n, &u16, 2);
    n += 2;
    memset(body + n, 0, 4); /* blkno */
    n += 4;
    body[n++] = 252; /* toplevel xid */
    memset(body + n, 0x55, 4);
    n += 4;
    body[n++] = 255;
    body[n++] = (uint8_t) mlen;
    memset(body + n, 0xCD, 10); /* block 0 data */
    n += 10;
    memset(body + n, 0xEF, 40); /* block 3 image */
    n += 40;
    memcpy(body + n, main, mlen);
    n += mlen;
    synth_raw(&s, 1, 0x80, 4242, body, n);
    synth_fill_to(&s, seg_end(&s, 0), 5000);
    res = read_logged(&s, 0, 0, &log, 0);
    ck_assert_int_eq(res.stop, WS_WAL_STOP_END);
    ck_assert_int_eq(log.r[0].kind, WS_WAL_REC_COMMIT);
    ck_assert_uint_eq(log.r[0].target_xid, 4242);
    ck_assert_uint_eq(log.r[0].nsubxacts, 1);
    ck_assert_int_eq(log.r[0].time, 123456789);
    free(s.buf);
}
END_TEST

/* A record that spans two segments counts where it ends; read without the
 * previous segment, the segment says its first record was not read. */
START_TEST(test_record_across_segments)
{
    xact_opts big = {.nsub = 5000};
    synth s;
    uint64_t c;
    ws_wal_indexer *x;
    ws_wal_index a, b, alone;

    synth_init(&s, 7, 2);
    synth_fill_to(&s, seg_end(&s, 0) - 3000, 2000);
    c = synth_xact(&s, 0x00, 77, 1234, &big); /* 20 KB, starts < 3000 bytes before the boundary */
    ck_assert_uint_lt(c, seg_end(&s, 0));
    ck_assert_uint_gt(s.pos, seg_end(&s, 0) + 8192);
    synth_filler(&s, 100);
    synth_fill_to(&s, seg_end(&s, 1), 4000);

    x = ws_wal_indexer_new(&err);
    ck_assert_ptr_nonnull(x);
    a = index_seg(x, &s, 0, 0, 0);
    b = index_seg(x, &s, 1, 5000, 0);
    ck_assert_uint_eq(a.commits.count, 0);
    ck_assert_int_eq(a.stop, WS_WAL_STOP_END);
    ck_assert(!b.continued_unread);
    ck_assert_uint_eq(b.commits.count, 1);
    ck_assert_uint_eq(b.commits.xid_min, 77);
    ck_assert_int_eq(b.commits.time_min, 1234);
    assert_lsn(b.first_lsn, c, "first record of the second segment");
    ck_assert_int_eq(b.stop, WS_WAL_STOP_END);

    alone = index_alone(&s, 1, 0, 0);
    ck_assert(alone.continued_unread);
    ck_assert_uint_eq(alone.commits.count, 0);
    ck_assert_uint_eq(alone.records, b.records - 1);
    ck_assert_uint_gt(alone.first_lsn, seg_end(&s, 0));
    ck_assert_int_eq(alone.stop, WS_WAL_STOP_END);
    ws_wal_index_free(&a);
    ws_wal_index_free(&b);
    ws_wal_index_free(&alone);
    ws_wal_indexer_free(x);
    free(s.buf);
}
END_TEST

/* A record header split by a page boundary, and by a segment boundary. */
START_TEST(test_header_split)
{
    synth s;
    ws_wal_indexer *x;
    ws_wal_index a, b;
    uint64_t c, d;

    synth_init(&s, 3, 2);
    synth_land(&s, s.base + 5 * PAGE - 8);
    c = synth_xact(&s, 0x00, 50, 10, NULL); /* 8 header bytes on this page */
    synth_land(&s, seg_end(&s, 0) - 16);
    d = synth_xact(&s, 0x20, 51, 11, NULL); /* 16 header bytes in this segment */
    ck_assert_uint_eq(c % PAGE, PAGE - 8);
    ck_assert_uint_eq(d, seg_end(&s, 0) - 16);
    synth_fill_to(&s, seg_end(&s, 1), 3000);
    x = ws_wal_indexer_new(&err);
    for (size_t chunk = 0; chunk < 20; chunk += 19) {
        a = index_seg(x, &s, 0, chunk, 0);
        b = index_seg(x, &s, 1, chunk, 0);
        ck_assert_uint_eq(a.commits.count, 1);
        ck_assert_uint_eq(a.aborts.count, 0);
        ck_assert_int_eq(a.stop, WS_WAL_STOP_END);
        ck_assert_uint_eq(b.aborts.count, 1);
        ck_assert_uint_eq(b.aborts.xid_min, 51);
        assert_lsn(b.first_lsn, d, "first record of the second segment");
        ck_assert_int_eq(b.stop, WS_WAL_STOP_END);
        ws_wal_index_free(&a);
        ws_wal_index_free(&b);
    }
    ws_wal_indexer_free(x);
    free(s.buf);
}
END_TEST

/* Records 0..n-1 then whatever: the reader keeps the first valid ones. */
static void build_five(synth *s, uint64_t lsn[5])
{
    synth_init(s, 2, 1);
    lsn[0] = synth_xact(s, 0x00, 10, 100, NULL);
    lsn[1] = synth_filler(s, 9000); /* spans a page */
    lsn[2] = synth_xact(s, 0x00, 11, 200, NULL);
    lsn[3] = synth_restore_point(s, "rp", 300);
    lsn[4] = synth_xact(s, 0x20, 12, 400, NULL);
}

START_TEST(test_stop_bad_crc)
{
    synth s;
    uint64_t l[5];
    ws_wal_index ix;

    build_five(&s, l);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    at(&s, l[2] + 30)[0] ^= 0x01; /* in the body of record 2 */
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_RECORD);
    assert_lsn(ix.stop_lsn, l[2], "stop");
    ck_assert_msg(strstr(ix.stop_detail, "checksum"), "%s", ix.stop_detail);
    ck_assert_uint_eq(ix.records, 2);
    assert_lsn(ix.end_lsn, l[2], "end of the last valid record");
    ck_assert_uint_eq(ix.commits.count, 1);
    ck_assert_uint_eq(ix.n_restore_points, 0);
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

START_TEST(test_stop_bad_crc_in_continuation)
{
    synth s;
    uint64_t l[5];
    ws_wal_index ix;

    build_five(&s, l);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    at(&s, l[1] + 8500)[0] ^= 0x80; /* the filler's second page */
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_RECORD);
    assert_lsn(ix.stop_lsn, l[1], "stop");
    ck_assert_uint_eq(ix.records, 1);
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

START_TEST(test_stop_bad_prev)
{
    synth s;
    uint64_t l[5], bad;
    uint32_t tot;
    ws_wal_index ix;

    build_five(&s, l);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    /* Record 3 points back to record 0 and has a matching CRC: only the
     * prev-link is wrong (a stale record from older WAL looks like this). */
    memcpy(at(&s, l[3] + 8), &l[0], 8);
    memcpy(&tot, at(&s, l[3]), 4);
    ck_assert_uint_lt(l[3] % PAGE + tot, PAGE);
    seal(at(&s, l[3]), tot);
    bad = l[3];
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_RECORD);
    assert_lsn(ix.stop_lsn, bad, "stop");
    ck_assert_msg(strstr(ix.stop_detail, "prev-link"), "%s", ix.stop_detail);
    ck_assert_uint_eq(ix.records, 3);
    ck_assert_uint_eq(ix.n_restore_points, 0);
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

/* A recycled page (an older pageaddr) right after the last record, and one
 * in the middle of a record. */
START_TEST(test_stop_bad_pageaddr)
{
    synth s;
    uint64_t l[5], page, old = 0x10000;
    ws_wal_index ix;

    build_five(&s, l);
    page = l[1] - l[1] % PAGE + PAGE; /* the filler continues on this page */
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    memcpy(at(&s, page + 8), &old, 8);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_PAGE);
    assert_lsn(ix.stop_lsn, l[1], "stop: the record in progress");
    ck_assert_msg(strstr(ix.stop_detail, "unexpected pageaddr"), "%s", ix.stop_detail);
    ck_assert_uint_eq(ix.records, 1);
    ws_wal_index_free(&ix);
    free(s.buf);

    /* Between records: the last record ends exactly at a page's end. */
    synth_init(&s, 2, 1);
    synth_xact(&s, 0x00, 10, 100, NULL);
    while (s.pos % PAGE != 0) {
        uint32_t room = (uint32_t) (PAGE - s.pos % PAGE);

        synth_filler(&s, room >= 24 + 5 + 256 ? room - 29 : 400);
    }
    page = s.pos;
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    memcpy(at(&s, page + 8), &old, 8);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_PAGE);
    assert_lsn(ix.stop_lsn, page, "stop: the page");
    assert_lsn(ix.end_lsn, page, "end of the last record");
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

START_TEST(test_stop_zero_tail)
{
    synth s;
    uint64_t l[5];
    ws_wal_index ix;

    build_five(&s, l);
    ix = index_alone(&s, 0, 0, 0); /* nothing after record 4: zeros */
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_ZERO);
    assert_lsn(ix.stop_lsn, s.pos, "stop");
    assert_lsn(ix.end_lsn, s.pos, "end");
    ck_assert_uint_eq(ix.records, 5);
    ck_assert_uint_eq(ix.commits.count, 2);
    ck_assert_uint_eq(ix.aborts.count, 1);
    ck_assert_uint_eq(ix.n_restore_points, 1);
    ws_wal_index_free(&ix);

    /* A zeroed page right after a record that ends at a page's end. */
    while (s.pos % PAGE != 0) {
        uint32_t room = (uint32_t) (PAGE - s.pos % PAGE);

        synth_filler(&s, room >= 24 + 5 + 256 ? room - 29 : 400);
    }
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_ZERO);
    assert_lsn(ix.stop_lsn, s.pos, "stop");
    ck_assert_msg(strstr(ix.stop_detail, "zeroed page"), "%s", ix.stop_detail);
    ws_wal_index_free(&ix);

    /* An all-zero file. */
    memset(s.buf, 0, SEG1);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_ZERO);
    ck_assert_uint_eq(ix.records, 0);
    ck_assert_uint_eq(ix.pg_version, 0);
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

/* The input ends inside a record: that record is not read, nor anything
 * on a last partial page (PostgreSQL reads whole pages). */
START_TEST(test_stop_truncated)
{
    synth s;
    uint64_t l[5];
    ws_wal_index ix;
    rec_log full, cut;
    ws_wal_seg_result res;
    int n = 0;

    build_five(&s, l);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    ix = index_alone(&s, 0, 1000, (size_t) (l[1] - s.base + 8192 + 100));
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_SHORT);
    assert_lsn(ix.stop_lsn, l[1], "stop");
    ck_assert_uint_eq(ix.records, 1);
    ws_wal_index_free(&ix);
    /* Cut at a page boundary: every record ending before it is read. */
    read_logged(&s, 0, 0, &full, 0);
    res = read_logged(&s, 0, 3 * PAGE, &cut, 0);
    ck_assert_int_eq(res.stop, WS_WAL_STOP_SHORT);
    while (n < full.n && full.r[n].end_lsn <= s.base + 3 * PAGE)
        n++;
    ck_assert_int_gt(n, 5);
    ck_assert_int_eq(cut.n, n);
    ck_assert_uint_eq(res.records, (uint64_t) n);
    assert_lsn(res.stop_lsn, full.r[n].lsn, "stop at the record cut");
    assert_lsn(res.end_lsn, full.r[n - 1].end_lsn, "end");
    /* A cut in the middle of a page drops that page. */
    res = read_logged(&s, 0, 3 * PAGE + 4000, &cut, 0);
    ck_assert_int_eq(res.stop, WS_WAL_STOP_SHORT);
    ck_assert_int_eq(cut.n, n);
    free(s.buf);
}
END_TEST

START_TEST(test_stop_bad_lengths_and_rmgr)
{
    synth s;
    uint64_t l[5];
    uint32_t v;
    ws_wal_index ix;

    build_five(&s, l);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    v = 10; /* xl_tot_len below the header size */
    memcpy(at(&s, l[2]), &v, 4);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_RECORD);
    ck_assert_msg(strstr(ix.stop_detail, "invalid record length"), "%s", ix.stop_detail);
    assert_lsn(ix.stop_lsn, l[2], "stop");
    ws_wal_index_free(&ix);
    free(s.buf);

    build_five(&s, l);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    at(&s, l[2])[17] = 60; /* no such resource manager */
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_RECORD);
    ck_assert_msg(strstr(ix.stop_detail, "resource manager ID 60"), "%s", ix.stop_detail);
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

/* A record kept for decoding above the cap stops cleanly; any other
 * record of any size streams through. */
START_TEST(test_record_cap)
{
    synth s;
    rec_log log;
    ws_wal_seg_result res;
    uint64_t big;

    synth_init(&s, 2, 1);
    synth_filler(&s, 200000); /* not decoded: no cap */
    synth_xact(&s, 0x00, 5, 6, NULL);
    big = synth_xact(&s, 0x00, 6, 7, &(xact_opts){.nsub = 3000});
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    res = read_logged(&s, 0, 0, &log, 4096);
    ck_assert_int_eq(res.stop, WS_WAL_STOP_TOO_LARGE);
    assert_lsn(res.stop_lsn, big, "stop");
    ck_assert_int_eq(log.n, 2);
    ck_assert_uint_eq(log.r[0].tot_len, 24 + 5 + 200000);
    res = read_logged(&s, 0, 0, &log, 0);
    ck_assert_int_eq(res.stop, WS_WAL_STOP_END);
    ck_assert_uint_eq(log.r[2].nsubxacts, 3000);
    free(s.buf);
}
END_TEST

/* The continuation of a record must be flagged with its exact remaining
 * length. */
START_TEST(test_stop_contrecord)
{
    synth s;
    uint64_t l[5], page;
    uint16_t info;
    uint32_t rem;
    ws_wal_index ix;

    build_five(&s, l);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    page = l[1] - l[1] % PAGE + PAGE;
    info = 0;
    memcpy(at(&s, page + 2), &info, 2);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_RECORD);
    ck_assert_msg(strstr(ix.stop_detail, "no contrecord flag"), "%s", ix.stop_detail);
    assert_lsn(ix.stop_lsn, l[1], "stop");
    ws_wal_index_free(&ix);
    info = 1;
    memcpy(at(&s, page + 2), &info, 2);
    memcpy(&rem, at(&s, page + 16), 4);
    rem += 8;
    memcpy(at(&s, page + 16), &rem, 4);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_RECORD);
    ck_assert_msg(strstr(ix.stop_detail, "invalid contrecord length"), "%s", ix.stop_detail);
    ws_wal_index_free(&ix);
    free(s.buf);

    /* A page that claims a continuation when no record is in progress. */
    synth_init(&s, 2, 1);
    synth_xact(&s, 0x00, 10, 100, NULL);
    while (s.pos % PAGE != 0) {
        uint32_t room = (uint32_t) (PAGE - s.pos % PAGE);

        synth_filler(&s, room >= 24 + 5 + 256 ? room - 29 : 400);
    }
    page = s.pos;
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    info = 1;
    memcpy(at(&s, page + 2), &info, 2);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_RECORD);
    ck_assert_msg(strstr(ix.stop_detail, "contrecord is requested"), "%s", ix.stop_detail);
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

/* XLP_FIRST_IS_OVERWRITE_CONTRECORD: the rest of a record was lost in a
 * crash and overwritten; that record never happened. */
START_TEST(test_overwrite_contrecord)
{
    synth s;
    uint64_t c, lost, page;
    ws_wal_index ix;
    uint8_t m[300];

    synth_init(&s, 2, 1);
    synth_xact(&s, 0x00, 10, 100, NULL);
    while (s.pos % PAGE < PAGE - 400)
        synth_filler(&s, 300);
    c = s.prev;
    lost = synth_xact(&s, 0x00, 11, 200, &(xact_opts){.nsub = 200});
    page = lost - lost % PAGE + PAGE;
    memset(at(&s, page), 0, (size_t) (s.pos - page));
    s.pos = page;
    s.prev = c;
    page_header(&s, page, 0x0008, 0);
    s.pos += 24;
    memset(m, 0, sizeof m);
    synth_rec(&s, 0, 0xD0, 0, m, 16); /* XLOG_OVERWRITE_CONTRECORD */
    synth_xact(&s, 0x00, 12, 300, NULL);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_END);
    ck_assert_uint_eq(ix.commits.count, 2); /* 10 and 12, not the lost 11 */
    ck_assert_uint_eq(ix.commits.xid_min, 10);
    ck_assert_uint_eq(ix.commits.xid_max, 12);
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

/* After XLOG_SWITCH the rest of the segment is not WAL; the next segment
 * follows the switch record. */
START_TEST(test_switch)
{
    synth s;
    uint64_t sw, c2;
    ws_wal_indexer *x;
    ws_wal_index a, b;

    synth_init(&s, 2, 2);
    synth_xact(&s, 0x00, 10, 100, NULL);
    sw = synth_switch(&s);
    for (uint64_t p = s.pos; p < seg_end(&s, 0); p++)
        at(&s, p)[0] = (uint8_t) (p * 13); /* garbage */
    s.pos = seg_end(&s, 0);
    c2 = synth_xact(&s, 0x00, 11, 200, NULL);
    synth_fill_to(&s, seg_end(&s, 1), 3000);
    x = ws_wal_indexer_new(&err);
    a = index_seg(x, &s, 0, 0, 0);
    ck_assert_int_eq(a.stop, WS_WAL_STOP_SWITCH);
    assert_lsn(a.stop_lsn, sw + 24, "stop");
    assert_lsn(a.end_lsn, sw + 24, "end");
    ck_assert_uint_eq(a.records, 2);
    b = index_seg(x, &s, 1, 0, 0);
    ck_assert_int_eq(b.stop, WS_WAL_STOP_END);
    ck_assert(!b.continued_unread);
    assert_lsn(b.first_lsn, c2, "first");
    ck_assert_uint_eq(b.commits.count, 1);
    ws_wal_index_free(&a);
    ws_wal_index_free(&b);
    /* A wrong prev-link right after the switch is caught. */
    {
        uint64_t bad = 0x1234;
        uint32_t tot;

        memcpy(at(&s, c2 + 8), &bad, 8);
        memcpy(&tot, at(&s, c2), 4);
        seal(at(&s, c2), tot);
        a = index_seg(x, &s, 0, 0, 0);
        b = index_seg(x, &s, 1, 0, 0);
        ck_assert_int_eq(b.stop, WS_WAL_STOP_RECORD);
        ws_wal_index_free(&a);
        ws_wal_index_free(&b);
    }
    ws_wal_indexer_free(x);
    free(s.buf);
}
END_TEST

/* First page problems: magic, segment size, address, timeline. */
START_TEST(test_first_page)
{
    synth s;
    ws_wal_index ix;
    uint16_t magic = 0xD0FF;
    uint32_t tli = 3;

    synth_init(&s, 2, 1);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    memcpy(s.buf, &magic, 2);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_PAGE);
    ck_assert_uint_eq(ix.pg_version, 0);
    ck_assert_uint_eq(ix.records, 0);
    ws_wal_index_free(&ix);
    free(s.buf);

    synth_init(&s, 2, 1);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    memcpy(s.buf + 4, &tli, 4); /* beyond the name's timeline 1 */
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_PAGE);
    ck_assert_msg(strstr(ix.stop_detail, "timeline 3"), "%s", ix.stop_detail);
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

/* The smallest and largest xid in PostgreSQL's circular order. */
START_TEST(test_xid_wraparound)
{
    synth s;
    ws_wal_index ix;

    synth_init(&s, 2, 1);
    synth_xact(&s, 0x00, 4294967290u, 10, NULL);
    synth_xact(&s, 0x00, 5, 20, NULL);
    synth_xact(&s, 0x00, 4294967295u, 30, NULL);
    synth_xact(&s, 0x00, 3, 40, NULL);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    ix = index_alone(&s, 0, 0, 0);
    ck_assert_uint_eq(ix.commits.xid_min, 4294967290u);
    ck_assert_uint_eq(ix.commits.xid_max, 5);
    ck_assert(ws_wal_index_xid_precedes(4294967290u, 5));
    ck_assert(!ws_wal_index_xid_precedes(5, 4294967290u));
    ck_assert(ws_wal_index_xid_precedes(2, 3));
    ws_wal_index_free(&ix);
    free(s.buf);
}
END_TEST

/* A segment after one that stopped early is read from scratch. */
START_TEST(test_no_carry_after_stop)
{
    synth s;
    ws_wal_indexer *x;
    ws_wal_index a, b;
    uint64_t c;

    synth_init(&s, 2, 2);
    synth_fill_to(&s, seg_end(&s, 0) - 2000, 1500);
    c = synth_xact(&s, 0x00, 9, 9, &(xact_opts){.nsub = 2000});
    synth_fill_to(&s, seg_end(&s, 1), 3000);
    at(&s, c + 40)[0] ^= 1; /* breaks the spanning record in the first segment */
    x = ws_wal_indexer_new(&err);
    a = index_seg(x, &s, 0, 0, 0);
    ck_assert_int_eq(a.stop, WS_WAL_STOP_END); /* its CRC is only known at its end */
    b = index_seg(x, &s, 1, 0, 0);
    ck_assert_int_eq(b.stop, WS_WAL_STOP_RECORD);
    ck_assert_uint_eq(b.records, 0);
    ws_wal_index_free(&a);
    ws_wal_index_free(&b);
    /* Now the first segment is short: the second is read fresh. */
    at(&s, c + 40)[0] ^= 1;
    a = index_seg(x, &s, 0, 0, SEG1 - 100);
    ck_assert_int_eq(a.stop, WS_WAL_STOP_SHORT);
    b = index_seg(x, &s, 1, 0, 0);
    ck_assert(b.continued_unread);
    ck_assert_int_eq(b.stop, WS_WAL_STOP_END);
    ck_assert_uint_eq(b.commits.count, 0);
    ws_wal_index_free(&a);
    ws_wal_index_free(&b);
    ws_wal_indexer_free(x);
    free(s.buf);
}
END_TEST

START_TEST(test_api_misuse)
{
    ws_wal_reader *r = ws_wal_reader_new(NULL, &err);
    ws_wal_name w = segname(2), hist;
    uint8_t b[16] = {0};
    synth s;

    ck_assert_int_eq(ws_wal_reader_write(r, b, 1, &err), -1);
    ck_assert_int_eq(ws_wal_reader_end(r, NULL, &err), -1);
    ck_assert_int_eq(ws_wal_name_parse("00000002.history", &hist, &err), 0);
    ck_assert_int_eq(ws_wal_reader_begin(r, &hist, SEG1, &err), -1);
    ck_assert_int_eq(ws_wal_reader_begin(r, &w, 12345, &err), -1);
    ck_assert_int_eq(ws_wal_reader_begin(r, &w, SEG1, &err), 0);
    ck_assert_int_eq(ws_wal_reader_begin(r, &w, SEG1, &err), -1);
    synth_init(&s, 2, 1);
    ck_assert_int_eq(ws_wal_reader_write(r, s.buf, SEG1, &err), 0);
    ck_assert_int_eq(ws_wal_reader_write(r, b, 1, &err), -1);
    ck_assert_msg(strstr(err.msg, "more than"), "%s", err.msg);
    ck_assert_int_eq(ws_wal_reader_end(r, NULL, &err), 0);
    ws_wal_reader_free(r);
    free(s.buf);
}
END_TEST

/* As a stage: the bytes pass through unchanged; finish ends the segment. */
START_TEST(test_reader_sink)
{
    synth s;
    ws_wal_reader *r = ws_wal_reader_new(NULL, &err);
    ws_sink *mem = ws_sink_mem_new(), *st = ws_wal_reader_sink_new(r, mem, &err);
    ws_wal_name w = segname(2);
    const uint8_t *out;
    size_t len;

    synth_init(&s, 2, 1);
    synth_xact(&s, 0x00, 1, 2, NULL);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    ck_assert_int_eq(ws_wal_reader_begin(r, &w, SEG1, &err), 0);
    ck_assert_int_eq(ws_sink_pump_mem(s.buf, SEG1, 10000, st, &err), 0);
    out = ws_sink_mem_data(mem, &len);
    ck_assert_uint_eq(len, SEG1);
    ck_assert(memcmp(out, s.buf, SEG1) == 0);
    ck_assert_int_eq(ws_wal_reader_last(r)->stop, WS_WAL_STOP_END);
    ck_assert_uint_gt(ws_wal_reader_last(r)->records, 100);
    ws_sink_free(st);
    ws_sink_free(mem);
    ws_wal_reader_free(r);
    free(s.buf);
}
END_TEST

START_TEST(test_time_format)
{
    char t[WS_WAL_TIME_TEXT_MAX];

    ws_wal_reader_time_format(0, t);
    ck_assert_str_eq(t, "2000-01-01T00:00:00.000000Z");
    ws_wal_reader_time_format(-1, t);
    ck_assert_str_eq(t, "1999-12-31T23:59:59.999999Z");
    ws_wal_reader_time_format(INT64_C(767451296123456), t);
    ck_assert_str_eq(t, "2024-04-26T12:54:56.123456Z");
    ws_wal_reader_time_format(INT64_MAX, t);
    ck_assert_str_eq(t, "infinity");
}
END_TEST

/* --- entries ------------------------------------------------------------------ */

static void sample_entry(ws_wal_index *ix)
{
    ws_wal_index_init(ix);
    snprintf(ix->segment, sizeof ix->segment, "%s", "0000000200000001000000FE");
    ix->tli = 2;
    ix->seg_size = 16u << 20;
    ix->pg_version = 15;
    ix->sysid = UINT64_C(18000000000000000000);
    ix->records = 12345;
    ix->first_lsn = UINT64_C(0x1FDFFFFA8);
    ix->end_lsn = UINT64_C(0x1FEFFFFF8);
    ix->continued_unread = false;
    ix->stop = WS_WAL_STOP_END;
    ix->stop_lsn = UINT64_C(0x1FF000000);
    snprintf(ix->stop_detail, sizeof ix->stop_detail, "valid to the end");
    ix->commits = (ws_wal_xact_range){.count = 3,
                                      .prepared = 1,
                                      .time_min = -5,
                                      .time_max = INT64_C(767451296123456),
                                      .xid_min = 4294967290u,
                                      .xid_max = 7};
    ix->aborts = (ws_wal_xact_range){0};
    ix->prepares = (ws_wal_xact_range){.count = 1, .xid_min = 9, .xid_max = 9};
    ix->n_restore_points = 2;
    ix->restore_points = calloc(2, sizeof *ix->restore_points);
    snprintf(ix->restore_points[0].name, sizeof ix->restore_points[0].name, "%s", "before \"the\" upgrade");
    ix->restore_points[0].time = 100;
    ix->restore_points[0].lsn = UINT64_C(0x1FE000100);
    ix->restore_points[0].end_lsn = UINT64_C(0x1FE000168);
    memcpy(ix->restore_points[1].name, "\xff\xfe latin1 \xe9", 12); /* not UTF-8 */
    ix->restore_points[1].time = 200;
    ix->restore_points[1].lsn = UINT64_C(0x1FE000200);
    ix->restore_points[1].end_lsn = UINT64_C(0x1FE000268);
}

static void assert_same_entry(const ws_wal_index *a, const ws_wal_index *b)
{
    ck_assert_str_eq(a->segment, b->segment);
    ck_assert_uint_eq(a->tli, b->tli);
    ck_assert_uint_eq(a->seg_size, b->seg_size);
    ck_assert_uint_eq(a->pg_version, b->pg_version);
    ck_assert_uint_eq(a->sysid, b->sysid);
    ck_assert_uint_eq(a->records, b->records);
    ck_assert_uint_eq(a->first_lsn, b->first_lsn);
    ck_assert_uint_eq(a->end_lsn, b->end_lsn);
    ck_assert_int_eq(a->continued_unread, b->continued_unread);
    ck_assert_int_eq(a->stop, b->stop);
    ck_assert_uint_eq(a->stop_lsn, b->stop_lsn);
    ck_assert_str_eq(a->stop_detail, b->stop_detail);
    ck_assert(memcmp(&a->commits, &b->commits, sizeof a->commits) == 0);
    ck_assert(memcmp(&a->aborts, &b->aborts, sizeof a->aborts) == 0);
    ck_assert(memcmp(&a->prepares, &b->prepares, sizeof a->prepares) == 0);
    ck_assert_uint_eq(a->n_restore_points, b->n_restore_points);
    for (size_t i = 0; i < a->n_restore_points; i++) {
        ck_assert_str_eq(a->restore_points[i].name, b->restore_points[i].name);
        ck_assert_int_eq(a->restore_points[i].time, b->restore_points[i].time);
        ck_assert_uint_eq(a->restore_points[i].lsn, b->restore_points[i].lsn);
        ck_assert_uint_eq(a->restore_points[i].end_lsn, b->restore_points[i].end_lsn);
    }
}

START_TEST(test_json_round_trip)
{
    ws_wal_index ix, back;
    char *json;

    sample_entry(&ix);
    for (int pretty = 0; pretty < 2; pretty++) {
        json = ws_wal_index_json_format(&ix, pretty, &err);
        ck_assert_ptr_nonnull(json);
        ck_assert_msg(strstr(json, "\"walship_wal_index\"") && strstr(json, "\"system_identifier\""), "%s", json);
        ck_assert_msg(strstr(json, "\"name_hex\": \"fffe206c6174696e3120e9\"") ||
                          strstr(json, "\"name_hex\":\"fffe206c6174696e3120e9\""),
                      "%s", json);
        ck_assert_msg(strstr(json, "2024-04-26T12:54:56.123456Z"), "%s", json);
        ck_assert_msg(ws_wal_index_json_parse(json, strlen(json), "entry", &back, &err) == 0, "%s", err.msg);
        assert_same_entry(&ix, &back);
        ws_wal_index_free(&back);
        free(json);
    }
    ws_wal_index_free(&ix);
}
END_TEST

/* Replaces the first occurrence of from by to in json (for bad inputs). */
static char *edit(const char *json, const char *from, const char *to)
{
    const char *p = strstr(json, from);
    char *out;

    ck_assert_msg(p != NULL, "%s not in %s", from, json);
    out = malloc(strlen(json) - strlen(from) + strlen(to) + 1);
    memcpy(out, json, (size_t) (p - json));
    strcpy(out + (p - json), to);
    strcat(out, p + strlen(from));
    return out;
}

START_TEST(test_json_rejects)
{
    static const struct {
        const char *from, *to;
        ws_errcode code;
        const char *msg;
    } cases[] = {
        {"\"walship_wal_index\":1", "\"walship_wal_index\":2", WS_ERR_FORMAT, "unsupported WAL index version 2"},
        {"\"walship_wal_index\":1,", "", WS_ERR_CORRUPT, "not a WAL index entry"},
        {"\"timeline\":2", "\"timeline\":3", WS_ERR_CORRUPT, "does not fit"},
        {"\"segment\":\"0000000200000001000000FE\"", "\"segment\":\"00000002.history\"", WS_ERR_CORRUPT,
         "not a segment name"},
        {"\"first_lsn\":\"1/FDFFFFA8\"", "\"first_lsn\":\"1/FDFFFFA8x\"", WS_ERR_CORRUPT, "not an LSN"},
        {"\"reason\":\"end\"", "\"reason\":\"finished\"", WS_ERR_CORRUPT, "unknown stop reason"},
        {"\"records\":12345", "\"records\":-1", WS_ERR_CORRUPT, "out of range"},
        {"\"xid_min\":4294967290", "\"xid_min\":4294967296", WS_ERR_CORRUPT, "out of range"},
        {"\"count\":3", "\"count\":0", WS_ERR_CORRUPT, "more prepared"},
        {"\"time_min\":-5", "\"time_min\":\"-5\"", WS_ERR_CORRUPT, "not an integer"},
        {"\"continued_unread\":false", "\"continued_unread\":0", WS_ERR_CORRUPT, "not true or false"},
        {"\"end_lsn\":\"1/FE000168\"", "\"end_lsn\":\"1/FE000100\"", WS_ERR_CORRUPT, "ends before it starts"},
        {"\"system_identifier\":\"18000000000000000000\"", "\"system_identifier\":\"x\"", WS_ERR_CORRUPT,
         "\"system_identifier\" is not a decimal number"},
        {"{", "[", WS_ERR_CORRUPT, "not valid JSON"},
    };
    ws_wal_index ix, back;
    char *json;

    sample_entry(&ix);
    json = ws_wal_index_json_format(&ix, false, &err);
    ck_assert_ptr_nonnull(json);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *bad = edit(json, cases[i].from, cases[i].to);

        ck_assert_int_eq(ws_wal_index_json_parse(bad, strlen(bad), "X.ws", &back, &err), -1);
        ck_assert_msg(err.code == cases[i].code && strstr(err.msg, cases[i].msg) && strstr(err.msg, "X.ws"),
                      "case %zu: %s (%s)", i, err.msg, ws_errcode_name(err.code));
        free(bad);
    }
    free(json);
    ws_wal_index_free(&ix);
}
END_TEST

START_TEST(test_lsn_parse)
{
    uint64_t v;

    ck_assert_int_eq(ws_wal_name_parse_lsn("0/0", &v), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(ws_wal_name_parse_lsn("16/B374D848", &v), 0);
    ck_assert_uint_eq(v, UINT64_C(0x16B374D848));
    ck_assert_int_eq(ws_wal_name_parse_lsn("ffffffff/ffffffff", &v), 0);
    ck_assert_uint_eq(v, UINT64_MAX);
    ck_assert_int_eq(ws_wal_name_parse_lsn("", &v), -1);
    ck_assert_int_eq(ws_wal_name_parse_lsn("1", &v), -1);
    ck_assert_int_eq(ws_wal_name_parse_lsn("/1", &v), -1);
    ck_assert_int_eq(ws_wal_name_parse_lsn("1/", &v), -1);
    ck_assert_int_eq(ws_wal_name_parse_lsn("1/2/3", &v), -1);
    ck_assert_int_eq(ws_wal_name_parse_lsn("123456789/0", &v), -1);
    ck_assert_int_eq(ws_wal_name_parse_lsn("0/g", &v), -1);
    ck_assert_int_eq(ws_wal_name_parse_lsn(" 0/1", &v), -1);
}
END_TEST

START_TEST(test_index_key)
{
    char key[WS_KEY_MAX];

    ck_assert_int_eq(ws_repo_keys_index("0000000200000001000000FE", key, sizeof key, &err), 0);
    ck_assert_str_eq(key, "index/0000000200000001/0000000200000001000000FE.ws");
    ck_assert_int_eq(ws_repo_keys_index("000000010000000000000003.partial", key, sizeof key, &err), 0);
    ck_assert_str_eq(key, "index/0000000100000000/000000010000000000000003.partial.ws");
    ck_assert_int_eq(ws_repo_keys_index("00000002.history", key, sizeof key, &err), -1);
    ck_assert_int_eq(ws_repo_keys_index("000000010000000000000003.00000028.backup", key, sizeof key, &err), -1);
    ck_assert_int_eq(ws_repo_keys_index("nonsense", key, sizeof key, &err), -1);
    ck_assert_int_eq(ws_repo_keys_index("0000000200000001000000FE", key, 20, &err), -1);
}
END_TEST

/* --- repository objects --------------------------------------------------------- */

static char tmpdir[256];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st;
    (void) flag;
    (void) ftw;
    return remove(path);
}

static void make_tmp(void)
{
    unit_tmp_template(tmpdir, sizeof tmpdir, "ws-walidx-test");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void drop_tmp(void)
{
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static ws_repo *open_repo(const char *key_file)
{
    ws_config cfg;
    ws_repo *r;
    char url[600];

    snprintf(url, sizeof url, "file://%s/repo", tmpdir);
    ck_assert(mkdir(url + 7, 0750) == 0 || errno == EEXIST);
    ck_assert_int_eq(ws_config_defaults(&cfg, &err), 0);
    cfg.repo = strdup(url);
    if (key_file)
        cfg.encryption_key_file = strdup(key_file);
    ck_assert_msg(ws_repo_open(&cfg, &r, &err) == 0, "%s", err.msg);
    ws_config_free(&cfg);
    return r;
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t) n;
    return buf;
}

START_TEST(test_repo_put_get)
{
    ws_repo *r;
    ws_wal_index ix, back;
    char path[600], keyfile[600];
    char *raw;
    size_t len;
    FILE *f;

    make_tmp();
    sample_entry(&ix);
    /* Unencrypted. */
    r = open_repo(NULL);
    ck_assert_int_eq(ws_wal_index_get(r, ix.segment, &back, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_NOTFOUND);
    ck_assert_msg(strstr(err.msg, "0000000200000001000000FE has no WAL index entry"), "%s", err.msg);
    ck_assert_msg(ws_wal_index_put(r, &ix, &err) == 0, "%s", err.msg);
    ck_assert_msg(ws_wal_index_get(r, ix.segment, &back, &err) == 0, "%s", err.msg);
    assert_same_entry(&ix, &back);
    ws_wal_index_free(&back);
    /* Replaced by a new put. */
    ix.records = 1;
    ck_assert_msg(ws_wal_index_put(r, &ix, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(ws_wal_index_get(r, ix.segment, &back, &err), 0);
    ck_assert_uint_eq(back.records, 1);
    ws_wal_index_free(&back);
    snprintf(path, sizeof path, "%s/repo/index/0000000200000001/0000000200000001000000FE.ws", tmpdir);
    ck_assert_int_eq(access(path, F_OK), 0);
    ws_repo_close(r);

    /* Encrypted: no plaintext on disk; the key is needed to read it. */
    snprintf(keyfile, sizeof keyfile, "%s/key", tmpdir);
    f = fopen(keyfile, "w");
    fputs("0123456789abcdef0123456789abcdef0123456789\n", f);
    fclose(f);
    ck_assert_int_eq(chmod(keyfile, 0600), 0);
    r = open_repo(keyfile);
    ck_assert_msg(ws_wal_index_put(r, &ix, &err) == 0, "%s", err.msg);
    raw = read_all(path, &len);
    ck_assert_ptr_null(memmem(raw, len, "walship_wal_index", 17));
    free(raw);
    ck_assert_int_eq(ws_wal_index_get(r, ix.segment, &back, &err), 0);
    ck_assert_uint_eq(back.records, 1);
    ws_wal_index_free(&back);
    ws_repo_close(r);
    r = open_repo(NULL);
    ck_assert_int_eq(ws_wal_index_get(r, ix.segment, &back, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_KEY);
    ws_repo_close(r);

    /* An entry stored under another segment's key is refused. */
    r = open_repo(NULL);
    snprintf(ix.segment, sizeof ix.segment, "%s", "0000000200000001000000FD");
    ck_assert_int_eq(ws_wal_index_put(r, &ix, &err), 0);
    {
        char from[600];

        snprintf(from, sizeof from, "%s/repo/index/0000000200000001/0000000200000001000000FD.ws", tmpdir);
        ck_assert_int_eq(rename(from, path), 0);
    }
    ck_assert_int_eq(ws_wal_index_get(r, "0000000200000001000000FE", &back, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_CORRUPT);
    ck_assert_msg(strstr(err.msg, "holds the entry of 0000000200000001000000FD"), "%s", err.msg);
    ws_repo_close(r);
    ws_wal_index_free(&ix);
    drop_tmp();
}
END_TEST

/* ws_wal_index_file: the previous segment from the same directory carries
 * the first record; missing or unusable, the entry says so. */
START_TEST(test_index_file)
{
    synth s;
    char dir[600], p0[700], p1[700], other[700];
    ws_wal_file wf;
    ws_wal_index ix;
    uint64_t c;
    int fd;
    FILE *f;

    make_tmp();
    synth_init(&s, 4, 2);
    synth_fill_to(&s, seg_end(&s, 0) - 2000, 1500);
    c = synth_xact(&s, 0x00, 31, 32, &(xact_opts){.nsub = 1000});
    synth_fill_to(&s, seg_end(&s, 1), 3000);
    snprintf(dir, sizeof dir, "%s", tmpdir);
    snprintf(p0, sizeof p0, "%s/000000010000000000000004", dir);
    snprintf(p1, sizeof p1, "%s/000000010000000000000005", dir);
    snprintf(other, sizeof other, "%s/000000010000000000000003", dir);
    f = fopen(p0, "wb");
    fwrite(s.buf, 1, SEG1, f);
    fclose(f);
    f = fopen(p1, "wb");
    fwrite(s.buf + SEG1, 1, SEG1, f);
    fclose(f);
    fd = ws_wal_file_open(p1, &wf, &err);
    ck_assert_msg(fd >= 0, "%s", err.msg);
    {
        char prev[700];

        ck_assert_int_eq(ws_wal_index_prev_path(p1, &wf, prev, sizeof prev, &err), 0);
        ck_assert_str_eq(prev, p0);
        ck_assert_int_eq(ws_wal_index_prev_path(p1, &wf, prev, 10, &err), -1);
        ck_assert_int_eq(ws_wal_index_prev_path("000000010000000000000005", &wf, prev, sizeof prev, &err), 0);
        ck_assert_str_eq(prev, "000000010000000000000004");
    }
    ck_assert_msg(ws_wal_index_file(fd, p1, &wf, p0, &ix, &err) == 0, "%s", err.msg);
    ck_assert(!ix.continued_unread);
    ck_assert_uint_eq(ix.commits.count, 1);
    assert_lsn(ix.first_lsn, c, "first");
    ws_wal_index_free(&ix);
    /* NULL, missing, and not the previous segment: not read. */
    ck_assert_int_eq(ws_wal_index_file(fd, p1, &wf, NULL, &ix, &err), 0);
    ck_assert(ix.continued_unread);
    ck_assert_uint_eq(ix.commits.count, 0);
    ws_wal_index_free(&ix);
    ck_assert_int_eq(ws_wal_index_file(fd, p1, &wf, other, &ix, &err), 0);
    ck_assert(ix.continued_unread);
    ws_wal_index_free(&ix);
    ck_assert_int_eq(rename(p0, other), 0);
    ck_assert_int_eq(ws_wal_index_file(fd, p1, &wf, other, &ix, &err), 0);
    ck_assert(ix.continued_unread);
    ws_wal_index_free(&ix);
    close(fd);
    free(s.buf);

    /* A record that began more than the 128 KiB read first before the end
     * of the previous segment: that segment is read whole. */
    synth_init(&s, 4, 2);
    synth_fill_to(&s, seg_end(&s, 0) - 200000, 3000);
    c = synth_xact(&s, 0x00, 33, 34, &(xact_opts){.nsub = 60000}); /* 240 KB */
    synth_fill_to(&s, seg_end(&s, 1), 3000);
    f = fopen(p0, "wb");
    fwrite(s.buf, 1, SEG1, f);
    fclose(f);
    f = fopen(p1, "wb");
    fwrite(s.buf + SEG1, 1, SEG1, f);
    fclose(f);
    fd = ws_wal_file_open(p1, &wf, &err);
    ck_assert_msg(fd >= 0, "%s", err.msg);
    ck_assert_msg(ws_wal_index_file(fd, p1, &wf, p0, &ix, &err) == 0, "%s", err.msg);
    ck_assert(!ix.continued_unread);
    ck_assert_uint_eq(ix.commits.count, 1);
    ck_assert_uint_eq(ix.commits.xid_min, 33);
    assert_lsn(ix.first_lsn, c, "first");
    ws_wal_index_free(&ix);
    close(fd);
    free(s.buf);
    drop_tmp();
}
END_TEST

/* Reading from a page in the middle of a segment. */
START_TEST(test_begin_at)
{
    synth s;
    ws_wal_reader *r = ws_wal_reader_new(NULL, &err);
    ws_wal_name w = segname(2);
    ws_wal_seg_result res;
    uint64_t c;

    synth_init(&s, 2, 1);
    synth_land(&s, s.base + 5 * PAGE - 1000);
    c = synth_xact(&s, 0x00, 7, 8, &(xact_opts){.nsub = 3000}); /* from page 4 over pages 5 and 6 */
    synth_xact(&s, 0x00, 9, 10, NULL);
    synth_fill_to(&s, seg_end(&s, 0), 3000);
    ck_assert_int_eq(ws_wal_reader_begin_at(r, &w, SEG1, 100, &err), -1);
    ck_assert_int_eq(ws_wal_reader_begin_at(r, &w, SEG1, SEG1, &err), -1);
    /* From page 5: inside the big commit, which is skipped. */
    ck_assert_int_eq(ws_wal_reader_begin_at(r, &w, SEG1, 5 * PAGE, &err), 0);
    ck_assert_int_eq(ws_wal_reader_write(r, s.buf + 5 * PAGE, SEG1 - 5 * PAGE, &err), 0);
    ck_assert_int_eq(ws_wal_reader_end(r, &res, &err), 0);
    ck_assert_int_eq(res.stop, WS_WAL_STOP_END);
    ck_assert(res.continued_unread);
    ck_assert_uint_gt(res.first_lsn, c + 12000);
    ck_assert_uint_eq(res.pg_version, 15);
    ck_assert(!ws_wal_reader_skipping(r));
    /* From page 4: the commit is read. */
    ck_assert_int_eq(ws_wal_reader_begin_at(r, &w, SEG1, 4 * PAGE, &err), 0);
    ck_assert_int_eq(ws_wal_reader_write(r, s.buf + 4 * PAGE, SEG1 - 4 * PAGE, &err), 0);
    ck_assert_int_eq(ws_wal_reader_end(r, &res, &err), 0);
    ck_assert_int_eq(res.stop, WS_WAL_STOP_END);
    ck_assert_uint_le(res.first_lsn, c);
    ws_wal_reader_free(r);
    free(s.buf);
}
END_TEST

/* --- real WAL from PostgreSQL 15 (wal_fixture.py) ------------------------------- */

static const char *fixture;
static json_t *facts;

static void load_facts(void)
{
    char path[1024];
    json_error_t je;

    fixture = getenv("WS_TEST_WAL_FIXTURE");
    ck_assert_msg(fixture && *fixture, "WS_TEST_WAL_FIXTURE is not set (run through wal_fixture.py)");
    snprintf(path, sizeof path, "%s/facts.json", fixture);
    facts = json_load_file(path, 0, &je);
    ck_assert_msg(facts != NULL, "%s: %s", path, je.text);
}

static void drop_facts(void)
{
    json_decref(facts);
    facts = NULL;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    return (uint8_t *) read_all(path, len);
}

static uint64_t jlsn(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    uint64_t lsn;

    ck_assert_msg(v && json_is_string(v), "facts: no %s", key);
    ck_assert_int_eq(ws_wal_name_parse_lsn(json_string_value(v), &lsn), 0);
    return lsn;
}

static int64_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);

    ck_assert_msg(v && json_is_integer(v), "facts: no %s", key);
    return json_integer_value(v);
}

/* Feeds a file as the segment named by its base name. */
static void feed_file(ws_wal_indexer *x, const char *path, size_t chunk)
{
    const char *base = strrchr(path, '/') + 1;
    ws_wal_name w;
    size_t len;
    uint8_t *buf = read_file(path, &len);

    ck_assert_int_eq(ws_wal_name_parse(base, &w, &err), 0);
    ck_assert_uint_eq(len, SEG1);
    ck_assert_msg(ws_wal_indexer_begin(x, &w, SEG1, &err) == 0, "%s", err.msg);
    for (size_t off = 0; off < len;) {
        size_t n = chunk && chunk < len - off ? chunk : len - off;

        if (ws_wal_indexer_write(x, buf + off, n, &err) < 0)
            ck_abort_msg("%s", err.msg);
        off += n;
    }
    ck_assert_msg(ws_wal_indexer_end(x, &err) == 0, "%s", err.msg);
    free(buf);
}

static void check_range(const char *seg, const char *what, json_t *want, const ws_wal_xact_range *got, bool time)
{
    ck_assert_msg((int64_t) got->count == jint(want, "count"), "%s %s count: %" PRIu64 " want %" PRId64, seg, what,
                  got->count, jint(want, "count"));
    if (json_object_get(want, "prepared"))
        ck_assert_msg((int64_t) got->prepared == jint(want, "prepared"), "%s %s prepared", seg, what);
    if (got->count == 0)
        return;
    ck_assert_msg(got->xid_min == (uint32_t) jint(want, "xid_min") && got->xid_max == (uint32_t) jint(want, "xid_max"),
                  "%s %s xids %u..%u, want %" PRId64 "..%" PRId64, seg, what, got->xid_min, got->xid_max,
                  jint(want, "xid_min"), jint(want, "xid_max"));
    if (time)
        ck_assert_msg(got->time_min == jint(want, "time_min") && got->time_max == jint(want, "time_max"),
                      "%s %s times %" PRId64 "..%" PRId64 ", want %" PRId64 "..%" PRId64, seg, what, got->time_min,
                      got->time_max, jint(want, "time_min"), jint(want, "time_max"));
}

/* The entry against the facts pg_waldump and SQL gave for the segment. */
static void check_entry(const ws_wal_index *ix, json_t *want)
{
    const char *seg = ix->segment;
    json_t *rps = json_object_get(want, "restore_points"), *sql_rps = json_object_get(facts, "restore_points");
    ws_wal_stop stop;

    ck_assert_str_eq(seg, json_string_value(json_object_get(want, "segment")));
    ck_assert_msg((int64_t) ix->records == jint(want, "records"), "%s: %" PRIu64 " records, want %" PRId64, seg,
                  ix->records, jint(want, "records"));
    if (ix->records) {
        assert_lsn(ix->first_lsn, jlsn(want, "first_lsn"), seg);
        assert_lsn(ix->end_lsn, jlsn(want, "end_lsn"), seg);
    }
    ck_assert_int_eq(ws_wal_stop_parse(json_string_value(json_object_get(want, "stop")), &stop), 0);
    ck_assert_msg(ix->stop == stop, "%s: stop %s (%s), want %s", seg, ws_wal_stop_name(ix->stop), ix->stop_detail,
                  ws_wal_stop_name(stop));
    assert_lsn(ix->stop_lsn, jlsn(want, "stop_lsn"), seg);
    ck_assert_uint_eq(ix->pg_version, 15);
    ck_assert_uint_eq(ix->sysid, strtoull(json_string_value(json_object_get(facts, "system_identifier")), NULL, 10));
    check_range(seg, "commits", json_object_get(want, "commits"), &ix->commits, true);
    check_range(seg, "aborts", json_object_get(want, "aborts"), &ix->aborts, true);
    check_range(seg, "prepares", json_object_get(want, "prepares"), &ix->prepares, false);
    ck_assert_uint_eq(ix->n_restore_points, json_array_size(rps));
    for (size_t i = 0; i < ix->n_restore_points; i++) {
        const ws_wal_restore_point *p = &ix->restore_points[i];
        json_t *w = json_array_get(rps, i);
        bool found = false;

        ck_assert_str_eq(p->name, json_string_value(json_object_get(w, "name")));
        assert_lsn(p->lsn, jlsn(w, "lsn"), p->name);
        assert_lsn(p->end_lsn, jlsn(w, "end_lsn"), p->name);
        /* rp_time lies between clock_timestamp() before and after. */
        for (size_t k = 0; k < json_array_size(sql_rps); k++) {
            json_t *q = json_array_get(sql_rps, k);

            if (strcmp(json_string_value(json_object_get(q, "name")), p->name) == 0) {
                ck_assert_msg(p->time >= jint(q, "time_lo") && p->time <= jint(q, "time_hi"),
                              "%s: rp_time %" PRId64 " not in [%" PRId64 ", %" PRId64 "]", p->name, p->time,
                              jint(q, "time_lo"), jint(q, "time_hi"));
                assert_lsn(p->end_lsn, jlsn(q, "end_lsn"), "pg_create_restore_point()");
                found = true;
            }
        }
        ck_assert_msg(found, "restore point %s was not made by the generator", p->name);
    }
}

static void wal_path(char *out, size_t len, const char *dir, const char *name)
{
    snprintf(out, len, "%s/%s/%s", fixture, dir, name);
}

/* Every archived segment, in order, through one indexer. */
START_TEST(test_real_chain)
{
    json_t *segs = json_object_get(facts, "segments");
    ws_wal_indexer *x = ws_wal_indexer_new(&err);
    char path[1200];

    ck_assert_uint_ge(json_array_size(segs), 8);
    for (size_t i = 0; i < json_array_size(segs); i++) {
        json_t *want = json_array_get(segs, i);
        ws_wal_index ix;

        wal_path(path, sizeof path, "wal", json_string_value(json_object_get(want, "segment")));
        feed_file(x, path, 0);
        ck_assert_int_eq(ws_wal_indexer_take(x, &ix, &err), 0);
        check_entry(&ix, want);
        /* Only the first one can begin inside a record it did not see. */
        ck_assert_int_eq(ix.continued_unread, json_is_true(json_object_get(want, "continued_unread")));
        ck_assert(i == 0 || !ix.continued_unread);
        ws_wal_index_free(&ix);
    }
    ws_wal_indexer_free(x);
}
END_TEST

typedef struct all_records {
    FILE *tsv;
    long n;
    long commits, aborts, prepares, cprep, aprep, rps;
} all_records;

static const char *kind_name(ws_wal_rec_kind k)
{
    switch (k) {
    case WS_WAL_REC_COMMIT:
        return "COMMIT";
    case WS_WAL_REC_COMMIT_PREPARED:
        return "COMMIT_PREPARED";
    case WS_WAL_REC_ABORT:
        return "ABORT";
    case WS_WAL_REC_ABORT_PREPARED:
        return "ABORT_PREPARED";
    case WS_WAL_REC_PREPARE:
        return "PREPARE";
    case WS_WAL_REC_RESTORE_POINT:
        return "RESTORE_POINT";
    case WS_WAL_REC_SWITCH:
        return "SWITCH";
    case WS_WAL_REC_OTHER:
    default:
        return NULL;
    }
}

/* Each record against pg_waldump's line for it (no ck_assert per record:
 * each records a checkpoint, which makes thousands of records slow). */
static int compare_record(void *arg, const ws_wal_record *rec, ws_err *e)
{
    all_records *a = arg;
    char line[512], lsn[18], end[18], prev[18], rmgr[64], kind[64];
    unsigned tot, xid;
    uint64_t l1, l2, l3;
    const char *k = kind_name(rec->kind);
    bool decoded;

    (void) e;
    if (!fgets(line, sizeof line, a->tsv))
        ck_abort_msg("more records than pg_waldump printed (%ld)", a->n);
    if (sscanf(line, "%17s %17s %17s %u %u %63s %63s", lsn, end, prev, &tot, &xid, rmgr, kind) != 7 ||
        ws_wal_name_parse_lsn(lsn, &l1) < 0 || ws_wal_name_parse_lsn(end, &l2) < 0 ||
        ws_wal_name_parse_lsn(prev, &l3) < 0)
        ck_abort_msg("bad records.tsv line: %s", line);
    a->n++;
    if (l1 != rec->lsn || l2 != rec->end_lsn || l3 != rec->prev || tot != rec->tot_len || xid != rec->xid) {
        char g[18], ge[18], gp[18];

        ws_wal_name_format_lsn(rec->lsn, g);
        ws_wal_name_format_lsn(rec->end_lsn, ge);
        ws_wal_name_format_lsn(rec->prev, gp);
        ck_abort_msg("record %ld: got %s %s %s %u %u, pg_waldump %s %s %s %u %u", a->n, g, ge, gp, rec->tot_len,
                     rec->xid, lsn, end, prev, tot, xid);
    }
    decoded = (strcmp(rmgr, "Transaction") == 0 &&
               (strcmp(kind, "COMMIT") == 0 || strcmp(kind, "ABORT") == 0 || strcmp(kind, "COMMIT_PREPARED") == 0 ||
                strcmp(kind, "ABORT_PREPARED") == 0 || strcmp(kind, "PREPARE") == 0)) ||
              (strcmp(rmgr, "XLOG") == 0 && (strcmp(kind, "SWITCH") == 0 || strcmp(kind, "RESTORE_POINT") == 0));
    if (k ? strcmp(k, kind) != 0 : decoded)
        ck_abort_msg("record at %s: kind %s, pg_waldump %s %s", lsn, k ? k : "other", rmgr, kind);
    return 0;
}

START_TEST(test_real_every_record)
{
    json_t *segs = json_object_get(facts, "segments");
    all_records a = {0};
    ws_wal_reader_opts o = {.on_record = compare_record, .arg = &a};
    ws_wal_reader *r = ws_wal_reader_new(&o, &err);
    char path[1200], line[512];

    wal_path(path, sizeof path, "", "records.tsv");
    a.tsv = fopen(path, "r");
    ck_assert_ptr_nonnull(a.tsv);
    for (size_t i = 0; i < json_array_size(segs); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(segs, i), "segment"));
        ws_wal_name w;
        size_t len;
        uint8_t *buf;

        wal_path(path, sizeof path, "wal", name);
        buf = read_file(path, &len);
        ck_assert_int_eq(ws_wal_name_parse(name, &w, &err), 0);
        ck_assert_int_eq(ws_wal_reader_begin(r, &w, SEG1, &err), 0);
        ck_assert_int_eq(ws_wal_reader_write(r, buf, len, &err), 0);
        ck_assert_int_eq(ws_wal_reader_end(r, NULL, &err), 0);
        free(buf);
    }
    ck_assert_msg(fgets(line, sizeof line, a.tsv) == NULL, "pg_waldump printed more records: %s", line);
    ck_assert_int_gt(a.n, 1000);
    fclose(a.tsv);
    ws_wal_reader_free(r);
}
END_TEST

typedef struct find_xact {
    ws_wal_rec_kind kind;
    uint32_t xid;
    int found;
    ws_wal_record rec;
} find_xact;

static int find_record(void *arg, const ws_wal_record *rec, ws_err *e)
{
    find_xact *f = arg;

    (void) e;
    if (rec->kind == f->kind && rec->target_xid == f->xid) {
        f->found++;
        f->rec = *rec;
    }
    return 0;
}

/* Finds the record of one event in the segment the facts name (read with
 * its predecessor when that one is archived). */
static ws_wal_record find_event(json_t *ev, ws_wal_rec_kind kind)
{
    find_xact f = {.kind = kind, .xid = (uint32_t) jint(ev, "xid")};
    ws_wal_reader_opts o = {.on_record = find_record, .arg = &f};
    ws_wal_reader *r = ws_wal_reader_new(&o, &err);
    json_t *segs = json_object_get(facts, "segments");
    const char *seg = json_string_value(json_object_get(ev, "segment"));

    for (size_t i = 0; i < json_array_size(segs); i++) {
        const char *name = json_string_value(json_object_get(json_array_get(segs, i), "segment"));
        char path[1200];
        ws_wal_name w;
        size_t len;
        uint8_t *buf;

        if (strcmp(name, seg) > 0)
            break;
        wal_path(path, sizeof path, "wal", name);
        buf = read_file(path, &len);
        ck_assert_int_eq(ws_wal_name_parse(name, &w, &err), 0);
        ck_assert_int_eq(ws_wal_reader_begin(r, &w, SEG1, &err), 0);
        ck_assert_int_eq(ws_wal_reader_write(r, buf, len, &err), 0);
        ck_assert_int_eq(ws_wal_reader_end(r, NULL, &err), 0);
        free(buf);
        if (strcmp(name, seg) != 0)
            f.found = 0;
    }
    ws_wal_reader_free(r);
    ck_assert_msg(f.found == 1, "xid %u: %d %s records in %s", f.xid, f.found, kind_name(kind), seg);
    assert_lsn(f.rec.lsn, jlsn(ev, "lsn"), "event");
    assert_lsn(f.rec.end_lsn, jlsn(ev, "end_lsn"), "event end");
    return f.rec;
}

/* Each transaction the generator made, found with SQL's facts. */
START_TEST(test_real_events)
{
    static const struct {
        const char *key;
        ws_wal_rec_kind kind;
        bool sql_time;
    } kinds[] = {
        {"commits", WS_WAL_REC_COMMIT, true},    {"commit_prepared", WS_WAL_REC_COMMIT_PREPARED, true},
        {"aborts", WS_WAL_REC_ABORT, false},     {"abort_prepared", WS_WAL_REC_ABORT_PREPARED, false},
        {"prepares", WS_WAL_REC_PREPARE, false},
    };
    int n = 0;

    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        json_t *evs = json_object_get(facts, kinds[k].key);

        ck_assert_msg(json_array_size(evs) > 0, "no %s in the fixture", kinds[k].key);
        for (size_t i = 0; i < json_array_size(evs); i++) {
            json_t *ev = json_array_get(evs, i);
            ws_wal_record rec = find_event(ev, kinds[k].kind);

            /* The commit timestamp is the one pg_xact_commit_timestamp() gives
             * (abort times: pg_waldump's). */
            if (json_object_get(ev, "time"))
                ck_assert_msg(rec.time == jint(ev, "time"), "xid %u: time %" PRId64 ", want %" PRId64, rec.target_xid,
                              rec.time, jint(ev, "time"));
            if (kinds[k].sql_time)
                ck_assert_ptr_nonnull(json_object_get(ev, "time"));
            if (kinds[k].kind == WS_WAL_REC_COMMIT_PREPARED || kinds[k].kind == WS_WAL_REC_ABORT_PREPARED)
                ck_assert_uint_eq(rec.xid, 0); /* run by a backend without an xid */
            n++;
        }
    }
    ck_assert_int_ge(n, 12);
}
END_TEST

/* The big commit spans two segments: it counts in the second; read alone,
 * the second segment says its first record was not read. */
START_TEST(test_real_spanning_record)
{
    uint32_t xid = (uint32_t) json_integer_value(json_object_get(facts, "span_xid"));
    json_t *commits = json_object_get(facts, "commits"), *span = NULL, *segs = json_object_get(facts, "segments");
    json_t *want = NULL;
    char p0[1200], p1[1200];
    ws_wal_indexer *x = ws_wal_indexer_new(&err);
    ws_wal_index ix, alone, bytewise;

    for (size_t i = 0; i < json_array_size(commits); i++)
        if ((uint32_t) jint(json_array_get(commits, i), "xid") == xid)
            span = json_array_get(commits, i);
    ck_assert_ptr_nonnull(span);
    for (size_t i = 0; i < json_array_size(segs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(segs, i), "segment")),
                   json_string_value(json_object_get(span, "segment"))) == 0)
            want = json_array_get(segs, i);
    ck_assert_ptr_nonnull(want);
    ck_assert_str_ne(json_string_value(json_object_get(span, "start_segment")),
                     json_string_value(json_object_get(span, "segment")));
    wal_path(p0, sizeof p0, "wal", json_string_value(json_object_get(span, "start_segment")));
    wal_path(p1, sizeof p1, "wal", json_string_value(json_object_get(span, "segment")));

    feed_file(x, p0, 0);
    ws_wal_indexer_take(x, &ix, &err);
    ws_wal_index_free(&ix);
    feed_file(x, p1, 0);
    ck_assert_int_eq(ws_wal_indexer_take(x, &ix, &err), 0);
    check_entry(&ix, want);
    assert_lsn(ix.first_lsn, jlsn(span, "lsn"), "first record: the spanning commit");
    ck_assert(!ws_wal_index_xid_precedes(xid, ix.commits.xid_min) &&
              !ws_wal_index_xid_precedes(ix.commits.xid_max, xid));
    ck_assert_int_le(ix.commits.time_min, jint(span, "time"));
    ck_assert_int_ge(ix.commits.time_max, jint(span, "time"));

    /* The same, written one byte at a time and in odd pieces. */
    feed_file(x, p0, 1);
    ws_wal_indexer_take(x, &bytewise, &err);
    ws_wal_index_free(&bytewise);
    feed_file(x, p1, 8191);
    ck_assert_int_eq(ws_wal_indexer_take(x, &bytewise, &err), 0);
    assert_same_entry(&ix, &bytewise);
    ws_wal_index_free(&bytewise);

    ws_wal_indexer_reset(x);
    feed_file(x, p1, 0);
    ck_assert_int_eq(ws_wal_indexer_take(x, &alone, &err), 0);
    ck_assert(alone.continued_unread);
    ck_assert_uint_eq(alone.records, ix.records - 1);
    ck_assert_uint_eq(alone.commits.count, ix.commits.count - 1);
    ck_assert_uint_gt(alone.first_lsn, jlsn(span, "end_lsn") - 1);
    ck_assert_int_eq(alone.stop, ix.stop);
    ws_wal_index_free(&alone);
    ws_wal_index_free(&ix);
    ws_wal_indexer_free(x);
}
END_TEST

/* A segment copied while being written into a recycled file: the old WAL
 * in its tail is not indexed. */
START_TEST(test_real_recycled_tail)
{
    json_t *want = json_object_get(facts, "recycled");
    const char *name = json_string_value(json_object_get(want, "segment"));
    ws_wal_indexer *x = ws_wal_indexer_new(&err);
    ws_wal_name w, prev;
    char pprev[1200], path[1200], pname[WS_WAL_NAME_MAX];
    ws_wal_index ix, full;
    uint64_t segno;

    ck_assert_int_eq(ws_wal_name_parse(name, &w, &err), 0);
    ck_assert_int_eq(ws_wal_name_segno(&w, SEG1, &segno, &err), 0);
    ws_wal_name_from_segno(1, segno - 1, SEG1, &prev);
    ws_wal_name_format(&prev, pname);
    wal_path(pprev, sizeof pprev, "wal", pname);
    wal_path(path, sizeof path, "recycled", name);
    feed_file(x, pprev, 0);
    ws_wal_indexer_take(x, &ix, &err);
    ws_wal_index_free(&ix);
    feed_file(x, path, 0);
    ck_assert_int_eq(ws_wal_indexer_take(x, &ix, &err), 0);
    check_entry(&ix, want);
    ck_assert_int_eq(ix.stop, WS_WAL_STOP_PAGE);
    ck_assert_msg(strstr(ix.stop_detail, "unexpected pageaddr"), "%s", ix.stop_detail);
    /* The complete segment, archived later, holds more. */
    wal_path(path, sizeof path, "wal", name);
    ws_wal_indexer_reset(x);
    feed_file(x, path, 0);
    ck_assert_int_eq(ws_wal_indexer_take(x, &full, &err), 0);
    ck_assert_uint_gt(full.records, ix.records);
    ck_assert_int_ne(full.stop, WS_WAL_STOP_PAGE);
    ws_wal_index_free(&full);
    ws_wal_index_free(&ix);
    ws_wal_indexer_free(x);
}
END_TEST

/* ws_wal_index_file and the sink path give the chain's entries. */
START_TEST(test_real_index_file_and_sink)
{
    json_t *segs = json_object_get(facts, "segments");
    char path[1200], prev[1200];

    for (size_t i = 1; i < json_array_size(segs); i++) {
        json_t *want = json_array_get(segs, i);
        ws_wal_file wf;
        ws_wal_index ix, viasink;
        ws_wal_indexer *x = ws_wal_indexer_new(&err);
        ws_sink *sha = ws_filter_sha256_new(NULL, &err), *st = ws_wal_indexer_sink_new(x, sha, &err);
        int fd;
        uint64_t n;
        uint8_t d[WS_SHA256_LEN];

        wal_path(path, sizeof path, "wal", json_string_value(json_object_get(want, "segment")));
        wal_path(prev, sizeof prev, "wal", json_string_value(json_object_get(json_array_get(segs, i - 1), "segment")));
        fd = ws_wal_file_open(path, &wf, &err);
        ck_assert_msg(fd >= 0, "%s", err.msg);
        ck_assert_msg(ws_wal_index_file(fd, path, &wf, prev, &ix, &err) == 0, "%s", err.msg);
        check_entry(&ix, want);
        ck_assert(!ix.continued_unread);
        /* The sink: previous segment first, then this one through a chain. */
        feed_file(x, prev, 0);
        ck_assert_int_eq(ws_wal_indexer_begin(x, &wf.name, SEG1, &err), 0);
        ck_assert_msg(ws_sink_pump_fd(fd, path, st, &err) == 0, "%s", err.msg);
        ck_assert(ws_filter_sha256_result(sha, d, &n));
        ck_assert_uint_eq(n, SEG1);
        ck_assert_int_eq(ws_wal_indexer_take(x, &viasink, &err), 0);
        assert_same_entry(&ix, &viasink);
        ws_wal_index_free(&viasink);
        ws_wal_index_free(&ix);
        ws_sink_free(st);
        ws_sink_free(sha);
        ws_wal_indexer_free(x);
        close(fd);
    }
}
END_TEST

static Suite *synthetic_suite(void)
{
    Suite *s = suite_create("wal_reader");
    TCase *t = tcase_create("reader");

    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_crc32c_vectors);
    tcase_add_test(t, test_read_segment_in_pieces);
    tcase_add_test(t, test_record_with_blocks);
    tcase_add_test(t, test_record_across_segments);
    tcase_add_test(t, test_header_split);
    tcase_add_test(t, test_stop_bad_crc);
    tcase_add_test(t, test_stop_bad_crc_in_continuation);
    tcase_add_test(t, test_stop_bad_prev);
    tcase_add_test(t, test_stop_bad_pageaddr);
    tcase_add_test(t, test_stop_zero_tail);
    tcase_add_test(t, test_stop_truncated);
    tcase_add_test(t, test_stop_bad_lengths_and_rmgr);
    tcase_add_test(t, test_record_cap);
    tcase_add_test(t, test_stop_contrecord);
    tcase_add_test(t, test_overwrite_contrecord);
    tcase_add_test(t, test_switch);
    tcase_add_test(t, test_first_page);
    tcase_add_test(t, test_xid_wraparound);
    tcase_add_test(t, test_no_carry_after_stop);
    tcase_add_test(t, test_api_misuse);
    tcase_add_test(t, test_reader_sink);
    tcase_add_test(t, test_begin_at);
    tcase_add_test(t, test_time_format);
    suite_add_tcase(s, t);
    t = tcase_create("entries");
    tcase_add_test(t, test_json_round_trip);
    tcase_add_test(t, test_json_rejects);
    tcase_add_test(t, test_lsn_parse);
    tcase_add_test(t, test_index_key);
    tcase_add_test(t, test_repo_put_get);
    tcase_add_test(t, test_index_file);
    suite_add_tcase(s, t);
    return s;
}

static Suite *real_suite(void)
{
    Suite *s = suite_create("wal_reader_pg");
    TCase *t = tcase_create("real");

    tcase_set_timeout(t, 300);
    tcase_add_unchecked_fixture(t, load_facts, drop_facts);
    tcase_add_test(t, test_real_chain);
    tcase_add_test(t, test_real_every_record);
    tcase_add_test(t, test_real_events);
    tcase_add_test(t, test_real_spanning_record);
    tcase_add_test(t, test_real_recycled_tail);
    tcase_add_test(t, test_real_index_file_and_sink);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    bool real = argc > 1 && strcmp(argv[1], "--real") == 0;
    SRunner *sr = srunner_create(real ? real_suite() : synthetic_suite());
    int failed;

    unit_tmp_init("wal_reader");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
