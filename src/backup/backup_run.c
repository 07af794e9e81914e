/* backup_run.c - walship-backup, start to complete record (backup_run.h). */
#include "walship/backup_run.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "walship/backup_history.h"
#include "walship/backup_preflight.h"
#include "walship/backup_progress.h"
#include "walship/backup_server.h"
#include "walship/backup_store.h"
#include "walship/backup_wal_wait.h"
#include "walship/basebackup_stream.h"
#include "walship/clock.h"
#include "walship/log.h"
#include "walship/repo_identity.h"
#include "walship/repo_keys.h"
#include "walship/tar_split.h"

#define POLL_WAIT     1.0 /* seconds a wait on the server lasts before checking signals */
#define MANIFEST_NAME "backup_manifest"
#define MANIFEST_HINT (16u << 20)

/* Set by SIGINT, SIGTERM and SIGHUP: the one piece of process state here. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
}

void ws_backup_run_opts_default(ws_backup_run_opts *o)
{
    memset(o, 0, sizeof *o);
    o->fast_checkpoint = true;
    o->object_size = WS_BACKUP_OBJECT_SIZE_DEFAULT;
    o->wal_timeout = WS_BACKUP_WAL_TIMEOUT_DEFAULT;
    o->archive_check = true;
    o->default_config = WS_DEFAULT_CONFIG_FILE;
}

typedef struct run {
    const ws_config *cfg;
    const ws_backup_run_opts *o;
    ws_repo *data; /* objects: written by the codec's worker threads */
    ws_repo *ctl;  /* records and WAL checks, from any thread under mu */
    ws_backup_progress *prog;
    ws_backup_self self;
    pthread_mutex_t mu; /* rec and ctl */
    ws_backup_record rec;
    bool rec_written; /* a running record exists: failures must clean up */
    double last_write;

    ws_backup_server *srv;
    ws_backup_server_info info;
    ws_backup_start start;
    ws_basebackup_stream bs;
    ws_tar_split *split; /* the archive being streamed */
    size_t arch;         /* its index in rec.archives */
    ws_repo_writer *w;   /* the object being written */
    char wkey[WS_KEY_MAX];
    bool manifest;
    uint64_t est_total;
    uint64_t received; /* archive bytes so far */
} run;

static int check_stop(ws_err *err)
{
    if (stop_signal)
        return ws_err_set(err, WS_ERR_INVALID, "stopped by signal %d (%s)", (int) stop_signal,
                          strsignal((int) stop_signal));
    return 0;
}

/* --- the record --------------------------------------------------------------------- */

/* Under r->mu. */
static int write_record_locked(run *r, ws_err *err)
{
    r->rec.heartbeat = ws_clock_wall();
    if (ws_backup_store_put(r->ctl, &r->rec, err) < 0)
        return -1;
    r->last_write = ws_clock_now();
    r->rec_written = true;
    return 0;
}

static int write_record(run *r, ws_err *err)
{
    int rc;

    pthread_mutex_lock(&r->mu);
    rc = write_record_locked(r, err);
    pthread_mutex_unlock(&r->mu);
    return rc;
}

/* Rewrites the running record when the last write is a heartbeat old. */
static int heartbeat(run *r, ws_err *err)
{
    if (check_stop(err) < 0)
        return -1;
    if (ws_clock_now() - r->last_write < WS_BACKUP_HEARTBEAT)
        return 0;
    return write_record(r, err);
}

/* ws_put_track callback: the upload of the object being written would
 * outlive a kill; its token is recorded before any data reaches it (may run
 * on a codec worker thread). */
