/* backup_server.c - replication connection and BASE_BACKUP (backup_server.h). */
#include "walship/backup_server.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "walship/wal_index.h"
#include "walship/wal_name.h"

#define CONNECT_TIMEOUT "10"
#define MAX_BAD_FILES   64 /* files with checksum failures remembered */
#define RAW_NOTICES     3  /* unparsed checksum warnings remembered */
#define NOTICE_TEXT_MAX 512

typedef struct bad_file {
    char path[256];
    uint64_t blocks; /* the server's total for the file, else blocks reported */
    bool total_known;
} bad_file;

struct ws_backup_server {
    PGconn *conn;
    char *copybuf; /* the message returned last by next() */
    bool copy_done;
    /* Data checksum failures from WARNING notices. */
    bad_file bad[MAX_BAD_FILES];
    size_t nbad;
    bool bad_truncated;
    uint64_t bad_total;
    char raw[RAW_NOTICES][NOTICE_TEXT_MAX];
    size_t nraw;
};

/* --- messages ------------------------------------------------------------------- */

void ws_backup_server_one_line(const char *in, char *out, size_t outlen)
{
    size_t n = 0;
    bool space = false;

    if (!outlen)
        return;
    for (const char *p = in ? in : ""; *p && n + 1 < outlen; p++) {
        char c = *p;

        /* Server messages arrive as "FATAL:  text" or "ERROR:  text". */
        if (strncmp(p, "FATAL:  ", 8) == 0 || strncmp(p, "ERROR:  ", 8) == 0) {
            p += 7;
            continue;
        }
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            space = n > 0;
            continue;
        }
        if (space && n + 2 < outlen)
            out[n++] = ' ';
        space = false;
        out[n++] = (unsigned char) c < 0x20 ? '?' : c;
    }
    out[n] = '\0';
}

void ws_backup_server_explain_connect(const char *msg, const char *user, char *out, size_t outlen)
{
    char line[1024];
    const char *u = user && *user ? user : "the user";

    ws_backup_server_one_line(msg, line, sizeof line);
    if (strstr(line, "must be superuser or replication role"))
        snprintf(out, outlen,
                 "role %s may not make replication connections: give it the REPLICATION privilege "
                 "(ALTER ROLE %s REPLICATION) (%s)",
                 u, u, line);
    else if (strstr(line, "exceeds max_wal_senders (currently 0)"))
        snprintf(out, outlen,
                 "the server allows no replication connections (max_wal_senders = 0, as wal_level = minimal "
                 "requires): set wal_level = replica and max_wal_senders > 0 and restart it (%s)",
                 line);
    else if (strstr(line, "exceeds max_wal_senders") || strstr(line, "remaining connection slots are reserved") ||
             strstr(line, "too many clients"))
        snprintf(out, outlen,
                 "no free WAL sender on the server: raise max_wal_senders or wait for other replication "
                 "connections (pg_basebackup, standbys) to end (%s)",
                 line);
    else if (strstr(line, "password authentication failed") || strstr(line, "authentication failed") ||
             strstr(line, "no password supplied") || strstr(line, "does not exist") ||
             strstr(line, "no pg_hba.conf entry"))
        snprintf(out, outlen,
                 "the server refused the login: check the user and password (pg_conninfo, PGUSER, PGPASSWORD, "
                 "~/.pgpass) and that pg_hba.conf has a 'replication' line for %s (%s)",
                 u, line);
    else if (strstr(line, "Connection refused") || strstr(line, "No such file or directory") ||
             strstr(line, "could not translate host name") || strstr(line, "timeout expired") ||
             strstr(line, "Network is unreachable") || strstr(line, "No route to host") ||
             strstr(line, "Is the server running"))
        snprintf(out, outlen,
                 "cannot reach the PostgreSQL server: is it running, and are pg_conninfo / PGHOST / "
                 "PGPORT right? (%s)",
                 line);
    else
        snprintf(out, outlen, "cannot connect to PostgreSQL for replication: %s", line);
}

/* --- checksum warnings --------------------------------------------------------------- */

