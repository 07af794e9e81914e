/* pitr_report.c - the plan and the restore, for people and as JSON (pitr_report.h). */
#include "walship/pitr_report.h"

#include <inttypes.h>
#include <string.h>

#include "walship/backup_progress.h"
#include "walship/pg_time.h"

static const char *kind_text(ws_wal_rec_kind k)
{
    switch (k) {
    case WS_WAL_REC_COMMIT:
        return "commit";
    case WS_WAL_REC_COMMIT_PREPARED:
        return "commit of prepared transaction";
    case WS_WAL_REC_ABORT:
        return "abort";
    case WS_WAL_REC_ABORT_PREPARED:
        return "rollback of prepared transaction";
    case WS_WAL_REC_RESTORE_POINT:
        return "restore point";
    case WS_WAL_REC_SWITCH:
        return "WAL switch";
    default:
        return "record";
    }
}

static bool is_xact(ws_wal_rec_kind k)
{
    return k == WS_WAL_REC_COMMIT || k == WS_WAL_REC_COMMIT_PREPARED || k == WS_WAL_REC_ABORT ||
           k == WS_WAL_REC_ABORT_PREPARED;
}

/* "commit of transaction 812 at 0/8012345 (timeline 1), 2024-05-01 10:00:00.401223+00" */
static void rec_text(const ws_pitr_rec *r, char *out, size_t len)
{
    char lsn[18], t[WS_PG_TIME_TEXT_MAX];

    ws_wal_name_format_lsn(r->lsn, lsn);
    ws_pg_time_format_utc(r->time, t);
    if (is_xact(r->kind))
        snprintf(out, len, "%s of transaction %" PRIu32 " at %s (timeline %" PRIu32 "), %s", kind_text(r->kind), r->xid,
                 lsn, r->tli, t);
    else if (r->kind == WS_WAL_REC_RESTORE_POINT)
        snprintf(out, len, "restore point \"%s\" at %s (timeline %" PRIu32 "), %s", r->name, lsn, r->tli, t);
    else
        snprintf(out, len, "the %s at %s (timeline %" PRIu32 ")", kind_text(r->kind), lsn, r->tli);
}

const char *ws_pitr_report_action(const ws_pitr_report *r)
{
    if (r->plan->status == WS_PITR_PLAN_FORCED)
        return "pause";
    return ws_pitr_action_name(r->opts->action);
}

static const ws_backup_record *chosen(const ws_pitr_report *r)
{
    return r->plan->backup < r->src->nbackups ? &r->src->backups[r->plan->backup] : NULL;
}

/* What the server does at the end, in words. */
static void end_text(const ws_pitr_report *r, char *out, size_t len)
{
    const ws_pitr_plan *p = r->plan;

    if (p->status == WS_PITR_PLAN_FORCED) {
        snprintf(out, len,
                 "FORCED: recovery stops at the furthest point before the gap and PAUSES (recovery_target_action = "
                 "pause); the data after it is lost unless the missing WAL is found");
        return;
    }
    if (p->target.kind == WS_PITR_LATEST) {
        snprintf(out, len,
                 "the server replays to the end of the archive and PROMOTES (with no target PostgreSQL promotes "
                 "whatever recovery_target_action says)");
        return;
    }
    switch (r->opts->action) {
    case WS_PITR_ACTION_PAUSE:
        snprintf(out, len,
                 "the server PAUSES at the target, read-only, for you to check (recovery_target_action = pause; that "
                 "needs hot_standby = on, PostgreSQL's default, else it shuts down); then run "
                 "SELECT pg_wal_replay_resume() to promote");
        break;
    case WS_PITR_ACTION_PROMOTE:
        snprintf(out, len, "the server PROMOTES at the target and starts a new timeline");
        break;
    case WS_PITR_ACTION_SHUTDOWN:
        snprintf(out, len, "the server SHUTS DOWN at the target (start it again to promote)");
        break;
    }
}

