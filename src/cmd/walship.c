/*
 * walship - the repository tool.  This round: low-level object commands
 * (store, read back verified, list, remove) over the configured repository.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "walship/cli.h"
#include "walship/log.h"
#include "walship/repo_keys.h"
#include "walship/repo_object.h"
#include "walship/wal_index.h"
#include "walship/wal_index_rebuild.h"

extern char **environ;

static void usage(FILE *out)
{
    fputs("Usage: walship [--config FILE] COMMAND [ARGS]\n"
          "\n"
          "Commands:\n"
          "  repo-put NAME [FILE]   store FILE (default: standard input) as object NAME\n"
          "  repo-get NAME [FILE]   read object NAME, verify it, write FILE atomically\n"
          "                         (default: standard output)\n"
          "  repo-ls [PREFIX]       list stored objects (key, stored bytes)\n"
          "  repo-rm NAME...        remove objects\n"
          "  index-rebuild [--timeline TLI] [--dry-run]\n"
          "                         read the archived WAL segments and (re)write their\n"
          "                         index entries (doc/format.md, WAL segment index)\n"
          "  index-show SEGMENT     print the index entry of an archived segment (JSON)\n"
          "  version                print the version\n"
          "\n"
          "NAME is a name under user/ in the repository; with --key, NAME is an\n"
          "exact object key (e.g. wal/0000000100000000/000000010000000000000001.ws).\n"
          "Settings come from the config file and WALSHIP_* variables; see\n"
          "doc/configuration.md.\n",
          out);
}

static int object_key(const char *name, bool raw, char *key, size_t keylen, ws_err *err)
{
    if (!raw)
        return ws_repo_user_key(name, key, keylen, err);
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
    ws_sha256_hex(d.sha256, hex);
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

/* --- WAL index (issue 5) --------------------------------------------------- */

static void log_entry(void *arg, const ws_wal_index *ix)
{
    (void) arg;
    ws_log(WS_LOG_INFO,
           "indexed %s: %" PRIu64 " records, %" PRIu64 " commits, %" PRIu64 " aborts, %zu restore points, "
           "stop %s%s",
           ix->segment, ix->records, ix->commits.count, ix->aborts.count, ix->n_restore_points,
           ws_wal_stop_name(ix->stop), ix->continued_unread ? ", first record not read" : "");
}

static int cmd_index_rebuild(ws_repo *repo, int argc, char **argv, ws_err *err)
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

static int cmd_index_show(ws_repo *repo, const char *segment, ws_err *err)
{
    ws_wal_index ix;
    char *json;

    if (ws_wal_index_get(repo, segment, &ix, err) < 0)
        return -1;
    json = ws_wal_index_to_json(&ix, true, err);
    ws_wal_index_free(&ix);
    if (!json)
        return -1;
    printf("%s\n", json);
    free(json);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ws_config cfg;
    ws_repo *repo = NULL;
    ws_err err;
    bool raw = false;
    const char *cmd;
    int c, rc = -1;

    ws_err_clear(&err);
    if (ws_cli_start("walship", &argc, argv, environ, &cfg, &err) < 0) {
        ws_log_err(&err);
        return WS_EXIT_ERROR;
    }
    while ((c = getopt_long(argc, argv, "+kh", opts, NULL)) != -1) {
        if (c == 'k')
            raw = true;
        else if (c == 'h') {
            usage(stdout);
            ws_config_free(&cfg);
            return WS_EXIT_OK;
        } else {
            usage(stderr);
            ws_config_free(&cfg);
            return WS_EXIT_USAGE;
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1) {
        usage(stderr);
        ws_config_free(&cfg);
        return WS_EXIT_USAGE;
    }
    cmd = argv[0];
    argc--;
    argv++;
    if (strcmp(cmd, "version") == 0) {
        printf("walship %s\n", WALSHIP_VERSION);
        ws_config_free(&cfg);
        return WS_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        usage(stdout);
        ws_config_free(&cfg);
        return WS_EXIT_OK;
    }
    if ((strcmp(cmd, "repo-put") == 0 && (argc < 1 || argc > 2)) ||
        (strcmp(cmd, "repo-get") == 0 && (argc < 1 || argc > 2)) || (strcmp(cmd, "repo-ls") == 0 && argc > 1) ||
        (strcmp(cmd, "repo-rm") == 0 && argc < 1) || (strcmp(cmd, "index-show") == 0 && argc != 1)) {
        fprintf(stderr, "walship: wrong number of arguments for %s\n", cmd);
        usage(stderr);
        ws_config_free(&cfg);
        return WS_EXIT_USAGE;
    }
    if (strcmp(cmd, "repo-put") && strcmp(cmd, "repo-get") && strcmp(cmd, "repo-ls") && strcmp(cmd, "repo-rm") &&
        strcmp(cmd, "index-rebuild") && strcmp(cmd, "index-show")) {
        fprintf(stderr, "walship: unknown command \"%s\"\n", cmd);
        usage(stderr);
        ws_config_free(&cfg);
        return WS_EXIT_USAGE;
    }
    if (ws_config_require(&cfg, WS_CFG_REPO, &err) < 0 || ws_repo_open(&cfg, &repo, &err) < 0)
        goto done;
    if (strcmp(cmd, "repo-put") == 0)
        rc = cmd_put(repo, argc, argv, raw, &err);
    else if (strcmp(cmd, "repo-get") == 0)
        rc = cmd_get(repo, argc, argv, raw, &err);
    else if (strcmp(cmd, "repo-ls") == 0)
        rc = ws_storage_list(repo->st, argc ? argv[0] : "", NULL, print_entry, NULL, &err);
    else if (strcmp(cmd, "index-rebuild") == 0)
        rc = cmd_index_rebuild(repo, argc, argv, &err);
    else if (strcmp(cmd, "index-show") == 0)
        rc = cmd_index_show(repo, argv[0], &err);
    else
        rc = cmd_rm(repo, argc, argv, raw, &err);
done:
    if (rc < 0)
        ws_log_err(&err);
    ws_repo_close(repo);
    ws_config_free(&cfg);
    return rc < 0 ? WS_EXIT_ERROR : WS_EXIT_OK;
}