static bad_file *bad_file_for(ws_backup_server *s, const char *path, size_t len)
{
    if (len >= 2 && path[0] == '.' && path[1] == '/') {
        path += 2;
        len -= 2;
    }
    for (size_t i = 0; i < s->nbad; i++)
        if (strlen(s->bad[i].path) == len && strncmp(s->bad[i].path, path, len) == 0)
            return &s->bad[i];
    if (s->nbad == MAX_BAD_FILES) {
        s->bad_truncated = true;
        return NULL;
    }
    snprintf(s->bad[s->nbad].path, sizeof s->bad[0].path, "%.*s", (int) len, path);
    return &s->bad[s->nbad++];
}

/* The quoted file name after `start` in m, or NULL. */
static const char *quoted(const char *m, const char *start, size_t *len)
{
    const char *p = strstr(m, start), *q;

    if (!p)
        return NULL;
    p += strlen(start);
    q = strchr(p, '"');
    if (!q)
        return NULL;
    *len = (size_t) (q - p);
    return p;
}

static void notice_receiver(void *arg, const PGresult *r)
{
    ws_backup_server *s = arg;
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    const char *p;
    size_t len;
    unsigned long long n;
    bad_file *b;

    if (!sev || strcmp(sev, "WARNING") != 0 || !msg)
        return;
    if ((p = quoted(msg, "checksum verification failed in file \"", &len)) != NULL) {
        b = bad_file_for(s, p, len);
        if (b && !b->total_known)
            b->blocks++;
    } else if (strncmp(msg, "file \"", 6) == 0 && (p = quoted(msg, "file \"", &len)) != NULL &&
               sscanf(p + len, "\" has a total of %llu checksum verification failure", &n) == 1) {
        b = bad_file_for(s, p, len);
        if (b) {
            b->blocks = n;
            b->total_known = true;
        }
    } else if (sscanf(msg, "%llu total checksum verification failure", &n) == 1)
        s->bad_total = n;
    else if (strstr(msg, "checksum") && s->nraw < RAW_NOTICES) {
        /* A translated message: keep it as the server wrote it. */
        ws_backup_server_one_line(msg, s->raw[s->nraw++], NOTICE_TEXT_MAX);
    }
}

/* --- connection -------------------------------------------------------------------------- */

int ws_backup_server_connect(const char *conninfo, ws_backup_server **out, ws_err *err)
{
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", "replication", NULL};
    const char *vals[] = {CONNECT_TIMEOUT, "walship-backup", conninfo && *conninfo ? conninfo : NULL, "true", NULL};
    ws_backup_server *s = calloc(1, sizeof *s);
    char why[1600];

    *out = NULL;
    if (!s)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    /* The connection string expands in place; replication=true comes last and wins. */
    s->conn = PQconnectdbParams(keys, vals, 1);
    if (!s->conn) {
        free(s);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory (libpq)");
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        ws_backup_server_explain_connect(PQerrorMessage(s->conn), PQuser(s->conn), why, sizeof why);
        ws_backup_server_close(s);
        return ws_err_set(err, WS_ERR_TRANSIENT, "%s", why);
    }
    PQsetNoticeReceiver(s->conn, notice_receiver, s);
    *out = s;
    return 0;
}

void ws_backup_server_close(ws_backup_server *s)
{
    if (!s)
        return;
    if (s->copybuf)
        PQfreemem(s->copybuf);
    PQfinish(s->conn);
    free(s);
}

static int server_error(ws_backup_server *s, const PGresult *r, const char *what, ws_err *err)
{
    char line[1024];

    ws_backup_server_one_line(r ? PQresultErrorMessage(r) : PQerrorMessage(s->conn), line, sizeof line);
    if (!*line)
        ws_backup_server_one_line(PQerrorMessage(s->conn), line, sizeof line);
    if (PQstatus(s->conn) != CONNECTION_OK)
        return ws_err_set(err, WS_ERR_TRANSIENT, "lost the connection to the server during %s: %s", what, line);
    return ws_err_set(err, WS_ERR_INVALID, "%s failed: %s", what, line);
}

