/* wal_segment.c - long page header checks (see wal_segment.h). */
#include "walship/wal_segment.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walship/localfile.h"
#include "walship/timeline_history.h"

static const struct {
    uint16_t magic;
    unsigned version;
} magics[] = {
    {0xD106, 13}, {0xD10D, 14}, {0xD110, 15}, {0xD113, 16}, {0xD116, 17},
};

unsigned ws_wal_segment_magic_version(uint16_t magic)
{
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++)
        if (magics[i].magic == magic)
            return magics[i].version;
    return 0;
}

/* WAL is written in host byte order: copy the fields as they lie. */
int ws_wal_header_decode(const uint8_t *buf, size_t len, ws_wal_header *h, ws_err *err)
{
    if (len < WS_WAL_LONG_HEADER_LEN)
        return ws_err_set(err, WS_ERR_INVALID, "too short for a WAL page header (%zu bytes)", len);
    memset(h, 0, sizeof *h);
    memcpy(&h->magic, buf + 0, 2);
    memcpy(&h->info, buf + 2, 2);
    memcpy(&h->tli, buf + 4, 4);
    memcpy(&h->pageaddr, buf + 8, 8);
    memcpy(&h->sysid, buf + 24, 8);
    memcpy(&h->seg_size, buf + 32, 4);
    memcpy(&h->blcksz, buf + 36, 4);
    h->pg_version = ws_wal_segment_magic_version(h->magic);
    return 0;
}

void ws_wal_header_encode(const ws_wal_header *h, uint8_t buf[WS_WAL_LONG_HEADER_LEN])
{
    memset(buf, 0, WS_WAL_LONG_HEADER_LEN);
    memcpy(buf + 0, &h->magic, 2);
    memcpy(buf + 2, &h->info, 2);
    memcpy(buf + 4, &h->tli, 4);
    memcpy(buf + 8, &h->pageaddr, 8);
    memcpy(buf + 24, &h->sysid, 8);
    memcpy(buf + 32, &h->seg_size, 4);
    memcpy(buf + 36, &h->blcksz, 4);
}

int ws_wal_segment_check(const uint8_t *buf, size_t len, uint64_t file_size, const ws_wal_name *name, const char *what,
                         ws_wal_header *out, ws_err *err)
{
    ws_wal_header h;
    uint64_t start;
    char want[18], got[18];

    if (name->kind != WS_WAL_SEGMENT && name->kind != WS_WAL_PARTIAL)
        return ws_err_set(err, WS_ERR_INVALID, "%s: not a WAL segment name", what);
    if (file_size == 0)
        return ws_err_set(err, WS_ERR_INVALID, "%s: file is empty", what);
    if (ws_wal_header_decode(buf, len, &h, err) < 0)
        return ws_err_prefix(err, "%s", what);
    if (h.pg_version == 0)
        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: not a WAL segment of a supported PostgreSQL release (page magic 0x%04" PRIX16
                          ", want 0xD106..0xD116 for PostgreSQL 13..17)",
                          what, h.magic);
    if (!(h.info & WS_XLP_LONG_HEADER))
        return ws_err_set(err, WS_ERR_INVALID, "%s: first page has no long header (xlp_info 0x%04" PRIX16 ")", what,
                          h.info);
    if (h.info & ~WS_XLP_ALL_FLAGS)
        return ws_err_set(err, WS_ERR_INVALID, "%s: unknown flags in xlp_info 0x%04" PRIX16, what, h.info);
    if (h.blcksz != WS_WAL_BLCKSZ)
        return ws_err_set(err, WS_ERR_INVALID, "%s: WAL block size %" PRIu32 " in the page header, want %d", what,
                          h.blcksz, WS_WAL_BLCKSZ);
    if (!ws_wal_name_seg_size_valid(h.seg_size))
        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: segment size %" PRIu32 " in the page header is not a power of two from 1 MiB to 1 GiB",
                          what, h.seg_size);
    if (file_size != h.seg_size)
        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: file size %" PRIu64 " differs from the segment size %" PRIu32 " in its page header",
                          what, file_size, h.seg_size);
    if (h.tli == 0 || h.tli > name->tli)
        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: page header timeline %" PRIu32 " does not fit the file name's timeline %" PRIu32, what,
                          h.tli, name->tli);
    if (ws_wal_name_start_lsn(name, h.seg_size, &start, err) < 0)
        return ws_err_prefix(err, "%s", what);
    if (h.pageaddr != start) {
        ws_wal_name_format_lsn(start, want);
        ws_wal_name_format_lsn(h.pageaddr, got);
        return ws_err_set(err, WS_ERR_INVALID,
                          "%s: page address %s in the page header is not the start %s of the named segment", what, got,
                          want);
    }
    if (h.sysid == 0)
        return ws_err_set(err, WS_ERR_INVALID, "%s: system identifier 0 in the page header", what);
    if (out)
        *out = h;
    return 0;
}

