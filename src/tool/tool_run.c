/* tool_run.c - the commands of the repository tool `walship` (see tool_run.h). */
#include "walship/tool_run.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walship/backup_list.h"
#include "walship/errclass.h"
#include "walship/log.h"
#include "walship/repo_keys.h"
#include "walship/repo_object.h"
#include "walship/wal_index.h"
#include "walship/wal_index_json.h"
#include "walship/wal_index_rebuild.h"

static int object_key(const char *name, bool raw, char *key, size_t keylen, ws_err *err)
{
    if (!raw)
        return ws_repo_keys_user(name, key, keylen, err);
    if (!ws_storage_key_valid(name))
        return ws_err_set(err, WS_ERR_INVALID, "\"%s\" is not a valid object key", name);
    snprintf(key, keylen, "%s", name);
    return 0;
}

static int cmd_put(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err)
{
    char key[WS_KEY_MAX];
    const char *src = argc > 1 ? argv[1] : "-";
    int fd = 0;
    ws_digest d;
    char hex[65];
    struct stat st;
    int rc;

    if (object_key(argv[0], raw, key, sizeof key, err) < 0)
        return -1;
    if (strcmp(src, "-") != 0 && (fd = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return ws_err_sys(err, errno, "could not open \"%s\"", src);
    rc = ws_repo_put_fd(repo, key, fd, strcmp(src, "-") ? src : "standard input",
                        fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0, &d, err);
    if (fd != 0)
        close(fd);
    if (rc < 0)
        return -1;
    ws_filter_sha256_hex(d.sha256, hex);
    ws_log(WS_LOG_INFO, "stored %s: %" PRIu64 " bytes, sha256 %s", key, d.size, hex);
    printf("%s %" PRIu64 " %s\n", key, d.size, hex);
    return 0;
}

static int cmd_get(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err)
{
    char key[WS_KEY_MAX];
    ws_digest d;
    int rc;

    if (object_key(argv[0], raw, key, sizeof key, err) < 0)
        return -1;
    if (argc > 1 && strcmp(argv[1], "-") != 0)
        rc = ws_repo_get_file(repo, key, argv[1], &d, err);
    else {
        /* Standard output cannot be taken back: the caller must check the
         * exit status before using what was written. */
        ws_sink *out = ws_sink_fd_new(1, "standard output");

        if (!out)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        rc = ws_repo_get_sink(repo, key, out, &d, err);
        ws_sink_free(out);
    }
    if (rc == 0)
        ws_log(WS_LOG_INFO, "read %s: %" PRIu64 " bytes verified", key, d.size);
    return rc;
}

static int print_entry(const ws_list_entry *e, void *arg, ws_err *err)
{
    (void) arg;
    (void) err;
    if (e->is_prefix)
        printf("%s\n", e->key);
    else
        printf("%s %" PRIu64 "\n", e->key, e->size);
    return 0;
}

static int cmd_ls(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err)
{
    return ws_storage_list(repo->st, argc ? argv[0] : "", NULL, print_entry, NULL, err);
}

static int cmd_rm(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err)
{
    for (int i = 0; i < argc; i++) {
        char key[WS_KEY_MAX];
        const char *keys[1] = {key};

        if (object_key(argv[i], raw, key, sizeof key, err) < 0 || ws_storage_remove(repo->st, keys, 1, err) < 0)
            return -1;
    }
    return 0;
}

/* --- WAL index ------------------------------------------------------------- */

static void log_entry(void *arg, const ws_wal_index *ix)
{
    (void) arg;
    ws_log(WS_LOG_INFO,
           "indexed %s: %" PRIu64 " records, %" PRIu64 " commits, %" PRIu64 " aborts, %zu restore points, "
           "stop %s%s",
           ix->segment, ix->records, ix->commits.count, ix->aborts.count, ix->n_restore_points,
           ws_wal_stop_name(ix->stop), ix->continued_unread ? ", first record not read" : "");
}

static int cmd_index_rebuild(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err)
{
    ws_wal_rebuild_opts o = {.on_entry = log_entry};
    ws_wal_rebuild_stats st;
    int rc;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            o.dry_run = true;
        } else if (strcmp(argv[i], "--timeline") == 0 || strncmp(argv[i], "--timeline=", 11) == 0) {
            const char *v = argv[i][10] == '=' ? argv[i] + 11 : (i + 1 < argc ? argv[++i] : "");
            char *end;
            unsigned long t;

            errno = 0;
            t = strtoul(v, &end, 10);
            if (errno || !*v || *end || v[0] == '-' || t == 0 || t > UINT32_MAX)
                return ws_err_set(err, WS_ERR_INVALID,
                                  "index-rebuild: --timeline needs a timeline ID (1 or more), "
                                  "got \"%s\"",
                                  v);
            o.tli = (uint32_t) t;
        } else {
            return ws_err_set(err, WS_ERR_INVALID, "index-rebuild: unknown argument \"%s\"", argv[i]);
        }
    }
    rc = ws_wal_index_rebuild(repo, &o, &st, err);
    printf("index-rebuild: %" PRIu64 " segment%s on %" PRIu64 " timeline%s, %" PRIu64 " entr%s written%s, %" PRIu64
           " records; %" PRIu64 " with an unread first record, %" PRIu64 " stopping before the segment end, %" PRIu64
           " failed\n",
           st.segments, st.segments == 1 ? "" : "s", st.timelines, st.timelines == 1 ? "" : "s", st.written,
           st.written == 1 ? "y" : "ies", o.dry_run ? " (dry run)" : "", st.records, st.continued_unread, st.stopped,
           st.failed);
    return rc;
}

