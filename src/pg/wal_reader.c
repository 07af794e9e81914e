/* wal_reader.c - reading WAL records page by page (see wal_reader.h). */
#include "walship/wal_reader.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "walship/crc32c.h"
#include "walship/wal_segment.h"

/* --- the on-disk format (access/xlog_internal.h, xlogrecord.h, xact.h) --- */

#define BLCKSZ          WS_WAL_BLCKSZ
#define SHORT_PHD       24 /* MAXALIGN(sizeof(XLogPageHeaderData)) */
#define LONG_PHD        40 /* MAXALIGN(sizeof(XLogLongPageHeaderData)) */
#define REC_HDR         24 /* SizeOfXLogRecord */
#define REC_CRC_OFF     20
#define REC_TOT_LEN_MAX 0x3FFFFFFFu /* PostgreSQL cannot allocate more */

#define XLP_FIRST_IS_CONTRECORD           0x0001
#define XLP_LONG_HEADER                   0x0002
#define XLP_FIRST_IS_OVERWRITE_CONTRECORD 0x0008
#define XLP_ALL_FLAGS                     0x000F

#define RM_XLOG_ID        0
#define RM_XACT_ID        1
#define RM_MAX_BUILTIN_ID 21  /* RM_LOGICALMSG_ID, the last built-in one in 13..17 */
#define RM_MIN_CUSTOM_ID  128 /* custom resource managers, PostgreSQL 15+ */

#define XLOG_SWITCH        0x40
#define XLOG_RESTORE_POINT 0x70

#define XLOG_XACT_COMMIT          0x00
#define XLOG_XACT_PREPARE         0x10
#define XLOG_XACT_ABORT           0x20
#define XLOG_XACT_COMMIT_PREPARED 0x30
#define XLOG_XACT_ABORT_PREPARED  0x40
#define XLOG_XACT_OPMASK          0x70
#define XLOG_XACT_HAS_INFO        0x80

#define XACT_XINFO_HAS_DBINFO        (1u << 0)
#define XACT_XINFO_HAS_SUBXACTS      (1u << 1)
#define XACT_XINFO_HAS_RELFILENODES  (1u << 2)
#define XACT_XINFO_HAS_INVALS        (1u << 3)
#define XACT_XINFO_HAS_TWOPHASE      (1u << 4)
#define XACT_XINFO_HAS_DROPPED_STATS (1u << 8) /* 15+ */

#define SIZEOF_RELFILENODE   12 /* RelFileNode / RelFileLocator */
#define SIZEOF_STATS_ITEM    12 /* xl_xact_stats_item, 15..17 */
#define SIZEOF_INVAL_MSG     16 /* SharedInvalidationMessage */
#define SIZEOF_RESTORE_POINT 72 /* xl_restore_point: TimestampTz + char[64] */

#define XLR_MAX_BLOCK_ID          32
#define XLR_BLOCK_ID_DATA_SHORT   255
#define XLR_BLOCK_ID_DATA_LONG    254
#define XLR_BLOCK_ID_ORIGIN       253
#define XLR_BLOCK_ID_TOPLEVEL_XID 252
#define BKPBLOCK_HAS_IMAGE        0x10
#define BKPBLOCK_HAS_DATA         0x20
#define BKPBLOCK_SAME_REL         0x80
#define BKPIMAGE_HAS_HOLE         0x01
#define BKPIMAGE_IS_COMPRESSED_13 0x02 /* 13, 14 */
#define BKPIMAGE_COMPRESSED_15    0x1C /* 15+: PGLZ 0x04, LZ4 0x08, ZSTD 0x10 */

#define MAXALIGN(x) (((x) + UINT64_C(7)) & ~UINT64_C(7))

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;

    memcpy(&v, p, 2);
    return v;
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

/* --- state -------------------------------------------------------------- */

typedef enum {
    MODE_SKIP,    /* fresh start: skipping the rest of a record begun earlier */
    MODE_BETWEEN, /* the next record starts at the next aligned position */
    MODE_RECORD,  /* a record is in progress */
} read_mode;

typedef struct record_state {
    uint64_t lsn;
    uint32_t tot_len;
    uint32_t got; /* bytes of the record seen so far */
    uint8_t hdr[REC_HDR];
    uint32_t crc; /* running CRC of the bytes after the header */
    bool keep;    /* held whole in buf to be decoded */
} record_state;

struct ws_wal_reader {
    ws_wal_reader_opts o;

    /* the segment being read */
    bool open;
    ws_wal_name seg;
    uint32_t seg_size;
    uint64_t segno;
    uint64_t seg_lsn;
    uint64_t pos;      /* bytes received */
    uint64_t page_off; /* offset of the next page to process */
    uint8_t page[BLCKSZ];
    size_t page_fill;
    ws_wal_seg_result res;
    bool failed; /* a callback or allocation failed: dead */

