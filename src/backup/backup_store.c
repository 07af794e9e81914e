/* backup_store.c - backup records in a repository (backup_store.h). */
#include "walship/backup_store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/buf.h"
#include "walship/clock.h"
#include "walship/localfile.h"
#include "walship/proc.h"
#include "walship/repo_keys.h"

#define REMOVE_BATCH 1000

int ws_backup_store_put(ws_repo *repo, const ws_backup_record *r, ws_err *err)
{
    char key[WS_KEY_MAX];
    char *text;
    int rc;

    if (ws_backup_catalog_key(r->id, key, sizeof key, err) < 0)
        return -1;
    text = ws_backup_record_to_json(r, true, err);
    if (!text)
        return -1;
    rc = ws_repo_put_mem(repo, key, text, strlen(text), NULL, err);
    free(text);
    if (rc < 0)
        return ws_err_prefix(err, "writing the record of backup %s", r->id);
    return 0;
}

int ws_backup_store_get(ws_repo *repo, const char *id, ws_backup_record *out, ws_err *err)
{
    char key[WS_KEY_MAX], *text;
    size_t len;
    int rc;

    ws_backup_record_init(out);
    if (ws_backup_catalog_key(id, key, sizeof key, err) < 0)
        return -1;
    if (ws_repo_get_mem(repo, key, WS_BACKUP_RECORD_MAX, "a backup record", &text, &len, err) < 0)
        return err->code == WS_ERR_NOTFOUND ? 0 : -1;
    rc = ws_backup_record_from_json(text, len, key, out, err);
    free(text);
    if (rc == 0 && strcmp(out->id, id) != 0) {
        ws_backup_record_free(out);
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: the record is that of backup %s", key, out->id);
    }
    return rc < 0 ? -1 : 1;
}

typedef struct id_list {
    char **ids;
    size_t n, cap;
} id_list;

