/*
 * fuzz_wal_reader.c - libFuzzer target for the WAL record reader and the
 * index entry decoder.
 *
 * Byte 0 picks a mode:
 *   0..95    raw: the input is the start of a 1 MiB segment, written in
 *            pieces of an input-chosen size (the rest of the segment is
 *            missing: the reader must stop cleanly)
 *   96..223  records: the input is a list of records [rmid, info, len16,
 *            body...]; the harness lays them out over two segments with
 *            correct page headers, prev-links and CRCs (so the decoders are
 *            reached), damages one byte chosen by the input unless bit 0 of
 *            byte 1 is clear, and reads both segments with a small cap on
 *            decoded records
 *   224..255 entry: the input is JSON for ws_wal_index_json_parse; what parses
 *            must print and parse again to the same entry
 * Every result must be self-consistent (checked below).
 */
#include <stdlib.h>
#include <string.h>

#include "walship/crc32c.h"
#include "walship/wal_index.h"
#include "walship/wal_index_json.h"
#include "walship/wal_reader.h"

#define SEG  (1u << 20)
#define PAGE 8192

static void check_result(const ws_wal_seg_result *r, uint64_t seg_lsn)
{
    if (r->stop == WS_WAL_STOP_NONE)
        abort();
    if (r->records > 0 && (r->end_lsn <= r->first_lsn || r->end_lsn > seg_lsn + SEG || r->end_lsn % 8 != 0))
        abort();
    if (r->stop == WS_WAL_STOP_END && r->stop_lsn != seg_lsn + SEG)
        abort();
    if (r->records > 0 && r->stop_lsn < r->end_lsn && r->stop != WS_WAL_STOP_END)
        abort();
}

static int count_record(void *arg, const ws_wal_record *rec, ws_err *err)
{
    (void) err;
    if (rec->end_lsn <= rec->lsn || rec->tot_len < 24 || rec->name[WS_WAL_RP_NAME_MAX] != '\0')
        abort();
    (*(uint64_t *) arg)++;
    return 0;
}

static void read_segment(ws_wal_reader *r, uint64_t segno, uint32_t from, const uint8_t *buf, size_t len, size_t piece,
                         uint64_t *count)
{
    ws_wal_name w;
    ws_wal_seg_result res;
    ws_err err;
    uint64_t before = *count;

    ws_wal_name_from_segno(1, segno, SEG, &w);
    if ((from ? ws_wal_reader_begin_at(r, &w, SEG, from, &err) : ws_wal_reader_begin(r, &w, SEG, &err)) < 0)
        abort();
    for (size_t off = 0; off < len;) {
        size_t n = piece < len - off ? piece : len - off;

        if (ws_wal_reader_write(r, buf + off, n, &err) < 0)
            abort();
        off += n;
    }
    if (ws_wal_reader_end(r, &res, &err) < 0)
        abort();
    check_result(&res, segno * SEG);
    if (res.records != *count - before)
        abort();
}

static void raw_mode(const uint8_t *data, size_t size)
{
    uint64_t count = 0;
    ws_wal_reader_opts o = {.record_cap = 256u + data[0] * 64u, .on_record = count_record, .arg = &count};
    ws_err err;
    ws_wal_reader *r = ws_wal_reader_new(&o, &err);

    if (!r)
        abort();
    /* odd mode bytes start at the second page (a record may be in progress) */
    read_segment(r, 2, (data[0] & 1) ? PAGE : 0, data + 2, size - 2, (size_t) data[1] * 37 + 1, &count);
    ws_wal_reader_free(r);
}

/* --- records laid out like PostgreSQL does -------------------------------- */

typedef struct layout {
    uint8_t *buf; /* 3 segments; records run into the third at most */
    uint64_t base, pos, prev;
} layout;

static void page_header(layout *l, uint64_t page, uint16_t info, uint32_t rem)
{
    uint8_t *p = l->buf + (page - l->base);
    uint16_t magic = 0xD110;
    uint32_t tli = 1, seg = SEG, blck = PAGE;
    uint64_t sysid = 42;

    if (page % SEG == 0)
        info |= 0x0002;
    memcpy(p, &magic, 2);
    memcpy(p + 2, &info, 2);
    memcpy(p + 4, &tli, 4);
    memcpy(p + 8, &page, 8);
    memcpy(p + 16, &rem, 4);
    if (page % SEG == 0) {
        memcpy(p + 24, &sysid, 8);
        memcpy(p + 32, &seg, 4);
        memcpy(p + 36, &blck, 4);
    }
}

static int put(layout *l, const uint8_t *rec, uint32_t len)
{
    uint32_t done = 0;

    if (l->pos + len + 64 * (len / PAGE + 2) >= l->base + 3 * (uint64_t) SEG)
        return -1;
    if (l->pos % PAGE == 0) {
        page_header(l, l->pos, 0, 0);
        l->pos += l->pos % SEG == 0 ? 40 : 24;
    }
    l->prev = l->pos;
    while (done < len) {
        uint32_t n;

        if (l->pos % PAGE == 0) {
            page_header(l, l->pos, 0x0001, len - done);
            l->pos += l->pos % SEG == 0 ? 40 : 24;
        }
        n = (uint32_t) (PAGE - l->pos % PAGE);
        if (n > len - done)
            n = len - done;
        memcpy(l->buf + (l->pos - l->base), rec + done, n);
        l->pos += n;
        done += n;
    }
    l->pos = (l->pos + 7) & ~(uint64_t) 7;
    return 0;
}

