#!/usr/bin/env python3
"""test_archive_ahead.py - walship-push's parallel look-ahead with PostgreSQL 15.

A primary archives with
  archive_command = 'test ! -e PAUSE && walship-push --config C %p && cp %p ORIG/%f'
(the PAUSE file lets a scenario build a backlog of .ready files; `cp` after
walship-push keeps the originals: PostgreSQL calls for every file, also for
those walship archived ahead, before it marks it .done).  wal_keep_size and
checkpoint settings keep every segment in pg_wal for the whole test.

Scenarios, in order:
  A  a backlog, then pgbench with forced switches: every archived file is
     byte-identical, look-ahead happened (the log says so, and PostgreSQL's
     later calls consumed the acks), no ack is left, the backlog was reported
  B  one .ready file of a backlog is damaged: it is never acknowledged, the
     others are; PostgreSQL's own call fails until it is repaired, then
     archives it correctly
  F  (s3) uploads failing at random through the proxy: acks only for
     objects that are stored and match
  C  walship-push killed (SIGKILL) at random moments during look-ahead:
     after every kill each ack left matches a durable object (decoded with
     walship repo-get: SHA-256 and size) and the file in pg_wal
  D  garbled, renamed, foreign-repository and stale acks (file replaced or
     modified) are not trusted; an ack written from doc/format.md's
     description is; a look-ahead that runs after PostgreSQL's call
     consumed an ack but before the .done rename writes no new ack
  E  PostgreSQL's call for a name whose lock a look-ahead worker holds
     waits, then finds the ack; a look-ahead worker leaves a locked name
     alone; concurrent calls of several processes
At the end PostgreSQL archives everything left and every file is checked.

Usage: test_archive_ahead.py [--repo-kind file|s3] [--keep]
Needs WS_BUILD_DIR (the meson build root).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15, the postgres user or (s3) the S3
test environment is missing.
"""

import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pgtest  # noqa: E402
from pgtest import TestError, give, run, sha256_file, wal_key  # noqa: E402

TIME_LIMIT = 900  # seconds for the whole script (meson's timeout is larger)
MiB = 1 << 20
ACK_FIELDS = ["walship-ack", "name", "repo", "size", "sha256", "file-dev", "file-ino", "file-size",
              "file-mtime-ns", "file-ctime-ns", "check"]


# --- ack files as doc/format.md describes them ------------------------------------

