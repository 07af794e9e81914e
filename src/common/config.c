/*
 * config.c - settings from built-in defaults, the config file and the
 * environment, in increasing precedence:
 *
 *   default < AWS_REGION / AWS_ENDPOINT_URL < config file < WALSHIP_<KEY>
 *
 * Every value is validated where it is read, so an error can name the key and
 * the place it came from ("FILE:LINE" or the environment variable).  Values of
 * secret-bearing settings are never echoed into messages.
 */
#include "walship/config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "walship/localfile.h"
#include "walship/log.h"

#define ENV_PREFIX "WALSHIP_"
#define ENV_CONFIG "WALSHIP_CONFIG"
/* A config file is a few lines; a bigger one is a mistake (wrong file). */
#define CONFIG_FILE_MAX (1024 * 1024)
/* Longer than a day is certainly a typo, and keeps later ms arithmetic sane. */
#define SECONDS_MAX 86400.0
/* How much of a rejected value or key an error message shows. */
/* Longer names are not settings: never echoed (they may be key material). */
#define NAME_ECHO_MAX 40

static const char *const uri_styles[] = {"path", "host", NULL};
static const char *const compressions[] = {"none", "lz4", NULL};

/* ---- helpers for messages ---- */

/* Settings whose value may carry a credential: never echo their value. */
static bool is_secret_name(const char *name)
{
    return strstr(name, "secret") || strstr(name, "token") || strstr(name, "password") || strstr(name, "conninfo");
}

static void env_name(ws_cfg_key key, char *buf, size_t size)
{
    size_t j = 0;
    const char *k = ws_config_table[key].name;

    for (const char *p = ENV_PREFIX; *p && j + 1 < size; p++)
        buf[j++] = *p;
    for (const char *p = k; *p && j + 1 < size; p++)
        buf[j++] = (*p >= 'a' && *p <= 'z') ? (char) (*p - 'a' + 'A') : *p;
    buf[j] = '\0';
}

/* ---- validators: true when valid, else *expected says what is accepted ---- */

static bool valid_endpoint(const char *v, const char **expected)
{
    const char *p;
    static const char host_chars[] = "abcdefghijklmnopqrstuvwxyz"
                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-";

    *expected = "http://host[:port] or https://host[:port]";
    if (strncmp(v, "https://", 8) == 0)
        p = v + 8;
    else if (strncmp(v, "http://", 7) == 0)
        p = v + 7;
    else
        return false;

    if (*p == '[') { /* IPv6 literal, e.g. [::1] */
        size_t n = strspn(p + 1, "0123456789abcdefABCDEF:.");
        if (n == 0 || p[1 + n] != ']')
            return false;
        p += n + 2;
    } else {
        size_t n = strspn(p, host_chars);
        if (n == 0)
            return false;
        p += n;
    }
    if (*p == ':') {
        unsigned long port = 0;
        size_t n = strspn(p + 1, "0123456789");
        if (n == 0 || n > 5)
            return false;
        for (size_t i = 1; i <= n; i++)
            port = port * 10 + (unsigned long) (p[i] - '0');
        if (port < 1 || port > 65535)
            return false;
        p += n + 1;
    }
    if (*p == '/')
        p++;
    return *p == '\0';
}

static bool valid_region(const char *v, const char **expected)
{
    (void) expected; /* the table's help says it */
    size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");
    return n > 0 && n <= 64 && v[n] == '\0';
}

/* A profile name as the AWS tools write it in a section header. */
static bool valid_profile(const char *v, const char **expected)
{
    (void) expected; /* the table's help says it */
    size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.+@:/");
    return n > 0 && n <= 128 && v[n] == '\0';
}

static bool valid_sse(const char *v, const char **expected)
{
    (void) expected;
    return strcasecmp(v, "AES256") == 0 || strcasecmp(v, "aws:kms") == 0;
}

/* S3 storage classes are upper-case words joined by '_' (STANDARD_IA, ...);
 * objects in the archive classes cannot be read back without a restore. */
static bool valid_storage_class(const char *v, const char **expected)
{
    size_t n = strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
    if (n == 0 || n > 64 || v[n] != '\0')
        return false;
    *expected = "a storage class objects can be read back from at once (GLACIER and DEEP_ARCHIVE objects "
                "cannot be read back without a restore request)";
    return strcmp(v, "GLACIER") != 0 && strcmp(v, "DEEP_ARCHIVE") != 0;
}

