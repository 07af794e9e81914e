#!/usr/bin/env python3
"""test_prefetch.py - walship-fetch's prefetching (doc/archive.md, "Prefetching")
driven by PostgreSQL 15 as the client.

--repo-kind file (16 MiB segments):
  T  a recovery that crosses a timeline switch with prefetch on: the old
     primary kept writing timeline 1 after a standby was promoted to
     timeline 2, so the archive holds timeline 1 segments past the switch
     point and the prefetcher fetches some of them before PostgreSQL moves to
     timeline 2; the recovered data must be timeline 2's, the spool must be
     gone and no prefetcher left at the end, and segments must have been
     served from the spool
  C  a corrupted object met by the prefetcher: recovery stops (exit 200, no
     promotion), as without prefetching; after repair it completes
  K  the server stopped (immediate) in the middle of a recovery: the
     prefetcher exits and removes the spool
  S  stale spools are never served (walship-fetch by hand in a copy of the
     base backup, so no prefetcher adds files of its own): another
     repository URL, cluster or key in the state file, a truncated file, a
     file of another cluster, an unlocked .part file, another timeline, a
     spool with loose permissions; and a segment being written is waited
     for and then served
--repo-kind s3 (1 MiB segments):
  3  a recovery of >= 200 segments from S3 through the verifying proxy with
     prefetching on: data equal, segments served from the spool

Usage: test_prefetch.py [--repo-kind file|s3] [--keep] [--compare]
Needs WS_BUILD_DIR (the meson build root).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15, the postgres user or (s3) node is missing.
"""

import argparse
import fcntl
import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402
from pgtest import TestError, backup_start_segment, give, run, wait_promoted, wal_key, write_conf  # noqa: E402

TIME_LIMIT = {"file": 420, "s3": 300}
MiB = 1 << 20
SPOOL = os.path.join("pg_wal", "walship-spool")


class Env(pgtest.TestEnv):
    """pgtest.TestEnv, and the repository's settings for config files."""

    def __init__(self, args):
        super().__init__(args.repo_kind, keep=args.keep, prefix="walship-prefetch-", port_base=6100)
        self.repo_settings = {}
        self.url = None

    def conf(self, name, **extra):
        """A walship config file for this repository plus extra settings."""
        path = os.path.join(self.tmp, name + ".conf")
        s = dict(self.repo_settings)
        s.update(extra)
        write_conf(path, s)
        return path

    def archive_command(self, conf):
        return "%s --config %s %%p" % (self.push, conf)

    def restore_command(self, conf, delay=None):
        cmd = "%s --config %s %%f %%p" % (self.fetch, conf)
        # A pause before each call gives the prefetcher a head start, as a
        # slower replay would: it makes the races under test likely.
        return ("sleep %s; %s" % (delay, cmd)) if delay else cmd

    def fetch_by_hand(self, conf, name, dest, cwd=None):
        return run([self.fetch, "--config", conf, name, dest], cwd=cwd, env=self.server_env, timeout=120,
                   check=False)


# --- helpers -------------------------------------------------------------------

def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def make_recovery(env, name, bbdir, restore_command, standby=False, **settings):
    c = env.cluster(name)
    c.copy_from(bbdir)
    c.base_conf()
    s = dict(restore_command=restore_command, archive_mode="off", log_min_messages="log")
    s.update(settings)
    c.conf(**s)
    sig = os.path.join(c.datadir, "standby.signal" if standby else "recovery.signal")
    open(sig, "w").close()
    give(sig)
    return c


def finish_archiving(c):
    c.psql("insert into marker values (-1, 'last') on conflict (id) do update set note = 'last again'")
    name = c.switch_wal()
    c.wait_archived(name, timeout=180)
    return name


def backup(env, c, name):
    bb = os.path.join(env.tmp, name)
    run([pgtest.PGBIN + "/pg_basebackup", "-D", bb, "-X", "none", "-c", "fast", "-h", c.sockdir, "-p",
         str(c.port), "-U", "postgres", "--no-sync"], timeout=300)
    return bb