def ack_text(name, repo_url, path):
    """An ack for the file at path, written from the documented format."""
    st = os.stat(path)
    body = ("walship-ack 1\nname %s\nrepo %s\nsize %d\nsha256 %s\nfile-dev %d\nfile-ino %d\nfile-size %d\n"
            "file-mtime-ns %d\nfile-ctime-ns %d\n" % (name, repo_url, st.st_size, sha256_file(path), st.st_dev,
                                                     st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return body + "check %s\n" % hashlib.sha256(body.encode()).hexdigest()


def ack_parse(text):
    """The fields of an ack, or None when it is not a valid one."""
    lines = text.split("\n")
    if len(lines) != len(ACK_FIELDS) + 1 or lines[-1] != "":
        return None
    d = {}
    for k, line in zip(ACK_FIELDS, lines):
        if not line.startswith(k + " "):
            return None
        d[k] = line[len(k) + 1:]
    body = "\n".join(lines[:-2]) + "\n"
    if d["walship-ack"] != "1" or hashlib.sha256(body.encode()).hexdigest() != d["check"]:
        return None
    return d


def lock_slot(name):
    """walship's per-name lock file number (FNV-1a, 64 files; archive_lock.c)."""
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h % 64


# --- the environment ------------------------------------------------------------------

class Env(pgtest.TestEnv):
    """pgtest.TestEnv, the archiver's PAUSE file and the scenarios' random numbers."""

    def __init__(self, args):
        super().__init__(args.repo_kind, keep=args.keep, prefix="walship-ahead-", port_base=5900)
        self.pause = os.path.join(self.tmp, "PAUSE")
        self.rng = random.Random(5)

    def spawn(self, argv, cwd):
        """Starts argv as the server user, with the servers' environment; the
        Popen's pid is the program's own (no runuser in between), so SIGKILL
        reaches walship-push itself."""
        kw = {}
        if os.geteuid() == 0:
            kw = dict(user="postgres", group="postgres", extra_groups=[])
        env = {k: v for k, v in os.environ.items() if not k.startswith("WALSHIP_")}
        env.update(self.server_env)
        return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                **kw)

    def push_call(self, c, conf, name, timeout=120):
        """A call as PostgreSQL makes it: cwd the data directory, %p = pg_wal/NAME."""
        p = self.spawn([self.push, "--config", conf, "pg_wal/" + name], c.datadir)
        out, err = p.communicate(timeout=timeout)
        return p.returncode, err


class Repo:
    """The repository (file:// or s3://) with config files for its variants."""

    def __init__(self, env, name):
        self.env = env
        if env.kind == "file":
            self.url = "file://" + os.path.join(env.tmp, name)
            self.base = {"repo": self.url}
            env.dir(name)  # walship never creates a missing root
        else:
            v = env.s3.vars
            self.url = "s3://%s/%s-%d" % (v["S3ENV_BUCKET"], name, os.getpid())
            self.base = {"repo": self.url, "s3_endpoint": v["S3ENV_HTTP_ENDPOINT"], "s3_region": "us-east-1"}
        self.base.update(log_level="info", archive_workers="2", archive_lookahead="8")
        self.conf = self.variant("main")

    def variant(self, label, **settings):
        s = dict(self.base)
        s.update({k: str(v) for k, v in settings.items()})
        path = os.path.join(self.env.tmp, "walship-%s.conf" % label)
        with open(path, "w") as f:
            for k, v in s.items():
                f.write("%s = %s\n" % (k, v))
        give(path)
        return path

    def keys(self, prefix="wal/"):
        p = run([self.env.walship, "--config", self.conf, "repo-ls", prefix], env=self.env.server_env, timeout=120)
        return sorted(line.split()[0] for line in p.stdout.splitlines() if line.strip())

    def decoded_sha(self, name):
        """SHA-256 and size of the object of WAL file name, decoded and verified
        by walship; (None, None) when it cannot be read."""
        out = os.path.join(self.env.dir("scratch"), "obj")
        if os.path.exists(out):
            os.unlink(out)
        p = run([self.env.walship, "--config", self.conf, "--key", "repo-get", wal_key(name), out],
                env=self.env.server_env, timeout=120, check=False)
        if p.returncode != 0:
            return None, None
        return sha256_file(out), os.path.getsize(out)


# --- the cluster's pg_wal ---------------------------------------------------------------

def pg_wal(c):
    return os.path.join(c.datadir, "pg_wal")


def status_names(c, suffix):
    d = os.path.join(pg_wal(c), "archive_status")
    return sorted(n[:-len(suffix)] for n in os.listdir(d) if n.endswith(suffix))


def ready_in_order(c):
    names = status_names(c, ".ready")
    return [n for n in names if n.endswith(".history")] + [n for n in names if not n.endswith(".history")]


def ack_dir(c):
    return os.path.join(pg_wal(c), "walship-archive")


def ack_names(c):
    d = ack_dir(c)
    if not os.path.isdir(d):
        return []
    return sorted(n[:-4] for n in os.listdir(d) if n.endswith(".ack"))


def temp_files(c):
    d = ack_dir(c)
    return [n for n in os.listdir(d) if n.startswith(".")] if os.path.isdir(d) else []


def mark_done(c, name):
    """What PostgreSQL does after a successful archive_command."""
    d = os.path.join(pg_wal(c), "archive_status")
    os.rename(os.path.join(d, name + ".ready"), os.path.join(d, name + ".done"))


def write_ack(c, name, text):
    path = os.path.join(ack_dir(c), name + ".ack")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    give(path)


def make_backlog(c, n, tag):
    """n new segments with the archiver paused; returns their names."""
    names = []
    for i in range(n):
        c.psql("insert into marker values (default, '%s %d')" % (tag, i))
        names.append(c.switch_wal())
    return names


def pause(env, on):
    if on:
        open(env.pause, "w").close()
    elif os.path.exists(env.pause):
        os.unlink(env.pause)


def wait_caught_up(c, timeout=180):
    """Unpaused: wakes the archiver and waits until no .ready file is left."""
    c.psql("insert into marker values (default, 'wake')")
    last = c.switch_wal()
    c.wait_archived(last, timeout)
    end = time.time() + timeout
    while time.time() < end:
        if not status_names(c, ".ready"):
            return
        time.sleep(0.3)
    raise TestError("%s: .ready files left after %d s: %s" % (c.name, timeout, status_names(c, ".ready")))


def check_acks(env, c, repo, seen=None):
    """Every ack in pg_wal/walship-archive must parse, name a file whose
    identity it records, and be backed by a stored object that decodes to
    the SHA-256 and size it records.  Returns a list of problems; seen (a
    list) receives the names of the acks looked at."""
    bad = []
    for name in ack_names(c):
        if seen is not None:
            seen.append(name)
        try:
            with open(os.path.join(ack_dir(c), name + ".ack")) as f:
                a = ack_parse(f.read())
        except FileNotFoundError:
            continue
        if a is None or a["name"] != name:
            bad.append("%s: not a valid ack" % name)
            continue
        path = os.path.join(pg_wal(c), name)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            bad.append("%s: acknowledged, but the file is gone" % name)
            continue
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        rec = tuple(int(a[k]) for k in ("file-dev", "file-ino", "file-size", "file-mtime-ns", "file-ctime-ns"))
        if ident != rec:
            bad.append("%s: identity %s recorded, file has %s" % (name, rec, ident))
        if a["repo"] != repo.url:
            bad.append("%s: repo %s" % (name, a["repo"]))
        sha, size = repo.decoded_sha(name)
        if sha is None:
            bad.append("%s: acknowledged but its object cannot be read" % name)
        elif sha != a["sha256"] or size != int(a["size"]):
            bad.append("%s: object decodes to %s/%d, ack says %s/%s" % (name, sha, size, a["sha256"], a["size"]))
        elif sha != sha256_file(path):
            bad.append("%s: object differs from the file in pg_wal" % name)
    return bad


def log_lines(c, needle, since=0):
    return [line for line in c.log_text()[since:].splitlines() if needle in line]


def archived_ahead(c, since=0):
    """Names walship-push reported as archived ahead ("archived X ahead (...")."""
    return {line.split("INFO: archived ", 1)[1].split()[0] for line in log_lines(c, "INFO: archived ", since)
            if " ahead (" in line}


def consumed_acks(c, since=0):
    """Names PostgreSQL's calls found archived ahead: "X was archived ahead (sha256 ...", or, when the
    call came while the background look-ahead was storing X and waited for its lock, "X was archived
    ahead by another walship-push (sha256 ..."."""
    return {line.split("INFO: ", 1)[1].split()[0] for line in log_lines(c, " was archived ahead ", since)
            if " was archived ahead (sha256" in line or " was archived ahead by another walship-push" in line}


# --- scenario A -------------------------------------------------------------------------

def scenario_keepup(env, c, repo, orig):
    r = env.r
    pause(env, True)
    backlog = make_backlog(c, 12, "A")
    ready = status_names(c, ".ready")
    r.check("A: a backlog of %d .ready files" % len(ready), len(ready) >= 12, ready)
    since = len(c.log_text())
    pause(env, False)
    bg = c.pgbench_bg("-n", "-c", "2", "-T", "8")
    end = time.time() + 8
    while time.time() < end:
        c.psql("insert into marker values (default, 'A traffic')")
        c.switch_wal()
        time.sleep(0.4)
    _, errs = bg.communicate(timeout=120)
    if bg.returncode != 0:
        raise TestError("pgbench failed: %s" % errs)
    wait_caught_up(c)
    problems = log_lines(c, "walship-push: ERROR", since) + log_lines(c, "walship-push: WARNING", since)
    r.check("A: no walship-push error or warning once archiving resumed", not problems, problems[:5])
    files = sorted(os.listdir(orig))
    bad = []
    for n in files:
        sha, _ = repo.decoded_sha(n)
        if sha != sha256_file(os.path.join(orig, n)):
            bad.append(n)
    r.check("A: every archived file decodes byte-identical (%d files)" % len(files),
            len(files) >= 20 and not bad and set(backlog) <= set(files), "bad: %s; files %d" % (bad[:5], len(files)))
    r.check("A: the repository holds exactly the files PostgreSQL archived",
            repo.keys("wal/") == sorted(wal_key(n) for n in files),
            "%s vs %s" % (repo.keys("wal/")[:5], files[:5]))
    ahead = archived_ahead(c, since)
    consumed = consumed_acks(c, since)
    r.check("A: look-ahead happened (%d files archived ahead)" % len(ahead), len(ahead) >= 8, c.log_tail(30))
    r.check("A: PostgreSQL's later calls returned at once for them (%d acks consumed)" % len(consumed),
            ahead and ahead <= consumed, "ahead %s, consumed %s" % (sorted(ahead)[:5], sorted(consumed)[:5]))
    r.check("A: no ack and no temp file left behind", not ack_names(c) and not temp_files(c),
            "%s %s" % (ack_names(c), temp_files(c)))
    summaries = log_lines(c, "look-ahead with", since)
    r.check("A: no look-ahead job failed", summaries and not any(" 0 failed" not in s for s in summaries),
            summaries[:5])
    behind = log_lines(c, "archiving is behind")
    r.check("A: the backlog was reported (NOTICE) naming the count and the oldest",
            behind and "NOTICE" in behind[0] and "WAL files wait" in behind[0] and "no WAL is dropped" in behind[0],
            behind[:2])


# --- scenario B -------------------------------------------------------------------------

def scenario_one_fails(env, c, repo, orig):
    r = env.r
    pause(env, True)
    names = make_backlog(c, 6, "B")
    victim = names[2]
    vpath = os.path.join(pg_wal(c), victim)
    with open(vpath, "r+b") as f:
        saved = f.read(8)
        f.seek(0)
        f.write(b"\0" * 8)  # page magic gone: walship refuses the file
    since = len(c.log_text())
    pause(env, False)
    c.psql("insert into marker values (default, 'B wake')")
    c.switch_wal()
    end = time.time() + 60
    while time.time() < end and not log_lines(c, "walship-push: ERROR", since):
        time.sleep(0.3)
    ahead_warn = log_lines(c, "could not archive %s ahead" % victim, since)
    own = log_lines(c, "walship-push: ERROR", since)
    r.check("B: the damaged file failed as a look-ahead job, with the cause",
            ahead_warn and "page magic" in ahead_warn[0], c.log_tail(20))
    r.check("B: PostgreSQL's own call for it fails with a one-line error naming it; it stays .ready",
            own and victim in own[0] and "page magic" in own[0] and victim in status_names(c, ".ready"),
            c.log_tail(10))
    r.check("B: it is never acknowledged and never stored",
            victim not in ack_names(c) and wal_key(victim) not in repo.keys("wal/"), ack_names(c))
    later = [n for n in names[3:]]
    acked = ack_names(c)
    r.check("B: the files after it were archived ahead and acknowledged",
            all(n in acked for n in later), "later %s, acks %s" % (later, acked))
    seen = []
    bad = check_acks(env, c, repo, seen)
    r.check_all("B: every ack matches a durable object and the file", seen, bad)
    with open(vpath, "r+b") as f:
        f.write(saved)
    wait_caught_up(c)
    sha, _ = repo.decoded_sha(victim)
    r.check("B: once repaired, PostgreSQL's call archives it byte-identical",
            sha is not None and sha == sha256_file(os.path.join(orig, victim)) == sha256_file(vpath))
    consumed = consumed_acks(c, since)
    r.check("B: and the acks of the files after it were consumed", set(later) <= consumed and not ack_names(c),
            "%s %s" % (sorted(consumed)[-6:], ack_names(c)))


# --- scenario F (s3): random upload failures -------------------------------------------------

def scenario_faults(env, c, repo):
    r = env.r
    conf = repo.variant("faults", s3_retry_budget="1", s3_request_timeout="2")
    pause(env, True)
    make_backlog(c, 9, "F")
    env.s3.proxy_config(False, fault_rate=0.8, faults=["500", "503"], only=["PutObject", "UploadPart"], seed=11)
    warn = stored = 0
    bad = []
    seen = []
    codes = []
    for _ in range(4):
        ready = ready_in_order(c)
        if not ready:
            break
        rc, err = env.push_call(c, conf, ready[0])
        codes.append(rc)
        warn += err.count("could not archive")
        stored += err.count(" ahead (")
        if rc == 0:
            mark_done(c, ready[0])
        bad += check_acks(env, c, repo, seen)
    env.s3.proxy_reset(False)
    r.check("F: with uploads failing at random, calls exit 0 or 1 (%s); %d look-ahead failures, %d stored ahead"
            % (codes, warn, stored), all(x in (0, 1) for x in codes) and warn > 0, codes)
    r.check_all("F: every ack matches a durable object and the file", seen, bad)


# --- scenario C: kill -9 -----------------------------------------------------------------

def scenario_crash(env, c, repo):
    r = env.r
    conf = repo.variant("crash", archive_lookahead="4")
    pause(env, True)
    names = make_backlog(c, 40, "C")
    if env.kind == "s3":
        env.s3.proxy_config(False, fault_rate=1.0, faults=["delay"], delay_seconds=0.25, only=["PUT"])
    kills = done = fast = 0
    bad = []
    seen = []
    took = None  # how long the first call with look-ahead work took: kills land within that
    for _ in range(60):
        ready = ready_in_order(c)
        if not ready or kills >= 8 or kills + done >= 24:
            break
        if ready[0] in ack_names(c):
            # Archived ahead: PostgreSQL's next call returns at once.
            rc, err = env.push_call(c, conf, ready[0])
            if rc == 0:
                mark_done(c, ready[0])
                fast += 1
            continue
        p = env.spawn([env.push, "--config", conf, "pg_wal/" + ready[0]], c.datadir)
        t1 = time.time()
        try:
            # The background look-ahead of a 40-file backlog takes seconds
            # (more on S3 with the proxy's delay): kills land within it.
            p.communicate(timeout=env.rng.uniform(0.01, 0.3))
            took = time.time() - t1
            if p.returncode == 0:
                mark_done(c, ready[0])
                done += 1
        except subprocess.TimeoutExpired:
            # The call and its background look-ahead process (forked from it,
            # same command line; it holds the call's stderr pipe, which is why
            # communicate() waits for it too).
            p.send_signal(signal.SIGKILL)
            subprocess.run(["pkill", "-KILL", "-f", conf], check=False)
            p.communicate(timeout=30)
            kills += 1
        bad += check_acks(env, c, repo, seen)
    # One more kill that lands once an ack exists (random kills may all come
    # before the first one, e.g. on S3 with the proxy's delay), so the check
    # below always has acks to look at.
    ready = ready_in_order(c)
    if ready:
        p = env.spawn([env.push, "--config", conf, "pg_wal/" + ready[0]], c.datadir)
        deadline = time.time() + 60
        # The call may return before its detached look-ahead process writes one.
        while time.time() < deadline and not [n for n in ack_names(c) if n != ready[0]]:
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL)
        subprocess.run(["pkill", "-KILL", "-f", conf], check=False)
        p.communicate(timeout=30)
        kills += 1
        bad += check_acks(env, c, repo, seen)
    if env.kind == "s3":
        env.s3.proxy_reset(False)
    r.check("C: walship-push killed %d times during look-ahead (%d such calls completed, %d fast calls on acks)"
            % (kills, done, fast), kills > 0)
    r.check_all("C: after every kill, each ack matches a durable object (SHA-256, size) and the file", seen, bad,
                bad[:10] if seen else "no ack was left by any kill: nothing checked")
    # Whatever was stored without an ack is found identical by the next call.
    extra = []
    stored = repo.keys("wal/")
    for n in names:
        if wal_key(n) in stored:
            sha, _ = repo.decoded_sha(n)
            if sha != sha256_file(os.path.join(pg_wal(c), n)):
                extra.append(n)
    r.check("C: every stored object decodes to its file", not extra, extra)


