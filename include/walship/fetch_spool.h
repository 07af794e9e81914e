/*
 * fetch_spool.h - walship-fetch's prefetch spool: a private directory next
 * to the file PostgreSQL asked for (<directory of %p>/walship-spool/, so on
 * the same file system) where the prefetcher leaves complete, verified
 * segments for later calls to take with a rename.  Layout and rules are in
 * doc/format.md ("Prefetch spool") and doc/archive.md ("Prefetching").
 *
 * Safety rests on three rules:
 *  - only a complete segment, verified like a direct fetch and fsynced,
 *    ever carries a segment name in the spool (it is written as
 *    NAME.part-PID, locked by its writer, and renamed under the spool lock
 *    after checking that the spool still belongs to the same repository
 *    and still wants it);
 *  - a spool whose state (repository, key, cluster) differs from the
 *    caller's is emptied before use;
 *  - a segment is only ever served under its own name, after checking its
 *    size and page header again (name, timeline, address, system identifier).
 * Deleting is always safe: a file that vanishes is fetched directly.
 */
#ifndef WALSHIP_FETCH_SPOOL_H
#define WALSHIP_FETCH_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "walship/buf.h"
#include "walship/error.h"
#include "walship/key.h"
#include "walship/wal_name.h"
#include "walship/wal_segment.h"

#define WS_SPOOL_DIR_NAME  "walship-spool"
#define WS_SPOOL_NO_CAP    UINT64_MAX
#define WS_SPOOL_FIELD_MAX 1024

/* --- pure parts: the state and want files, entry names ---------------- */

/* Whom the spooled files belong to. */
typedef struct ws_spool_identity {
    char repo[WS_SPOOL_FIELD_MAX];     /* the repo URL */
    char endpoint[WS_SPOOL_FIELD_MAX]; /* s3_endpoint, "" when not set */
    char key_id[40];                   /* encryption key id in hex, "" without encryption */
    uint64_t sysid;                    /* the cluster's, from pg_control */
} ws_spool_identity;

typedef struct ws_spool_state {
    ws_spool_identity id;
    uint64_t generation; /* random, new each time the spool is (re)initialised */
} ws_spool_state;

/* Where recovery is, as walship-fetch last saw it: the prefetcher keeps
 * segments pos+1 .. pos+depth of timeline tli, below cap. */
typedef struct ws_spool_want {
    uint32_t tli;
    uint64_t pos;      /* segment number PostgreSQL was given last */
    uint32_t seg_size; /* bytes per segment */
    uint64_t cap;      /* first segment number not wanted (WS_SPOOL_NO_CAP) */
    unsigned depth;    /* the prefetch setting */
} ws_spool_want;

/* Text forms (kvrec.h; doc/format.md): format replaces out's content;
 * parse fails with WS_ERR_CORRUPT naming `what` on anything unexpected. */
int ws_fetch_spool_state_format(const ws_spool_state *s, ws_buf *out, ws_err *err);
int ws_fetch_spool_state_parse(const char *buf, size_t len, const char *what, ws_spool_state *out, ws_err *err);
int ws_fetch_spool_want_format(const ws_spool_want *w, ws_buf *out, ws_err *err);
int ws_fetch_spool_want_parse(const char *buf, size_t len, const char *what, ws_spool_want *out, ws_err *err);

bool ws_fetch_spool_identity_equal(const ws_spool_identity *a, const ws_spool_identity *b);

/* The identity of the spool for repository `repo` (its URL), s3_endpoint
 * `endpoint` (NULL when not set), encryption key `key` (NULL without) and
 * the cluster's sysid; false when a field does not fit. */
bool ws_fetch_spool_identity_make(const char *repo, const char *endpoint, const ws_key *key, uint64_t sysid,
                                  ws_spool_identity *out);
bool ws_fetch_spool_want_equal(const ws_spool_want *a, const ws_spool_want *b);

/* Whether segment number segno of timeline tli is in want's window. */
bool ws_fetch_spool_wants_segno(const ws_spool_want *w, uint32_t tli, uint64_t segno);

/* Same for a segment name. */
bool ws_fetch_spool_wants(const ws_spool_want *w, const ws_wal_name *seg);

typedef enum {
    WS_SPOOL_ENT_SEGMENT, /* a complete segment: its name */
    WS_SPOOL_ENT_PART,    /* NAME.part-PID: being written by PID */
    WS_SPOOL_ENT_CONTROL, /* lock, state, want, prefetcher, and their .tmp files */
    WS_SPOOL_ENT_OTHER    /* anything else (removed only with the whole spool) */
} ws_spool_entry_kind;

/* Classifies a directory entry; seg (segments and parts) and pid (parts)
 * may be NULL. */
ws_spool_entry_kind ws_fetch_spool_classify(const char *entry, ws_wal_name *seg, pid_t *pid);

/* --- the directory ---------------------------------------------------- */