    /* what carries from one segment to the next */
    bool have_last;
    ws_wal_seg_result last;
    uint64_t last_segno;
    uint32_t last_tli;
    uint32_t last_seg_size;
    uint16_t magic; /* of the stream's pages; 0 before the first page */
    uint64_t sysid;
    unsigned pg_version;
    uint32_t latest_tli;
    read_mode mode;
    bool prev_known;
    uint64_t prev_lsn; /* start of the last valid record */
    uint64_t next_lsn; /* MODE_BETWEEN: where the next record begins */
    record_state rec;
    uint8_t *buf; /* the record being decoded */
    size_t buf_cap;
};

const char *ws_wal_stop_name(ws_wal_stop stop)
{
    switch (stop) {
    case WS_WAL_STOP_END:
        return "end";
    case WS_WAL_STOP_SWITCH:
        return "switch";
    case WS_WAL_STOP_ZERO:
        return "zero";
    case WS_WAL_STOP_PAGE:
        return "page";
    case WS_WAL_STOP_RECORD:
        return "record";
    case WS_WAL_STOP_TOO_LARGE:
        return "too-large";
    case WS_WAL_STOP_SHORT:
        return "short";
    case WS_WAL_STOP_NONE:
    default:
        return "none";
    }
}

int ws_wal_stop_parse(const char *name, ws_wal_stop *out)
{
    for (int s = WS_WAL_STOP_END; s <= WS_WAL_STOP_SHORT; s++)
        if (strcmp(name, ws_wal_stop_name((ws_wal_stop) s)) == 0) {
            *out = (ws_wal_stop) s;
            return 0;
        }
    return -1;
}

static void lsn_text(uint64_t lsn, char out[18])
{
    ws_wal_name_format_lsn(lsn, out);
}

/* For messages only: formatting costs more than reading a record. */
static const char *lsn_str(uint64_t lsn, char out[18])
{
    ws_wal_name_format_lsn(lsn, out);
    return out;
}

__attribute__((format(printf, 4, 5))) static void stop(ws_wal_reader *r, ws_wal_stop why, uint64_t lsn, const char *fmt,
                                                       ...)
{
    va_list ap;

    r->res.stop = why;
    r->res.stop_lsn = lsn;
    va_start(ap, fmt);
    vsnprintf(r->res.detail, sizeof r->res.detail, fmt, ap);
    va_end(ap);
}

/* Where the valid WAL ends when reading stops now. */
static uint64_t stop_point(const ws_wal_reader *r, uint64_t page_lsn)
{
    if (r->mode == MODE_RECORD)
        return r->rec.lsn;
    if (r->mode == MODE_BETWEEN)
        return r->next_lsn;
    return page_lsn;
}

/* --- record decoding ---------------------------------------------------- */

/* Finds the main data of a whole record (DecodeXLogRecord's walk over the
 * block references); NULL with *why set when the layout is invalid. */
static const uint8_t *main_data(const ws_wal_reader *r, const uint8_t *rec, uint32_t tot_len, uint32_t *len,
                                const char **why)
{
    const uint8_t *p = rec + REC_HDR;
    uint64_t remaining = tot_len - REC_HDR, datatotal = 0;
    uint32_t main_len = 0;
    int max_block = -1;
    bool have_rel = false;

#define NEED(n)                                  \
    do {                                         \
        if (remaining < (n)) {                   \
            *why = "record with invalid length"; \
            return NULL;                         \
        }                                        \
    } while (0)
    while (remaining > datatotal) {
        uint8_t id;

        NEED(1);
        id = *p++;
        remaining--;
        if (id == XLR_BLOCK_ID_DATA_SHORT) {
            NEED(1);
            main_len = *p++;
            remaining--;
            datatotal += main_len;
            break;
        } else if (id == XLR_BLOCK_ID_DATA_LONG) {
            NEED(4);
            main_len = rd32(p);
            p += 4;
            remaining -= 4;
            datatotal += main_len;
            break;
        } else if (id == XLR_BLOCK_ID_ORIGIN) {
            NEED(2);
            p += 2;
            remaining -= 2;
        } else if (id == XLR_BLOCK_ID_TOPLEVEL_XID) {
            NEED(4);
            p += 4;
            remaining -= 4;
        } else if (id <= XLR_MAX_BLOCK_ID) {
            uint8_t flags;
            uint16_t data_len;

            if ((int) id <= max_block) {
                *why = "out-of-order block_id";
                return NULL;
            }
            max_block = id;
            NEED(3);
            flags = p[0];
            data_len = rd16(p + 1);
            p += 3;
            remaining -= 3;
            if (((flags & BKPBLOCK_HAS_DATA) != 0) != (data_len != 0)) {
                *why = "BKPBLOCK_HAS_DATA does not agree with the data length";
                return NULL;
            }
            datatotal += data_len;
            if (flags & BKPBLOCK_HAS_IMAGE) {
                uint16_t bimg_len;
                uint8_t bimg_info;
                bool compressed;

                NEED(5);
                bimg_len = rd16(p);
                bimg_info = p[4];
                p += 5;
                remaining -= 5;
                compressed = r->pg_version >= 15 ? (bimg_info & BKPIMAGE_COMPRESSED_15) != 0
                                                 : (bimg_info & BKPIMAGE_IS_COMPRESSED_13) != 0;
                if (compressed && (bimg_info & BKPIMAGE_HAS_HOLE)) {
                    NEED(2);
                    p += 2;
                    remaining -= 2;
                }
                datatotal += bimg_len;
            }
            if (!(flags & BKPBLOCK_SAME_REL)) {
                NEED(SIZEOF_RELFILENODE);
                p += SIZEOF_RELFILENODE;
                remaining -= SIZEOF_RELFILENODE;
                have_rel = true;
            } else if (!have_rel) {
                *why = "BKPBLOCK_SAME_REL set but no previous rel";
                return NULL;
            }
            NEED(4);
            p += 4;
            remaining -= 4;
        } else {
            *why = "invalid block_id";
            return NULL;
        }
    }
#undef NEED
    if (remaining != datatotal) {
        *why = "record with invalid length";
        return NULL;
    }
    *len = main_len;
    return rec + tot_len - main_len;
}

