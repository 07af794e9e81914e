/* test_config.c - configuration loading, precedence and every error; logging. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/config.h"
#include "walship/log.h"

static char tmpdir[UNIT_TMP_MAX];
static char absent_default[300]; /* a default config path that does not exist */
static ws_err err;
static ws_config cfg;

/* Environments built for a test: strdup'd so they are mutable like environ. */
static char *env_store[40];
static int env_count;

static void env_reset(void)
{
    for (int i = 0; i < env_count; i++)
        free(env_store[i]);
    env_count = 0;
    env_store[0] = NULL;
}

/* env("A=b", "C=d", NULL): a NULL-terminated environment. */
static char *const *env(const char *first, ...)
{
    va_list ap;

    env_reset();
    va_start(ap, first);
    for (const char *s = first; s && env_count < 38; s = va_arg(ap, const char *))
        env_store[env_count++] = strdup(s);
    va_end(ap);
    env_store[env_count] = NULL;
    return env_store;
}

/* Writes content to a new file in the temp dir and returns its path. */
static const char *conf(const char *content)
{
    static char paths[16][300];
    static int next;
    char *p = paths[next++ % 16];

    snprintf(p, 300, "%s/c%d.conf", tmpdir, next);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(content, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

/* Loads with no default file present. */
static int load(const char *explicit_path, char *const *envp)
{
    return ws_config_load_from(&cfg, explicit_path, absent_default, envp, &err);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void setup(void)
{
    unit_tmp_template(tmpdir, sizeof tmpdir, "walship-test-config");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(absent_default, sizeof absent_default, "%s/absent/walship.conf", tmpdir);
    ws_err_clear(&err);
    memset(&cfg, 0, sizeof cfg);
}

static void teardown(void)
{
    ws_config_free(&cfg);
    env_reset();
    nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#define assert_err(substr)                                                                                  \
    do {                                                                                                    \
        ck_assert_int_eq(err.code, WS_ERR_CONFIG);                                                          \
        ck_assert_msg(strstr(err.msg, (substr)) != NULL, "message \"%s\" lacks \"%s\"", err.msg, (substr)); \
    } while (0)

/* ---- defaults ---- */

START_TEST(test_defaults)
{
    ck_assert_int_eq(load(NULL, env(NULL)), 0);
    ck_assert_ptr_null(cfg.repo);
    ck_assert_ptr_null(cfg.s3_endpoint);
    ck_assert_str_eq(cfg.s3_region, "us-east-1");
    ck_assert_int_eq(cfg.s3_uri_style, WS_URI_PATH);
    ck_assert(cfg.s3_verify_tls);
    ck_assert_ptr_null(cfg.s3_ca_file);
    ck_assert_double_eq(cfg.s3_retry_budget, 60);
    ck_assert_double_eq(cfg.s3_request_timeout, 30);
    ck_assert_int_eq(cfg.compress, WS_COMPRESS_LZ4);
    ck_assert_ptr_null(cfg.encryption_key_file);
    ck_assert_ptr_null(cfg.pg_conninfo);
    ck_assert_int_eq(cfg.log_level, WS_LOG_NOTICE);
    ck_assert_uint_eq(cfg.archive_workers, 2);
    ck_assert_uint_eq(cfg.archive_lookahead, 8);
    ck_assert_uint_eq(cfg.prefetch, 8);
    ck_assert_ptr_null(cfg.aws_access_key_id);
    ck_assert_ptr_null(cfg.aws_secret_access_key);
    ck_assert_ptr_null(cfg.aws_session_token);
    ck_assert_ptr_null(cfg.config_file);
    for (int i = 0; i < WS_CFG_NKEYS; i++)
        ck_assert_str_eq(cfg.source[i], "default");
    /* NULL envp is an empty environment. */
    ws_config_free(&cfg);
    ck_assert_int_eq(load(NULL, NULL), 0);
    ck_assert_str_eq(cfg.s3_region, "us-east-1");
}
END_TEST

START_TEST(test_key_names)
{
    static const char *const want[] = {"repo",
                                       "s3_endpoint",
                                       "s3_region",
                                       "s3_uri_style",
                                       "s3_verify_tls",
                                       "s3_ca_file",
                                       "s3_retry_budget",
                                       "s3_request_timeout",
                                       "compress",
                                       "encryption_key_file",
                                       "pg_conninfo",
                                       "log_level",
                                       "archive_workers",
                                       "archive_lookahead",
                                       "prefetch",
                                       "s3_credentials_file",
                                       "s3_profile",
                                       "s3_sse",
                                       "s3_sse_kms_key_id",
                                       "s3_storage_class",
                                       "s3_conditional_put"};
    ck_assert_int_eq(WS_CFG_NKEYS, 21);
    for (int i = 0; i < WS_CFG_NKEYS; i++)
        ck_assert_str_eq(ws_config_table[i].name, want[i]);
    ck_assert_str_eq(ws_log_level_name(WS_LOG_ERROR), "error");
    ck_assert_str_eq(ws_log_level_name(WS_LOG_WARNING), "warning");
    ck_assert_str_eq(ws_log_level_name(WS_LOG_NOTICE), "notice");
    ck_assert_str_eq(ws_log_level_name(WS_LOG_INFO), "info");
    ck_assert_str_eq(ws_log_level_name(WS_LOG_DEBUG), "debug");
}
END_TEST

/* ---- the file format ---- */

START_TEST(test_file_format)
{
    const char *p = conf("# a comment\n"
                         "; another comment\n"
                         "\n"
                         "   \t\n"
                         "[walship]\n"
                         "  repo   =   file:///var/lib/walship   \n"
                         "\ts3_region=eu-west-3\r\n"
                         "pg_conninfo = \"host=127.0.0.1 dbname=postgres # not a comment\"\n"
                         "   # indented comment\n"
                         "encryption_key_file = \"/etc/walship/key with spaces\"\n"
                         "s3_ca_file = \"\"quoted\"\"\n"
                         "log_level=debug"); /* no final newline */
    ck_assert_msg(load(p, env(NULL)) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.config_file, p);
    ck_assert_str_eq(cfg.repo, "file:///var/lib/walship");
    ck_assert_str_eq(cfg.s3_region, "eu-west-3");
    ck_assert_str_eq(cfg.pg_conninfo, "host=127.0.0.1 dbname=postgres # not a comment");
    ck_assert_str_eq(cfg.encryption_key_file, "/etc/walship/key with spaces");
    ck_assert_str_eq(cfg.s3_ca_file, "\"quoted\""); /* only one pair removed */
    ck_assert_int_eq(cfg.log_level, WS_LOG_DEBUG);

    char want[400];
    snprintf(want, sizeof want, "%s:6", p);
    ck_assert_str_eq(cfg.source[WS_CFG_REPO], want);
    snprintf(want, sizeof want, "%s:7", p);
    ck_assert_str_eq(cfg.source[WS_CFG_S3_REGION], want);
    snprintf(want, sizeof want, "%s:12", p);
    ck_assert_str_eq(cfg.source[WS_CFG_LOG_LEVEL], want);
    ck_assert_str_eq(cfg.source[WS_CFG_COMPRESS], "default");
}
END_TEST

START_TEST(test_file_quotes_and_empty)
{
    const char *p = conf("repo = \"file:///a b\"\n"
                         "s3_endpoint =\n"          /* empty: not set */
                         "pg_conninfo = \"\"\n"     /* empty after unquoting */
                         "s3_ca_file = \"/lone\n"); /* a lone quote stays */
    ck_assert_msg(load(p, env(NULL)) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.repo, "file:///a b");
    ck_assert_ptr_null(cfg.s3_endpoint);
    ck_assert_ptr_null(cfg.pg_conninfo);
    ck_assert_str_eq(cfg.s3_ca_file, "\"/lone");
}
END_TEST

START_TEST(test_empty_file)
{
    const char *p = conf("");
    ck_assert_int_eq(load(p, env(NULL)), 0);
    ck_assert_str_eq(cfg.config_file, p);
    ck_assert_ptr_null(cfg.repo);
}
END_TEST

START_TEST(test_other_section)
{
    char want[400];
    const char *p = conf("repo = file:///x\n[postgres]\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    snprintf(want, sizeof want, "unknown section \"postgres\" in %s:2: only [walship] is allowed", p);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);

    p = conf("[walship\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    snprintf(want, sizeof want, "%s:1", p);
    assert_err(want);
    assert_err("section header");

    p = conf("[ walship ]\n[walship]\nrepo = file:///x\n"); /* repeated header is harmless */
    ck_assert_msg(load(p, env(NULL)) == 0, "%s", err.msg);
}
END_TEST

START_TEST(test_missing_equals)
{
    char want[400];
    const char *p = conf("repo = file:///x\nlog_level debug\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    snprintf(want, sizeof want, "syntax error in %s:2: expected key = value", p);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);

    p = conf("\n = value\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    snprintf(want, sizeof want, "%s:2", p);
    assert_err(want);
    assert_err("missing key");
}
END_TEST

START_TEST(test_duplicate_key)
{
    char want[400];
    const char *p = conf("repo = file:///a\n# c\nlog_level = info\nrepo = file:///a\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    snprintf(want, sizeof want, "duplicate key \"repo\" in %s:4 (already set on line 1)", p);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
}
END_TEST

START_TEST(test_unknown_key)
{
    char want[400];
    const char *p = conf("# typo below\nrepos = file:///x\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    snprintf(want, sizeof want, "unknown key \"repos\" in %s:2", p);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);

    /* Key names are case-sensitive. */
    p = conf("Repo = file:///x\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    assert_err("unknown key \"Repo\"");
}
END_TEST

START_TEST(test_nul_byte)
{
    static const char buf[] = "repo = file:///x\nlog_level = de\0bug\n";
    ck_assert_int_eq(ws_config_defaults(&cfg, &err), 0);
    ck_assert_int_eq(ws_config_parse_buffer(&cfg, "buf", buf, sizeof buf - 1, &err), -1);
    assert_err("buf:2");
    assert_err("NUL");
}
END_TEST

START_TEST(test_error_frees_config)
{
    const char *p = conf("repo = file:///x\ncompress = zstd\n");
    ck_assert_int_eq(load(p, env("AWS_ACCESS_KEY_ID=AKID", NULL)), -1);
    ck_assert_ptr_null(cfg.repo);
    ck_assert_ptr_null(cfg.s3_region);
    ck_assert_ptr_null(cfg.aws_access_key_id);
    ck_assert_ptr_null(cfg.config_file);
    for (int i = 0; i < WS_CFG_NKEYS; i++)
        ck_assert_ptr_null(cfg.source[i]);
}
END_TEST

/* ---- every key's valid and invalid values (one row per loop iteration) ---- */

static const struct {
    ws_cfg_key key;
    const char *value;
    bool ok;
} values[] = {
    /* repo: any text here; the storage registry checks it (test_storage_file.c). */
    {WS_CFG_REPO, "file:///tmp/r", true},
    {WS_CFG_REPO, "", true},
    {WS_CFG_S3_ENDPOINT, "http://127.0.0.1:9000", true},
    {WS_CFG_S3_ENDPOINT, "https://s3.eu-west-3.amazonaws.com", true},
    {WS_CFG_S3_ENDPOINT, "https://localhost/", true},
    {WS_CFG_S3_ENDPOINT, "http://[::1]:8080", true},
    {WS_CFG_S3_ENDPOINT, "http://h:65535", true},
    {WS_CFG_S3_ENDPOINT, "", true},
    {WS_CFG_S3_ENDPOINT, "ftp://host", false},
    {WS_CFG_S3_ENDPOINT, "http://", false},
    {WS_CFG_S3_ENDPOINT, "127.0.0.1:9000", false},
    {WS_CFG_S3_ENDPOINT, "http://host:0", false},
    {WS_CFG_S3_ENDPOINT, "http://host:65536", false},
    {WS_CFG_S3_ENDPOINT, "http://host:123456", false},
    {WS_CFG_S3_ENDPOINT, "http://host:", false},
    {WS_CFG_S3_ENDPOINT, "http://host/path", false},
    {WS_CFG_S3_ENDPOINT, "http://[::1", false},
    {WS_CFG_S3_ENDPOINT, "http://user@host", false},
    {WS_CFG_S3_REGION, "us-east-1", true},
    {WS_CFG_S3_REGION, "garage", true},
    {WS_CFG_S3_REGION, "", false},
    {WS_CFG_S3_REGION, "us east", false},
    {WS_CFG_S3_REGION, "us/east", false},
    {WS_CFG_S3_URI_STYLE, "path", true},
    {WS_CFG_S3_URI_STYLE, "host", true},
    {WS_CFG_S3_URI_STYLE, "virtual", false},
    {WS_CFG_S3_URI_STYLE, "", false},
    {WS_CFG_S3_VERIFY_TLS, "on", true},
    {WS_CFG_S3_VERIFY_TLS, "off", true},
    {WS_CFG_S3_VERIFY_TLS, "true", true},
    {WS_CFG_S3_VERIFY_TLS, "false", true},
    {WS_CFG_S3_VERIFY_TLS, "yes", true},
    {WS_CFG_S3_VERIFY_TLS, "no", true},
    {WS_CFG_S3_VERIFY_TLS, "1", true},
    {WS_CFG_S3_VERIFY_TLS, "0", true},
    {WS_CFG_S3_VERIFY_TLS, "maybe", false},
    {WS_CFG_S3_VERIFY_TLS, "2", false},
    {WS_CFG_S3_VERIFY_TLS, "", false},
    {WS_CFG_S3_CA_FILE, "/etc/ssl/private-ca.pem", true},
    {WS_CFG_S3_RETRY_BUDGET, "60", true},
    {WS_CFG_S3_RETRY_BUDGET, "0.5", true},
    {WS_CFG_S3_RETRY_BUDGET, ".5", true},
    {WS_CFG_S3_RETRY_BUDGET, "1.", true},
    {WS_CFG_S3_RETRY_BUDGET, "86400", true},
    {WS_CFG_S3_RETRY_BUDGET, "0", false},
    {WS_CFG_S3_RETRY_BUDGET, "0.0", false},
    {WS_CFG_S3_RETRY_BUDGET, "-1", false},
    {WS_CFG_S3_RETRY_BUDGET, "+1", false},
    {WS_CFG_S3_RETRY_BUDGET, "1e3", false},
    {WS_CFG_S3_RETRY_BUDGET, "inf", false},
    {WS_CFG_S3_RETRY_BUDGET, "nan", false},
    {WS_CFG_S3_RETRY_BUDGET, "0x10", false},
    {WS_CFG_S3_RETRY_BUDGET, "10s", false},
    {WS_CFG_S3_RETRY_BUDGET, ".", false},
    {WS_CFG_S3_RETRY_BUDGET, "", false},
    {WS_CFG_S3_RETRY_BUDGET, "86401", false},
    {WS_CFG_S3_RETRY_BUDGET, "99999999999999999999999999", false},
    {WS_CFG_S3_REQUEST_TIMEOUT, "30", true},
    {WS_CFG_S3_REQUEST_TIMEOUT, "2.25", true},
    {WS_CFG_S3_REQUEST_TIMEOUT, "0", false},
    {WS_CFG_S3_REQUEST_TIMEOUT, "1,5", false},
    {WS_CFG_COMPRESS, "lz4", true},
    {WS_CFG_COMPRESS, "none", true},
    {WS_CFG_COMPRESS, "zstd", false},
    {WS_CFG_COMPRESS, "", false},
    {WS_CFG_ENCRYPTION_KEY_FILE, "/etc/walship/key", true},
    {WS_CFG_PG_CONNINFO, "host=127.0.0.1 port=5432 dbname=postgres", true},
    {WS_CFG_LOG_LEVEL, "error", true},
    {WS_CFG_LOG_LEVEL, "warning", true},
    {WS_CFG_LOG_LEVEL, "notice", true},
    {WS_CFG_LOG_LEVEL, "info", true},
    {WS_CFG_LOG_LEVEL, "debug", true},
    {WS_CFG_LOG_LEVEL, "verbose", false},
    {WS_CFG_LOG_LEVEL, "warn", false},
    {WS_CFG_LOG_LEVEL, "", false},
    {WS_CFG_ARCHIVE_WORKERS, "1", true},
    {WS_CFG_ARCHIVE_WORKERS, "64", true},
    {WS_CFG_ARCHIVE_WORKERS, "0", false},
    {WS_CFG_ARCHIVE_WORKERS, "65", false},
    {WS_CFG_ARCHIVE_WORKERS, "-1", false},
    {WS_CFG_ARCHIVE_WORKERS, "2x", false},
    {WS_CFG_ARCHIVE_WORKERS, "", false},
    {WS_CFG_ARCHIVE_LOOKAHEAD, "0", true},
    {WS_CFG_ARCHIVE_LOOKAHEAD, "1024", true},
    {WS_CFG_ARCHIVE_LOOKAHEAD, "1025", false},
    {WS_CFG_ARCHIVE_LOOKAHEAD, "99999999999999999999", false},
    {WS_CFG_PREFETCH, "0", true},
    {WS_CFG_PREFETCH, "16", true},
    {WS_CFG_PREFETCH, "+4", false},
    {WS_CFG_PREFETCH, "4 4", false},
};

/* Each row through the file and through the environment. */
START_TEST(test_values)
{
    const char *key = ws_config_table[values[_i].key].name;
    const char *v = values[_i].value;
    char line[300], var[300], want[600];

    snprintf(line, sizeof line, "\n%s = %s\n", key, v);
    const char *p = conf(line);
    int rc = load(p, env(NULL));
    ck_assert_msg(rc == (values[_i].ok ? 0 : -1), "%s = \"%s\": rc %d, %s", key, v, rc, err.msg);
    if (!values[_i].ok) {
        snprintf(want, sizeof want, "invalid value \"%s\" for %s (from %s:2): expected ", v, key, p);
        ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "got \"%s\", want \"%s...\"", err.msg, want);
        ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    } else {
        snprintf(want, sizeof want, "%s:2", p);
        ck_assert_str_eq(cfg.source[values[_i].key], want);
    }
    ws_config_free(&cfg);

    size_t n = (size_t) snprintf(var, sizeof var, "WALSHIP_");
    for (const char *k = key; *k; k++)
        var[n++] = (char) (*k >= 'a' && *k <= 'z' ? *k - 'a' + 'A' : *k);
    snprintf(var + n, sizeof var - n, "=%s", v);
    rc = load(NULL, env(var, NULL));
    ck_assert_msg(rc == (values[_i].ok ? 0 : -1), "%s: rc %d, %s", var, rc, err.msg);
    var[n] = '\0';
    if (!values[_i].ok) {
        snprintf(want, sizeof want, "invalid value \"%s\" for %s (from environment variable %s): expected ", v, key,
                 var);
        ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "got \"%s\", want \"%s...\"", err.msg, want);
    } else {
        snprintf(want, sizeof want, "environment variable %s", var);
        ck_assert_str_eq(cfg.source[values[_i].key], want);
    }
}
END_TEST

START_TEST(test_parsed_values)
{
    const char *p = conf("repo = s3://my-bucket/pg/main\n"
                         "s3_endpoint = https://127.0.0.1:9443\n"
                         "s3_uri_style = host\n"
                         "s3_verify_tls = off\n"
                         "s3_retry_budget = 0.5\n"
                         "s3_request_timeout = 2.25\n"
                         "compress = none\n"
                         "log_level = warning\n");
    ck_assert_msg(load(p, env(NULL)) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.repo, "s3://my-bucket/pg/main");
    ck_assert_str_eq(cfg.s3_endpoint, "https://127.0.0.1:9443");
    ck_assert_int_eq(cfg.s3_uri_style, WS_URI_HOST);
    ck_assert(!cfg.s3_verify_tls);
    ck_assert_double_eq_tol(cfg.s3_retry_budget, 0.5, 1e-12);
    ck_assert_double_eq_tol(cfg.s3_request_timeout, 2.25, 1e-12);
    ck_assert_int_eq(cfg.compress, WS_COMPRESS_NONE);
    ck_assert_int_eq(cfg.log_level, WS_LOG_WARNING);

    /* The environment turns them back. */
    ws_config_free(&cfg);
    ck_assert_msg(load(p, env("WALSHIP_S3_VERIFY_TLS=yes", "WALSHIP_COMPRESS=lz4", "WALSHIP_S3_URI_STYLE=path",
                              "WALSHIP_LOG_LEVEL=error", "WALSHIP_S3_ENDPOINT=", NULL)) == 0,
                  "%s", err.msg);
    ck_assert(cfg.s3_verify_tls);
    ck_assert_int_eq(cfg.compress, WS_COMPRESS_LZ4);
    ck_assert_int_eq(cfg.s3_uri_style, WS_URI_PATH);
    ck_assert_int_eq(cfg.log_level, WS_LOG_ERROR);
    ck_assert_ptr_null(cfg.s3_endpoint); /* empty value = not set */
    ck_assert_str_eq(cfg.source[WS_CFG_S3_ENDPOINT], "environment variable WALSHIP_S3_ENDPOINT");
}
END_TEST

START_TEST(test_exact_value_message)
{
    char want[400];
    const char *p = conf("[walship]\nrepo = file:///x\n\ns3_verify_tls = maybe\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    snprintf(want, sizeof want, "invalid value \"maybe\" for s3_verify_tls (from %s:4): expected on or off", p);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_value_escaping)
{
    char longv[300] = "WALSHIP_LOG_LEVEL=";
    memset(longv + strlen(longv), 'x', 200);

    ck_assert_int_eq(load(NULL, env("WALSHIP_COMPRESS=l\"z\x01\n4", NULL)), -1);
    ck_assert_str_eq(err.msg, "invalid value \"l\\\"z\\x01\\x0a4\" for compress (from environment "
                              "variable WALSHIP_COMPRESS): expected lz4 or none");
    ck_assert_int_eq(load(NULL, env(longv, NULL)), -1);
    ck_assert_ptr_null(strchr(err.msg, '\n'));
    assert_err("xxx...\" for log_level");
    ck_assert_uint_lt(strlen(err.msg), 250);
}
END_TEST

/* ---- precedence ---- */

START_TEST(test_precedence_region_endpoint)
{
    char want[400];
    char *const *e;

    /* AWS_* over the default. */
    e = env("AWS_REGION=eu-west-1", "AWS_ENDPOINT_URL=http://127.0.0.1:9000", NULL);
    ck_assert_msg(load(NULL, e) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.s3_region, "eu-west-1");
    ck_assert_str_eq(cfg.s3_endpoint, "http://127.0.0.1:9000");
    ck_assert_str_eq(cfg.source[WS_CFG_S3_REGION], "environment variable AWS_REGION");
    ck_assert_str_eq(cfg.source[WS_CFG_S3_ENDPOINT], "environment variable AWS_ENDPOINT_URL");
    ws_config_free(&cfg);

    /* The file over AWS_*. */
    const char *p = conf("s3_region = eu-central-1\ns3_endpoint = http://127.0.0.1:9001\n");
    e = env("AWS_REGION=eu-west-1", "AWS_ENDPOINT_URL=http://127.0.0.1:9000", NULL);
    ck_assert_msg(load(p, e) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.s3_region, "eu-central-1");
    ck_assert_str_eq(cfg.s3_endpoint, "http://127.0.0.1:9001");
    snprintf(want, sizeof want, "%s:1", p);
    ck_assert_str_eq(cfg.source[WS_CFG_S3_REGION], want);
    ws_config_free(&cfg);

    /* WALSHIP_* over the file and AWS_*, whatever the order in the environment. */
    e = env("WALSHIP_S3_REGION=ap-south-1", "AWS_REGION=eu-west-1", "WALSHIP_S3_ENDPOINT=https://127.0.0.1:9002",
            "AWS_ENDPOINT_URL=http://127.0.0.1:9000", NULL);
    ck_assert_msg(load(p, e) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.s3_region, "ap-south-1");
    ck_assert_str_eq(cfg.s3_endpoint, "https://127.0.0.1:9002");
    ck_assert_str_eq(cfg.source[WS_CFG_S3_REGION], "environment variable WALSHIP_S3_REGION");
    ck_assert_str_eq(cfg.source[WS_CFG_S3_ENDPOINT], "environment variable WALSHIP_S3_ENDPOINT");
    ws_config_free(&cfg);

    /* Empty AWS_* variables are ignored; a bad one is named. */
    ck_assert_int_eq(load(NULL, env("AWS_REGION=", "AWS_ENDPOINT_URL=", NULL)), 0);
    ck_assert_str_eq(cfg.s3_region, "us-east-1");
    ck_assert_ptr_null(cfg.s3_endpoint);
    ws_config_free(&cfg);
    ck_assert_int_eq(load(NULL, env("AWS_ENDPOINT_URL=127.0.0.1:9000", NULL)), -1);
    assert_err("for s3_endpoint (from environment variable AWS_ENDPOINT_URL)");
}
END_TEST

START_TEST(test_precedence_all_keys)
{
    /* Every key set in the file, every key overridden by WALSHIP_<KEY>. */
    const char *p = conf("repo = file:///from/file\n"
                         "s3_endpoint = http://127.0.0.1:1\n"
                         "s3_region = file-region\n"
                         "s3_uri_style = host\n"
                         "s3_verify_tls = off\n"
                         "s3_ca_file = /file/ca.pem\n"
                         "s3_retry_budget = 1\n"
                         "s3_request_timeout = 2\n"
                         "compress = none\n"
                         "encryption_key_file = /file/key\n"
                         "pg_conninfo = dbname=file\n"
                         "log_level = error\n"
                         "archive_workers = 3\n"
                         "archive_lookahead = 0\n"
                         "prefetch = 5\n"
                         "s3_credentials_file = /file/credentials\n"
                         "s3_profile = file-profile\n"
                         "s3_sse = aes256\n"
                         "s3_sse_kms_key_id = file-kms\n"
                         "s3_storage_class = STANDARD_IA\n"
                         "s3_conditional_put = on\n");
    ck_assert_msg(load(p, env(NULL)) == 0, "%s", err.msg);
    for (int i = 0; i < WS_CFG_NKEYS; i++) {
        char want[400];
        snprintf(want, sizeof want, "%s:%d", p, i + 1);
        ck_assert_str_eq(cfg.source[i], want);
    }
    ck_assert_str_eq(cfg.repo, "file:///from/file");
    ck_assert_str_eq(cfg.s3_sse, "aes256"); /* any case; the driver sends AES256 */
    ck_assert_str_eq(cfg.s3_storage_class, "STANDARD_IA");
    ck_assert(cfg.s3_conditional_put);
    ws_config_free(&cfg);

    char *const *e =
        env("WALSHIP_REPO=s3://env-bucket/x", "WALSHIP_S3_ENDPOINT=http://127.0.0.1:2", "WALSHIP_S3_REGION=env-region",
            "WALSHIP_S3_URI_STYLE=path", "WALSHIP_S3_VERIFY_TLS=on", "WALSHIP_S3_CA_FILE=/env/ca.pem",
            "WALSHIP_S3_RETRY_BUDGET=3", "WALSHIP_S3_REQUEST_TIMEOUT=4", "WALSHIP_COMPRESS=lz4",
            "WALSHIP_ENCRYPTION_KEY_FILE=/env/key", "WALSHIP_PG_CONNINFO=dbname=env", "WALSHIP_LOG_LEVEL=info",
            "WALSHIP_ARCHIVE_WORKERS=4", "WALSHIP_ARCHIVE_LOOKAHEAD=16", "WALSHIP_PREFETCH=0",
            "WALSHIP_S3_CREDENTIALS_FILE=/env/credentials", "WALSHIP_S3_PROFILE=env-profile", "WALSHIP_S3_SSE=aws:KMS",
            "WALSHIP_S3_SSE_KMS_KEY_ID=arn:aws:kms:us-east-1:111122223333:key/env",
            "WALSHIP_S3_STORAGE_CLASS=ONEZONE_IA", "WALSHIP_S3_CONDITIONAL_PUT=off", NULL);
    ck_assert_msg(load(p, e) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.repo, "s3://env-bucket/x");
    ck_assert_str_eq(cfg.s3_endpoint, "http://127.0.0.1:2");
    ck_assert_str_eq(cfg.s3_region, "env-region");
    ck_assert_int_eq(cfg.s3_uri_style, WS_URI_PATH);
    ck_assert(cfg.s3_verify_tls);
    ck_assert_str_eq(cfg.s3_ca_file, "/env/ca.pem");
    ck_assert_double_eq(cfg.s3_retry_budget, 3);
    ck_assert_double_eq(cfg.s3_request_timeout, 4);
    ck_assert_int_eq(cfg.compress, WS_COMPRESS_LZ4);
    ck_assert_str_eq(cfg.encryption_key_file, "/env/key");
    ck_assert_str_eq(cfg.pg_conninfo, "dbname=env");
    ck_assert_int_eq(cfg.log_level, WS_LOG_INFO);
    ck_assert_uint_eq(cfg.archive_workers, 4);
    ck_assert_uint_eq(cfg.archive_lookahead, 16);
    ck_assert_uint_eq(cfg.prefetch, 0);
    ck_assert_str_eq(cfg.s3_credentials_file, "/env/credentials");
    ck_assert_str_eq(cfg.s3_profile, "env-profile");
    ck_assert_str_eq(cfg.s3_sse, "aws:KMS");
    ck_assert_str_eq(cfg.s3_sse_kms_key_id, "arn:aws:kms:us-east-1:111122223333:key/env");
    ck_assert_str_eq(cfg.s3_storage_class, "ONEZONE_IA");
    ck_assert(!cfg.s3_conditional_put);
    for (int i = 0; i < WS_CFG_NKEYS; i++)
        ck_assert_msg(strncmp(cfg.source[i], "environment variable WALSHIP_", 29) == 0, "%s", cfg.source[i]);
    ck_assert_str_eq(cfg.source[WS_CFG_S3_REQUEST_TIMEOUT], "environment variable WALSHIP_S3_REQUEST_TIMEOUT");
}
END_TEST

START_TEST(test_env_first_entry_wins)
{
    ck_assert_int_eq(load(NULL, env("WALSHIP_REPO=file:///first", "WALSHIP_REPO=bad", NULL)), 0);
    ck_assert_str_eq(cfg.repo, "file:///first");
}
END_TEST

START_TEST(test_aws_credentials)
{
    ck_assert_int_eq(load(NULL, env("AWS_ACCESS_KEY_ID=AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG",
                                    "AWS_SESSION_TOKEN=tok123", "OTHER=1", NULL)),
                     0);
    ck_assert_str_eq(cfg.aws_access_key_id, "AKIDEXAMPLE");
    ck_assert_str_eq(cfg.aws_secret_access_key, "wJalrXUtnFEMI/K7MDENG");
    ck_assert_str_eq(cfg.aws_session_token, "tok123");
    ws_config_free(&cfg);
    ck_assert_int_eq(load(NULL, env("AWS_ACCESS_KEY_ID=", NULL)), 0);
    ck_assert_ptr_null(cfg.aws_access_key_id);
    ws_config_free(&cfg);

    /* The variables of the other credential providers are kept, by name. */
    ck_assert_int_eq(load(NULL, env("AWS_ROLE_ARN=arn:aws:iam::1:role/r", "AWS_EC2_METADATA_DISABLED=true",
                                    "HOME=/home/u", "AWS_PROFILE=", NULL)),
                     0);
    ck_assert_str_eq(cfg.aws_env[WS_AWS_ROLE_ARN], "arn:aws:iam::1:role/r");
    ck_assert_str_eq(cfg.aws_env[WS_AWS_EC2_METADATA_DISABLED], "true");
    ck_assert_str_eq(cfg.aws_env[WS_AWS_HOME], "/home/u");
    ck_assert_ptr_null(cfg.aws_env[WS_AWS_PROFILE]);
    ck_assert_ptr_null(cfg.aws_env[WS_AWS_WEB_IDENTITY_TOKEN_FILE]);
    for (int i = 0; i < WS_AWS_NVARS; i++)
        ck_assert(strncmp(ws_aws_var_names[i], "AWS_", 4) == 0 || i == WS_AWS_HOME);
}
END_TEST

START_TEST(test_s3_put_settings)
{
    const char *p = conf("s3_sse = AES256\n");
    ck_assert_msg(load(p, env(NULL)) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.s3_sse, "AES256");
    ws_config_free(&cfg);
    ck_assert_int_eq(load(conf("s3_sse = aws:kms:dsse\n"), env(NULL)), -1);
    assert_err("expected AES256 or aws:kms");
    ck_assert_int_eq(load(conf("s3_storage_class = GLACIER\n"), env(NULL)), -1);
    assert_err("cannot be read back");
    ck_assert_int_eq(load(conf("s3_storage_class = standard_ia\n"), env(NULL)), -1);
    assert_err("s3_storage_class");
    ck_assert_int_eq(load(conf("s3_profile = \"my profile\"\n"), env(NULL)), -1);
    assert_err("s3_profile");
    /* Empty means not set. */
    ck_assert_int_eq(load(conf("s3_sse =\ns3_storage_class =\n"), env(NULL)), 0);
    ck_assert_ptr_null(cfg.s3_sse);
    ck_assert_ptr_null(cfg.s3_storage_class);
}
END_TEST

START_TEST(test_unknown_env)
{
    ck_assert_int_eq(load(NULL, env("PATH=/bin", "WALSHIP_REPOS=file:///x", NULL)), -1);
    ck_assert_str_eq(err.msg, "unknown environment variable WALSHIP_REPOS");
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_int_eq(load(NULL, env("WALSHIP_repo=file:///x", NULL)), -1);
    ck_assert_str_eq(err.msg, "unknown environment variable WALSHIP_repo");
    ck_assert_int_eq(load(NULL, env("WALSHIP_=x", NULL)), -1);
    ck_assert_str_eq(err.msg, "unknown environment variable WALSHIP_");
    /* Variables merely resembling ours are not walship's business. */
    ck_assert_int_eq(load(NULL, env("WALSHIPREPO=x", "walship_repo=x", "MY_WALSHIP_X=1", NULL)), 0);
}
END_TEST

/* ---- choosing the file ---- */

START_TEST(test_take_arg)
{
    const char *path = "unset";
    char a0[] = "walship-push", a1[] = "--config", a2[] = "/x.conf", a3[] = "%p", a4[] = "-v";
    char *argv1[] = {a0, a1, a2, a3, a4, NULL};
    int argc = 5;
    ck_assert_int_eq(ws_config_take_arg(&argc, argv1, &path, &err), 0);
    ck_assert_int_eq(argc, 3);
    ck_assert_str_eq(path, "/x.conf");
    ck_assert_str_eq(argv1[0], "walship-push");
    ck_assert_str_eq(argv1[1], "%p");
    ck_assert_str_eq(argv1[2], "-v");
    ck_assert_ptr_null(argv1[3]);

    char b1[] = "a", b2[] = "--config=/y.conf", b3[] = "b";
    char *argv2[] = {a0, b1, b2, b3, NULL};
    argc = 4;
    ck_assert_int_eq(ws_config_take_arg(&argc, argv2, &path, &err), 0);
    ck_assert_int_eq(argc, 3);
    ck_assert_str_eq(path, "/y.conf");
    ck_assert_str_eq(argv2[1], "a");
    ck_assert_str_eq(argv2[2], "b");
    ck_assert_ptr_null(argv2[3]);

    /* Absent: argv unchanged, path NULL. */
    char *argv3[] = {a0, b1, NULL};
    argc = 2;
    ck_assert_int_eq(ws_config_take_arg(&argc, argv3, &path, &err), 0);
    ck_assert_int_eq(argc, 2);
    ck_assert_ptr_null(path);
    ck_assert_ptr_eq(argv3[1], b1);

    /* After "--" everything is an operand. */
    char dd[] = "--";
    char *argv4[] = {a0, dd, a1, a2, NULL};
    argc = 4;
    ck_assert_int_eq(ws_config_take_arg(&argc, argv4, &path, &err), 0);
    ck_assert_int_eq(argc, 4);
    ck_assert_ptr_null(path);
    ck_assert_ptr_eq(argv4[2], a1);

    /* "--configure" is not our option. */
    char c1[] = "--configure";
    char *argv5[] = {a0, c1, NULL};
    argc = 2;
    ck_assert_int_eq(ws_config_take_arg(&argc, argv5, &path, &err), 0);
    ck_assert_int_eq(argc, 2);
    ck_assert_ptr_null(path);
}
END_TEST

START_TEST(test_take_arg_errors)
{
    const char *path = NULL;
    char a0[] = "walship", a1[] = "--config", a2[] = "--config=", a3[] = "/x", a4[] = "--config=/z";

    char *argv1[] = {a0, a1, NULL};
    int argc = 2;
    ck_assert_int_eq(ws_config_take_arg(&argc, argv1, &path, &err), -1);
    ck_assert_str_eq(err.msg, "option --config needs a file name");
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);

    char *argv2[] = {a0, a2, NULL};
    argc = 2;
    ck_assert_int_eq(ws_config_take_arg(&argc, argv2, &path, &err), -1);
    ck_assert_str_eq(err.msg, "option --config needs a file name");

    char *argv3[] = {a0, a1, a3, a4, NULL};
    argc = 4;
    ck_assert_int_eq(ws_config_take_arg(&argc, argv3, &path, &err), -1);
    ck_assert_str_eq(err.msg, "option --config given more than once");
}
END_TEST

START_TEST(test_walship_config_env)
{
    char var[400], want[400];
    const char *p = conf("repo = file:///from/env/file\n");

    snprintf(var, sizeof var, "WALSHIP_CONFIG=%s", p);
    ck_assert_msg(load(NULL, env(var, NULL)) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.repo, "file:///from/env/file");
    ck_assert_str_eq(cfg.config_file, p);
    ws_config_free(&cfg);

    /* --config beats WALSHIP_CONFIG (which here names a missing file). */
    const char *q = conf("repo = file:///from/option\n");
    ck_assert_msg(load(q, env("WALSHIP_CONFIG=/nonexistent/walship.conf", NULL)) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.repo, "file:///from/option");
    ws_config_free(&cfg);

    /* A missing file named by WALSHIP_CONFIG is an error naming it. */
    snprintf(var, sizeof var, "WALSHIP_CONFIG=%s/missing.conf", tmpdir);
    ck_assert_int_eq(load(NULL, env(var, NULL)), -1);
    snprintf(want, sizeof want,
             "cannot open config file %s/missing.conf (named by WALSHIP_CONFIG): No such file or "
             "directory",
             tmpdir);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);

    ck_assert_int_eq(load(NULL, env("WALSHIP_CONFIG=", NULL)), -1);
    assert_err("WALSHIP_CONFIG is empty");
}
END_TEST

START_TEST(test_missing_explicit_file)
{
    char path[400], want[500];

    snprintf(path, sizeof path, "%s/nope.conf", tmpdir);
    ck_assert_int_eq(load(path, env(NULL)), -1);
    snprintf(want, sizeof want, "cannot open config file %s (named by --config): No such file or directory", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);

    /* A directory is not a config file. */
    ck_assert_int_eq(load(tmpdir, env(NULL)), -1);
    assert_err(tmpdir);
    assert_err("is a directory");

    ck_assert_int_eq(load("", env(NULL)), -1);
    assert_err("needs a file name");

    /* A FIFO (by --config or WALSHIP_CONFIG) fails at once, never blocks. */
    snprintf(path, sizeof path, "%s/fifo.conf", tmpdir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    alarm(10);
    ck_assert_int_eq(load(path, env(NULL)), -1);
    assert_err("is a FIFO");
    assert_err(path);
    snprintf(want, sizeof want, "WALSHIP_CONFIG=%s", path);
    ck_assert_int_eq(load(NULL, env(want, NULL)), -1);
    alarm(0);
    assert_err("is a FIFO");
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
}
END_TEST

START_TEST(test_default_file)
{
    char def[400], var[500];

    /* Absent default file: fine. */
    ck_assert_int_eq(load(NULL, env(NULL)), 0);
    ck_assert_ptr_null(cfg.config_file);
    ws_config_free(&cfg);

    /* Present: read. */
    snprintf(def, sizeof def, "%s/walship.conf", tmpdir);
    FILE *f = fopen(def, "w");
    ck_assert_ptr_nonnull(f);
    fputs("repo = file:///from/default\n", f);
    fclose(f);
    ck_assert_msg(ws_config_load_from(&cfg, NULL, def, env(NULL), &err) == 0, "%s", err.msg);
    ck_assert_str_eq(cfg.repo, "file:///from/default");
    ck_assert_str_eq(cfg.config_file, def);
    ws_config_free(&cfg);

    /* WALSHIP_CONFIG replaces it (the default is not read as well). */
    const char *p = conf("log_level = debug\n");
    snprintf(var, sizeof var, "WALSHIP_CONFIG=%s", p);
    ck_assert_int_eq(ws_config_load_from(&cfg, NULL, def, env(var, NULL), &err), 0);
    ck_assert_ptr_null(cfg.repo);
    ck_assert_int_eq(cfg.log_level, WS_LOG_DEBUG);
    ws_config_free(&cfg);

    /* An existing default file with an error is still an error. */
    f = fopen(def, "w");
    ck_assert_ptr_nonnull(f);
    fputs("compress = gzip\n", f);
    fclose(f);
    ck_assert_int_eq(ws_config_load_from(&cfg, NULL, def, env(NULL), &err), -1);
    assert_err("for compress");

    /* The real entry point: fine when /etc/walship/walship.conf is absent. */
    if (access(WS_DEFAULT_CONFIG_FILE, F_OK) != 0 && errno == ENOENT) {
        ck_assert_int_eq(ws_config_load(&cfg, NULL, env("WALSHIP_REPO=file:///r", NULL), &err), 0);
        ck_assert_ptr_null(cfg.config_file);
        ck_assert_str_eq(cfg.repo, "file:///r");
    }
}
END_TEST

/* ---- require and secrets ---- */

START_TEST(test_require)
{
    char want[400];

    ck_assert_int_eq(load(NULL, env(NULL)), 0);
    ck_assert_int_eq(ws_config_require(&cfg, WS_CFG_REPO, &err), -1);
    ck_assert_str_eq(err.msg, "missing setting repo: set it in the config file or WALSHIP_REPO");
    ck_assert_int_eq(err.code, WS_ERR_CONFIG);
    ck_assert_int_eq(ws_config_require(&cfg, WS_CFG_PG_CONNINFO, &err), -1);
    ck_assert_str_eq(err.msg, "missing setting pg_conninfo: set it in the config file or WALSHIP_PG_CONNINFO");
    /* Settings with defaults are always present. */
    ck_assert_int_eq(ws_config_require(&cfg, WS_CFG_S3_REGION, &err), 0);
    ck_assert_int_eq(ws_config_require(&cfg, WS_CFG_COMPRESS, &err), 0);
    ck_assert_int_eq(ws_config_require(&cfg, WS_CFG_LOG_LEVEL, &err), 0);
    ck_assert_int_eq(ws_config_require(&cfg, WS_CFG_NKEYS, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_INTERNAL);
    ws_config_free(&cfg);

    /* With a file read, the message names it. */
    const char *p = conf("log_level = info\n");
    ck_assert_int_eq(load(p, env("WALSHIP_PG_CONNINFO=dbname=x", NULL)), 0);
    ck_assert_int_eq(ws_config_require(&cfg, WS_CFG_PG_CONNINFO, &err), 0);
    ck_assert_int_eq(ws_config_require(&cfg, WS_CFG_ENCRYPTION_KEY_FILE, &err), -1);
    snprintf(want, sizeof want, "missing setting encryption_key_file: set it in %s or WALSHIP_ENCRYPTION_KEY_FILE", p);
    ck_assert_str_eq(err.msg, want);
}
END_TEST

START_TEST(test_secrets_not_in_messages)
{
    static const char *const secrets[] = {"S3CR3T-VALUE-1", "T0KEN-VALUE-2"};
    char *const *e = env("AWS_SECRET_ACCESS_KEY=S3CR3T-VALUE-1", "AWS_SESSION_TOKEN=T0KEN-VALUE-2",
                         "WALSHIP_S3_VERIFY_TLS=sometimes", NULL);

    /* A bad setting beside credentials. */
    ck_assert_int_eq(load(NULL, e), -1);
    assert_err("s3_verify_tls");
    for (int i = 0; i < 2; i++)
        ck_assert_ptr_null(strstr(err.msg, secrets[i]));

    /* Credentials put in the file by mistake: the value is not echoed. */
    const char *p = conf("aws_secret_access_key = S3CR3T-VALUE-1\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    assert_err("unknown key \"aws_secret_access_key\"");
    assert_err("AWS_SECRET_ACCESS_KEY");
    ck_assert_ptr_null(strstr(err.msg, secrets[0]));

    /* A line that is not key = value is not echoed either. */
    p = conf("S3CR3T-VALUE-1\n");
    ck_assert_int_eq(load(p, env(NULL)), -1);
    ck_assert_ptr_null(strstr(err.msg, secrets[0]));

    /* A key file named as the config file: its material is never echoed,
     * whatever shape it has (base64 with '=' padding, hex, a section-like
     * line); only a token that could be a setting's name is. */
    {
        static const char *const keys[] = {
            "kN9AeF3qZ0x8s7Yy+ab/cdefghijklmnopqrstG4Yc=\n",
            "kN9AeF3qZ0x8s7YyHabcdefghijklmnopqrstuG4Yc=\n", /* no '+' or '/' */
            "0123456789abcdef0123456789abcdef0123456789abcdef=\n",
            "[kN9AeF3qZ0x8s7Yy/abc]\n",
        };

        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            p = conf(keys[i]);
            ck_assert_int_eq(load(p, env(NULL)), -1);
            ck_assert_msg(!strstr(err.msg, "kN9AeF") && !strstr(err.msg, "0123456789"), "%s", err.msg);
            assert_err("not shown");
        }
        p = conf("repos = x\n");
        ck_assert_int_eq(load(p, env(NULL)), -1);
        assert_err("unknown key \"repos\"");
    }

    /* Nor the value of an unknown WALSHIP_ variable. */
    ck_assert_int_eq(load(NULL, env("WALSHIP_SECRET=T0KEN-VALUE-2", NULL)), -1);
    ck_assert_str_eq(err.msg, "unknown environment variable WALSHIP_SECRET");

    /* Nor a pg_conninfo password when a later setting fails. */
    ck_assert_int_eq(load(NULL, env("WALSHIP_PG_CONNINFO=password=S3CR3T-VALUE-1", "WALSHIP_S3_REGION=", NULL)), -1);
    ck_assert_ptr_null(strstr(err.msg, secrets[0]));
}
END_TEST

/* ---- logging ---- */

/* Runs fn with stderr captured; returns what was written (static buffer). */
static const char *capture_stderr(void (*fn)(void))
{
    static char out[2048];
    char path[400];

    snprintf(path, sizeof path, "%s/stderr.txt", tmpdir);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(path, "w+");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(dup2(fileno(f), 2), 0);
    fn();
    fflush(stderr);
    ck_assert_int_ge(dup2(saved, 2), 0);
    close(saved);
    rewind(f);
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

static void log_some(void)
{
    ws_err e;
    ws_log(WS_LOG_ERROR, "boom %d", 1);
    ws_log(WS_LOG_WARNING, "careful");
    ws_log(WS_LOG_NOTICE, "note");
    ws_log(WS_LOG_INFO, "hidden info");
    ws_log(WS_LOG_DEBUG, "hidden debug");
    ws_err_set(&e, WS_ERR_CONFIG, "unknown key \"x\" in /f:1");
    ws_log_err(&e);
}

START_TEST(test_log_levels)
{
    ck_assert_int_eq(ws_log_get_level(), WS_LOG_NOTICE); /* before init */
    ws_log_init("/usr/bin/walship-push", WS_LOG_NOTICE);
    ck_assert_int_eq(ws_log_get_level(), WS_LOG_NOTICE);
    ck_assert_str_eq(capture_stderr(log_some), "walship-push: ERROR: boom 1\n"
                                               "walship-push: WARNING: careful\n"
                                               "walship-push: NOTICE: note\n"
                                               "walship-push: ERROR: unknown key \"x\" in /f:1\n");

    ws_log_init("walship", WS_LOG_ERROR);
    ck_assert_int_eq(ws_log_get_level(), WS_LOG_ERROR);
    ck_assert_str_eq(capture_stderr(log_some), "walship: ERROR: boom 1\nwalship: ERROR: unknown key \"x\" in /f:1\n");

    ws_log_init("walship", WS_LOG_DEBUG);
    const char *all = capture_stderr(log_some);
    ck_assert_ptr_nonnull(strstr(all, "walship: INFO: hidden info\n"));
    ck_assert_ptr_nonnull(strstr(all, "walship: DEBUG: hidden debug\n"));
}
END_TEST

/*
 * doc/configuration.md's table of keys ("## Keys": rows "| `key` | `WALSHIP_KEY` |")
 * lists exactly the keys of ws_config_table, each once, with its variable.
 */
START_TEST(test_doc_lists_every_key)
{
    const char *root = getenv("WS_SOURCE_ROOT");
    char path[1024], line[4096];
    bool listed[WS_CFG_NKEYS] = {false}, in_keys = false;
    int rows = 0;
    FILE *f;

    ck_assert_msg(root != NULL, "WS_SOURCE_ROOT is not set (meson sets it)");
    snprintf(path, sizeof path, "%s/doc/configuration.md", root);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    while (fgets(line, sizeof line, f)) {
        char key[64], var[80], want[80];
        int k = -1;

        if (strncmp(line, "## ", 3) == 0) {
            in_keys = strcmp(line, "## Keys\n") == 0;
            continue;
        }
        if (!in_keys || sscanf(line, "| `%63[^`]` | `%79[^`]` |", key, var) != 2)
            continue;
        rows++;
        for (int i = 0; i < WS_CFG_NKEYS; i++)
            if (strcmp(ws_config_table[i].name, key) == 0)
                k = i;
        ck_assert_msg(k >= 0, "%s lists \"%s\", which is not a setting", path, key);
        ck_assert_msg(!listed[k], "%s lists \"%s\" twice", path, key);
        listed[k] = true;
        snprintf(want, sizeof want, "WALSHIP_%s", key);
        for (char *c = want; *c; c++)
            *c = (char) (*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
        ck_assert_msg(strcmp(var, want) == 0, "%s: \"%s\" has variable %s, want %s", path, key, var, want);
    }
    fclose(f);
    ck_assert_int_eq(rows, WS_CFG_NKEYS);
    for (int i = 0; i < WS_CFG_NKEYS; i++)
        ck_assert_msg(listed[i], "%s does not list \"%s\"", path, ws_config_table[i].name);
}
END_TEST

/* Every row of the table is complete and its default is valid (defaults are
 * parsed like any value, so a bad one fails ws_config_defaults). */
START_TEST(test_table_rows)
{
    for (int i = 0; i < WS_CFG_NKEYS; i++) {
        const ws_cfg_def *d = &ws_config_table[i];

        ck_assert_msg(d->name != NULL, "row %d has no name", i);
        ck_assert_msg(d->type == WS_CFG_TYPE_STRING || d->help != NULL, "%s: no help text", d->name);
        ck_assert_msg(d->type != WS_CFG_TYPE_CHOICE || d->choices != NULL, "%s: no choices", d->name);
        ck_assert_msg(d->type != WS_CFG_TYPE_COUNT || d->min <= d->max, "%s: min > max", d->name);
        ck_assert_msg(d->type == WS_CFG_TYPE_STRING || d->def != NULL, "%s: no default", d->name);
    }
    ck_assert_int_eq(ws_config_defaults(&cfg, &err), 0);
    ws_config_free(&cfg);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_key_names);
    tcase_add_test(tc, test_file_format);
    tcase_add_test(tc, test_file_quotes_and_empty);
    tcase_add_test(tc, test_empty_file);
    tcase_add_test(tc, test_other_section);
    tcase_add_test(tc, test_missing_equals);
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_test(tc, test_unknown_key);
    tcase_add_test(tc, test_nul_byte);
    tcase_add_test(tc, test_error_frees_config);
    tcase_add_loop_test(tc, test_values, 0, (int) (sizeof values / sizeof values[0]));
    tcase_add_test(tc, test_parsed_values);
    tcase_add_test(tc, test_exact_value_message);
    tcase_add_test(tc, test_value_escaping);
    tcase_add_test(tc, test_precedence_region_endpoint);
    tcase_add_test(tc, test_precedence_all_keys);
    tcase_add_test(tc, test_env_first_entry_wins);
    tcase_add_test(tc, test_aws_credentials);
    tcase_add_test(tc, test_s3_put_settings);
    tcase_add_test(tc, test_unknown_env);
    tcase_add_test(tc, test_take_arg);
    tcase_add_test(tc, test_take_arg_errors);
    tcase_add_test(tc, test_walship_config_env);
    tcase_add_test(tc, test_missing_explicit_file);
    tcase_add_test(tc, test_default_file);
    tcase_add_test(tc, test_require);
    tcase_add_test(tc, test_secrets_not_in_messages);
    tcase_add_test(tc, test_doc_lists_every_key);
    tcase_add_test(tc, test_table_rows);
    suite_add_tcase(s, tc);

    TCase *tl = tcase_create("log");
    tcase_add_checked_fixture(tl, setup, teardown);
    tcase_add_test(tl, test_log_levels);
    suite_add_tcase(s, tl);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    unit_tmp_init("config");
    srunner_run_all(sr, CK_NORMAL);
    unit_tmp_cleanup();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