static void archive_text(const ws_pitr_report *r, char *out, size_t len)
{
    if (r->plan->status == WS_PITR_PLAN_FORCED || r->opts->archive_mode == WS_PITR_ARCHIVE_OFF)
        snprintf(out, len,
                 "off (archive_mode = off: the restored server archives nothing, so a scratch restore never writes "
                 "a new timeline into this repository)");
    else
        snprintf(out, len,
                 "preserved (the backup's archive settings stay: once promoted, the restored server archives its new "
                 "timeline -- into this repository if that is where its archive_command points; for an incident "
                 "where it becomes the primary)");
}

static double estimate_restore(const ws_pitr_report *r)
{
    const ws_backup_record *b = chosen(r);

    return b ? (double) b->tar_size / WS_PITR_RESTORE_RATE : 0;
}

static double estimate_replay(const ws_pitr_report *r)
{
    double rate = WS_PITR_REPLAY_RATE;

    /* Planning read segments: fetching them may be the slower part. */
    if (r->stats.segment_seconds > 0.05 && r->stats.segment_bytes > 0) {
        double fetch = (double) r->stats.segment_bytes / r->stats.segment_seconds;

        if (fetch < rate)
            rate = fetch;
    }
    return (double) r->plan->wal_bytes / rate;
}

static void path_text(const ws_pitr_plan *p, char *out, size_t len)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < p->path.n && o < len; i++) {
        const ws_tli_entry *e = &p->path.e[i];
        char lsn[18];

        if (i + 1 < p->path.n) {
            ws_wal_name_format_lsn(e->end, lsn);
            o += (size_t) snprintf(out + o, len - o, "timeline %" PRIu32 " to %s, then ", e->tli, lsn);
        } else
            o += (size_t) snprintf(out + o, len - o, "timeline %" PRIu32, e->tli);
    }
}