/* Skips a counted array (int count, then count items of size each). */
static bool skip_array(const uint8_t *d, uint32_t len, uint64_t *p, uint32_t size, uint32_t *count)
{
    int32_t n;

    if (*p + 4 > len)
        return false;
    memcpy(&n, d + *p, 4);
    if (n < 0 || *p + 4 + (uint64_t) n * size > len)
        return false;
    *p += 4 + (uint64_t) n * size;
    if (count)
        *count = (uint32_t) n;
    return true;
}

/* ParseCommitRecord / ParseAbortRecord up to the prepared transaction's
 * xid: the optional parts come in this order in 13..17 (a part a release
 * does not know is never flagged by it). */
static const char *decode_xact(const uint8_t *d, uint32_t len, uint8_t info, ws_wal_record *out)
{
    uint8_t op = info & XLOG_XACT_OPMASK;
    bool commit = op == XLOG_XACT_COMMIT || op == XLOG_XACT_COMMIT_PREPARED;
    bool prepared = op == XLOG_XACT_COMMIT_PREPARED || op == XLOG_XACT_ABORT_PREPARED;
    uint32_t xinfo = 0;
    uint64_t p = 8;

    if (len < 8)
        return "transaction record too short";
    memcpy(&out->time, d, 8);
    if (info & XLOG_XACT_HAS_INFO) {
        if (p + 4 > len)
            return "transaction record too short for xinfo";
        xinfo = rd32(d + p);
        p += 4;
    }
    if (xinfo & XACT_XINFO_HAS_DBINFO) {
        if (p + 8 > len)
            return "transaction record too short for dbinfo";
        p += 8;
    }
    if ((xinfo & XACT_XINFO_HAS_SUBXACTS) && !skip_array(d, len, &p, 4, &out->nsubxacts))
        return "transaction record with an invalid subtransaction list";
    if ((xinfo & XACT_XINFO_HAS_RELFILENODES) && !skip_array(d, len, &p, SIZEOF_RELFILENODE, NULL))
        return "transaction record with an invalid relation list";
    if ((xinfo & XACT_XINFO_HAS_DROPPED_STATS) && !skip_array(d, len, &p, SIZEOF_STATS_ITEM, NULL))
        return "transaction record with an invalid dropped-stats list";
    if (commit && (xinfo & XACT_XINFO_HAS_INVALS) && !skip_array(d, len, &p, SIZEOF_INVAL_MSG, NULL))
        return "transaction record with an invalid invalidation list";
    out->target_xid = out->xid;
    if (xinfo & XACT_XINFO_HAS_TWOPHASE) {
        if (p + 4 > len)
            return "transaction record too short for the prepared transaction's xid";
        if (prepared)
            out->target_xid = rd32(d + p);
    } else if (prepared) {
        return "prepared transaction record without the prepared transaction's xid";
    }
    switch (op) {
    case XLOG_XACT_COMMIT:
        out->kind = WS_WAL_REC_COMMIT;
        break;
    case XLOG_XACT_COMMIT_PREPARED:
        out->kind = WS_WAL_REC_COMMIT_PREPARED;
        break;
    case XLOG_XACT_ABORT:
        out->kind = WS_WAL_REC_ABORT;
        break;
    default:
        out->kind = WS_WAL_REC_ABORT_PREPARED;
        break;
    }
    return NULL;
}

