/*
 * s3_credfetch.h - temporary credentials fetched over HTTP: STS
 * AssumeRoleWithWebIdentity, the ECS container endpoint, and the EC2 instance
 * metadata service (IMDSv2 only).  One fresh libcurl handle per fetch, short
 * time-outs, a few retries; never through an HTTP proxy for the link-local
 * and loopback endpoints.  s3_creds.c decides when to call these.
 */
#ifndef WALSHIP_S3_CREDFETCH_H
#define WALSHIP_S3_CREDFETCH_H

#include <stddef.h>

#include "walship/error.h"
#include "walship/s3_creds.h"

typedef enum ws_s3_fetch_kind {
    WS_S3_FETCH_WEB_IDENTITY,
    WS_S3_FETCH_ECS,
    WS_S3_FETCH_IMDS,
} ws_s3_fetch_kind;

typedef struct ws_s3_fetch_params {
    ws_s3_fetch_kind kind;
    const char *url; /* STS endpoint, the container endpoint's full URL, or IMDS's base URL */
    /* web identity */
    const char *role_arn;
    const char *token_file;   /* read again on every fetch (it is rotated) */
    const char *session_name; /* RoleSessionName */
    /* ECS: the Authorization header's value, or a file holding it */
    const char *auth_token;
    const char *auth_token_file;
} ws_s3_fetch_params;

/* IMDS time-outs: a host that is not on EC2 must answer "no credentials" at
 * once, not after a minute. */
#define WS_S3_IMDS_TIMEOUT 1.0 /* seconds, per request */

/*
 * Fetches one set of temporary credentials.  Errors: WS_ERR_NOTFOUND when the
 * instance metadata service does not answer at all (not on EC2),
 * WS_ERR_CONFIG when an endpoint refuses for a reason that waiting will not
 * fix (IMDSv1 only, no role, bad token file), WS_ERR_PERM when STS or the
 * container endpoint denies access, WS_ERR_TRANSIENT when it failed after
 * its retries.
 */
int ws_s3_credfetch(const ws_s3_fetch_params *p, ws_s3_cred *out, ws_err *err);

/* The JSON document of the ECS endpoint and of IMDS (AccessKeyId,
 * SecretAccessKey, Token, Expiration; IMDS's Code must be "Success"). */
int ws_s3_credfetch_parse_json(const char *text, size_t len, const char *what, ws_s3_cred *out, ws_err *err);

#endif