static int collect_id(const ws_list_entry *e, void *arg, ws_err *err)
{
    id_list *l = arg;
    char id[WS_BACKUP_ID_LEN + 1];

    if (e->is_prefix || ws_backup_catalog_id_of_key(e->key, id) < 0)
        return 0; /* not a record: ignored */
    if (ws_buf_grow_array((void **) &l->ids, &l->cap, l->n + 1, sizeof *l->ids, err) < 0)
        return -1;
    if (!(l->ids[l->n] = strdup(id)))
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

int ws_backup_store_ids(ws_repo *repo, char ***ids, size_t *n, ws_err *err)
{
    id_list l = {0};

    if (ws_storage_list(repo->st, WS_BACKUP_CATALOG_PREFIX, NULL, collect_id, &l, err) < 0) {
        ws_backup_store_ids_free(l.ids, l.n);
        return -1;
    }
    if (l.n)
        qsort(l.ids, l.n, sizeof *l.ids, cmp_str);
    *ids = l.ids;
    *n = l.n;
    return 0;
}

void ws_backup_store_ids_free(char **ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* --- who runs a backup --------------------------------------------------------- */

/* The process's start time (proc.h); 0 when it does not exist. */
static unsigned long long proc_start(long pid)
{
    unsigned long long start = 0;
    ws_err ignored;

    return ws_proc_read((pid_t) pid, NULL, &start, &ignored) == 0 ? start : 0;
}

int ws_backup_self_get(ws_backup_self *self, ws_err *err)
{
    char *boot;
    size_t len;
    ws_err ignored;

    memset(self, 0, sizeof *self);
    if (gethostname(self->host, sizeof self->host - 1) < 0)
        return ws_err_sys(err, errno, "gethostname");
    if (ws_localfile_read("/proc/sys/kernel/random/boot_id", 128, 0, &boot, &len, &ignored) > 0) {
        snprintf(self->boot_id, sizeof self->boot_id, "%.*s", (int) strcspn(boot, "\n"), boot);
        free(boot);
    }
    self->pid = (long) getpid();
    self->pid_start = proc_start(self->pid);
    if (!self->pid_start)
        return ws_err_set(err, WS_ERR_INTERNAL, "cannot read this process's start time from /proc/%ld/stat", self->pid);
    return 0;
}

bool ws_backup_store_interrupted(const ws_backup_record *r, const ws_backup_self *self, double now, char *why,
                                 size_t whylen)
{
    char dummy[8];

    if (!why) {
        why = dummy;
        whylen = sizeof dummy;
    }
    if (r->status != WS_BACKUP_RUNNING)
        return false;
    if (r->host && strcmp(r->host, self->host) == 0 && r->boot_id && *r->boot_id &&
        strcmp(r->boot_id, self->boot_id) == 0) {
        unsigned long long start = proc_start(r->pid);

        if (r->pid == self->pid && start == self->pid_start)
            return false; /* this very process */
        if (start == 0) {
            snprintf(why, whylen, "its process %ld on %s is gone", r->pid, r->host);
            return true;
        }
        if (start != r->pid_start) {
            snprintf(why, whylen, "its process %ld on %s is gone (the pid was reused)", r->pid, r->host);
            return true;
        }
        return false;
    }
    if (r->host && strcmp(r->host, self->host) == 0) {
        snprintf(why, whylen, "%s was restarted since", r->host);
        return true;
    }
    if (now - r->heartbeat > WS_BACKUP_STALE) {
        snprintf(why, whylen, "no sign of life from %s for %.0f s", r->host ? r->host : "its host", now - r->heartbeat);
        return true;
    }
    return false;
}

/* --- cleaning up ----------------------------------------------------------------- */

typedef struct key_batch {
    ws_repo *repo;
    char *keys[REMOVE_BATCH];
    size_t n;
    size_t removed;
} key_batch;

static int flush_batch(key_batch *b, ws_err *err)
{
    int rc = b->n ? ws_storage_remove(b->repo->st, (const char *const *) b->keys, b->n, err) : 0;

    if (rc == 0)
        b->removed += b->n;
    for (size_t i = 0; i < b->n; i++)
        free(b->keys[i]);
    b->n = 0;
    return rc;
}

static int batch_key(const ws_list_entry *e, void *arg, ws_err *err)
{
    key_batch *b = arg;

    if (e->is_prefix)
        return 0;
    if (!(b->keys[b->n] = strdup(e->key)))
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    b->n++;
    return b->n == REMOVE_BATCH ? 1 : 0; /* full: stop, remove, list again */
}

int ws_backup_store_discard(ws_repo *repo, ws_backup_record *r, const char *why, ws_backup_cleanup *done, ws_err *err)
{
    char dir[64];
    key_batch *b;
    int rc = -1;

    memset(done, 0, sizeof *done);
    for (size_t i = 0; i < r->npending; i++) {
        if (ws_storage_abandon(repo->st, r->pending[i].key, r->pending[i].token, err) < 0)
            return ws_err_prefix(err, "backup %s: abandoning an upload", r->id);
        done->uploads += r->pending[i].token != NULL;
    }
    if (ws_backup_catalog_dir(r->id, dir, sizeof dir, err) < 0)
        return -1;
    b = calloc(1, sizeof *b);
    if (!b)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    b->repo = repo;
    /* Listing once, removing after: a driver's listing need not survive
     * removals under it.  Batches keep memory bounded on huge backups. */
    for (;;) {
        size_t before = b->removed;

        if (ws_storage_list(repo->st, dir, NULL, batch_key, b, err) < 0)
            goto out;
        if (flush_batch(b, err) < 0)
            goto out;
        if (b->removed == before)
            break;
    }
    done->objects = b->removed;
    ws_backup_record_clear_pending(r);
    r->status = WS_BACKUP_FAILED;
    if (r->finished_at < r->started_at)
        r->finished_at = ws_clock_wall();
    free(r->error);
    r->error = strdup(why);
    if (!r->error) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    rc = ws_backup_store_put(repo, r, err);
out:
    for (size_t i = 0; i < b->n; i++)
        free(b->keys[i]);
    free(b);
    return rc;
}

int ws_backup_store_clean_interrupted(ws_repo *repo, const ws_backup_self *self, double now, ws_backup_cleaned_cb cb,
                                      void *arg, ws_err *err)
{
    char **ids;
    size_t n;
    int cleaned = 0, rc = 0;

    if (ws_backup_store_ids(repo, &ids, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n && rc == 0; i++) {
        ws_backup_record r;
        char why[300], msg[900];
        ws_backup_cleanup done;
        int found = ws_backup_store_get(repo, ids[i], &r, err);

        if (found < 0) {
            /* A damaged record is reported by listings, not removed here. */
            if (err->code == WS_ERR_CORRUPT || err->code == WS_ERR_FORMAT)
                continue;
            rc = -1;
            break;
        }
        if (found == 0)
            continue;
        if (ws_backup_store_interrupted(&r, self, now, why, sizeof why)) {
            snprintf(msg, sizeof msg, "interrupted (%s); its objects were removed by process %ld on %s", why, self->pid,
                     self->host);
            if (ws_backup_store_discard(repo, &r, msg, &done, err) < 0)
                rc = -1;
            else {
                cleaned++;
                if (cb)
                    cb(arg, ids[i], why, &done);
            }
        }
        ws_backup_record_free(&r);
    }
    ws_backup_store_ids_free(ids, n);
    return rc < 0 ? -1 : cleaned;
}
