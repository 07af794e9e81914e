/*
 * pitr-restore - plan, prove and restore a point-in-time recovery from the
 * repository (src/pitr/, pitr_run.h; doc/restore.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "walship/cli.h"
#include "walship/log.h"
#include "walship/pitr_run.h"

extern char **environ;

static void usage(FILE *out)
{
    fputs("Usage: pitr-restore [--config FILE] --pgdata DIR [TARGET] [OPTION]...\n"
          "\n"
          "Plans a point-in-time recovery from the repository -- which backup, which\n"
          "timeline, which WAL, where recovery stops -- proves the WAL is there, prints\n"
          "the plan, then restores the backup into DIR and configures the recovery\n"
          "(restore_command = walship-fetch).  Start the server afterwards.\n"
          "\n"
          "Target (one; default --target latest):\n"
          "  --target-time 'YYYY-MM-DD HH:MM:SS[.ffffff] ZONE'\n"
          "                          the zone is required: +02, -05:30, UTC, Europe/Berlin,\n"
          "                          or an abbreviation the server logs with (CEST)\n"
          "  --target-lsn LSN        e.g. 0/16B3748\n"
          "  --target-xid XID        a transaction id\n"
          "  --target-name NAME      a restore point (pg_create_restore_point)\n"
          "  --target immediate      the backup's consistency point\n"
          "  --target latest         the end of the archive (then the server promotes)\n"
          "\n"
          "Options:\n"
          "  --pgdata DIR            the data directory to restore into (absolute)\n"
          "  --target-exclusive      stop just before the target (time, xid, lsn)\n"
          "  --target-timeline current|latest|N\n"
          "                          the timeline to follow (default: the one path that\n"
          "                          reaches the target; asked for when there are several)\n"
          "  --target-action pause|promote|shutdown\n"
          "                          what the server does at the target (default pause)\n"
          "  --backup ID             restore this backup instead of the planner's choice\n"
          "  --tablespace-map OID_OR_PATH=NEWDIR\n"
          "                          restore a tablespace into NEWDIR (repeatable)\n"
          "  --archive-mode off|preserve\n"
          "                          off (default): the restored server archives nothing;\n"
          "                          preserve: keep the backup's archive settings\n"
          "  --force                 empty a non-empty DIR first; with a gap in the WAL,\n"
          "                          restore to the furthest point and pause\n"
          "  --dry-run               print the plan only (exit 0 when it is complete)\n"
          "  --json                  print the plan and the result as JSON\n"
          "  --jobs N                parallel downloads (default 2, at most 32)\n"
          "  --progress / --no-progress / --quiet\n"
          "  --help                  this text\n"
          "\n"
          "Exit status: 0 restored (with --dry-run: the plan is complete), 1 refused or\n"
          "failed (the reason is printed), 2 usage error.  See doc/restore.md.\n",
          out);
}

static int bad(const char *opt, const char *value, const char *why)
{
    fprintf(stderr, "pitr-restore: bad value \"%s\" for --%s: %s\n", value, opt, why);
    return WS_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    enum {
        O_PGDATA = 256,
        O_TIME,
        O_LSN,
        O_XID,
        O_NAME,
        O_TARGET,
        O_EXCLUSIVE,
        O_TIMELINE,
        O_ACTION,
        O_BACKUP,
        O_TSMAP,
        O_ARCHIVE_MODE,
        O_FORCE,
        O_DRY_RUN,
        O_JOBS,
        O_FETCH,
    };
    static const struct option opts[] = {
        {"pgdata", required_argument, NULL, O_PGDATA},
        {"target-time", required_argument, NULL, O_TIME},
        {"target-lsn", required_argument, NULL, O_LSN},
        {"target-xid", required_argument, NULL, O_XID},
        {"target-name", required_argument, NULL, O_NAME},
        {"target", required_argument, NULL, O_TARGET},
        {"target-exclusive", no_argument, NULL, O_EXCLUSIVE},
        {"target-timeline", required_argument, NULL, O_TIMELINE},
        {"target-action", required_argument, NULL, O_ACTION},
        {"backup", required_argument, NULL, O_BACKUP},
        {"tablespace-map", required_argument, NULL, O_TSMAP},
        {"archive-mode", required_argument, NULL, O_ARCHIVE_MODE},
        {"force", no_argument, NULL, O_FORCE},
        {"dry-run", no_argument, NULL, O_DRY_RUN},
        {"jobs", required_argument, NULL, O_JOBS},
        WS_CLI_OUTPUT_OPTIONS,
        {"walship-fetch", required_argument, NULL, O_FETCH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ws_pitr_run_opts o;
    ws_config cfg;
    ws_err err;
    int c, targets = 0, status;
    ws_cli_output out = WS_CLI_OUTPUT_INIT;
    char *end;
    unsigned long v;

    ws_err_clear(&err);
    if (ws_cli_start("pitr-restore", &argc, argv, environ, &cfg, &err) < 0) {
        ws_log_err(&err);
        return WS_EXIT_ERROR;
    }
    ws_pitr_run_opts_default(&o);
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        status = -1;
        if (ws_cli_output_option(c, &out))
            continue;
        switch (c) {
        case O_PGDATA:
            o.pgdata = optarg;
            break;
        case O_TIME:
            o.target_time = optarg;
            o.plan.target.kind = WS_PITR_TIME;
            targets++;
            break;
        case O_LSN:
            targets++;
            if (ws_pitr_target_set_lsn(&o.plan.target, optarg, &err) < 0)
                status = bad("target-lsn", optarg, "expected an LSN such as 0/16B3748");
            break;
        case O_XID:
            targets++;
            if (ws_pitr_target_set_xid(&o.plan.target, optarg, &err) < 0)
                status = bad("target-xid", optarg, err.msg);
            break;
        case O_NAME:
            targets++;
            if (ws_pitr_target_set_name(&o.plan.target, optarg, &err) < 0)
                status = bad("target-name", optarg, err.msg);
            break;
        case O_TARGET:
            targets++;
            if (ws_pitr_target_set_keyword(&o.plan.target, optarg, &err) < 0)
                status = bad("target", optarg, "expected latest or immediate");
            break;
        case O_EXCLUSIVE:
            o.plan.target.inclusive = false;
            break;
        case O_TIMELINE:
            if (strcmp(optarg, "current") == 0)
                o.plan.tli_mode = WS_PITR_TLI_CURRENT;
            else if (strcmp(optarg, "latest") == 0)
                o.plan.tli_mode = WS_PITR_TLI_LATEST;
            else {
                errno = 0;
                v = strtoul(optarg, &end, 0);
                if (errno || *end || end == optarg || v < 1 || v > 0xFFFFFFFFul)
                    status = bad("target-timeline", optarg, "expected current, latest or a timeline id");
                o.plan.tli_mode = WS_PITR_TLI_NUMBER;
                o.plan.tli = (uint32_t) v;
            }
            break;
        case O_ACTION:
            o.action_given = true;
            if (strcmp(optarg, "pause") == 0)
                o.action = WS_PITR_ACTION_PAUSE;
            else if (strcmp(optarg, "promote") == 0)
                o.action = WS_PITR_ACTION_PROMOTE;
            else if (strcmp(optarg, "shutdown") == 0)
                o.action = WS_PITR_ACTION_SHUTDOWN;
            else
                status = bad("target-action", optarg, "expected pause, promote or shutdown");
            break;
        case O_BACKUP:
            o.plan.backup_id = optarg;
            break;
        case O_TSMAP: {
            char *eq = strchr(optarg, '=');

            if (!eq || eq == optarg || eq[1] != '/' || o.nts_map == WS_PITR_TS_MAP_MAX)
                status = bad("tablespace-map", optarg, "expected OID_OR_PATH=NEWDIR with an absolute NEWDIR");
            else {
                *eq = '\0';
                o.ts_map[o.nts_map].from = optarg;
                o.ts_map[o.nts_map].to = eq + 1;
                o.nts_map++;
            }
            break;
        }
        case O_ARCHIVE_MODE:
            if (strcmp(optarg, "off") == 0)
                o.archive_mode = WS_PITR_ARCHIVE_OFF;
            else if (strcmp(optarg, "preserve") == 0)
                o.archive_mode = WS_PITR_ARCHIVE_PRESERVE;
            else
                status = bad("archive-mode", optarg, "expected off or preserve");
            break;
        case O_FORCE:
            o.plan.force = true;
            break;
        case O_DRY_RUN:
            o.dry_run = true;
            break;
        case O_JOBS:
            errno = 0;
            v = strtoul(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 1 || v > 32)
                status = bad("jobs", optarg, "expected 1 to 32");
            o.jobs = (unsigned) v;
            break;
        case O_FETCH:
            o.fetch_path = optarg;
            break;
        default: /* --help, or a wrong option */
            ws_config_free(&cfg);
            return ws_cli_usage(c == 'h', usage);
        }
        if (status >= 0) {
            ws_config_free(&cfg);
            return status;
        }
    }
    status = -1;
    if (optind != argc)
        fprintf(stderr, "pitr-restore: unexpected argument \"%s\"\n", argv[optind]);
    else if (!o.pgdata)
        fprintf(stderr, "pitr-restore: --pgdata DIR is required (the data directory to restore into)\n");
    else if (o.pgdata[0] != '/')
        fprintf(stderr, "pitr-restore: --pgdata %s: give an absolute path\n", o.pgdata);
    else if (targets > 1)
        fprintf(stderr, "pitr-restore: give one target (--target-time, --target-lsn, --target-xid, --target-name "
                        "or --target)\n");
    else if (!o.plan.target.inclusive && o.plan.target.kind != WS_PITR_TIME && o.plan.target.kind != WS_PITR_XID &&
             o.plan.target.kind != WS_PITR_LSN)
        fprintf(stderr, "pitr-restore: --target-exclusive applies to --target-time, --target-xid and --target-lsn\n");
    else if (o.action_given && o.plan.target.kind == WS_PITR_LATEST)
        fprintf(stderr, "pitr-restore: --target-action has no effect with --target latest: PostgreSQL promotes at "
                        "the end of the archive\n");
    else
        status = 0;
    if (status < 0) {
        ws_config_free(&cfg);
        return WS_EXIT_USAGE;
    }
    o.tty = ws_cli_output_tty(&out);
    o.json = out.json;
    o.quiet = out.quiet;
    if (ws_config_require(&cfg, WS_CFG_REPO, &err) < 0) {
        ws_log_err(&err);
        ws_config_free(&cfg);
        return WS_EXIT_ERROR;
    }
    status = ws_pitr_run(&cfg, &o);
    ws_config_free(&cfg);
    return status;
}
