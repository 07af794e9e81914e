#!/usr/bin/env python3
"""test_backup.py - walship-backup against PostgreSQL 15, file:// or s3://.

Scenarios, in order:
  B  a primary with data checksums (-k), a user tablespace and amcheck, pgbench
     writing during walship-backup; the catalog record is checked against
     the stored objects (each decoded, size and SHA-256); the test decodes
     them into a new data directory and tablespace directory, makes the
     pg_tblspc link, runs pg_verifybackup -n against the stored manifest, then
     removes tablespace_map; recovery through walship-fetch to 'immediate'
     (amcheck passes) and, after the primary stopped, to the end of the archive
     (every table equal to the primary's)
  K  SIGKILL at several moments (streaming started, objects stored, waiting
     for WAL; on S3 also with a multipart upload in flight): nothing
     restorable is listed, `walship backups` says interrupted; the next backup
     succeeds and removes every leftover (S3: the proxy's log shows the
     AbortMultipartUpload of the recorded upload id)
  F  (s3) the proxy fails 20 % of requests: the backup completes and decodes;
     it fails 100 % of writes mid-upload: the backup fails, nothing restorable,
     the next backup removes what it left
  G  (file) SIGTERM mid-stream; the server stops mid-stream; the WAL never
     arrives (time-out): clean failures, nothing left
  C  (file) a page of an old relation corrupted on disk: the backup fails
     naming the file
  R  (file) every refusal: PostgreSQL settings (archive_mode off,
     archive_library, archive_command not walship's or another repository's,
     wal_level minimal), a standby, no REPLICATION privilege, no free WAL
     sender, wrong password, unreachable server, another cluster's
     repository, an unwritable repository

Usage: test_backup.py [--repo-kind file|s3] [--encryption plain|encrypted]
Needs WS_BUILD_DIR (the meson build root).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15 or the postgres user is missing.
"""

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402
from pgtest import PGBIN, Cluster, Repo, Results, S3Repo, TestError, as_user, give, run, wait_promoted  # noqa: E402,F401

