/*
 * s3_credfile.h - the AWS shared-credentials file (~/.aws/credentials):
 *
 *   [default]
 *   aws_access_key_id = AKIA...
 *   aws_secret_access_key = ...
 *   aws_session_token = ...        (optional)
 *
 * Sections are profile names; other keys (region, ...) are ignored.  The
 * file must belong to the running user or root and must not be readable or
 * writable by group or others, like an ssh private key.
 */
#ifndef WALSHIP_S3_CREDFILE_H
#define WALSHIP_S3_CREDFILE_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "walship/error.h"
#include "walship/s3_creds.h"

/* Credentials files larger than this are refused. */
#define WS_S3_CREDFILE_MAX (1024 * 1024)

/*
 * Reads profile from the file at path into *out: 1 when found, 0 when the
 * file has no such profile, -1 on error (WS_ERR_NOTFOUND when the file does
 * not exist, WS_ERR_CONFIG when it is refused or malformed).
 */
int ws_s3_credfile_read(const char *path, const char *profile, ws_s3_cred *out, ws_err *err);

/* The same for the file's text; name is for messages. */
int ws_s3_credfile_parse(const char *text, size_t len, const char *name, const char *profile, ws_s3_cred *out,
                         ws_err *err);

/* Refuses (WS_ERR_CONFIG) a file that group or others may read or write, or
 * that belongs to neither euid nor root. */
int ws_s3_credfile_check_private(const struct stat *st, uid_t euid, const char *path, ws_err *err);

#endif
