#!/usr/bin/env python3
"""test_probes.py - walship-push and walship-fetch against hostile conditions.

A table of probes (PROBES below): each one sets up one bad condition -- a
missing or unmounted repository, a file that changes while it is archived,
a FIFO where a file is expected, key material in the wrong place, names
that forge log lines -- and checks that walship neither loses data nor
hangs nor leaks.  The table is the list of conditions the suite covers;
every probe must run its checks (a probe that checks nothing fails).

The probes share one PostgreSQL 15 primary archiving into a file://
repository (run as `postgres` when the test runs as root) and, where the
condition is about recovery, a real recovery whose restore_command is
walship-fetch: PostgreSQL itself is the client.

Usage: test_probes.py [--keep] [--only NAME...]
Needs WS_BUILD_DIR (the meson build root).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15 or the postgres user is missing.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402
from pgtest import Cluster, Repo, Results, TestError, give, run, sha256_file, wait_promoted, wal_key  # noqa: E402

TIME_LIMIT = 400  # seconds for the whole script
MiB = 1 << 20
ROWS_AFTER_BACKUP = 5000


class Env:
    def __init__(self, args):
        build = os.environ.get("WS_BUILD_DIR")
        if not build:
            raise SystemExit("WS_BUILD_DIR is not set (the meson build root)")
        self.push = os.path.join(build, "src", "walship-push")
        self.fetch = os.path.join(build, "src", "walship-fetch")
        self.walship = os.path.join(build, "src", "walship")
        self.tmp = tempfile.mkdtemp(prefix="walship-probes-")
        os.chmod(self.tmp, 0o755)
        give(self.tmp)
        self.keep = args.keep
        self.r = Results()
        self.clusters = []
        self.next_port = 6100 + os.getpid() % 400
        self.primary = None  # set up by setup()
        self.repo = None
        self.orig = None  # plain copies of every archived file
        self.bb = None  # base backup with its WAL (-X stream)
        self.want = None  # the primary's fingerprint after the rows added after the backup

    def dir(self, name):
        p = os.path.join(self.tmp, name)
        os.makedirs(p, exist_ok=True)
        give(p)
        return p

    def cluster(self, name):
        c = Cluster(self.tmp, name, self.next_port)
        self.next_port += 1
        self.clusters.append(c)
        return c

    def conf(self, name, **settings):
        path = os.path.join(self.tmp, name + ".conf")
        pgtest.write_conf(path, settings)
        return path

    def push_file(self, conf, path, cwd=None, timeout=60, wrap=None):
        argv = (wrap or []) + [self.push, "--config", conf, path]
        return run(argv, cwd=cwd, timeout=timeout, check=False)

    def fetch_file(self, conf, name, dest, cwd=None, timeout=60):
        return run([self.fetch, "--config", conf, name, dest], cwd=cwd, timeout=timeout, check=False)

    def segments(self):
        return sorted(n for n in os.listdir(self.orig) if len(n) == 24)


def error_lines(p):
    return [line for line in p.stderr.splitlines() if "ERROR" in line]


def one_error(p, *needles):
    """Exactly one ERROR line, holding every needle."""
    lines = error_lines(p)
    return len(lines) == 1 and all(n in lines[0] for n in needles)


def setup(env):
    """A primary archiving into env.repo, a base backup with its own WAL,
    then ROWS_AFTER_BACKUP rows that exist only in the archive."""
    env.repo = Repo(env.tmp, "repo")
    env.orig = env.dir("orig")
    p = env.cluster("primary")
    p.initdb()
    p.base_conf()
    p.conf(archive_mode="on",
           archive_command="%s --config %s %%p && cp %%p %s/%%f" % (env.push, env.repo.conf, env.orig))
    p.start()
    p.psql("create table marker (id int primary key, note text)")
    p.psql("insert into marker select g, 'before' from generate_series(1, 100) g")
    env.bb = os.path.join(env.tmp, "bb")
    run([pgtest.PGBIN + "/pg_basebackup", "-D", env.bb, "-X", "stream", "-c", "fast", "-h", p.sockdir, "-p",
         str(p.port), "-U", "postgres", "--no-sync"], timeout=120)
    p.psql("insert into marker select g, 'after' from generate_series(1001, %d) g" % (1000 + ROWS_AFTER_BACKUP))
    last = p.switch_wal()
    p.wait_archived(last)
    env.want = p.psql("select count(*) from marker")
    env.primary = p


def recovery(env, name, conf):
    """A server made from the base backup, recovering (recovery.signal) with
    restore_command = walship-fetch with config conf."""
    c = env.cluster(name)
    c.copy_from(env.bb)
    c.base_conf()
    c.conf(restore_command="%s --config %s %%f %%p" % (env.fetch, conf), archive_mode="off")
    sig = os.path.join(c.datadir, "recovery.signal")
    open(sig, "w").close()
    give(sig)
    return c


def must_not_promote(env, label, c, needle):
    """Starts c and checks that recovery stops instead of ending early."""
    r = env.r
    c.start(wait=False, check=False)
    stopped = c.wait_down(90)
    log = c.new_log()
    # pg_control may still say what the base backup's copy said: the server
    # stopped before recovery wrote to it.  A promotion shows as a new timeline.
    tli = c.controldata().get("Latest checkpoint's TimeLineID", "")
    r.check("%s: the server stops instead of promoting" % label,
            stopped and "archive recovery complete" not in log and "selected new timeline" not in log
            and tli == "1" and not any(n.endswith(".history") for n in os.listdir(os.path.join(c.datadir, "pg_wal"))),
            "stopped=%s timeline=%s\n%s" % (stopped, tli, c.log_tail(20)))
    r.check("%s: the server log has walship's message naming the repository" % label,
            re.search(r"walship-fetch: ERROR: .*%s" % re.escape(needle), log) is not None, c.log_tail(20))


# --- issue: a missing or unmounted repository -----------------------------------

def probe_missing_root(env):
    """The repository's directory does not exist (a typo, an unmounted disk):
    nothing creates it, push fails, fetch stops recovery."""
    r = env.r
    root = os.path.join(env.tmp, "nowhere", "repo")
    conf = env.conf("missing", repo="file://" + root)
    seg = env.segments()[0]
    p = env.push_file(conf, os.path.join(env.orig, seg))
    r.check("missing root: walship-push fails with one error naming the directory",
            p.returncode == 1 and one_error(p, root), "exit %d: %s" % (p.returncode, p.stderr))
    f = env.fetch_file(conf, seg, os.path.join(env.dir("scratch-missing"), "out"))
    r.check("missing root: walship-fetch exits above 125 naming the directory",
            f.returncode > 125 and one_error(f, root), "exit %d: %s" % (f.returncode, f.stderr))
    r.check("missing root: no command created it", not os.path.exists(os.path.join(env.tmp, "nowhere")))
    must_not_promote(env, "missing root, PostgreSQL recovery", recovery(env, "rec-missing", conf), root)
    r.check("missing root: ... and recovery did not create it either",
            not os.path.exists(os.path.join(env.tmp, "nowhere")))


def probe_unmounted(env):
    """The repository path is an empty directory (a mount point with nothing
    mounted): an archive without walship's identity object is no archive."""
    r = env.r
    mnt = env.dir("mnt")
    conf = env.conf("unmounted", repo="file://" + mnt)
    seg = env.segments()[-1]
    f = env.fetch_file(conf, seg, os.path.join(env.dir("scratch-unmounted"), "out"))
    r.check("empty repository: walship-fetch exits above 125 naming the repository",
            f.returncode > 125 and one_error(f, mnt), "exit %d: %s" % (f.returncode, f.stderr))
    must_not_promote(env, "empty repository (unmounted mount point), PostgreSQL recovery",
                     recovery(env, "rec-unmounted", conf), mnt)
    r.check("empty repository: fetch left it empty", os.listdir(mnt) == [], str(os.listdir(mnt)))