TIME_LIMIT = 900
MiB = 1 << 20
TABLES = ["pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "marker", "tsdata"]


class Env(pgtest.TestEnv):
    def __init__(self, args):
        super().__init__(args.repo_kind, args.encryption, args.keep, prefix="walship-bk-")

    def archive_command(self, repo):
        return "%s --config %s %%p" % (self.push, repo.conf)

    def conninfo(self, c, user="postgres", extra=""):
        return "host=%s port=%d user=%s %s" % (c.sockdir, c.port, user, extra)

    # --- running walship ---
    def backup_argv(self, repo, *extra):
        return [self.backup_exe, "--config", repo.conf, "--json", "--no-progress"] + list(extra)

    def backup(self, repo, c, *extra, conninfo=None, timeout=600):
        """Runs walship-backup; returns (process, record or None)."""
        env = dict(repo.env(), WALSHIP_PG_CONNINFO=conninfo or self.conninfo(c))
        p = run(self.backup_argv(repo, *extra), env=env, timeout=timeout, check=False)
        rec = None
        if p.returncode == 0:
            try:
                rec = json.loads(p.stdout)
            except ValueError:
                rec = None
        return p, rec

    def backup_bg(self, repo, c, *extra):
        """walship-backup in the background; its stderr lines are collected."""
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("WALSHIP_"):
                del env[k]
        env.update(repo.env())
        env["WALSHIP_PG_CONNINFO"] = self.conninfo(c)
        # Started as the server user directly (not through runuser): the pid
        # is walship-backup's own, so a SIGKILL reaches it.
        creds = {}
        if os.geteuid() == 0:
            creds = {"user": "postgres", "group": "postgres", "extra_groups": []}
        p = subprocess.Popen(self.backup_argv(repo, *extra), env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=self.tmp, **creds)
        p.lines = []

        def reader():
            for line in p.stderr:
                p.lines.append(line)

        p.reader = threading.Thread(target=reader, daemon=True)
        p.reader.start()
        return p

    def walship_cmd(self, repo, *args, check=True, timeout=120):
        return run([self.walship, "--config", repo.conf] + list(args), env=repo.env(), timeout=timeout, check=check)

    def catalog(self, repo):
        """Every record, by id (walship backups --json)."""
        p = self.walship_cmd(repo, "backups", "--json")
        return {r["id"]: r for r in json.loads(p.stdout)}


def wait_until(pred, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise TestError("timed out after %d s waiting for %s" % (timeout, what))


def fingerprint(c, tables=TABLES):
    q = ["(select count(*) || ':' || coalesce(md5(string_agg(x::text, ',' order by x::text)), '-') from %s x)" % t
         for t in tables]
    return c.psql("select " + " || ' ' || ".join(q))


def keys(repo, prefix):
    """repo.keys(prefix), retried: s3rver answers 500 to a listing that
    meets an object being written (walship's own client retries too)."""
    for attempt in range(5):
        try:
            return repo.keys(prefix)
        except TestError as e:
            if " 500 " not in str(e) or attempt == 4:
                raise
            time.sleep(0.2)


def running_id(env, repo, known):
    """The id of a record that is not in known, if any."""
    for k in keys(repo, "catalog/"):
        rid = k[len("catalog/"):-len(".ws")]
        if rid not in known:
            return rid
    return None


# --- the primary ----------------------------------------------------------------

def make_primary(env, repo, name, scale=2, random_mb=0):
    c = env.cluster(name)
    c.initdb("-k")
    c.base_conf()
    c.conf(archive_mode="on", archive_command=env.archive_command(repo), max_wal_size="1GB",
           checkpoint_timeout="30min", autovacuum="off")
    c.start()
    ts = env.dir(name + "-ts")
    c.psql("create tablespace ts1 location '%s'" % ts)
    c.psql("create extension amcheck")
    c.pgbench("-i", "-s", str(scale), "-q", timeout=300)
    c.psql("create table marker (i int primary key, v text)")
    c.psql("create table tsdata (i int primary key, v text) tablespace ts1")
    c.psql("insert into tsdata select g, md5(g::text) from generate_series(1, 20000) g")
    if random_mb:
        # Incompressible rows: objects large enough for multipart uploads.
        c.psql("create extension pgcrypto")
        c.psql("create table rnd (b bytea) tablespace ts1")
        c.psql("alter table rnd alter column b set storage external")
        c.psql("insert into rnd select gen_random_bytes(1000) from generate_series(1, %d)" % (random_mb * 1024))
    c.psql("checkpoint")
    return c


# --- restore by decoding ------------------------------------------------------------

def decode_object(env, repo, ob, out_path):
    env.walship_cmd(repo, "--key", "repo-get", ob["key"], out_path, timeout=300)
    give(out_path)
    with open(out_path, "rb") as f:
        data = f.read()
    return data


def check_objects(env, repo, rec, workdir, label):
    """Decodes every object of rec, checking it against the record; returns
    {archive name: tar path}."""
    out = {}
    ok = True
    detail = ""
    for a in rec["archives"]:
        tar_path = os.path.join(workdir, a["name"])
        off = 0
        with open(tar_path, "wb") as tar:
            for ob in a["objects"]:
                tmp = os.path.join(workdir, "obj")
                data = decode_object(env, repo, ob, tmp)
                os.unlink(tmp)
                sha = hashlib.sha256(data).hexdigest()
                if len(data) != ob["size"] or sha != ob["sha256"] or ob["tar_offset"] != off:
                    ok = False
                    detail = "%s: %d bytes sha %s, record %d %s at %d" % (ob["key"], len(data), sha, ob["size"],
                                                                         ob["sha256"], ob["tar_offset"])
                # Each object stands alone: a tar header first, unless it says
                # it continues a member (then that member's data comes first).
                if "continues" not in ob and data and not (data[257:262] == b"ustar" or data[:512] == bytes(512)):
                    ok = False
                    detail = "%s does not start with a tar header" % ob["key"]
                if "continues" in ob and not (0 < ob["continues"]["offset"] < ob["continues"]["size"]):
                    ok = False
                    detail = "%s: bad continues %s" % (ob["key"], ob["continues"])
                if len(data) > rec["repository"]["object_size"] + 511:
                    ok = False
                    detail = "%s holds %d bytes of tar, more than the bound" % (ob["key"], len(data))
                off += len(data)
                tar.write(data)
        if off != a["tar_size"]:
            ok = False
            detail = "%s: %d bytes, record says %d" % (a["name"], off, a["tar_size"])
        out[a["name"]] = tar_path
    m = rec["manifest"]
    mpath = os.path.join(workdir, "backup_manifest")
    data = decode_object(env, repo, m, mpath)
    if hashlib.sha256(data).hexdigest() != m["sha256"] or len(data) != m["size"]:
        ok = False
        detail = "manifest differs from its record"
    out["manifest"] = mpath
    env.r.check("%s: every object decodes to the size and SHA-256 of the record" % label, ok, detail)
    return out


def restore(env, repo, rec, name, target):
    """A new data directory from the backup's objects, verified, configured
    to recover through walship-fetch; returns the started cluster."""
    work = env.dir(name + "-work")
    c = env.cluster(name)
    os.makedirs(c.datadir, mode=0o700)
    tars = check_objects(env, repo, rec, work, name)
    links = {}
    for a in rec["archives"]:
        with tarfile.open(tars[a["name"]]) as t:
            if a["tablespace"] is None:
                t.extractall(c.datadir)
            else:
                d = os.path.join(env.tmp, "%s-ts-%d" % (name, a["tablespace"]["oid"]))
                os.makedirs(d, mode=0o700)
                t.extractall(d)
                links[a["tablespace"]["oid"]] = d
    for oid, d in links.items():
        os.symlink(d, os.path.join(c.datadir, "pg_tblspc", str(oid)))
        give(d)
        os.chmod(d, 0o700)
    give(c.datadir)
    os.chmod(c.datadir, 0o700)
    p = run([PGBIN + "/pg_verifybackup", "-n", "-m", tars["manifest"], c.datadir], check=False, timeout=300)
    env.r.check("%s: pg_verifybackup -n against the stored manifest" % name, p.returncode == 0,
                p.stdout + p.stderr)
    # The links are made; recovery would recreate them from tablespace_map.
    os.unlink(os.path.join(c.datadir, "tablespace_map"))
    c.base_conf()
    c.conf(archive_mode="off", restore_command="%s --config %s %%f %%p" % (env.fetch, repo.conf))
    if target == "immediate":
        c.conf(recovery_target="immediate", recovery_target_action="promote")
    open(os.path.join(c.datadir, "recovery.signal"), "w").close()
    give(c.datadir)
    c.start()
    wait_promoted(c)
    return c


def amcheck(c):
    """Errors raise: every btree index and every table of the database checked."""
    c.psql("select bt_index_check(i.indexrelid, true) from pg_index i join pg_class ic on ic.oid = i.indexrelid "
           "join pg_am am on am.oid = ic.relam join pg_namespace n on n.oid = ic.relnamespace "
           "where am.amname = 'btree' and n.nspname not in ('pg_toast') and ic.relpersistence <> 't'")
    return c.psql("select count(*) from pg_class c, verify_heapam(c.oid) where c.relkind = 'r' "
                  "and c.relpersistence <> 't'")


# --- scenario B: back up under load, restore, compare -----------------------------------

def scenario_backup_restore(env, repo, p):
    known = set(env.catalog(repo))
    bg = p.pgbench_bg("-n", "-c", "2", "-T", "600")
    try:
        time.sleep(1)
        t0 = time.time()
        proc, rec = env.backup(repo, p, "--object-size", "4M", "--label", "test B")
        took = time.time() - t0
    finally:
        bg.terminate()
        bg.wait(timeout=60)
    ok = env.r.check("B: walship-backup under pgbench exits 0", proc.returncode == 0 and rec is not None,
                     proc.stderr[-3000:])
    if not ok:
        raise TestError("no backup")
    print("# backup %s took %.1f s: %d bytes of tar, %d stored" % (rec["id"], took, rec["sizes"]["tar"],
                                                                 rec["sizes"]["stored"]), flush=True)
    names = sorted(a["name"] for a in rec["archives"])
    ts_oid = p.psql("select oid from pg_tablespace where spcname = 'ts1'")
    env.r.check("B: the record is complete, with the data directory and the tablespace",
                rec["status"] == "complete" and names == sorted(["base.tar", ts_oid + ".tar"]) and
                rec["label"] == "test B" and rec["data_checksums"] is True, json.dumps(rec)[:2000])
    ts = [a for a in rec["archives"] if a["tablespace"]]
    env.r.check("B: the tablespace's oid and original location are recorded",
                len(ts) == 1 and ts[0]["tablespace"] == {"oid": int(ts_oid),
                                                         "location": os.path.join(env.tmp, p.name + "-ts")},
                json.dumps(ts))
    base = [a for a in rec["archives"] if not a["tablespace"]][0]
    env.r.check("B: the data directory is stored as several objects, one continuing a member",
                len(base["objects"]) >= 4 and any("continues" in o for o in base["objects"]),
                [(o["key"], o["size"]) for o in base["objects"]])
    sysid = p.controldata()["Database system identifier"]
    env.r.check("B: LSNs, timeline, times and the cluster are recorded",
                rec["system_identifier"] == sysid and rec["start"]["timeline"] == 1 and
                pgtest_lsn(rec["stop"]["lsn"]) > pgtest_lsn(rec["start"]["lsn"]) and
                "time" in rec["start"] and rec["stop"]["time"] >= rec["start"]["time"] and
                rec["backup_history_file"].endswith(".backup") and rec["segment_size"] == 16 * MiB,
                json.dumps({k: rec.get(k) for k in ("start", "stop", "system_identifier")}))
    listed = env.walship_cmd(repo, "backups").stdout
    row = [line.split() for line in listed.splitlines() if line.startswith(rec["id"])]
    env.r.check("B: walship backups lists it as complete, with its stop LSN and timeline",
                len(row) == 1 and "complete" in row[0] and rec["stop"]["lsn"] in row[0] and
                str(rec["stop"]["timeline"]) in row[0], listed)
    # Without a terminal (and without --quiet): one line per phase, in order.
    phases = ["connecting to PostgreSQL", "starting the backup", "streaming", "waiting up to", "complete: stop LSN"]
    at = [next((i for i, ln in enumerate(proc.stderr.splitlines()) if ph in ln), -1) for ph in phases]
    env.r.check("B: one line per phase on stderr (connect, start, stream, WAL wait, complete)",
                -1 not in at and at == sorted(at) and "\r" not in proc.stderr, proc.stderr[-2000:])
    env.r.check("B: --json printed the catalog record", env.catalog(repo).get(rec["id"]) == rec,
                json.dumps(rec)[:1500])
    env.r.check("B: the WAL it needs is in the repository",
                repo.exists(pgtest.wal_key(rec["stop"]["segment"])) and
                repo.exists(pgtest.wal_key(rec["backup_history_file"])), rec["stop"]["segment"])
    new = set(env.catalog(repo)) - known
    env.r.check("B: exactly one new record", new == {rec["id"]}, new)

    # Recovery to the backup's consistency point.
    r1 = restore(env, repo, rec, "restored-immediate", "immediate")
    bad = amcheck(r1)
    env.r.check("B: restored to 'immediate', amcheck finds nothing", bad == "0", bad)
    r1.stop("immediate")

    # More data, then the primary stops; recovery to the end of the archive.
    p.psql("insert into marker select g, md5(g::text) from generate_series(1, 1000) g")
    p.psql("insert into tsdata select g, 'after' from generate_series(100001, 101000) g")
    last = p.switch_wal()
    p.wait_archived(last)
    want = fingerprint(p)
    p.stop()
    r2 = restore(env, repo, rec, "restored-latest", "latest")
    got = fingerprint(r2)
    env.r.check("B: restored to the end of the archive, every table equals the primary's", got == want,
                "got %s want %s" % (got, want))
    bad = amcheck(r2)
    env.r.check("B: amcheck on the latest restore finds nothing", bad == "0", bad)
    r2.stop("immediate")
    p.start()
    return rec


def pgtest_lsn(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


# --- scenario K: SIGKILL ----------------------------------------------------------------------

def hold_archiving(env, repo, p, hold):
    """Archiving fails while held (archive_command is still walship-push's,
    so walship-backup's checks pass)."""
    cmd = env.archive_command(repo)
    p.psql("alter system set archive_command = '%s'" % (("/bin/false && " if hold else "") + cmd).replace("'", "''"))
    p.psql("select pg_reload_conf()")


def kill_at(env, repo, p, label, when, *extra, before=None, after=None, seen=None):
    """Starts a backup, waits for `when(proc, id)` to hold, SIGKILLs it;
    returns the id of its record.  seen (a list) gets the run's stderr."""
    known = set(env.catalog(repo))
    if before:
        before()
    proc = env.backup_bg(repo, p, *extra)
    rid = None

    def alive(pred):
        def check():
            if proc.poll() is not None:
                proc.reader.join(timeout=10)
                raise TestError("walship-backup ended (%s) before %s: %s" % (proc.returncode, label,
                                                                           "".join(proc.lines)[-1500:]))
            return pred()
        return check

    try:
        rid = wait_until(alive(lambda: running_id(env, repo, known)), 60, "the running record")
        wait_until(alive(lambda: when(proc, rid)), 120, label)
    finally:
        proc.kill()
        proc.wait(timeout=60)
        proc.reader.join(timeout=10)
        if seen is not None:
            seen.append("".join(proc.lines))
        if after:
            after()
    env.r.check("K %s: killed (SIGKILL)" % label, proc.returncode == -signal.SIGKILL, proc.returncode)
    return rid


def stored_objects(repo, rid):
    return keys(repo, "backup/%s/" % rid)


def aborted_uploads(env):
    """The upload ids of every AbortMultipartUpload in the proxy's log."""
    out = set()
    for e in env.s3.proxy_log(env.https):
        if e.get("op") == "AbortMultipartUpload":
            out.update(urllib.parse.parse_qs(e.get("query") or "").get("uploadId", []))
    return out


def scenario_kills(env, repo, p):
    """Each run cleans what the runs killed before it left: checked after
    every kill (listed as interrupted, objects left) and in the next run."""
    ids = []
    removed_by = {}  # killed id -> what the run after it printed

    def killed(rid, label):
        cat = env.catalog(repo)
        table = env.walship_cmd(repo, "backups").stdout
        env.r.check("K %s: not restorable, listed as interrupted" % label,
                    cat[rid]["status"] == "running" and
                    any(line.startswith(rid) and " interrupted " in line for line in table.splitlines()), table)
        ids.append(rid)

    # 1: as soon as streaming starts.
    proc_lines = []
    rid = kill_at(env, repo, p, "streaming started", lambda proc, rid: any("streaming" in ln for ln in proc.lines),
                  "--object-size", "1M", seen=proc_lines)
    killed(rid, "streaming started")
    # 2: with objects stored.
    rid = kill_at(env, repo, p, "objects stored", lambda proc, rid: len(stored_objects(repo, rid)) >= 3,
                  "--object-size", "1M", seen=proc_lines)
    removed_by[ids[-1]] = proc_lines[-1]
    env.r.check("K: the killed backup left objects behind (so their removal is tested)",
                len(stored_objects(repo, rid)) >= 3, stored_objects(repo, rid))
    killed(rid, "objects stored")
    uploads = {}
    if env.kind == "s3":
        # 3 (S3): a multipart upload in flight (incompressible objects over a
        # part); the next walship-backup must send its abort.
        def multipart(proc, rid):
            for e in env.s3.proxy_log(env.https):
                if e.get("op") == "UploadPart" and ("/backup/%s/" % rid) in (e.get("key") or ""):
                    return True
            return False

        env.s3.proxy_reset(env.https)
        rid = kill_at(env, repo, p, "multipart upload in flight", multipart, "--object-size", "64M",
                      seen=proc_lines)
        removed_by[ids[-1]] = proc_lines[-1]
        rec = env.catalog(repo)[rid]
        uploads = {x["token"]: x["key"] for x in rec.get("run", {}).get("pending", []) if "token" in x}
        env.r.check("K: the running record names the multipart upload in flight", len(uploads) >= 1,
                    json.dumps(rec.get("run")))
        aborted_before = aborted_uploads(env)
        killed(rid, "multipart upload in flight")
    # 4: waiting for the WAL (archiving held back meanwhile).
    rid = kill_at(env, repo, p, "waiting for WAL", lambda proc, rid: any("waiting up to" in ln for ln in proc.lines),
                  "--object-size", "1M", before=lambda: hold_archiving(env, repo, p, True),
                  after=lambda: hold_archiving(env, repo, p, False), seen=proc_lines)
    removed_by[ids[-1]] = proc_lines[-1]
    if uploads:
        aborted = aborted_uploads(env)
        env.r.check("K: the next walship-backup sent AbortMultipartUpload for the killed backup's recorded upload",
                    set(uploads) <= aborted and not set(uploads) & aborted_before,
                    (sorted(uploads), sorted(aborted), sorted(aborted_before)))
    killed(rid, "waiting for WAL")

    # The last one is cleaned by `walship backups-clean`, the others were by
    # the next walship-backup.
    env.s3 and env.s3.proxy_reset(env.https)
    cleaner = env.walship_cmd(repo, "backups-clean", check=False)
    removed_by[ids[-1]] = cleaner.stdout
    env.r.check("K: walship backups-clean succeeds", cleaner.returncode == 0, cleaner.stdout + cleaner.stderr)
    proc, rec = env.backup(repo, p, "--object-size", "4M", "--progress")
    env.r.check("K: the next backup succeeds", proc.returncode == 0 and rec is not None, proc.stderr[-2000:])
    env.r.check("K: nothing was left for it to clean", "removed what" not in proc.stderr, proc.stderr[-2000:])
    env.r.check("K: --progress draws a bar (bytes of the estimate, rate)",
                "\x1b[K" in proc.stderr and "] 100% " in proc.stderr and " MB/s" in proc.stderr,
                repr(proc.stderr[-600:]))
    for rid in ids:
        env.r.check("K %s: the next run said it removed what was left" % rid,
                    "removed what interrupted backup %s left" % rid in removed_by.get(rid, ""),
                    removed_by.get(rid, "")[-2000:])
    cat = env.catalog(repo)
    env.r.check("K: the killed backups' records say failed, nothing of them is stored",
                all(cat[rid]["status"] == "failed" and not stored_objects(repo, rid) for rid in ids),
                {rid: (cat[rid]["status"], len(stored_objects(repo, rid))) for rid in ids})
    if env.kind == "file":
        left = [rid for rid in ids if os.path.exists(os.path.join(repo.root, "backup", rid))]
        env.r.check("K: no temp files or folders of killed backups remain", not left,
                    {rid: os.listdir(os.path.join(repo.root, "backup", rid)) for rid in left})


# --- scenario F: storage faults (s3) -------------------------------------------------------------

def scenario_faults(env, repo, p):
    env.s3.proxy_reset(env.https)
    env.s3.proxy_config(env.https, fault_rate=0.2, faults=["500", "503", "reset"], seed=11)
    bg = p.pgbench_bg("-n", "-c", "1", "-T", "600")
    try:
        proc, rec = env.backup(repo, p, "--object-size", "4M")
    finally:
        bg.terminate()
        bg.wait(timeout=60)
    log = env.s3.proxy_log(env.https)
    env.s3.proxy_reset(env.https)
    faults = [e for e in log if e.get("fault")]
    env.r.check("F20: the backup completes with 20 %% of requests failing (%d faults)" % len(faults),
                proc.returncode == 0 and rec is not None and rec["status"] == "complete" and len(faults) >= 5,
                proc.stderr[-2000:])
    if rec:
        check_objects(env, repo, rec, env.dir("f20-work"), "F20")

    # 100 % of writes fail once objects are being stored.
    fast = repo.variant("repo-fast", **S3Repo.FAST_FAIL)
    known = set(env.catalog(repo))
    proc = env.backup_bg(fast, p, "--object-size", "64M")
    try:
        rid = wait_until(lambda: running_id(env, repo, known), 60, "the running record")
        wait_until(lambda: any(e.get("op") == "UploadPart" and "/backup/%s/" % rid in (e.get("key") or "")
                               for e in env.s3.proxy_log(env.https)), 120, "a multipart upload")
        env.s3.proxy_config(env.https, fault_rate=1.0, faults=["503"], only=["PUT", "POST"])
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.reader.join(timeout=10)
    err = "".join(proc.lines)
    aborts = [e for e in env.s3.proxy_log(env.https) if e.get("op") == "AbortMultipartUpload" and
              "/backup/%s/" % rid in (e.get("key") or "")]
    env.s3.proxy_reset(env.https)
    env.r.check("F100: the backup fails (exit 1) saying why", proc.returncode == 1 and "ERROR" in err, err[-2000:])
    env.r.check("F100: it sent AbortMultipartUpload for its upload in flight", len(aborts) >= 1, len(aborts))
    cat = env.catalog(repo)
    env.r.check("F100: nothing restorable is listed", cat[rid]["status"] != "complete", cat[rid]["status"])
    proc2, rec2 = env.backup(repo, p, "--object-size", "4M")
    env.r.check("F100: the next backup succeeds", proc2.returncode == 0 and rec2 is not None, proc2.stderr[-2000:])
    cat = env.catalog(repo)
    env.r.check("F100: what the failed backup left is gone",
                cat[rid]["status"] == "failed" and not stored_objects(repo, rid),
                (cat[rid]["status"], stored_objects(repo, rid)))

    # Wrong S3 credentials (the proxy checks every signature): refused with
    # one line saying what to fix; nothing recorded.
    known = set(env.catalog(repo))
    bad = dict(repo.env(), AWS_SECRET_ACCESS_KEY="not-" + repo.env()["AWS_SECRET_ACCESS_KEY"],
               WALSHIP_PG_CONNINFO=env.conninfo(p))
    proc = run(env.backup_argv(repo), env=bad, timeout=300, check=False)
    refused(env, "wrong S3 credentials", proc, "signature does not match", "secret access key", repo=repo,
            known=known)


# --- scenario G: server gone, WAL never arrives (file) ---------------------------------------------

def scenario_gone(env, repo, p):
    # SIGTERM mid-stream: a clean stop.
    known = set(env.catalog(repo))
    proc = env.backup_bg(repo, p, "--object-size", "1M")
    try:
        rid = wait_until(lambda: running_id(env, repo, known), 60, "the running record")
        wait_until(lambda: len(stored_objects(repo, rid)) >= 2, 120, "objects")
        proc.terminate()
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.reader.join(timeout=10)
    err = "".join(proc.lines)
    cat = env.catalog(repo)
    env.r.check("G: SIGTERM stops the backup (exit 1), its record says failed, nothing of it is stored",
                proc.returncode == 1 and "stopped by signal 15" in err and cat[rid]["status"] == "failed" and
                not stored_objects(repo, rid), err[-1500:])

    known = set(env.catalog(repo))
    proc = env.backup_bg(repo, p, "--object-size", "1M")
    try:
        rid = wait_until(lambda: running_id(env, repo, known), 60, "the running record")
        wait_until(lambda: len(stored_objects(repo, rid)) >= 2, 120, "objects")
        p.stop("immediate")
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc.reader.join(timeout=10)
    err = "".join(proc.lines)
    env.r.check("G: the server gone mid-stream fails the backup (exit 1)", proc.returncode == 1 and
                "connection" in err, err[-2000:])
    cat = env.catalog(repo)
    env.r.check("G: its record says failed, nothing of it is stored",
                cat[rid]["status"] == "failed" and not stored_objects(repo, rid), cat[rid])
    p.start()

    hold_archiving(env, repo, p, True)
    try:
        proc, rec = env.backup(repo, p, "--object-size", "4M", "--wal-timeout", "5")
    finally:
        hold_archiving(env, repo, p, False)
    env.r.check("G: WAL that never arrives fails the backup after the time-out, naming the segment",
                proc.returncode == 1 and "did not reach the repository within 5 s" in proc.stderr and
                "is missing" in proc.stderr, proc.stderr[-2000:])
    cat = env.catalog(repo)
    failed = [r for r in cat.values() if r["id"] not in known and r["status"] == "failed" and
              "did not reach" in r.get("error", "")]
    env.r.check("G: that backup's record says failed and its objects are gone",
                len(failed) == 1 and not stored_objects(repo, failed[0]["id"]), [r["id"] for r in failed])


# --- scenario C: a corrupted page ---------------------------------------------------------------------

def scenario_corrupt(env):
    repo = env.new_repo("repo-corrupt")
    c = env.cluster("corrupt")
    c.initdb("-k")
    c.base_conf()
    c.conf(archive_mode="on", archive_command=env.archive_command(repo))
    c.start()
    c.psql("create table victim as select g, md5(g::text) from generate_series(1, 50000) g")
    c.psql("checkpoint")
    rel = c.psql("select pg_relation_filepath('victim')")
    c.stop()
    with open(os.path.join(c.datadir, rel), "r+b") as f:
        for blk in (3, 7):
            f.seek(blk * 8192 + 3000)
            f.write(b"not a valid page!")
    c.start()
    known = set(env.catalog(repo))
    proc, rec = env.backup(repo, c, "--object-size", "4M")
    env.r.check("C: a corrupted page fails the backup naming the file",
                proc.returncode == 1 and rel in proc.stderr and "checksum" in proc.stderr, proc.stderr[-2000:])
    cat = env.catalog(repo)
    new = [r for r in cat.values() if r["id"] not in known]
    env.r.check("C: its record says failed, nothing of it is stored",
                len(new) == 1 and new[0]["status"] == "failed" and not stored_objects(repo, new[0]["id"]),
                [(r["id"], r["status"]) for r in new])
    c.stop("immediate")


# --- scenario R: refusals --------------------------------------------------------------------------

def refused(env, label, proc, *words, repo=None, known=None):
    err = proc.stderr.strip()
    lines = [ln for ln in err.splitlines() if "ERROR" in ln]
    ok = proc.returncode == 1 and len(lines) == 1 and all(w in lines[0] for w in words)
    if ok and repo is not None and known is not None:
        ok = set(env.catalog(repo)) == known
    env.r.check("R %s: refused with one line saying what to fix" % label, ok, err[-1500:])


def scenario_refusals(env, repo, main_primary):
    rrepo = env.new_repo("repo-refuse")
    c = env.cluster("refuse")
    c.initdb("-k")
    c.base_conf()
    # checkpoint_timeout 30s: a spread checkpoint takes at most 27 s here.
    c.conf(archive_mode="on", archive_command=env.archive_command(rrepo), max_wal_senders=2,
           checkpoint_timeout="30s", log_checkpoints="on")
    c.start()
    c.switch_wal()  # the repository learns its cluster
    wait_until(lambda: rrepo.exists("repo.identity.ws"), 60, "the repository identity")

    # --checkpoint spread: the backup completes, and the server's checkpoint
    # for it was not an immediate one (the fast default's is).
    before = len(c.log_text())
    proc, rec = env.backup(rrepo, c, "--checkpoint", "spread")
    starts = [ln for ln in c.log_text()[before:].splitlines() if "checkpoint starting:" in ln]
    env.r.check("R --checkpoint spread: the backup completes after a checkpoint that is not immediate",
                proc.returncode == 0 and rec is not None and rec["status"] == "complete" and starts and
                all("immediate" not in ln for ln in starts), (proc.stderr[-1500:], starts))
    before = len(c.log_text())
    proc, rec = env.backup(rrepo, c)
    starts = [ln for ln in c.log_text()[before:].splitlines() if "checkpoint starting:" in ln]
    env.r.check("R --checkpoint fast (the default): the server's checkpoint is immediate",
                proc.returncode == 0 and any("immediate" in ln for ln in starts), (proc.stderr[-1500:], starts))
    known = set(env.catalog(rrepo))

    proc, _ = env.backup(rrepo, c, conninfo=env.conninfo(c, extra="") + " host=/nonexistent-walship")
    refused(env, "unreachable server", proc, "cannot reach the PostgreSQL server", repo=rrepo, known=known)

    c.psql("create role norep login")
    proc, _ = env.backup(rrepo, c, conninfo=env.conninfo(c, "norep"))
    refused(env, "no REPLICATION privilege", proc, "REPLICATION", "norep", repo=rrepo, known=known)

    c.psql("create role pwuser login replication password 'right'")
    with open(os.path.join(c.datadir, "pg_hba.conf")) as f:
        hba = f.read()
    with open(os.path.join(c.datadir, "pg_hba.conf"), "w") as f:
        f.write("local replication pwuser scram-sha-256\n" + hba)
    c.psql("select pg_reload_conf()")
    proc, _ = env.backup(rrepo, c, conninfo=env.conninfo(c, "pwuser", "password=wrong"))
    refused(env, "wrong password", proc, "refused the login", "password", repo=rrepo, known=known)

    # No free WAL sender: pg_receivewal holds one of two, a replication psql the other.
    receivers = [subprocess.Popen(as_user([PGBIN + "/pg_receivewal", "-D", env.dir("receivewal%d" % i), "-h",
                                           c.sockdir, "-p", str(c.port), "-U", "postgres", "--no-loop"]),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
    try:
        wait_until(lambda: c.psql("select count(*) from pg_stat_replication") == "2", 60, "two WAL senders busy")
        proc, _ = env.backup(rrepo, c)
        refused(env, "no free WAL sender", proc, "no free WAL sender", "max_wal_senders", repo=rrepo, known=known)
    finally:
        for r in receivers:
            r.terminate()
            r.wait(timeout=30)

    # A standby of c.
    sb = env.cluster("refuse-standby")
    run([PGBIN + "/pg_basebackup", "-D", sb.datadir, "-h", c.sockdir, "-p", str(c.port), "-U", "postgres", "-R",
         "-X", "stream", "-c", "fast"], timeout=300)
    sb.conf(port=sb.port, unix_socket_directories=sb.sockdir, archive_mode="off")
    sb.start()
    proc, _ = env.backup(rrepo, sb)
    refused(env, "standby", proc, "standby", "primary", repo=rrepo, known=known)
    sb.stop("immediate")

    # archive_command of another tool, then of another repository.
    c.psql("alter system set archive_command = 'cp %p /nonexistent/%f'")
    c.psql("select pg_reload_conf()")
    proc, _ = env.backup(rrepo, c)
    refused(env, "archive_command not walship-push", proc, "archive_command", "walship-push",
            repo=rrepo, known=known)
    proc, _ = env.backup(rrepo, c, "--no-archive-check", "--wal-timeout", "3")
    env.r.check("R: --no-archive-check gets past that check (then the WAL does not arrive)",
                proc.returncode == 1 and "did not reach the repository" in proc.stderr, proc.stderr[-1500:])
    known = set(env.catalog(rrepo))
    other = env.new_repo("repo-other")
    c.psql("alter system set archive_command = '%s'" % env.archive_command(other).replace("'", "''"))
    c.psql("select pg_reload_conf()")
    proc, _ = env.backup(rrepo, c)
    refused(env, "archive_command into another repository", proc, "stores WAL in", other.url, rrepo.url,
            repo=rrepo, known=known)

    # archive_library overrides archive_command.
    # (Written into the file: ALTER SYSTEM refuses the module's setting
    # before the module is loaded.)
    c.psql("alter system set archive_command = '%s'" % env.archive_command(rrepo).replace("'", "''"))
    c.conf(archive_library="basic_archive", **{"basic_archive.archive_directory": env.dir("basic-archive")})
    c.psql("select pg_reload_conf()")
    wait_until(lambda: c.psql("show archive_library") == "basic_archive", 30, "archive_library")
    proc, _ = env.backup(rrepo, c)
    refused(env, "archive_library set", proc, "archive_library", "basic_archive", repo=rrepo, known=known)
    c.conf(archive_library="")
    c.psql("select pg_reload_conf()")
    wait_until(lambda: c.psql("show archive_library") == "", 30, "archive_library reset")

    # The repository of another cluster (the main primary's); its
    # archive_command names rrepo, so that check is skipped.
    proc, _ = env.backup(repo, c, "--no-archive-check")
    refused(env, "another cluster's repository", proc, "system identifier")

    # An unwritable repository (file://).
    if env.kind == "file":
        os.chmod(os.path.join(rrepo.root, "catalog"), 0o555)
        try:
            proc, _ = env.backup(rrepo, c)
            refused(env, "unwritable repository", proc, "not writable", "Permission denied",
                    repo=rrepo, known=known)
        finally:
            os.chmod(os.path.join(rrepo.root, "catalog"), 0o750)

    # archive_mode off, then wal_level minimal (restarts).
    c.stop()
    c.conf(archive_mode="off")
    c.start()
    proc, _ = env.backup(rrepo, c)
    refused(env, "archive_mode off", proc, "archive_mode is off", repo=rrepo, known=known)
    c.stop()
    c.conf(wal_level="minimal", max_wal_senders=0)
    c.start()
    proc, _ = env.backup(rrepo, c)
    refused(env, "wal_level minimal", proc, "wal_level", "minimal", repo=rrepo, known=known)
    c.stop("immediate")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo-kind", default="file", choices=["file", "s3"])
    ap.add_argument("--encryption", default="plain", choices=["plain", "encrypted"])
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    why = pgtest.missing_prerequisite()
    if why:
        print("%s: skipped" % why)
        return 77
    env = Env(args)
    print("# repo kind %s, %s, temp dir %s" % (args.repo_kind, args.encryption, env.tmp), flush=True)
    try:
        return run_all(env)
    finally:
        env.stop_s3()


def run_all(env):
    def on_alarm(signum, frame):
        raise TestError("time limit of %d s reached" % TIME_LIMIT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT)
    t0 = time.time()
    steps = []
    p = repo = None
    # Every check of every scenario (a scenario that stops early fails).
    env.r.expect(55 if env.kind == "file" else 45)
    try:
        if env.kind == "s3":
            env.start_s3()
        repo = env.new_repo("repo")
        p = make_primary(env, repo, "primary", random_mb=40 if env.kind == "s3" else 0)
        steps.append(("B", lambda: scenario_backup_restore(env, repo, p)))
        steps.append(("K", lambda: scenario_kills(env, repo, p)))
        if env.kind == "s3":
            steps.append(("F", lambda: scenario_faults(env, repo, p)))
        else:
            steps.append(("G", lambda: scenario_gone(env, repo, p)))
            steps.append(("C", lambda: scenario_corrupt(env)))
            steps.append(("R", lambda: scenario_refusals(env, repo, p)))
    except (TestError, subprocess.TimeoutExpired) as e:
        env.r.check("set-up", False, str(e))
    for label, fn in steps:
        t1 = time.time()
        try:
            fn()
        except (TestError, subprocess.TimeoutExpired, OSError) as e:
            env.r.check("scenario %s ran to the end" % label, False, str(e))
        finally:
            print("# scenario %s: %.0f s" % (label, time.time() - t1), flush=True)
            for c in env.clusters:
                if c.running() and c is not p:
                    c.stop("immediate")
            if p is not None and not p.running():
                p.start(check=False)
    signal.alarm(0)
    return env.finish(t0)


if __name__ == "__main__":
    sys.exit(main())
