/* pitr_run.c - pitr-restore: plan, prove, restore (pitr_run.h). */
#include "walship/pitr_run.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walship/backup_progress.h"
#include "walship/clock.h"
#include "walship/errclass.h"
#include "walship/log.h"
#include "walship/pitr_archive.h"
#include "walship/pitr_extract.h"
#include "walship/pitr_manifest.h"
#include "walship/pitr_pgdata.h"
#include "walship/pitr_recovery_conf.h"
#include "walship/pitr_report.h"

#define MANIFEST_MAX (1024u << 20)

void ws_pitr_run_opts_default(ws_pitr_run_opts *o)
{
    memset(o, 0, sizeof *o);
    ws_pitr_target_init(&o->plan.target);
    o->action = WS_PITR_ACTION_PAUSE;
    o->archive_mode = WS_PITR_ARCHIVE_OFF;
    o->jobs = 2;
}

const char *ws_pitr_action_name(ws_pitr_action a)
{
    return a == WS_PITR_ACTION_PROMOTE ? "promote" : a == WS_PITR_ACTION_SHUTDOWN ? "shutdown" : "pause";
}

/* The zone abbreviations the server wrote with the backups' times. */
static size_t abbrevs_of(const ws_pitr_source *src, ws_zone_abbrev *out, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; i < src->nbackups; i++) {
        const ws_backup_record *b = &src->backups[i];
        const char *text[2] = {b->start_time_server, b->stop_time_server};
        int64_t ts[2] = {b->start_time, b->stop_time};

        for (int k = 0; k < 2 && b->has_times; k++)
            if (text[k] && n < max && ws_pg_time_abbrev_of(text[k], ts[k], &out[n]) == 0)
                n++;
    }
    return n;
}

/* The backup's manifest, read and checked. */
static int load_manifest(ws_pitr_archive *a, const ws_backup_record *b, ws_pitr_manifest *m, ws_err *err)
{
    char *buf = NULL;
    size_t len;
    int rc;

    if (!b->has_manifest)
        return ws_err_set(err, WS_ERR_CORRUPT, "backup %s has no manifest", b->id);
    if (ws_repo_get_mem(ws_pitr_archive_repo(a), b->manifest.key, MANIFEST_MAX, "a backup manifest", &buf, &len, err) <
        0)
        return ws_err_prefix(err, "backup %s", b->id);
    rc = ws_pitr_manifest_parse(buf, len, b->manifest.key, m, err);
    free(buf);
    return rc;
}

/* A path for a shell command line: quoted unless plain. */
static void shell_word(const char *s, char *out, size_t len)
{
    size_t o = 0;
    bool plain = *s != '\0';

    for (const char *c = s; *c; c++)
        if (!(isalnum((unsigned char) *c) || strchr("/._-+=:,@%", *c)))
            plain = false;
    if (plain) {
        snprintf(out, len, "%s", s);
        return;
    }
    if (o + 1 < len)
        out[o++] = '\'';
    for (const char *c = s; *c && o + 5 < len; c++) {
        if (*c == '\'') {
            memcpy(out + o, "'\\''", 4);
            o += 4;
        } else
            out[o++] = *c;
    }
    if (o + 1 < len)
        out[o++] = '\'';
    out[o] = '\0';
}

/* walship-fetch: given, or next to this program. */
static int fetch_path(const ws_pitr_run_opts *o, char *out, size_t len, ws_err *err)
{
    char self[PATH_MAX];
    ssize_t n;
    char *slash;

    if (o->fetch_path) {
        if (!realpath(o->fetch_path, out))
            return ws_err_sys(err, errno, "walship-fetch %s", o->fetch_path);
    } else {
        n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
            return ws_err_sys(err, errno, "cannot tell where pitr-restore is (/proc/self/exe)");
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        if (snprintf(out, len, "%s/walship-fetch", self) >= (int) len)
            return ws_err_set(err, WS_ERR_INVALID, "path too long: %s", self);
    }
    if (access(out, X_OK) < 0)
        return ws_err_sys(err, errno,
                          "restore_command needs walship-fetch, expected at %s (install it next to pitr-restore)", out);
    return 0;
}

/* Where each tablespace goes: its --tablespace-map directory, else its
 * original location. */
typedef struct ts_plan {
    const ws_backup_archive *ar;
    char dir[PATH_MAX];
    bool mapped;
} ts_plan;