static bool parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"on", "true", "yes", "1"};
    static const char *const no[] = {"off", "false", "no", "0"};

    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/*
 * Seconds as plain decimal digits with an optional fraction ("30", "2.5").
 * Done by hand: strtod would also take "inf", "nan", hex, exponents and
 * depends on the locale.
 */
static bool parse_seconds(const char *v, double *out)
{
    double x = 0, scale = 1;
    size_t digits = 0, i = 0;

    for (; v[i] >= '0' && v[i] <= '9'; i++, digits++) {
        x = x * 10 + (v[i] - '0');
        if (x > SECONDS_MAX)
            return false;
    }
    if (v[i] == '.') {
        for (i++; v[i] >= '0' && v[i] <= '9'; i++, digits++) {
            if (scale > 1e-9) { /* digits past ns precision do not matter */
                scale /= 10;
                x += (v[i] - '0') * scale;
            }
        }
    }
    if (digits == 0 || v[i] != '\0' || !(x > 0) || x > SECONDS_MAX)
        return false;
    *out = x;
    return true;
}

/* A decimal count in [min, max], no sign, no white space. */
static bool parse_count(const char *v, unsigned min, unsigned max, unsigned *out)
{
    unsigned long x = 0;
    size_t i = 0;

    for (; v[i] >= '0' && v[i] <= '9'; i++) {
        x = x * 10 + (unsigned long) (v[i] - '0');
        if (x > max)
            return false;
    }
    if (i == 0 || v[i] != '\0' || x < min)
        return false;
    *out = (unsigned) x;
    return true;
}

/* ---- the table ---- */

#define SECONDS_HELP "a number of seconds greater than 0 and at most 86400, e.g. 30 or 2.5"

#define FIELD(f) offsetof(ws_config, f)

const ws_cfg_def ws_config_table[WS_CFG_NKEYS] = {
    /* Checked by the storage registry (ws_config_check at start-up): the
     * drivers own their URL syntax. */
    [WS_CFG_REPO] = {"repo", WS_CFG_TYPE_STRING, FIELD(repo), NULL, .valid = NULL},
    [WS_CFG_S3_ENDPOINT] = {"s3_endpoint", WS_CFG_TYPE_STRING, FIELD(s3_endpoint), NULL, .valid = valid_endpoint},
    [WS_CFG_S3_REGION] = {"s3_region", WS_CFG_TYPE_STRING, FIELD(s3_region), "us-east-1", .valid = valid_region,
                          .help = "a region name such as us-east-1 (letters, digits, '-', '_', '.')"},
    [WS_CFG_S3_URI_STYLE] = {"s3_uri_style", WS_CFG_TYPE_CHOICE, FIELD(s3_uri_style), "path", .choices = uri_styles,
                             .help = "path or host"},
    [WS_CFG_S3_VERIFY_TLS] = {"s3_verify_tls", WS_CFG_TYPE_BOOL, FIELD(s3_verify_tls), "on", .help = "on or off"},
    [WS_CFG_S3_CA_FILE] = {"s3_ca_file", WS_CFG_TYPE_STRING, FIELD(s3_ca_file), NULL, .valid = NULL},
    [WS_CFG_S3_RETRY_BUDGET] = {"s3_retry_budget", WS_CFG_TYPE_SECONDS, FIELD(s3_retry_budget), "60",
                                .help = SECONDS_HELP},
    [WS_CFG_S3_REQUEST_TIMEOUT] = {"s3_request_timeout", WS_CFG_TYPE_SECONDS, FIELD(s3_request_timeout), "30",
                                   .help = SECONDS_HELP},
    [WS_CFG_COMPRESS] = {"compress", WS_CFG_TYPE_CHOICE, FIELD(compress), "lz4", .choices = compressions,
                         .help = "lz4 or none"},
    [WS_CFG_ENCRYPTION_KEY_FILE] = {"encryption_key_file", WS_CFG_TYPE_STRING, FIELD(encryption_key_file), NULL,
                                    .valid = NULL},
    [WS_CFG_PG_CONNINFO] = {"pg_conninfo", WS_CFG_TYPE_STRING, FIELD(pg_conninfo), NULL, .secret = true},
    [WS_CFG_LOG_LEVEL] = {"log_level", WS_CFG_TYPE_CHOICE, FIELD(log_level), "notice", .choices = ws_log_level_names,
                          .help = "error, warning, notice, info or debug"},
    [WS_CFG_ARCHIVE_WORKERS] = {"archive_workers", WS_CFG_TYPE_COUNT, FIELD(archive_workers), "2", .min = 1, .max = 64,
                                .help = "a whole number from 1 to 64"},
    [WS_CFG_ARCHIVE_LOOKAHEAD] = {"archive_lookahead", WS_CFG_TYPE_COUNT, FIELD(archive_lookahead), "8", .min = 0,
                                  .max = 1024, .help = "a whole number from 0 to 1024"},
    [WS_CFG_PREFETCH] = {"prefetch", WS_CFG_TYPE_COUNT, FIELD(prefetch), "8", .min = 0, .max = 1024,
                         .help = "a whole number from 0 to 1024"},
    [WS_CFG_S3_CREDENTIALS_FILE] = {"s3_credentials_file", WS_CFG_TYPE_STRING, FIELD(s3_credentials_file), NULL,
                                    .valid = NULL},
    [WS_CFG_S3_PROFILE] = {"s3_profile", WS_CFG_TYPE_STRING, FIELD(s3_profile), NULL, .valid = valid_profile,
                           .help = "a profile name (letters, digits, '-', '_', '.', '+', '@', ':', '/')"},
    [WS_CFG_S3_SSE] = {"s3_sse", WS_CFG_TYPE_STRING, FIELD(s3_sse), NULL, .valid = valid_sse,
                       .help = "AES256 or aws:kms"},
    [WS_CFG_S3_SSE_KMS_KEY_ID] = {"s3_sse_kms_key_id", WS_CFG_TYPE_STRING, FIELD(s3_sse_kms_key_id), NULL,
                                  .valid = NULL},
    [WS_CFG_S3_STORAGE_CLASS] = {"s3_storage_class", WS_CFG_TYPE_STRING, FIELD(s3_storage_class), NULL,
                                 .valid = valid_storage_class,
                                 .help = "an S3 storage class in upper case, such as STANDARD or STANDARD_IA"},
    [WS_CFG_S3_CONDITIONAL_PUT] = {"s3_conditional_put", WS_CFG_TYPE_BOOL, FIELD(s3_conditional_put), "off",
                                   .help = "on or off"},
};

