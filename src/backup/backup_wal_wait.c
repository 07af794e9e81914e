/* backup_wal_wait.c - the WAL a backup needs, durable in the repository (backup_wal_wait.h). */
#include "walship/backup_wal_wait.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/backup_history.h"
#include "walship/clock.h"
#include "walship/repo_keys.h"

/* Seconds between rounds, doubling up to PAUSE_MAX: the last segment and the
 * history file usually arrive within a second or two of the stream's end, and
 * every second waited is part of the backup's duration; a round costs one or
 * two reads (HEADs on S3). */
#define PAUSE_MIN 0.1
#define PAUSE_MAX 1.0

void ws_backup_wal_wait_names(const ws_backup_wal_range *r, char first[WS_WAL_NAME_MAX], char last[WS_WAL_NAME_MAX],
                              char history[WS_WAL_NAME_MAX])
{
    ws_wal_name w;

    ws_wal_name_from_segno(r->tli, r->start_lsn / r->seg_size, r->seg_size, &w);
    ws_wal_name_format(&w, first);
    w.kind = WS_WAL_BACKUP;
    w.offset = (uint32_t) (r->start_lsn % r->seg_size);
    ws_wal_name_format(&w, history);
    ws_wal_name_from_segno(r->tli, (r->stop_lsn - 1) / r->seg_size, r->seg_size, &w);
    ws_wal_name_format(&w, last);
}

/* One file's state: 1 durable, 0 not yet (why says what was seen), -1 error
 * that waiting cannot fix. */
static int check_segment(ws_repo *repo, const char *name, uint32_t seg_size, char *why, size_t whylen, ws_err *err)
{
    char key[WS_KEY_MAX];
    ws_digest d;
    ws_err e;
    int found;

    if (ws_repo_keys_wal(name, key, sizeof key, err) < 0)
        return -1;
    found = ws_repo_stat_checked(repo, key, &d, NULL, &e);
    if (found < 0) {
        snprintf(why, whylen, "%s", e.msg);
        return 0;
    }
    if (found == 0) {
        snprintf(why, whylen, "not archived yet");
        return 0;
    }
    if (d.size != seg_size) {
        snprintf(why, whylen, "stored with %" PRIu64 " bytes, not %" PRIu32, d.size, seg_size);
        return 0;
    }
    return 1;
}

static int fetch_history(ws_repo *repo, const char *name, const ws_backup_wal_range *r, char **text, char *why,
                         size_t whylen, ws_err *err)
{
    char key[WS_KEY_MAX], *data;
    size_t len;
    ws_err e;
    ws_backup_history h;

    if (ws_repo_keys_wal(name, key, sizeof key, err) < 0)
        return -1;
    if (ws_repo_get_mem(repo, key, WS_BACKUP_HISTORY_MAX, "a backup history file", &data, &len, &e) < 0) {
        snprintf(why, whylen, "%s", e.code == WS_ERR_NOTFOUND ? "not archived yet" : e.msg);
        return 0;
    }
    if (ws_backup_history_parse(data, len, name, &h, &e) < 0) {
        snprintf(why, whylen, "%s", e.msg);
        free(data);
        return 0;
    }
    if (h.start_lsn != r->start_lsn || h.stop_lsn != r->stop_lsn || h.start_tli != r->tli || h.stop_tli != r->tli) {
        snprintf(why, whylen, "it describes another backup (its LSNs or timelines differ)");
        free(data);
        return 0;
    }
    *text = data;
    return 1;
}

int ws_backup_wal_wait(ws_repo *repo, const ws_backup_wal_range *r, double timeout, ws_backup_wal_wait_cb cb, void *arg,
                       char **history, ws_err *err)
{
    char first[WS_WAL_NAME_MAX], last[WS_WAL_NAME_MAX], hist[WS_WAL_NAME_MAX], why[WS_ERR_MSG_MAX] = "";
    char missing[WS_WAL_NAME_MAX] = "";
    uint64_t seg0 = r->start_lsn / r->seg_size, seg1 = (r->stop_lsn - 1) / r->seg_size, next = seg0, nmissing = 0;
    unsigned total = (unsigned) (seg1 - seg0 + 2), done = 0;
    double t0 = ws_clock_now(), pause = PAUSE_MIN;

    *history = NULL;
    if (r->stop_lsn <= r->start_lsn)
        return ws_err_set(err, WS_ERR_INVALID, "stop LSN is not after start LSN");
    ws_backup_wal_wait_names(r, first, last, hist);
    for (;;) {
        /* Segments in order: the first one missing is where the archiver is. */
        while (next <= seg1) {
            ws_wal_name w;
            char name[WS_WAL_NAME_MAX];
            int rc;

            ws_wal_name_from_segno(r->tli, next, r->seg_size, &w);
            ws_wal_name_format(&w, name);
            rc = check_segment(repo, name, r->seg_size, why, sizeof why, err);
            if (rc < 0)
                return -1;
            if (rc == 0) {
                snprintf(missing, sizeof missing, "%s", name);
                break;
            }
            next++;
            done++;
        }
        nmissing = seg1 + 1 - next;
        if (!*history) {
            char hwhy[WS_ERR_MSG_MAX];
            int rc = fetch_history(repo, hist, r, history, hwhy, sizeof hwhy, err);

            if (rc < 0)
                return -1;
            if (rc == 1)
                done++;
            else if (nmissing == 0) {
                snprintf(missing, sizeof missing, "%s", hist);
                snprintf(why, sizeof why, "%s", hwhy);
            }
        }
        if (cb && cb(arg, done, total, ws_clock_now() - t0, err) < 0)
            return -1;
        if (nmissing == 0 && *history)
            return 0;
        if (ws_clock_now() - t0 >= timeout) {
            free(*history);
            *history = NULL;
            if (nmissing)
                return ws_err_set(err, WS_ERR_TRANSIENT,
                                  "the WAL this backup needs (%s to %s) did not reach the repository within %.0f s: "
                                  "%s is missing (%s; %" PRIu64 " segment%s missing in all); is "
                                  "archive_command = 'walship-push %%p' working? (see pg_stat_archiver and the "
                                  "server log)",
                                  first, last, timeout, missing, why, nmissing, nmissing == 1 ? "" : "s");
            return ws_err_set(err, WS_ERR_TRANSIENT,
                              "the backup history file %s did not reach the repository within %.0f s (%s); is "
                              "archive_command = 'walship-push %%p' working? (see pg_stat_archiver)",
                              hist, timeout, why);
        }
        ws_clock_sleep(pause);
        if (pause < PAUSE_MAX)
            pause *= 2;
    }
}