/* Whether a record's whole body must be kept to decode it. */
static bool wants_body(uint8_t rmid, uint8_t info)
{
    if (rmid == RM_XACT_ID) {
        uint8_t op = info & XLOG_XACT_OPMASK;

        return op == XLOG_XACT_COMMIT || op == XLOG_XACT_ABORT || op == XLOG_XACT_COMMIT_PREPARED ||
               op == XLOG_XACT_ABORT_PREPARED;
    }
    return rmid == RM_XLOG_ID && (info & 0xF0) == XLOG_RESTORE_POINT;
}

/* Decodes a whole record kept in r->buf; NULL or why it is invalid. */
static const char *decode(const ws_wal_reader *r, ws_wal_record *out)
{
    const char *why = NULL;
    const uint8_t *d;
    uint32_t len = 0;

    d = main_data(r, r->buf, out->tot_len, &len, &why);
    if (!d)
        return why;
    if (out->rmid == RM_XACT_ID)
        return decode_xact(d, len, out->info, out);
    /* XLOG_RESTORE_POINT */
    if (len < SIZEOF_RESTORE_POINT)
        return "restore point record too short";
    memcpy(&out->time, d, 8);
    memcpy(out->name, d + 8, WS_WAL_RP_NAME_MAX);
    out->name[WS_WAL_RP_NAME_MAX] = '\0';
    out->name[strnlen(out->name, WS_WAL_RP_NAME_MAX)] = '\0';
    out->kind = WS_WAL_REC_RESTORE_POINT;
    return NULL;
}

/* --- records -------------------------------------------------------------- */

static bool rmid_valid(const ws_wal_reader *r, uint8_t rmid)
{
    if (rmid <= RM_MAX_BUILTIN_ID)
        return true;
    return r->pg_version >= 15 && rmid >= RM_MIN_CUSTOM_ID;
}

/* ValidXLogRecordHeader, once the whole header is there; false: stopped. */
static bool check_header(ws_wal_reader *r)
{
    record_state *c = &r->rec;
    uint8_t rmid = c->hdr[17], info = c->hdr[16];
    uint64_t prev = rd64(c->hdr + 8);
    char at[18], pv[18];

    if (!rmid_valid(r, rmid)) {
        lsn_text(c->lsn, at);
        stop(r, WS_WAL_STOP_RECORD, c->lsn, "invalid resource manager ID %u at %s", rmid, at);
        return false;
    }
    if (r->prev_known ? prev != r->prev_lsn : prev >= c->lsn) {
        lsn_text(prev, pv);
        lsn_text(c->lsn, at);
        stop(r, WS_WAL_STOP_RECORD, c->lsn, "record with incorrect prev-link %s at %s", pv, at);
        return false;
    }
    c->keep = wants_body(rmid, info);
    if (c->keep && c->tot_len > r->o.record_cap) {
        lsn_text(c->lsn, at);
        stop(r, WS_WAL_STOP_TOO_LARGE, c->lsn,
             "record at %s has %" PRIu32 " bytes, more than the %" PRIu32 " bytes the reader keeps to decode one", at,
             c->tot_len, r->o.record_cap);
        return false;
    }
    return true;
}

/* Makes room for the record to decode; -1 when out of memory. */
static int hold(ws_wal_reader *r, ws_err *err)
{
    if (r->buf_cap < r->rec.tot_len) {
        size_t cap = r->buf_cap ? r->buf_cap : 8192;
        uint8_t *b;

        while (cap < r->rec.tot_len)
            cap *= 2;
        b = realloc(r->buf, cap);
        if (!b) {
            r->failed = true;
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory for a WAL record of %" PRIu32 " bytes", r->rec.tot_len);
        }
        r->buf = b;
        r->buf_cap = cap;
    }
    memcpy(r->buf, r->rec.hdr, REC_HDR);
    return 0;
}

/* Adds n bytes of the record in progress; may stop on a bad header. */
static int feed(ws_wal_reader *r, const uint8_t *p, uint32_t n, ws_err *err)
{
    record_state *c = &r->rec;

    if (c->got < REC_HDR) {
        uint32_t k = REC_HDR - c->got < n ? REC_HDR - c->got : n;

        memcpy(c->hdr + c->got, p, k);
        c->got += k;
        p += k;
        n -= k;
        if (c->got < REC_HDR)
            return 0;
        if (!check_header(r))
            return 0;
        if (c->keep && hold(r, err) < 0)
            return -1;
    }
    if (n > 0) {
        c->crc = ws_crc32c_update(c->crc, p, n);
        if (c->keep)
            memcpy(r->buf + c->got, p, n);
        c->got += n;
    }
    return 0;
}

