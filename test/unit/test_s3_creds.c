/*
 * test_s3_creds.c - S3 credentials without a network: the shared-credentials
 * file (format, profiles, the private-file rule), token files that are FIFOs,
 * the JSON of the container endpoint and IMDS, expiry times and the refresh
 * policy, and the provider chain's precedence and errors (remote providers
 * only as far as a closed loopback port; the fetches themselves are tested
 * against the project's fake endpoints in test/integration/).
 */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "unit_tmp.h"
#include "walship/clock.h"
#include "walship/s3_credfetch.h"
#include "walship/s3_credfile.h"
#include "walship/s3_creds.h"

static char tmpdir[UNIT_TMP_MAX];
static ws_config cfg;
static ws_err err;
static char *env_store[32];

static void setup(void)
{
    unit_tmp_template(tmpdir, sizeof tmpdir, "walship-test-s3creds");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    memset(&cfg, 0, sizeof cfg);
    ws_err_clear(&err);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void teardown(void)
{
    ws_config_free(&cfg);
    for (size_t i = 0; env_store[i]; i++) {
        free(env_store[i]);
        env_store[i] = NULL;
    }
    nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir/name with content and mode; returns the path (static storage). */
static const char *file(const char *name, const char *content, mode_t mode)
{
    static char paths[8][400];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 400, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(content, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(p, mode), 0);
    return p;
}

/* Loads cfg from an optional config text and "NAME=value" variables. */
static int load(const char *conf_text, ...)
{
    va_list ap;
    size_t n = 0;
    va_start(ap, conf_text);
    for (const char *s = va_arg(ap, const char *); s && n + 1 < 32; s = va_arg(ap, const char *))
        env_store[n++] = strdup(s);
    va_end(ap);
    env_store[n] = NULL;
    const char *path = conf_text ? file("walship.conf", conf_text, 0600) : NULL;
    char absent[450];
    snprintf(absent, sizeof absent, "%s/absent.conf", tmpdir);
    ws_config_free(&cfg);
    int rc = ws_config_load_from(&cfg, path, absent, env_store, &err);
    for (size_t i = 0; i < n; i++) {
        free(env_store[i]);
        env_store[i] = NULL;
    }
    return rc;
}

/* Opens the chain for cfg: its source, or NULL with err set. */
static ws_s3_creds *open_chain(void)
{
    ws_s3_creds *c = NULL;
    if (ws_s3_creds_open(&cfg, &c, &err) < 0)
        return NULL;
    return c;
}

static void assert_key(ws_s3_creds *c, const char *ak, const char *sk, const char *token)
{
    ws_s3_cred cur = {0};
    uint64_t gen = 0;
    ck_assert_msg(ws_s3_creds_get(c, &cur, &gen, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(cur.access_key, ak);
    ck_assert_str_eq(cur.secret_key, sk);
    if (token)
        ck_assert_str_eq(cur.session_token, token);
    else
        ck_assert_ptr_null(cur.session_token);
    ck_assert_uint_ne(gen, 0);
    /* Same generation: nothing to copy, the caller's copy stays. */
    uint64_t g2 = gen;
    ck_assert_int_eq(ws_s3_creds_get(c, &cur, &g2, &err), 0);
    ck_assert_uint_eq(g2, gen);
    ws_s3_cred_free(&cur);
}

#define assert_err(code_, substr)                                                                           \
    do {                                                                                                    \
        ck_assert_msg(err.code == (code_), "code %s: %s", ws_errcode_name(err.code), err.msg);              \
        ck_assert_msg(strstr(err.msg, (substr)) != NULL, "message \"%s\" lacks \"%s\"", err.msg, (substr)); \
    } while (0)

/* A loopback port nothing listens on (bound once, then closed). */
static int closed_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    ck_assert_int_eq(bind(s, (struct sockaddr *) &a, sizeof a), 0);
    ck_assert_int_eq(getsockname(s, (struct sockaddr *) &a, &al), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* --- times ----------------------------------------------------------------- */

START_TEST(parse_time)
{
    int64_t t = 0;
    ck_assert_int_eq(ws_s3_creds_parse_time("1970-01-01T00:00:00Z", &t), 0);
    ck_assert_int_eq(t, 0);
    ck_assert_int_eq(ws_s3_creds_parse_time("2014-10-24T23:00:23Z", &t), 0);
    ck_assert_int_eq(t, 1414191623);
    ck_assert_int_eq(ws_s3_creds_parse_time("2014-10-24T23:00:23.123Z", &t), 0);
    ck_assert_int_eq(t, 1414191623);
    ck_assert_int_eq(ws_s3_creds_parse_time("2014-10-24T23:00:23+00:00", &t), 0);
    ck_assert_int_eq(t, 1414191623);
    static const char *const bad[] = {"",
                                      "2014-10-24",
                                      "2014-10-24T23:00:23",
                                      "2014-10-24T23:00:23+02:00",
                                      "2014-10-24 23:00:23Z",
                                      "2014-13-24T23:00:23Z",
                                      "2014-10-24T23:00:23.Z",
                                      "2014-10-24T23:00:23Zjunk",
                                      "14-10-24T23:00:23Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(ws_s3_creds_parse_time(bad[i], &t) == -1, "accepted '%s'", bad[i]);
    ck_assert_int_eq(ws_s3_creds_parse_time(NULL, &t), -1);
}
END_TEST

START_TEST(refresh_policy)
{
    /* An hour's credentials: 5 minutes before they expire. */
    ck_assert_int_eq(ws_s3_creds_refresh_at(1000, 1000 + 3600), 1000 + 3600 - 300);
    /* Short ones: half-way, so they are used before being replaced. */
    ck_assert_int_eq(ws_s3_creds_refresh_at(1000, 1010), 1005);
    ck_assert_int_eq(ws_s3_creds_refresh_at(1000, 1000 + 599), 1000 + 599 - 299);
    ck_assert_int_eq(ws_s3_creds_refresh_at(1000, 1000 + 600), 1000 + 600 - 300);
    /* Already expired: now. */
    ck_assert_int_eq(ws_s3_creds_refresh_at(1000, 900), 1000);
}
END_TEST

/* --- the credentials file --------------------------------------------------- */

static const char credfile[] = "# comment\n"
                               "[default]\n"
                               "aws_access_key_id = AKIADEFAULT\n"
                               "aws_secret_access_key=secret/default+1\n"
                               "\n"
                               "[prod]\r\n"
                               "; another comment\r\n"
                               "AWS_ACCESS_KEY_ID   =   AKIAPROD  \r\n"
                               "aws_secret_access_key = secret prod\r\n"
                               "aws_session_token = tok/prod==\r\n"
                               "region = eu-west-1\r\n"
                               "s3 =\r\n"
                               "  max_concurrent_requests = 4\r\n"
                               "[ spaced ]\n"
                               "aws_access_key_id = AKIASPACED\n"
                               "aws_secret_access_key = s\n"
                               "[role]\n"
                               "role_arn = arn:aws:iam::1:role/r\n"
                               "source_profile = default\n";

START_TEST(credfile_parse)
{
    ws_s3_cred c;
    ck_assert_int_eq(ws_s3_credfile_parse(credfile, strlen(credfile), "f", "default", &c, &err), 1);
    ck_assert_str_eq(c.access_key, "AKIADEFAULT");
    ck_assert_str_eq(c.secret_key, "secret/default+1");
    ck_assert_ptr_null(c.session_token);
    ck_assert_int_eq(c.expires, 0);
    ws_s3_cred_free(&c);

    ck_assert_int_eq(ws_s3_credfile_parse(credfile, strlen(credfile), "f", "prod", &c, &err), 1);
    ck_assert_str_eq(c.access_key, "AKIAPROD");
    ck_assert_str_eq(c.secret_key, "secret prod");
    ck_assert_str_eq(c.session_token, "tok/prod==");
    ws_s3_cred_free(&c);

    ck_assert_int_eq(ws_s3_credfile_parse(credfile, strlen(credfile), "f", "spaced", &c, &err), 1);
    ck_assert_str_eq(c.access_key, "AKIASPACED");
    ws_s3_cred_free(&c);

    ck_assert_int_eq(ws_s3_credfile_parse(credfile, strlen(credfile), "f", "nope", &c, &err), 0);
    ck_assert_ptr_null(c.access_key);
    ck_assert_int_eq(ws_s3_credfile_parse(credfile, strlen(credfile), "f", "Prod", &c, &err), 0);

    ck_assert_int_eq(ws_s3_credfile_parse(credfile, strlen(credfile), "f", "role", &c, &err), -1);
    assert_err(WS_ERR_CONFIG, "profile 'role' has no aws_access_key_id");
    ck_assert_ptr_null(c.access_key);

    static const char *const bad[] = {"[default\naws_access_key_id = a\n", "[default]\naws_access_key_id a\n",
                                      "[default]\naws_access_key_id = a\naws_access_key_id = b\n",
                                      "[default]\naws_access_key_id = a\n"};
    static const char *const why[] = {"malformed section header", "expected key = value", "repeated",
                                      "has no aws_secret_access_key"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(ws_s3_credfile_parse(bad[i], strlen(bad[i]), "f", "default", &c, &err), -1);
        assert_err(WS_ERR_CONFIG, why[i]);
        ck_assert_msg(strstr(err.msg, "credentials file f"), "%s", err.msg);
        ck_assert_ptr_null(c.access_key);
    }
    /* A value is never echoed in a message. */
    static const char leak[] = "[default]\naws_secret_access_key = SECRET-4711\naws_secret_access_key = x\n";
    ck_assert_int_eq(ws_s3_credfile_parse(leak, strlen(leak), "f", "default", &c, &err), -1);
    ck_assert_ptr_null(strstr(err.msg, "SECRET-4711"));
}
END_TEST

START_TEST(credfile_private)
{
    struct stat st = {.st_mode = S_IFREG | 0600, .st_uid = 1000};
    ck_assert_int_eq(ws_s3_credfile_check_private(&st, 1000, "/c", &err), 0);
    st.st_uid = 0; /* root's file, e.g. from configuration management */
    ck_assert_int_eq(ws_s3_credfile_check_private(&st, 1000, "/c", &err), 0);
    st.st_mode = S_IFREG | 0400;
    ck_assert_int_eq(ws_s3_credfile_check_private(&st, 1000, "/c", &err), 0);
    static const mode_t refused[] = {0644, 0640, 0604, 0620, 0602, 0610, 0601};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        st.st_mode = S_IFREG | refused[i];
        ck_assert_int_eq(ws_s3_credfile_check_private(&st, 1000, "/c", &err), -1);
        assert_err(WS_ERR_CONFIG, "group or others may access it");
        ck_assert_msg(strstr(err.msg, "chmod 600 /c"), "%s", err.msg);
    }
    st.st_mode = S_IFREG | 0600;
    st.st_uid = 1001;
    ck_assert_int_eq(ws_s3_credfile_check_private(&st, 1000, "/c", &err), -1);
    assert_err(WS_ERR_CONFIG, "owned by uid 1001");
}
END_TEST

START_TEST(credfile_read)
{
    ws_s3_cred c;
    const char *p = file("credentials", credfile, 0600);
    ck_assert_msg(ws_s3_credfile_read(p, "prod", &c, &err) == 1, "%s", err.msg);
    ck_assert_str_eq(c.access_key, "AKIAPROD");
    ws_s3_cred_free(&c);
    ck_assert_int_eq(chmod(p, 0644), 0);
    ck_assert_int_eq(ws_s3_credfile_read(p, "prod", &c, &err), -1);
    assert_err(WS_ERR_CONFIG, "mode 0644");
    ck_assert_ptr_null(c.access_key);

    char missing[450];
    snprintf(missing, sizeof missing, "%s/missing", tmpdir);
    ck_assert_int_eq(ws_s3_credfile_read(missing, "default", &c, &err), -1);
    ck_assert_int_eq(err.code, WS_ERR_NOTFOUND);

    /* Neither a directory nor a FIFO is read; the FIFO does not block. */
    ck_assert_int_eq(ws_s3_credfile_read(tmpdir, "default", &c, &err), -1);
    assert_err(WS_ERR_CONFIG, "not a regular file");
    char fifo[450];
    snprintf(fifo, sizeof fifo, "%s/fifo", tmpdir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    double t0 = ws_clock_now();
    ck_assert_int_eq(ws_s3_credfile_read(fifo, "default", &c, &err), -1);
    assert_err(WS_ERR_CONFIG, "not a regular file");
    ck_assert(ws_clock_now() - t0 < 2);
}
END_TEST

/* --- the JSON of the container endpoint and IMDS ----------------------------- */

START_TEST(json_documents)
{
    ws_s3_cred c;
    static const char imds[] = "{\n  \"Code\" : \"Success\",\n  \"LastUpdated\" : \"2012-04-26T16:39:16Z\",\n"
                               "  \"Type\" : \"AWS-HMAC\",\n  \"AccessKeyId\" : \"ASIAIOSFODNN7EXAMPLE\",\n"
                               "  \"SecretAccessKey\" : \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\",\n"
                               "  \"Token\" : \"token\",\n  \"Expiration\" : \"2017-05-17T15:09:54Z\"\n}";
    ck_assert_msg(ws_s3_credfetch_parse_json(imds, strlen(imds), "imds", &c, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(c.access_key, "ASIAIOSFODNN7EXAMPLE");
    ck_assert_str_eq(c.secret_key, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    ck_assert_str_eq(c.session_token, "token");
    ck_assert_int_eq(c.expires, 1495033794);
    ws_s3_cred_free(&c);

    static const char ecs[] = "{\"AccessKeyId\":\"ASIAECS\",\"Expiration\":\"2017-05-17T15:09:54.000Z\","
                              "\"RoleArn\":\"arn:aws:iam::1:role/t\",\"SecretAccessKey\":\"s\",\"Token\":\"t\"}";
    ck_assert_msg(ws_s3_credfetch_parse_json(ecs, strlen(ecs), "ecs", &c, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(c.access_key, "ASIAECS");
    ws_s3_cred_free(&c);

    static const char *const bad[] = {
        "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"no\"}",
        "{\"SecretAccessKey\":\"s\",\"Token\":\"t\"}",
        "{\"AccessKeyId\":\"a\",\"Token\":\"t\"}",
        "{\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"s\",\"Expiration\":\"soon\"}",
        "{\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"s\",\"Expiration\":12}",
        "{\"AccessKeyId\":\"a\",\"AccessKeyId\":\"b\",\"SecretAccessKey\":\"s\"}",
        "[1]",
        "{",
        "",
    };
    static const ws_errcode code[] = {WS_ERR_CONFIG,  WS_ERR_CORRUPT, WS_ERR_CORRUPT, WS_ERR_CORRUPT, WS_ERR_CORRUPT,
                                      WS_ERR_CORRUPT, WS_ERR_CORRUPT, WS_ERR_CORRUPT, WS_ERR_CORRUPT};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(ws_s3_credfetch_parse_json(bad[i], strlen(bad[i]), "doc", &c, &err) == -1, "accepted %s", bad[i]);
        ck_assert_msg(err.code == code[i], "%s: %s", bad[i], err.msg);
        ck_assert_ptr_null(c.access_key);
        ck_assert_ptr_null(c.secret_key);
    }
}
END_TEST

/* --- the chain ---------------------------------------------------------------- */

START_TEST(chain_environment)
{
    ck_assert_int_eq(load(NULL, "AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=env-secret",
                          "AWS_SESSION_TOKEN=env-token", "AWS_EC2_METADATA_DISABLED=true", NULL),
                     0);
    ws_s3_creds *c = open_chain();
    ck_assert_msg(c, "%s", err.msg);
    ck_assert_str_eq(ws_s3_creds_source(c), "the environment (AWS_ACCESS_KEY_ID, AWS_SESSION_TOKEN)");
    ck_assert(!ws_s3_creds_refreshable(c));
    assert_key(c, "AKIAENV", "env-secret", "env-token");
    ws_s3_creds_close(c);

    /* Half a key pair is a mistake, not a reason to look elsewhere. */
    ck_assert_int_eq(load(NULL, "AWS_ACCESS_KEY_ID=AKIAENV", "AWS_EC2_METADATA_DISABLED=true", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    ck_assert_int_eq(load(NULL, "AWS_SECRET_ACCESS_KEY=x", "AWS_EC2_METADATA_DISABLED=true", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
}
END_TEST

START_TEST(chain_file_precedence)
{
    const char *a = file("a", credfile, 0600);
    const char *b = file("b", "[default]\naws_access_key_id = AKIAB\naws_secret_access_key = b\n", 0600);
    char conf[600], env_a[500], env_b[500], home[500];
    snprintf(env_a, sizeof env_a, "AWS_SHARED_CREDENTIALS_FILE=%s", a);
    snprintf(env_b, sizeof env_b, "AWS_SHARED_CREDENTIALS_FILE=%s", b);

    /* The environment's keys come first. */
    snprintf(conf, sizeof conf, "s3_credentials_file = %s\n", a);
    ck_assert_int_eq(load(conf, "AWS_ACCESS_KEY_ID=AKIAENV", "AWS_SECRET_ACCESS_KEY=e", NULL), 0);
    ws_s3_creds *c = open_chain();
    ck_assert_msg(c, "%s", err.msg);
    assert_key(c, "AKIAENV", "e", NULL);
    ws_s3_creds_close(c);

    /* s3_credentials_file over AWS_SHARED_CREDENTIALS_FILE. */
    ck_assert_int_eq(load(conf, env_b, NULL), 0);
    ck_assert_msg((c = open_chain()), "%s", err.msg);
    char want[700];
    snprintf(want, sizeof want, "credentials file %s (profile default)", a);
    ck_assert_str_eq(ws_s3_creds_source(c), want);
    assert_key(c, "AKIADEFAULT", "secret/default+1", NULL);
    ws_s3_creds_close(c);

    /* AWS_SHARED_CREDENTIALS_FILE alone; s3_profile over AWS_PROFILE. */
    ck_assert_int_eq(load("s3_profile = prod\n", env_a, "AWS_PROFILE=spaced", NULL), 0);
    ck_assert_msg((c = open_chain()), "%s", err.msg);
    assert_key(c, "AKIAPROD", "secret prod", "tok/prod==");
    ws_s3_creds_close(c);
    ck_assert_int_eq(load(NULL, env_a, "AWS_PROFILE=spaced", NULL), 0);
    ck_assert_msg((c = open_chain()), "%s", err.msg);
    assert_key(c, "AKIASPACED", "s", NULL);
    ws_s3_creds_close(c);

    /* ~/.aws/credentials when nothing names a file. */
    snprintf(home, sizeof home, "%s/.aws", tmpdir);
    ck_assert_int_eq(mkdir(home, 0700), 0);
    file(".aws/credentials", "[default]\naws_access_key_id = AKIAHOME\naws_secret_access_key = h\n", 0600);
    snprintf(home, sizeof home, "HOME=%s", tmpdir);
    ck_assert_int_eq(load(NULL, home, NULL), 0);
    ck_assert_msg((c = open_chain()), "%s", err.msg);
    assert_key(c, "AKIAHOME", "h", NULL);
    ws_s3_creds_close(c);
}
END_TEST

START_TEST(chain_file_errors)
{
    const char *a = file("a", credfile, 0644);
    char conf[600], missing[500];
    snprintf(conf, sizeof conf, "s3_credentials_file = %s\n", a);
    ck_assert_int_eq(load(conf, NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "has mode 0644");
    ck_assert_int_eq(chmod(a, 0600), 0);

    ck_assert_int_eq(load(conf, "AWS_PROFILE=nope", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "has no profile 'nope' (named by AWS_PROFILE)");

    snprintf(missing, sizeof missing, "AWS_SHARED_CREDENTIALS_FILE=%s/missing", tmpdir);
    ck_assert_int_eq(load(NULL, missing, NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "AWS_SHARED_CREDENTIALS_FILE: credentials file: ");
    ck_assert_msg(strstr(err.msg, "/missing\""), "%s", err.msg);

    /* No ~/.aws/credentials: the next provider (here none). */
    char home[500];
    snprintf(home, sizeof home, "HOME=%s", tmpdir);
    ck_assert_int_eq(load(NULL, home, "AWS_EC2_METADATA_DISABLED=true", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "no S3 credentials");

    /* A file without the default profile (and no profile asked for) is
     * skipped; with nothing else, there are no credentials. */
    const char *b = file("b", "[other]\naws_access_key_id = a\naws_secret_access_key = b\n", 0600);
    snprintf(conf, sizeof conf, "s3_credentials_file = %s\n", b);
    ck_assert_int_eq(load(conf, "AWS_EC2_METADATA_DISABLED=TRUE", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "no S3 credentials");
    ck_assert_int_eq(load("s3_profile = p\n", "AWS_EC2_METADATA_DISABLED=true", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "s3_profile is set but there is no credentials file");
}
END_TEST

START_TEST(chain_remote_configuration)
{
    /* Web identity first, then the container endpoint, then IMDS. */
    char ecs[200], imds[200], tokfile[500];
    snprintf(ecs, sizeof ecs, "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:%d/creds", closed_port());
    snprintf(imds, sizeof imds, "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:%d", closed_port());
    snprintf(tokfile, sizeof tokfile, "AWS_WEB_IDENTITY_TOKEN_FILE=%s/no-token", tmpdir);
    ck_assert_int_eq(load(NULL, "AWS_ROLE_ARN=arn:aws:iam::1:role/r", tokfile, ecs, imds, NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "web identity token file (AWS_WEB_IDENTITY_TOKEN_FILE)");
    ck_assert_msg(strstr(err.msg, "S3 credentials from web identity"), "%s", err.msg);

    ck_assert_int_eq(load(NULL, ecs, imds, NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_TRANSIENT, "S3 credentials from the container credentials endpoint http://127.0.0.1:");

    /* Half of web identity; a container URL that could leak the token. */
    ck_assert_int_eq(load(NULL, "AWS_ROLE_ARN=arn:aws:iam::1:role/r", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "AWS_ROLE_ARN is set but AWS_WEB_IDENTITY_TOKEN_FILE is not");
    ck_assert_int_eq(load(NULL, "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://192.0.2.1/creds", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "plain http:// is allowed only to a loopback address");
    ck_assert_int_eq(load(NULL, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=v2/creds", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "must start with '/'");
    ck_assert_int_eq(load(NULL, "AWS_EC2_METADATA_SERVICE_ENDPOINT=169.254.169.254", NULL), 0);
    ck_assert_ptr_null(open_chain());
    assert_err(WS_ERR_CONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
}
END_TEST

START_TEST(chain_no_instance_metadata)
{
    /* Off EC2: nothing answers at the metadata address, and that is "no
     * credentials" at once. */
    char imds[200];
    snprintf(imds, sizeof imds, "AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:%d", closed_port());
    ck_assert_int_eq(load(NULL, imds, NULL), 0);
    double t0 = ws_clock_now();
    ck_assert_ptr_null(open_chain());
    ck_assert(ws_clock_now() - t0 < 2);
    assert_err(WS_ERR_CONFIG, "no S3 credentials");
    ck_assert_msg(strstr(err.msg, "no instance metadata (PUT http://127.0.0.1:"), "%s", err.msg);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("s3_creds");
    TCase *t = tcase_create("creds");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, parse_time);
    tcase_add_test(t, refresh_policy);
    tcase_add_test(t, credfile_parse);
    tcase_add_test(t, credfile_private);
    tcase_add_test(t, credfile_read);
    tcase_add_test(t, json_documents);
    tcase_add_test(t, chain_environment);
    tcase_add_test(t, chain_file_precedence);
    tcase_add_test(t, chain_file_errors);
    tcase_add_test(t, chain_remote_configuration);
    tcase_add_test(t, chain_no_instance_metadata);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(suite());
    unit_tmp_init("s3_creds");
    srunner_run_all(r, CK_NORMAL);
    unit_tmp_cleanup();
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