def seg_add(name, n, segs_per_log=256):
    """The segment n after name on the same timeline (16 MiB: 256 per log id)."""
    tli, log, seg = name[:8], int(name[8:16], 16), int(name[16:24], 16)
    no = log * segs_per_log + seg + n
    return "%s%08X%08X" % (tli, no // segs_per_log, no % segs_per_log)


def spool_hits(log):
    return re.findall(r"walship-fetch: INFO: restored ([0-9A-F]{24}) from the prefetch spool", log)


def prefetched(log):
    return re.findall(r"walship-prefetch: INFO: prefetched ([0-9A-F]{24})", log)


def pg_restored(log):
    return re.findall(r'restored log file "([0-9A-F]{24}(?:\.partial)?)" from archive', log)


def fetch_procs(marker):
    """walship-fetch processes (a prefetcher is one) whose arguments hold marker."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/stat" % d) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state in ("Z", "X") or not argv or not argv[0].endswith(b"walship-fetch"):
            continue
        if any(marker.encode() in a for a in argv):
            out.append(int(d))
    return out


def wait_until(pred, timeout, step=0.2):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


def check_clean_end(env, c, conf, label, timeout=30):
    """The spool is removed and no prefetcher is left (bounded waits)."""
    spool = os.path.join(c.datadir, SPOOL)
    gone = wait_until(lambda: not os.path.exists(spool), timeout)
    env.r.check("%s: the spool is removed at the end" % label, gone,
                os.listdir(spool) if os.path.exists(spool) else "")
    procs = []
    left = not wait_until(lambda: not fetch_procs(conf), timeout) and fetch_procs(conf)
    if left:
        procs = left
    env.r.check("%s: no prefetcher process is left" % label, not procs, str(procs))


# --- scenario T: a timeline switch --------------------------------------------------

def scenario_timeline(env):
    r = env.r
    push_conf = env.conf("push")
    plain_conf = env.conf("fetch-noprefetch", prefetch=0)
    p = env.cluster("primary")
    p.initdb()
    p.base_conf()
    p.conf(archive_mode="on", archive_command=env.archive_command(push_conf), wal_keep_size="1GB")
    p.start()
    p.psql("create table marker (id int primary key, note text)")
    p.pgbench("-i", "-s", "1", "-q")
    bb = backup(env, p, "bb")
    start = backup_start_segment(bb)
    for i in range(3):
        p.psql("insert into marker values (%d, 'timeline 1 before the fork')" % i)
        p.switch_wal()

    # A standby streaming from the primary is promoted: timeline 2.
    sb = make_recovery(env, "tl2", bb, env.restore_command(plain_conf), standby=True, hot_standby="on",
                       primary_conninfo="host=%s port=%d user=postgres" % (p.sockdir, p.port),
                       archive_mode="on", archive_command=env.archive_command(push_conf))
    sb.start(wait=False)
    p.psql("insert into marker values (10, 'streamed before the fork')")
    lsn = p.psql("select pg_current_wal_flush_lsn()")
    if sb.wait_query("select pg_last_wal_replay_lsn() >= '%s'" % lsn, "t", 120) != "t":
        raise TestError("the standby did not catch up; log tail:\n" + sb.log_tail(30))
    sb.promote()
    wait_promoted(sb)
    switch = sb.psql("select pg_walfile_name(pg_current_wal_lsn())")
    r.check("T: the promoted standby runs on timeline 2", switch.startswith("00000002"), switch)
    fork_seg = "00000001" + switch[8:]

    # The old primary goes on writing timeline 1 past the fork point.
    for i in range(10):
        p.psql("insert into marker values (%d, 'timeline 1 after the fork')" % (1000 + i))
        p.switch_wal()
    finish_archiving(p)
    # Timeline 2 goes on too.
    for i in range(4):
        sb.psql("insert into marker values (%d, 'timeline 2')" % (2000 + i))
        sb.switch_wal()
    sb.pgbench("-n", "-t", "200", "-c", "2")
    last = finish_archiving(sb)
    want = sb.fingerprint()
    tl1_only = p.fingerprint()
    p.stop()
    sb.stop()
    keys = env.repo.keys("wal/") if env.repo else []
    if env.repo:
        r.check("T: the archive holds 00000002.history, the .partial and timeline 1 past the fork",
                wal_key("00000002.history") in keys and wal_key(fork_seg + ".partial") in keys
                and wal_key(fork_seg) in keys and wal_key(seg_add(fork_seg, 3)) in keys, str(keys[-20:]))
    r.check("T: timeline 1 and timeline 2 differ", want != tl1_only)

    fetch_conf = env.conf("fetch", prefetch=8, log_level="info")
    rec = make_recovery(env, "rec-tl", bb, env.restore_command(fetch_conf, delay="0.5"),
                        recovery_target_timeline="latest")
    t0 = time.time()
    rec.start(wait=False)
    wait_promoted(rec)
    took = time.time() - t0
    log = rec.log_text()
    r.check("T: recovery follows timeline 1 then timeline 2 to the end: timeline 2's data",
            rec.fingerprint() == want, rec.log_tail(30))
    r.check("T: no row written on timeline 1 after the fork was replayed",
            rec.psql("select count(*) from marker where id between 1000 and 1999") == "0")
    r.check("T: ... and timeline 2's last segment %s was replayed" % last,
            last in pg_restored(log) and rec.psql("select count(*) from marker where id >= 2000") == "4",
            rec.log_tail(30))
    past_fork = [n for n in prefetched(log) if n.startswith("00000001") and n[8:] >= fork_seg[8:]]
    r.check("T: the prefetcher fetched timeline 1 segments past the fork point (%s...) before the switch"
            % fork_seg, past_fork != [], "prefetched: %s" % prefetched(log))
    used_tl1 = [n for n in pg_restored(log) + spool_hits(log) if n.startswith("00000001") and n[8:] >= fork_seg[8:]]
    r.check("T: none of them was given to PostgreSQL", used_tl1 == [], str(used_tl1))
    hits = spool_hits(log)
    r.check("T: segments were served from the spool on both timelines (%d hits)" % len(hits),
            any(h.startswith("00000001") for h in hits) and any(h.startswith("00000002") for h in hits),
            "hits %s; restored %s" % (hits, pg_restored(log)))
    r.check("T: no walship error or warning during recovery",
            "walship-fetch: ERROR" not in log and "walship-prefetch: WARNING" not in log
            and "walship-fetch: WARNING" not in log, rec.log_tail(30))
    check_clean_end(env, rec, fetch_conf, "T")
    r.check("T: the prefetcher said why it stopped",
            "stopped (the PostgreSQL startup process is gone" in rec.log_text(), rec.log_tail(10))
    print("# T: recovery of %d segments took %.1f s (0.5 s pause per call), %d spool hits"
          % (len(pg_restored(log)), took, len(hits)), flush=True)
    rec.stop()
    return dict(bb=bb, start=start, fork_seg=fork_seg, want=want, fetch_conf=fetch_conf, tl2_first=switch,
                sysid=rec.controldata()["Database system identifier"])


# --- scenario C: a corrupted object ----------------------------------------------------

def scenario_corruption(env, t):
    r = env.r
    victim = seg_add(t["start"], 2)
    if not victim[8:] < t["fork_seg"][8:]:
        raise TestError("no timeline 1 segment between the backup and the fork to damage")
    key = wal_key(victim)
    env.repo.flip_byte(key, os.path.getsize(env.repo.object_path(key)) // 2)
    conf = env.conf("fetch-c", prefetch=8, log_level="info")
    rec = make_recovery(env, "rec-c", t["bb"], env.restore_command(conf, delay="0.5"))
    rec.start(wait=False, check=False)
    stopped = rec.wait_down(150)
    log = rec.new_log()
    r.check("C: the server stops at the damaged segment", stopped, rec.log_tail(30))
    r.check("C: walship-fetch reported the integrity failure of %s" % victim,
            "walship-fetch: ERROR: integrity failure" in log and victim in log, rec.log_tail(30))
    r.check("C: the prefetcher met the damaged object first and did not spool it",
            re.search(r"walship-prefetch: WARNING: could not prefetch %s" % victim, log) is not None
            and victim not in spool_hits(log) and victim not in prefetched(log), rec.log_tail(30))
    state = rec.controldata().get("Database cluster state", "")
    r.check("C: the server did not promote", state == "in archive recovery"
            and "archive recovery complete" not in log, "state=%s" % state)
    check_clean_end(env, rec, conf, "C")
    env.repo.flip_byte(key, os.path.getsize(env.repo.object_path(key)) // 2)  # repair
    rec.start(wait=False)
    wait_promoted(rec)
    r.check("C: after repair, recovery completes with timeline 2's data", rec.fingerprint() == t["want"],
            rec.log_tail(30))
    rec.stop()


# --- scenario K: the server stops mid-recovery -------------------------------------------

def scenario_stop(env, t):
    r = env.r
    conf = env.conf("fetch-k", prefetch=8, log_level="info")
    rec = make_recovery(env, "rec-k", t["bb"], env.restore_command(conf, delay="1"))
    rec.start(wait=False)
    spool = os.path.join(rec.datadir, SPOOL)

    def spooled():
        try:
            return [n for n in os.listdir(spool) if len(n) == 24]
        except OSError:
            return []

    ok = wait_until(lambda: len(spooled()) >= 2 and fetch_procs(conf), 90)
    r.check("K: mid-recovery, the spool holds segments and a prefetcher runs", ok,
            "%s %s\n%s" % (spooled(), fetch_procs(conf), rec.log_tail(20)))
    pid = None
    try:
        pid = int(open(os.path.join(spool, "prefetcher")).read().strip())
    except (OSError, ValueError):
        pass
    r.check("K: the recovery is still running", rec.running() and "archive recovery complete" not in rec.log_text())
    rec.stop("immediate")
    gone = wait_until(lambda: pid is None or pid not in fetch_procs(conf), 30)
    r.check("K: after pg_ctl stop -m immediate the prefetcher (pid %s) exits" % pid, pid is not None and gone)
    check_clean_end(env, rec, conf, "K")
    r.check("K: ... saying the startup process is gone",
            "stopped (the PostgreSQL startup process is gone" in rec.log_text(), rec.log_tail(10))


# --- scenario S: stale spools, by hand ----------------------------------------------------------

def scenario_stale(env, t):
    r = env.r
    conf = env.conf("fetch-s", prefetch=8, log_level="info")
    d = os.path.join(env.tmp, "bycall")
    shutil.copytree(t["bb"], d, symlinks=True)
    open(os.path.join(d, "recovery.signal"), "w").close()
    give(d)
    os.chmod(d, 0o700)
    spool = os.path.join(d, SPOOL)
    dest = os.path.join(d, "pg_wal", "RECOVERYXLOG")
    scratch = env.dir("scratch-s")
    names = [seg_add(t["start"], i) for i in (1, 2)]
    orig = {}
    for n in names + [t["fork_seg"], t["tl2_first"]]:
        out = os.path.join(scratch, n)
        f = env.fetch_by_hand(conf, n, out)
        if f.returncode != 0:
            raise TestError("fetch of %s by hand failed: %s" % (n, f.stderr))
        orig[n] = read(out)
    pw = pwd.getpwnam(pgtest.run_user())

    def state(repo=None, sysid=None, key="-"):
        return ("walship-spool-state 2\ngeneration 170\nsysid %s\nkey %s\nendpoint -\nrepo %s\n"
                % (sysid or t["sysid"], key, repo or env.url))

    def plant(state_text, files, mode=0o700):
        shutil.rmtree(spool, ignore_errors=True)
        os.mkdir(spool)
        os.chmod(spool, mode)
        with open(os.path.join(spool, "state"), "w") as f:
            f.write(state_text)
        for n, data in files.items():
            with open(os.path.join(spool, n), "wb") as f:
                f.write(data)
        for root, dirs, fs in os.walk(spool):
            for x in [root] + [os.path.join(root, y) for y in fs]:
                os.chown(x, pw.pw_uid, pw.pw_gid)

    def ask(name):
        if os.path.exists(dest):
            os.unlink(dest)
        f = env.fetch_by_hand(conf, name, os.path.join("pg_wal", "RECOVERYXLOG"), cwd=d)
        got = read(dest) if os.path.exists(dest) else None
        return f, got

    def tampered(data):
        b = bytearray(data)
        b[len(b) // 2] ^= 0x5A
        return bytes(b)

    n1 = names[0]
    plant(state(), {n1: orig[n1]})
    f, got = ask(n1)
    r.check("S: control: a complete file in a spool of this repository is served from it",
            f.returncode == 0 and "from the prefetch spool" in f.stderr and got == orig[n1]
            and not os.path.exists(os.path.join(spool, n1)), f.stderr)
    r.check("S: by hand (no server) no prefetcher is started and no position recorded",
            not fetch_procs(conf) and not os.path.exists(os.path.join(spool, "want")), os.listdir(spool))

    cases = [
        ("another repository URL in the state file", state(repo="file:///elsewhere/repo"), {n1: tampered(orig[n1])}),
        ("another cluster in the state file", state(sysid="1234567890123456789"), {n1: tampered(orig[n1])}),
        ("an encryption key id in the state file, none configured", state(key="00112233445566778899aabbccddeeff"),
         {n1: tampered(orig[n1])}),
        ("a file cut short", state(), {n1: orig[n1][:len(orig[n1]) // 2]}),
        ("a file of another cluster (system identifier)", state(),
         {n1: orig[n1][:24] + (12345).to_bytes(8, "little") + orig[n1][32:]}),
        ("an unlocked .part file", state(), {n1 + ".part-4242": orig[n1]}),
        ("a file named as another segment", state(), {n1: orig[names[1]]}),
    ]
    for label, st, files in cases:
        plant(st, files)
        f, got = ask(n1)
        r.check("S: %s: not served, the segment comes from the repository" % label,
                f.returncode == 0 and "from the prefetch spool" not in f.stderr and got == orig[n1],
                "exit %d: %s" % (f.returncode, f.stderr))
        left = sorted(os.listdir(spool)) if os.path.isdir(spool) else []
        if "state file" in label:
            r.check("S: %s: the spool was emptied and now names this repository" % label,
                    left == ["lock", "state"] and env.url in open(os.path.join(spool, "state")).read(), left)
        elif "part" not in label:
            r.check("S: %s: the bad file was removed" % label, n1 not in left, left)

    # Another timeline: timeline 1's segment at the fork point is spooled;
    # timeline 2's segment of the same number must come from the repository.
    tl2 = t["tl2_first"]
    plant(state(), {t["fork_seg"]: orig[t["fork_seg"]]})
    f, got = ask(tl2)
    r.check("S: another timeline's segment of the same number is never served for it",
            f.returncode == 0 and "from the prefetch spool" not in f.stderr and got == orig[tl2]
            and got != orig[t["fork_seg"]], f.stderr)

    # A newer timeline's history file caps the window at its branch point:
    # timeline 1 files from the fork segment on are dropped, earlier kept.
    def want_text(tli, pos_name, cap="-"):
        segno = int(pos_name[8:16], 16) * 256 + int(pos_name[16:24], 16)
        return ("walship-spool-want 2\ntli %d\npos %d\nseg_size %d\ncap %s\ndepth 8\n"
                % (tli, segno, 16 * MiB, cap))

    def segno(name):
        return int(name[8:16], 16) * 256 + int(name[16:24], 16)

    fork = t["fork_seg"]
    before = seg_add(fork, -1)
    plant(state(), {"want": want_text(1, seg_add(fork, -2)).encode(), before: b"x", fork: b"x",
                    seg_add(fork, 1): b"x"})
    if os.path.exists(dest):
        os.unlink(dest)
    f = env.fetch_by_hand(conf, "00000002.history", os.path.join("pg_wal", "RECOVERYHISTORY"), cwd=d)
    w = open(os.path.join(spool, "want")).read()
    r.check("S: a newer timeline's history caps the window at its branch point (segment %s)" % fork,
            f.returncode == 0 and "cap %d\n" % segno(fork) in w and os.path.exists(os.path.join(spool, before))
            and not os.path.exists(os.path.join(spool, fork))
            and not os.path.exists(os.path.join(spool, seg_add(fork, 1))), "%s %s %s" % (f.stderr, w,
                                                                                      os.listdir(spool)))

    # The end of the archive in archive recovery drops what follows; in
    # standby mode (the archive grows) nothing changes.
    absent = seg_add(t["tl2_first"], 200)
    def set_mode(mode):
        for sig in ("recovery.signal", "standby.signal"):
            if os.path.exists(os.path.join(d, sig)):
                os.unlink(os.path.join(d, sig))
        open(os.path.join(d, mode + ".signal"), "w").close()

    for mode, capped in (("recovery", True), ("standby", False)):
        set_mode(mode)
        plant(state(), {"want": want_text(2, seg_add(absent, -2)).encode(), seg_add(absent, 1): b"x"})
        f, got = ask(absent)
        w = open(os.path.join(spool, "want")).read()
        r.check("S: %s mode, %s absent: exit 1 and the window %s" % (mode, absent, "capped there" if capped
                                                                     else "unchanged"),
                f.returncode == 1 and ("cap %d\n" % segno(absent) in w) == capped
                and os.path.exists(os.path.join(spool, seg_add(absent, 1))) != capped, "%s %s" % (f.stderr, w))
    set_mode("recovery")

    plant(state(), {n1: orig[n1]}, mode=0o755)
    f, got = ask(n1)
    r.check("S: a spool other users can read is not used",
            f.returncode == 0 and "from the prefetch spool" not in f.stderr and "accessible to other users" in f.stderr
            and got == orig[n1], f.stderr)

    # A segment being written: walship-fetch waits for its writer, then
    # serves the finished file.
    plant(state(), {})
    part = os.path.join(spool, n1 + ".part-4243")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o600)
    os.fchown(fd, pw.pw_uid, pw.pw_gid)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, orig[n1][:MiB])

    def finish():
        time.sleep(1.5)
        os.write(fd, orig[n1][MiB:])
        os.rename(part, os.path.join(spool, n1))
        os.close(fd)

    th = threading.Thread(target=finish)
    th.start()
    f, got = ask(n1)
    th.join()
    r.check("S: a segment being prefetched is waited for and then served from the spool",
            f.returncode == 0 and "from the prefetch spool" in f.stderr and got == orig[n1], f.stderr)
    shutil.rmtree(d, ignore_errors=True)


# --- scenario 3: S3, a few hundred segments ----------------------------------------------------------

def scenario_s3(env, compare):
    r = env.r
    push_conf = env.conf("push")
    p = env.cluster("primary-s3")
    p.initdb("--wal-segsize=1")
    p.base_conf()
    p.conf(archive_mode="on", archive_command=env.archive_command(push_conf), wal_keep_size="512MB",
           max_wal_size="256MB", checkpoint_timeout="30min")
    p.start()
    p.psql("create table marker (id int primary key, note text)")
    p.pgbench("-i", "-s", "1", "-q")
    bb = backup(env, p, "bb-s3")
    start_lsn = p.psql("select pg_current_wal_lsn()")
    p.psql("create table big (id int, pad text)")
    i = 0
    while True:
        done = int(p.psql("select pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')" % start_lsn).split(".")[0])
        if done > 215 * MiB or i > 60:
            break
        p.psql("insert into big select g, repeat(md5(g::text), 3) from generate_series(%d, %d) g"
               % (i * 40000, i * 40000 + 39999))
        p.psql("insert into marker values (%d, md5('%d'))" % (i, i))
        if i % 5 == 0:
            p.switch_wal()
        i += 1
    p.pgbench("-n", "-t", "100", "-c", "2")
    last = finish_archiving(p)
    want = p.fingerprint() + " " + p.psql("select count(*) || ':' || sum(id) from big")
    p.stop()
    nseg = int(last[8:16], 16) * 4096 + int(last[16:], 16) - (int(backup_start_segment(bb)[8:16], 16) * 4096
                                                              + int(backup_start_segment(bb)[16:], 16))
    r.check("3: at least 200 segments of 1 MiB archived after the base backup (%d)" % nseg, nseg >= 200)

    fetch_conf = env.conf("fetch", prefetch=8, log_level="info")
    rec = make_recovery(env, "rec-s3", bb, env.restore_command(fetch_conf))
    seq0 = max([x["seq"] for x in env.s3.proxy_log(False)] or [0])
    t0 = time.time()
    rec.start(wait=False)
    wait_promoted(rec, timeout=240)
    took = time.time() - t0
    log = rec.log_text()
    got = rec.fingerprint() + " " + rec.psql("select count(*) || ':' || sum(id) from big")
    restored = pg_restored(log)
    hits = spool_hits(log)
    r.check("3: recovery from S3 with prefetching reaches the primary's data", got == want, rec.log_tail(30))
    r.check("3: PostgreSQL restored >= 200 segments (%d)" % len(restored), len(restored) >= 200)
    r.check("3: most segments came from the spool (%d of %d)" % (len(hits), len(restored)),
            len(hits) >= len(restored) // 2, rec.log_tail(20))
    r.check("3: no walship error or warning", "walship-fetch: ERROR" not in log
            and "WARNING" not in "".join(x for x in log.splitlines(True) if "walship" in x), rec.log_tail(30))
    gets = [x for x in env.s3.proxy_log(False) if x["seq"] > seq0 and x.get("op") == "GetObject"]
    ok_gets = [x for x in gets if x.get("status") == 200]
    r.check("3: every GET went through the verifying proxy with a good signature",
            gets != [] and all(x.get("sig") == "ok" for x in gets), str(gets[:3]))
    seg_gets = [x for x in ok_gets if re.search(r"/[0-9A-F]{24}\.ws$", x.get("key", ""))]
    r.check("3: prefetching does not multiply downloads: %d segment GETs for %d segments"
            % (len(seg_gets), len(restored)), len(seg_gets) <= len(restored) + max(5, len(restored) // 20))
    check_clean_end(env, rec, fetch_conf, "3")
    print("# 3: recovery of %d segments from S3 with prefetch 8 took %.1f s: %d spool hits, %d GETs (%d OK)"
          % (len(restored), took, len(hits), len(gets), len(ok_gets)), flush=True)
    rec.stop()
    if compare:
        conf0 = env.conf("fetch0", prefetch=0)
        rec0 = make_recovery(env, "rec-s3-0", bb, env.restore_command(conf0))
        t0 = time.time()
        rec0.start(wait=False)
        wait_promoted(rec0, timeout=600)
        print("# 3: the same recovery with prefetch 0 took %.1f s" % (time.time() - t0), flush=True)
        rec0.stop()


# --- main ----------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo-kind", default="file", choices=["file", "s3"])
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    ap.add_argument("--compare", action="store_true", help="s3: also time a recovery without prefetching")
    ap.add_argument("--only", default="TSCK", help="file: the scenarios to run after T (default SCK)")
    args = ap.parse_args()

    why = pgtest.missing_prerequisite()
    if why:
        print("%s: skipped" % why)
        return 77
    if args.repo_kind == "s3" and not shutil.which("node"):
        print("node not found: skipped")
        return 77

    env = Env(args)
    print("# repo kind %s, temp dir %s" % (args.repo_kind, env.tmp), flush=True)
    limit = TIME_LIMIT[args.repo_kind]

    def on_alarm(signum, frame):
        raise TestError("time limit of %d s reached" % limit)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(limit)
    t0 = time.time()
    env.repo = None
    try:
        if args.repo_kind == "file":
            env.repo = pgtest.Repo(env.tmp, "repo")
            env.url = env.repo.url
            env.repo_settings = {"repo": env.url}
            t = None
            # At least this many checks per scenario (pgtest.Results).
            env.r.expect(9 + sum({"S": 10, "C": 4, "K": 3}.get(x, 0) for x in set(args.only)))
            # Spool hits are served by walship-fetch itself, without loading
            # the storage drivers' libraries (restore_fast.h).
            p = subprocess.run(["readelf", "-d", env.fetch], capture_output=True, text=True)
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", p.stdout)
            env.r.check("walship-fetch loads neither libcurl nor libxml2 (needs: %s)" % ", ".join(needed),
                        bool(needed) and not any(n.startswith(("libcurl", "libxml2")) for n in needed), p.stderr)
            steps = [("T", lambda: scenario_timeline(env))]
            for label, fn in steps:
                t = fn()
            for label, fn in [("S", lambda: scenario_stale(env, t)), ("C", lambda: scenario_corruption(env, t)),
                              ("K", lambda: scenario_stop(env, t))]:
                if label not in args.only:
                    continue
                try:
                    fn()
                except (TestError, subprocess.TimeoutExpired, OSError) as e:
                    env.r.check("scenario %s ran to the end" % label, False, str(e))
                finally:
                    for c in env.clusters:
                        c.stop("immediate")
        else:
            env.start_s3()
            v = env.s3.vars
            env.url = "s3://%s/prefetch-%d" % (v["S3ENV_BUCKET"], os.getpid())
            env.repo_settings = {"repo": env.url, "s3_endpoint": v["S3ENV_HTTP_ENDPOINT"], "s3_region": v["AWS_REGION"]}
            env.r.expect(5)
            scenario_s3(env, args.compare)
    except (TestError, subprocess.TimeoutExpired, OSError) as e:
        env.r.check("scenarios ran to the end", False, str(e))
    signal.alarm(0)
    return env.finish(t0)


if __name__ == "__main__":
    sys.exit(main())
