/*
 * repo_identity.h - the cluster a repository belongs to.
 *
 * The first WAL segment pushed into a repository records the cluster's
 * system identifier, PostgreSQL major release and WAL segment size in the
 * object WS_REPO_IDENTITY_KEY (a small JSON document through the codec, so
 * it is checksummed and encrypted like any object; doc/archive.md).  Every
 * later segment is compared with it, so two clusters never mix their WAL in
 * one repository.
 */
#ifndef WALSHIP_REPO_IDENTITY_H
#define WALSHIP_REPO_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "walship/error.h"
#include "walship/repo_object.h"

#define WS_REPO_IDENTITY_KEY "repo.identity.ws"
#define WS_REPO_IDENTITY_MAX 4096 /* bytes of JSON accepted */

typedef struct ws_repo_identity {
    uint64_t sysid;
    unsigned pg_version; /* major release, e.g. 15 */
    uint32_t seg_size;   /* bytes */
} ws_repo_identity;

/* The JSON text of id (malloc'd, NUL-terminated) or NULL. */
char *ws_repo_identity_to_json(const ws_repo_identity *id, ws_err *err);

/* Parses and checks the JSON text (what names it in messages). */
int ws_repo_identity_from_json(const char *buf, size_t len, const char *what, ws_repo_identity *out, ws_err *err);

/* 0 when mine matches recorded; else -1 (WS_ERR_CONFLICT) naming both
 * identities; `what` names the file that carries mine. */
int ws_repo_identity_compare(const ws_repo_identity *recorded, const ws_repo_identity *mine, const char *what,
                             ws_err *err);

/* Reads the recorded identity: 1 found, 0 none yet, -1 error. */
int ws_repo_identity_load(ws_repo *repo, ws_repo_identity *out, ws_err *err);

/*
 * For readers (walship-fetch): the repository must carry an identity -- a
 * location without one is not a walship repository (a wrong `repo`, or a
 * file system that is not mounted) -- and, when sysid is not 0, the
 * identity of the cluster with that system identifier.  No identity is
 * WS_ERR_NOREPO, another cluster's WS_ERR_CONFIG, both naming the
 * repository; read errors keep their code.
 */
int ws_repo_identity_verify(ws_repo *repo, uint64_t sysid, ws_err *err);

/* ws_repo_identity_verify, also giving the identity read (rec) and its
 * object's plaintext digest (either may be NULL), for a cache of it
 * (repo_idcache.h). */
int ws_repo_identity_verify_read(ws_repo *repo, uint64_t sysid, ws_repo_identity *rec, ws_digest *digest, ws_err *err);

/*
 * Checks mine against the repository's identity, recording mine first when
 * the repository has none (under the local lock, then read back, so two
 * first pushes cannot record different clusters unnoticed).  *created tells
 * whether this call recorded it; digest (may be NULL) receives the identity
 * object's plaintext digest.  With must_exist (the caller knows the
 * repository had an identity), a missing one is never recorded anew but
 * fails with WS_ERR_CONFIG.
 *
 * On a store whose PUT is not atomic (s3rver), a push reading the identity
 * while the first push writes it can see part of it: an identity that reads
 * as damaged is read again for up to WS_REPO_IDENTITY_SETTLE seconds before
 * the damage counts (WS_ERR_CORRUPT).
 */
#define WS_REPO_IDENTITY_SETTLE 3.0
int ws_repo_identity_ensure(ws_repo *repo, const ws_repo_identity *mine, const char *what, bool must_exist,
                            bool *created, ws_digest *digest, ws_err *err);

#endif