static int map_tablespaces(const ws_pitr_run_opts *o, const ws_backup_record *b, ts_plan *ts, size_t *nts, ws_err *err)
{
    bool used[WS_PITR_TS_MAP_MAX] = {false};

    *nts = 0;
    for (size_t i = 0; i < b->narchives; i++) {
        const ws_backup_archive *ar = &b->archives[i];
        char oid[16];

        if (!ar->tablespace)
            continue;
        if (*nts >= 8)
            return ws_err_set(err, WS_ERR_INVALID, "backup %s has more than 8 tablespaces", b->id);
        snprintf(oid, sizeof oid, "%" PRIu32, ar->ts_oid);
        ts[*nts].ar = ar;
        ts[*nts].mapped = false;
        snprintf(ts[*nts].dir, sizeof ts[*nts].dir, "%s", ar->ts_location);
        for (size_t k = 0; k < o->nts_map; k++)
            if (strcmp(o->ts_map[k].from, oid) == 0 || strcmp(o->ts_map[k].from, ar->ts_location) == 0) {
                snprintf(ts[*nts].dir, sizeof ts[*nts].dir, "%s", o->ts_map[k].to);
                ts[*nts].mapped = true;
                used[k] = true;
            }
        (*nts)++;
    }
    for (size_t k = 0; k < o->nts_map; k++)
        if (!used[k])
            return ws_err_set(err, WS_ERR_INVALID,
                              "--tablespace-map %s=%s: backup %s has no tablespace with that oid or location",
                              o->ts_map[k].from, o->ts_map[k].to, b->id);
    return 0;
}

/* The checks a restore would make, for the plan: 0 fine, -1 refused (err). */
static int check_dirs(const ws_pitr_run_opts *o, const ts_plan *ts, size_t nts, ws_err *err)
{
    if (ws_pitr_pgdata_check(o->pgdata, o->plan.force, err) <= 0)
        return -1;
    for (size_t i = 0; i < nts; i++) {
        if (ws_pitr_pgdata_tsdir_check(ts[i].dir, o->plan.force, err) > 0)
            continue;
        if (!ts[i].mapped)
            return ws_err_prefix(err,
                                 "tablespace %" PRIu32 " would be restored to its original directory, which is in use "
                                 "(a restore on the primary's host would write into the primary's tablespace): map "
                                 "it with --tablespace-map %" PRIu32 "=NEWDIR",
                                 ts[i].ar->ts_oid, ts[i].ar->ts_oid);
        return -1;
    }
    return 0;
}

/* The recovery settings the plan means. */
static size_t recovery_settings(const ws_pitr_run_opts *o, const ws_pitr_plan *p, const char *restore_command,
                                ws_pitr_setting *s)
{
    const ws_pitr_target *t = &p->target;
    size_t n = 0;
    bool forced = p->status == WS_PITR_PLAN_FORCED;

    s[n].name = "restore_command";
    if (snprintf(s[n].value, sizeof s[0].value, "%s", restore_command) < (int) sizeof s[0].value)
        n++;
    if (forced) {
        s[n].name = "recovery_target_lsn";
        ws_wal_name_format_lsn(p->stop.lsn, s[n++].value);
        s[n].name = "recovery_target_inclusive";
        snprintf(s[n++].value, sizeof s[0].value, "on");
    } else {
        switch (t->kind) {
        case WS_PITR_IMMEDIATE:
            s[n].name = "recovery_target";
            snprintf(s[n++].value, sizeof s[0].value, "immediate");
            break;
        case WS_PITR_TIME:
            s[n].name = "recovery_target_time";
            ws_pg_time_format_utc(t->time, s[n++].value);
            break;
        case WS_PITR_XID:
            s[n].name = "recovery_target_xid";
            snprintf(s[n++].value, sizeof s[0].value, "%" PRIu32, t->xid);
            break;
        case WS_PITR_NAME:
            s[n].name = "recovery_target_name";
            snprintf(s[n++].value, sizeof s[0].value, "%s", t->name);
            break;
        case WS_PITR_LSN:
            s[n].name = "recovery_target_lsn";
            ws_wal_name_format_lsn(t->lsn, s[n++].value);
            break;
        case WS_PITR_LATEST:
            break;
        }
        if (t->kind == WS_PITR_TIME || t->kind == WS_PITR_XID || t->kind == WS_PITR_LSN) {
            s[n].name = "recovery_target_inclusive";
            snprintf(s[n++].value, sizeof s[0].value, "%s", t->inclusive ? "on" : "off");
        }
    }
    s[n].name = "recovery_target_timeline";
    snprintf(s[n++].value, sizeof s[0].value, "%" PRIu32, p->timeline);
    if (forced || t->kind != WS_PITR_LATEST) {
        s[n].name = "recovery_target_action";
        snprintf(s[n++].value, sizeof s[0].value, "%s", forced ? "pause" : ws_pitr_action_name(o->action));
    }
    if (forced || o->archive_mode == WS_PITR_ARCHIVE_OFF) {
        s[n].name = "archive_mode";
        snprintf(s[n++].value, sizeof s[0].value, "off");
    }
    return n;
}