/* Runs a command expecting one row of at least nfields values. */
static PGresult *one_row(ws_backup_server *s, const char *cmd, int nfields, ws_err *err)
{
    PGresult *r = PQexec(s->conn, cmd);

    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        server_error(s, r, cmd, err);
        PQclear(r);
        return NULL;
    }
    if (PQntuples(r) != 1 || PQnfields(r) < nfields) {
        ws_err_set(err, WS_ERR_FORMAT, "%s: unexpected answer (%d rows, %d columns)", cmd, PQntuples(r), PQnfields(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

static char *show(ws_backup_server *s, const char *name, ws_err *err)
{
    char cmd[128];
    PGresult *r;
    char *v;

    snprintf(cmd, sizeof cmd, "SHOW %s", name);
    r = one_row(s, cmd, 1, err);
    if (!r)
        return NULL;
    v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!v)
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    return v;
}

/* "16MB", "1GB", "1024kB" as SHOW prints wal_segment_size. */
static int parse_size(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v = strtoull(text, &end, 10);

    if (end == text)
        return -1;
    if (strcmp(end, "B") == 0 || !*end)
        *out = v;
    else if (strcmp(end, "kB") == 0)
        *out = v << 10;
    else if (strcmp(end, "MB") == 0)
        *out = v << 20;
    else if (strcmp(end, "GB") == 0)
        *out = v << 30;
    else
        return -1;
    return 0;
}

void ws_backup_server_info_free(ws_backup_server_info *info)
{
    free(info->archive_command);
    free(info->archive_library);
    free(info->log_timezone);
    free(info->user);
    memset(info, 0, sizeof *info);
}

int ws_backup_server_info_get(ws_backup_server *s, ws_backup_server_info *out, ws_err *err)
{
    PGresult *r;
    char *v = NULL, *end;
    uint64_t seg;
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->version_num = (unsigned) PQserverVersion(s->conn);
    out->user = strdup(PQuser(s->conn) ? PQuser(s->conn) : "");
    if (!out->user)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    if (out->version_num < WS_BACKUP_SERVER_MIN_VERSION)
        return ws_err_set(err, WS_ERR_INVALID, "PostgreSQL 15 or later required (the server is %u.%u)",
                          out->version_num / 10000, out->version_num % 10000);
    r = one_row(s, "IDENTIFY_SYSTEM", 2, err);
    if (!r)
        return -1;
    out->sysid = strtoull(PQgetvalue(r, 0, 0), &end, 10);
    if (*end || !out->sysid) {
        PQclear(r);
        return ws_err_set(err, WS_ERR_FORMAT, "IDENTIFY_SYSTEM: bad system identifier");
    }
    out->tli = (uint32_t) strtoul(PQgetvalue(r, 0, 1), NULL, 10);
    PQclear(r);

#define SHOW_INTO(name, field)                            \
    do {                                                  \
        free(v);                                          \
        if (!(v = show(s, name, err)))                    \
            goto out;                                     \
        snprintf(out->field, sizeof out->field, "%s", v); \
    } while (0)
    SHOW_INTO("wal_level", wal_level);
    SHOW_INTO("archive_mode", archive_mode);
#undef SHOW_INTO
    free(v);
    if (!(v = show(s, "in_hot_standby", err)))
        goto out;
    out->in_hot_standby = strcmp(v, "on") == 0;
    free(v);
    if (!(v = show(s, "data_checksums", err)))
        goto out;
    out->data_checksums = strcmp(v, "on") == 0;
    free(v);
    if (!(v = show(s, "wal_segment_size", err)))
        goto out;
    if (parse_size(v, &seg) < 0 || !ws_wal_name_seg_size_valid(seg)) {
        ws_err_set(err, WS_ERR_FORMAT, "SHOW wal_segment_size: unexpected value \"%s\"", v);
        goto out;
    }
    out->seg_size = (uint32_t) seg;
    free(v);
    v = NULL;
    if (!(out->archive_command = show(s, "archive_command", err)) ||
        !(out->archive_library = show(s, "archive_library", err)) ||
        !(out->log_timezone = show(s, "log_timezone", err)))
        goto out;
    rc = 0;
out:
    free(v);
    return rc;
}

/* --- waiting on the socket ------------------------------------------------------------------ */

/* Waits until the socket is readable or `wait` seconds passed: 1, 0, -1. */
static int wait_readable(ws_backup_server *s, double wait, ws_err *err)
{
    struct pollfd p = {.fd = PQsocket(s->conn), .events = POLLIN};
    int n;

    if (p.fd < 0)
        return ws_err_set(err, WS_ERR_TRANSIENT, "lost the connection to the server");
    n = poll(&p, 1, (int) (wait * 1000));
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return ws_err_sys(err, errno, "poll on the server connection");
    }
    if (n > 0 && !PQconsumeInput(s->conn))
        return server_error(s, NULL, "BASE_BACKUP", err);
    return n > 0;
}

/* The next result of the running command, calling cb while the server works. */
static int next_result(ws_backup_server *s, double wait, ws_backup_server_wait_cb cb, void *arg, PGresult **out,
                       ws_err *err)
{
    while (PQisBusy(s->conn)) {
        int n = wait_readable(s, wait, err);

        if (n < 0)
            return -1;
        if (n == 0 && cb && cb(arg, err) < 0)
            return -1;
    }
    *out = PQgetResult(s->conn);
    return 0;
}

/* --- BASE_BACKUP ------------------------------------------------------------------------------ */

void ws_backup_start_free(ws_backup_start *st)
{
    for (size_t i = 0; i < st->ntablespaces; i++)
        free(st->tablespaces[i].location);
    free(st->tablespaces);
    memset(st, 0, sizeof *st);
}

static int lsn_row(ws_backup_server *s, PGresult *r, const char *what, uint64_t *lsn, uint32_t *tli, ws_err *err)
{
    char *end;
    unsigned long t;

    (void) s;
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < 2)
        return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP: unexpected %s result", what);
    if (ws_wal_name_parse_lsn(PQgetvalue(r, 0, 0), lsn) < 0)
        return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP: bad %s LSN \"%s\"", what, PQgetvalue(r, 0, 0));
    t = strtoul(PQgetvalue(r, 0, 1), &end, 10);
    if (*end || t == 0 || t > UINT32_MAX)
        return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP: bad %s timeline \"%s\"", what, PQgetvalue(r, 0, 1));
    *tli = (uint32_t) t;
    return 0;
}