typedef struct ws_spool ws_spool;

/* The spool directory for destination dest (PostgreSQL's %p): an absolute
 * path <dir of dest>/walship-spool. */
int ws_fetch_spool_dir_for(const char *dest, char *out, size_t len, ws_err *err);

/*
 * Opens the spool at dir; with create, makes it (mode 0700) when missing.
 * Returns 1 with *out set, 0 when it does not exist and create is false,
 * -1 when it cannot be used (not a directory, a symlink, another owner,
 * accessible to others).
 */
int ws_fetch_spool_open(const char *dir, bool create, ws_spool **out, ws_err *err);
void ws_fetch_spool_close(ws_spool *sp);
const char *ws_fetch_spool_path(const ws_spool *sp);

/* Reads the state and want files (replaced atomically, so no lock is
 * needed): 1 read, 0 absent, -1 error. */
int ws_fetch_spool_read_state(ws_spool *sp, ws_spool_state *out, ws_err *err);
int ws_fetch_spool_read_want(ws_spool *sp, ws_spool_want *out, ws_err *err);

/* Makes the spool belong to id: when its state differs (or is missing) every
 * file is removed and a new state with a new generation written. */
int ws_fetch_spool_adopt(ws_spool *sp, const ws_spool_identity *id, ws_err *err);

/* --- walship-fetch ---------------------------------------------------- */

/*
 * Serves segment seg from the spool: when a writer is fetching it right now,
 * waits for it (at most wait_max seconds); then checks the spooled file
 * (regular file of this user, size, page header against the name, system
 * identifier == sysid) and renames it to dest (no fsync: PostgreSQL fsyncs
 * what it keeps).  Returns 1 served (hdr filled), 0 not served (err says why
 * when something was wrong; a bad file is removed).
 */
int ws_fetch_spool_take(ws_spool *sp, const ws_wal_name *seg, const char *dest, uint64_t sysid, double wait_max,
                        ws_wal_header *hdr, ws_err *err);

/* After PostgreSQL got segment seg: makes the spool id's (as
 * ws_fetch_spool_adopt) and moves the window to seg (a new timeline empties the
 * spool first); a cap stays while seg is below it. */
int ws_fetch_spool_advance(ws_spool *sp, const ws_spool_identity *id, const ws_wal_name *seg, uint32_t seg_size,
                           unsigned depth, ws_err *err);

/*
 * Segments of the window's timeline from some point on will not be wanted:
 * removes them and keeps the prefetcher from fetching them.  At a segment:
 * PostgreSQL found it absent in archive recovery, the end of the archive.
 * At an LSN of timeline tli: where a newer timeline branches off, so from
 * the segment holding it PostgreSQL reads the newer timeline's files.
 * Ignored when the window is on another timeline or the cap is not past
 * its position.
 */
int ws_fetch_spool_limit_at_segment(ws_spool *sp, const ws_wal_name *seg, ws_err *err);
int ws_fetch_spool_limit_at_lsn(ws_spool *sp, uint32_t tli, uint64_t lsn, ws_err *err);

/* Whether a prefetcher holds the spool (its flock on `prefetcher`). */
bool ws_fetch_spool_prefetcher_running(ws_spool *sp);

/* --- the prefetcher ----------------------------------------------------- */

/* Claims the prefetcher role: 1 claimed (*fd holds the lock for the
 * process's life), 0 another prefetcher holds it, -1 error. */
int ws_fetch_spool_claim_prefetcher(ws_spool *sp, int *fd, ws_err *err);

/* Creates NAME.part-PID (PID = this process), locked before it appears
 * under that name (it is made as .NAME.part-PID); *fd and *path (malloc'd)
 * stay valid until ws_fetch_spool_publish or unlink. */
int ws_fetch_spool_part_create(ws_spool *sp, const char *name, int *fd, char **path, ws_err *err);

/* Under the spool lock: if the spool still has generation gen and still
 * wants seg, renames the (complete, verified, fsynced) part file to seg's
 * name: 1.  Otherwise removes the part file: 0. */
int ws_fetch_spool_publish(ws_spool *sp, const char *part_path, const ws_wal_name *seg, uint64_t gen, ws_err *err);

/* Removes part files and spooled segments not in want's window (want NULL:
 * all of them) and fills present[i] (i in 1..want->depth) with whether
 * segment pos+i is complete.  A part file whose writer still holds its lock
 * is kept unless remove_live. */
int ws_fetch_spool_sweep(ws_spool *sp, const ws_spool_want *want, bool *present, bool remove_live, ws_err *err);

/*
 * Under the spool lock, if want_seen (may be NULL) still equals the want
 * file: removes every file and the directory.  1 removed, 0 the want
 * changed meanwhile (nothing removed), -1 error.
 */
int ws_fetch_spool_remove(ws_spool *sp, const ws_spool_want *want_seen, ws_err *err);

#endif