/* The record in progress is complete (its last byte at end - 1). */
static int finish_record(ws_wal_reader *r, uint64_t end, ws_err *err)
{
    record_state *c = &r->rec;
    ws_wal_record out;
    uint32_t crc;
    const char *why;
    char at[18];

    crc = ws_crc32c_final(ws_crc32c_update(c->crc, c->hdr, REC_CRC_OFF));
    if (crc != rd32(c->hdr + REC_CRC_OFF)) {
        lsn_text(c->lsn, at);
        stop(r, WS_WAL_STOP_RECORD, c->lsn, "incorrect resource manager data checksum in record at %s", at);
        return 0;
    }
    memset(&out, 0, sizeof out);
    out.lsn = c->lsn;
    out.end_lsn = MAXALIGN(end);
    out.prev = rd64(c->hdr + 8);
    out.tot_len = c->tot_len;
    out.xid = rd32(c->hdr + 4);
    out.info = c->hdr[16];
    out.rmid = c->hdr[17];
    if (c->keep) {
        if ((why = decode(r, &out)) != NULL) {
            lsn_text(c->lsn, at);
            stop(r, WS_WAL_STOP_RECORD, c->lsn, "%s at %s", why, at);
            return 0;
        }
        /* Do not keep a huge buffer after a huge record. */
        if (r->buf_cap > (4u << 20)) {
            free(r->buf);
            r->buf = NULL;
            r->buf_cap = 0;
        }
    } else if (out.rmid == RM_XLOG_ID && (out.info & 0xF0) == XLOG_SWITCH) {
        out.kind = WS_WAL_REC_SWITCH;
    } else if (out.rmid == RM_XACT_ID && (out.info & XLOG_XACT_OPMASK) == XLOG_XACT_PREPARE) {
        out.kind = WS_WAL_REC_PREPARE;
        out.target_xid = out.xid;
    }
    if (r->res.records++ == 0)
        r->res.first_lsn = out.lsn;
    r->res.end_lsn = out.end_lsn;
    r->prev_lsn = out.lsn;
    r->prev_known = true;
    r->next_lsn = out.end_lsn;
    r->mode = MODE_BETWEEN;
    if (r->o.on_record && r->o.on_record(r->o.arg, &out, err) < 0) {
        r->failed = true;
        return -1;
    }
    if (out.kind == WS_WAL_REC_SWITCH) {
        lsn_text(out.end_lsn, at);
        stop(r, WS_WAL_STOP_SWITCH, out.end_lsn, "WAL switch: the segment ends at %s", at);
    }
    return 0;
}

/* --- pages ---------------------------------------------------------------- */

/* XLogReaderValidatePageHeader and the first page's long header; returns
 * the header size, or 0 when reading stopped. */
static uint32_t check_page(ws_wal_reader *r, const uint8_t *p, uint64_t page_lsn)
{
    static const uint8_t zeros[SHORT_PHD];
    uint16_t magic = rd16(p), info = rd16(p + 2);
    uint32_t tli = rd32(p + 4);
    uint64_t addr = rd64(p + 8);
    uint64_t at_stop = stop_point(r, page_lsn);
    char at[18], a2[18];

    if (memcmp(p, zeros, SHORT_PHD) == 0) {
        stop(r, WS_WAL_STOP_ZERO, at_stop, "zeroed page at %s", lsn_str(page_lsn, at));
        return 0;
    }
    if (r->page_off == 0) {
        unsigned version = ws_wal_segment_magic_version(magic);

        if (!(info & XLP_LONG_HEADER)) {
            stop(r, WS_WAL_STOP_PAGE, at_stop, "first page of the segment at %s has no long header (info bits %04X)",
                 lsn_str(page_lsn, at), info);
            return 0;
        }
        if (version == 0 || (r->magic && magic != r->magic)) {
            stop(r, WS_WAL_STOP_PAGE, at_stop, "invalid magic number %04X in the page at %s", magic,
                 lsn_str(page_lsn, at));
            return 0;
        }
        r->magic = magic;
        r->pg_version = version;
        r->res.pg_version = version;
    } else if (r->magic == 0 && ws_wal_segment_magic_version(magic) != 0) {
        /* Reading began in the middle of a segment (ws_wal_reader_begin_at). */
        r->magic = magic;
        r->pg_version = ws_wal_segment_magic_version(magic);
        r->res.pg_version = r->pg_version;
    } else if (magic != r->magic) {
        stop(r, WS_WAL_STOP_PAGE, at_stop, "invalid magic number %04X in the page at %s", magic, lsn_str(page_lsn, at));
        return 0;
    }
    if (info & ~XLP_ALL_FLAGS) {
        stop(r, WS_WAL_STOP_PAGE, at_stop, "invalid info bits %04X in the page at %s", info, lsn_str(page_lsn, at));
        return 0;
    }
    if (info & XLP_LONG_HEADER) {
        uint64_t sysid = rd64(p + 24);

        if (sysid == 0 || (r->sysid && sysid != r->sysid)) {
            stop(r, WS_WAL_STOP_PAGE, at_stop,
                 "the page at %s is from a different database system (system identifier %" PRIu64 ")",
                 lsn_str(page_lsn, at), sysid);
            return 0;
        }
        if (rd32(p + 32) != r->seg_size || rd32(p + 36) != BLCKSZ) {
            stop(r, WS_WAL_STOP_PAGE, at_stop,
                 "the page at %s names segment size %" PRIu32 " and block size %" PRIu32 ", want %" PRIu32 " and %d",
                 lsn_str(page_lsn, at), rd32(p + 32), rd32(p + 36), r->seg_size, BLCKSZ);
            return 0;
        }
        r->sysid = sysid;
        if (r->page_off == 0)
            r->res.sysid = sysid;
    }
    if (addr != page_lsn) {
        lsn_text(addr, a2);
        stop(r, WS_WAL_STOP_PAGE, at_stop, "unexpected pageaddr %s in the page at %s", a2, lsn_str(page_lsn, at));
        return 0;
    }
    if (tli == 0 || tli > r->seg.tli || tli < r->latest_tli) {
        stop(r, WS_WAL_STOP_PAGE, at_stop,
             "timeline %" PRIu32 " in the page at %s is out of sequence (segment timeline %" PRIu32
             ", previous page %" PRIu32 ")",
             tli, lsn_str(page_lsn, at), r->seg.tli, r->latest_tli);
        return 0;
    }
    r->latest_tli = tli;
    return (info & XLP_LONG_HEADER) ? LONG_PHD : SHORT_PHD;
}

