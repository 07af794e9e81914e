/* wal_index_json.c - the JSON form of WAL index entries (see wal_index_json.h). */
#include "walship/wal_index_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/hex.h"
#include "walship/json_in.h"

/* --- writing ---------------------------------------------------------------- */

static json_t *lsn_json(uint64_t lsn)
{
    char text[18];

    ws_wal_name_format_lsn(lsn, text);
    return json_string(text);
}

static json_t *time_text_json(int64_t ts)
{
    char text[WS_WAL_TIME_TEXT_MAX];

    ws_wal_reader_time_format(ts, text);
    return json_string(text);
}

/* json_object_set_new that remembers a failure. */
static void put(json_t *o, const char *key, json_t *v, bool *ok)
{
    if (!v || json_object_set_new(o, key, v) < 0)
        *ok = false;
}

static json_t *range_json(const ws_wal_xact_range *r, bool with_time, bool with_prepared)
{
    json_t *o = json_object();
    bool ok = o != NULL;

    if (!o)
        return NULL;
    put(o, "count", json_integer((json_int_t) r->count), &ok);
    if (with_prepared)
        put(o, "prepared", json_integer((json_int_t) r->prepared), &ok);
    if (r->count > 0) {
        if (with_time) {
            put(o, "time_min", json_integer(r->time_min), &ok);
            put(o, "time_max", json_integer(r->time_max), &ok);
            put(o, "time_min_text", time_text_json(r->time_min), &ok);
            put(o, "time_max_text", time_text_json(r->time_max), &ok);
        }
        put(o, "xid_min", json_integer(r->xid_min), &ok);
        put(o, "xid_max", json_integer(r->xid_max), &ok);
    }
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *rp_json(const ws_wal_restore_point *p)
{
    json_t *o = json_object();
    json_t *name;
    bool ok = o != NULL;
    size_t len = strnlen(p->name, WS_WAL_RP_NAME_MAX);

    if (!o)
        return NULL;
    /* Names are bytes in the server encoding: kept as text when they are
     * UTF-8, else as hex. */
    name = json_stringn(p->name, len);
    if (name) {
        put(o, "name", name, &ok);
    } else {
        char hex[2 * WS_WAL_RP_NAME_MAX + 1];

        ws_hex_encode(p->name, len, hex);
        put(o, "name_hex", json_string(hex), &ok);
    }
    put(o, "time", json_integer(p->time), &ok);
    put(o, "time_text", time_text_json(p->time), &ok);
    put(o, "lsn", lsn_json(p->lsn), &ok);
    put(o, "end_lsn", lsn_json(p->end_lsn), &ok);
    if (!ok) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *ws_wal_index_json_format(const ws_wal_index *ix, bool pretty, ws_err *err)
{
    json_t *o = json_object(), *stop = json_object(), *rps = json_array();
    bool ok = o && stop && rps;
    char *text = NULL;

    if (ok) {
        char sysid[24];

        put(o, "walship_wal_index", json_integer(WS_WAL_INDEX_VERSION), &ok);
        put(o, "segment", json_string(ix->segment), &ok);
        put(o, "timeline", json_integer(ix->tli), &ok);
        put(o, "segment_size", json_integer(ix->seg_size), &ok);
        if (ix->pg_version)
            put(o, "pg_version", json_integer(ix->pg_version), &ok);
        if (ix->sysid) {
            snprintf(sysid, sizeof sysid, "%" PRIu64, ix->sysid);
            put(o, "system_identifier", json_string(sysid), &ok);
        }
        put(o, "records", json_integer((json_int_t) ix->records), &ok);
        if (ix->records > 0) {
            put(o, "first_lsn", lsn_json(ix->first_lsn), &ok);
            put(o, "end_lsn", lsn_json(ix->end_lsn), &ok);
        }
        put(o, "continued_unread", json_boolean(ix->continued_unread), &ok);
        put(stop, "reason", json_string(ws_wal_stop_name(ix->stop)), &ok);
        put(stop, "lsn", lsn_json(ix->stop_lsn), &ok);
        put(stop, "detail", json_string(ix->stop_detail), &ok);
        put(o, "stop", stop, &ok);
        stop = NULL;
        put(o, "commits", range_json(&ix->commits, true, true), &ok);
        put(o, "aborts", range_json(&ix->aborts, true, true), &ok);
        put(o, "prepares", range_json(&ix->prepares, false, false), &ok);
        for (size_t i = 0; ok && i < ix->n_restore_points; i++) {
            json_t *p = rp_json(&ix->restore_points[i]);

            if (!p || json_array_append_new(rps, p) < 0)
                ok = false;
        }
        put(o, "restore_points", rps, &ok);
        rps = NULL;
    }
    if (ok)
        text = json_dumps(o, JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
    json_decref(o);
    json_decref(stop);
    json_decref(rps);
    if (!text)
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    return text;
}

/* --- reading: every field is checked (json_in.h) -------------------------- */

static void get_range(ws_json_in *in, json_t *o, const char *key, bool with_time, bool with_prepared,
                      ws_wal_xact_range *r)
{
    json_t *v = ws_json_in_object(in, o, key);

    if (!v)
        return;
    r->count = (uint64_t) ws_json_in_int(in, v, "count", 0, INT64_MAX);
    if (with_prepared) {
        r->prepared = (uint64_t) ws_json_in_int(in, v, "prepared", 0, INT64_MAX);
        if (r->prepared > r->count)
            ws_json_in_bad(in, "%s: more prepared than in all", key);
    }
    if (r->count == 0)
        return;
    if (with_time) {
        r->time_min = ws_json_in_int(in, v, "time_min", INT64_MIN, INT64_MAX);
        r->time_max = ws_json_in_int(in, v, "time_max", INT64_MIN, INT64_MAX);
        if (r->time_min > r->time_max)
            ws_json_in_bad(in, "%s: time_min is after time_max", key);
    }
    r->xid_min = (uint32_t) ws_json_in_int(in, v, "xid_min", 0, UINT32_MAX);
    r->xid_max = (uint32_t) ws_json_in_int(in, v, "xid_max", 0, UINT32_MAX);
}

static void get_rp(ws_json_in *in, json_t *v, size_t i, ws_wal_restore_point *p)
{
    const char *name, *hex;

    memset(p, 0, sizeof *p);
    if (!json_is_object(v)) {
        ws_json_in_bad(in, "restore point %zu is not an object", i);
        return;
    }
    name = ws_json_in_str(in, v, "name", false);
    hex = ws_json_in_str(in, v, "name_hex", false);
    if (name && !hex && strlen(name) <= WS_WAL_RP_NAME_MAX) {
        memcpy(p->name, name, strlen(name) + 1);
    } else if (hex && !name && strlen(hex) % 2 == 0 && strlen(hex) <= 2 * WS_WAL_RP_NAME_MAX) {
        size_t n = strlen(hex) / 2;

        if (ws_hex_decode(hex, 2 * n, p->name, n) < 0 || memchr(p->name, '\0', n)) {
            memset(p->name, 0, sizeof p->name);
            ws_json_in_bad(in, "restore point %zu: bad name_hex", i);
            return;
        }
    } else {
        ws_json_in_bad(in, "restore point %zu: needs one name (\"name\" or \"name_hex\") of at most %d bytes", i,
                       WS_WAL_RP_NAME_MAX);
        return;
    }
    p->time = ws_json_in_int(in, v, "time", INT64_MIN, INT64_MAX);
    p->lsn = ws_json_in_lsn(in, v, "lsn");
    p->end_lsn = ws_json_in_lsn(in, v, "end_lsn");
    if (!ws_json_in_failed(in) && p->end_lsn <= p->lsn)
        ws_json_in_bad(in, "restore point %zu ends before it starts", i);
}

/* The header fields: version, segment, timeline, size, cluster. */
static void get_header(ws_json_in *in, json_t *o, ws_wal_index *out)
{
    ws_wal_name name;
    const char *s;
    ws_err e;

    s = ws_json_in_str(in, o, "segment", true);
    if (s && (ws_wal_name_parse(s, &name, &e) < 0 || (name.kind != WS_WAL_SEGMENT && name.kind != WS_WAL_PARTIAL))) {
        ws_json_in_bad(in, "\"%s\" is not a segment name", s);
        return;
    }
    if (s)
        snprintf(out->segment, sizeof out->segment, "%s", s);
    out->tli = (uint32_t) ws_json_in_int(in, o, "timeline", 1, UINT32_MAX);
    out->seg_size = (uint32_t) ws_json_in_int(in, o, "segment_size", WS_WAL_SEG_SIZE_MIN, WS_WAL_SEG_SIZE_MAX);
    if (ws_json_in_failed(in))
        return;
    if (out->tli != name.tli || !ws_wal_name_seg_size_valid(out->seg_size)) {
        ws_json_in_bad(in, "timeline or segment size does not fit segment %s", out->segment);
        return;
    }
    if (json_object_get(o, "pg_version"))
        out->pg_version = (unsigned) ws_json_in_int(in, o, "pg_version", 1, 1000);
    if (json_object_get(o, "system_identifier")) {
        out->sysid = ws_json_in_u64_text(in, o, "system_identifier");
        if (!ws_json_in_failed(in) && out->sysid == 0)
            ws_json_in_bad(in, "bad system_identifier \"0\"");
    }
}

int ws_wal_index_json_parse(const char *buf, size_t len, const char *what, ws_wal_index *out, ws_err *err)
{
    ws_json_in in;
    json_t *o, *v;
    const char *s;

    ws_wal_index_init(out);
    ws_json_in_init(&in, what, err);
    o = ws_json_in_parse(&in, buf, len, WS_WAL_INDEX_JSON_MAX);
    if (!o)
        return -1;
    v = json_object_get(o, "walship_wal_index");
    if (!v || !json_is_integer(v)) {
        ws_json_in_bad(&in, "not a WAL index entry (no \"walship_wal_index\" version)");
    } else if (json_integer_value(v) != WS_WAL_INDEX_VERSION) {
        ws_json_in_bad(&in, "unsupported WAL index version %" JSON_INTEGER_FORMAT " (this walship reads %d)",
                       json_integer_value(v), WS_WAL_INDEX_VERSION);
        err->code = WS_ERR_FORMAT;
    }
    if (!ws_json_in_failed(&in))
        get_header(&in, o, out);
    out->records = (uint64_t) ws_json_in_int(&in, o, "records", 0, INT64_MAX);
    if (out->records > 0) {
        out->first_lsn = ws_json_in_lsn(&in, o, "first_lsn");
        out->end_lsn = ws_json_in_lsn(&in, o, "end_lsn");
        if (!ws_json_in_failed(&in) && out->end_lsn <= out->first_lsn)
            ws_json_in_bad(&in, "end_lsn is not after first_lsn");
    }
    out->continued_unread = ws_json_in_bool(&in, o, "continued_unread");
    v = ws_json_in_object(&in, o, "stop");
    if (v) {
        s = ws_json_in_str(&in, v, "reason", true);
        if (s && ws_wal_stop_parse(s, &out->stop) < 0)
            ws_json_in_bad(&in, "unknown stop reason \"%s\"", s);
        out->stop_lsn = ws_json_in_lsn(&in, v, "lsn");
        if ((s = ws_json_in_str(&in, v, "detail", false)) != NULL)
            snprintf(out->stop_detail, sizeof out->stop_detail, "%s", s);
    }
    get_range(&in, o, "commits", true, true, &out->commits);
    get_range(&in, o, "aborts", true, true, &out->aborts);
    get_range(&in, o, "prepares", false, false, &out->prepares);
    v = ws_json_in_array(&in, o, "restore_points");
    if (v && !ws_json_in_failed(&in) && json_array_size(v) > 0) {
        out->restore_points = calloc(json_array_size(v), sizeof *out->restore_points);
        if (!out->restore_points) {
            ws_json_in_bad(&in, "out of memory");
            err->code = WS_ERR_NOMEM;
        } else {
            out->n_restore_points = json_array_size(v);
            for (size_t i = 0; i < out->n_restore_points && !ws_json_in_failed(&in); i++)
                get_rp(&in, json_array_get(v, i), i, &out->restore_points[i]);
        }
    }
    json_decref(o);
    if (ws_json_in_failed(&in)) {
        ws_wal_index_free(out);
        return -1;
    }
    return 0;
}
