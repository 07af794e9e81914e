#!/usr/bin/env python3
"""test_push_fetch.py - walship-push and walship-fetch driven by PostgreSQL 15.

Scenarios, in order (later ones reuse the archive of earlier ones), on a
file:// or an s3:// repository:
  1  a primary archives with archive_command = 'walship-push %p && cp %p ORIG/%f'
     under pgbench traffic with forced switches; every object decodes
     byte-identical to the plain copy
  2  recovery from a pg_basebackup (-X none) driven only by walship-fetch, to
     the end of the archive; data equal to the primary's
  5  a corrupted object in the middle of the archive: recovery stops (exit 200),
     the server does not promote; after repair recovery completes
  S  a standby (standby.signal) waits while an object is unreadable, then
     catches up
  4  a standby streaming from the primary is promoted: 00000002.history and
     the .partial are archived; a second recovery follows timeline 2 to the end
  F  (s3 only) the same recovery through the proxy injecting faults into 20 %
     of the GETs, with prefetching off and at its default: same data, every
     restored file byte-identical, faults seen in the proxy's log and retried
  3  duplicate pushes, every bad input, concurrent pushes (file:// only),
     exit codes of fetch
  6  a cluster with --wal-segsize=64: archive, recovery; refused by the first
     repository (another system identifier)

s3: test/integration/s3env (path in S3ENV) starts s3rver behind the verifying
proxy; walship goes through the proxy (HTTP, or HTTPS with s3_ca_file: the
default for --encryption encrypted), the test inspects and damages objects in
s3rver directly.  AWS_* credentials reach walship-push and walship-fetch only
through the servers' environment (pg_ctl start), as in production.

Usage: test_push_fetch.py [--repo-kind file|s3] [--encryption plain|encrypted]
                          [--s3-transport http|https]
Needs WS_BUILD_DIR (the meson build root; not WALSHIP_*, which walship
would reject as an unknown setting).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15 or the postgres user is missing.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402
from pgtest import TestError, backup_start_segment, give, run, sha256_file, wait_promoted, wal_key  # noqa: E402

TIME_LIMIT = 420  # seconds for the whole script (meson's timeout is larger)
MiB = 1 << 20
# Scenario F: faults the proxy injects into GET/HEAD, with a fixed seed.
FAULT_KINDS = ["500", "503", "timeout400", "reset", "stall", "delay"]
FAULT_SEED = 169  # its first 15 draws hold every kind once (Python's random, as the proxy uses)
FAULT_RATE = 0.2


class Env(pgtest.TestEnv):
    """Everything the scenarios share (pgtest.TestEnv), and what scenarios
    hand on to later ones."""

    def __init__(self, args):
        super().__init__(args.repo_kind, args.encryption, args.keep, prefix="walship-pf-", port_base=5500)
        self.repo_kind = self.kind
        self.https = args.s3_transport == "https"
        self.tl2_want = None  # scenario 4's data on timeline 2, for scenario F
        self.tl2_restored = None  # files its recovery restored

    def archive_command(self, repo, orig):
        return "%s --config %s %%p && cp %%p %s/%%f" % (self.push, repo.conf, orig)

    def restore_command(self, repo):
        return "%s --config %s %%f %%p" % (self.fetch, repo.conf)

    def push_file(self, repo, path, timeout=60):
        return run([self.push, "--config", repo.conf, path], env=repo.env(), timeout=timeout, check=False)

    def fetch_file(self, repo, name, dest, cwd=None, conf=None):
        return run([self.fetch, "--config", conf or repo.conf, name, dest], cwd=cwd, env=repo.env(), timeout=60,
                   check=False)


def traffic(c, seconds, marker_from, min_switches=10, max_seconds=120):
    """pgbench in the background, segment switches and marker rows meanwhile:
    for `seconds`, and on until at least `min_switches` switches were made (a
    busy machine makes fewer per second), but never past `max_seconds`."""
    bg = c.pgbench_bg("-n", "-c", "2", "-T", str(seconds))
    start = time.time()
    i = marker_from
    while (time.time() < start + seconds or i - marker_from < min_switches) and time.time() < start + max_seconds:
        c.psql("insert into marker values (%d, md5('%d'))" % (i, i))
        c.switch_wal()
        i += 1
        time.sleep(0.4)
    _, errs = bg.communicate(timeout=seconds + 60)
    if bg.returncode != 0:
        raise TestError("pgbench failed: %s" % errs)
    return i


def finish_archiving(c):
    c.psql("insert into marker values (-1, 'last') on conflict (id) do update set note = 'last again'")
    name = c.switch_wal()
    c.wait_archived(name)
    return name


def make_recovery(env, name, bbdir, repo, standby=False, archive_to=None, **settings):
    c = env.cluster(name)
    c.copy_from(bbdir)
    c.base_conf()
    s = dict(restore_command=env.restore_command(repo), archive_mode="off")
    if archive_to:
        s.update(archive_mode="on", archive_command=env.archive_command(repo, archive_to))
    s.update(settings)
    c.conf(**s)
    sig = os.path.join(c.datadir, "standby.signal" if standby else "recovery.signal")
    open(sig, "w").close()
    give(sig)
    return c


# --- scenario 1 ---------------------------------------------------------------

def scenario_archive(env, repo):
    r = env.r
    orig = env.dir("orig")
    p = env.cluster("primary")
    p.initdb()
    p.base_conf()
    p.conf(archive_mode="on", archive_command=env.archive_command(repo, orig))
    p.start()
    p.psql("create table marker (id int primary key, note text)")
    p.pgbench("-i", "-s", "1", "-q")
    nxt = traffic(p, 5, 0)
    last = finish_archiving(p)
    failed = p.psql("select failed_count from pg_stat_archiver")
    r.check("1: archiver reports no failed walship-push", failed == "0", "failed_count=%s\n%s" % (failed,
                                                                                           p.log_tail()))
    segs = sorted(n for n in os.listdir(orig) if len(n) == 24)
    r.check("1: several segments archived (%d)" % len(segs), len(segs) >= 8, str(segs))
    r.check("1: repository holds exactly the archived files",
            repo.keys("wal/") == sorted(wal_key(n) for n in os.listdir(orig)),
            "%s vs %s" % (repo.keys("wal/")[:5], sorted(os.listdir(orig))[:5]))
    scratch = env.dir("scratch1")
    bad = []
    for n in sorted(os.listdir(orig)):
        out = os.path.join(scratch, "out")
        f = env.fetch_file(repo, n, out)
        if f.returncode != 0 or sha256_file(out) != sha256_file(os.path.join(orig, n)):
            bad.append("%s (exit %d %s)" % (n, f.returncode, f.stderr.strip()))
    r.check_all("1: every archived file decodes byte-identical to the original", os.listdir(orig), bad,
                "; ".join(bad[:5]))
    if env.key_file:
        data = repo.read(wal_key(segs[-1]))
        with open(os.path.join(orig, segs[-1]), "rb") as f:
            plain = f.read()
        r.check("1: objects are encrypted (no plaintext page in the stored object)", plain[8192:8192 + 64] not in data)
    if env.repo_kind == "s3":
        log = env.s3.proxy_log(env.https)
        puts = [e for e in log if e["op"] in ("PutObject", "CompleteMultipartUpload")]
        badsig = [e for e in log if e["sig"] != "ok"]
        r.check("1: walship-push went through the verifying proxy, every request signed right "
                "(%d requests, %d objects written)" % (len(log), len(puts)),
                len(puts) >= len(os.listdir(orig)) and not badsig, str(badsig[:3]))
    return p, orig, nxt, last


# --- scenario 2 ---------------------------------------------------------------

def scenario_recovery(env, repo, p, nxt):
    r = env.r
    bb = os.path.join(env.tmp, "bb")
    run([pgtest.PGBIN + "/pg_basebackup", "-D", bb, "-X", "none", "-c", "fast", "-h", p.sockdir, "-p",
         str(p.port), "-U", "postgres", "--no-sync"], timeout=120)
    nxt = traffic(p, 4, nxt)
    finish_archiving(p)
    want = p.fingerprint()
    rec = make_recovery(env, "rec1", bb, repo)
    rec.start(wait=False)
    wait_promoted(rec)
    r.check("2: recovery through walship-fetch reaches the primary's data", rec.fingerprint() == want)
    log = rec.log_text()
    r.check("2: recovery ended at the end of the archive", "archive recovery complete" in log, rec.log_tail())
    r.check("2: no walship error during recovery", "walship-fetch: ERROR" not in log, rec.log_tail())
    rec.stop()
    return bb, want


# --- scenario 5 ---------------------------------------------------------------

def scenario_corruption(env, repo, bb, orig, want):
    r = env.r
    start = backup_start_segment(bb)
    segs = sorted(n for n in os.listdir(orig) if len(n) == 24 and n > start and n.startswith("00000001"))
    victim = segs[len(segs) // 2]
    key = wal_key(victim)
    size = repo.size(key)
    repo.invert_range(key, size // 2, 256)

    scratch = env.dir("scratch5")
    f = env.fetch_file(repo, victim, os.path.join(scratch, "out"))
    r.check("5: fetch of the damaged object exits 200 and writes nothing",
            f.returncode == 200 and not os.path.exists(os.path.join(scratch, "out"))
            and os.listdir(scratch) == [], "exit %d, %s, %s" % (f.returncode, f.stderr, os.listdir(scratch)))
    r.check("5: the message names the object and the integrity failure",
            "integrity failure" in f.stderr and key in f.stderr and f.stderr.count("\n") == 1, f.stderr)

    rec = make_recovery(env, "rec5", bb, repo)
    rec.start(wait=False, check=False)
    stopped = rec.wait_down(90)
    log = rec.new_log()
    r.check("5: the server stops at the damaged segment", stopped, rec.log_tail())
    r.check("5: the server log has walship's clear message",
            "walship-fetch: ERROR: integrity failure" in log and victim in log, rec.log_tail())
    state = rec.controldata().get("Database cluster state", "")
    r.check("5: the server did not promote (still in archive recovery, no new timeline)",
            state == "in archive recovery" and "archive recovery complete" not in log
            and not any(n.endswith(".history") for n in os.listdir(os.path.join(rec.datadir, "pg_wal"))),
            "state=%s" % state)

    repo.invert_range(key, size // 2, 256)  # repair

    # DEST is written as a temp file and renamed once verified (not fsynced:
    # PostgreSQL fsyncs what it keeps).  Damage in the last bytes lets nearly
    # the whole segment be decoded and written before the check fails: the
    # file already at DEST must stay as it was, and no temp file may remain.
    dest = os.path.join(scratch, "RECOVERYXLOG")
    with open(dest, "wb") as fh:
        fh.write(b"what was there before\n")
    give(dest)
    repo.invert_range(key, size - 200, 64)
    f = env.fetch_file(repo, victim, dest)
    with open(dest, "rb") as fh:
        kept = fh.read()
    r.check("5: damage at the end: exit 200, DEST keeps its old content, no temp file left",
            f.returncode == 200 and kept == b"what was there before\n" and os.listdir(scratch) == ["RECOVERYXLOG"],
            "exit %d, %s, %r, %s" % (f.returncode, f.stderr, kept[:40], os.listdir(scratch)))
    repo.invert_range(key, size - 200, 64)  # repair
    f = env.fetch_file(repo, victim, dest)
    r.check("5: after repair the whole segment replaces DEST, no temp file left",
            f.returncode == 0 and sha256_file(dest) == sha256_file(os.path.join(orig, victim))
            and os.listdir(scratch) == ["RECOVERYXLOG"], "exit %d, %s, %s" % (f.returncode, f.stderr,
                                                                             os.listdir(scratch)))
    rec.start(wait=False)
    wait_promoted(rec)
    r.check("5: after repair, recovery completes with the primary's data", rec.fingerprint() == want)
    rec.stop()


# --- scenario S: standby waits ---------------------------------------------------

def scenario_standby(env, repo, bb, orig, want):
    """file://: one object in the middle is unreadable (EACCES).  s3://: s3rver
    enforces no per-object permission, so the storage is unreachable for
    reads (the proxy answers 503 to every GET and HEAD) and the standby waits
    from its first segment on; walship's config then fails fast (FAST_FAIL)."""
    start = backup_start_segment(bb)
    segs = sorted(n for n in os.listdir(orig) if len(n) == 24 and n > start and n.startswith("00000001"))
    victim = segs[len(segs) // 2]
    key = wal_key(victim)
    srepo = repo.variant("fastfail", **repo.FAST_FAIL)
    repo.make_unreadable(key)
    try:
        standby_waits(env, srepo, bb, victim, want)
    finally:
        repo.make_readable(key)


def standby_waits(env, repo, bb, victim, want):
    r = env.r
    key = wal_key(victim)
    # Exit codes by mode for an unreadable repository object (I/O error, or
    # S3 unreachable after the retry budget).
    codes = {}
    for mode in ("recovery", "standby", "none"):
        d = env.dir("mode-" + mode)
        if mode != "none":
            open(os.path.join(d, mode + ".signal"), "w").close()
        codes[mode] = env.fetch_file(repo, victim, "out", cwd=d).returncode
    r.check("S: unreadable storage: 201 in archive recovery, 1 (wait) in standby mode, 201 without signal file",
            codes == {"recovery": 201, "standby": 1, "none": 201}, str(codes))

    sb = make_recovery(env, "standby", bb, repo, standby=True, hot_standby="on")
    sb.start(wait=False)
    deadline = time.time() + 30
    while time.time() < deadline and "standby mode, storage unreachable" not in sb.log_text():
        time.sleep(0.3)
    time.sleep(2.5)  # a few more retries
    log = sb.log_text()
    r.check("S: the standby keeps waiting while the object is unreadable",
            sb.running() and "storage unreachable, PostgreSQL will retry" in log
            and log.count("storage unreachable") >= 2, sb.log_tail())
    repo.make_readable(key)
    got = None
    deadline = time.time() + 90
    while time.time() < deadline and got != want:
        try:
            got = sb.fingerprint()  # fails until the standby is consistent
        except TestError:
            pass
        time.sleep(0.5)
    r.check("S: after the object is readable again the standby catches up to the primary's data", got == want,
            sb.log_tail())
    sb.stop()


# --- scenario 4: promotion ---------------------------------------------------------

def scenario_promotion(env, repo, bb, orig, p):
    """A standby streaming from the primary is promoted: its last timeline 1
    segment came by streaming, so PostgreSQL archives it as .partial."""
    r = env.r
    node = make_recovery(env, "tl2", bb, repo, standby=True, archive_to=orig, hot_standby="on",
                         primary_conninfo="host=%s port=%d user=postgres" % (p.sockdir, p.port))
    node.start(wait=False)
    for i in range(10):
        p.psql("insert into marker values (%d, 'streamed only')" % (400000 + i))
    lsn = p.psql("select pg_current_wal_flush_lsn()")
    got = node.wait_query("select pg_last_wal_replay_lsn() >= '%s'" % lsn, "t", 90)
    if got != "t":
        raise TestError("the standby did not catch up with the primary; log tail:\n" + node.log_tail())
    p.stop()
    node.promote()
    wait_promoted(node)
    tl = node.psql("select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
    r.check("4: the promoted standby runs on timeline 2", tl == "00000002", tl)
    node.psql("insert into marker values (500000, 'on timeline 2')")
    node.pgbench("-n", "-t", "300", "-c", "2")
    last = finish_archiving(node)
    deadline = time.time() + 30
    partials = []
    while time.time() < deadline:
        partials = [k for k in repo.keys("wal/00000001") if k.endswith(".partial.ws")]
        if repo.exists(wal_key("00000002.history")) and partials:
            break
        time.sleep(0.3)
    r.check("4: 00000002.history is archived", repo.exists(wal_key("00000002.history")))
    r.check("4: the .partial segment of timeline 1 is archived", len(partials) == 1, str(partials))
    hist = os.path.join(env.dir("scratch4"), "hist")
    f = env.fetch_file(repo, "00000002.history", hist)
    r.check("4: the history file restores byte-identical",
            f.returncode == 0 and sha256_file(hist) == sha256_file(os.path.join(orig, "00000002.history")),
            f.stderr)
    if partials:
        pname = os.path.basename(partials[0])[:-3]
        seg = pname[:24]
        out = os.path.join(env.dir("scratch4"), "seg")
        f1 = env.fetch_file(repo, seg, out)
        f2 = env.fetch_file(repo, pname, out)
        r.check("4: a request for the segment of a .partial exits 1 (the .partial is never returned for it)",
                not repo.exists(wal_key(seg)) and f1.returncode == 1, "exit %d %s" % (f1.returncode, f1.stderr))
        r.check("4: the .partial is returned when asked for by name, byte-identical",
                f2.returncode == 0 and sha256_file(out) == sha256_file(os.path.join(orig, pname)), f2.stderr)
    want = node.fingerprint()
    node.stop()

    rec = make_recovery(env, "rec4", bb, repo)
    rec.start(wait=False)
    wait_promoted(rec)
    r.check("4: a second recovery follows timeline 2 to the end", rec.fingerprint() == want, rec.log_tail())
    env.tl2_want = want
    env.tl2_restored = restored_names(rec.log_text())
    tl = rec.psql("select substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)")
    r.check("4: ... and then starts timeline 3", tl == "00000003", tl)
    r.check("4: ... having restored the timeline 2 segment %s" % last,
            "restored log file \"%s\" from archive" % last in rec.log_text()
            and rec.psql("select note from marker where id = 500000") == "on timeline 2", rec.log_tail())
    rec.stop()


def restored_names(server_log):
    return sorted(set(re.findall(r'restored log file "([^"]+)" from archive', server_log)))


# --- scenario F: recovery through injected faults (s3 only) --------------------------

def scenario_faults(env, repo, bb, orig, prefetch):
    """Scenario 4's second recovery again, while the proxy fails 20 % of the
    GETs and HEADs (seeded): 500, 503 SlowDown, 400 RequestTimeout, a reset
    in the middle of the body, a stall longer than s3_request_timeout, and a
    slow answer.  walship-fetch must retry its way to exactly the same
    result; PostgreSQL must never see a failure.

    prefetch 0: only PostgreSQL's own calls, one request at a time, so the
    seed fixes which request meets which fault, and every failed request
    must be retried.  prefetch None (the default setting): background
    fetches run concurrently, so the mapping varies, and a failed request
    may be dropped because another one already brought the segment."""
    r = env.r
    if env.tl2_want is None or not env.tl2_restored:
        raise TestError("scenario F needs scenario 4's timeline 2 and its recovery")
    s3, https = env.s3, repo.https
    label = "F, prefetch %s" % ("default" if prefetch is None else prefetch)
    tag = "F%s" % ("d" if prefetch is None else prefetch)
    # A stall costs s3_request_timeout (1 s); the budget makes giving up
    # (which would stop recovery with exit 201) practically impossible.
    settings = dict(s3_retry_budget=30, s3_request_timeout=1)
    if prefetch is not None:
        settings["prefetch"] = prefetch
    frepo = repo.variant("faults-" + tag, **settings)
    restored = env.dir("restored" + tag)
    s3.proxy_reset(https)
    s3.proxy_config(https, fault_rate=FAULT_RATE, faults=FAULT_KINDS, only=["GetObject", "HeadObject"],
                    seed=FAULT_SEED, stall_seconds=3, delay_seconds=0.5)
    try:
        rec = make_recovery(env, "rec" + tag, bb, frepo,
                            restore_command="%s && cp %%p %s/%%f" % (env.restore_command(frepo), restored))
        rec.start(wait=False)
        wait_promoted(rec, 240)
        log = s3.proxy_log_complete(https)
    finally:
        s3.proxy_reset(https)
    r.check("%s: recovery through 20 %% injected faults reaches the primary's data" % label,
            rec.fingerprint() == env.tl2_want, rec.log_tail())
    slog = rec.log_text()
    r.check("%s: ... to the end of the archive, with no walship error" % label,
            "archive recovery complete" in slog and "walship-fetch: ERROR" not in slog, rec.log_tail())
    names = restored_names(slog)
    r.check("%s: ... having restored the same %d files as without faults" % (label, len(names)),
            names == env.tl2_restored, "%s vs %s" % (names, env.tl2_restored))
    bad = [n for n in names if not os.path.exists(os.path.join(restored, n))
           or sha256_file(os.path.join(restored, n)) != sha256_file(os.path.join(orig, n))]
    r.check("%s: every restored file is byte-identical to the original" % label, names and not bad, str(bad))
    rec.stop()

    # What the proxy saw: faults were injected, and each one that failed a
    # request was followed by a complete answer for the same key.
    gets = sorted((e for e in log if e["op"] in ("GetObject", "HeadObject")), key=lambda e: e["seq"])
    faulted = [e for e in gets if e["fault"]]
    kinds = {}
    for e in faulted:
        kinds[e["fault"]] = kinds.get(e["fault"], 0) + 1
    resumed = [e for e in gets if "range" in e["headers"]]  # fetch itself never sends a Range
    print("# %s: %d GET/HEAD through the proxy (seed %d), %d faults injected: %s; %d resumed with a Range" % (
        label, len(gets), FAULT_SEED, len(faulted), ", ".join("%s on %s" % (e["fault"], e["key"].rsplit("/", 1)[-1])
                                                              for e in faulted), len(resumed)), flush=True)
    r.check("%s: the proxy injected faults (%d of %d requests)" % (label, len(faulted), len(gets)),
            len(faulted) >= 1 and len(gets) > len(names), str(kinds))
    # Every failed request was retried to a complete answer.  With
    # prefetching, a background fetch of a segment recovery never asked for
    # (past the end, or on a timeline left behind) may be stopped while it
    # retries: only those are exempt.
    retried, unretried = [], []
    wanted = set(wal_key(n) for n in names) | {"repo.identity.ws"}
    for e in faulted:
        if e["fault"] == "delay":  # answered, only late
            continue
        ok = any(x["seq"] > e["seq"] and x["key"] == e["key"] and x["fault"] in (None, "delay")
                 and x["status"] in (200, 206, 404) for x in gets)
        if ok:
            retried.append("%s %s" % (e["fault"], e["key"]))
        elif prefetch == 0 or any(e["key"].endswith("/" + k) or e["key"] == k for k in wanted):
            unretried.append("%s %s" % (e["fault"], e["key"]))
    r.check("%s: every failed request was retried to a complete answer (%d)" % (label, len(retried)),
            retried and not unretried, str(unretried))
    r.check("%s: every request through the proxy was signed right" % label, all(e["sig"] == "ok" for e in log))


# --- scenario 3: duplicates, bad inputs, concurrency ---------------------------------

def one_line_error(p, *needles):
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    return (0 < p.returncode <= 125 and len(lines) == 1 and "ERROR" in lines[0]
            and all(n in lines[0] for n in needles))


def scenario_duplicates(env, repo, orig):
    r = env.r
    segs = sorted(n for n in os.listdir(orig) if len(n) == 24 and n.startswith("00000001"))
    work = env.dir("dup")
    s1, s2, s3 = segs[1], segs[2], segs[3]

    p = env.push_file(repo, os.path.join(orig, s1))
    r.check("3: identical content pushed again: exit 0 with a notice",
            p.returncode == 0 and "already archived with identical content" in p.stderr, p.stderr)

    changed = os.path.join(work, s1)
    shutil.copy(os.path.join(orig, s1), changed)
    with open(changed, "r+b") as f:
        f.seek(MiB)
        b = f.read(1)
        f.seek(MiB)
        f.write(bytes([b[0] ^ 0xFF]))
    give(changed)
    before = repo.read(wal_key(s1))
    p = env.push_file(repo, changed)
    r.check("3: different content under an archived name: non-zero exit, both checksums named",
            one_line_error(p, sha256_file(changed), sha256_file(os.path.join(orig, s1)), "not overwritten"),
            p.stderr)
    r.check("3: ... and the stored object is untouched", repo.read(wal_key(s1)) == before)

    k2 = wal_key(s2)
    repo.truncate(k2, repo.size(k2) - 100)
    p = env.push_file(repo, os.path.join(orig, s2))
    out = os.path.join(work, "out")
    f = env.fetch_file(repo, s2, out)
    r.check("3: an incomplete stored object is replaced",
            p.returncode == 0 and "replacing damaged" in p.stderr and f.returncode == 0
            and sha256_file(out) == sha256_file(os.path.join(orig, s2)), p.stderr + f.stderr)
    repo.replace_raw(wal_key(s3), os.urandom(5000))
    p = env.push_file(repo, os.path.join(orig, s3))
    f = env.fetch_file(repo, s3, out)
    r.check("3: an unreadable (garbage) stored object is replaced",
            p.returncode == 0 and f.returncode == 0 and sha256_file(out) == sha256_file(os.path.join(orig, s3)),
            p.stderr + f.stderr)

    # Bad inputs: one clear line, non-zero exit, nothing stored.
    def bad(label, path, *needles):
        keys_before = repo.keys()
        p = env.push_file(repo, path)
        r.check("3: bad input, %s: one error line, non-zero exit, nothing stored" % label,
                one_line_error(p, *needles) and repo.keys() == keys_before,
                "exit %d: %s" % (p.returncode, p.stderr))

    def write(name, data, size=None):
        path = os.path.join(work, name)
        with open(path, "wb") as fh:
            fh.write(data)
            if size is not None:
                fh.truncate(size)
        give(path)
        return path

    with open(os.path.join(orig, s1), "rb") as fh:
        good = fh.read()
    bad("missing file", os.path.join(work, "0000000100000000000000E0"), "0000000100000000000000E0",
        "No such file")
    bad("empty file", write("0000000100000000000000E1", b""), "0000000100000000000000E1", "empty")
    bad("wrong size", write(s1, good[:8 * MiB]), s1, "file size 8388608 differs")
    bad("garbage", write("0000000100000000000000E2", os.urandom(16 * MiB)), "0000000100000000000000E2",
        "page magic")
    bad("wrong name (not a WAL name)", write("notawalfile", good), "notawalfile", "not a WAL file name")
    bad("wrong name (another segment's content)", write("0000000100000000000000E3", good),
        "0000000100000000000000E3", "is not the start")
    bad("page timeline above the name's", write(s1 + ".partial", good_tli2(good)), "timeline 2 does not fit")
    bad("garbage .history", write("00000009.history", b"this is not a history file\n"), "00000009.history",
        "syntax error")
    bad("garbage .backup", write(s1 + ".00000028.backup", b"hello\n"), "backup history")
    bad("a directory", env.dir("0000000100000000000000E4"), "not a regular file")

    if env.repo_kind == "file":
        concurrent_pushes(env, repo, work, good, write)
    # Not on S3: without a lock, two pushes that both find the name absent
    # both write, and one may overwrite the other after its check passed
    # (doc/archive.md); s3rver also writes a PUT in place, so a concurrent
    # check can read a torn object.  Any assertion here could fail by chance.

    if env.key_file:
        other_key = os.path.join(env.tmp, "other.key")
        pgtest.write_key_file(other_key)
        wrong = os.path.join(env.tmp, "wrong-key.conf")
        repo.write_conf(wrong, other_key, **repo.extra)
        nokey = os.path.join(env.tmp, "no-key.conf")
        repo.write_conf(nokey, None, **repo.extra)
        kout = os.path.join(work, "keyout")
        f = env.fetch_file(repo, s1, kout, conf=wrong)
        r.check("3: fetch with the wrong encryption key is an integrity failure (200)",
                f.returncode == 200 and not os.path.exists(kout), "%d %s" % (f.returncode, f.stderr))
        f = env.fetch_file(repo, s1, kout, conf=nokey)
        r.check("3: fetch of an encrypted object without a key is an integrity failure (200)",
                f.returncode == 200 and not os.path.exists(kout), "%d %s" % (f.returncode, f.stderr))

    # Fetch: absent, usage, help.
    out = os.path.join(work, "out")
    t0 = time.time()
    f = env.fetch_file(repo, "0000000100000000000000F0", out)
    r.check("3: fetch of an absent segment exits 1 quickly", f.returncode == 1 and time.time() - t0 < 5,
            "%d %s" % (f.returncode, f.stderr))
    f = env.fetch_file(repo, "00000063.history", out)
    r.check("3: fetch of an absent history file exits 1", f.returncode == 1, f.stderr)
    f = run([env.fetch, "--config", repo.conf, "pg_wal/RECOVERYXLOG", "000000010000000000000001"], env=repo.env(),
            check=False)
    r.check("3: fetch with swapped arguments is fatal (202), never 'not found'", f.returncode == 202, f.stderr)
    f = run([env.fetch, "--config", os.path.join(env.tmp, "no-such.conf"), s1, out], env=repo.env(), check=False)
    r.check("3: fetch with a missing config file is fatal (202)", f.returncode == 202, f.stderr)
    f = run([env.fetch, "--help"], check=False)
    r.check("3: walship-fetch --help shows the exit code table",
            f.returncode == 0 and all(s in f.stdout for s in ("200", "201", "202", "standby.signal")), f.stdout)


def concurrent_pushes(env, repo, work, good, write):
    """Two processes push the same new name at once (file://: per-name lock)."""
    r = env.r
    z = "00000001" + "00000010" + "00000000"
    za = write(z, with_pageaddr(good, 0x10 << 32))
    zb_dir = env.dir("dup-b")
    zb = os.path.join(zb_dir, z)
    data_b = bytearray(with_pageaddr(good, 0x10 << 32))
    data_b[3 * MiB] ^= 0x55
    with open(zb, "wb") as fh:
        fh.write(data_b)
    give(zb)
    procs = [subprocess.Popen(pgtest.as_user([env.push, "--config", repo.conf, x]), stderr=subprocess.PIPE,
                              text=True) for x in (za, zb)]
    rcs = [pp.wait(timeout=60) for pp in procs]
    errs = [pp.stderr.read() for pp in procs]
    out = os.path.join(work, "zout")
    f = env.fetch_file(repo, z, out)
    ok = sorted(rcs) == [0, 1] and f.returncode == 0
    if ok:
        winner = (za, zb)[rcs.index(0)]
        ok = sha256_file(out) == sha256_file(winner) and "different content" in errs[rcs.index(1)]
    r.check("3: concurrent pushes of different content: exactly one wins, the other is refused", ok,
            "%s %s" % (rcs, errs))
    z2 = "00000001" + "00000011" + "00000000"
    zc = write(z2, with_pageaddr(good, 0x11 << 32))
    procs = [subprocess.Popen(pgtest.as_user([env.push, "--config", repo.conf, zc]), stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    rcs = [pp.wait(timeout=60) for pp in procs]
    r.check("3: concurrent pushes of identical content all succeed", rcs == [0, 0, 0], str(rcs))
    for k in (wal_key(z), wal_key(z2)):
        repo.remove(k)


def good_tli2(seg):
    """seg with xlp_tli 2: invalid under a timeline 1 name."""
    b = bytearray(seg)
    b[4:8] = (2).to_bytes(4, "little")
    return bytes(b)


def with_pageaddr(seg, lsn):
    b = bytearray(seg)
    b[8:16] = lsn.to_bytes(8, "little")
    return bytes(b)


# --- scenario 6: 64 MiB segments -----------------------------------------------------

def scenario_64mib(env, repo_main):
    r = env.r
    # On S3 uncompressed: a 64 MiB segment then exceeds one 16 MiB part, so it
    # is a multipart upload, stored without metadata (doc/s3.md); walship
    # must rely on the object's trailer.
    repo = env.new_repo("repo64", **({"compress": "none"} if env.repo_kind == "s3" else {}))
    orig = env.dir("orig64")
    q = env.cluster("wal64")
    q.initdb("--wal-segsize=64")
    q.base_conf()
    q.conf(archive_mode="on", archive_command=env.archive_command(repo, orig))
    q.start()
    q.psql("create table marker (id int primary key, note text)")
    q.pgbench("-i", "-s", "1", "-q")
    bb = os.path.join(env.tmp, "bb64")
    run([pgtest.PGBIN + "/pg_basebackup", "-D", bb, "-X", "none", "-c", "fast", "-h", q.sockdir, "-p",
         str(q.port), "-U", "postgres", "--no-sync"], timeout=120)
    q.pgbench("-n", "-t", "300", "-c", "2")
    q.psql("insert into marker values (1, 'x')")
    q.switch_wal()
    finish_archiving(q)
    want = q.fingerprint()
    segs = sorted(n for n in os.listdir(orig) if len(n) == 24)
    bad = []
    out = os.path.join(env.dir("scratch6"), "out")
    for n in sorted(os.listdir(orig)):
        f = env.fetch_file(repo, n, out)
        if f.returncode != 0 or sha256_file(out) != sha256_file(os.path.join(orig, n)):
            bad.append(n)
    r.check("6: 64 MiB segments archived and decoded byte-identical (%d segments)" % len(segs),
            len(segs) >= 3 and not bad and all(os.path.getsize(os.path.join(orig, n)) == 64 * MiB for n in segs),
            str(bad))
    if env.repo_kind == "s3":
        log = env.s3.proxy_log(env.https)
        multipart = sorted(set(e["key"] for e in log if e["op"] == "CompleteMultipartUpload" and e["status"] == 200))
        r.check("6: on S3 the segments were multipart uploads, stored without metadata",
                len(multipart) >= len(segs) and all(not repo.meta(wal_key(n)) for n in segs), str(multipart))
    p = env.push_file(repo, os.path.join(orig, segs[0]))
    r.check("6: pushing a 64 MiB segment again: identical content recognised",
            p.returncode == 0 and "already archived with identical content" in p.stderr, p.stderr)
    ident = run([env.walship, "--config", repo.conf, "--key", "repo-get", "repo.identity.ws"], cwd=env.tmp,
                env=repo.env(), check=False)
    r.check("6: the repository records 64 MiB segments", '"wal_segment_size": 67108864' in ident.stdout,
            ident.stdout + ident.stderr)
    rec = make_recovery(env, "rec64", bb, repo)
    rec.start(wait=False)
    wait_promoted(rec)
    r.check("6: recovery of the 64 MiB cluster reaches its data", rec.fingerprint() == want)
    rec.stop()

    # Another cluster's WAL into the first repository is refused.
    main_sysid = env.primary_sysid
    other_sysid = q.controldata()["Database system identifier"]
    keys_before = repo_main.keys()
    p = env.push_file(repo_main, os.path.join(orig, segs[-1]))
    r.check("6: a cluster with another system identifier is refused, naming both",
            one_line_error(p, main_sysid, other_sysid) and repo_main.keys() == keys_before, p.stderr)
    q.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo-kind", default="file", choices=["file", "s3"])
    ap.add_argument("--encryption", default="plain", choices=["plain", "encrypted"])
    ap.add_argument("--s3-transport", choices=["http", "https"],
                    help="how walship reaches the proxy (default: https when encrypted, else http)")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = ap.parse_args()
    if not args.s3_transport:
        args.s3_transport = "https" if args.encryption == "encrypted" else "http"

    why = pgtest.missing_prerequisite()
    if why:
        print("%s: skipped" % why)
        return 77

    env = Env(args)
    print("# repo kind %s%s, %s, temp dir %s" % (args.repo_kind, " over " + args.s3_transport
                                                  if args.repo_kind == "s3" else "", args.encryption, env.tmp),
          flush=True)
    try:
        return run_all(env)
    finally:
        env.stop_s3()  # also on failure (its watchdog would stop it when we exit)


def run_all(env):
    def on_alarm(signum, frame):
        raise TestError("time limit of %d s reached" % TIME_LIMIT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT)
    t0 = time.time()
    steps = []
    # At least this many checks per scenario (pgtest.Results fails a run
    # with fewer): 1 and 2 first, then the steps.
    floor = {"5": 8, "S": 3, "4": 9, "F0": 7, "F": 7, "3": 20, "6": 5}
    env.r.expect(4 + 3)
    try:
        if env.repo_kind == "s3":
            env.start_s3()
            print("# s3env up after %.1f s" % (time.time() - t0), flush=True)
        repo = env.new_repo("repo")
        p, orig, nxt, _ = scenario_archive(env, repo)
        env.primary_sysid = p.controldata()["Database system identifier"]
        bb, want = scenario_recovery(env, repo, p, nxt)
        steps = [
            ("5", lambda: scenario_corruption(env, repo, bb, orig, want)),
            ("S", lambda: scenario_standby(env, repo, bb, orig, want)),
            ("4", lambda: scenario_promotion(env, repo, bb, orig, p)),
        ]
        if env.repo_kind == "s3":
            steps.append(("F0", lambda: scenario_faults(env, repo, bb, orig, 0)))
            steps.append(("F", lambda: scenario_faults(env, repo, bb, orig, None)))
        steps += [
            ("3", lambda: scenario_duplicates(env, repo, orig)),
            ("6", lambda: scenario_64mib(env, repo)),
        ]
    except (TestError, subprocess.TimeoutExpired) as e:
        env.r.check("archive and first recovery", False, str(e))
    env.r.expect(4 + 3 + sum(floor[label] for label, _ in steps))
    for label, fn in steps:
        try:
            fn()
        except (TestError, subprocess.TimeoutExpired, OSError) as e:
            env.r.check("scenario %s ran to the end" % label, False, str(e))
        finally:
            for c in env.clusters:
                if c.running() and c.name != "primary":
                    c.stop("immediate")
    signal.alarm(0)
    return env.finish(t0)


if __name__ == "__main__":
    sys.exit(main())
