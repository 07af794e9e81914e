/* backup_list.c - `walship backups` and `walship backups-clean` (backup_list.h). */
#include "walship/backup_list.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "walship/backup_progress.h"
#include "walship/backup_store.h"
#include "walship/clock.h"
#include "walship/wal_reader.h"

static void table_row(FILE *out, const ws_backup_record *r, const char *status)
{
    char stop_time[WS_WAL_TIME_TEXT_MAX] = "-", lsn[18] = "-", size[32] = "-", stored[32] = "-", dur[32] = "-",
         tli[16] = "-";

    if (r->has_stop) {
        ws_wal_name_format_lsn(r->stop_lsn, lsn);
        snprintf(tli, sizeof tli, "%" PRIu32, r->stop_tli);
    }
    if (r->has_times) {
        ws_wal_reader_time_format(r->stop_time, stop_time);
        stop_time[19] = '\0'; /* to the second */
        stop_time[10] = ' ';
    }
    if (r->db_size)
        ws_backup_progress_size(r->db_size, size);
    if (r->status == WS_BACKUP_COMPLETE)
        ws_backup_progress_size(r->stored_size, stored);
    if (r->finished_at > 0)
        snprintf(dur, sizeof dur, "%.0f s", r->finished_at - r->started_at);
    fprintf(out, "%-25s  %-11s  %-19s  %-12s  %3s  %10s  %10s  %8s\n", r->id, status, stop_time, lsn, tli, size, stored,
            dur);
}

int ws_backup_list_print(ws_repo *repo, bool json, FILE *out, ws_err *err)
{
    char **ids;
    size_t n;
    ws_backup_self self;
    json_t *arr = json ? json_array() : NULL;
    size_t bad = 0;
    ws_err first_bad;

    if (json && !arr)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    if (ws_backup_self_get(&self, err) < 0 || ws_backup_store_ids(repo, &ids, &n, err) < 0) {
        json_decref(arr);
        return -1;
    }
    if (!json)
        fprintf(out, "%-25s  %-11s  %-19s  %-12s  %3s  %10s  %10s  %8s\n", "ID", "STATUS", "STOP TIME (UTC)",
                "STOP LSN", "TLI", "SIZE", "STORED", "DURATION");
    for (size_t i = 0; i < n; i++) {
        ws_backup_record r;
        ws_err e;
        int found = ws_backup_store_get(repo, ids[i], &r, &e);
        const char *status;

        if (found <= 0) {
            if (found < 0 && e.code != WS_ERR_CORRUPT && e.code != WS_ERR_FORMAT && e.code != WS_ERR_KEY) {
                *err = e;
                ws_backup_store_ids_free(ids, n);
                json_decref(arr);
                return -1;
            }
            if (found < 0) {
                if (!bad++)
                    first_bad = e;
                if (!json)
                    fprintf(out, "%-25s  %-11s  %s\n", ids[i], "unreadable", e.msg);
            }
            continue;
        }
        status = ws_backup_status_name(r.status);
        if (ws_backup_store_interrupted(&r, &self, ws_clock_wall(), NULL, 0))
            status = "interrupted";
        if (json) {
            char *text = ws_backup_record_to_json(&r, false, err);
            json_t *j = text ? json_loads(text, 0, NULL) : NULL;

            free(text);
            if (!j || json_array_append_new(arr, j) < 0) {
                ws_backup_record_free(&r);
                ws_backup_store_ids_free(ids, n);
                json_decref(arr);
                return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            }
        } else
            table_row(out, &r, status);
        ws_backup_record_free(&r);
    }
    ws_backup_store_ids_free(ids, n);
    if (json) {
        char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

        json_decref(arr);
        if (!text)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        fprintf(out, "%s\n", text);
        free(text);
    }
    if (bad) {
        *err = first_bad;
        return ws_err_prefix(err, "%zu backup record%s cannot be read; the first", bad, bad == 1 ? "" : "s");
    }
    return 0;
}

static void said(void *arg, const char *id, const char *why, const ws_backup_cleanup *done)
{
    fprintf(arg, "removed what interrupted backup %s left (%s): %zu object%s, %zu upload%s\n", id, why, done->objects,
            done->objects == 1 ? "" : "s", done->uploads, done->uploads == 1 ? "" : "s");
}

int ws_backup_list_clean(ws_repo *repo, FILE *out, ws_err *err)
{
    ws_backup_self self;
    int n;

    if (ws_backup_self_get(&self, err) < 0)
        return -1;
    n = ws_backup_store_clean_interrupted(repo, &self, ws_clock_wall(), said, out, err);
    if (n < 0)
        return -1;
    if (n == 0)
        fprintf(out, "no interrupted backups\n");
    return 0;
}