def probe_foreign_identity(env):
    """The repository belongs to another cluster: a fetch run in this
    cluster's data directory stops recovery, whether the file is there or not."""
    r = env.r
    other = env.cluster("other")
    other.initdb()
    seg = env.segments()[-1]
    scratch = env.dir("scratch-foreign")
    found = env.fetch_file(env.repo.conf, seg, os.path.join(scratch, "a"), cwd=other.datadir)
    absent = env.fetch_file(env.repo.conf, "0000000100000000000000F0", os.path.join(scratch, "b"),
                            cwd=other.datadir)
    sysid = other.controldata()["Database system identifier"]
    r.check("another cluster's repository: an archived segment is refused (exit > 125, both identifiers named)",
            found.returncode > 125 and one_error(found, env.repo.url, sysid) and not os.listdir(scratch),
            "exit %d: %s" % (found.returncode, found.stderr))
    r.check("another cluster's repository: an absent segment is not 'not found' (exit > 125)",
            absent.returncode > 125 and one_error(absent, env.repo.url, sysid),
            "exit %d: %s" % (absent.returncode, absent.stderr))
    mine = env.fetch_file(env.repo.conf, seg, os.path.join(scratch, "c"), cwd=env.primary.datadir)
    r.check("this cluster's repository: the same segment is restored from its data directory",
            mine.returncode == 0 and sha256_file(os.path.join(scratch, "c")) == sha256_file(
                os.path.join(env.orig, seg)), mine.stderr)


