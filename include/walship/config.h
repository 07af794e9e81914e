/*
 * config.h - walship's settings: defaults, then the config file, then the
 * environment (WALSHIP_<KEY>), each value remembering where it came from so
 * errors can name it.  The only mutable state a process shares.
 *
 * Config file: /etc/walship/walship.conf when it exists, or the file named by
 * --config FILE / --config=FILE / WALSHIP_CONFIG (which must exist).
 * Format: `key = value` lines; '#' or ';' starts a comment line; blank lines
 * and an optional `[walship]` section header are allowed; surrounding white
 * space and one pair of double quotes around a value are removed.
 */
#ifndef WALSHIP_CONFIG_H
#define WALSHIP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"

#define WS_DEFAULT_CONFIG_FILE "/etc/walship/walship.conf"

typedef enum { WS_URI_PATH, WS_URI_HOST } ws_uri_style;
typedef enum { WS_COMPRESS_NONE = 0, WS_COMPRESS_LZ4 = 1 } ws_compress;
typedef enum { WS_LOG_ERROR = 0, WS_LOG_WARNING, WS_LOG_NOTICE, WS_LOG_INFO, WS_LOG_DEBUG } ws_log_level;

/* Environment variables read for the S3 credential providers besides the
 * keys themselves; ws_aws_var_names[] holds their names. */
typedef enum ws_aws_var {
    WS_AWS_SHARED_CREDENTIALS_FILE = 0,
    WS_AWS_PROFILE,
    WS_AWS_ROLE_ARN,
    WS_AWS_WEB_IDENTITY_TOKEN_FILE,
    WS_AWS_ROLE_SESSION_NAME,
    WS_AWS_ENDPOINT_URL_STS,
    WS_AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
    WS_AWS_CONTAINER_CREDENTIALS_FULL_URI,
    WS_AWS_CONTAINER_AUTHORIZATION_TOKEN,
    WS_AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE,
    WS_AWS_EC2_METADATA_SERVICE_ENDPOINT,
    WS_AWS_EC2_METADATA_DISABLED,
    WS_AWS_HOME, /* HOME: ~/.aws/credentials */
    WS_AWS_NVARS
} ws_aws_var;

extern const char *const ws_aws_var_names[WS_AWS_NVARS];

/* Index of each key in ws_config_table[]. */
typedef enum ws_cfg_key {
    WS_CFG_REPO = 0,
    WS_CFG_S3_ENDPOINT,
    WS_CFG_S3_REGION,
    WS_CFG_S3_URI_STYLE,
    WS_CFG_S3_VERIFY_TLS,
    WS_CFG_S3_CA_FILE,
    WS_CFG_S3_RETRY_BUDGET,    /* seconds, total time for retries of one op */
    WS_CFG_S3_REQUEST_TIMEOUT, /* seconds without progress before a retry */
    WS_CFG_COMPRESS,
    WS_CFG_ENCRYPTION_KEY_FILE,
    WS_CFG_PG_CONNINFO,
    WS_CFG_LOG_LEVEL,
    WS_CFG_ARCHIVE_WORKERS,   /* walship-push: parallel uploads per call */
    WS_CFG_ARCHIVE_LOOKAHEAD, /* walship-push: .ready files taken ahead */
    WS_CFG_PREFETCH,          /* walship-fetch: segments fetched ahead */
    WS_CFG_S3_CREDENTIALS_FILE,
    WS_CFG_S3_PROFILE,
    WS_CFG_S3_SSE,
    WS_CFG_S3_SSE_KMS_KEY_ID,
    WS_CFG_S3_STORAGE_CLASS,
    WS_CFG_S3_CONDITIONAL_PUT, /* writes send If-None-Match: * (the store must honour it) */
    WS_CFG_NKEYS
} ws_cfg_key;

