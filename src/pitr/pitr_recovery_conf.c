/* pitr_recovery_conf.c - recovery settings of a restored data directory (pitr_recovery_conf.h). */
#include "walship/pitr_recovery_conf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "walship/buf.h"
#include "walship/clock.h"
#include "walship/localfile.h"

#define CONF_MAX (16u << 20)

static int write_owned(const char *path, const ws_buf *b, const ws_pitr_owner *owner, ws_err *err)
{
    if (ws_localfile_write(path, b->data ? b->data : "", b->len, 0600, 0, err) < 0)
        return -1;
    if (owner->chown && chown(path, owner->uid, owner->gid) < 0)
        return ws_err_sys(err, errno, "cannot give %s to the data directory's owner", path);
    return 0;
}

/* A setting's value as the config file syntax reads it back. */
static int value_text(const ws_cfg_def *d, const ws_config *cfg, char *out, size_t outlen)
{
    const void *field = (const char *) cfg + d->offset;

    switch (d->type) {
    case WS_CFG_TYPE_STRING: {
        const char *v = *(char *const *) field;

        if (!v)
            return 0;
        if (strlen(d->name) > 5 && strcmp(d->name + strlen(d->name) - 5, "_file") == 0 && v[0] != '/') {
            char abs[PATH_MAX];

            /* A relative file name would be read from the data directory. */
            if (!realpath(v, abs))
                return -1;
            snprintf(out, outlen, "%s", abs);
            return 1;
        }
        snprintf(out, outlen, "%s", v);
        return 1;
    }
    case WS_CFG_TYPE_BOOL:
        snprintf(out, outlen, "%s", *(const bool *) field ? "on" : "off");
        return 1;
    case WS_CFG_TYPE_SECONDS:
        snprintf(out, outlen, "%g", *(const double *) field);
        return 1;
    case WS_CFG_TYPE_COUNT:
        snprintf(out, outlen, "%u", *(const unsigned *) field);
        return 1;
    case WS_CFG_TYPE_CHOICE:
        snprintf(out, outlen, "%s", d->choices[*(const int *) field]);
        return 1;
    }
    return 0;
}

int ws_pitr_recovery_conf_walship(const ws_config *cfg, const char *dir, const ws_pitr_owner *owner, char **path,
                                  ws_err *err)
{
    ws_buf b = {0};
    char *p = NULL;
    char value[PATH_MAX + 64];
    int rc = -1;

    if (asprintf(&p, "%s/%s", dir, WS_PITR_WALSHIP_CONF) < 0)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    if (ws_buf_printf(
            &b, err,
            "# Written by pitr-restore for this data directory's restore_command: the walship settings\n"
            "# in effect when it ran.  Environment variables WALSHIP_* of the server still override them.\n") < 0)
        goto out;
    for (int k = 0; k < WS_CFG_NKEYS; k++) {
        const ws_cfg_def *d = &ws_config_table[k];
        int got;

        if (d->secret)
            continue;
        got = value_text(d, cfg, value, sizeof value);
        if (got < 0) {
            ws_err_sys(err, errno, "setting %s: cannot make an absolute path of it", d->name);
            goto out;
        }
        if (got == 0)
            continue;
        if (strchr(value, '\n') || strchr(value, '\r')) {
            ws_err_set(err, WS_ERR_CONFIG, "setting %s: a value with a line break cannot be written", d->name);
            goto out;
        }
        /* Quotes keep white space at either end. */
        if (ws_buf_printf(&b, err,
                          isspace((unsigned char) value[0]) ||
                                  (*value && isspace((unsigned char) value[strlen(value) - 1]))
                              ? "%s = \"%s\"\n"
                              : "%s = %s\n",
                          d->name, value) < 0)
            goto out;
    }
    rc = write_owned(p, &b, owner, err);
out:
    ws_buf_free(&b);
    if (rc == 0 && path)
        *path = p;
    else
        free(p);
    return rc;
}

/* The parameter a postgresql.conf line sets (lower case), or "" for a
 * comment or blank line. */
static void line_key(const char *line, size_t len, char *key, size_t keylen)
{
    size_t i = 0, k = 0;

    while (i < len && isspace((unsigned char) line[i]))
        i++;
    while (i < len && k + 1 < keylen && (isalnum((unsigned char) line[i]) || line[i] == '_' || line[i] == '.'))
        key[k++] = (char) tolower((unsigned char) line[i++]);
    key[k] = '\0';
}

static bool conflicts(const char *key, const ws_pitr_setting *s, size_t n)
{
    if (!*key)
        return false;
    if (strncmp(key, "recovery_target", 15) == 0 || strcmp(key, "restore_command") == 0)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(key, s[i].name) == 0)
            return true;
    return false;
}