/* --- text files ----------------------------------------------------------- */

/*
 * A backup history file's name holds the backup's start LSN as segment and
 * offset (NAME.OOOOOOOO.backup); its START WAL LOCATION must be that LSN:
 * for some valid segment size the LSN lies in the named segment, at that
 * offset.
 */
static int backup_start_fits(const char *buf, size_t len, const ws_wal_name *name, const char *what, ws_err *err)
{
    static const char start[] = "START WAL LOCATION: ";
    char text[20];
    const char *p = buf + sizeof start - 1, *sp = memchr(p, ' ', len - (sizeof start - 1));
    uint64_t lsn;

    if (!sp || (size_t) (sp - p) >= sizeof text)
        return ws_err_set(err, WS_ERR_INVALID, "%s: START WAL LOCATION is not an LSN", what);
    memcpy(text, p, (size_t) (sp - p));
    text[sp - p] = '\0';
    if (ws_wal_name_parse_lsn(text, &lsn) < 0)
        return ws_err_set(err, WS_ERR_INVALID, "%s: START WAL LOCATION is not an LSN", what);
    for (uint64_t size = WS_WAL_SEG_SIZE_MIN; size <= WS_WAL_SEG_SIZE_MAX; size *= 2) {
        ws_wal_name at;

        ws_wal_name_from_segno(name->tli, lsn / size, (uint32_t) size, &at);
        if (at.log == name->log && at.seg == name->seg && lsn % size == name->offset)
            return 0;
    }
    return ws_err_set(err, WS_ERR_INVALID,
                      "%s: START WAL LOCATION %s is not the position its name gives (segment %08X%08X%08X, offset "
                      "%08X)",
                      what, text, name->tli, name->log, name->seg, name->offset);
}

int ws_wal_segment_check_text(const char *buf, size_t len, const ws_wal_name *name, const char *what, ws_err *err)
{
    static const char start[] = "START WAL LOCATION: ";
    char seg[WS_WAL_NAME_MAX], want[WS_WAL_NAME_MAX + 8];
    ws_wal_name s;
    ws_tli_history h;

    if (len > WS_WAL_TEXT_FILE_MAX)
        return ws_err_set(err, WS_ERR_INVALID, "%s: %zu bytes is too large for a %s file", what, len,
                          name->kind == WS_WAL_HISTORY ? "history" : "backup history");
    switch (name->kind) {
    case WS_WAL_HISTORY:
        /* Exactly what PostgreSQL accepts (even an empty file). */
        if (ws_tli_history_parse(buf, len, name->tli, what, &h, err) < 0)
            return -1;
        ws_tli_history_free(&h);
        return 0;
    case WS_WAL_BACKUP:
        if (len == 0)
            return ws_err_set(err, WS_ERR_INVALID, "%s: file is empty", what);
        if (memchr(buf, '\0', len))
            return ws_err_set(err, WS_ERR_INVALID, "%s: not a text file (contains NUL bytes)", what);
        if (len < sizeof start - 1 || memcmp(buf, start, sizeof start - 1) != 0)
            return ws_err_set(err, WS_ERR_INVALID, "%s: not a backup history file (no \"%.*s\" line)", what,
                              (int) (sizeof start - 3), start);
        s = *name;
        s.kind = WS_WAL_SEGMENT;
        ws_wal_name_format(&s, seg);
        snprintf(want, sizeof want, "(file %s)", seg);
        if (!memmem(buf, len, want, strlen(want)))
            return ws_err_set(err, WS_ERR_INVALID, "%s: its START WAL LOCATION line does not name segment %s", what,
                              seg);
        return backup_start_fits(buf, len, name, what, err);
    case WS_WAL_SEGMENT:
    case WS_WAL_PARTIAL:
    default:
        return ws_err_set(err, WS_ERR_INVALID, "%s: a WAL segment is not a text file", what);
    }
}

/* --- local files ---------------------------------------------------------- */