static int process_page(ws_wal_reader *r, const uint8_t *p, ws_err *err)
{
    uint64_t page_lsn = r->seg_lsn + r->page_off;
    uint32_t hs, off, rem;
    uint16_t info;
    char at[18], a2[18];

    hs = check_page(r, p, page_lsn);
    if (hs == 0)
        return 0;
    info = rd16(p + 2);
    rem = rd32(p + 16);
    off = hs;
    if (r->mode == MODE_SKIP) {
        if (info & XLP_FIRST_IS_CONTRECORD) {
            r->res.continued_unread = true;
            if (MAXALIGN(rem) >= BLCKSZ - hs)
                return 0;
            off = hs + (uint32_t) MAXALIGN(rem);
        }
        r->mode = MODE_BETWEEN;
        r->next_lsn = page_lsn + off;
    } else if (r->mode == MODE_RECORD && (info & XLP_FIRST_IS_OVERWRITE_CONTRECORD)) {
        /* The rest of the record in progress was lost and overwritten
         * (PostgreSQL 15 and back-branch fixes): it never happened.  The
         * records on this page follow the last complete record. */
        r->mode = MODE_BETWEEN;
        r->next_lsn = page_lsn;
    } else if (r->mode == MODE_RECORD) {
        record_state *c = &r->rec;
        uint32_t n;

        if (!(info & XLP_FIRST_IS_CONTRECORD)) {
            stop(r, WS_WAL_STOP_RECORD, c->lsn, "there is no contrecord flag at %s (record at %s)",
                 lsn_str(page_lsn, at), lsn_str(c->lsn, a2));
            return 0;
        }
        if (rem == 0 || rem != c->tot_len - c->got) {
            stop(r, WS_WAL_STOP_RECORD, c->lsn,
                 "invalid contrecord length %" PRIu32 " (expected %" PRIu32 ") at %s (record at %s)", rem,
                 c->tot_len - c->got, lsn_str(page_lsn, at), lsn_str(c->lsn, a2));
            return 0;
        }
        n = rem < BLCKSZ - hs ? rem : BLCKSZ - hs;
        if (feed(r, p + hs, n, err) < 0)
            return -1;
        if (r->res.stop)
            return 0;
        if (c->got < c->tot_len)
            return 0;
        if (finish_record(r, page_lsn + hs + n, err) < 0)
            return -1;
        if (r->res.stop)
            return 0;
        off = hs + (uint32_t) MAXALIGN(n);
    } else if (info & XLP_FIRST_IS_CONTRECORD) {
        stop(r, WS_WAL_STOP_RECORD, r->next_lsn, "contrecord is requested by %s, but no record is in progress",
             lsn_str(page_lsn, at));
        return 0;
    }
    /* Records starting on this page. */
    while (off < BLCKSZ) {
        record_state *c = &r->rec;
        uint32_t tot_len = rd32(p + off), avail = BLCKSZ - off, n;
        uint64_t lsn = page_lsn + off;

        if (tot_len < REC_HDR) {
            lsn_text(lsn, a2);
            if (tot_len == 0)
                stop(r, WS_WAL_STOP_ZERO, lsn, "no record at %s (zero length): end of the WAL written", a2);
            else
                stop(r, WS_WAL_STOP_RECORD, lsn, "invalid record length at %s: expected at least %d, got %" PRIu32, a2,
                     REC_HDR, tot_len);
            return 0;
        }
        if (tot_len > REC_TOT_LEN_MAX) {
            lsn_text(lsn, a2);
            stop(r, WS_WAL_STOP_RECORD, lsn, "record length %" PRIu32 " at %s too long", tot_len, a2);
            return 0;
        }
        memset(c, 0, sizeof *c);
        c->lsn = lsn;
        c->tot_len = tot_len;
        c->crc = WS_CRC32C_INIT;
        r->mode = MODE_RECORD;
        n = tot_len < avail ? tot_len : avail;
        if (feed(r, p + off, n, err) < 0)
            return -1;
        if (r->res.stop)
            return 0;
        if (c->got < tot_len)
            return 0; /* continues on the next page */
        if (finish_record(r, lsn + tot_len, err) < 0)
            return -1;
        if (r->res.stop)
            return 0;
        off += (uint32_t) MAXALIGN(tot_len);
    }
    return 0;
}