# --- scenario D: acks that must not be trusted -------------------------------------------------

def scenario_untrusted(env, c, repo):
    r = env.r
    ahead = repo.variant("d-ahead")
    alone = repo.variant("d-alone", archive_lookahead="0")
    pause(env, True)
    t = make_backlog(c, 4, "D")
    rc, err = env.push_call(c, ahead, t[0])
    mark_done(c, t[0])
    r.check("D: a look-ahead call acknowledges the three files after it",
            rc == 0 and all(n in ack_names(c) for n in t[1:]), err)

    # Garbled: never trusted; the file is really examined.
    write_ack(c, t[1], "walship-ack 1\nname %s\nrepo %s\nsize 12" % (t[1], repo.url))
    rc, err = env.push_call(c, alone, t[1])
    r.check("D: a garbled ack is ignored and removed; the file is really archived (found identical)",
            rc == 0 and "ignoring an ack file" in err and "already archived with identical content" in err
            and t[1] not in ack_names(c), err)

    # Recycled: same name and content, another inode.
    path = os.path.join(pg_wal(c), t[2])
    shutil.copy2(path, path + ".new")
    give(path + ".new")
    os.rename(path + ".new", path)
    rc, err = env.push_call(c, alone, t[2])
    r.check("D: an ack of a replaced file (another inode) is not trusted",
            rc == 0 and "not trusting the ack" in err and "another inode" in err
            and "already archived with identical content" in err, err)

    # Modified in place: the conflict is detected, nothing overwritten.
    path = os.path.join(pg_wal(c), t[3])
    with open(path, "r+b") as f:
        f.seek(MiB)
        b = f.read(1)
        f.seek(MiB)
        f.write(bytes([b[0] ^ 0x5A]))
    rc, err = env.push_call(c, alone, t[3])
    r.check("D: an ack of a file modified since is not trusted: the different content is refused",
            rc == 1 and "modified since" in err and "different content" in err, err)
    with open(path, "r+b") as f:
        f.seek(MiB)
        f.write(b)
    rc, err = env.push_call(c, alone, t[3])
    r.check("D: restored, the file is found identical", rc == 0 and "identical content" in err, err)
    for n in t[1:]:
        mark_done(c, n)

    # Acks written from doc/format.md's description.
    u = make_backlog(c, 3, "D2")
    write_ack(c, u[0], ack_text(u[0], "file:///somewhere/else", os.path.join(pg_wal(c), u[0])))
    rc, err = env.push_call(c, alone, u[0])
    r.check("D: an ack for another repository is not trusted: the file is stored",
            rc == 0 and "another repository" in err and wal_key(u[0]) in repo.keys("wal/")
            and repo.decoded_sha(u[0])[0] == sha256_file(os.path.join(pg_wal(c), u[0])), err)
    write_ack(c, u[1], ack_text(u[2], repo.url, os.path.join(pg_wal(c), u[2])))
    rc, err = env.push_call(c, alone, u[1])
    r.check("D: an ack naming another WAL file is not trusted: the file is stored",
            rc == 0 and "records %s" % u[2] in err and wal_key(u[1]) in repo.keys("wal/"), err)
    rc, err = env.push_call(c, alone, u[2])  # stored for real, then acknowledged by hand
    write_ack(c, u[2], ack_text(u[2], repo.url, os.path.join(pg_wal(c), u[2])))
    rc, err = env.push_call(c, alone, u[2])
    r.check("D: an ack written from doc/format.md is trusted: the call returns at once, the ack is consumed",
            rc == 0 and "%s was archived ahead" % u[2] in err and u[2] not in ack_names(c), err)
    for n in u:
        mark_done(c, n)

    # PostgreSQL renames a .ready file only after its call exited: a
    # look-ahead that runs in between finds the file stored and must not
    # acknowledge it again (nobody would consume that ack).
    w = make_backlog(c, 3, "D3")
    rc0, _ = env.push_call(c, ahead, w[0])
    mark_done(c, w[0])
    rc1, err1 = env.push_call(c, ahead, w[1])  # consumes w[1]'s ack; its .ready stays for now
    x = make_backlog(c, 1, "D3x")[0]
    rc2, err2 = env.push_call(c, ahead, w[2])  # its look-ahead takes w[1] and x
    r.check("D: a file whose ack PostgreSQL's call consumed is found stored by a later look-ahead, "
            "which acknowledges only what it stored",
            rc0 == rc1 == rc2 == 0 and "%s was archived ahead" % w[1] in err1
            and "%s is already archived with identical content; not acknowledged" % w[1] in err2
            and "archived %s ahead" % x in err2 and ack_names(c) == [x], "%s %s" % (err2, ack_names(c)))
    for n in w[1:]:
        mark_done(c, n)
    rc, err = env.push_call(c, alone, x)
    r.check("D: ... and the ack of the file it stored is consumed", rc == 0 and "%s was archived ahead" % x in err
            and not ack_names(c), err)
    mark_done(c, x)


