/* restore_fast.c - serving a spooled segment without the storage drivers (see restore_fast.h). */
#include "walship/restore_fast.h"

#include <limits.h>

#include "walship/fetch_spool.h"
#include "walship/key.h"
#include "walship/log.h"
#include "walship/pg_datadir.h"
#include "walship/wal_name.h"

/* As restore_run.c's writer_wait: about what one fetch may take. */
static double writer_wait(const ws_config *cfg)
{
    double t = cfg->s3_retry_budget + cfg->s3_request_timeout + 10;

    return t < 30 ? 30 : t;
}

static int serve(const ws_config *cfg, ws_spool *sp, const ws_spool_identity *id, const ws_wal_name *w,
                 const char *name, const char *dest)
{
    ws_spool_state st;
    ws_wal_header hdr;
    ws_proc_id owner;
    ws_err err;
    int rc;

    ws_err_clear(&err);
    /* Only a spool that is ours, with a prefetcher keeping it filled, for
     * the startup process (the full program starts a prefetcher, adopts a
     * foreign spool, and serves calls by hand). */
    if (ws_fetch_spool_read_state(sp, &st, &err) != 1 || !ws_fetch_spool_identity_equal(&st.id, id) ||
        !ws_fetch_spool_prefetcher_running(sp) || ws_pg_datadir_startup_process(".", &owner, &err) != 1)
        return 0;
    rc = ws_fetch_spool_take(sp, w, dest, id->sysid, writer_wait(cfg), &hdr, &err);
    if (rc != 1) {
        if (err.code != WS_OK)
            ws_log(WS_LOG_WARNING, "prefetched copy not used, fetching directly: %s", err.msg);
        return 0;
    }
    ws_log(WS_LOG_INFO, "restored %s from the prefetch spool", name);
    if (ws_fetch_spool_advance(sp, id, w, hdr.seg_size, cfg->prefetch, &err) < 0)
        ws_log(WS_LOG_WARNING, "prefetching: %s", err.msg);
    return 1;
}

int ws_restore_fast_serve(const ws_config *cfg, const char *name, const char *dest)
{
    char dir[PATH_MAX];
    ws_spool_identity id;
    ws_spool *sp = NULL;
    ws_key *key = NULL;
    ws_wal_name w;
    uint64_t sysid;
    ws_err err;
    int rc = 0;

    ws_err_clear(&err);
    if (cfg->prefetch == 0 || !cfg->repo || ws_pg_datadir_recovery_mode(".") == WS_RECOVERY_NONE ||
        ws_wal_name_parse(name, &w, &err) < 0 || w.kind != WS_WAL_SEGMENT ||
        ws_pg_datadir_sysid(".", &sysid, &err) < 0 || sysid == 0 ||
        ws_fetch_spool_dir_for(dest, dir, sizeof dir, &err) < 0)
        return 0;
    if (cfg->encryption_key_file && ws_key_load(cfg->encryption_key_file, &key, &err) < 0)
        return 0; /* the full program says what is wrong */
    if (ws_fetch_spool_identity_make(cfg->repo, cfg->s3_endpoint, key, sysid, &id) &&
        ws_fetch_spool_open(dir, false, &sp, &err) == 1)
        rc = serve(cfg, sp, &id, &w, name, dest);
    ws_fetch_spool_close(sp);
    ws_key_free(key);
    return rc;
}
