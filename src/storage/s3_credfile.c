/*
 * s3_credfile.c - the AWS shared-credentials file (s3_credfile.h).
 */
#include "walship/s3_credfile.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "walship/localfile.h"

int ws_s3_credfile_check_private(const struct stat *st, uid_t euid, const char *path, ws_err *err)
{
    if (st->st_uid != euid && st->st_uid != 0)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "credentials file %s is owned by uid %u, not by the user running walship (uid %u) or "
                          "root: refused",
                          path, (unsigned) st->st_uid, (unsigned) euid);
    if (st->st_mode & (S_IRWXG | S_IRWXO))
        return ws_err_set(err, WS_ERR_CONFIG,
                          "credentials file %s has mode %04o: group or others may access it; refused (chmod 600 %s)",
                          path, (unsigned) (st->st_mode & 07777), path);
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Trims [*b, *e) of blanks at both ends. */
static void trim(const char **b, const char **e)
{
    while (*b < *e && is_blank(**b))
        (*b)++;
    while (*e > *b && is_blank((*e)[-1]))
        (*e)--;
}

static bool same(const char *b, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t) (e - b) == n && strncasecmp(b, word, n) == 0;
}

int ws_s3_credfile_parse(const char *text, size_t len, const char *name, const char *profile, ws_s3_cred *out,
                         ws_err *err)
{
    memset(out, 0, sizeof *out);
    char **fields[] = {&out->access_key, &out->secret_key, &out->session_token};
    static const char *const keys[] = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"};
    unsigned key_line[3] = {0};
    bool in_profile = false, found = false;
    unsigned lineno = 0;
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t) (end - p));
        const char *b = p, *e = nl ? nl : end;
        p = nl ? nl + 1 : end;
        lineno++;
        bool indented = b < e && is_blank(*b);
        trim(&b, &e);
        if (b == e || *b == '#' || *b == ';')
            continue;
        if (*b == '[') {
            if (e[-1] != ']' || e - b < 2) {
                ws_s3_cred_free(out);
                return ws_err_set(err, WS_ERR_CONFIG, "credentials file %s:%u: malformed section header", name, lineno);
            }
            const char *sb = b + 1, *se = e - 1;
            trim(&sb, &se);
            in_profile = (size_t) (se - sb) == strlen(profile) && strncmp(sb, profile, (size_t) (se - sb)) == 0;
            found = found || in_profile;
            continue;
        }
        if (!in_profile || indented) /* other profiles; nested sub-settings */
            continue;
        const char *eq = memchr(b, '=', (size_t) (e - b));
        if (!eq) {
            ws_s3_cred_free(out);
            return ws_err_set(err, WS_ERR_CONFIG, "credentials file %s:%u: expected key = value", name, lineno);
        }
        const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
        trim(&kb, &ke);
        trim(&vb, &ve);
        for (size_t i = 0; i < 3; i++) {
            if (!same(kb, ke, keys[i]))
                continue;
            if (key_line[i]) {
                ws_s3_cred_free(out);
                return ws_err_set(err, WS_ERR_CONFIG, "credentials file %s:%u: %s repeated in profile '%s' (line %u)",
                                  name, lineno, keys[i], profile, key_line[i]);
            }
            key_line[i] = lineno;
            if (ve > vb && !(*fields[i] = strndup(vb, (size_t) (ve - vb)))) {
                ws_s3_cred_free(out);
                return ws_err_set(err, WS_ERR_NOMEM, "out of memory reading credentials file %s", name);
            }
        }
    }
    if (!found)
        return 0;
    if (!out->access_key || !out->secret_key) {
        const char *missing = !out->access_key ? keys[0] : keys[1];
        ws_s3_cred_free(out);
        return ws_err_set(err, WS_ERR_CONFIG,
                          "credentials file %s: profile '%s' has no %s (profiles with role_arn or "
                          "credential_process are not supported)",
                          name, profile, missing);
    }
    return 1;
}

int ws_s3_credfile_read(const char *path, const char *profile, ws_s3_cred *out, ws_err *err)
{
    struct stat st;
    memset(out, 0, sizeof *out);
    /* Checked and read through one descriptor: the file judged private is
     * the file read. */
    int fd = ws_localfile_open(path, 0, &st, err);
    if (fd < 0) {
        if (err->code != WS_ERR_NOTFOUND)
            err->code = WS_ERR_CONFIG;
        return ws_err_prefix(err, "credentials file");
    }
    if (ws_s3_credfile_check_private(&st, geteuid(), path, err) < 0) {
        close(fd);
        return -1;
    }
    if (st.st_size > WS_S3_CREDFILE_MAX) {
        close(fd);
        return ws_err_set(err, WS_ERR_CONFIG, "credentials file %s is larger than %d bytes", path, WS_S3_CREDFILE_MAX);
    }
    size_t want = (size_t) st.st_size, got = 0;
    char *text = malloc(want + 2);
    int rc = -1;
    if (!text)
        ws_err_set(err, WS_ERR_NOMEM, "out of memory reading credentials file %s", path);
    else if (ws_localfile_pread(fd, text, want + 1, 0, &got, path, err) < 0)
        err->code = WS_ERR_CONFIG;
    else if (got != want) /* one byte more asked for: a file that grew is caught */
        ws_err_set(err, WS_ERR_CONFIG, "credentials file %s changed size while it was read", path);
    else
        rc = ws_s3_credfile_parse(text, got, path, profile, out, err);
    close(fd);
    if (text) {
        OPENSSL_cleanse(text, got);
        free(text);
    }
    return rc;
}