void ws_pitr_report_text(FILE *out, const ws_pitr_report *r)
{
    const ws_pitr_plan *p = r->plan;
    const ws_backup_record *b = chosen(r);
    char line[2048], a[WS_PG_TIME_TEXT_MAX], c[WS_PG_TIME_TEXT_MAX], s1[32], s2[32], lsn[18];

    fprintf(out, "pitr-restore plan (%s)\n",
            p->status == WS_PITR_PLAN_OK ? "complete" : ws_pitr_status_name(p->status));
    ws_pitr_target_describe(&p->target, line, sizeof line);
    fprintf(out, "  target:       %s\n", line);
    if (p->target.kind == WS_PITR_TIME) {
        ws_pg_time_format_local(p->target.time, a);
        fprintf(out, "                = %s local time (given as '%s')\n", a, p->target.given);
    }
    if (p->status != WS_PITR_PLAN_OK)
        fprintf(out, "  PROBLEM:      %s\n", p->problem);
    if (b) {
        ws_wal_name_format_lsn(b->stop_lsn, lsn);
        if (b->has_times)
            ws_pg_time_format_utc(b->stop_time, a);
        fprintf(out, "  backup:       %s (timeline %" PRIu32 ", consistent at %s%s%s)\n", b->id, b->start_tli, lsn,
                b->has_times ? ", " : "", b->has_times ? a : "");
        fprintf(out, "                chosen: %s\n", p->backup_why);
        ws_backup_progress_size(b->tar_size, s1);
        ws_backup_progress_size(b->stored_size, s2);
        fprintf(out, "                %s of data directory and tablespaces, %s stored, %zu archive%s\n", s1, s2,
                b->narchives, b->narchives == 1 ? "" : "s");
    }
    for (size_t i = 0; i < p->nrejected; i++)
        fprintf(out, "  %s %s: %s\n", i == 0 ? "not chosen:  " : "             ", p->rejected[i].id,
                p->rejected[i].why);
    for (size_t i = 0; i < r->src->nbad; i++)
        fprintf(out, "  unreadable:   %s: %s\n", r->src->bad[i].id, r->src->bad[i].why);
    if (p->status == WS_PITR_PLAN_AMBIGUOUS) {
        for (size_t i = 0; i < p->noutcomes; i++) {
            const ws_pitr_outcome *o = &p->outcomes[i];
            size_t n = 0;

            line[0] = '\0';
            for (size_t k = 0; k < o->ntlis; k++)
                n += (size_t) snprintf(line + n, sizeof line - n, "%s%" PRIu32, k ? ", " : "", o->tlis[k]);
            if (o->has_times) {
                ws_pg_time_format_utc(o->time_first, a);
                ws_pg_time_format_utc(o->time_last, c);
            }
            fprintf(out, "  path:         --target-timeline %" PRIu32 " (timeline%s %s): %s%s%s%s%s\n", o->tli,
                    o->ntlis > 1 ? "s" : "", line, o->what, o->has_times ? "; its commits from " : "",
                    o->has_times ? a : "", o->has_times ? " to " : "", o->has_times ? c : "");
        }
    }
    if (b && p->status != WS_PITR_PLAN_AMBIGUOUS) {
        path_text(p, line, sizeof line);
        fprintf(out, "  timeline:     %" PRIu32 " (recovery_target_timeline = %" PRIu32 "); path: %s%s\n", p->timeline,
                p->timeline, line, p->path_has_history || p->timeline == 1 ? "" : " (no history file archived)");
        ws_backup_progress_size(p->wal_bytes, s1);
        ws_backup_progress_size(p->wal_stored, s2);
        if (p->wal_count)
            fprintf(out, "  WAL:          %s .. %s: %" PRIu64 " segment%s, %s (%s stored), proven in the archive\n",
                    p->wal_first, p->wal_last, p->wal_count, p->wal_count == 1 ? "" : "s", s1, s2);
        if (p->stop.set) {
            rec_text(&p->stop, line, sizeof line);
            fprintf(out, "  stop point:   %s %s\n", p->stop_after ? "after" : "before", line);
        } else if (p->target.kind == WS_PITR_IMMEDIATE) {
            ws_wal_name_format_lsn(p->stop_lsn, lsn);
            fprintf(out, "  stop point:   the backup's consistency point, %s\n", lsn);
        } else {
            ws_wal_name_format_lsn(p->stop_lsn, lsn);
            fprintf(out, "  stop point:   the end of the archive, %s\n", lsn);
        }
        if (p->last_kept.set) {
            rec_text(&p->last_kept, line, sizeof line);
            fprintf(out, "  last kept:    %s\n", line);
        }
        if (p->target.kind == WS_PITR_TIME && p->stop.set && is_xact(p->stop.kind)) {
            rec_text(&p->stop, line, sizeof line);
            fprintf(out, "  first lost:   %s\n", line);
        }
        if (p->has_newest) {
            ws_pg_time_format_utc(p->newest_time, a);
            ws_wal_name_format_lsn(p->archive_end_lsn, lsn);
            if (p->target.kind == WS_PITR_LATEST)
                fprintf(out,
                        "  data loss:    what was never archived: the archive ends at %s, its newest commit at %s\n",
                        lsn, a);
            else if (p->status == WS_PITR_PLAN_OK || p->status == WS_PITR_PLAN_FORCED) {
                ws_backup_progress_size(p->wal_after * (uint64_t) r->src->seg_size, s1);
                fprintf(out,
                        "  data loss:    everything after the stop point: %" PRIu64 " more segment%s archived (%s), "
                        "commits up to %s (the archive ends at %s)\n",
                        p->wal_after, p->wal_after == 1 ? "" : "s", s1, a, lsn);
            }
        }
        if (p->status == WS_PITR_PLAN_GAP || p->status == WS_PITR_PLAN_FORCED) {
            fprintf(out, "  gap:          %s\n", p->gap_why);
            if (p->furthest.set) {
                rec_text(&p->furthest, line, sizeof line);
                fprintf(out, "  furthest:     %s\n", line);
            }
        }
        if (p->status == WS_PITR_PLAN_OK || p->status == WS_PITR_PLAN_FORCED) {
            end_text(r, line, sizeof line);
            fprintf(out, "  at the end:   %s\n", line);
            archive_text(r, line, sizeof line);
            fprintf(out, "  archiving:    %s\n", line);
            fprintf(out,
                    "  estimate:     restore about %.0f s, replay about %.0f s (from sizes and the rates measured "
                    "in doc/benchmarks.md)\n",
                    estimate_restore(r) + 0.5, estimate_replay(r) + 0.5);
        }
    }
    if (r->manifest_known && !r->has_postgresql_conf)
        fprintf(out, "  note:         the backup holds no postgresql.conf (a Debian cluster keeps it in "
                     "/etc/postgresql/15/<cluster>/): start the restored server with your configuration, see "
                     "doc/restore.md\n");
    for (size_t i = 0; i < p->nnotes; i++)
        fprintf(out, "  note:         %s\n", p->notes[i]);
    fprintf(out,
            "  requests:     %" PRIu64 " storage requests (%" PRIu64 " GET, %" PRIu64 " HEAD, %" PRIu64
            " LIST): %" PRIu64 " index entries, %" PRIu64 " segments read%s\n",
            ws_storage_counts_total(&r->stats.ops), r->stats.ops.get, r->stats.ops.head, r->stats.ops.list,
            p->index_reads, p->segment_reads, r->stats.computed ? " (some segments had no index entry)" : "");
}