typedef struct progress_ctx {
    ws_backup_progress *bar;
} progress_ctx;

static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    ws_backup_progress_bytes(((progress_ctx *) arg)->bar, done, total);
}

/* The restore itself, once the plan is complete. */
static int restore(const ws_config *cfg, const ws_pitr_run_opts *o, ws_pitr_archive *a, const ws_pitr_plan *p,
                   const ws_pitr_manifest *manifest, ws_backup_progress *bar, ws_pitr_result *res, ws_err *err)
{
    const ws_pitr_source *src = ws_pitr_archive_source(a);
    const ws_backup_record *b = &src->backups[p->backup];
    ts_plan ts[8];
    size_t nts = 0, nroots = 0;
    ws_pitr_dir pgdata = {0}, tsdir[8];
    ws_pitr_root roots[9];
    ws_pitr_extracted x = {0};
    ws_pitr_ts_link links[8];
    ws_pitr_owner owner;
    char fetch[PATH_MAX], conf_q[PATH_MAX * 2], fetch_q[PATH_MAX * 2], header[512], when[WS_PG_TIME_TEXT_MAX];
    char *conf_path = NULL;
    progress_ctx pc = {.bar = bar};
    double t0 = ws_clock_now();
    bool as_root = geteuid() == 0;
    int rc = -1;

    memset(tsdir, 0, sizeof tsdir);
    if (map_tablespaces(o, b, ts, &nts, err) < 0 || fetch_path(o, fetch, sizeof fetch, err) < 0 ||
        check_dirs(o, ts, nts, err) < 0)
        return -1;
    if (ws_pitr_pgdata_prepare(o->pgdata, o->plan.force, &pgdata, &res->removed, err) < 0)
        goto out;
    for (size_t i = 0; i < nts; i++)
        if (ws_pitr_pgdata_tsdir_prepare(ts[i].dir, o->plan.force, &pgdata, &tsdir[i], err) < 0)
            goto out;
    owner.chown = as_root;
    owner.uid = pgdata.uid;
    owner.gid = pgdata.gid;

    /* The archives into their directories. */
    for (size_t i = 0; i < b->narchives; i++) {
        const ws_backup_archive *ar = &b->archives[i];
        ws_pitr_root *r = &roots[nroots++];

        memset(r, 0, sizeof *r);
        r->archive = ar;
        r->chown = as_root;
        r->uid = pgdata.uid;
        r->gid = pgdata.gid;
        if (!ar->tablespace) {
            r->path = pgdata.path;
            r->follow_pg_wal = pgdata.wal_link;
        } else {
            for (size_t k = 0; k < nts; k++)
                if (ts[k].ar == ar)
                    r->path = tsdir[k].path;
            snprintf(r->prefix, sizeof r->prefix, "pg_tblspc/%" PRIu32 "/", ar->ts_oid);
        }
    }
    ws_backup_progress_phase(bar, "restoring backup %s into %s with %u connection%s", b->id, o->pgdata,
                             ws_pitr_archive_workers(a), ws_pitr_archive_workers(a) == 1 ? "" : "s");
    if (ws_pitr_extract(a, roots, nroots, on_progress, &pc, &x, err) < 0)
        goto out;
    ws_backup_progress_done(bar);
    res->tar_bytes = x.tar_bytes;
    res->stored_bytes = x.stored_bytes;
    res->files = x.nfiles;
    res->dirs = x.dirs;
    res->skipped = x.skipped;

    /* Tablespace links from the catalog and the map, then the manifest. */
    for (size_t i = 0; i < nts; i++) {
        char link[PATH_MAX], dir[PATH_MAX];

        snprintf(dir, sizeof dir, "%s/pg_tblspc", pgdata.path);
        if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
            ws_err_sys(err, errno, "cannot make %s", dir);
            goto out;
        }
        snprintf(link, sizeof link, "%s/pg_tblspc/%" PRIu32, pgdata.path, ts[i].ar->ts_oid);
        if (symlink(tsdir[i].path, link) < 0) {
            ws_err_sys(err, errno, "cannot link %s to %s", link, tsdir[i].path);
            goto out;
        }
        if (as_root)
            (void) lchown(link, pgdata.uid, pgdata.gid);
        links[i].oid = ts[i].ar->ts_oid;
        links[i].path = tsdir[i].path;
        if (res->nts < sizeof res->ts_dirs / sizeof res->ts_dirs[0])
            snprintf(res->ts_dirs[res->nts++], sizeof res->ts_dirs[0], "%" PRIu32 " (was %s) -> %s", ts[i].ar->ts_oid,
                     ts[i].ar->ts_location, tsdir[i].path);
    }
    ws_backup_progress_phase(bar, "verifying %zu files against the backup manifest", x.nfiles);
    if (ws_pitr_manifest_verify(manifest, &x, err) < 0)
        goto out;
    if (nts && ws_pitr_recovery_conf_tablespace_map(pgdata.path, links, nts, &owner, err) < 0)
        goto out;

    /* Recovery settings. */
    if (ws_pitr_recovery_conf_walship(cfg, pgdata.path, &owner, &conf_path, err) < 0)
        goto out;
    snprintf(res->walship_conf, sizeof res->walship_conf, "%s", conf_path);
    shell_word(fetch, fetch_q, sizeof fetch_q);
    shell_word(conf_path, conf_q, sizeof conf_q);
    if (snprintf(res->restore_command, sizeof res->restore_command, "%s --config %s %%f %%p", fetch_q, conf_q) >=
        (int) sizeof res->restore_command) {
        ws_err_set(err, WS_ERR_INVALID, "restore_command would be too long: %s", conf_path);
        goto out;
    }
    res->nsettings = recovery_settings(o, p, res->restore_command, res->settings);
    ws_pg_time_format_utc(((int64_t) ws_clock_wall() - WS_PG_EPOCH_UNIX) * 1000000, when);
    snprintf(header, sizeof header, "Recovery settings written by pitr-restore at %s: backup %s, target %s", when,
             b->id, p->target.given);
    if (ws_pitr_recovery_conf_auto(pgdata.path, header, res->settings, res->nsettings, &owner, &res->commented, err) <
            0 ||
        ws_pitr_recovery_conf_signal(pgdata.path, &owner, err) < 0)
        goto out;
    if (o->action == WS_PITR_ACTION_PAUSE && p->target.kind != WS_PITR_LATEST &&
        ws_pitr_recovery_conf_hot_standby_off(pgdata.path))
        ws_log(WS_LOG_WARNING, "hot_standby is off in %s: at the target the server shuts down instead of pausing",
               pgdata.path);

    /* Everything durable before saying it is done. */
    if (ws_pitr_extract_fsync_dirs(pgdata.path, pgdata.wal_link, err) < 0)
        goto out;
    for (size_t i = 0; i < nts; i++)
        if (ws_pitr_extract_fsync_dirs(tsdir[i].path, false, err) < 0)
            goto out;
    res->seconds = ws_clock_now() - t0;
    res->done = true;
    rc = 0;
