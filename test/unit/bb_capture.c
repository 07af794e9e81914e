/*
 * bb_capture.c - records a BASE_BACKUP COPY stream for the parser's tests.
 *
 * Usage: bb_capture CONNINFO COMMAND OUTFILE
 * Runs COMMAND (a BASE_BACKUP) on a replication connection and writes every
 * CopyData message to OUTFILE as a 4-byte little-endian length and the
 * message.  Prints the result sets before and after the stream as lines
 * "result N: v1|v2|..." (NULL as \N) on standard output.
 */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>

static void print_result(int n, const PGresult *r)
{
    for (int i = 0; i < PQntuples(r); i++) {
        printf("result %d:", n);
        for (int f = 0; f < PQnfields(r); f++)
            printf("%s%s", f ? "|" : " ", PQgetisnull(r, i, f) ? "\\N" : PQgetvalue(r, i, f));
        printf("\n");
    }
}

int main(int argc, char **argv)
{
    PGconn *c;
    PGresult *r;
    FILE *out;
    int n = 0, rc = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: bb_capture CONNINFO COMMAND OUTFILE\n");
        return 2;
    }
    c = PQconnectdb(argv[1]);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "connect: %s", PQerrorMessage(c));
        return 1;
    }
    out = fopen(argv[3], "wb");
    if (!out || !PQsendQuery(c, argv[2])) {
        fprintf(stderr, "cannot start: %s", PQerrorMessage(c));
        return 1;
    }
    while ((r = PQgetResult(c)) != NULL) {
        ExecStatusType st = PQresultStatus(r);

        if (st == PGRES_TUPLES_OK)
            print_result(n++, r);
        else if (st == PGRES_COPY_OUT) {
            char *buf;
            int len;

            while ((len = PQgetCopyData(c, &buf, 0)) > 0) {
                unsigned char l[4] = {(unsigned char) len, (unsigned char) (len >> 8), (unsigned char) (len >> 16),
                                      (unsigned char) (len >> 24)};

                if (fwrite(l, 1, 4, out) != 4 || fwrite(buf, 1, (size_t) len, out) != (size_t) len)
                    rc = 1;
                PQfreemem(buf);
            }
            if (len != -1) {
                fprintf(stderr, "copy: %s", PQerrorMessage(c));
                rc = 1;
            }
        } else if (st != PGRES_COMMAND_OK) {
            fprintf(stderr, "BASE_BACKUP: %s", PQresultErrorMessage(r));
            rc = 1;
        }
        PQclear(r);
    }
    if (fclose(out) != 0)
        rc = 1;
    PQfinish(c);
    return rc;
}