int ws_wal_file_open(const char *path, ws_wal_file *out, ws_err *err)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    struct stat st;
    uint8_t head[WS_WAL_LONG_HEADER_LEN];
    char *text = NULL;
    size_t got;
    int fd;

    memset(out, 0, sizeof *out);
    if (ws_wal_name_parse(base, &out->name, err) < 0)
        return ws_err_prefix(err, "%s", path);
    snprintf(out->base, sizeof out->base, "%s", base);
    /* A FIFO or device never blocks the archiver here (localfile.h). */
    fd = ws_localfile_open(path, 0, &st, err);
    if (fd < 0)
        return -1;
    out->size = (uint64_t) st.st_size;
    if (out->size == 0 && out->name.kind != WS_WAL_HISTORY) { /* PostgreSQL reads an empty one as no parents */
        ws_err_set(err, WS_ERR_INVALID, "%s: file is empty", path);
        goto fail;
    }
    if (out->name.kind == WS_WAL_SEGMENT || out->name.kind == WS_WAL_PARTIAL) {
        if (ws_localfile_pread(fd, head, sizeof head, 0, &got, path, err) < 0)
            goto fail;
        if (ws_wal_segment_check(head, got, out->size, &out->name, path, &out->hdr, err) < 0)
            goto fail;
        out->has_header = true;
        return fd;
    }
    if (out->size > WS_WAL_TEXT_FILE_MAX) {
        ws_err_set(err, WS_ERR_INVALID, "%s: %" PRIu64 " bytes is too large for a %s file", path, out->size,
                   out->name.kind == WS_WAL_HISTORY ? "history" : "backup history");
        goto fail;
    }
    text = malloc((size_t) out->size + 1);
    if (!text) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (ws_localfile_pread(fd, text, (size_t) out->size, 0, &got, path, err) < 0)
        goto fail;
    if (got != out->size) {
        ws_err_set(err, WS_ERR_INVALID, "%s: file shrank while being read", path);
        goto fail;
    }
    if (ws_wal_segment_check_text(text, got, &out->name, path, err) < 0)
        goto fail;
    free(text);
    return fd;
fail:
    free(text);
    close(fd);
    return -1;
}

/* --- verifying filter ----------------------------------------------------- */

typedef struct check_filter {
    ws_sink base;
    ws_wal_name name;
    char *what;
    uint64_t count;
    uint8_t head[WS_WAL_LONG_HEADER_LEN];
    char *text; /* history/backup files: the whole (small) content */
    bool checked;
    ws_wal_header hdr; /* segments, once checked */
} check_filter;

static int check_write(ws_sink *s, const uint8_t *buf, size_t len, ws_err *err)
{
    check_filter *f = (check_filter *) s;
    bool segment = f->name.kind == WS_WAL_SEGMENT || f->name.kind == WS_WAL_PARTIAL;

    if (segment && f->count < sizeof f->head) {
        size_t n = sizeof f->head - (size_t) f->count;

        memcpy(f->head + f->count, buf, n < len ? n : len);
    }
    if (!segment) {
        if (f->count + len > WS_WAL_TEXT_FILE_MAX)
            return ws_err_set(err, WS_ERR_CORRUPT, "%s: more than %u bytes: not a %s file", f->what,
                              WS_WAL_TEXT_FILE_MAX, f->name.kind == WS_WAL_HISTORY ? "history" : "backup history");
        if (!f->text && !(f->text = malloc(WS_WAL_TEXT_FILE_MAX)))
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        memcpy(f->text + f->count, buf, len);
    }
    f->count += len;
    return ws_sink_write(s->next, buf, len, err);
}

static int check_finish(ws_sink *s, ws_err *err)
{
    check_filter *f = (check_filter *) s;
    int rc;

    if (f->name.kind == WS_WAL_SEGMENT || f->name.kind == WS_WAL_PARTIAL)
        rc = ws_wal_segment_check(f->head, f->count < sizeof f->head ? (size_t) f->count : sizeof f->head, f->count,
                                  &f->name, f->what, &f->hdr, err);
    else
        rc = ws_wal_segment_check_text(f->text ? f->text : "", (size_t) f->count, &f->name, f->what, err);
    if (rc < 0) {
        err->code = WS_ERR_CORRUPT;
        return -1;
    }
    f->checked = true;
    return ws_sink_finish_next(s, err);
}

bool ws_wal_segment_check_filter_header(const ws_sink *s, ws_wal_header *out)
{
    const check_filter *f = (const check_filter *) s;

    if (!f->checked || (f->name.kind != WS_WAL_SEGMENT && f->name.kind != WS_WAL_PARTIAL))
        return false;
    *out = f->hdr;
    return true;
}

static void check_destroy(ws_sink *s)
{
    check_filter *f = (check_filter *) s;

    free(f->what);
    free(f->text);
    free(f);
}

static const ws_sink_ops check_ops = {"WAL check", check_write, check_finish, check_destroy};

ws_sink *ws_wal_segment_check_filter_new(const ws_wal_name *name, const char *what, ws_sink *next, ws_err *err)
{
    check_filter *f = calloc(1, sizeof *f);

    if (!f || !(f->what = strdup(what))) {
        free(f);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    f->base.ops = &check_ops;
    f->base.next = next;
    f->name = *name;
    return &f->base;
}
