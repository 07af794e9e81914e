/*
 * s3_creds.c - the credential provider chain and the process-wide cache of
 * temporary credentials (s3_creds.h).
 *
 * The cache is shared by every S3 connection of the process: archive worker
 * threads, the prefetcher (a forked child inherits it) and every storage a
 * command opens, so an instance role is asked once per process and then once
 * per refresh.  A fetch runs with the cache's mutex held: threads that need
 * credentials at that moment wait for it (bounded by the fetch's time-outs)
 * instead of asking the endpoint too.
 */
#include "walship/s3_creds.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "walship/log.h"
#include "walship/s3_credfetch.h"
#include "walship/s3_credfile.h"
#include "walship/s3_sign.h"

#define CACHE_SLOTS      8
#define REFRESH_MARGIN   300 /* seconds before expiry */
#define EXPIRY_SLACK     5   /* credentials this close to expiry count as expired */
#define RETRY_SOON       30  /* seconds after a failed refresh (credentials still valid) */
#define ECS_HOST         "http://169.254.170.2"
#define IMDS_DEFAULT_URL "http://169.254.169.254"

/* --- one set of credentials ---------------------------------------------- */

void ws_s3_cred_free(ws_s3_cred *c)
{
    if (!c)
        return;
    free(c->access_key);
    ws_s3_sign_secret_free(c->secret_key);
    ws_s3_sign_secret_free(c->session_token);
    memset(c, 0, sizeof *c);
}

int ws_s3_cred_copy(ws_s3_cred *dst, const ws_s3_cred *src, ws_err *err)
{
    ws_s3_cred n = {.expires = src->expires};
    n.access_key = strdup(src->access_key);
    n.secret_key = strdup(src->secret_key);
    n.session_token = src->session_token ? strdup(src->session_token) : NULL;
    if (!n.access_key || !n.secret_key || (src->session_token && !n.session_token)) {
        ws_s3_cred_free(&n);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory copying S3 credentials");
    }
    ws_s3_cred_free(dst);
    *dst = n;
    return 0;
}

/* --- time ------------------------------------------------------------------- */

int64_t ws_s3_creds_refresh_at(int64_t now, int64_t expires)
{
    int64_t life = expires - now;
    if (life <= 0)
        return now;
    return expires - (life < 2 * REFRESH_MARGIN ? life / 2 : REFRESH_MARGIN);
}

int ws_s3_creds_parse_time(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    const char *p = s + n;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (!(strcmp(p, "Z") == 0 || strcmp(p, "+00:00") == 0 || strcmp(p, "+0000") == 0))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t) -1)
        return -1;
    *out = (int64_t) t;
    return 0;
}

static void format_time(int64_t t, char out[32])
{
    time_t tt = (time_t) t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "@%lld", (long long) t);
}

/* --- the process-wide cache of temporary credentials ----------------------- */

typedef struct cache_slot {
    char *id; /* which source: kind and parameters */
    ws_s3_cred cred;
    int64_t refresh_at;
    uint64_t gen; /* 0 = never fetched */
    uint64_t last_use;
} cache_slot;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cache_slot cache[CACHE_SLOTS];
static uint64_t cache_tick;
static uint64_t cache_gen;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* fork() while another thread holds the lock would leave the child's copy
 * locked forever: take it around fork(). */
static void cache_prefork(void)
{
    pthread_mutex_lock(&cache_lock);
}

static void cache_postfork(void)
{
    pthread_mutex_unlock(&cache_lock);
}

static void cache_init(void)
{
    pthread_atfork(cache_prefork, cache_postfork, cache_postfork);
}

/* The slot for id (lock held): found, a free one, or the least recently
 * used one emptied.  NULL when out of memory. */
static cache_slot *cache_slot_for(const char *id)
{
    cache_slot *free_slot = NULL, *lru = &cache[0];
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        cache_slot *s = &cache[i];
        if (s->id && strcmp(s->id, id) == 0) {
            s->last_use = ++cache_tick;
            return s;
        }
        if (!s->id && !free_slot)
            free_slot = s;
        if (s->last_use < lru->last_use)
            lru = s;
    }
    cache_slot *s = free_slot ? free_slot : lru;
    char *copy = strdup(id);
    if (!copy)
        return NULL;
    free(s->id);
    ws_s3_cred_free(&s->cred);
    memset(s, 0, sizeof *s);
    s->id = copy;
    s->last_use = ++cache_tick;
    return s;
}

