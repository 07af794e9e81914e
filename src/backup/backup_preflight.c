/* backup_preflight.c - refusals before a base backup (backup_preflight.h). */
#include "walship/backup_preflight.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 64
#define WORD_MAX  1024

/* One simple command of a shell line: its words, unquoted. */
typedef struct words {
    char w[MAX_WORDS][WORD_MAX];
    size_t n;
} words;

/*
 * Splits the next simple command off *p (quotes and backslashes as sh does;
 * ; & | ( ) and newlines end it).  0 with out filled, 1 at the end, -1 on
 * an unterminated quote or too many or too long words.
 */
static int next_command(const char **p, words *out)
{
    const char *s = *p;

    out->n = 0;
    while (*s && strchr(";&|()\n", *s))
        s++;
    if (!*s) {
        *p = s;
        return 1;
    }
    for (;;) {
        size_t len = 0;
        bool in_word = false;

        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || strchr(";&|()\n", *s))
            break;
        if (out->n == MAX_WORDS)
            return -1;
        while (*s && !strchr(" \t;&|()\n", *s)) {
            char q = *s;

            in_word = true;
            if (q == '\'' || q == '"') {
                for (s++; *s && *s != q; s++) {
                    if (q == '"' && *s == '\\' && s[1] && strchr("\"\\$`", s[1]))
                        s++;
                    if (len + 1 >= WORD_MAX)
                        return -1;
                    out->w[out->n][len++] = *s;
                }
                if (*s != q)
                    return -1;
                s++;
                continue;
            }
            if (q == '\\' && s[1])
                s++;
            if (len + 1 >= WORD_MAX)
                return -1;
            out->w[out->n][len++] = *s++;
        }
        if (in_word) {
            out->w[out->n][len] = '\0';
            out->n++;
        }
    }
    *p = s;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

/* NAME=value with a shell variable name. */
static bool assignment(const char *w)
{
    const char *eq = strchr(w, '=');

    if (!eq || eq == w)
        return false;
    for (const char *p = w; p < eq; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_' || (p > w && *p >= '0' && *p <= '9')))
            return false;
    return true;
}

/* Trailing slashes do not make another repository. */
static bool same_repo(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    while (la > 1 && a[la - 1] == '/')
        la--;
    while (lb > 1 && b[lb - 1] == '/')
        lb--;
    return la == lb && strncmp(a, b, la) == 0;
}

static void set_note(char *note, size_t notelen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_note(char *note, size_t notelen, const char *fmt, ...)
{
    va_list ap;

    if (!note || !notelen)
        return;
    va_start(ap, fmt);
    vsnprintf(note, notelen, fmt, ap);
    va_end(ap);
}

int ws_backup_preflight_archive_command(const char *cmd, const ws_config *cfg, const char *default_config, char *note,
                                        size_t notelen, ws_err *err)
{
    const char *p = cmd;
    words *w = malloc(sizeof *w);
    int rc = -1, r;
    bool found = false;

    if (note && notelen)
        note[0] = '\0';
    if (!w)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    while (!found && (r = next_command(&p, w)) == 0) {
        char *env[MAX_WORDS + 1];
        size_t nenv = 0, i = 0;
        const char *config = NULL;
        bool has_p = false;
        ws_config theirs;
        ws_err cerr;

        while (i < w->n &&
               (assignment(w->w[i]) || strcmp(base_name(w->w[i]), "env") == 0 || strcmp(w->w[i], "exec") == 0)) {
            if (assignment(w->w[i]) && strncmp(w->w[i], "WALSHIP_", 8) == 0)
                env[nenv++] = w->w[i];
            i++;
        }
        if (i == w->n || strcmp(base_name(w->w[i]), "walship-push") != 0)
            continue;
        found = true;
        env[nenv] = NULL;
        for (size_t k = i + 1; k < w->n; k++) {
            if (strcmp(w->w[k], "%p") == 0)
                has_p = true;
            else if (strcmp(w->w[k], "--config") == 0 && k + 1 < w->n)
                config = w->w[++k];
            else if (strncmp(w->w[k], "--config=", 9) == 0)
                config = w->w[k] + 9;
        }
        if (!has_p) {
            ws_err_set(err, WS_ERR_CONFIG,
                       "archive_command '%.200s' does not pass %%p to walship-push: set archive_command = "
                       "'walship-push %%p'",
                       cmd);
            break;
        }
        if (config && config[0] != '/') {
            set_note(note, notelen,
                     "archive_command names the relative config file %.200s; its repository was not "
                     "checked",
                     config);
            rc = 0;
            break;
        }
        if (ws_config_load_from(&theirs, config, default_config, env, &cerr) < 0) {
            set_note(note, notelen,
                     "cannot read archive_command's configuration (%.300s); its repository was not "
                     "checked",
                     cerr.msg);
            rc = 0;
            break;
        }
        if (!theirs.repo) {
            set_note(note, notelen,
                     "archive_command's repository is not set where walship-backup can see it "
                     "(the server's environment may set it); it was not checked");
            rc = 0;
        } else if (!cfg->repo || !same_repo(theirs.repo, cfg->repo))
            ws_err_set(err, WS_ERR_CONFIG,
                       "archive_command stores WAL in %.200s, not in this repository (%.200s): the backup could "
                       "never be restored from here; use the same repository (or --no-archive-check)",
                       theirs.repo, cfg->repo ? cfg->repo : "not set");
        else
            rc = 0;
        ws_config_free(&theirs);
    }
    if (!found && rc < 0)
        ws_err_set(err, WS_ERR_CONFIG,
                   "archive_command '%.200s' is not walship-push: WAL would not reach this repository; set "
                   "archive_command = 'walship-push %%p' (or use --no-archive-check)",
                   cmd);
    free(w);
    return rc;
}

int ws_backup_preflight_server(const ws_backup_server_info *info, const ws_config *cfg, bool check_archive,
                               const char *default_config, char *note, size_t notelen, ws_err *err)
{
    if (note && notelen)
        note[0] = '\0';
    if (info->version_num < WS_BACKUP_SERVER_MIN_VERSION)
        return ws_err_set(err, WS_ERR_INVALID, "PostgreSQL 15 or later required (the server is %u.%u)",
                          info->version_num / 10000, info->version_num % 10000);
    if (info->in_hot_standby)
        return ws_err_set(err, WS_ERR_INVALID,
                          "the server is a standby (in_hot_standby = on): walship-backup backs up a primary only "
                          "(a standby writes no backup history file and cannot switch WAL segments); connect to "
                          "the primary");
    if (strcmp(info->wal_level, "minimal") == 0)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "wal_level is minimal: its WAL cannot restore a base backup; set wal_level = replica "
                          "and restart the server");
    if (!check_archive)
        return 0;
    if (strcmp(info->archive_mode, "off") == 0)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "archive_mode is off: the WAL a backup needs would never reach the repository; set "
                          "archive_mode = on and archive_command = 'walship-push %%p', restart the server "
                          "(or use --no-archive-check)");
    if (info->archive_library && *info->archive_library)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "archive_library is set ('%.200s'): in PostgreSQL 15 it replaces archive_command, so "
                          "walship-push does not archive; set archive_library = '' (or use --no-archive-check)",
                          info->archive_library);
    if (!info->archive_command || !*info->archive_command || strcmp(info->archive_command, "(disabled)") == 0)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "archive_command is empty: set archive_command = 'walship-push %%p' (or use "
                          "--no-archive-check)");
    return ws_backup_preflight_archive_command(info->archive_command, cfg, default_config, note, notelen, err);
}