# --- scenario E: concurrency ----------------------------------------------------------------

class HeldLock:
    """Holds walship's per-name lock of name in pg_wal/walship-archive."""

    def __init__(self, c, name):
        import fcntl
        self.path = os.path.join(ack_dir(c), "lock-%02x" % lock_slot(name))
        self.fd = os.open(self.path, os.O_RDONLY | os.O_CREAT, 0o600)
        give(self.path)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        os.close(self.fd)


def scenario_concurrent(env, c, repo):
    r = env.r
    conf = repo.variant("e")
    pause(env, True)
    u = make_backlog(c, 5, "E")

    # A look-ahead worker leaves a name alone that someone else has locked.
    held = HeldLock(c, u[2])
    rc, err = env.push_call(c, conf, u[0])
    held.release()
    r.check("E: a look-ahead worker leaves a locked name to its holder",
            rc == 0 and "%s is being archived by another walship-push; left to it" % u[2] in err
            and u[2] not in ack_names(c) and all(n in ack_names(c) for n in (u[1], u[3], u[4])), err)
    mark_done(c, u[0])

    # PostgreSQL's call for a name a look-ahead worker holds: it waits for
    # the lock, then finds the ack that worker wrote (written here by hand
    # after storing the object from outside pg_wal, while holding the lock).
    held = HeldLock(c, u[2])
    p = env.spawn([env.push, "--config", conf, "pg_wal/" + u[2]], c.datadir)
    time.sleep(0.5)
    outside = env.dir("outside")
    shutil.copy(os.path.join(pg_wal(c), u[2]), os.path.join(outside, u[2]))
    give(os.path.join(outside, u[2]))
    pre = run([env.push, "--config", conf, os.path.join(outside, u[2])], env=env.server_env, check=False)
    write_ack(c, u[2], ack_text(u[2], repo.url, os.path.join(pg_wal(c), u[2])))
    still = p.poll() is None
    held.release()
    _, err = p.communicate(timeout=120)
    r.check("E: PostgreSQL's call waits for the name's lock, then finds the look-ahead's ack",
            pre.returncode == 0 and still and p.returncode == 0
            and "%s was archived ahead by another walship-push" % u[2] in err and u[2] not in ack_names(c),
            "%s %s %s %s" % (pre.stderr, still, p.returncode, err))
    mark_done(c, u[2])

    # Several processes at once on overlapping names (S3: uploads delayed).
    if env.kind == "s3":
        env.s3.proxy_config(False, fault_rate=1.0, faults=["delay"], delay_seconds=0.3, only=["PUT"])
    overlap = 0
    bad = []
    seen = []  # acks and objects compared
    codes = []
    for rnd in range(2):
        v = make_backlog(c, 6, "E%d" % rnd)
        ps = [env.spawn([env.push, "--config", conf, "pg_wal/" + v[0]], c.datadir)]
        time.sleep(0.15)
        ps.append(env.spawn([env.push, "--config", conf, "pg_wal/" + v[1]], c.datadir))
        ps.append(env.spawn([env.push, "--config", conf, "pg_wal/" + v[0]], c.datadir))
        errs = [pp.communicate(timeout=180)[1] for pp in ps]
        codes += [pp.returncode for pp in ps]
        overlap += sum(e.count("by another walship-push") for e in errs)
        bad += check_acks(env, c, repo, seen)
        for n in v:
            sha, _ = repo.decoded_sha(n)
            if sha is not None:
                seen.append(n)
                if sha != sha256_file(os.path.join(pg_wal(c), n)):
                    bad.append("%s: stored object differs" % n)
        for n in v[:2]:
            mark_done(c, n)
    if env.kind == "s3":
        env.s3.proxy_reset(False)
    r.check("E: concurrent calls on overlapping names all succeed (%d waits or hand-overs seen)" % overlap,
            codes and all(x == 0 for x in codes), codes)
    r.check_all("E: ... and every ack and object matches its file", seen, bad)