def probe_new_repository(env):
    """An existing empty directory is a new repository: the first push
    says so, naming the segment it starts at."""
    r = env.r
    root = env.dir("fresh")
    conf = env.conf("fresh", repo="file://" + root)
    seg = env.segments()[-1]
    p = env.push_file(conf, os.path.join(env.orig, seg))
    r.check("empty directory: the first push starts a new repository and says so at NOTICE, naming the segment",
            p.returncode == 0 and re.search(r"NOTICE: new repository .*%s.* at segment %s" % (re.escape(root), seg),
                                            p.stderr) is not None, "exit %d: %s" % (p.returncode, p.stderr))
    p = env.push_file(conf, os.path.join(env.orig, env.segments()[-2]))
    r.check("empty directory: the second push is quiet about it",
            p.returncode == 0 and "new repository" not in p.stderr, p.stderr)


def probe_recovery_right_path(env):
    """The control: the same recovery with the right repository has every row."""
    c = recovery(env, "rec-right", env.repo.conf)
    c.start(wait=False)
    wait_promoted(c)
    got = c.psql("select count(*) from marker")
    env.r.check("right repository: recovery restores the %d rows committed after the base backup"
                % ROWS_AFTER_BACKUP, got == env.want, "%s vs %s" % (got, env.want))
    c.stop()


# --- issue: a file that changes while it is archived --------------------------------

def find_pid(argv):
    """The pid of the process whose command line is argv."""
    want = "\0".join(argv) + "\0"
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if cmd == want:
            return int(d)
    return None


def read_position(pid, path):
    """Offset of pid's descriptor open on path, or None."""
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) != path:
                    continue
                with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                    for line in f:
                        if line.startswith("pos:"):
                            return int(line.split()[1])
            except OSError:
                continue
    except OSError:
        pass
    return None