const char *const ws_aws_var_names[WS_AWS_NVARS] = {
    [WS_AWS_SHARED_CREDENTIALS_FILE] = "AWS_SHARED_CREDENTIALS_FILE",
    [WS_AWS_PROFILE] = "AWS_PROFILE",
    [WS_AWS_ROLE_ARN] = "AWS_ROLE_ARN",
    [WS_AWS_WEB_IDENTITY_TOKEN_FILE] = "AWS_WEB_IDENTITY_TOKEN_FILE",
    [WS_AWS_ROLE_SESSION_NAME] = "AWS_ROLE_SESSION_NAME",
    [WS_AWS_ENDPOINT_URL_STS] = "AWS_ENDPOINT_URL_STS",
    [WS_AWS_CONTAINER_CREDENTIALS_RELATIVE_URI] = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    [WS_AWS_CONTAINER_CREDENTIALS_FULL_URI] = "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    [WS_AWS_CONTAINER_AUTHORIZATION_TOKEN] = "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    [WS_AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE] = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    [WS_AWS_EC2_METADATA_SERVICE_ENDPOINT] = "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    [WS_AWS_EC2_METADATA_DISABLED] = "AWS_EC2_METADATA_DISABLED",
    [WS_AWS_HOME] = "HOME",
};

/* ---- storing values ---- */

/* Replaces *field with a copy of v; an empty value means "not set". */
static int store_string(char **field, const char *v)
{
    char *copy = NULL;

    if (*v != '\0' && !(copy = strdup(v)))
        return -1;
    free(*field);
    *field = copy;
    return 0;
}

/*
 * Parses v as d's type into the field of cfg.  Returns 1 stored, 0 invalid
 * (*expected says what is accepted), -1 out of memory.
 */
