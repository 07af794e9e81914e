/*
 * wal_segment.h - checking that a file is the WAL segment its name says.
 *
 * The first page of every segment starts with PostgreSQL's long page header
 * (XLogLongPageHeaderData, host byte order, 40 bytes):
 *
 *   0  uint16 xlp_magic        WAL format version (one per major release)
 *   2  uint16 xlp_info         flags; XLP_LONG_HEADER (0x0002) must be set
 *   4  uint32 xlp_tli          timeline of the page's first record
 *   8  uint64 xlp_pageaddr     LSN of the page: the segment's start
 *  16  uint32 xlp_rem_len
 *  20  (padding)
 *  24  uint64 xlp_sysid        the cluster's system identifier
 *  32  uint32 xlp_seg_size     wal_segment_size
 *  36  uint32 xlp_xlog_blcksz  WAL page size (8192)
 *
 * The layout is the same from PostgreSQL 13 to 17; the magic tells the
 * release.  walship accepts those five magics (doc/archive.md).
 */
#ifndef WALSHIP_WAL_SEGMENT_H
#define WALSHIP_WAL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/sink.h"
#include "walship/wal_name.h"

#define WS_WAL_LONG_HEADER_LEN 40
#define WS_XLP_LONG_HEADER     0x0002
#define WS_XLP_ALL_FLAGS       0x000F /* FIRST_IS_CONTRECORD, LONG_HEADER, BKP_REMOVABLE, FIRST_IS_OVERWRITE_CONTRECORD */
#define WS_WAL_BLCKSZ          8192

typedef struct ws_wal_header {
    uint16_t magic;
    uint16_t info;
    uint32_t tli;
    uint64_t pageaddr;
    uint64_t sysid;
    uint32_t seg_size;
    uint32_t blcksz;
    unsigned pg_version; /* major release the magic belongs to */
} ws_wal_header;

/* The PostgreSQL major release of a page magic, 0 when unknown. */
unsigned ws_wal_segment_magic_version(uint16_t magic);

/* Decodes the header fields from the first WS_WAL_LONG_HEADER_LEN bytes
 * (no checks beyond the length). */
int ws_wal_header_decode(const uint8_t *buf, size_t len, ws_wal_header *out, ws_err *err);

/* Writes h in the on-disk layout (tests and synthetic segments). */
void ws_wal_header_encode(const ws_wal_header *h, uint8_t buf[WS_WAL_LONG_HEADER_LEN]);

/*
 * Checks that buf (the file's first len bytes; file_size its total size)
 * is the long page header of the segment or .partial file `name`: known
 * magic, long-header flag and no unknown flag, block size 8192, a valid
 * segment size equal to file_size, xlp_tli from 1 to the name's timeline,
 * xlp_pageaddr equal to the name's start LSN, non-zero system identifier.
 * `what` names the file in the message.  Fills out on success.
 */
int ws_wal_segment_check(const uint8_t *buf, size_t len, uint64_t file_size, const ws_wal_name *name, const char *what,
                         ws_wal_header *out, ws_err *err);

/* History and backup history files are small text files. */
#define WS_WAL_TEXT_FILE_MAX (1u << 20)

/*
 * Checks a text WAL file's content by kind: a .history file must parse
 * (timeline_history.h) for the name's timeline; a .backup file must start
 * with "START WAL LOCATION: " and name its own segment in "(file ...)".
 */
int ws_wal_segment_check_text(const char *buf, size_t len, const ws_wal_name *name, const char *what, ws_err *err);

typedef struct ws_wal_file {
    ws_wal_name name;
    char base[WS_WAL_NAME_MAX]; /* the file name without directories */
    uint64_t size;
    bool has_header; /* segments and .partial files */
    ws_wal_header hdr;
} ws_wal_file;

/*
 * Opens the local WAL file at path and checks it by its name: segments and
 * .partial files with ws_wal_segment_check, history and backup files with
 * ws_wal_segment_check_text.  Missing, not a regular file, empty, wrong size or
 * content: -1 with WS_ERR_INVALID (or WS_ERR_IO) naming the path and cause.
 * On success returns the open descriptor, positioned at 0, so the bytes
 * stored are the bytes checked.
 */
int ws_wal_file_open(const char *path, ws_wal_file *out, ws_err *err);

/*
 * A pass-through filter that checks, at finish and before finishing next,
 * that the bytes that went through are a valid file called `name`: for a
 * segment or .partial the page header and the total size; for a history or
 * backup file the text checks.  A failure is WS_ERR_CORRUPT (the stored
 * object is not what its key says).  Free with ws_sink_free.
 */
ws_sink *ws_wal_segment_check_filter_new(const ws_wal_name *name, const char *what, ws_sink *next, ws_err *err);

/* The page header a check filter passed (segments and .partial files, once
 * finished successfully); false otherwise. */
bool ws_wal_segment_check_filter_header(const ws_sink *filter, ws_wal_header *out);

#endif
