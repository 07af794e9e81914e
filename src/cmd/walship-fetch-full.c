/*
 * walship-fetch-full - the whole of walship-fetch %f %p (PostgreSQL's
 * restore_command), run by walship-fetch (walship-fetch.c) for every call
 * its fast path leaves to it, with the same arguments.
 *
 * Parses the arguments and runs one call (restore_run.h): the object of WAL
 * file %f is verified completely and only then %p appears, atomically; the
 * exit status tells PostgreSQL what happened (usage() below and
 * doc/archive.md).
 */
#include <stdio.h>

#include "walship/cli.h"
#include "walship/log.h"
#include "walship/restore_run.h"

extern char **environ;

static void usage(FILE *out)
{
    fputs("Usage: walship-fetch [--config FILE] WALFILE DEST\n"
          "\n"
          "Restores one WAL file from the repository; for PostgreSQL's restore_command:\n"
          "  restore_command = 'walship-fetch %f %p'\n"
          "\n"
          "WALFILE is the WAL file name (%f); DEST the path to write (%p, relative to\n"
          "the data directory).  DEST appears atomically and only once the whole\n"
          "object is verified.  A .partial file is returned only when asked for by\n"
          "its own name, never in place of a segment.\n"
          "\n"
          "Exit status (PostgreSQL stops recovery on any status above 125):\n"
          "  0    restored and verified\n"
          "  1    not in the repository (one request); PostgreSQL takes this as\n"
          "       \"not found\": the end of the archive, or in standby mode, retry later\n"
          "  1    storage unreachable after the retry budget, or a file system error\n"
          "       reading a file:// repository (EIO, EACCES, ...), in standby mode\n"
          "       (standby.signal in the working directory): the standby waits, retries\n"
          "  1    no repository there in standby mode: the file:// directory is missing\n"
          "       or the location has no walship identity (not mounted, nothing archived\n"
          "       yet): a warning each call, the standby waits, retries\n"
          "  200  integrity failure: checksum, authentication tag, decoding, wrong or\n"
          "       missing encryption key, unknown format, or content that is not the\n"
          "       named WAL file -- always fatal: never taken as \"not found\"\n"
          "  201  storage unreachable after retries in archive recovery (recovery.signal\n"
          "       or no signal file), or S3 refused the request (403 access denied,\n"
          "       other 4xx) in any mode\n"
          "  202  usage, configuration or local error (bad arguments, cannot write DEST),\n"
          "       or no repository there in archive recovery (the file:// directory is\n"
          "       missing, the location has no walship identity), or in any mode\n"
          "       another cluster's repository (system identifier of ./global/pg_control)\n"
          "\n"
          "Prefetching (setting prefetch, default 8; 0 turns it off): when run by\n"
          "PostgreSQL in recovery, after restoring segment N walship-fetch keeps\n"
          "segments N+1..N+prefetch coming in the background, verified the same way,\n"
          "into walship-spool/ next to DEST; a later call takes its segment from\n"
          "there with a rename.  The exit statuses are the same either way.\n"
          "See doc/archive.md.\n",
          out);
}

int main(int argc, char **argv)
{
    static const char *const names[] = {"WALFILE", "DEST", NULL};
    /* Every failure to start is fatal for PostgreSQL: a misconfigured
     * restore_command must not look like the end of the archive. */
    static const ws_cli_files_spec spec = {
        .progname = "walship-fetch",
        .usage = usage,
        .names = names,
        .expected = "expected WALFILE DEST (restore_command = 'walship-fetch %f %p')",
        .usage_status = WS_FETCH_LOCAL,
        .fail_status = WS_FETCH_LOCAL,
    };
    ws_config cfg;
    int first, status;

    if (ws_cli_files(&spec, &argc, argv, environ, &cfg, &first, &status))
        return status;
    status = ws_restore_run(&cfg, argv[first], argv[first + 1]);
    ws_config_free(&cfg);
    return status;
}