static void records_mode(const uint8_t *data, size_t size)
{
    layout l;
    uint64_t count = 0;
    ws_wal_reader_opts o = {.record_cap = 4096, .on_record = count_record, .arg = &count};
    ws_err err;
    ws_wal_reader *r;
    size_t i = 4;
    uint8_t rec[24 + 65535 + 8];
    uint32_t spread = (uint32_t) data[3] * 97; /* pad records apart to cross pages */

    /* One zeroed buffer for every run (cleared after use): calloc of 3 MiB
     * per input would dominate the run time. */
    static uint8_t *zeroed;

    if (!zeroed && !(zeroed = calloc(3, SEG)))
        abort();
    l.base = 2 * (uint64_t) SEG;
    l.pos = l.base;
    l.prev = l.base - 64;
    l.buf = zeroed;
    while (i + 4 <= size) {
        uint32_t len = (uint32_t) data[i + 2] | (uint32_t) data[i + 3] << 8, tot, crc;
        uint64_t prev = l.prev;
        uint32_t xid = (uint32_t) i * 2654435761u;

        if (len > size - i - 4)
            len = (uint32_t) (size - i - 4);
        tot = 24 + len;
        memset(rec, 0, 24);
        memcpy(rec, &tot, 4);
        memcpy(rec + 4, &xid, 4);
        memcpy(rec + 8, &prev, 8);
        rec[16] = data[i + 1];
        rec[17] = data[i] % 23; /* mostly valid resource managers */
        memcpy(rec + 24, data + i + 4, len);
        crc = ws_crc32c_final(ws_crc32c_update(ws_crc32c_update(WS_CRC32C_INIT, rec + 24, len), rec, 20));
        memcpy(rec + 20, &crc, 4);
        if (put(&l, rec, tot) < 0)
            break;
        if (spread && l.pos + spread < l.base + 2 * (uint64_t) SEG) {
            /* a filler record (LOGICALMSG) to move along */
            uint32_t ftot = 24 + 5 + spread, flen = spread;

            memset(rec, 0, 24 + 5 + spread);
            memcpy(rec, &ftot, 4);
            memcpy(rec + 8, &l.prev, 8);
            rec[17] = 21;
            rec[24] = 254;
            memcpy(rec + 25, &flen, 4);
            crc = ws_crc32c_final(ws_crc32c_update(ws_crc32c_update(WS_CRC32C_INIT, rec + 24, ftot - 24), rec, 20));
            memcpy(rec + 20, &crc, 4);
            if (put(&l, rec, ftot) < 0)
                break;
        }
        i += 4 + len;
    }
    if (data[1] & 1) {
        uint32_t at = ((uint32_t) data[2] << 12 | (uint32_t) data[size - 1] << 4) % (uint32_t) (l.pos - l.base + 1);

        l.buf[at] ^= (uint8_t) (1u << (data[1] >> 5));
    }
    r = ws_wal_reader_new(&o, &err);
    if (!r)
        abort();
    if (data[0] & 1) {
        /* from the middle of the first segment, as the push path reads the previous one */
        uint32_t from = (uint32_t) (data[3] % 64) * PAGE;

        read_segment(r, 2, from, l.buf + from, SEG - from, 257 + (size_t) data[2] * 61, &count);
    } else {
        read_segment(r, 2, 0, l.buf, SEG, 257 + (size_t) data[2] * 61, &count);
    }
    (void) ws_wal_reader_skipping(r);
    read_segment(r, 3, 0, l.buf + SEG, SEG, SEG, &count);
    ws_wal_reader_free(r);
    memset(l.buf, 0,
           (size_t) (l.pos - l.base) + PAGE < 3 * (size_t) SEG ? (size_t) (l.pos - l.base) + PAGE : 3 * (size_t) SEG);
}

static void entry_mode(const uint8_t *data, size_t size)
{
    ws_wal_index ix, again;
    ws_err err;
    char *json;

    if (ws_wal_index_json_parse((const char *) data + 1, size - 1, "fuzz", &ix, &err) < 0)
        return;
    json = ws_wal_index_json_format(&ix, (data[0] & 1) != 0, &err);
    if (!json)
        abort();
    if (ws_wal_index_json_parse(json, strlen(json), "fuzz", &again, &err) < 0)
        abort();
    if (again.records != ix.records || again.first_lsn != ix.first_lsn || again.end_lsn != ix.end_lsn ||
        again.stop != ix.stop || again.n_restore_points != ix.n_restore_points ||
        memcmp(&again.commits, &ix.commits, sizeof ix.commits) != 0 || strcmp(again.segment, ix.segment) != 0)
        abort();
    for (size_t i = 0; i < ix.n_restore_points; i++)
        if (strcmp(again.restore_points[i].name, ix.restore_points[i].name) != 0)
            abort();
    free(json);
    ws_wal_index_free(&ix);
    ws_wal_index_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    if (data[0] < 96)
        raw_mode(data, size);
    else if (data[0] < 224)
        records_mode(data, size);
    else
        entry_mode(data, size);
    return 0;
}