int ws_pitr_recovery_conf_auto(const char *pgdata, const char *header, const ws_pitr_setting *s, size_t n,
                               const ws_pitr_owner *owner, unsigned *commented, ws_err *err)
{
    char *path = NULL, *old = NULL;
    size_t len = 0;
    ws_buf b = {0};
    int rc = -1, got;

    if (commented)
        *commented = 0;
    if (asprintf(&path, "%s/postgresql.auto.conf", pgdata) < 0)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    got = ws_localfile_read(path, CONF_MAX, WS_LOCALFILE_NOFOLLOW, &old, &len, err);
    if (got < 0)
        goto out;
    if (got == 0 && ws_buf_printf(&b, err,
                                  "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM "
                                  "command.\n") < 0)
        goto out;
    for (size_t i = 0; got && i < len;) {
        const char *line = old + i, *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t) (nl - line) : len - i;
        char key[128];

        line_key(line, ll, key, sizeof key);
        if (conflicts(key, s, n)) {
            if (ws_buf_printf(&b, err, "# (pitr-restore) %.*s\n", (int) ll, line) < 0)
                goto out;
            if (commented)
                (*commented)++;
        } else if (ws_buf_printf(&b, err, "%.*s\n", (int) ll, line) < 0)
            goto out;
        i += ll + (nl ? 1 : 0);
    }
    if (ws_buf_printf(&b, err, "# %s\n", header) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (ws_buf_printf(&b, err, "%s = '", s[i].name) < 0)
            goto out;
        for (const char *c = s[i].value; *c; c++)
            if (ws_buf_printf(&b, err, *c == '\'' ? "''" : "%c", *c) < 0)
                goto out;
        if (ws_buf_printf(&b, err, "'\n") < 0)
            goto out;
    }
    rc = write_owned(path, &b, owner, err);
out:
    free(old);
    free(path);
    ws_buf_free(&b);
    return rc;
}

int ws_pitr_recovery_conf_tablespace_map(const char *pgdata, const ws_pitr_ts_link *l, size_t n,
                                         const ws_pitr_owner *owner, ws_err *err)
{
    char *path = NULL;
    ws_buf b = {0};
    int rc = -1;

    if (asprintf(&path, "%s/tablespace_map", pgdata) < 0)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (ws_buf_printf(&b, err, "%u ", (unsigned) l[i].oid) < 0)
            goto out;
        for (const char *c = l[i].path; *c; c++)
            if (ws_buf_printf(&b, err, (*c == '\n' || *c == '\r' || *c == '\\') ? "\\%c" : "%c", *c) < 0)
                goto out;
        if (ws_buf_printf(&b, err, "\n") < 0)
            goto out;
    }
    rc = write_owned(path, &b, owner, err);
out:
    free(path);
    ws_buf_free(&b);
    return rc;
}

int ws_pitr_recovery_conf_signal(const char *pgdata, const ws_pitr_owner *owner, ws_err *err)
{
    char *path = NULL;
    ws_buf b = {0};
    int rc;

    if (asprintf(&path, "%s/recovery.signal", pgdata) < 0)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    rc = write_owned(path, &b, owner, err);
    free(path);
    return rc;
}

/* The last value hot_standby is given in a file: 1 off, 0 on, -1 not set. */
static int hot_standby_in(const char *path)
{
    char *buf = NULL;
    size_t len;
    ws_err e;
    int v = -1;

    if (ws_localfile_read(path, CONF_MAX, 0, &buf, &len, &e) != 1)
        return -1;
    for (size_t i = 0; i < len;) {
        const char *line = buf + i, *nl = memchr(line, '\n', len - i);
        size_t ll = nl ? (size_t) (nl - line) : len - i;
        char key[64];

        line_key(line, ll, key, sizeof key);
        if (strcmp(key, "hot_standby") == 0) {
            const char *p = line + strspn(line, " \t") + 11;

            p += strspn(p, " \t=");
            if (*p == '\'')
                p++;
            v = (strncasecmp(p, "off", 3) == 0 || strncasecmp(p, "false", 5) == 0 || strncasecmp(p, "no", 2) == 0 ||
                 *p == '0')
                    ? 1
                    : 0;
        }
        i += ll + (nl ? 1 : 0);
    }
    free(buf);
    return v;
}

bool ws_pitr_recovery_conf_hot_standby_off(const char *pgdata)
{
    char path[PATH_MAX];
    int v, w;

    snprintf(path, sizeof path, "%s/postgresql.conf", pgdata);
    v = hot_standby_in(path);
    snprintf(path, sizeof path, "%s/postgresql.auto.conf", pgdata);
    w = hot_standby_in(path);
    return (w >= 0 ? w : v) == 1;
}