static int tablespaces(PGresult *r, ws_backup_start *out, ws_err *err)
{
    int n;

    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK || PQnfields(r) < 3)
        return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP: unexpected tablespace result");
    n = PQntuples(r);
    out->tablespaces = calloc((size_t) (n ? n : 1), sizeof *out->tablespaces);
    if (!out->tablespaces)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        ws_backup_tablespace *t = &out->tablespaces[out->ntablespaces++];
        char *end;

        if (!PQgetisnull(r, i, 0)) {
            unsigned long oid = strtoul(PQgetvalue(r, i, 0), &end, 10);

            if (*end || oid == 0 || oid > UINT32_MAX)
                return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP: bad tablespace oid \"%s\"", PQgetvalue(r, i, 0));
            t->oid = (uint32_t) oid;
        }
        t->location = strdup(PQgetisnull(r, i, 1) ? "" : PQgetvalue(r, i, 1));
        if (!t->location)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        if (!PQgetisnull(r, i, 2))
            t->size = strtoull(PQgetvalue(r, i, 2), NULL, 10) * 1024;
    }
    return 0;
}

/* A label as a quoted SQL literal (the replication grammar's SCONST). */
static int quote_label(const char *label, char *out, size_t outlen, ws_err *err)
{
    size_t n = 0;

    out[n++] = '\'';
    for (const char *p = label; *p; p++) {
        if ((unsigned char) *p < 0x20)
            return ws_err_set(err, WS_ERR_INVALID, "backup label has a control character");
        if (n + 3 >= outlen)
            return ws_err_set(err, WS_ERR_INVALID, "backup label is too long");
        if (*p == '\'')
            out[n++] = '\'';
        out[n++] = *p;
    }
    out[n++] = '\'';
    out[n] = '\0';
    return 0;
}

int ws_backup_server_start(ws_backup_server *s, const ws_backup_options *o, double wait, ws_backup_server_wait_cb cb,
                           void *arg, ws_backup_start *out, ws_err *err)
{
    char label[512], cmd[1024], rate[64] = "";
    PGresult *r = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (quote_label(o->label, label, sizeof label, err) < 0)
        return -1;
    if (o->max_rate_kb)
        snprintf(rate, sizeof rate, ", MAX_RATE %" PRIu32, o->max_rate_kb);
    snprintf(cmd, sizeof cmd,
             "BASE_BACKUP (LABEL %s, PROGRESS, CHECKPOINT '%s', WAIT false, MANIFEST 'yes', "
             "MANIFEST_CHECKSUMS 'SHA256', TABLESPACE_MAP%s)",
             label, o->fast_checkpoint ? "fast" : "spread", rate);
    if (!PQsendQuery(s->conn, cmd))
        return server_error(s, NULL, "BASE_BACKUP", err);
    if (next_result(s, wait, cb, arg, &r, err) < 0)
        return -1;
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        server_error(s, r, "BASE_BACKUP", err);
        goto out;
    }
    if (lsn_row(s, r, "start", &out->lsn, &out->tli, err) < 0)
        goto out;
    PQclear(r);
    if (next_result(s, wait, cb, arg, &r, err) < 0)
        return -1;
    if (tablespaces(r, out, err) < 0)
        goto out;
    PQclear(r);
    if (next_result(s, wait, cb, arg, &r, err) < 0)
        return -1;
    if (!r || PQresultStatus(r) != PGRES_COPY_OUT) {
        server_error(s, r, "BASE_BACKUP", err);
        goto out;
    }
    rc = 0;
