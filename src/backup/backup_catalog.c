/* backup_catalog.c - the backup record and its JSON form (backup_catalog.h). */
#include "walship/backup_catalog.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "walship/buf.h"
#include "walship/json_in.h"
#include "walship/wal_index.h"
#include "walship/wal_reader.h"

/* Untrusted text from a record, quoted and escaped for one error line
 * (ws_err_show); the buffer lives until the end of the full expression. */
#define SHOW(s) ws_err_show((s), strlen(s), (char[WS_SHOW_BUF]){0})

#define DIR_PREFIX "backup/"

static const char *const status_names[] = {"running", "complete", "failed"};

const char *ws_backup_status_name(ws_backup_status s)
{
    return (unsigned) s < 3 ? status_names[s] : "unknown";
}

void ws_backup_record_init(ws_backup_record *r)
{
    memset(r, 0, sizeof *r);
    snprintf(r->compress, sizeof r->compress, "none");
}

static void object_free(ws_backup_object *o)
{
    free(o->key);
    free(o->member_path);
    memset(o, 0, sizeof *o);
}

void ws_backup_record_free(ws_backup_record *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->narchives; i++) {
        ws_backup_archive *a = &r->archives[i];

        for (size_t j = 0; j < a->nobjects; j++)
            object_free(&a->objects[j]);
        free(a->objects);
        free(a->name);
        free(a->ts_location);
    }
    free(r->archives);
    object_free(&r->manifest);
    ws_backup_record_clear_pending(r);
    free(r->pending);
    free(r->label);
    free(r->walship_version);
    free(r->start_time_server);
    free(r->stop_time_server);
    free(r->host);
    free(r->boot_id);
    free(r->error);
    ws_backup_record_init(r);
}

/* --- ids and keys ------------------------------------------------------------ */

void ws_backup_catalog_make_id(double unix_time, uint32_t random, char out[WS_BACKUP_ID_LEN + 1])
{
    time_t t = (time_t) unix_time;
    struct tm tm;
    char stamp[32];

    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 1000)
        memset(&tm, 0, sizeof tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, WS_BACKUP_ID_LEN + 1, "%.16s-%08" PRIX32, stamp, random);
}

bool ws_backup_catalog_id_valid(const char *id)
{
    static const char pattern[] = "DDDDDDDDTDDDDDDZ-XXXXXXXX";

    if (!id || strlen(id) != WS_BACKUP_ID_LEN)
        return false;
    for (size_t i = 0; i < WS_BACKUP_ID_LEN; i++) {
        char c = id[i], p = pattern[i];

        if (p == 'D'   ? !(c >= '0' && c <= '9')
            : p == 'X' ? !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))
                       : c != p)
            return false;
    }
    return true;
}

int ws_backup_catalog_key(const char *id, char *out, size_t outlen, ws_err *err)
{
    if (!ws_backup_catalog_id_valid(id))
        return ws_err_set(err, WS_ERR_INVALID, "%s is not a backup id (YYYYMMDDTHHMMSSZ-XXXXXXXX)", SHOW(id));
    if ((size_t) snprintf(out, outlen, "%s%s.ws", WS_BACKUP_CATALOG_PREFIX, id) >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "key buffer too small");
    return 0;
}

int ws_backup_catalog_id_of_key(const char *key, char out[WS_BACKUP_ID_LEN + 1])
{
    size_t plen = strlen(WS_BACKUP_CATALOG_PREFIX);

    if (strncmp(key, WS_BACKUP_CATALOG_PREFIX, plen) != 0 || strlen(key) != plen + WS_BACKUP_ID_LEN + 3 ||
        strcmp(key + plen + WS_BACKUP_ID_LEN, ".ws") != 0)
        return -1;
    memcpy(out, key + plen, WS_BACKUP_ID_LEN);
    out[WS_BACKUP_ID_LEN] = '\0';
    return ws_backup_catalog_id_valid(out) ? 0 : -1;
}

