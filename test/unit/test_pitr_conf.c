/*
 * test_pitr_conf.c - the files pitr-restore writes into a restored data
 * directory (pitr_recovery_conf.h): the generated walship config, the
 * recovery settings in postgresql.auto.conf, tablespace_map, and the
 * hot_standby check.
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/config.h"
#include "walship/pitr_recovery_conf.h"

static ws_err err;
static char tmpdir[256];
static const ws_pitr_owner no_chown = {.chown = false};

static void setup(void)
{
    unit_tmp_template(tmpdir, sizeof tmpdir, "ws-test-pitr-conf");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ws_err_clear(&err);
}

static void teardown(void)
{
    nftw(tmpdir, unit_tmp_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void put(const char *name, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A file's content (static buffer) and its mode. */
static const char *get(const char *name, mode_t *mode)
{
    static char buf[16384];
    char path[512];
    struct stat st;
    size_t n;
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    ck_assert_int_eq(stat(path, &st), 0);
    if (mode)
        *mode = st.st_mode & 07777;
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* The generated config carries the effective repository settings, the S3
 * credentials file (absolute) and profile among them, and no secret. */
START_TEST(test_walship_conf_credentials)
{
    ws_config cfg;
    char cwd[PATH_MAX], want[PATH_MAX + 64], real[PATH_MAX], *path = NULL;
    const char *text;
    mode_t mode;
    static const char settings[] = "repo = s3://bucket/prod\n"
                                   "s3_endpoint = http://127.0.0.1:9\n"
                                   "s3_credentials_file = creds\n"
                                   "s3_profile = restore-role\n"
                                   "encryption_key_file = repo.key\n"
                                   "pg_conninfo = host=db password=hunter2\n";

    put("creds", "[restore-role]\n");
    put("repo.key", "00\n");
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(tmpdir), 0);
    ck_assert_int_eq(ws_config_defaults(&cfg, &err), 0);
    ck_assert_msg(ws_config_parse_buffer(&cfg, "test", settings, strlen(settings), &err) == 0, "%s", err.msg);
    ck_assert_msg(ws_pitr_recovery_conf_walship(&cfg, tmpdir, &no_chown, &path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(chdir(cwd), 0);
    ws_config_free(&cfg);

    ck_assert_ptr_nonnull(realpath(tmpdir, real));
    text = get(WS_PITR_WALSHIP_CONF, &mode);
    ck_assert_msg(mode == 0600, "mode %o", (unsigned) mode);
    ck_assert_str_eq(path, strstr(path, tmpdir));
    free(path);
    ck_assert_msg(strstr(text, "\nrepo = s3://bucket/prod\n"), "%s", text);
    ck_assert_msg(strstr(text, "\ns3_endpoint = http://127.0.0.1:9\n"), "%s", text);
    snprintf(want, sizeof want, "\ns3_credentials_file = %s/creds\n", real);
    ck_assert_msg(strstr(text, want), "no %s in:\n%s", want, text);
    ck_assert_msg(strstr(text, "\ns3_profile = restore-role\n"), "%s", text);
    snprintf(want, sizeof want, "\nencryption_key_file = %s/repo.key\n", real);
    ck_assert_msg(strstr(text, want), "no %s in:\n%s", want, text);
    ck_assert_msg(!strstr(text, "hunter2") && !strstr(text, "pg_conninfo"), "%s", text);
}
END_TEST

/* Without them set, neither is written (the server's own environment decides). */
START_TEST(test_walship_conf_no_credentials)
{
    ws_config cfg;
    const char *text;
    static const char settings[] = "repo = file:///srv/walship\n";

    ck_assert_int_eq(ws_config_defaults(&cfg, &err), 0);
    ck_assert_int_eq(ws_config_parse_buffer(&cfg, "test", settings, strlen(settings), &err), 0);
    ck_assert_msg(ws_pitr_recovery_conf_walship(&cfg, tmpdir, &no_chown, NULL, &err) == 0, "%s", err.msg);
    ws_config_free(&cfg);
    text = get(WS_PITR_WALSHIP_CONF, NULL);
    ck_assert_msg(strstr(text, "\nrepo = file:///srv/walship\n"), "%s", text);
    ck_assert_msg(!strstr(text, "s3_credentials_file") && !strstr(text, "s3_profile"), "%s", text);
}
END_TEST

/* Earlier lines for the same parameters, any recovery target and
 * restore_command are commented out, not deleted; the rest stays. */
START_TEST(test_auto_conf_comments_out)
{
    ws_pitr_setting s[3] = {{.name = "restore_command"}, {.name = "recovery_target_lsn"}, {.name = "archive_mode"}};
    unsigned commented = 99;
    const char *text;
    mode_t mode;

    put("postgresql.auto.conf", "# Do not edit this file manually!\n"
                                "port = '5433'\n"
                                "recovery_target_time = '2020-01-01 00:00:00+00'\n"
                                "  Recovery_Target_Name = 'rp'\n"
                                "restore_command = 'cp /old/%f %p'\n"
                                "archive_mode = 'on'\n"
                                "archive_command = 'true'\n");
    snprintf(s[0].value, sizeof s[0].value, "walship-fetch --config '/d/it''s.conf' %%f %%p");
    snprintf(s[1].value, sizeof s[1].value, "0/3000028");
    snprintf(s[2].value, sizeof s[2].value, "off");
    ck_assert_msg(ws_pitr_recovery_conf_auto(tmpdir, "Recovery settings written by a test", s, 3, &no_chown, &commented,
                                             &err) == 0,
                  "%s", err.msg);
    ck_assert_uint_eq(commented, 4);
    text = get("postgresql.auto.conf", &mode);
    ck_assert_msg(mode == 0600, "mode %o", (unsigned) mode);
    ck_assert_msg(strncmp(text, "# Do not edit this file manually!\nport = '5433'\n", 47) == 0, "%s", text);
    ck_assert_msg(strstr(text, "\n# (pitr-restore) recovery_target_time = '2020-01-01 00:00:00+00'\n"), "%s", text);
    ck_assert_msg(strstr(text, "\n# (pitr-restore)   Recovery_Target_Name = 'rp'\n"), "%s", text);
    ck_assert_msg(strstr(text, "\n# (pitr-restore) restore_command = 'cp /old/%f %p'\n"), "%s", text);
    ck_assert_msg(strstr(text, "\n# (pitr-restore) archive_mode = 'on'\n"), "%s", text);
    ck_assert_msg(strstr(text, "\narchive_command = 'true'\n# Recovery settings written by a test\n"), "%s", text);
    ck_assert_msg(strstr(text, "\nrestore_command = 'walship-fetch --config ''/d/it''''s.conf'' %f %p'\n"
                               "recovery_target_lsn = '0/3000028'\narchive_mode = 'off'\n"),
                  "%s", text);
    /* Each parameter is set once, by pitr-restore. */
    ck_assert_int_eq(count(text, "\nrestore_command ="), 1);
    ck_assert_int_eq(count(text, "\narchive_mode ="), 1);
    ck_assert_int_eq(count(text, "\nrecovery_target"), 1);
}
END_TEST

/* A data directory without postgresql.auto.conf gets one with PostgreSQL's header. */
START_TEST(test_auto_conf_new)
{
    ws_pitr_setting s[1] = {{.name = "recovery_target_timeline", .value = "2"}};
    const char *text;

    ck_assert_msg(ws_pitr_recovery_conf_auto(tmpdir, "header", s, 1, &no_chown, NULL, &err) == 0, "%s", err.msg);
    text = get("postgresql.auto.conf", NULL);
    ck_assert_str_eq(text, "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n"
                           "# header\nrecovery_target_timeline = '2'\n");
}
END_TEST

/* tablespace_map in PostgreSQL's format, with \, CR and LF escaped. */
START_TEST(test_tablespace_map)
{
    ws_pitr_ts_link l[2] = {{.oid = 16385, .path = "/srv/ts one"}, {.oid = 16390, .path = "/srv/a\\b\nc"}};

    ck_assert_msg(ws_pitr_recovery_conf_tablespace_map(tmpdir, l, 2, &no_chown, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(get("tablespace_map", NULL), "16385 /srv/ts one\n16390 /srv/a\\\\b\\\nc\n");
}
END_TEST

START_TEST(test_signal)
{
    mode_t mode;

    ck_assert_msg(ws_pitr_recovery_conf_signal(tmpdir, &no_chown, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(get("recovery.signal", &mode), "");
    ck_assert_msg(mode == 0600, "mode %o", (unsigned) mode);
}
END_TEST

/* hot_standby: the last setting wins, postgresql.auto.conf over postgresql.conf. */
START_TEST(test_hot_standby_off)
{
    ck_assert(!ws_pitr_recovery_conf_hot_standby_off(tmpdir));
    put("postgresql.conf", "hot_standby = on\n#hot_standby = off\n");
    ck_assert(!ws_pitr_recovery_conf_hot_standby_off(tmpdir));
    put("postgresql.conf", "hot_standby = on\nhot_standby=off # later\n");
    ck_assert(ws_pitr_recovery_conf_hot_standby_off(tmpdir));
    put("postgresql.auto.conf", "hot_standby = 'on'\n");
    ck_assert(!ws_pitr_recovery_conf_hot_standby_off(tmpdir));
    put("postgresql.auto.conf", "hot_standby = 'false'\n");
    ck_assert(ws_pitr_recovery_conf_hot_standby_off(tmpdir));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("pitr_conf");
    TCase *c = tcase_create("files");

    tcase_add_checked_fixture(c, setup, teardown);
    tcase_add_test(c, test_walship_conf_credentials);
    tcase_add_test(c, test_walship_conf_no_credentials);
    tcase_add_test(c, test_auto_conf_comments_out);
    tcase_add_test(c, test_auto_conf_new);
    tcase_add_test(c, test_tablespace_map);
    tcase_add_test(c, test_signal);
    tcase_add_test(c, test_hot_standby_off);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    int failed;

    unit_tmp_init("pitr_conf");

    srunner_run_all(sr, CK_NORMAL);

    unit_tmp_cleanup();
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