out:
    PQclear(r);
    if (rc < 0)
        ws_backup_start_free(out);
    return rc;
}

int ws_backup_server_next(ws_backup_server *s, double wait, const uint8_t **msg, size_t *len, ws_err *err)
{
    if (s->copybuf) {
        PQfreemem(s->copybuf);
        s->copybuf = NULL;
    }
    if (s->copy_done)
        return 2;
    for (;;) {
        int n = PQgetCopyData(s->conn, &s->copybuf, 1);

        if (n > 0) {
            *msg = (const uint8_t *) s->copybuf;
            *len = (size_t) n;
            return 1;
        }
        if (n == -1) {
            s->copy_done = true;
            return 2;
        }
        if (n == -2)
            return server_error(s, NULL, "BASE_BACKUP", err);
        n = wait_readable(s, wait, err);
        if (n <= 0)
            return n;
    }
}

static int checksum_error(ws_backup_server *s, const PGresult *r, ws_err *err)
{
    char list[700] = "";
    size_t n = 0;
    uint64_t blocks = 0;

    for (size_t i = 0; i < s->nbad; i++) {
        blocks += s->bad[i].blocks;
        if (n < sizeof list - 1)
            n += (size_t) snprintf(list + n, sizeof list - n, "%s%s (%" PRIu64 " block%s)", i ? ", " : "",
                                   s->bad[i].path, s->bad[i].blocks, s->bad[i].blocks == 1 ? "" : "s");
    }
    if (s->bad_total)
        blocks = s->bad_total;
    if (s->nbad)
        return ws_err_set(err, WS_ERR_CORRUPT,
                          "data checksum verification failed for %" PRIu64 " block%s in %zu%s file%s: %s%s", blocks,
                          blocks == 1 ? "" : "s", s->nbad, s->bad_truncated ? " or more" : "", s->nbad == 1 ? "" : "s",
                          list, n >= sizeof list - 1 ? "..." : "");
    if (s->nraw)
        return ws_err_set(err, WS_ERR_CORRUPT, "data checksum verification failed: %s%s", s->raw[0],
                          s->nraw > 1 ? " (and more)" : "");
    {
        char line[512];

        ws_backup_server_one_line(PQresultErrorMessage(r), line, sizeof line);
        return ws_err_set(err, WS_ERR_CORRUPT, "data checksum verification failed: %s", line);
    }
}

int ws_backup_server_finish(ws_backup_server *s, uint64_t *lsn, uint32_t *tli, ws_err *err)
{
    PGresult *r = NULL;
    int rc = -1;
    bool got_end = false;

    for (;;) {
        if (next_result(s, 1.0, NULL, NULL, &r, err) < 0)
            return -1;
        if (!r)
            break;
        switch (PQresultStatus(r)) {
        case PGRES_TUPLES_OK:
            if (got_end || lsn_row(s, r, "end", lsn, tli, err) < 0)
                goto out;
            got_end = true;
            break;
        case PGRES_COMMAND_OK:
            break;
        default: {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);

            if (state && strcmp(state, "XX001") == 0)
                checksum_error(s, r, err);
            else
                server_error(s, r, "BASE_BACKUP", err);
            goto out;
        }
        }
        PQclear(r);
        r = NULL;
    }
    if (!got_end)
        return ws_err_set(err, WS_ERR_FORMAT, "BASE_BACKUP ended without the end LSN");
    if (s->nbad || s->nraw)
        return checksum_error(s, NULL, err); /* warnings without the final error: still damage */
    rc = 0;
out:
    PQclear(r);
    return rc;
}
