#!/usr/bin/env python3
"""test_push_requests.py - what walship-push and walship-fetch send to S3,
counted in the verifying proxy's log (s3rver behind test/proxy/s3proxy.py).

  A  PostgreSQL 15 archives through archive_command = walship-push (look-ahead
     off): every new segment costs HEAD (404), PUT and the index entry's PUT
     with s3_conditional_put = off, the conditional PUT and the index PUT
     with it on; the identity is read only by the first call; no GET is
     abandoned (the proxy's aborted count is 0) and no answer is cut.
  B  single calls, counted exactly (the segments PostgreSQL archived, pushed
     again into new repositories the way the archiver calls walship-push):
     a new segment (3 requests; 2 conditional), of which the index entry's
     PUT comes after the exit status (with every PUT held 3 s by the proxy
     the call exits with its segment stored and its entry not yet; the
     entry follows; a failed index PUT is a warning), an identical duplicate
     (exit 0, nothing written; conditional: one 412 then the examination),
     different content under the name (refused, the object untouched) under
     both settings, a failing existence check (not conditional: no PUT, one
     error line), two pushes of one new name with different content at once
     (conditional: exactly one stores).
  C  the identity cache: a replaced identity (another cluster's) and a
     removed one are detected once the cache is old; a failed push forgets
     the cache.
  D  walship-fetch: a segment is 1 request; "not found" in standby mode reads
     the identity once and then trusts the cache; in archive recovery it
     reads it every time.

Needs WS_BUILD_DIR, S3ENV; prints "N passed, M failed"; exit 77 when
PostgreSQL 15 or the postgres user is missing.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402
from pgtest import S3Repo, TestError, give, run, wal_key  # noqa: E402

TIME_LIMIT = 400
IDENTITY = "repo.identity.ws"
SEG = 16 << 20
WRITES = ("PutObject", "CompleteMultipartUpload", "UploadPart", "CreateMultipartUpload")


def index_key(name):
    return "index/%s/%s.ws" % (name[:16], name)


class Env(pgtest.TestEnv):
    """pgtest.TestEnv (s3://), the primary of scenario A and what counts requests."""

    def __init__(self):
        super().__init__("s3", prefix="walship-req-", port_base=5900)
        self.primary = None

    def repo(self, name, **settings):
        base = {"archive_lookahead": 0, "prefetch": 0}
        base.update(settings)
        return S3Repo(self.tmp, name, self.s3, settings=base)

    def log_since(self, seq):
        """Proxy log entries after seq (complete: every numbered request is in)."""
        return [e for e in self.s3.proxy_log_complete(False) if e["seq"] > seq]

    def last_seq(self):
        log = self.s3.proxy_log_complete(False)
        return max((e["seq"] for e in log), default=0)

    def pgwal(self, name):
        """A pg_wal directory as PostgreSQL's archiver calls walship-push in
        (archive_status/ beside, so walship-archive/ and its cache are used)."""
        d = os.path.join(self.tmp, name, "pg_wal")
        os.makedirs(os.path.join(d, "archive_status"), exist_ok=True)
        give(os.path.join(self.tmp, name))
        return d

    def push_call(self, repo, path):
        return run([self.push, "--config", repo.conf, path], env=repo.env(), timeout=60, check=False)

    def counted_push(self, repo, path):
        """Runs one walship-push; returns (process, its log entries)."""
        seq = self.last_seq()
        p = self.push_call(repo, path)
        return p, self.log_since(seq)


def wait_for(what, cond, timeout=30):
    """Polls cond() for up to timeout seconds; raises TestError naming what."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TestError("%s: not after %d s" % (what, timeout))
        time.sleep(0.1)


def ops(entries, key=None):
    """(operation, status) of the entries, of key only when given (a repo-relative key)."""
    return [(e["op"], e["status"]) for e in entries if key is None or e["key"].endswith("/" + key)]


def put_segment(pgwal, src, name=None, patch=None):
    """Copies a segment into pg_wal (optionally patched: (offset, bytes))."""
    dst = os.path.join(pgwal, name or os.path.basename(src))
    with open(src, "rb") as f:
        data = bytearray(f.read())
    if patch:
        off, b = patch
        data[off:off + len(b)] = b
    with open(dst, "wb") as f:
        f.write(data)
    give(dst)
    return dst


def age_cache(path, seconds):
    """Makes the identity cache record look read `seconds` earlier (its check
    line recomputed: doc/format.md, "Repository identity cache")."""
    with open(path) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        if line.startswith("checked "):
            line = "checked %d" % (int(line.split()[1]) - seconds)
        if line.startswith("check "):
            body = "".join(x + "\n" for x in out)
            line = "check " + hashlib.sha256(body.encode()).hexdigest()
        out.append(line)
    with open(path, "w") as f:
        f.write("".join(x + "\n" for x in out))
    give(path)


# --- A: PostgreSQL archiving ------------------------------------------------

def archive_through_postgres(env, repo, orig, switches):
    """Makes `switches` segment switches; returns (names archived, log entries)."""
    c = env.primary
    before = set(os.listdir(orig))
    seq = env.last_seq()
    last = None
    for i in range(switches):
        c.psql("insert into t select g, md5(g::text) from generate_series(1, 2000) g")
        last = c.switch_wal()
    c.wait_archived(last, timeout=120)
    names = sorted(set(os.listdir(orig)) - before)
    # Each call's index entry is stored after its exit status.
    wait_for("the index entries of %s" % names, lambda: all(repo.exists(index_key(n)) for n in names))
    return names, env.log_since(seq)


def check_archiving(env, label, names, log, conditional):
    r = env.r
    bad = []
    want_seg = [("PutObject", 200)] if conditional else [("HeadObject", 404), ("PutObject", 200)]
    for n in names:
        seg = ops(log, wal_key(n))
        idx = ops(log, index_key(n))
        if seg != want_seg or idx != [("PutObject", 200)]:
            bad.append("%s: %s + %s" % (n, seg, idx))
    r.check_all("A %s: each new segment costs %d requests (%s + the index PUT)" % (label, len(want_seg) + 1, want_seg),
                names, bad, "; ".join(bad[:4]))
    others = [e for e in log if not any(e["key"].endswith("/" + k) for n in names
                                        for k in (wal_key(n), index_key(n)))]
    ident = [e for e in others if e["key"].endswith("/" + IDENTITY)]
    # The first call records it: GET (404), GET under the lock (404), PUT, GET.
    r.check("A %s: %d requests for %d segments; the identity read only by the first call (%d), nothing else" % (
        label, len(log), len(names), len(ident)), len(ident) <= 4 and len(others) == len(ident),
        [(e["op"], e["key"], e["status"]) for e in others][:8])
    cut = [e for e in log if e["status"] is None or e.get("aborted")]
    r.check("A %s: no answer cut, no GET abandoned" % label, not cut, cut[:3])


def scenario_a(env, orig):
    r = env.r
    c = env.primary = env.cluster("primary")
    c.initdb()
    c.base_conf()
    off = env.repo("a_off")
    on = env.repo("a_on", s3_conditional_put="on")
    cmd = "%s --config %%s %%%%p && cp %%%%p %s/%%%%f" % (env.push, orig)
    c.conf(archive_mode="on", archive_command=cmd % off.conf)
    c.start()
    c.psql("create table t (id int, v text)")
    env.s3.proxy_reset(False)
    names, log = archive_through_postgres(env, off, orig, 5)
    r.check("A off: PostgreSQL archived the switched segments (%d)" % len(names), len(names) >= 5, names)
    check_archiving(env, "off", names, log, False)
    c.psql("alter system set archive_command = '%s'" % (cmd % on.conf).replace("'", "''"))
    c.psql("select pg_reload_conf()")
    time.sleep(1)
    names, log = archive_through_postgres(env, on, orig, 5)
    check_archiving(env, "on", names, log, True)
    stats = env.s3.control(False, "GET", "stats")
    r.check("A: the proxy counted no aborted answer (%s)" % stats.strip(), '"aborted": 0' in stats, stats)
    failed = c.psql("select failed_count from pg_stat_archiver")
    r.check("A: the archiver reports no failed walship-push", failed == "0", c.log_tail())
    c.stop()
    return sorted(n for n in os.listdir(orig) if len(n) == 24)


# --- B: single calls ----------------------------------------------------------

def scenario_b(env, segs):
    r = env.r
    first, second = segs[0], segs[1]
    for setting in ("off", "on"):
        repo = env.repo("b_" + setting, s3_conditional_put=setting)
        wal = env.pgwal("b_" + setting)
        p, _ = env.counted_push(repo, put_segment(wal, os.path.join(env.orig, first)))
        r.check("B %s: first push of a new repository" % setting, p.returncode == 0, p.stderr)
        p, log = env.counted_push(repo, put_segment(wal, os.path.join(env.orig, second)))
        want = ([("PutObject", 200)] if setting == "on" else [("HeadObject", 404), ("PutObject", 200)]) + \
            [("PutObject", 200)]
        r.check("B %s: a new segment: %s" % (setting, want), p.returncode == 0 and ops(log) == want,
                "%s %s" % (ops(log), p.stderr))
        stored = repo.read(wal_key(second))
        if setting == "on":
            after_exit(env, repo, wal, segs[2], segs[4])
        # An identical duplicate: exit 0, nothing written.
        p, log = env.counted_push(repo, os.path.join(wal, second))
        writes = [e for e in log if e["op"] in WRITES and e["status"] == 200]
        refused = [e for e in log if e["op"] == "PutObject" and e["status"] == 412]
        r.check("B %s: an identical duplicate: exit 0, nothing stored (%s)" % (setting, ops(log)),
                p.returncode == 0 and not writes and "identical" in p.stderr and
                (len(refused) == 1 if setting == "on" else not refused), "%s %s" % (ops(log), p.stderr))
        cut = [e for e in log if e["op"] == "GetObject" and (e["status"] != 206 or e.get("aborted"))]
        r.check("B %s: the duplicate is examined by ranged reads only, none abandoned" % setting,
                not cut and any(e["op"] == "GetObject" for e in log), ops(log))
        # Different content under the name: refused, the object untouched.
        put_segment(wal, os.path.join(env.orig, second), patch=(SEG - 64, os.urandom(16)))
        p, log = env.counted_push(repo, os.path.join(wal, second))
        r.check("B %s: different content under the name: refused, not overwritten" % setting,
                p.returncode != 0 and "not overwritten" in p.stderr and repo.read(wal_key(second)) == stored,
                "%d %s %s" % (p.returncode, ops(log), p.stderr))
        if setting == "off":
            head_fails(env, repo, wal, segs[5])
            continue  # without a conditional PUT two pushes of one name race (doc/archive.md)
        # Two pushes of one new name with different content at once.
        wal2 = env.pgwal("b2_" + setting)
        name = segs[3]
        a = put_segment(wal, os.path.join(env.orig, name))
        b = put_segment(wal2, os.path.join(env.orig, name), patch=(SEG - 64, os.urandom(16)))
        procs = [subprocess.Popen(pgtest.as_user([env.push, "--config", repo.conf, path]),
                                  env=dict(os.environ, **repo.env()), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for path in (a, b)]
        outs = [pr.communicate(timeout=60) for pr in procs]
        codes = [pr.returncode for pr in procs]
        if setting == "on":
            r.check("B on: two pushes of one new name at once: exactly one stores (exit %s)" % codes,
                    sorted(codes) == [0, 1] and any("not overwritten" in o[1] for o in outs), outs)
            with open(a if codes[0] == 0 else b, "rb") as f:
                winner = hashlib.sha256(f.read()).hexdigest()
            fetched = os.path.join(env.tmp, "race-out")
            run([env.fetch, "--config", repo.conf, name, fetched], env=repo.env(), timeout=60)
            with open(fetched, "rb") as f:
                r.check("B on: the stored object is the winner's", hashlib.sha256(f.read()).hexdigest() == winner)


def after_exit(env, repo, wal, name, fail_name):
    """The index entry's PUT follows the call's exit status: with every PUT
    held 3 s, the call exits once its segment is stored, before its entry is."""
    r = env.r
    path = put_segment(wal, os.path.join(env.orig, name))
    env.s3.proxy_config(False, only=["PutObject"], next=["delay", "delay"], delay_seconds=3.0)
    try:
        seq = env.last_seq()
        # Output to a file, as PostgreSQL's server log: a pipe would wait for
        # the detached index writer.
        with open(os.path.join(env.tmp, "after-exit.err"), "w+") as err:
            p = subprocess.run(pgtest.as_user([env.push, "--config", repo.conf, path]),
                               env=dict(os.environ, **repo.env()), stdout=err, stderr=err, timeout=60)
            at_exit = (repo.exists(wal_key(name)), repo.exists(index_key(name)))
            err.seek(0)
            msg = err.read()
        r.check("B on: with every PUT held 3 s, the call exits with its segment stored and its index entry "
                "not yet (%s)" % (at_exit,), p.returncode == 0 and at_exit == (True, False), msg)
        wait_for("the index entry of %s" % name, lambda: repo.exists(index_key(name)))
        log = env.log_since(seq)
        r.check("B on: ... the entry is stored after the exit: %s" % ops(log),
                ops(log) == [("PutObject", 200), ("PutObject", 200)] and
                ops(log, index_key(name)) == [("PutObject", 200)], ops(log))
    finally:
        env.s3.proxy_config(False, only=None, next=[], delay_seconds=1.0)
    # The entry's PUT fails (every PUT after the segment's answers 500): the
    # call has succeeded all the same, and the server log gets a warning.
    failing = repo.variant("b_on_failing", s3_retry_budget=1)
    name = fail_name
    path = put_segment(wal, os.path.join(env.orig, name))
    errfile = os.path.join(env.tmp, "after-exit-fail.err")
    env.s3.proxy_config(False, only=["PutObject"], next=["delay"], delay_seconds=0.0, fault_rate=1.0, faults=["500"])
    try:
        with open(errfile, "w") as err:
            p = subprocess.run(pgtest.as_user([env.push, "--config", failing.conf, path]),
                               env=dict(os.environ, **repo.env()), stdout=err, stderr=err, timeout=60)

        def warned():
            with open(errfile) as f:
                return "is archived, but after that: store the WAL index entry of %s" % name in f.read()
        wait_for("the warning about the index entry of %s" % name, warned)
        with open(errfile) as f:
            msg = f.read()
        r.check("B on: a failed index PUT after the exit: exit 0, segment stored, no entry, one warning line",
                p.returncode == 0 and repo.exists(wal_key(name)) and not repo.exists(index_key(name)) and
                len([x for x in msg.splitlines() if "WARNING" in x]) == 1, msg)
    finally:
        env.s3.proxy_config(False, only=None, next=[], delay_seconds=1.0, fault_rate=0.0)


def head_fails(env, repo, wal, name):
    """The existence check, sent while the file is encoded, fails (every HEAD
    answers 503 until the retry budget is spent): the PUT is never sent."""
    failing = repo.variant("b_off_headfail", s3_retry_budget=1)
    path = put_segment(wal, os.path.join(env.orig, name))
    env.s3.proxy_config(False, only=["HeadObject"], fault_rate=1.0, faults=["503"])
    try:
        p, log = env.counted_push(failing, path)
    finally:
        env.s3.proxy_config(False, only=None, fault_rate=0.0)
    lines = p.stderr.strip().splitlines()
    env.r.check("B off: the existence check fails: exit 1, one error line naming the object, no PUT, nothing stored",
                p.returncode == 1 and len(lines) == 1 and wal_key(name) in lines[0] and
                not [e for e in log if e["op"] in WRITES] and not repo.exists(wal_key(name)),
                "%d %s %r" % (p.returncode, ops(log), p.stderr))


# --- C: the identity cache ----------------------------------------------------

def scenario_c(env, segs):
    r = env.r
    repo = env.repo("c")
    other = env.repo("c_other")
    wal = env.pgwal("c")
    cache = os.path.join(wal, "walship-archive", "identity")
    p = env.push_call(repo, put_segment(wal, os.path.join(env.orig, segs[0])))
    r.check("C: first push records the identity and the cache", p.returncode == 0 and os.path.isfile(cache),
            p.stderr)
    # Another cluster's identity: a segment whose page header carries another
    # system identifier (XLogLongPageHeaderData.xlp_sysid at byte 24).
    owal = env.pgwal("c_other")
    p = env.push_call(other, put_segment(owal, os.path.join(env.orig, segs[0]), patch=(24, b"\x01" * 8)))
    r.check("C: another cluster's repository made", p.returncode == 0, p.stderr)
    mine, meta = repo.read_with_meta(IDENTITY)
    theirs, tmeta = other.read_with_meta(IDENTITY)
    repo._put(IDENTITY, theirs, tmeta)
    p, log = env.counted_push(repo, put_segment(wal, os.path.join(env.orig, segs[1])))
    r.check("C: within the cache's lifetime the identity is not read", p.returncode == 0 and
            not ops(log, IDENTITY), "%s %s" % (ops(log), p.stderr))
    age_cache(cache, 400)
    p, log = env.counted_push(repo, put_segment(wal, os.path.join(env.orig, segs[2])))
    r.check("C: an old cache reads the identity again: another cluster's is refused",
            p.returncode != 0 and "system identifier" in p.stderr and ops(log, IDENTITY) and
            not repo.exists(wal_key(segs[2])), "%d %s %s" % (p.returncode, ops(log), p.stderr))
    r.check("C: the failed push removed the cache", not os.path.exists(cache))
    repo._put(IDENTITY, mine, meta)
    p = env.push_call(repo, os.path.join(wal, segs[2]))
    r.check("C: with its own identity back, the push succeeds and caches it",
            p.returncode == 0 and os.path.isfile(cache), p.stderr)
    # Removed: an old cache proves there was one; it is not made anew.
    repo.remove(IDENTITY)
    age_cache(cache, 400)
    p, log = env.counted_push(repo, put_segment(wal, os.path.join(env.orig, segs[3])))
    r.check("C: a vanished identity is refused, not recorded anew",
            p.returncode != 0 and "vanished" in p.stderr and not repo.exists(IDENTITY) and
            not repo.exists(wal_key(segs[3])), "%d %s %s" % (p.returncode, ops(log), p.stderr))
    repo._put(IDENTITY, mine, meta)
    return repo


# --- D: walship-fetch ---------------------------------------------------------

def fake_datadir(env, name, signal_file):
    d = os.path.join(env.tmp, name)
    os.makedirs(os.path.join(d, "global"), exist_ok=True)
    os.makedirs(os.path.join(d, "pg_wal", "archive_status"), exist_ok=True)
    shutil.copy(os.path.join(env.primary.datadir, "global", "pg_control"), os.path.join(d, "global"))
    open(os.path.join(d, signal_file), "w").close()
    give(d)
    return d


def scenario_d(env, repo, segs):
    r = env.r
    bad = []
    for n in segs[:3]:
        out = os.path.join(env.tmp, "d-out")
        seq = env.last_seq()
        p = run([env.fetch, "--config", repo.conf, n, out], env=repo.env(), timeout=60, check=False)
        got = ops(env.log_since(seq))
        if p.returncode != 0 or got != [("GetObject", 200)]:
            bad.append("%s: exit %d %s %s" % (n, p.returncode, got, p.stderr))
    r.check_all("D: a fetch is 1 request (GET)", segs[:3], bad, "; ".join(bad))
    absent = "0000000100000000000000FE"
    for mode, signal_file, want in (("standby", "standby.signal", [2, 1, 1]),
                                    ("archive recovery", "recovery.signal", [2, 2])):
        d = fake_datadir(env, "d_" + signal_file.split(".")[0], signal_file)
        got = []
        codes = []
        for _ in want:
            seq = env.last_seq()
            p = run([env.fetch, "--config", repo.conf, absent, "pg_wal/RECOVERYXLOG"], cwd=d, env=repo.env(),
                    timeout=60, check=False)
            got.append(len(env.log_since(seq)))
            codes.append(p.returncode)
        r.check("D %s: \"not found\" costs %s requests in successive calls (got %s, exits %s)" % (
            mode, want, got, codes), got == want and codes == [1] * len(want), got)


def main():
    why = pgtest.missing_prerequisite()
    if why:
        print("%s: skipped" % why)
        return 77
    env = Env()

    def on_alarm(signum, frame):
        raise TestError("time limit of %d s reached" % TIME_LIMIT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT)
    env.r.expect(34)
    try:
        env.start_s3()
        env.orig = os.path.join(env.tmp, "orig")
        os.makedirs(env.orig)
        give(env.orig)
        segs = scenario_a(env, env.orig)
        scenario_b(env, segs)
        repo = scenario_c(env, segs)
        scenario_d(env, repo, segs)
    except (TestError, subprocess.TimeoutExpired) as e:
        env.r.check("scenarios ran to the end", False, str(e))
    finally:
        signal.alarm(0)
    return env.finish()


if __name__ == "__main__":
    sys.exit(main())