/* --- segments --------------------------------------------------------------- */

ws_wal_reader *ws_wal_reader_new(const ws_wal_reader_opts *opts, ws_err *err)
{
    ws_wal_reader *r = calloc(1, sizeof *r);

    if (!r) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    if (opts)
        r->o = *opts;
    if (r->o.record_cap == 0)
        r->o.record_cap = WS_WAL_RECORD_CAP_DEFAULT;
    if (r->o.record_cap < REC_HDR)
        r->o.record_cap = REC_HDR;
    return r;
}

void ws_wal_reader_free(ws_wal_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

void ws_wal_reader_reset(ws_wal_reader *r)
{
    r->open = false;
    r->failed = false;
    r->have_last = false;
}

static int begin(ws_wal_reader *r, const ws_wal_name *seg, uint32_t seg_size, uint32_t offset, ws_err *err)
{
    uint64_t segno;
    bool carry;

    if (r->open)
        return ws_err_set(err, WS_ERR_INVALID, "WAL reader: the previous segment was not ended");
    if (seg->kind != WS_WAL_SEGMENT && seg->kind != WS_WAL_PARTIAL)
        return ws_err_set(err, WS_ERR_INVALID, "WAL reader: not a segment name");
    if (ws_wal_name_segno(seg, seg_size, &segno, err) < 0)
        return -1;
    if (offset % BLCKSZ != 0 || offset >= seg_size)
        return ws_err_set(err, WS_ERR_INVALID, "WAL reader: offset %" PRIu32 " is not a page of the segment", offset);
    r->failed = false;
    carry = offset == 0 && r->have_last && (r->last.stop == WS_WAL_STOP_END || r->last.stop == WS_WAL_STOP_SWITCH) &&
            segno == r->last_segno + 1 && seg->tli >= r->last_tli && seg_size == r->last_seg_size;
    if (!carry) {
        r->mode = MODE_SKIP;
        r->prev_known = false;
        r->magic = 0;
        r->sysid = 0;
        r->pg_version = 0;
        r->latest_tli = 0;
    }
    r->open = true;
    r->seg = *seg;
    r->seg_size = seg_size;
    r->segno = segno;
    r->seg_lsn = segno * seg_size;
    r->pos = offset;
    r->page_off = offset;
    r->page_fill = 0;
    memset(&r->res, 0, sizeof r->res);
    return 0;
}

int ws_wal_reader_begin(ws_wal_reader *r, const ws_wal_name *seg, uint32_t seg_size, ws_err *err)
{
    return begin(r, seg, seg_size, 0, err);
}

int ws_wal_reader_begin_at(ws_wal_reader *r, const ws_wal_name *seg, uint32_t seg_size, uint32_t offset, ws_err *err)
{
    return begin(r, seg, seg_size, offset, err);
}

bool ws_wal_reader_skipping(const ws_wal_reader *r)
{
    return r->have_last && r->last.stop == WS_WAL_STOP_END && r->mode == MODE_SKIP;
}

int ws_wal_reader_write(ws_wal_reader *r, const uint8_t *buf, size_t len, ws_err *err)
{
    if (!r->open)
        return ws_err_set(err, WS_ERR_INVALID, "WAL reader: no segment begun");
    if (r->failed)
        return ws_err_set(err, WS_ERR_INVALID, "WAL reader: used after a failure");
    if (len > r->seg_size - r->pos) {
        char name[WS_WAL_NAME_MAX];

        ws_wal_name_format(&r->seg, name);
        return ws_err_set(err, WS_ERR_INVALID, "%s: more than the %" PRIu32 " bytes of a WAL segment", name,
                          r->seg_size);
    }
    r->pos += len;
    if (r->res.stop) {
        r->page_off = r->pos - r->pos % BLCKSZ;
        return 0;
    }
    if (r->page_fill > 0) {
        size_t n = BLCKSZ - r->page_fill < len ? BLCKSZ - r->page_fill : len;

        memcpy(r->page + r->page_fill, buf, n);
        r->page_fill += n;
        buf += n;
        len -= n;
        if (r->page_fill < BLCKSZ)
            return 0;
        r->page_fill = 0;
        if (process_page(r, r->page, err) < 0)
            return -1;
        r->page_off += BLCKSZ;
    }
    while (len >= BLCKSZ && !r->res.stop) {
        if (process_page(r, buf, err) < 0)
            return -1;
        r->page_off += BLCKSZ;
        buf += BLCKSZ;
        len -= BLCKSZ;
    }
    if (r->res.stop) {
        r->page_off = r->pos - r->pos % BLCKSZ;
        return 0;
    }
    memcpy(r->page, buf, len);
    r->page_fill = len;
    return 0;
}

int ws_wal_reader_end(ws_wal_reader *r, ws_wal_seg_result *out, ws_err *err)
{
    char at[18];

    if (!r->open)
        return ws_err_set(err, WS_ERR_INVALID, "WAL reader: no segment begun");
    r->open = false;
    if (r->failed)
        return ws_err_set(err, WS_ERR_INVALID, "WAL reader: used after a failure");
    if (!r->res.stop) {
        if (r->pos < r->seg_size) {
            uint64_t lsn = stop_point(r, r->seg_lsn + r->page_off);

            lsn_text(r->seg_lsn + r->pos, at);
            stop(r, WS_WAL_STOP_SHORT, lsn,
                 "the input ended at %s after %" PRIu64 " of the segment's %" PRIu32 " bytes", at, r->pos, r->seg_size);
        } else {
            lsn_text(r->seg_lsn + r->seg_size, at);
            stop(r, WS_WAL_STOP_END, r->seg_lsn + r->seg_size, "valid to the end of the segment at %s", at);
        }
    }
    r->last = r->res;
    r->have_last = true;
    r->last_segno = r->segno;
    r->last_tli = r->seg.tli;
    r->last_seg_size = r->seg_size;
    if (out)
        *out = r->res;
    return 0;
}

const ws_wal_seg_result *ws_wal_reader_last(const ws_wal_reader *r)
{
    return r->have_last ? &r->last : NULL;
}

/* --- as a sink ------------------------------------------------------------ */

typedef struct reader_sink {
    ws_sink base;
    ws_wal_reader *r;
} reader_sink;

static int rs_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    reader_sink *f = (reader_sink *) s;

    if (ws_wal_reader_write(f->r, buf, len, err) < 0)
        return -1;
    return s->next ? ws_sink_write(s->next, buf, len, err) : 0;
}

