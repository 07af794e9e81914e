/*
 * walship-push - PostgreSQL's archive_command: walship-push %p
 *
 * Checks the file by its name (segment, .partial, .history, .backup) and
 * content, makes sure the repository belongs to this cluster, and stores
 * it under its WAL key.  Exit 0 only once the object is durable (the
 * segment's WAL index entry, derived data, is stored right after, by a
 * detached process).  The same name pushed again succeeds when the content
 * is identical (by plaintext SHA-256 and size, without downloading),
 * replaces a stored object that is damaged, and fails without touching it
 * when the content differs.  Meanwhile further .ready files are archived ahead in parallel
 * and acknowledged, so PostgreSQL's later calls for them return at once
 * (src/archive/, archive_run.h).  See doc/archive.md.
 */
#include <stdio.h>

#include "walship/archive_index.h"
#include "walship/archive_run.h"
#include "walship/cli.h"
#include "walship/log.h"

extern char **environ;

static void usage(FILE *out)
{
    fputs("Usage: walship-push [--config FILE] WALFILE\n"
          "\n"
          "Stores one WAL file in the repository; for PostgreSQL's archive_command:\n"
          "  archive_command = 'walship-push %p'\n"
          "\n"
          "WALFILE is a WAL segment, a .partial segment, a .history or a .backup\n"
          "file, recognised by its name and checked (page header, size, system\n"
          "identifier, text format) before anything is stored.  When WALFILE is in\n"
          "pg_wal, up to archive_lookahead further .ready files are archived ahead\n"
          "by archive_workers threads and acknowledged in pg_wal/walship-archive/.\n"
          "\n"
          "Exit status: 0 stored durably (or already stored with identical content),\n"
          "1 error (nothing stored; PostgreSQL retries), 2 usage error.  It reflects\n"
          "WALFILE only.  See doc/archive.md.\n",
          out);
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"WALFILE", NULL};
    static const ws_cli_files_spec spec = {
        .progname = "walship-push",
        .usage = usage,
        .names = names,
        .expected = "expected exactly one WAL file path (archive_command = 'walship-push %p')",
        .usage_status = WS_EXIT_USAGE,
        .fail_status = WS_EXIT_ERROR,
    };
    ws_config cfg;
    int first, status;

    if (ws_cli_files(&spec, &argc, argv, environ, &cfg, &first, &status))
        return status;
    /* Every segment's WAL index entry is made before it is acknowledged. */
    status = ws_archive_run(&cfg, argv[first], ws_archive_index_after_stored, NULL);
    ws_config_free(&cfg);
    return status;
}
