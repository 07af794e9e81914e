/*
 * walship-backup - a full base backup over the replication protocol into the
 * repository (src/backup/, backup_run.h; doc/backup.md).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/backup_run.h"
#include "walship/cli.h"
#include "walship/log.h"

extern char **environ;

static void usage(FILE *out)
{
    fputs("Usage: walship-backup [--config FILE] [OPTION]...\n"
          "\n"
          "Takes a full base backup of a PostgreSQL 15 primary over a replication\n"
          "connection (pg_conninfo / WALSHIP_PG_CONNINFO, else libpq's PG* variables)\n"
          "and streams it into the repository; waits until the WAL it needs is\n"
          "archived there (by walship-push); records it in the backup catalog.\n"
          "\n"
          "Options:\n"
          "  --label TEXT           backup label (default: walship-backup ID)\n"
          "  --checkpoint MODE      fast (default) or spread\n"
          "  --max-rate RATE        server-side rate limit, kB/s (32..1048576; suffix M\n"
          "                         for MB/s)\n"
          "  --object-size SIZE     bytes of tar per stored object (default 1G; at least\n"
          "                         1M; suffixes K, M, G)\n"
          "  --wal-timeout SECONDS  how long to wait for the WAL (default 300)\n"
          "  --no-archive-check     do not check archive_mode / archive_library /\n"
          "                         archive_command\n"
          "  --json                 print the backup's catalog record (JSON) at the end\n"
          "  --progress             progress bar even when stderr is not a terminal\n"
          "  --no-progress          one line per phase even on a terminal\n"
          "  --quiet                no progress output\n"
          "  --help                 this text\n"
          "\n"
          "Exit status: 0 the backup is complete and restorable, 1 it failed (nothing\n"
          "restorable was left; the reason is printed), 2 usage error.  See doc/backup.md.\n",
          out);
}

/* "1048576", "64K", "16M", "1G". */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        return -1;
    switch (*end) {
    case '\0':
        break;
    case 'K':
    case 'k':
        v <<= 10;
        end++;
        break;
    case 'M':
        v <<= 20;
        end++;
        break;
    case 'G':
        v <<= 30;
        end++;
        break;
    default:
        return -1;
    }
    if (*end == 'B' || *end == 'i')
        end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
    if (*end)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    enum { O_LABEL = 256, O_CHECKPOINT, O_MAX_RATE, O_OBJECT_SIZE, O_WAL_TIMEOUT, O_NO_ARCHIVE_CHECK };
    static const struct option opts[] = {
        {"label", required_argument, NULL, O_LABEL},
        {"checkpoint", required_argument, NULL, O_CHECKPOINT},
        {"max-rate", required_argument, NULL, O_MAX_RATE},
        {"object-size", required_argument, NULL, O_OBJECT_SIZE},
        {"wal-timeout", required_argument, NULL, O_WAL_TIMEOUT},
        {"no-archive-check", no_argument, NULL, O_NO_ARCHIVE_CHECK},
        WS_CLI_OUTPUT_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ws_backup_run_opts o;
    ws_backup_record rec;
    ws_config cfg;
    ws_err err;
    ws_cli_output out = WS_CLI_OUTPUT_INIT;
    int c, rc;
    uint64_t v;
    char *end;

    ws_err_clear(&err);
    if (ws_cli_start("walship-backup", &argc, argv, environ, &cfg, &err) < 0) {
        ws_log_err(&err);
        return WS_EXIT_ERROR;
    }
    ws_backup_run_opts_default(&o);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (ws_cli_output_option(c, &out))
            continue;
        switch (c) {
        case O_LABEL:
            o.label = optarg;
            break;
        case O_CHECKPOINT:
            if (strcmp(optarg, "fast") != 0 && strcmp(optarg, "spread") != 0)
                goto bad_value;
            o.fast_checkpoint = strcmp(optarg, "fast") == 0;
            break;
        case O_MAX_RATE:
            if (parse_size(optarg, &v) < 0)
                goto bad_value;
            if (strpbrk(optarg, "KkMG"))
                v >>= 10; /* bytes per second as kB/s */
            if (v < 32 || v > 1048576)
                goto bad_value;
            o.max_rate_kb = (uint32_t) v;
            break;
        case O_OBJECT_SIZE:
            if (parse_size(optarg, &o.object_size) < 0 || o.object_size < (1u << 20))
                goto bad_value;
            break;
        case O_WAL_TIMEOUT:
            errno = 0;
            o.wal_timeout = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(o.wal_timeout >= 0 && o.wal_timeout <= 86400 * 7))
                goto bad_value;
            break;
        case O_NO_ARCHIVE_CHECK:
            o.archive_check = false;
            break;
        default: /* --help, or a wrong option */
            ws_config_free(&cfg);
            return ws_cli_usage(c == 'h', usage);
        }
    }
    if (optind != argc) {
        fprintf(stderr, "walship-backup: unexpected argument \"%s\"\n", argv[optind]);
        ws_config_free(&cfg);
        return WS_EXIT_USAGE;
    }
    o.tty = ws_cli_output_tty(&out);
    o.quiet = out.quiet;
    rc = ws_config_require(&cfg, WS_CFG_REPO, &err) < 0 ? -1 : ws_backup_run(&cfg, &o, &rec, &err);
    if (rc < 0)
        ws_log_err(&err);
    else {
        char *text = out.json ? ws_backup_record_to_json(&rec, true, &err) : NULL;

        if (text) {
            printf("%s\n", text);
            free(text);
        }
        ws_backup_record_free(&rec);
    }
    ws_config_free(&cfg);
    return rc < 0 ? WS_EXIT_ERROR : WS_EXIT_OK;
bad_value:
    fprintf(stderr, "walship-backup: bad value \"%s\" for --%s\n", optarg, opts[c - O_LABEL].name);
    ws_config_free(&cfg);
    return WS_EXIT_USAGE;
}