static int cmd_index_show(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err)
{
    ws_wal_index ix;
    char *json;

    if (ws_wal_index_get(repo, argv[0], &ix, err) < 0)
        return -1;
    json = ws_wal_index_json_format(&ix, true, err);
    ws_wal_index_free(&ix);
    if (!json)
        return -1;
    printf("%s\n", json);
    free(json);
    return 0;
}

static int cmd_backups(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err)
{
    (void) raw;
    if (argc == 1 && strcmp(argv[0], "--json") != 0)
        return ws_err_set(err, WS_ERR_INVALID, "backups: unknown argument \"%s\" (only --json)", argv[0]);
    return ws_backup_list_print(repo, argc == 1, stdout, err);
}

static int cmd_backups_clean(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err)
{
    (void) argc;
    (void) argv;
    (void) raw;
    return ws_backup_list_clean(repo, stdout, err);
}

typedef int (*tool_fn)(ws_repo *repo, int argc, char **argv, bool raw, ws_err *err);

static const struct {
    const char *name;
    int min_args, max_args; /* max -1: any number */
    tool_fn run;
    const char *usage; /* the help lines */
} commands[] = {
    {"repo-put", 1, 2, cmd_put, "  repo-put NAME [FILE]   store FILE (default: standard input) as object NAME\n"},
    {"repo-get", 1, 2, cmd_get,
     "  repo-get NAME [FILE]   read object NAME, verify it, write FILE atomically\n"
     "                         (default: standard output)\n"},
    {"repo-ls", 0, 1, cmd_ls, "  repo-ls [PREFIX]       list stored objects (key, stored bytes)\n"},
    {"repo-rm", 1, -1, cmd_rm, "  repo-rm NAME...        remove objects\n"},
    {"index-rebuild", 0, -1, cmd_index_rebuild,
     "  index-rebuild [--timeline TLI] [--dry-run]\n"
     "                         read the archived WAL segments and (re)write their\n"
     "                         index entries (doc/format.md, WAL segment index)\n"},
    {"index-show", 1, 1, cmd_index_show,
     "  index-show SEGMENT     print the index entry of an archived segment (JSON)\n"},
    {"backups", 0, 1, cmd_backups, "  backups [--json]       list the base backups in the catalog (doc/backup.md)\n"},
    {"backups-clean", 0, 0, cmd_backups_clean,
     "  backups-clean          remove what interrupted walship-backup runs left\n"},
};

void ws_tool_run_usage(FILE *out)
{
    fputs("Usage: walship [--config FILE] [--key] COMMAND [ARGS]\n\nCommands:\n", out);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fputs(commands[i].usage, out);
    fputs("  version                print the version\n"
          "\n"
          "NAME is a name under user/ in the repository; with --key, NAME is an\n"
          "exact object key (e.g. wal/0000000100000000/000000010000000000000001.ws).\n"
          "Settings come from the config file and WALSHIP_* variables; see\n"
          "doc/configuration.md.\n",
          out);
}

int ws_tool_run(const ws_config *cfg, const char *cmd, int argc, char **argv, const ws_tool_opts *o)
{
    ws_repo *repo = NULL;
    ws_err err;
    size_t i;
    int rc;

    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            break;
    if (i == sizeof commands / sizeof commands[0]) {
        fprintf(stderr, "walship: unknown command \"%s\"\n", cmd);
        ws_tool_run_usage(stderr);
        return WS_EXIT_USAGE;
    }
    if (argc < commands[i].min_args || (commands[i].max_args >= 0 && argc > commands[i].max_args)) {
        fprintf(stderr, "walship: wrong number of arguments for %s\n", cmd);
        ws_tool_run_usage(stderr);
        return WS_EXIT_USAGE;
    }
    ws_err_clear(&err);
    rc = ws_config_require(cfg, WS_CFG_REPO, &err) < 0 || ws_repo_open(cfg, &repo, &err) < 0
             ? -1
             : commands[i].run(repo, argc, argv, o->raw_keys, &err);
    if (rc < 0)
        ws_log_err(&err);
    ws_repo_close(repo);
    return rc < 0 ? WS_EXIT_ERROR : WS_EXIT_OK;
}