void ws_pitr_report_text_result(FILE *out, const ws_pitr_report *r)
{
    char s1[32];

    if (r->result && r->result->done) {
        const ws_pitr_result *x = r->result;

        ws_backup_progress_size(x->tar_bytes, s1);
        fprintf(out, "restored into %s in %.1f s: %s, %" PRIu64 " files, verified against the backup manifest\n",
                r->opts->pgdata, x->seconds, s1, x->files);
        for (size_t i = 0; i < x->nts; i++)
            fprintf(out, "  tablespace:   %s\n", x->ts_dirs[i]);
        if (x->removed)
            fprintf(out, "  --force:      %lu entries removed from the data directory first\n", x->removed);
        fprintf(out, "  config:       %s (for restore_command)\n", x->walship_conf);
        for (size_t i = 0; i < x->nsettings; i++)
            fprintf(out, "  set:          %s = '%s'\n", x->settings[i].name, x->settings[i].value);
        if (x->commented)
            fprintf(out, "  commented:    %u earlier line%s of postgresql.auto.conf\n", x->commented,
                    x->commented == 1 ? "" : "s");
        fprintf(out,
                "  next:         start the server (pg_ctl -D %s start, or your service); recovery runs through "
                "walship-fetch\n",
                r->opts->pgdata);
    }
}

/* --- JSON ------------------------------------------------------------------ */

static json_t *lsn_json(uint64_t lsn)
{
    char t[18];

    ws_wal_name_format_lsn(lsn, t);
    return json_string(t);
}

static json_t *time_json(int64_t ts)
{
    char t[WS_PG_TIME_TEXT_MAX];

    ws_pg_time_format_utc(ts, t);
    return json_string(t);
}

static json_t *rec_json(const ws_pitr_rec *r)
{
    json_t *o;

    if (!r->set)
        return json_null();
    o = json_object();
    json_object_set_new(o, "kind", json_string(kind_text(r->kind)));
    json_object_set_new(o, "timeline", json_integer(r->tli));
    json_object_set_new(o, "lsn", lsn_json(r->lsn));
    json_object_set_new(o, "end_lsn", lsn_json(r->end_lsn));
    if (is_xact(r->kind)) {
        json_object_set_new(o, "xid", json_integer(r->xid));
        json_object_set_new(o, "time", time_json(r->time));
    } else if (r->kind == WS_WAL_REC_RESTORE_POINT) {
        json_object_set_new(o, "name", json_string(r->name));
        json_object_set_new(o, "time", time_json(r->time));
    }
    return o;
}

