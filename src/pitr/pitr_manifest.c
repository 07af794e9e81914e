/* pitr_manifest.c - the backup manifest and pg_verifybackup's check (pitr_manifest.h). */
#include "walship/pitr_manifest.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walship/hex.h"

static int cmp_path(const void *a, const void *b)
{
    return strcmp(((const ws_pitr_manifest_file *) a)->path, ((const ws_pitr_manifest_file *) b)->path);
}

void ws_pitr_manifest_free(ws_pitr_manifest *m)
{
    for (size_t i = 0; i < m->nfiles; i++)
        free(m->files[i].path);
    free(m->files);
    memset(m, 0, sizeof *m);
}

/* The manifest's checksum: SHA-256 of everything up to and including the
 * newline before its last line, which must end the file. */
static int check_checksum(const char *buf, size_t len, const char *expected_hex, const char *what, ws_err *err)
{
    size_t last = 0, before = 0, lines = 0;
    uint8_t want[WS_SHA256_LEN], got[WS_SHA256_LEN];
    unsigned glen = 0;

    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n') {
            lines++;
            before = last;
            last = i;
        }
    if (lines < 2 || last != len - 1)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: not a backup manifest (its last line must end the file)", what);
    if (!expected_hex || ws_hex_decode(expected_hex, strlen(expected_hex), want, sizeof want) < 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: no valid Manifest-Checksum", what);
    if (EVP_Digest(buf, before + 1, got, &glen, EVP_sha256(), NULL) != 1)
        return ws_err_set(err, WS_ERR_INTERNAL, "SHA-256 failed");
    if (memcmp(want, got, sizeof want) != 0)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: manifest checksum mismatch: the manifest was changed", what);
    return 0;
}

int ws_pitr_manifest_parse(const char *buf, size_t len, const char *what, ws_pitr_manifest *out, ws_err *err)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je), *files, *f;
    size_t i;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!root)
        return ws_err_set(err, WS_ERR_CORRUPT, "%s: not JSON (line %d: %s)", what, je.line,
                          ws_err_show(je.text, strlen(je.text), (char[WS_SHOW_BUF]){0}));
    if (json_integer_value(json_object_get(root, "PostgreSQL-Backup-Manifest-Version")) != 1) {
        ws_err_set(err, WS_ERR_FORMAT, "%s: not a version 1 PostgreSQL backup manifest", what);
        goto out;
    }
    if (check_checksum(buf, len, json_string_value(json_object_get(root, "Manifest-Checksum")), what, err) < 0)
        goto out;
    files = json_object_get(root, "Files");
    if (!json_is_array(files)) {
        ws_err_set(err, WS_ERR_CORRUPT, "%s: no Files array", what);
        goto out;
    }
    out->files = calloc(json_array_size(files) ? json_array_size(files) : 1, sizeof *out->files);
    if (!out->files) {
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    json_array_foreach(files, i, f)
    {
        ws_pitr_manifest_file *m = &out->files[out->nfiles];
        const char *path = json_string_value(json_object_get(f, "Path"));
        const char *enc = json_string_value(json_object_get(f, "Encoded-Path"));
        const char *alg = json_string_value(json_object_get(f, "Checksum-Algorithm"));
        const char *sum = json_string_value(json_object_get(f, "Checksum"));
        json_t *size = json_object_get(f, "Size");

        if (enc) {
            size_t n = strlen(enc) / 2;

            m->path = calloc(n + 1, 1);
            if (!m->path || ws_hex_decode(enc, strlen(enc), m->path, n) < 0 || memchr(m->path, '\0', n)) {
                ws_err_set(err, WS_ERR_CORRUPT, "%s: file %zu: bad Encoded-Path", what, i);
                free(m->path);
                goto out;
            }
        } else if (path && (m->path = strdup(path)) == NULL) {
            ws_err_set(err, WS_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (!m->path || !json_is_integer(size) || json_integer_value(size) < 0) {
            free(m->path);
            ws_err_set(err, WS_ERR_CORRUPT, "%s: file %zu has no path or size", what, i);
            goto out;
        }
        out->nfiles++;
        m->size = (uint64_t) json_integer_value(size);
        if (alg && strcmp(alg, "SHA256") == 0) {
            if (!sum || ws_hex_decode(sum, strlen(sum), m->sha256, sizeof m->sha256) < 0) {
                ws_err_set(err, WS_ERR_CORRUPT, "%s: file \"%.200s\": bad checksum", what, m->path);
                goto out;
            }
            m->has_sha256 = true;
        } else if (alg && strcmp(alg, "NONE") != 0) {
            ws_err_set(err, WS_ERR_FORMAT,
                       "%s: file \"%.200s\": checksum algorithm %s (walship-backup asks for SHA256; only SHA256 and "
                       "NONE are checked)",
                       what, m->path, alg);
            goto out;
        }
    }
    if (out->nfiles > 0)
        qsort(out->files, out->nfiles, sizeof *out->files, cmp_path);
    rc = 0;
out:
    json_decref(root);
    if (rc < 0)
        ws_pitr_manifest_free(out);
    return rc;
}

bool ws_pitr_manifest_has(const ws_pitr_manifest *m, const char *path)
{
    ws_pitr_manifest_file key = {.path = (char *) (uintptr_t) path};

    return m->nfiles && bsearch(&key, m->files, m->nfiles, sizeof *m->files, cmp_path);
}

/* What pg_verifybackup does not check. */
static bool ignored(const char *path)
{
    static const char *const names[] = {"backup_manifest", "pg_wal", "postgresql.auto.conf", "recovery.signal",
                                        "standby.signal"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i]);

        if (strncmp(path, names[i], n) == 0 && (path[n] == '\0' || path[n] == '/'))
            return true;
    }
    return false;
}

int ws_pitr_manifest_verify(const ws_pitr_manifest *m, const ws_pitr_extracted *x, ws_err *err)
{
    size_t bad = 0;
    char first[1024] = "";

    for (size_t i = 0; i < m->nfiles; i++) {
        const ws_pitr_manifest_file *mf = &m->files[i];
        const ws_pitr_file *f;
        char why[900];

        if (ignored(mf->path))
            continue;
        f = ws_pitr_extracted_find(x, mf->path);
        if (!f)
            snprintf(why, sizeof why, "\"%.400s\" is in the manifest but was not restored", mf->path);
        else if (f->size != mf->size)
            snprintf(why, sizeof why, "\"%.400s\" has size %" PRIu64 " on disk, %" PRIu64 " in the manifest", mf->path,
                     f->size, mf->size);
        else if (mf->has_sha256 && memcmp(f->sha256, mf->sha256, WS_SHA256_LEN) != 0)
            snprintf(why, sizeof why, "\"%.400s\" has another SHA-256 than the manifest's", mf->path);
        else
            continue;
        if (bad++ == 0)
            snprintf(first, sizeof first, "%s", why);
    }
    for (size_t i = 0; i < x->nfiles; i++) {
        if (ignored(x->files[i].path) || ws_pitr_manifest_has(m, x->files[i].path))
            continue;
        if (bad++ == 0)
            snprintf(first, sizeof first, "\"%.400s\" was restored but is not in the manifest", x->files[i].path);
    }
    if (bad)
        return ws_err_set(err, WS_ERR_CORRUPT, "the restored files do not match the backup manifest (%zu file%s): %s",
                          bad, bad == 1 ? "" : "s", first);
    return 0;
}