/* --- providers -------------------------------------------------------------- */

struct ws_s3_creds {
    char *source; /* for logs and messages */
    bool remote;
    ws_s3_cred fixed; /* environment, credentials file */
    /* remote: what to fetch; fp's strings point into `owned` */
    ws_s3_fetch_params fp;
    char *owned[6];
    char *cache_id;
};

const char *ws_s3_creds_source(const ws_s3_creds *c)
{
    return c->source;
}

bool ws_s3_creds_refreshable(const ws_s3_creds *c)
{
    return c->remote;
}

void ws_s3_creds_close(ws_s3_creds *c)
{
    if (!c)
        return;
    free(c->source);
    ws_s3_cred_free(&c->fixed);
    for (size_t i = 0; i < sizeof c->owned / sizeof c->owned[0]; i++)
        ws_s3_sign_secret_free(c->owned[i]);
    free(c->cache_id);
    free(c);
}

/* The fetch under the lock; errors keep the fetcher's code. */
static int get_remote(ws_s3_creds *c, ws_s3_cred *cur, uint64_t *gen, bool *fetched, ws_err *err)
{
    *fetched = false;
    pthread_once(&cache_once, cache_init);
    pthread_mutex_lock(&cache_lock);
    int rc = 0;
    cache_slot *s = cache_slot_for(c->cache_id);
    if (!s) {
        pthread_mutex_unlock(&cache_lock);
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    int64_t now = (int64_t) time(NULL);
    if (!s->gen || now >= s->refresh_at) {
        ws_s3_cred fresh;
        ws_err ferr;
        char until[32];
        if (ws_s3_credfetch(&c->fp, &fresh, &ferr) == 0) {
            ws_s3_cred_free(&s->cred);
            s->cred = fresh;
            s->gen = ++cache_gen;
            s->refresh_at = fresh.expires ? ws_s3_creds_refresh_at(now, fresh.expires) : INT64_MAX;
            *fetched = true;
            format_time(fresh.expires, until);
            ws_log(WS_LOG_INFO, "S3 credentials fetched from %s%s%s", c->source, fresh.expires ? ", valid until " : "",
                   fresh.expires ? until : "");
        } else if (s->gen && (!s->cred.expires || now < s->cred.expires - EXPIRY_SLACK)) {
            int64_t left = s->cred.expires ? s->cred.expires - EXPIRY_SLACK - now : 2 * RETRY_SOON;
            s->refresh_at = now + (left / 2 < RETRY_SOON ? left / 2 : RETRY_SOON);
            format_time(s->cred.expires, until);
            ws_log(WS_LOG_WARNING,
                   "could not refresh the S3 credentials from %s (%s); the current ones stay valid "
                   "until %s",
                   c->source, ferr.msg, until);
        } else {
            *err = ferr;
            rc = -1;
        }
    }
    if (rc == 0 && *gen != s->gen) {
        rc = ws_s3_cred_copy(cur, &s->cred, err);
        if (rc == 0)
            *gen = s->gen;
    }
    pthread_mutex_unlock(&cache_lock);
    return rc;
}

int ws_s3_creds_get(ws_s3_creds *c, ws_s3_cred *cur, uint64_t *gen, ws_err *err)
{
    if (!c->remote) {
        if (*gen == 1)
            return 0;
        if (ws_s3_cred_copy(cur, &c->fixed, err) < 0)
            return -1;
        *gen = 1;
        return 0;
    }
    bool fetched;
    if (get_remote(c, cur, gen, &fetched, err) == 0)
        return 0;
    /* An endpoint that stopped answering is an outage here, not "absent". */
    if (err->code == WS_ERR_NOTFOUND)
        err->code = WS_ERR_TRANSIENT;
    return ws_err_prefix(err, "S3 credentials");
}

void ws_s3_creds_expired(ws_s3_creds *c, uint64_t gen)
{
    if (!c->remote)
        return;
    pthread_once(&cache_once, cache_init);
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].id && strcmp(cache[i].id, c->cache_id) == 0 && cache[i].gen == gen)
            cache[i].refresh_at = 0;
    pthread_mutex_unlock(&cache_lock);
}

/* --- the chain ------------------------------------------------------------- */

static bool is_set(const char *s)
{
    return s && *s;
}