typedef struct ws_config {
    char *repo;                /* NULL when not set */
    char *s3_endpoint;         /* NULL = AWS default for the region */
    char *s3_region;           /* default "us-east-1" */
    ws_uri_style s3_uri_style; /* default path */
    bool s3_verify_tls;        /* default true */
    char *s3_ca_file;
    double s3_retry_budget;    /* default 60 */
    double s3_request_timeout; /* default 30 */
    ws_compress compress;      /* default lz4 */
    char *encryption_key_file; /* NULL = no encryption */
    char *pg_conninfo;
    ws_log_level log_level;     /* default notice */
    unsigned archive_workers;   /* default 2, 1..64 */
    unsigned archive_lookahead; /* default 8, 0..1024; 0 = only the file asked for */
    unsigned prefetch;          /* default 8, 0..1024; 0 = no prefetching */
    char *s3_credentials_file;  /* AWS shared-credentials file; NULL = AWS_SHARED_CREDENTIALS_FILE */
    char *s3_profile;           /* its profile; NULL = AWS_PROFILE, else "default" */
    char *s3_sse;               /* "AES256", "aws:kms" (any case) or NULL: none asked for */
    char *s3_sse_kms_key_id;    /* only with s3_sse = aws:kms */
    char *s3_storage_class;     /* e.g. "STANDARD_IA"; NULL = the bucket's default */
    bool s3_conditional_put;    /* default false */

    /* Credentials: environment only (AWS_*), never logged. */
    char *aws_access_key_id;
    char *aws_secret_access_key;
    char *aws_session_token;
    /* The other variables the S3 credential providers read (doc/s3.md). */
    char *aws_env[WS_AWS_NVARS];

    char *config_file; /* the file read, or NULL */
    /* Where each key's value came from, e.g. "default",
     * "/etc/walship/walship.conf:12", "environment variable WALSHIP_REPO". */
    char *source[WS_CFG_NKEYS];
} ws_config;

/*
 * The settings, one row each: everything about a key is here, and the
 * loading code is generic over the types.  Adding a setting is an enum
 * entry above, a field in ws_config and a row in ws_config_table
 * (src/common/config.c), and its line in doc/configuration.md (a unit test
 * checks that the document lists exactly these keys).
 */
typedef enum ws_cfg_type {
    WS_CFG_TYPE_STRING,  /* char *; empty = not set when there is no default */
    WS_CFG_TYPE_BOOL,    /* bool: on/off, true/false, yes/no, 1/0 */
    WS_CFG_TYPE_SECONDS, /* double: > 0 and <= 86400, decimals allowed */
    WS_CFG_TYPE_COUNT,   /* unsigned in [min, max] */
    WS_CFG_TYPE_CHOICE   /* an enum: the index of the name in choices[] */
} ws_cfg_type;

typedef struct ws_cfg_def {
    const char *name; /* key in the file; WALSHIP_<NAME> in the environment */
    ws_cfg_type type;
    size_t offset;   /* of the field in ws_config */
    const char *def; /* the default, parsed like any value; NULL: not set */
    /* STRING: checks a value (NULL: any text), setting *expected when the
     * help below does not say enough. */
    bool (*valid)(const char *v, const char **expected);
    const char *const *choices; /* CHOICE: NULL-terminated, any letter case */
    unsigned min, max;          /* COUNT */
    bool secret;                /* the value is never echoed in messages */
    const char *help;           /* what is accepted, for "expected ..." in errors */
} ws_cfg_def;

extern const ws_cfg_def ws_config_table[WS_CFG_NKEYS];

/*
 * Removes --config FILE / --config=FILE from argv (updating *argc) and
 * returns the path in *config_path (NULL when absent).  Stops at "--".
 */
int ws_config_take_arg(int *argc, char **argv, const char **config_path, ws_err *err);

/*
 * Loads defaults, then the config file (explicit path, else WALSHIP_CONFIG,
 * else the default file if it exists), then WALSHIP_* and AWS_* variables
 * from envp (NULL-terminated, like environ).  Unknown keys in the file or
 * unknown WALSHIP_* variables are errors.  On error cfg is left freed.
 */
int ws_config_load(ws_config *cfg, const char *explicit_path, char *const *envp, ws_err *err);

/*
 * Checks a string setting with a validator of another layer (the storage
 * registry checks `repo`), with the same message as any rejected value
 * ("invalid value ... for KEY (from SOURCE): expected ...").  An unset
 * setting passes.
 */
int ws_config_check(const ws_config *cfg, ws_cfg_key key, bool (*valid)(const char *v, const char **expected),
                    ws_err *err);

/* Checks that a setting required by a command is present. */
int ws_config_require(const ws_config *cfg, ws_cfg_key key, ws_err *err);

void ws_config_free(ws_config *cfg);

/*
 * As ws_config_load(), with the default file's path given (tests use a path
 * of their own; ws_config_load() passes WS_DEFAULT_CONFIG_FILE).
 */
int ws_config_load_from(ws_config *cfg, const char *explicit_path, const char *default_path, char *const *envp,
                        ws_err *err);

/* Fills cfg with the built-in defaults (every source is "default"). */
int ws_config_defaults(ws_config *cfg, ws_err *err);

/*
 * Applies the settings in buf[0..len) (config file syntax) on top of cfg,
 * naming `name` in sources and errors.  On error cfg may be partly updated
 * but stays valid: the caller still owns it and frees it.
 */
int ws_config_parse_buffer(ws_config *cfg, const char *name, const char *buf, size_t len, ws_err *err);

#endif