# --- the end ----------------------------------------------------------------------------------

def final_check(env, c, repo, orig):
    r = env.r
    pause(env, False)
    wait_caught_up(c)
    bad = []
    n = 0
    for name in status_names(c, ".done"):
        path = os.path.join(pg_wal(c), name)
        if not os.path.exists(path):
            continue
        n += 1
        sha, _ = repo.decoded_sha(name)
        if sha != sha256_file(path):
            bad.append(name)
    r.check("end: every file marked .done is stored byte-identical (%d files)" % n, n > 40 and not bad, bad[:5])
    r.check("end: no ack left", not ack_names(c), ack_names(c))
    r.check("end: no walship-push ERROR in the server log other than scenario B's and D's",
            all("page magic" in line or "different content" in line
                for line in log_lines(c, "walship-push: ERROR")), log_lines(c, "walship-push: ERROR")[:5])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo-kind", default="file", choices=["file", "s3"])
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    args = ap.parse_args()

    why = pgtest.missing_prerequisite()
    if why:
        print("%s: skipped" % why)
        return 77

    env = Env(args)
    print("# repo kind %s, temp dir %s" % (env.kind, env.tmp), flush=True)
    if env.kind == "s3":
        try:
            env.start_s3()
        except TestError as e:
            print("# %s: skipped" % e)
            shutil.rmtree(env.tmp, ignore_errors=True)
            return 77

    def on_alarm(signum, frame):
        raise TestError("time limit of %d s reached" % TIME_LIMIT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT)
    t0 = time.time()
    repo = Repo(env, "repo")
    orig = env.dir("orig")
    c = env.cluster("primary")
    steps = []
    try:
        c.initdb()
        c.base_conf()
        c.conf(archive_mode="on", wal_keep_size="8GB", max_wal_size="8GB", checkpoint_timeout="1h",
               archive_command="test ! -e %s && %s --config %s %%p && cp %%p %s/%%f"
                               % (env.pause, env.push, repo.conf, orig))
        c.start()
        c.psql("create table marker (id serial primary key, note text)")
        c.pgbench("-i", "-s", "1", "-q")
        steps = [("A", lambda: scenario_keepup(env, c, repo, orig)),
                 ("B", lambda: scenario_one_fails(env, c, repo, orig))]
        if env.kind == "s3":
            steps.append(("F", lambda: scenario_faults(env, c, repo)))
        steps += [("C", lambda: scenario_crash(env, c, repo)),
                  ("D", lambda: scenario_untrusted(env, c, repo)),
                  ("E", lambda: scenario_concurrent(env, c, repo)),
                  ("end", lambda: final_check(env, c, repo, orig))]
    except (TestError, subprocess.TimeoutExpired) as e:
        env.r.check("cluster set-up", False, str(e))
    # At least this many checks per scenario (pgtest.Results fails a run with fewer).
    floor = {"A": 8, "B": 6, "F": 2, "C": 3, "D": 9, "E": 4, "end": 3}
    env.r.expect(sum(floor.get(label, 1) for label, _ in steps))
    for label, fn in steps:
        t1 = time.time()
        try:
            fn()
        except (TestError, subprocess.TimeoutExpired, OSError) as e:
            env.r.check("scenario %s ran to the end" % label, False, str(e))
        finally:
            if env.kind == "s3":
                try:
                    env.s3.proxy_reset(False)
                except (TestError, OSError):
                    pass
            pause(env, False)
            # Each scenario starts with everything archived.
            if label != "end":
                try:
                    wait_caught_up(c)
                except (TestError, subprocess.TimeoutExpired) as e:
                    env.r.check("archiving caught up after scenario %s" % label, False, str(e))
        print("# scenario %s: %.0f s" % (label, time.time() - t1), flush=True)
    signal.alarm(0)
    return env.finish(t0)


if __name__ == "__main__":
    sys.exit(main())