static int parse_value(const ws_cfg_def *d, ws_config *cfg, const char *v, const char **expected)
{
    void *field = (char *) cfg + d->offset;

    *expected = d->help;
    switch (d->type) {
    case WS_CFG_TYPE_STRING:
        /* A setting without a default may be emptied ("not set"). */
        if (!(*v == '\0' && !d->def) && d->valid && !d->valid(v, expected))
            return 0;
        return store_string(field, v) < 0 ? -1 : 1;
    case WS_CFG_TYPE_BOOL:
        return parse_bool(v, field) ? 1 : 0;
    case WS_CFG_TYPE_SECONDS:
        return parse_seconds(v, field) ? 1 : 0;
    case WS_CFG_TYPE_COUNT:
        return parse_count(v, d->min, d->max, field) ? 1 : 0;
    case WS_CFG_TYPE_CHOICE:
        for (int i = 0; d->choices[i]; i++) {
            if (strcasecmp(v, d->choices[i]) == 0) {
                *(int *) field = i;
                return 1;
            }
        }
        return 0;
    }
    return 0;
}

/* The one message for a rejected value; secrets are not echoed. */
static int bad_value(const ws_cfg_def *d, const char *v, const char *source, const char *expected, ws_err *err)
{
    char shown[WS_SHOW_BUF];

    if (d->secret || is_secret_name(d->name))
        return ws_err_set(err, WS_ERR_CONFIG, "invalid value for %s (from %s): expected %s", d->name, source, expected);
    ws_err_show(v, strlen(v), shown);
    return ws_err_set(err, WS_ERR_CONFIG, "invalid value %s for %s (from %s): expected %s", shown, d->name, source,
                      expected);
}

/*
 * Validates value for key and stores it, recording source (which this takes
 * ownership of; NULL means an allocation already failed).
 */
static int set_value(ws_config *cfg, ws_cfg_key key, const char *v, char *source, ws_err *err)
{
    const ws_cfg_def *d = &ws_config_table[key];
    const char *expected = NULL;
    int rc;

    if (!source)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory reading setting %s", d->name);
    rc = parse_value(d, cfg, v, &expected);
    if (rc == 0) {
        bad_value(d, v, source, expected, err);
        free(source);
        return -1;
    }
    if (rc < 0) {
        free(source);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory storing setting %s", d->name);
    }
    free(cfg->source[key]);
    cfg->source[key] = source;
    return 0;
}

/* A freshly allocated source description, or NULL when out of memory. */
__attribute__((format(printf, 1, 2))) static char *make_source(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    int rc = vasprintf(&s, fmt, ap);
    va_end(ap);
    return rc < 0 ? NULL : s;
}

/* ---- defaults and lifetime ---- */

void ws_config_free(ws_config *cfg)
{
    if (!cfg)
        return;
    for (int i = 0; i < WS_CFG_NKEYS; i++) {
        if (ws_config_table[i].type == WS_CFG_TYPE_STRING)
            free(*(char **) ((char *) cfg + ws_config_table[i].offset));
        free(cfg->source[i]);
    }
    free(cfg->aws_access_key_id);
    free(cfg->aws_secret_access_key);
    free(cfg->aws_session_token);
    for (int i = 0; i < WS_AWS_NVARS; i++)
        free(cfg->aws_env[i]);
    free(cfg->config_file);
    memset(cfg, 0, sizeof *cfg);
}

int ws_config_defaults(ws_config *cfg, ws_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    /* Defaults go through the same parser as every value. */
    for (int i = 0; i < WS_CFG_NKEYS; i++) {
        const ws_cfg_def *d = &ws_config_table[i];

        if (set_value(cfg, (ws_cfg_key) i, d->def ? d->def : "", strdup("default"), err) < 0) {
            ws_config_free(cfg);
            return ws_err_prefix(err, "built-in default of %s", d->name);
        }
    }
    return 0;
}

/* ---- the file ---- */

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **b, const char **e)
{
    while (*b < *e && is_space(**b))
        (*b)++;
    while (*e > *b && is_space((*e)[-1]))
        (*e)--;
}

static int find_key(const char *k, size_t n)
{
    for (int i = 0; i < WS_CFG_NKEYS; i++)
        if (strlen(ws_config_table[i].name) == n && memcmp(ws_config_table[i].name, k, n) == 0)
            return i;
    return -1;
}

static bool is_aws_credential(const char *k, size_t n)
{
    static const char *const creds[] = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"};
    for (size_t i = 0; i < 3; i++)
        if (strlen(creds[i]) == n && strncasecmp(creds[i], k, n) == 0)
            return true;
    return false;
}

