/*
 * s3_creds.h - where the S3 driver's credentials come from (doc/s3.md,
 * "Credentials").  The first provider that is configured supplies them:
 *
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
 *      (+ AWS_SESSION_TOKEN);
 *   2. an AWS shared-credentials file (s3_credentials_file, else
 *      AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials when it exists),
 *      profile s3_profile, else AWS_PROFILE, else "default";
 *   3. web identity: AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE -> STS
 *      AssumeRoleWithWebIdentity;
 *   4. the ECS container endpoint (AWS_CONTAINER_CREDENTIALS_*);
 *   5. the EC2 instance metadata service, IMDSv2 only (unless
 *      AWS_EC2_METADATA_DISABLED=true).
 *
 * Temporary credentials (3-5) live in a process-wide cache, one entry per
 * source, shared by every S3 connection of the process (threads, and a
 * forked child inherits it) and refreshed before they expire.  This cache
 * is the one piece of mutable process state in the storage layer; a mutex
 * guards it and fork() leaves it consistent.
 *
 * The source is logged at info level when the chain picks it and whenever
 * temporary credentials are fetched; secrets never appear in a message.
 */
#ifndef WALSHIP_S3_CREDS_H
#define WALSHIP_S3_CREDS_H

#include <stdbool.h>
#include <stdint.h>

#include "walship/config.h"
#include "walship/error.h"

/* One set of credentials. */
typedef struct ws_s3_cred {
    char *access_key;
    char *secret_key;    /* wiped when freed */
    char *session_token; /* NULL when none; wiped when freed */
    int64_t expires;     /* epoch seconds; 0 = does not expire */
} ws_s3_cred;

/* Frees (wiping the secrets) and zeroes c. */
void ws_s3_cred_free(ws_s3_cred *c);

/* dst = a copy of src (dst's old content is freed first). */
int ws_s3_cred_copy(ws_s3_cred *dst, const ws_s3_cred *src, ws_err *err);

typedef struct ws_s3_creds ws_s3_creds;

/*
 * Runs the provider chain for cfg.  Temporary credentials are fetched now
 * (or taken from the process cache), so a provider that cannot deliver fails
 * here.  No provider at all is WS_ERR_CONFIG naming what was looked for.
 */
int ws_s3_creds_open(const ws_config *cfg, ws_s3_creds **out, ws_err *err);
void ws_s3_creds_close(ws_s3_creds *c);

/* Where the credentials come from, e.g. "credentials file /x (profile p)". */
const char *ws_s3_creds_source(const ws_s3_creds *c);

/* True for temporary credentials that walship fetches and refreshes. */
bool ws_s3_creds_refreshable(const ws_s3_creds *c);

/*
 * Copies the current credentials into *cur when they differ from the
 * generation *gen the caller holds (0 at first), refreshing them first when
 * due.  A failed refresh keeps credentials that have not expired yet (and is
 * tried again soon); once they have expired its error is returned.
 */
int ws_s3_creds_get(ws_s3_creds *c, ws_s3_cred *cur, uint64_t *gen, ws_err *err);

/* S3 refused the credentials of generation gen as expired: the next
 * ws_s3_creds_get() fetches new ones. */
void ws_s3_creds_expired(ws_s3_creds *c, uint64_t gen);

/* When credentials fetched at `now` and expiring at `expires` are
 * refreshed: 5 minutes before they expire, or half-way through a lifetime
 * shorter than 10 minutes. */
int64_t ws_s3_creds_refresh_at(int64_t now, int64_t expires);

/* "2024-05-01T12:34:56Z" (fraction and "+00:00" accepted) -> epoch seconds. */
int ws_s3_creds_parse_time(const char *s, int64_t *out);

#endif
