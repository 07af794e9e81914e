/*
 * wal_index_bench - time building WAL index entries from local segments.
 *
 * Usage: wal_index_bench DIR [ROUNDS]
 *
 * For every segment in DIR (e.g. the 16 MiB pgbench segments of
 * bench/make-wal-corpus, in .cache/wal-corpus), in name order, times
 * ws_wal_index_file() as the push path calls it: with the previous segment
 * of the same directory (two files read and checked) and without it (one
 * file).  The files are read once before timing, so the page cache holds
 * them, as it does for a segment PostgreSQL has just written.  Prints one
 * line per mode: segments, median and maximum milliseconds per segment,
 * MiB/s of segment indexed, and the records and commits seen.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "walship/wal_index.h"
#include "walship/wal_segment.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}

static void warm(const char *path)
{
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY);

    if (fd < 0)
        return;
    while (read(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".cache/wal-corpus";
    int rounds = argc > 2 ? atoi(argv[2]) : 1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(dir);
    struct dirent *e;

    if (!d || rounds < 1) {
        fprintf(stderr, "usage: wal_index_bench DIR [ROUNDS] (DIR: segments, e.g. from bench/make-wal-corpus)\n");
        return 2;
    }
    while ((e = readdir(d)) != NULL) {
        if (!ws_wal_name_is_segment(e->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n < 2) {
        fprintf(stderr, "wal_index_bench: %s holds fewer than 2 segments\n", dir);
        return 1;
    }
    qsort(names, n, sizeof *names, cmp_str);
    for (int with_prev = 1; with_prev >= 0; with_prev--) {
        double *ms = calloc(n * (size_t) rounds, sizeof *ms);
        size_t k = 0;
        uint64_t records = 0, commits = 0, bytes = 0, unread = 0;
        double total = 0;

        for (int r = 0; r < rounds; r++)
            for (size_t i = 1; i < n; i++) {
                char path[4096], prev[4096];
                ws_wal_file wf;
                ws_wal_index ix;
                ws_err err;
                double t0;
                int fd;

                snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                snprintf(prev, sizeof prev, "%s/%s", dir, names[i - 1]);
                warm(path);
                warm(prev);
                t0 = now();
                fd = ws_wal_file_open(path, &wf, &err);
                if (fd < 0 || ws_wal_index_file(fd, path, &wf, with_prev ? prev : NULL, &ix, &err) < 0) {
                    fprintf(stderr, "wal_index_bench: %s\n", err.msg);
                    return 1;
                }
                ms[k] = (now() - t0) * 1e3;
                total += ms[k];
                k++;
                close(fd);
                records += ix.records;
                commits += ix.commits.count;
                unread += ix.continued_unread;
                bytes += wf.size;
                ws_wal_index_free(&ix);
            }
        qsort(ms, k, sizeof *ms, cmp_dbl);
        printf("%-24s %zu segments: median %.2f ms, max %.2f ms per segment, %.0f MiB/s; %" PRIu64 " records, %" PRIu64
               " commits, %" PRIu64 " first records unread\n",
               with_prev ? "with previous segment" : "without previous segment", k, ms[k / 2], ms[k - 1],
               (double) bytes / (1 << 20) / (total / 1e3), records, commits, unread);
        free(ms);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return 0;
}