/*
 * Whether k[0..n) could be a setting's name: a letter, then letters,
 * digits, '_' or '-', at most NAME_ECHO_MAX bytes.  Only such a token is
 * echoed: a file that is not a config file (a key file named by mistake)
 * must not have its content printed.
 */
static bool plausible_name(const char *k, size_t n)
{
    if (n == 0 || n > NAME_ECHO_MAX || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') || (k[i] >= '0' && k[i] <= '9') ||
              k[i] == '_' || k[i] == '-'))
            return false;
    return true;
}

static int parse_line(ws_config *cfg, const char *name, unsigned lineno, const char *b, const char *e,
                      unsigned line_of[WS_CFG_NKEYS], ws_err *err)
{
    char shown[WS_SHOW_BUF];

    if (*b == '[') {
        const char *sb = b + 1, *se = e - 1;
        if (e - b < 2 || *se != ']')
            return ws_err_set(err, WS_ERR_CONFIG, "syntax error in %s:%u: a section header must be [walship]", name,
                              lineno);
        trim(&sb, &se);
        if (se - sb != 7 || memcmp(sb, "walship", 7) != 0) {
            if (!plausible_name(sb, (size_t) (se - sb)))
                return ws_err_set(err, WS_ERR_CONFIG,
                                  "syntax error in %s:%u: not a section header [walship] (not shown: is this a "
                                  "config file?)",
                                  name, lineno);
            ws_err_show(sb, (size_t) (se - sb), shown);
            return ws_err_set(err, WS_ERR_CONFIG, "unknown section %s in %s:%u: only [walship] is allowed", shown, name,
                              lineno);
        }
        return 0;
    }

    const char *eq = memchr(b, '=', (size_t) (e - b));
    if (!eq)
        return ws_err_set(err, WS_ERR_CONFIG, "syntax error in %s:%u: expected key = value", name, lineno);
    const char *kb = b, *ke = eq, *vb = eq + 1, *ve = e;
    trim(&kb, &ke);
    trim(&vb, &ve);
    if (kb == ke)
        return ws_err_set(err, WS_ERR_CONFIG, "syntax error in %s:%u: missing key before '='", name, lineno);
    if (ve - vb >= 2 && *vb == '"' && ve[-1] == '"') {
        vb++;
        ve--;
    }

    int key = find_key(kb, (size_t) (ke - kb));
    if (key < 0) {
        if (!plausible_name(kb, (size_t) (ke - kb)))
            return ws_err_set(err, WS_ERR_CONFIG,
                              "syntax error in %s:%u: not a setting name before '=' (not shown: is this a config "
                              "file?)",
                              name, lineno);
        ws_err_show(kb, (size_t) (ke - kb), shown);
        if (is_aws_credential(kb, (size_t) (ke - kb)))
            return ws_err_set(err, WS_ERR_CONFIG,
                              "unknown key %s in %s:%u: AWS credentials are never read from the "
                              "walship config file: use the environment (AWS_ACCESS_KEY_ID, "
                              "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) or an AWS credentials file "
                              "(s3_credentials_file)",
                              shown, name, lineno);
        return ws_err_set(err, WS_ERR_CONFIG, "unknown key %s in %s:%u", shown, name, lineno);
    }
    if (line_of[key])
        return ws_err_set(err, WS_ERR_CONFIG, "duplicate key \"%s\" in %s:%u (already set on line %u)",
                          ws_config_table[key].name, name, lineno, line_of[key]);
    line_of[key] = lineno;

    char *value = strndup(vb, (size_t) (ve - vb));
    if (!value)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory reading %s:%u", name, lineno);
    int rc = set_value(cfg, (ws_cfg_key) key, value, make_source("%s:%u", name, lineno), err);
    free(value);
    return rc;
}

int ws_config_parse_buffer(ws_config *cfg, const char *name, const char *buf, size_t len, ws_err *err)
{
    unsigned line_of[WS_CFG_NKEYS] = {0};
    unsigned lineno = 0;
    size_t pos = 0;

    while (pos < len) {
        const char *start = buf + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t) (nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        lineno++;

        if (memchr(start, '\0', n))
            return ws_err_set(err, WS_ERR_CONFIG, "syntax error in %s:%u: NUL byte in line", name, lineno);
        const char *b = start, *e = start + n;
        trim(&b, &e);
        if (b == e || *b == '#' || *b == ';')
            continue;
        if (parse_line(cfg, name, lineno, b, e, line_of, err) < 0)
            return -1;
    }
    return 0;
}