static ws_s3_creds *creds_new(ws_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static ws_s3_creds *creds_new(ws_err *err, const char *fmt, ...)
{
    ws_s3_creds *c = calloc(1, sizeof *c);
    va_list ap;
    va_start(ap, fmt);
    int n = c ? vasprintf(&c->source, fmt, ap) : -1;
    va_end(ap);
    if (n < 0) {
        if (c)
            c->source = NULL;
        ws_s3_creds_close(c);
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return c;
}

/* Copies the strings a remote source needs (NULLs stay NULL). */
static int own_params(ws_s3_creds *c, const char *const vals[6], ws_err *err)
{
    for (size_t i = 0; i < 6; i++)
        if (vals[i] && !(c->owned[i] = strdup(vals[i])))
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    c->fp.url = c->owned[0];
    c->fp.role_arn = c->owned[1];
    c->fp.token_file = c->owned[2];
    c->fp.session_name = c->owned[3];
    c->fp.auth_token = c->owned[4];
    c->fp.auth_token_file = c->owned[5];
    if (asprintf(&c->cache_id, "%d|%s|%s|%s|%s", (int) c->fp.kind, vals[0], vals[1] ? vals[1] : "",
                 vals[2] ? vals[2] : "", vals[5] ? vals[5] : "") < 0) {
        c->cache_id = NULL;
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    }
    return 0;
}

static int remote_new(ws_s3_fetch_kind kind, const char *const vals[6], ws_s3_creds **out, ws_err *err,
                      const char *source)
{
    ws_s3_creds *c = creds_new(err, "%s", source);
    if (!c)
        return -1;
    c->remote = true;
    c->fp.kind = kind;
    if (own_params(c, vals, err) < 0) {
        ws_s3_creds_close(c);
        return -1;
    }
    *out = c;
    return 0;
}

static bool http_url(const char *u)
{
    return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

/* The container endpoint may be plain HTTP only on the hosts AWS uses for it
 * or on the loopback interface. */
static int check_full_uri(const char *uri, ws_err *err)
{
    static const char *const allowed[] = {
        "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]", "localhost", "::1", "[::1]"};
    if (!http_url(uri))
        return ws_err_set(err, WS_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s': not an http(s):// URL", uri);
    if (strncasecmp(uri, "https://", 8) == 0)
        return 0;
    CURLU *u = curl_url();
    char *host = NULL;
    bool ok = false;
    if (u && curl_url_set(u, CURLUPART_URL, uri, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        ok = strncmp(host, "127.", 4) == 0;
        for (size_t i = 0; !ok && i < sizeof allowed / sizeof allowed[0]; i++)
            ok = strcasecmp(host, allowed[i]) == 0;
    }
    curl_free(host);
    curl_url_cleanup(u);
    if (!ok)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "AWS_CONTAINER_CREDENTIALS_FULL_URI '%s': plain http:// is allowed only to a loopback "
                          "address or the ECS/EKS agent's address",
                          uri);
    return 0;
}

static int chain_file(const ws_config *cfg, ws_s3_creds **out, ws_err *err)
{
    char *const *env = cfg->aws_env;
    const char *path = cfg->s3_credentials_file, *path_from = "s3_credentials_file";
    char *home_path = NULL;
    if (!is_set(path)) {
        path = env[WS_AWS_SHARED_CREDENTIALS_FILE];
        path_from = "AWS_SHARED_CREDENTIALS_FILE";
    }
    bool explicit_path = is_set(path);
    if (!explicit_path && is_set(env[WS_AWS_HOME])) {
        if (asprintf(&home_path, "%s/.aws/credentials", env[WS_AWS_HOME]) < 0)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        path = home_path;
    }
    const char *profile = cfg->s3_profile, *profile_from = "s3_profile";
    if (!is_set(profile)) {
        profile = env[WS_AWS_PROFILE];
        profile_from = "AWS_PROFILE";
    }
    bool explicit_profile = is_set(profile);
    if (!explicit_profile)
        profile = "default";
    int rc = 0;
    if (!is_set(path)) {
        if (is_set(cfg->s3_profile))
            rc = ws_err_set(err, WS_ERR_CONFIG,
                            "s3_profile is set but there is no credentials file to read it from "
                            "(set s3_credentials_file)");
        goto out;
    }
    ws_s3_cred cred;
    int r = ws_s3_credfile_read(path, profile, &cred, err);
    if (r < 0 && err->code == WS_ERR_NOTFOUND && !explicit_path && !is_set(cfg->s3_profile))
        goto out; /* no ~/.aws/credentials: next provider */
    if (r < 0) {
        if (err->code == WS_ERR_NOTFOUND) {
            err->code = WS_ERR_CONFIG;
            ws_err_prefix(err, "%s", explicit_path ? path_from : "s3_profile is set, but");
        }
        rc = -1;
        goto out;
    }
    if (r == 0) {
        if (explicit_profile)
            rc = ws_err_set(err, WS_ERR_CONFIG, "credentials file %s has no profile '%s' (named by %s)", path, profile,
                            profile_from);
        goto out;
    }
    ws_s3_creds *c = creds_new(err, "credentials file %s (profile %s)", path, profile);
    if (!c) {
        ws_s3_cred_free(&cred);
        rc = -1;
        goto out;
    }
    c->fixed = cred;
    *out = c;
out:
    free(home_path);
    return rc;
}

static int chain_web_identity(const ws_config *cfg, ws_s3_creds **out, ws_err *err)
{
    char *const *env = cfg->aws_env;
    const char *role = env[WS_AWS_ROLE_ARN], *token_file = env[WS_AWS_WEB_IDENTITY_TOKEN_FILE];
    if (!is_set(role) && !is_set(token_file))
        return 0;
    if (!is_set(role) || !is_set(token_file))
        return ws_err_set(err, WS_ERR_CONFIG, "%s is set but %s is not: web identity needs both",
                          is_set(role) ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE",
                          is_set(role) ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN");
    char *url = NULL, session[64], *source = NULL;
    const char *region = is_set(cfg->s3_region) ? cfg->s3_region : "us-east-1";
    int rc = -1;
    if (is_set(env[WS_AWS_ENDPOINT_URL_STS])) {
        if (!http_url(env[WS_AWS_ENDPOINT_URL_STS]))
            return ws_err_set(err, WS_ERR_CONFIG, "AWS_ENDPOINT_URL_STS '%s': not an http(s):// URL",
                              env[WS_AWS_ENDPOINT_URL_STS]);
        url = strdup(env[WS_AWS_ENDPOINT_URL_STS]);
    } else if (asprintf(&url, "https://sts.%s.amazonaws.com%s", region, strncmp(region, "cn-", 3) == 0 ? ".cn" : "") <
               0) {
        url = NULL;
    }
    if (is_set(env[WS_AWS_ROLE_SESSION_NAME]))
        snprintf(session, sizeof session, "%s", env[WS_AWS_ROLE_SESSION_NAME]);
    else
        snprintf(session, sizeof session, "walship-%lld", (long long) time(NULL));
    if (!url || asprintf(&source, "web identity (STS AssumeRoleWithWebIdentity at %s, role %s)", url, role) < 0) {
        source = NULL;
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
        goto out;
    }
    const char *vals[6] = {url, role, token_file, session, NULL, NULL};
    rc = remote_new(WS_S3_FETCH_WEB_IDENTITY, vals, out, err, source);
out:
    free(url);
    free(source);
    return rc;
}

static int chain_ecs(const ws_config *cfg, ws_s3_creds **out, ws_err *err)
{
    char *const *env = cfg->aws_env;
    const char *rel = env[WS_AWS_CONTAINER_CREDENTIALS_RELATIVE_URI];
    const char *full = env[WS_AWS_CONTAINER_CREDENTIALS_FULL_URI];
    char *url = NULL, *source = NULL;
    if (is_set(rel)) {
        if (rel[0] != '/')
            return ws_err_set(err, WS_ERR_CONFIG, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI '%s': must start with '/'",
                              rel);
        if (asprintf(&url, "%s%s", ECS_HOST, rel) < 0)
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    } else if (is_set(full)) {
        if (check_full_uri(full, err) < 0)
            return -1;
        if (!(url = strdup(full)))
            return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    } else {
        return 0;
    }
    int rc = -1;
    if (asprintf(&source, "the container credentials endpoint %s", url) < 0) {
        source = NULL;
        ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    } else {
        const char *tf = env[WS_AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE];
        const char *vals[6] = {url,
                               NULL,
                               NULL,
                               NULL,
                               is_set(tf) ? NULL : env[WS_AWS_CONTAINER_AUTHORIZATION_TOKEN],
                               is_set(tf) ? tf : NULL};
        if (vals[4] && !*vals[4])
            vals[4] = NULL;
        rc = remote_new(WS_S3_FETCH_ECS, vals, out, err, source);
    }
    free(url);
    free(source);
    return rc;
}

static int chain_imds(const ws_config *cfg, ws_s3_creds **out, ws_err *err)
{
    char *const *env = cfg->aws_env;
    if (is_set(env[WS_AWS_EC2_METADATA_DISABLED]) && strcasecmp(env[WS_AWS_EC2_METADATA_DISABLED], "true") == 0)
        return 0;
    const char *url = env[WS_AWS_EC2_METADATA_SERVICE_ENDPOINT];
    if (!is_set(url))
        url = IMDS_DEFAULT_URL;
    else if (!http_url(url))
        return ws_err_set(err, WS_ERR_CONFIG, "AWS_EC2_METADATA_SERVICE_ENDPOINT '%s': not an http(s):// URL", url);
    char *source = NULL;
    if (asprintf(&source, "the EC2 instance metadata service (IMDSv2) at %s", url) < 0)
        return ws_err_set(err, WS_ERR_NOMEM, "out of memory");
    const char *vals[6] = {url, NULL, NULL, NULL, NULL, NULL};
    int rc = remote_new(WS_S3_FETCH_IMDS, vals, out, err, source);
    free(source);
    return rc;
}

int ws_s3_creds_open(const ws_config *cfg, ws_s3_creds **out, ws_err *err)
{
    *out = NULL;
    bool ak = is_set(cfg->aws_access_key_id), sk = is_set(cfg->aws_secret_access_key);
    if (ak || sk) {
        if (!ak || !sk)
            return ws_err_set(err, WS_ERR_CONFIG,
                              "%s is set but %s is not: set both (or neither, to use another source of S3 "
                              "credentials)",
                              ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                              ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        ws_s3_creds *c = creds_new(err, "the environment (AWS_ACCESS_KEY_ID%s)",
                                   is_set(cfg->aws_session_token) ? ", AWS_SESSION_TOKEN" : "");
        if (!c)
            return -1;
        ws_s3_cred env = {.access_key = cfg->aws_access_key_id,
                          .secret_key = cfg->aws_secret_access_key,
                          .session_token = is_set(cfg->aws_session_token) ? cfg->aws_session_token : NULL};
        if (ws_s3_cred_copy(&c->fixed, &env, err) < 0) {
            ws_s3_creds_close(c);
            return -1;
        }
        *out = c;
    }
    if (!*out && (chain_file(cfg, out, err) < 0 || (!*out && chain_web_identity(cfg, out, err) < 0) ||
                  (!*out && chain_ecs(cfg, out, err) < 0)))
        return -1;
    bool imds = false;
    if (!*out) {
        if (chain_imds(cfg, out, err) < 0)
            return -1;
        imds = *out != NULL;
    }
    if (!*out)
        return ws_err_set(err, WS_ERR_CONFIG,
                          "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name an AWS "
                          "credentials file (s3_credentials_file), or give the host a role (web identity, ECS "
                          "task role, EC2 instance profile; the instance metadata service is disabled by "
                          "AWS_EC2_METADATA_DISABLED)");
    ws_s3_creds *c = *out;
    if (c->remote) {
        ws_s3_cred probe = {0};
        uint64_t gen = 0;
        bool fetched;
        int rc = get_remote(c, &probe, &gen, &fetched, err);
        char until[32];
        format_time(probe.expires, until);
        if (rc == 0 && !fetched)
            ws_log(WS_LOG_INFO, "S3 credentials from %s (cached in this process%s%s)", c->source,
                   probe.expires ? ", valid until " : "", probe.expires ? until : "");
        ws_s3_cred_free(&probe);
        if (rc < 0) {
            if (imds && err->code == WS_ERR_NOTFOUND) {
                char why[WS_ERR_MSG_MAX];
                snprintf(why, sizeof why, "%s", err->msg);
                ws_err_set(err, WS_ERR_CONFIG,
                           "no S3 credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set, there is no "
                           "credentials file, no web identity or container endpoint, and no instance metadata (%s)",
                           why);
            } else {
                if (err->code == WS_ERR_NOTFOUND)
                    err->code = WS_ERR_TRANSIENT;
                ws_err_prefix(err, "S3 credentials from %s", c->source);
            }
            ws_s3_creds_close(c);
            *out = NULL;
            return -1;
        }
    } else
        ws_log(WS_LOG_INFO, "S3 credentials from %s", c->source);
    return 0;
}