static int rs_finish(ws_sink *s, ws_err *err)
{
    reader_sink *f = (reader_sink *) s;

    if (ws_wal_reader_end(f->r, NULL, err) < 0)
        return -1;
    return ws_sink_finish_next(s, err);
}

static void rs_destroy(ws_sink *s)
{
    free(s);
}

static const ws_sink_ops reader_ops = {"WAL reader", rs_write, rs_finish, rs_destroy};

ws_sink *ws_wal_reader_sink_new(ws_wal_reader *r, ws_sink *next, ws_err *err)
{
    reader_sink *f = calloc(1, sizeof *f);

    if (!f) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->base.ops = &reader_ops;
    f->base.next = next;
    f->r = r;
    return &f->base;
}

/* --- time ------------------------------------------------------------------ */

#define PG_EPOCH_UNIX INT64_C(946684800) /* 2000-01-01 00:00:00 UTC */

void ws_wal_reader_time_format(int64_t ts, char out[WS_WAL_TIME_TEXT_MAX])
{
    int64_t secs = ts / 1000000, usec = ts % 1000000;
    time_t t;
    struct tm tm;

    if (ts == INT64_MIN || ts == INT64_MAX) {
        snprintf(out, WS_WAL_TIME_TEXT_MAX, "%s", ts == INT64_MIN ? "-infinity" : "infinity");
        return;
    }
    if (usec < 0) {
        usec += 1000000;
        secs--;
    }
    t = (time_t) (secs + PG_EPOCH_UNIX);
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, WS_WAL_TIME_TEXT_MAX, "%" PRId64, ts);
        return;
    }
    snprintf(out, WS_WAL_TIME_TEXT_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int) usec);
}