json_t *ws_pitr_report_json(const ws_pitr_report *r)
{
    const ws_pitr_plan *p = r->plan;
    const ws_backup_record *b = chosen(r);
    json_t *o = json_object(), *t = json_object(), *arr, *x;
    char line[2048];

    if (!o || !t)
        return NULL;
    json_object_set_new(o, "status", json_string(ws_pitr_status_name(p->status)));
    json_object_set_new(o, "complete", json_boolean(p->status == WS_PITR_PLAN_OK));
    if (p->status != WS_PITR_PLAN_OK)
        json_object_set_new(o, "problem", json_string(p->problem));
    json_object_set_new(t, "kind", json_string(ws_pitr_target_kind_name(p->target.kind)));
    json_object_set_new(t, "given", json_string(p->target.given));
    json_object_set_new(t, "inclusive", json_boolean(p->target.inclusive));
    if (p->target.kind == WS_PITR_TIME)
        json_object_set_new(t, "time", time_json(p->target.time));
    json_object_set_new(o, "target", t);
    if (b) {
        x = json_object();
        json_object_set_new(x, "id", json_string(b->id));
        json_object_set_new(x, "timeline", json_integer(b->start_tli));
        json_object_set_new(x, "start_lsn", lsn_json(b->start_lsn));
        json_object_set_new(x, "stop_lsn", lsn_json(b->stop_lsn));
        if (b->has_times)
            json_object_set_new(x, "stop_time", time_json(b->stop_time));
        json_object_set_new(x, "why", json_string(p->backup_why));
        json_object_set_new(x, "tar_size", json_integer((json_int_t) b->tar_size));
        json_object_set_new(x, "stored_size", json_integer((json_int_t) b->stored_size));
        json_object_set_new(o, "backup", x);
    }
    arr = json_array();
    for (size_t i = 0; i < p->nrejected; i++) {
        x = json_object();
        json_object_set_new(x, "id", json_string(p->rejected[i].id));
        json_object_set_new(x, "why", json_string(p->rejected[i].why));
        json_array_append_new(arr, x);
    }
    json_object_set_new(o, "rejected", arr);
    arr = json_array();
    for (size_t i = 0; i < r->src->nbad; i++) {
        x = json_object();
        json_object_set_new(x, "id", json_string(r->src->bad[i].id));
        json_object_set_new(x, "why", json_string(r->src->bad[i].why));
        json_array_append_new(arr, x);
    }
    json_object_set_new(o, "unreadable", arr);
    if (p->status == WS_PITR_PLAN_AMBIGUOUS) {
        arr = json_array();
        for (size_t i = 0; i < p->noutcomes; i++) {
            const ws_pitr_outcome *oc = &p->outcomes[i];
            json_t *tl = json_array();

            x = json_object();
            json_object_set_new(x, "target_timeline", json_integer(oc->tli));
            for (size_t k = 0; k < oc->ntlis; k++)
                json_array_append_new(tl, json_integer(oc->tlis[k]));
            json_object_set_new(x, "timelines", tl);
            json_object_set_new(x, "reaches_target", json_boolean(oc->reached));
            json_object_set_new(x, "at_timeline", json_integer(oc->at_tli));
            json_object_set_new(x, "at_lsn", lsn_json(oc->at_lsn));
            if (oc->has_times) {
                json_object_set_new(x, "commits_from", time_json(oc->time_first));
                json_object_set_new(x, "commits_to", time_json(oc->time_last));
            }
            json_object_set_new(x, "what", json_string(oc->what));
            json_array_append_new(arr, x);
        }
        json_object_set_new(o, "paths", arr);
    }
    if (b && p->status != WS_PITR_PLAN_AMBIGUOUS) {
        json_object_set_new(o, "timeline", json_integer(p->timeline));
        arr = json_array();
        for (size_t i = 0; i < p->path.n; i++) {
            x = json_object();
            json_object_set_new(x, "timeline", json_integer(p->path.e[i].tli));
            json_object_set_new(x, "begin", lsn_json(p->path.e[i].begin));
            json_object_set_new(x, "end", p->path.e[i].end == WS_LSN_END ? json_null() : lsn_json(p->path.e[i].end));
            json_array_append_new(arr, x);
        }
        json_object_set_new(o, "path", arr);
        x = json_object();
        json_object_set_new(x, "first", json_string(p->wal_first));
        json_object_set_new(x, "last", json_string(p->wal_last));
        json_object_set_new(x, "segments", json_integer((json_int_t) p->wal_count));
        json_object_set_new(x, "bytes", json_integer((json_int_t) p->wal_bytes));
        json_object_set_new(x, "stored_bytes", json_integer((json_int_t) p->wal_stored));
        json_object_set_new(o, "wal", x);
        x = json_object();
        json_object_set_new(x, "record", rec_json(&p->stop));
        json_object_set_new(x, "replayed", json_boolean(p->stop_after));
        json_object_set_new(x, "lsn", lsn_json(p->stop_lsn));
        json_object_set_new(o, "stop", x);
        json_object_set_new(o, "last_kept", rec_json(&p->last_kept));
        x = json_object();
        json_object_set_new(x, "end_lsn", lsn_json(p->archive_end_lsn));
        json_object_set_new(x, "newest_commit", p->has_newest ? time_json(p->newest_time) : json_null());
        json_object_set_new(x, "segments_after_stop", json_integer((json_int_t) p->wal_after));
        json_object_set_new(o, "archive", x);
        if (p->status == WS_PITR_PLAN_GAP || p->status == WS_PITR_PLAN_FORCED) {
            x = json_object();
            json_object_set_new(x, "segment", json_string(p->gap_segment));
            json_object_set_new(x, "why", json_string(p->gap_why));
            json_object_set_new(x, "furthest", rec_json(&p->furthest));
            json_object_set_new(o, "gap", x);
        }
        json_object_set_new(o, "recovery_target_action", json_string(ws_pitr_report_action(r)));
        json_object_set_new(
            o, "archive_mode",
            json_string(r->plan->status == WS_PITR_PLAN_FORCED || r->opts->archive_mode == WS_PITR_ARCHIVE_OFF
                            ? "off"
                            : "preserve"));
        end_text(r, line, sizeof line);
        json_object_set_new(o, "at_the_end", json_string(line));
        x = json_object();
        json_object_set_new(x, "restore_seconds", json_real(estimate_restore(r)));
        json_object_set_new(x, "replay_seconds", json_real(estimate_replay(r)));
        json_object_set_new(o, "estimate", x);
    }
    if (r->manifest_known)
        json_object_set_new(o, "backup_has_postgresql_conf", json_boolean(r->has_postgresql_conf));
    arr = json_array();
    for (size_t i = 0; i < p->nnotes; i++)
        json_array_append_new(arr, json_string(p->notes[i]));
    json_object_set_new(o, "notes", arr);
    x = json_object();
    json_object_set_new(x, "total", json_integer((json_int_t) ws_storage_counts_total(&r->stats.ops)));
    json_object_set_new(x, "get", json_integer((json_int_t) r->stats.ops.get));
    json_object_set_new(x, "head", json_integer((json_int_t) r->stats.ops.head));
    json_object_set_new(x, "list", json_integer((json_int_t) r->stats.ops.list));
    json_object_set_new(x, "index_entries", json_integer((json_int_t) p->index_reads));
    json_object_set_new(x, "segments_read", json_integer((json_int_t) p->segment_reads));
    json_object_set_new(x, "index_entries_computed", json_integer((json_int_t) r->stats.computed));
    json_object_set_new(o, "requests", x);
    if (r->result && r->result->done) {
        const ws_pitr_result *res = r->result;
        json_t *set = json_object();

        x = json_object();
        json_object_set_new(x, "pgdata", json_string(r->opts->pgdata));
        json_object_set_new(x, "seconds", json_real(res->seconds));
        json_object_set_new(x, "tar_bytes", json_integer((json_int_t) res->tar_bytes));
        json_object_set_new(x, "stored_bytes", json_integer((json_int_t) res->stored_bytes));
        json_object_set_new(x, "files", json_integer((json_int_t) res->files));
        json_object_set_new(x, "verified", json_true());
        json_object_set_new(x, "walship_config", json_string(res->walship_conf));
        for (size_t i = 0; i < res->nsettings; i++)
            json_object_set_new(set, res->settings[i].name, json_string(res->settings[i].value));
        json_object_set_new(x, "settings", set);
        json_object_set_new(x, "commented_lines", json_integer(res->commented));
        json_object_set_new(x, "removed_by_force", json_integer((json_int_t) res->removed));
        arr = json_array();
        for (size_t i = 0; i < res->nts; i++)
            json_array_append_new(arr, json_string(res->ts_dirs[i]));
        json_object_set_new(x, "tablespaces", arr);
        json_object_set_new(o, "restore", x);
    }
    return o;
}