static int track_upload(void *arg, const char *token, ws_err *err)
{
    run *r = arg;
    int rc = ws_err_set(err, WS_ERR_INVALID, "an upload of %s, which is not being written", r->wkey);

    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->rec.npending; i++) {
        ws_backup_pending *p = &r->rec.pending[i];

        if (strcmp(p->key, r->wkey) == 0) {
            free(p->token);
            p->token = strdup(token);
            rc = p->token ? write_record_locked(r, err) : ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            break;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static void drop_pending(run *r, const char *key)
{
    size_t j = 0;

    for (size_t i = 0; i < r->rec.npending; i++) {
        if (strcmp(r->rec.pending[i].key, key) == 0) {
            free(r->rec.pending[i].key);
            free(r->rec.pending[i].token);
        } else
            r->rec.pending[j++] = r->rec.pending[i];
    }
    r->rec.npending = j;
}

/* --- objects -------------------------------------------------------------------------- */

/* The key goes into the record before the object is opened: whatever a
 * kill leaves of it can be found (storage.h, ws_storage_abandon). */
static int object_open(run *r, const char *key, uint64_t hint, ws_err *err)
{
    int rc;

    snprintf(r->wkey, sizeof r->wkey, "%s", key);
    pthread_mutex_lock(&r->mu);
    rc = ws_backup_record_add_pending(&r->rec, key, NULL, err);
    if (rc == 0)
        rc = write_record_locked(r, err);
    pthread_mutex_unlock(&r->mu);
    if (rc < 0)
        return -1;
    return ws_repo_writer_open(r->data, key, hint, true, track_upload, r, &r->w, err);
}

/* Commits the object being written into ob (under mu). */
static int object_commit(run *r, ws_backup_object *(*slot)(run *), ws_err *err)
{
    ws_digest d;
    uint64_t stored;
    ws_backup_object *ob;
    int rc = ws_repo_writer_commit(r->w, &d, &stored, err);

    ws_repo_writer_free(r->w);
    r->w = NULL;
    if (rc < 0)
        return -1;
    pthread_mutex_lock(&r->mu);
    ob = slot(r);
    ob->size = d.size;
    ob->stored_size = stored;
    memcpy(ob->sha256, d.sha256, sizeof ob->sha256);
    drop_pending(r, r->wkey);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static ws_backup_object *last_piece(run *r)
{
    ws_backup_archive *a = &r->rec.archives[r->arch];

    return &a->objects[a->nobjects - 1];
}

static ws_backup_object *manifest_slot(run *r)
{
    return &r->rec.manifest;
}

/* --- the tar splitter's pieces ------------------------------------------------------------- */

static int piece_begin(void *arg, const ws_tar_piece *p, ws_err *err)
{
    run *r = arg;
    char key[WS_KEY_MAX];
    ws_backup_archive *a;
    ws_backup_object *ob;

    pthread_mutex_lock(&r->mu);
    a = &r->rec.archives[r->arch];
    snprintf(key, sizeof key, "backup/%s/%s.%08X.ws", r->rec.id, a->name, p->index);
    ob = ws_backup_archive_add_object(a, key, err);
    if (ob) {
        ob->tar_offset = p->tar_offset;
        if (p->continued) {
            ob->continued = true;
            ob->member_offset = p->member_offset;
            ob->member_size = p->member_size;
            ob->member_path = strdup(p->path);
            if (!ob->member_path)
                ob = NULL;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (!ob)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    return object_open(r, key, r->o->object_size, err);
}

static int piece_data(void *arg, const uint8_t *buf, size_t len, ws_err *err)
{
    run *r = arg;

    return ws_sink_write(ws_repo_writer_sink(r->w), buf, len, err);
}

static int piece_end(void *arg, uint64_t len, ws_err *err)
{
    run *r = arg;
    ws_backup_archive *a;

    (void) len;
    if (object_commit(r, last_piece, err) < 0)
        return -1;
    pthread_mutex_lock(&r->mu);
    a = &r->rec.archives[r->arch];
    a->tar_size += last_piece(r)->size;
    a->stored_size += last_piece(r)->stored_size;
    pthread_mutex_unlock(&r->mu);
    return heartbeat(r, err);
}

static const ws_tar_split_ops split_ops = {piece_begin, piece_data, piece_end};

/* --- the COPY stream's events ----------------------------------------------------------------- */

static int archive_end(run *r, ws_err *err)
{
    if (!r->split)
        return 0;
    if (ws_tar_split_finish(r->split, err) < 0)
        return -1;
    pthread_mutex_lock(&r->mu);
    r->rec.archives[r->arch].members = ws_tar_split_members(r->split);
    pthread_mutex_unlock(&r->mu);
    ws_tar_split_free(r->split);
    r->split = NULL;
    return 0;
}

/* "base.tar" for the data directory, "OID.tar" for a tablespace the server
 * listed with that location. */
static const ws_backup_tablespace *archive_tablespace(const run *r, const char *name, const char *location)
{
    char want[32];

    for (size_t i = 0; i < r->start.ntablespaces; i++) {
        const ws_backup_tablespace *t = &r->start.tablespaces[i];

        if (t->oid == 0)
            snprintf(want, sizeof want, "base.tar");
        else
            snprintf(want, sizeof want, "%" PRIu32 ".tar", t->oid);
        if (strcmp(want, name) == 0 && strcmp(t->location, location) == 0)
            return t;
    }
    return NULL;
}

static int on_archive(void *arg, const char *name, const char *location, ws_err *err)
{
    run *r = arg;
    const ws_backup_tablespace *t;
    ws_backup_archive *a;

    if (archive_end(r, err) < 0)
        return -1;
    t = archive_tablespace(r, name, location);
    if (!t)
        return ws_err_set(err, WS_ERR_FORMAT,
                          "BASE_BACKUP sent archive \"%.100s\" (location \"%.200s\"), which its tablespace list "
                          "does not have",
                          name, location);
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->rec.narchives; i++)
        if (strcmp(r->rec.archives[i].name, name) == 0) {
            pthread_mutex_unlock(&r->mu);
            return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP sent archive %s twice", name);
        }
    a = ws_backup_record_add_archive(&r->rec, name, err);
    if (a) {
        r->arch = r->rec.narchives - 1;
        a->est_size = t->size;
        if (t->oid) {
            a->tablespace = true;
            a->ts_oid = t->oid;
            if (!(a->ts_location = strdup(t->location)))
                a = NULL;
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (!a)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    r->split = ws_tar_split_new(name, r->o->object_size, &split_ops, r, err);
    return r->split ? 0 : -1;
}

static int on_data(void *arg, bool manifest, const uint8_t *buf, size_t len, ws_err *err)
{
    run *r = arg;

    if (manifest)
        return ws_sink_write(ws_repo_writer_sink(r->w), buf, len, err);
    /* The server's own reports ('p') come rarely; the bar follows the bytes. */
    r->received += len;
    ws_backup_progress_bytes(r->prog, r->received, r->est_total);
    return ws_tar_split_write(r->split, buf, len, err);
}

static int on_manifest(void *arg, ws_err *err)
{
    run *r = arg;
    char key[WS_KEY_MAX];

    if (archive_end(r, err) < 0)
        return -1;
    pthread_mutex_lock(&r->mu);
    r->rec.has_manifest = true;
    snprintf(key, sizeof key, "backup/%s/%s.ws", r->rec.id, MANIFEST_NAME);
    r->rec.manifest.key = strdup(key);
    pthread_mutex_unlock(&r->mu);
    if (!r->rec.manifest.key)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    r->manifest = true;
    return object_open(r, key, MANIFEST_HINT, err);
}

/* --- phases -------------------------------------------------------------------------------------- */

static int wait_checkpoint(void *arg, ws_err *err)
{
    return heartbeat(arg, err);
}

static int stream(run *r, ws_err *err)
{
    static const ws_basebackup_events ev = {on_archive, on_data, NULL, on_manifest};
    ws_backup_options bo = {
        .label = r->rec.label, .fast_checkpoint = r->o->fast_checkpoint, .max_rate_kb = r->o->max_rate_kb};
    char size[32];
    int n;

    ws_backup_progress_phase(r->prog, "starting the backup (%s checkpoint on the server)",
                             r->o->fast_checkpoint ? "fast" : "spread");
    if (ws_backup_server_start(r->srv, &bo, POLL_WAIT, wait_checkpoint, r, &r->start, err) < 0)
        return ws_err_prefix(err, "BASE_BACKUP");
    for (size_t i = 0; i < r->start.ntablespaces; i++)
        r->est_total += r->start.tablespaces[i].size;
    pthread_mutex_lock(&r->mu);
    r->rec.has_start = true;
    r->rec.start_lsn = r->start.lsn;
    r->rec.start_tli = r->start.tli;
    r->rec.db_size = r->est_total;
    {
        ws_wal_name w;

        ws_wal_name_from_segno(r->start.tli, r->start.lsn / r->rec.seg_size, r->rec.seg_size, &w);
        ws_wal_name_format(&w, r->rec.wal_first);
    }
    pthread_mutex_unlock(&r->mu);
    ws_backup_progress_size(r->est_total, size);
    ws_backup_progress_phase(r->prog, "streaming %zu archive%s (about %s) into backup %s", r->start.ntablespaces,
                             r->start.ntablespaces == 1 ? "" : "s", size, r->rec.id);
    ws_basebackup_stream_init(&r->bs, &ev, r);
    for (;;) {
        const uint8_t *msg;
        size_t len;

        n = ws_backup_server_next(r->srv, POLL_WAIT, &msg, &len, err);
        if (n < 0)
            return -1;
        if (n == 2)
            break;
        if (n == 1 && ws_basebackup_stream_feed(&r->bs, msg, len, err) < 0)
            return -1;
        if (heartbeat(r, err) < 0) /* and signals */
            return -1;
    }
    if (archive_end(r, err) < 0 || ws_basebackup_stream_end(&r->bs, true, err) < 0)
        return -1;
    if (object_commit(r, manifest_slot, err) < 0)
        return ws_err_prefix(err, "storing the backup manifest");
    ws_backup_progress_bytes(r->prog, r->received, r->received > r->est_total ? r->received : r->est_total);
    if (ws_backup_server_finish(r->srv, &r->rec.stop_lsn, &r->rec.stop_tli, err) < 0)
        return -1;
    if (r->rec.stop_tli != r->rec.start_tli)
        return ws_err_set(err, WS_ERR_INVALID, "the server's timeline changed during the backup (%u to %u)",
                          r->rec.start_tli, r->rec.stop_tli);
    return 0;
}

static int wal_progress(void *arg, unsigned done, unsigned total, double waited, ws_err *err)
{
    run *r = arg;

    ws_backup_progress_wal(r->prog, done, total, waited, r->o->wal_timeout);
    return heartbeat(r, err);
}

static void record_times(run *r, const char *history)
{
    ws_backup_history h;
    int64_t start, stop;
    ws_err e;

    if (ws_backup_history_parse(history, strlen(history), r->rec.history_file, &h, &e) < 0) {
        ws_log(WS_LOG_WARNING, "%s", e.msg);
        return;
    }
    r->rec.checkpoint_lsn = h.checkpoint_lsn;
    r->rec.start_time_server = strdup(h.start_time);
    r->rec.stop_time_server = strdup(h.stop_time);
    if (ws_backup_history_time(h.start_time, r->info.log_timezone, &start, &e) < 0 ||
        ws_backup_history_time(h.stop_time, r->info.log_timezone, &stop, &e) < 0) {
        ws_log(WS_LOG_WARNING, "backup %s: no start and stop times in the record: %s", r->rec.id, e.msg);
        return;
    }
    r->rec.has_times = true;
    r->rec.start_time = start;
    r->rec.stop_time = stop;
}

static int wait_wal(run *r, ws_err *err)
{
    ws_backup_wal_range range = {.tli = r->rec.start_tli,
                                 .start_lsn = r->rec.start_lsn,
                                 .stop_lsn = r->rec.stop_lsn,
                                 .seg_size = r->rec.seg_size};
    char first[WS_WAL_NAME_MAX], last[WS_WAL_NAME_MAX], hist[WS_WAL_NAME_MAX], *history = NULL;
    int rc;

    ws_backup_wal_wait_names(&range, first, last, hist);
    ws_backup_progress_phase(r->prog, "waiting up to %.0f s for WAL %s to %s and %s in the repository",
                             r->o->wal_timeout, first, last, hist);
    rc = ws_backup_wal_wait(r->ctl, &range, r->o->wal_timeout, wal_progress, r, &history, err);
    if (rc < 0)
        return -1;
    pthread_mutex_lock(&r->mu);
    r->rec.has_stop = true;
    snprintf(r->rec.wal_last, sizeof r->rec.wal_last, "%s", last);
    snprintf(r->rec.history_file, sizeof r->rec.history_file, "%s", hist);
    r->rec.checkpoint_lsn = r->rec.start_lsn;
    record_times(r, history);
    pthread_mutex_unlock(&r->mu);
    free(history);
    return 0;
}

static int complete(run *r, ws_err *err)
{
    uint64_t tar = 0, stored = r->rec.manifest.stored_size;

    for (size_t i = 0; i < r->rec.narchives; i++) {
        tar += r->rec.archives[i].tar_size;
        stored += r->rec.archives[i].stored_size;
    }
    pthread_mutex_lock(&r->mu);
    r->rec.tar_size = tar;
    r->rec.stored_size = stored;
    r->rec.finished_at = ws_clock_wall();
    ws_backup_record_clear_pending(&r->rec);
    r->rec.status = WS_BACKUP_COMPLETE;
    pthread_mutex_unlock(&r->mu);
    if (write_record(r, err) < 0) {
        r->rec.status = WS_BACKUP_RUNNING;
        return ws_err_prefix(err, "writing the complete record");
    }
    return 0;
}

/* --- set-up ----------------------------------------------------------------------------------------- */

static int check_server(run *r, ws_err *err)
{
    char note[600];
    ws_repo_identity mine;
    bool created;

    ws_backup_progress_phase(r->prog, "connecting to PostgreSQL");
    if (ws_backup_server_connect(r->cfg->pg_conninfo, &r->srv, err) < 0 ||
        ws_backup_server_info_get(r->srv, &r->info, err) < 0)
        return -1;
    if (ws_backup_preflight_server(&r->info, r->cfg, r->o->archive_check, r->o->default_config, note, sizeof note,
                                   err) < 0)
        return -1;
    if (*note)
        ws_log(WS_LOG_WARNING, "%s", note);
    mine.sysid = r->info.sysid;
    mine.pg_version = r->info.version_num / 10000;
    mine.seg_size = r->info.seg_size;
    if (ws_repo_identity_ensure(r->ctl, &mine, "the server", false, &created, NULL, err) < 0)
        return -1;
    return 0;
}

static void cleaned(void *arg, const char *id, const char *why, const ws_backup_cleanup *done)
{
    (void) arg;
    ws_log(WS_LOG_NOTICE, "removed what interrupted backup %s left (%s): %zu object%s, %zu upload%s", id, why,
           done->objects, done->objects == 1 ? "" : "s", done->uploads, done->uploads == 1 ? "" : "s");
}

static int begin_record(run *r, ws_err *err)
{
    uint32_t rnd;
    const ws_key *key = r->data->key;

    if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
        rnd = (uint32_t) ws_clock_now() ^ (uint32_t) r->self.pid << 12;
    r->rec.started_at = ws_clock_wall();
    ws_backup_catalog_make_id(r->rec.started_at, rnd, r->rec.id);
    r->rec.status = WS_BACKUP_RUNNING;
    if (r->o->label)
        r->rec.label = strdup(r->o->label);
    else if (asprintf(&r->rec.label, "walship-backup %s", r->rec.id) < 0)
        r->rec.label = NULL;
    r->rec.walship_version = strdup(WALSHIP_VERSION);
    r->rec.host = strdup(r->self.host);
    r->rec.boot_id = strdup(r->self.boot_id);
    if (!r->rec.label || !r->rec.walship_version || !r->rec.host || !r->rec.boot_id)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    r->rec.pid = r->self.pid;
    r->rec.pid_start = r->self.pid_start;
    r->rec.sysid = r->info.sysid;
    r->rec.pg_version_num = r->info.version_num;
    r->rec.seg_size = r->info.seg_size;
    r->rec.data_checksums = r->info.data_checksums;
    snprintf(r->rec.compress, sizeof r->rec.compress, "%s", r->data->compress == WS_COMPRESS_LZ4 ? "lz4" : "none");
    r->rec.encrypted = key != NULL;
    if (key)
        ws_key_id_hex(ws_key_id(key), r->rec.key_id);
    r->rec.object_size = r->o->object_size;
    if (write_record(r, err) < 0)
        return ws_err_prefix(err, "the repository is not writable");
    return 0;
}

/* After a failure: remove what this backup stored; the record says failed. */
static void discard(run *r, ws_err *err)
{
    ws_backup_cleanup done;
    ws_err e;
    char why[WS_ERR_MSG_MAX];

    ws_repo_writer_free(r->w); /* aborts the object in progress */
    r->w = NULL;
    if (!r->rec_written)
        return;
    snprintf(why, sizeof why, "%s", err->msg);
    if (ws_backup_store_discard(r->ctl, &r->rec, why, &done, &e) < 0) {
        ws_log(WS_LOG_WARNING,
               "could not remove what backup %s stored (%s); the next walship-backup or 'walship backups-clean' "
               "will",
               r->rec.id, e.msg);
        return;
    }
    ws_log(WS_LOG_NOTICE, "backup %s failed; removed its %zu object%s", r->rec.id, done.objects,
           done.objects == 1 ? "" : "s");
}

static void install_signals(struct sigaction old[3])
{
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &sa, &old[i]);
    signal(SIGPIPE, SIG_IGN);
}

static void restore_signals(const struct sigaction old[3])
{
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};

    for (int i = 0; i < 3; i++)
        sigaction(sigs[i], &old[i], NULL);
}

int ws_backup_run(const ws_config *cfg, const ws_backup_run_opts *o, ws_backup_record *result, ws_err *err)
{
    run *r = calloc(1, sizeof *r);
    struct sigaction old[3];
    int rc = -1, n;

    ws_backup_record_init(result);
    if (!r)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    r->cfg = cfg;
    r->o = o;
    pthread_mutex_init(&r->mu, NULL);
    ws_backup_record_init(&r->rec);
    install_signals(old);
    r->prog = ws_backup_progress_new(stderr, o->tty, o->quiet);
    if (!r->prog) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (o->object_size < WS_TAR_PIECE_MIN) {
        ws_err_set(err, WS_ERR_INVALID, "object size %" PRIu64 " is below the minimum of %u bytes", o->object_size,
                   WS_TAR_PIECE_MIN);
        goto out;
    }
    if (ws_backup_self_get(&r->self, err) < 0 || ws_repo_open(cfg, &r->data, err) < 0 ||
        ws_repo_open(cfg, &r->ctl, err) < 0 || check_server(r, err) < 0)
        goto out;
    n = ws_backup_store_clean_interrupted(r->ctl, &r->self, ws_clock_wall(), cleaned, r, err);
    if (n < 0)
        goto out;
    if (begin_record(r, err) < 0 || stream(r, err) < 0)
        goto fail;
    ws_backup_server_close(r->srv);
    r->srv = NULL;
    if (wait_wal(r, err) < 0 || complete(r, err) < 0)
        goto fail;
    {
        char lsn[18], tar[32], stored[32];

        ws_wal_name_format_lsn(r->rec.stop_lsn, lsn);
        ws_backup_progress_size(r->rec.tar_size, tar);
        ws_backup_progress_size(r->rec.stored_size, stored);
        ws_backup_progress_phase(r->prog, "backup %s complete: stop LSN %s, %s of tar stored in %s", r->rec.id, lsn,
                                 tar, stored);
    }
    *result = r->rec;
    ws_backup_record_init(&r->rec);
    rc = 0;
    goto out;
fail:
    ws_backup_progress_done(r->prog);
    ws_err_prefix(err, "backup %s", r->rec.id[0] ? r->rec.id : "(not started)");
    ws_backup_server_close(r->srv); /* the server ends BASE_BACKUP when we go */
    r->srv = NULL;
    discard(r, err);
out:
    ws_repo_writer_free(r->w);
    ws_tar_split_free(r->split);
    ws_backup_server_close(r->srv);
    ws_backup_start_free(&r->start);
    ws_backup_server_info_free(&r->info);
    ws_backup_record_free(&r->rec);
    ws_repo_close(r->data);
    ws_repo_close(r->ctl);
    ws_backup_progress_free(r->prog);
    pthread_mutex_destroy(&r->mu);
    restore_signals(old);
    free(r);
    return rc;
}