out:
    if (rc < 0 && pgdata.path)
        ws_err_prefix(err,
                      "the restore into %s failed and left it incomplete (it will not start as a recovery; run "
                      "pitr-restore again with --force)",
                      pgdata.path);
    free(conf_path);
    ws_pitr_extracted_free(&x);
    ws_pitr_dir_free(&pgdata);
    for (size_t i = 0; i < nts; i++)
        ws_pitr_dir_free(&tsdir[i]);
    return rc;
}

static void print_json(const ws_pitr_report *r)
{
    json_t *j = ws_pitr_report_json(r);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;

    if (text)
        printf("%s\n", text);
    free(text);
    json_decref(j);
    fflush(stdout);
}

int ws_pitr_run(const ws_config *cfg, const ws_pitr_run_opts *o)
{
    ws_pitr_archive *a = NULL;
    ws_pitr_plan plan;
    ws_pitr_plan_opts popts = o->plan;
    ws_pitr_manifest manifest = {0};
    ws_pitr_report rep;
    ws_pitr_result res;
    ws_backup_progress *bar = ws_backup_progress_new(stderr, o->tty, o->quiet || o->json);
    ws_err err;
    int status = WS_EXIT_ERROR;
    bool dirs_ok = true;
    char dir_problem[WS_ERR_MSG_MAX] = "";

    ws_err_clear(&err);
    ws_pitr_plan_init(&plan);
    memset(&rep, 0, sizeof rep);
    memset(&res, 0, sizeof res);
    rep.plan = &plan;
    rep.opts = o;
    if (ws_pitr_archive_open(cfg, o->jobs, &a, &err) < 0 || ws_pitr_archive_load(a, &err) < 0)
        goto fail;
    rep.src = ws_pitr_archive_source(a);
    if (o->target_time) {
        ws_zone_abbrev known[64];
        size_t n = abbrevs_of(rep.src, known, 64);

        if (ws_pitr_target_set_time(&popts.target, o->target_time, known, n, &err) < 0)
            goto fail;
        popts.target.inclusive = o->plan.target.inclusive;
    }
    ws_backup_progress_phase(bar, "planning: %zu backup%s, %zu WAL file%s, %zu timeline%s in %s", rep.src->nbackups,
                             rep.src->nbackups == 1 ? "" : "s", rep.src->wal->n, rep.src->wal->n == 1 ? "" : "s",
                             rep.src->ntimelines, rep.src->ntimelines == 1 ? "" : "s",
                             ws_pitr_archive_repo(a)->st->url);
    if (ws_pitr_plan_make(rep.src, &popts, &plan, &err) < 0)
        goto fail;
    if (plan.backup != SIZE_MAX && plan.status != WS_PITR_PLAN_AMBIGUOUS) {
        const ws_backup_record *b = &rep.src->backups[plan.backup];
        ts_plan ts[8];
        size_t nts;
        ws_err e;

        if (load_manifest(a, b, &manifest, &err) < 0)
            goto fail;
        rep.manifest_known = true;
        rep.has_postgresql_conf = ws_pitr_manifest_has(&manifest, "postgresql.conf");
        ws_err_clear(&e);
        if (map_tablespaces(o, b, ts, &nts, &e) < 0 || check_dirs(o, ts, nts, &e) < 0) {
            dirs_ok = false;
            snprintf(dir_problem, sizeof dir_problem, "%s", e.msg);
        }
    }
    ws_pitr_archive_stats_get(a, &rep.stats);
    if (!o->json) {
        ws_backup_progress_done(bar);
        ws_pitr_report_text(stdout, &rep);
        fflush(stdout);
    }
    if (plan.status != WS_PITR_PLAN_OK && plan.status != WS_PITR_PLAN_FORCED) {
        ws_err_set(&err, WS_ERR_INVALID, "%s", plan.problem);
        goto fail;
    }
    if (plan.status == WS_PITR_PLAN_FORCED)
        ws_log(WS_LOG_WARNING,
               "FORCED: the WAL has a gap (%s); recovery will stop at %s and pause, everything after it is lost "
               "unless the missing WAL is found",
               plan.gap_segment, plan.gap_why);
    if (!dirs_ok) {
        ws_err_set(&err, WS_ERR_INVALID, "%s", dir_problem);
        goto fail;
    }
    if (o->dry_run) {
        if (o->json)
            print_json(&rep);
        status = plan.status == WS_PITR_PLAN_OK ? WS_EXIT_OK : WS_EXIT_ERROR;
        goto out;
    }
    if (restore(cfg, o, a, &plan, &manifest, bar, &res, &err) < 0)
        goto fail;
    rep.result = &res;
    ws_pitr_archive_stats_get(a, &rep.stats);
    if (o->json)
        print_json(&rep);
    else
        ws_pitr_report_text_result(stdout, &rep);
    status = WS_EXIT_OK;
    goto out;
fail:
    ws_backup_progress_done(bar);
    if (o->json && rep.src) {
        if (a)
            ws_pitr_archive_stats_get(a, &rep.stats);
        print_json(&rep);
    }
    ws_log_err(&err);
out:
    ws_backup_progress_free(bar);
    ws_pitr_manifest_free(&manifest);
    ws_pitr_plan_free(&plan);
    ws_pitr_archive_close(a);
    return status;
}
