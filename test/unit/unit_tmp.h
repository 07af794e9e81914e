/*
 * unit_tmp.h - one temporary directory per unit test program.
 *
 * main() calls unit_tmp_init() before running the suite and
 * unit_tmp_cleanup() after it: every test makes its files and directories
 * under that directory (unit_tmp_template(), or $TMPDIR, which init points
 * there), and the cleanup in the parent process removes them all, also
 * after tests that failed (Check forks each test; a failing one never
 * reaches its teardown).
 */
#ifndef WALSHIP_UNIT_TMP_H
#define WALSHIP_UNIT_TMP_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room for "$TMPDIR/walship-unit-PROG-XXXXXX/NAME-XXXXXX". */
#define UNIT_TMP_MAX 128

static char unit_tmp_dir[UNIT_TMP_MAX];

/* Makes the directory ($TMPDIR or /tmp, "walship-unit-PROG-XXXXXX") and
 * points $TMPDIR at it, so the tests and what they run use it. */
static inline void unit_tmp_init(const char *prog)
{
    const char *t = getenv("TMPDIR");

    int n = snprintf(unit_tmp_dir, sizeof unit_tmp_dir, "%s/walship-unit-%s-XXXXXX", t && *t ? t : "/tmp", prog);

    if (n < 0 || n > UNIT_TMP_MAX / 2) {
        fprintf(stderr, "TMPDIR \"%s\" is too long for the unit tests\n", t);
        exit(EXIT_FAILURE);
    }
    if (!mkdtemp(unit_tmp_dir)) {
        perror(unit_tmp_dir);
        exit(EXIT_FAILURE);
    }
    chmod(unit_tmp_dir, 0755); /* a test's child may drop to an unprivileged user */
    setenv("TMPDIR", unit_tmp_dir, 1);
}

/* "$TMPDIR/NAME-XXXXXX" into buf, for mkdtemp() or mkstemp(). */
static inline char *unit_tmp_template(char *buf, size_t size, const char *name)
{
    const char *t = getenv("TMPDIR");

    snprintf(buf, size, "%s/%s-XXXXXX", t && *t ? t : "/tmp", name);
    return buf;
}

static inline int unit_tmp_open_up(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) ftw;
    if (flag == FTW_D || flag == FTW_DNR)
        chmod(path, 0700); /* tests make directories unreadable or unwritable */
    return 0;
}

static inline int unit_tmp_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb;
    (void) flag;
    (void) ftw;
    remove(path);
    return 0;
}

/* Removes the directory and everything in it. */
static inline void unit_tmp_cleanup(void)
{
    if (!unit_tmp_dir[0])
        return;
    for (int i = 0; i < 4; i++) /* each pass opens one more level of closed directories */
        nftw(unit_tmp_dir, unit_tmp_open_up, 16, FTW_PHYS);
    nftw(unit_tmp_dir, unit_tmp_rm, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