int ws_backup_catalog_dir(const char *id, char *out, size_t outlen, ws_err *err)
{
    if (!ws_backup_catalog_id_valid(id))
        return ws_err_set(err, WS_ERR_INVALID, "%s is not a backup id", SHOW(id));
    if ((size_t) snprintf(out, outlen, "%s%s/", DIR_PREFIX, id) >= outlen)
        return ws_err_set(err, WS_ERR_INVALID, "key buffer too small");
    return 0;
}

/* --- building ------------------------------------------------------------------ */

ws_backup_archive *ws_backup_record_add_archive(ws_backup_record *r, const char *name, ws_err *err)
{
    ws_backup_archive *a;

    if (ws_buf_grow_array((void **) &r->archives, &r->archives_cap, r->narchives + 1, sizeof *a, err) < 0)
        return NULL;
    a = &r->archives[r->narchives];
    memset(a, 0, sizeof *a);
    if (!(a->name = strdup(name)))
        goto nomem;
    r->narchives++;
    return a;
nomem:
    ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    return NULL;
}

ws_backup_object *ws_backup_archive_add_object(ws_backup_archive *a, const char *key, ws_err *err)
{
    ws_backup_object *o;

    if (ws_buf_grow_array((void **) &a->objects, &a->objects_cap, a->nobjects + 1, sizeof *o, err) < 0)
        return NULL;
    o = &a->objects[a->nobjects];
    memset(o, 0, sizeof *o);
    if (!(o->key = strdup(key)))
        goto nomem;
    a->nobjects++;
    return o;
nomem:
    ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    return NULL;
}

int ws_backup_record_add_pending(ws_backup_record *r, const char *key, const char *token, ws_err *err)
{
    ws_backup_pending *p;

    if (ws_buf_grow_array((void **) &r->pending, &r->pending_cap, r->npending + 1, sizeof *p, err) < 0)
        return -1;
    p = &r->pending[r->npending];
    p->key = strdup(key);
    p->token = token ? strdup(token) : NULL;
    if (!p->key || (token && !p->token)) {
        free(p->key);
        free(p->token);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    r->npending++;
    return 0;
}

void ws_backup_record_clear_pending(ws_backup_record *r)
{
    for (size_t i = 0; i < r->npending; i++) {
        free(r->pending[i].key);
        free(r->pending[i].token);
    }
    r->npending = 0;
}

/* --- writing JSON ---------------------------------------------------------------- */

static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, key, v) < 0)
        *ok = false;
}

static json_t *lsn_json(uint64_t lsn)
{
    char text[18];

    ws_wal_name_format_lsn(lsn, text);
    return json_string(text);
}

static json_t *u64_text(uint64_t v)
{
    char text[24];

    snprintf(text, sizeof text, "%" PRIu64, v);
    return json_string(text);
}

static json_t *sha_json(const uint8_t sha[WS_SHA256_LEN])
{
    char hex[65];

    ws_filter_sha256_hex(sha, hex);
    return json_string(hex);
}

static json_t *unix_text(double t)
{
    char text[40];
    time_t s = (time_t) t;
    struct tm tm;

    if (!gmtime_r(&s, &tm))
        return json_string("");
    strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(text);
}