/*
 * Reads the whole file (never blocking on a FIFO or device: localfile.h).
 * Returns 1 when it does not exist and may be absent (the default file), 0
 * when read, -1 on error.
 */
static int read_file(const char *path, const char *why, bool may_be_absent, char **out, size_t *out_len, ws_err *err)
{
    int rc = ws_localfile_read(path, CONFIG_FILE_MAX, 0, out, out_len, err);

    if (rc == 1)
        return 0;
    if (rc == 0 && may_be_absent)
        return 1;
    if (rc == 0)
        ws_err_set(err, WS_ERR_CONFIG, "cannot open config file %s (%s): No such file or directory", path, why);
    else if (err && err->code != WS_ERR_NOMEM) {
        err->code = WS_ERR_CONFIG;
        ws_err_prefix(err, "config file %s (%s)", path, why);
    }
    return -1;
}

/* ---- the environment ---- */

/* Value of the first `name=` entry in envp, like getenv(). */
static const char *env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (char *const *e = envp; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static int take_env_string(char **field, char *const *envp, const char *name, ws_err *err)
{
    const char *v = env_get(envp, name);
    if (v && store_string(field, v) < 0)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory reading %s", name);
    return 0;
}

/* AWS_* variables: credentials, and fallbacks below the config file. */
static int apply_aws_env(ws_config *cfg, char *const *envp, ws_err *err)
{
    static const struct {
        const char *var;
        ws_cfg_key key;
    } fallbacks[] = {
        {"AWS_REGION", WS_CFG_S3_REGION},
        {"AWS_ENDPOINT_URL", WS_CFG_S3_ENDPOINT},
    };

    for (size_t i = 0; i < sizeof fallbacks / sizeof fallbacks[0]; i++) {
        const char *v = env_get(envp, fallbacks[i].var);
        if (v && *v &&
            set_value(cfg, fallbacks[i].key, v, make_source("environment variable %s", fallbacks[i].var), err) < 0)
            return -1;
    }
    if (take_env_string(&cfg->aws_access_key_id, envp, "AWS_ACCESS_KEY_ID", err) < 0 ||
        take_env_string(&cfg->aws_secret_access_key, envp, "AWS_SECRET_ACCESS_KEY", err) < 0 ||
        take_env_string(&cfg->aws_session_token, envp, "AWS_SESSION_TOKEN", err) < 0)
        return -1;
    for (int i = 0; i < WS_AWS_NVARS; i++)
        if (take_env_string(&cfg->aws_env[i], envp, ws_aws_var_names[i], err) < 0)
            return -1;
    return 0;
}

/* WALSHIP_<KEY> variables: override everything; an unknown one is a typo. */
static int apply_walship_env(ws_config *cfg, char *const *envp, ws_err *err)
{
    bool seen[WS_CFG_NKEYS] = {false};
    const size_t plen = strlen(ENV_PREFIX);

    for (char *const *e = envp; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq || strncmp(*e, ENV_PREFIX, plen) != 0)
            continue;
        size_t n = (size_t) (eq - *e);
        if (n == strlen(ENV_CONFIG) && strncmp(*e, ENV_CONFIG, n) == 0)
            continue;

        int key = -1;
        for (int i = 0; i < WS_CFG_NKEYS && key < 0; i++) {
            char want[64];
            env_name((ws_cfg_key) i, want, sizeof want);
            if (strlen(want) == n && strncmp(*e, want, n) == 0)
                key = i;
        }
        if (key < 0) {
            char shown[WS_SHOW_BUF];
            ws_err_show(*e, n, shown);
            /* Drop the quotes: a variable name reads better bare. */
            shown[strlen(shown) - 1] = '\0';
            return ws_err_set(err, WS_ERR_CONFIG, "unknown environment variable %s", shown + 1);
        }
        if (seen[key]) /* a repeated entry: the first one wins, as with getenv() */
            continue;
        seen[key] = true;
        if (set_value(cfg, (ws_cfg_key) key, eq + 1, make_source("environment variable %.*s", (int) n, *e), err) < 0)
            return -1;
    }
    return 0;
}

/* ---- the public entry points ---- */