def probe_file_changes(env):
    """The file grows while walship-push reads it (reads slowed with strace):
    the push fails, nothing is committed, and the retry succeeds."""
    r = env.r
    if not shutil.which("strace"):
        r.check("file changes while archived: strace is installed (contrib/install-deps)", False)
        return
    root = env.dir("grow-repo")
    conf = env.conf("grow", repo="file://" + root)
    seg = env.segments()[-1]
    work = env.dir("grow")
    path = os.path.join(work, seg)
    shutil.copy(os.path.join(env.orig, seg), path)
    give(path)
    argv = pgtest.as_user(["strace", "-f", "-o", "/dev/null", "-e", "inject=read:delay_exit=50000",
                           env.push, "--config", conf, path])
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    grown = False
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not grown:
        pid = find_pid([env.push, "--config", conf, path])
        pos = read_position(pid, path) if pid else None
        if pos is not None and 0 < pos < 8 * MiB:
            with open(path, "ab") as f:
                f.write(b"\0" * 8192)
            grown = True
        else:
            time.sleep(0.02)
    try:
        _, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    r.check("file changes while archived: the file grew while walship-push was reading it", grown, err)
    r.check("file changes while archived: the push fails saying so",
            proc.returncode == 1 and "changed while being archived" in err, "exit %s: %s" % (proc.returncode, err))
    keys = Repo(env.tmp, "grow-view", root=root).keys("wal/")
    r.check("file changes while archived: nothing was committed under its key", wal_key(seg) not in keys, str(keys))
    os.truncate(path, 16 * MiB)
    p = env.push_file(conf, path)
    out = os.path.join(env.dir("scratch-grow"), "out")
    f = env.fetch_file(conf, seg, out)
    r.check("file changes while archived: the retry of the unchanged file succeeds and restores byte-identical",
            p.returncode == 0 and f.returncode == 0 and sha256_file(out) == sha256_file(os.path.join(env.orig, seg)),
            "push %d %s; fetch %d %s" % (p.returncode, p.stderr, f.returncode, f.stderr))


# name, function, the condition in one line.  Order matters only where noted.
PROBES = [
    ("missing-root", probe_missing_root, "repository directory missing: push fails, fetch stops recovery"),
    ("unmounted", probe_unmounted, "repository is an empty directory: fetch stops recovery"),
    ("foreign-identity", probe_foreign_identity, "repository of another cluster: fetch stops recovery"),
    ("new-repository", probe_new_repository, "existing empty directory: first push starts it, with a NOTICE"),
    ("recovery-control", probe_recovery_right_path, "the right repository recovers every row"),
    ("file-changes", probe_file_changes, "file grows during the push: nothing committed, retry succeeds"),
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", action="store_true", help="keep the temp directory")
    ap.add_argument("--only", nargs="*", help="run only these probes")
    args = ap.parse_args()
    why = pgtest.missing_prerequisite()
    if why:
        print("%s: skipped" % why)
        return 77
    env = Env(args)
    print("# temp dir %s" % env.tmp, flush=True)

    def on_alarm(signum, frame):
        raise TestError("time limit of %d s reached" % TIME_LIMIT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT)
    t0 = time.time()
    probes = [p for p in PROBES if not args.only or p[0] in args.only]
    try:
        setup(env)
    except (TestError, subprocess.TimeoutExpired, OSError) as e:
        env.r.check("set-up: primary, base backup and archive", False, str(e))
        probes = []
    for name, fn, what in probes:
        print("# probe %s: %s" % (name, what), flush=True)
        before = env.r.passed + env.r.failed
        try:
            fn(env)
        except (TestError, subprocess.TimeoutExpired, OSError) as e:
            env.r.check("probe %s ran to the end" % name, False, str(e))
        finally:
            for c in env.clusters:
                if c.running() and c is not env.primary:
                    c.stop("immediate")
        if env.r.passed + env.r.failed == before:
            env.r.check("probe %s checked something" % name, False)
    signal.alarm(0)
    for c in env.clusters:
        c.stop("immediate")
    print("# %.0f s" % (time.time() - t0))
    if env.r.failed == 0 and not env.keep:
        shutil.rmtree(env.tmp, ignore_errors=True)
    else:
        print("# kept %s" % env.tmp)
    print("%d passed, %d failed" % (env.r.passed, env.r.failed))
    return 1 if env.r.failed or env.r.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