static json_t *object_json(const ws_backup_object *ob, bool piece)
{
    json_t *o = json_object();
    bool ok = o != NULL;

    if (!ok)
        return NULL;
    put(o, "key", json_string(ob->key), &ok);
    if (piece)
        put(o, "tar_offset", json_integer((json_int_t) ob->tar_offset), &ok);
    put(o, "size", json_integer((json_int_t) ob->size), &ok);
    put(o, "stored_size", json_integer((json_int_t) ob->stored_size), &ok);
    put(o, "sha256", sha_json(ob->sha256), &ok);
    if (piece && ob->continued) {
        json_t *c = json_object();

        if (c) {
            put(c, "path", json_string(ob->member_path ? ob->member_path : ""), &ok);
            put(c, "offset", json_integer((json_int_t) ob->member_offset), &ok);
            put(c, "size", json_integer((json_int_t) ob->member_size), &ok);
        }
        put(o, "continues", c, &ok);
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *archive_json(const ws_backup_archive *a)
{
    json_t *o = json_object(), *objs = json_array();
    bool ok = o && objs;

    if (ok) {
        put(o, "name", json_string(a->name), &ok);
        if (a->tablespace) {
            json_t *t = json_object();

            if (t) {
                put(t, "oid", json_integer(a->ts_oid), &ok);
                put(t, "location", json_string(a->ts_location ? a->ts_location : ""), &ok);
            }
            put(o, "tablespace", t, &ok);
        } else
            put(o, "tablespace", json_null(), &ok);
        put(o, "estimated_size", json_integer((json_int_t) a->est_size), &ok);
        put(o, "tar_size", json_integer((json_int_t) a->tar_size), &ok);
        put(o, "stored_size", json_integer((json_int_t) a->stored_size), &ok);
        put(o, "members", json_integer((json_int_t) a->members), &ok);
        for (size_t i = 0; ok && i < a->nobjects; i++) {
            json_t *ob = object_json(&a->objects[i], true);

            if (!ob || json_array_append_new(objs, ob) < 0)
                ok = false;
        }
        put(o, "objects", objs, &ok);
        objs = NULL;
    }
    json_decref(objs);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *point_json(uint64_t lsn, uint32_t tli, const char *segment, bool has_time, int64_t time,
                          const char *server_text, bool *ok)
{
    json_t *o = json_object();

    if (!o) {
        *ok = false;
        return NULL;
    }
    put(o, "lsn", lsn_json(lsn), ok);
    put(o, "timeline", json_integer(tli), ok);
    put(o, "segment", json_string(segment), ok);
    if (has_time) {
        char text[WS_WAL_TIME_TEXT_MAX];

        ws_wal_reader_time_format(time, text);
        put(o, "time", json_integer(time), ok);
        put(o, "time_text", json_string(text), ok);
        if (server_text)
            put(o, "server_time", json_string(server_text), ok);
    }
    return o;
}

char *ws_backup_record_to_json(const ws_backup_record *r, bool pretty, ws_err *err)
{
    json_t *o = json_object(), *arr = json_array(), *sizes = json_object(), *repo = json_object(), *run = NULL;
    bool ok = o && arr && sizes && repo;
    char *text = NULL;

    if (ok) {
        put(o, "walship_backup", json_integer(WS_BACKUP_CATALOG_VERSION), &ok);
        put(o, "id", json_string(r->id), &ok);
        put(o, "status", json_string(ws_backup_status_name(r->status)), &ok);
        put(o, "label", json_string(r->label ? r->label : ""), &ok);
        put(o, "walship_version", json_string(r->walship_version ? r->walship_version : ""), &ok);
        put(o, "system_identifier", u64_text(r->sysid), &ok);
        put(o, "pg_version_num", json_integer(r->pg_version_num), &ok);
        put(o, "segment_size", json_integer(r->seg_size), &ok);
        put(o, "data_checksums", json_boolean(r->data_checksums), &ok);
        if (r->has_start)
            put(o, "start",
                point_json(r->start_lsn, r->start_tli, r->wal_first, r->has_times, r->start_time, r->start_time_server,
                           &ok),
                &ok);
        if (r->has_stop) {
            put(o, "stop",
                point_json(r->stop_lsn, r->stop_tli, r->wal_last, r->has_times, r->stop_time, r->stop_time_server, &ok),
                &ok);
            put(o, "checkpoint_lsn", lsn_json(r->checkpoint_lsn), &ok);
            put(o, "backup_history_file", json_string(r->history_file), &ok);
        }
        put(o, "started_at", json_real(r->started_at), &ok);
        put(o, "started_at_text", unix_text(r->started_at), &ok);
        if (r->finished_at > 0) {
            put(o, "finished_at", json_real(r->finished_at), &ok);
            put(o, "finished_at_text", unix_text(r->finished_at), &ok);
            put(o, "duration", json_real(r->finished_at - r->started_at), &ok);
        }
        put(repo, "compress", json_string(r->compress), &ok);
        put(repo, "encrypted", json_boolean(r->encrypted), &ok);
        if (r->encrypted)
            put(repo, "key_id", json_string(r->key_id), &ok);
        put(repo, "object_size", json_integer((json_int_t) r->object_size), &ok);
        put(o, "repository", repo, &ok);
        repo = NULL;
        put(sizes, "database", json_integer((json_int_t) r->db_size), &ok);
        put(sizes, "tar", json_integer((json_int_t) r->tar_size), &ok);
        put(sizes, "stored", json_integer((json_int_t) r->stored_size), &ok);
        put(o, "sizes", sizes, &ok);
        sizes = NULL;
        for (size_t i = 0; ok && i < r->narchives; i++) {
            json_t *a = archive_json(&r->archives[i]);

            if (!a || json_array_append_new(arr, a) < 0)
                ok = false;
        }
        put(o, "archives", arr, &ok);
        arr = NULL;
        if (r->has_manifest)
            put(o, "manifest", object_json(&r->manifest, false), &ok);
        if (r->status == WS_BACKUP_RUNNING) {
            json_t *pend = json_array();

            run = json_object();
            ok = ok && run && pend;
            if (ok) {
                put(run, "host", json_string(r->host ? r->host : ""), &ok);
                put(run, "boot_id", json_string(r->boot_id ? r->boot_id : ""), &ok);
                put(run, "pid", json_integer(r->pid), &ok);
                put(run, "pid_start", u64_text(r->pid_start), &ok);
                put(run, "heartbeat", json_real(r->heartbeat), &ok);
                for (size_t i = 0; ok && i < r->npending; i++) {
                    json_t *p = json_object();

                    if (!p || json_array_append_new(pend, p) < 0) {
                        ok = false;
                        break;
                    }
                    put(p, "key", json_string(r->pending[i].key), &ok);
                    if (r->pending[i].token)
                        put(p, "token", json_string(r->pending[i].token), &ok);
                }
                put(run, "pending", pend, &ok);
                pend = NULL;
            }
            json_decref(pend);
            put(o, "run", run, &ok);
        }
        if (r->status == WS_BACKUP_FAILED)
            put(o, "error", json_string(r->error ? r->error : ""), &ok);
    }
    if (ok)
        text = json_dumps(o, JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
    json_decref(o);
    json_decref(arr);
    json_decref(sizes);
    json_decref(repo);
    if (!text)
        ws_err_set(err, WS_ERR_NOMEM, "out of memory (backup record %s)", r->id);
    return text;
}

/* --- reading JSON ------------------------------------------------------------------ */

#define SIZE_MAX_JSON ((int64_t) 1 << 62)

static char *dup_str(ws_json_in *in, json_t *o, const char *key, bool required)
{
    const char *s = ws_json_in_str(in, o, key, required);
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d && !in->failed) {
        ws_err_set(in->err, WS_ERR_NOMEM, "out of memory");
        in->failed = true;
    }
    return d;
}

/* Keys of a backup's objects live in its own folder. */
static void check_key(ws_json_in *in, const char *key, const char *dir)
{
    size_t n = strlen(dir);
    const char *rest = key + n;

    if (strncmp(key, dir, n) != 0 || !*rest || strchr(rest, '/') || strlen(rest) > 200 ||
        strcmp(rest + strlen(rest) - (strlen(rest) >= 3 ? 3 : 0), ".ws") != 0) {
        ws_json_in_bad(in, "object key %s is not a walship object in %s", SHOW(key), dir);
        return;
    }
    for (const char *p = rest; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
              *p == '_' || *p == '-')) {
            ws_json_in_bad(in, "object key %s has a character that is not allowed", SHOW(key));
            return;
        }
}

static void read_object(ws_json_in *in, json_t *v, const char *dir, bool piece, ws_backup_object *ob)
{
    json_t *c;

    if (!json_is_object(v)) {
        ws_json_in_bad(in, "an object entry is not a JSON object");
        return;
    }
    ob->key = dup_str(in, v, "key", true);
    if (ob->key)
        check_key(in, ob->key, dir);
    if (piece)
        ob->tar_offset = (uint64_t) ws_json_in_int(in, v, "tar_offset", 0, SIZE_MAX_JSON);
    ob->size = (uint64_t) ws_json_in_int(in, v, "size", 0, SIZE_MAX_JSON);
    ob->stored_size = (uint64_t) ws_json_in_int(in, v, "stored_size", 0, SIZE_MAX_JSON);
    ws_json_in_sha256(in, v, "sha256", ob->sha256);
    c = piece ? ws_json_in_field(in, v, "continues", false) : NULL;
    if (c) {
        if (!json_is_object(c)) {
            ws_json_in_bad(in, "field \"continues\" is not an object");
            return;
        }
        ob->continued = true;
        ob->member_path = dup_str(in, c, "path", true);
        ob->member_offset = (uint64_t) ws_json_in_int(in, c, "offset", 1, SIZE_MAX_JSON);
        ob->member_size = (uint64_t) ws_json_in_int(in, c, "size", 1, SIZE_MAX_JSON);
        if (!in->failed && (ob->member_offset >= ob->member_size || !ob->member_path[0]))
            ws_json_in_bad(in, "object %s: \"continues\" is inconsistent", ob->key);
    }
}

static void read_archive(ws_json_in *in, json_t *v, const char *dir, bool complete, ws_backup_archive *a)
{
    json_t *ts, *objs;
    uint64_t off = 0, stored = 0;

    if (!json_is_object(v)) {
        ws_json_in_bad(in, "an archive entry is not a JSON object");
        return;
    }
    a->name = dup_str(in, v, "name", true);
    ts = ws_json_in_field(in, v, "tablespace", true);
    if (ts && !json_is_null(ts)) {
        if (!json_is_object(ts)) {
            ws_json_in_bad(in, "field \"tablespace\" is neither null nor an object");
            return;
        }
        a->tablespace = true;
        a->ts_oid = (uint32_t) ws_json_in_int(in, ts, "oid", 1, UINT32_MAX);
        a->ts_location = dup_str(in, ts, "location", true);
        if (a->ts_location && a->ts_location[0] != '/')
            ws_json_in_bad(in, "tablespace %u: location %s is not absolute", a->ts_oid, SHOW(a->ts_location));
    }
    a->est_size = (uint64_t) ws_json_in_int(in, v, "estimated_size", 0, SIZE_MAX_JSON);
    a->tar_size = (uint64_t) ws_json_in_int(in, v, "tar_size", 0, SIZE_MAX_JSON);
    a->stored_size = (uint64_t) ws_json_in_int(in, v, "stored_size", 0, SIZE_MAX_JSON);
    a->members = (uint64_t) ws_json_in_int(in, v, "members", 0, SIZE_MAX_JSON);
    objs = ws_json_in_array(in, v, "objects");
    if (!objs || in->failed)
        return;
    a->objects_cap = json_array_size(objs) ? json_array_size(objs) : 1;
    a->objects = calloc(a->objects_cap, sizeof *a->objects);
    if (!a->objects) {
        ws_json_in_bad(in, "out of memory");
        return;
    }
    for (size_t i = 0; i < json_array_size(objs) && !in->failed; i++) {
        ws_backup_object *ob = &a->objects[a->nobjects++];

        read_object(in, json_array_get(objs, i), dir, true, ob);
        if (in->failed)
            break;
        /* The pieces tile the archive in order. */
        if (ob->tar_offset != off)
            ws_json_in_bad(in, "archive %s: object %s starts at %" PRIu64 ", not %" PRIu64, a->name, ob->key,
                           ob->tar_offset, off);
        off += ob->size;
        stored += ob->stored_size;
    }
    if (in->failed)
        return;
    if (complete && a->nobjects == 0)
        ws_json_in_bad(in, "archive %s has no objects", a->name);
    else if (complete && (off != a->tar_size || stored != a->stored_size))
        ws_json_in_bad(in,
                       "archive %s: its objects add up to %" PRIu64 " bytes (%" PRIu64 " stored), not %" PRIu64
                       " (%" PRIu64 ")",
                       a->name, off, stored, a->tar_size, a->stored_size);
}

static bool archive_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (strcmp(name, "base.tar") == 0)
        return true;
    if (n < 5 || n > 14 || strcmp(name + n - 4, ".tar") != 0 || name[0] == '0')
        return false;
    for (size_t i = 0; i < n - 4; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

static void read_point(ws_json_in *in, json_t *o, const char *key, uint64_t *lsn, uint32_t *tli, char *segment,
                       bool *has_time, int64_t *time, char **server_text)
{
    json_t *p = ws_json_in_object(in, o, key);
    const char *seg;

    if (!p)
        return;
    *lsn = ws_json_in_lsn(in, p, "lsn");
    *tli = (uint32_t) ws_json_in_int(in, p, "timeline", 1, UINT32_MAX);
    seg = ws_json_in_str(in, p, "segment", true);
    if (seg && !ws_wal_name_is_segment(seg))
        ws_json_in_bad(in, "field \"%s.segment\" is not a WAL segment name", key);
    else if (seg)
        snprintf(segment, WS_WAL_NAME_MAX, "%s", seg);
    if (ws_json_in_field(in, p, "time", false)) {
        *has_time = true;
        *time = ws_json_in_int(in, p, "time", INT64_MIN + 1, INT64_MAX - 1);
        *server_text = dup_str(in, p, "server_time", false);
    } else
        *has_time = false;
}

/* The segment holding LSN lsn - 1 (XLByteToPrevSeg) or lsn. */
static bool segment_matches(const char *name, uint32_t tli, uint64_t lsn, uint32_t seg_size, bool prev)
{
    ws_wal_name w;
    char want[WS_WAL_NAME_MAX];

    if (lsn == 0 && prev)
        return false;
    ws_wal_name_from_segno(tli, (prev ? lsn - 1 : lsn) / seg_size, seg_size, &w);
    ws_wal_name_format(&w, want);
    return strcmp(want, name) == 0;
}

static void read_record(ws_json_in *in, json_t *root, ws_backup_record *r)
{
    const char *s, *id;
    char dir[64];
    json_t *arr, *repo, *sizes, *m;
    bool has_time_start = false, has_time_stop = false;
    ws_err ignored;

    id = ws_json_in_str(in, root, "id", true);
    if (id && !ws_backup_catalog_id_valid(id))
        ws_json_in_bad(in, "field \"id\" is not a backup id");
    if (in->failed)
        return;
    snprintf(r->id, sizeof r->id, "%s", id);
    ws_backup_catalog_dir(r->id, dir, sizeof dir, &ignored);
    s = ws_json_in_str(in, root, "status", true);
    if (s) {
        size_t i;

        for (i = 0; i < 3 && strcmp(s, status_names[i]) != 0; i++)
            ;
        if (i == 3)
            ws_json_in_bad(in, "unknown status %s", SHOW(s));
        r->status = (ws_backup_status) i;
    }
    r->label = dup_str(in, root, "label", true);
    r->walship_version = dup_str(in, root, "walship_version", true);
    r->sysid = ws_json_in_u64_text(in, root, "system_identifier");
    r->pg_version_num = (unsigned) ws_json_in_int(in, root, "pg_version_num", 0, 9999999);
    r->seg_size = (uint32_t) ws_json_in_int(in, root, "segment_size", 0, UINT32_MAX);
    r->data_checksums = ws_json_in_bool(in, root, "data_checksums");
    if (in->failed)
        return;
    if (r->status == WS_BACKUP_COMPLETE && (!ws_wal_name_seg_size_valid(r->seg_size) || r->pg_version_num < 150000))
        ws_json_in_bad(in, "segment size %" PRIu32 " or PostgreSQL version %u is not valid", r->seg_size,
                       r->pg_version_num);
    if (ws_json_in_field(in, root, "start", r->status == WS_BACKUP_COMPLETE)) {
        r->has_start = true;
        read_point(in, root, "start", &r->start_lsn, &r->start_tli, r->wal_first, &has_time_start, &r->start_time,
                   &r->start_time_server);
    }
    if (ws_json_in_field(in, root, "stop", r->status == WS_BACKUP_COMPLETE)) {
        r->has_stop = true;
        read_point(in, root, "stop", &r->stop_lsn, &r->stop_tli, r->wal_last, &has_time_stop, &r->stop_time,
                   &r->stop_time_server);
        r->checkpoint_lsn = ws_json_in_lsn(in, root, "checkpoint_lsn");
        s = ws_json_in_str(in, root, "backup_history_file", true);
        if (s) {
            ws_wal_name w;

            if (ws_wal_name_parse(s, &w, &ignored) < 0 || w.kind != WS_WAL_BACKUP)
                ws_json_in_bad(in, "field \"backup_history_file\" is not a .backup file name");
            else
                snprintf(r->history_file, sizeof r->history_file, "%s", s);
        }
    }
    if (in->failed)
        return;
    r->has_times = has_time_start && has_time_stop;
    if (r->has_start && r->has_stop && ws_wal_name_seg_size_valid(r->seg_size)) {
        if (r->stop_lsn <= r->start_lsn || r->checkpoint_lsn < r->start_lsn || r->checkpoint_lsn > r->stop_lsn ||
            r->start_tli != r->stop_tli)
            ws_json_in_bad(in, "start, checkpoint and stop LSNs or timelines are not in order");
        else if (!segment_matches(r->wal_first, r->start_tli, r->start_lsn, r->seg_size, false) ||
                 !segment_matches(r->wal_last, r->stop_tli, r->stop_lsn, r->seg_size, true))
            ws_json_in_bad(in, "start or stop segment does not match its LSN");
    }
    r->started_at = ws_json_in_number(in, root, "started_at", 0, 1e12);
    if (ws_json_in_field(in, root, "finished_at", r->status != WS_BACKUP_RUNNING))
        r->finished_at = ws_json_in_number(in, root, "finished_at", r->started_at, 1e12);
    repo = ws_json_in_object(in, root, "repository");
    s = ws_json_in_str(in, repo, "compress", true);
    if (s && strcmp(s, "lz4") != 0 && strcmp(s, "none") != 0)
        ws_json_in_bad(in, "unknown compression %s", SHOW(s));
    else if (s)
        snprintf(r->compress, sizeof r->compress, "%s", s);
    r->encrypted = ws_json_in_bool(in, repo, "encrypted");
    if (r->encrypted) {
        s = ws_json_in_str(in, repo, "key_id", true);
        if (s && strlen(s) == 32 && strspn(s, "0123456789abcdef") == 32)
            snprintf(r->key_id, sizeof r->key_id, "%s", s);
        else if (s)
            ws_json_in_bad(in, "field \"key_id\" is not 32 hex digits");
    }
    r->object_size = (uint64_t) ws_json_in_int(in, repo, "object_size", 1, SIZE_MAX_JSON);
    sizes = ws_json_in_object(in, root, "sizes");
    r->db_size = (uint64_t) ws_json_in_int(in, sizes, "database", 0, SIZE_MAX_JSON);
    r->tar_size = (uint64_t) ws_json_in_int(in, sizes, "tar", 0, SIZE_MAX_JSON);
    r->stored_size = (uint64_t) ws_json_in_int(in, sizes, "stored", 0, SIZE_MAX_JSON);
    arr = ws_json_in_array(in, root, "archives");
    if (in->failed)
        return;
    r->archives_cap = json_array_size(arr) ? json_array_size(arr) : 1;
    r->archives = calloc(r->archives_cap, sizeof *r->archives);
    if (!r->archives) {
        ws_json_in_bad(in, "out of memory");
        return;
    }
    for (size_t i = 0; i < json_array_size(arr) && !in->failed; i++) {
        ws_backup_archive *a = &r->archives[r->narchives++];

        read_archive(in, json_array_get(arr, i), dir, r->status == WS_BACKUP_COMPLETE, a);
        if (in->failed)
            break;
        if (!archive_name_valid(a->name))
            ws_json_in_bad(in, "archive name %s is not base.tar or OID.tar", SHOW(a->name));
        for (size_t j = 0; j < i && !in->failed; j++)
            if (strcmp(r->archives[j].name, a->name) == 0)
                ws_json_in_bad(in, "archive %s appears twice", a->name);
    }
    m = ws_json_in_field(in, root, "manifest", r->status == WS_BACKUP_COMPLETE);
    if (m && !in->failed) {
        r->has_manifest = true;
        read_object(in, m, dir, false, &r->manifest);
    }
    if (in->failed)
        return;
    if (r->status == WS_BACKUP_COMPLETE) {
        uint64_t tar = 0, stored = r->manifest.stored_size;
        size_t nbase = 0;

        for (size_t i = 0; i < r->narchives; i++) {
            tar += r->archives[i].tar_size;
            stored += r->archives[i].stored_size;
            nbase += !r->archives[i].tablespace;
        }
        if (nbase != 1)
            ws_json_in_bad(in, "a complete backup has %zu data directory archives, not 1", nbase);
        else if (tar != r->tar_size || stored != r->stored_size)
            ws_json_in_bad(in,
                           "sizes do not add up (tar %" PRIu64 " vs %" PRIu64 ", stored %" PRIu64 " vs %" PRIu64 ")",
                           tar, r->tar_size, stored, r->stored_size);
    }
    if (r->status == WS_BACKUP_RUNNING) {
        json_t *run = ws_json_in_object(in, root, "run"), *pend;

        r->host = dup_str(in, run, "host", true);
        r->boot_id = dup_str(in, run, "boot_id", true);
        r->pid = (long) ws_json_in_int(in, run, "pid", 0, INT32_MAX);
        r->pid_start = ws_json_in_u64_text(in, run, "pid_start");
        r->heartbeat = ws_json_in_number(in, run, "heartbeat", 0, 1e12);
        pend = ws_json_in_array(in, run, "pending");
        for (size_t i = 0; pend && i < json_array_size(pend) && !in->failed; i++) {
            json_t *p = json_array_get(pend, i);
            const char *k = ws_json_in_str(in, p, "key", true), *t = ws_json_in_str(in, p, "token", false);

            if (in->failed)
                break;
            check_key(in, k, dir);
            if (!in->failed && ws_backup_record_add_pending(r, k, t, in->err) < 0)
                in->failed = true;
        }
    }
    if (r->status == WS_BACKUP_FAILED)
        r->error = dup_str(in, root, "error", true);
}

int ws_backup_record_from_json(const char *buf, size_t len, const char *what, ws_backup_record *out, ws_err *err)
{
    ws_json_in in;
    json_t *root, *v;

    ws_backup_record_init(out);
    ws_json_in_init(&in, what, err);
    root = ws_json_in_parse(&in, buf, len, WS_BACKUP_RECORD_MAX);
    if (!root)
        return -1;
    v = json_object_get(root, "walship_backup");
    if (!v || !json_is_integer(v)) {
        json_decref(root);
        return ws_err_set(err, WS_ERR_FORMAT, "%s: not a walship backup record", what);
    }
    if (json_integer_value(v) != WS_BACKUP_CATALOG_VERSION) {
        json_int_t version = json_integer_value(v);

        json_decref(root);
        return ws_err_set(err, WS_ERR_FORMAT, "%s: unsupported backup record version %" JSON_INTEGER_FORMAT, what,
                          version);
    }
    read_record(&in, root, out);
    json_decref(root);
    if (in.failed) {
        ws_backup_record_free(out);
        return -1;
    }
    return 0;
}