int ws_config_take_arg(int *argc, char **argv, const char **config_path, ws_err *err)
{
    static const char opt[] = "--config";
    const size_t olen = sizeof opt - 1;
    int out = 1;

    *config_path = NULL;
    if (*argc < 1)
        return 0;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        const char *path = NULL;

        if (strcmp(a, "--") == 0) { /* the rest are operands: keep them as they are */
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strcmp(a, opt) == 0) {
            if (i + 1 >= *argc)
                return ws_err_set(err, WS_ERR_CONFIG, "option --config needs a file name");
            path = argv[++i];
        } else if (strncmp(a, opt, olen) == 0 && a[olen] == '=') {
            path = a + olen + 1;
        } else {
            argv[out++] = argv[i];
            continue;
        }
        if (*path == '\0')
            return ws_err_set(err, WS_ERR_CONFIG, "option --config needs a file name");
        if (*config_path)
            return ws_err_set(err, WS_ERR_CONFIG, "option --config given more than once");
        *config_path = path;
    }
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int ws_config_load_from(ws_config *cfg, const char *explicit_path, const char *default_path, char *const *envp,
                        ws_err *err)
{
    static char *const no_env[] = {NULL};
    const char *path = explicit_path, *why = "named by --config";
    bool may_be_absent = false;

    if (!envp)
        envp = no_env;
    if (ws_config_defaults(cfg, err) < 0)
        return -1;

    if (path && *path == '\0') {
        ws_err_set(err, WS_ERR_CONFIG, "option --config needs a file name");
        goto fail;
    }
    if (!path && (path = env_get(envp, ENV_CONFIG)) != NULL) {
        why = "named by WALSHIP_CONFIG";
        if (*path == '\0') {
            ws_err_set(err, WS_ERR_CONFIG,
                       "environment variable WALSHIP_CONFIG is empty: name a config file or "
                       "unset it");
            goto fail;
        }
    }
    if (!path && default_path) {
        path = default_path;
        why = "the default config file";
        may_be_absent = true;
    }

    if (apply_aws_env(cfg, envp, err) < 0)
        goto fail;

    if (path) {
        char *buf = NULL;
        size_t len = 0;
        int rc = read_file(path, why, may_be_absent, &buf, &len, err);
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            cfg->config_file = strdup(path);
            if (!cfg->config_file) {
                free(buf);
                ws_err_set(err, WS_ERR_NOMEM, "out of memory reading config file %s", path);
                goto fail;
            }
            rc = ws_config_parse_buffer(cfg, path, buf, len, err);
            free(buf);
            if (rc < 0)
                goto fail;
        }
    }

    if (apply_walship_env(cfg, envp, err) < 0)
        goto fail;
    return 0;

fail:
    ws_config_free(cfg);
    return -1;
}

int ws_config_load(ws_config *cfg, const char *explicit_path, char *const *envp, ws_err *err)
{
    return ws_config_load_from(cfg, explicit_path, WS_DEFAULT_CONFIG_FILE, envp, err);
}

int ws_config_require(const ws_config *cfg, ws_cfg_key key, ws_err *err)
{
    const ws_cfg_def *d;
    char var[64];

    if ((unsigned) key >= WS_CFG_NKEYS)
        return ws_err_set(err, WS_ERR_INTERNAL, "no such setting (index %d)", (int) key);
    d = &ws_config_table[key];
    if (d->type != WS_CFG_TYPE_STRING || *(char *const *) ((const char *) cfg + d->offset))
        return 0; /* every other type always has a value */
    env_name(key, var, sizeof var);
    if (cfg->config_file)
        return ws_err_set(err, WS_ERR_CONFIG, "missing setting %s: set it in %s or %s", d->name, cfg->config_file, var);
    return ws_err_set(err, WS_ERR_CONFIG, "missing setting %s: set it in the config file or %s", d->name, var);
}

int ws_config_check(const ws_config *cfg, ws_cfg_key key, bool (*valid)(const char *v, const char **expected),
                    ws_err *err)
{
    const ws_cfg_def *d;
    const char *v, *expected = NULL;

    if ((unsigned) key >= WS_CFG_NKEYS || ws_config_table[key].type != WS_CFG_TYPE_STRING)
        return ws_err_set(err, WS_ERR_INTERNAL, "setting %d is not a string", (int) key);
    d = &ws_config_table[key];
    v = *(char *const *) ((const char *) cfg + d->offset);
    if (!v || valid(v, &expected))
        return 0;
    return bad_value(d, v, cfg->source[key] ? cfg->source[key] : "default", expected ? expected : "", err);
}
