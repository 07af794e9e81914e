#!/usr/bin/env python3
"""test_probes.py - walship-push and walship-fetch against hostile conditions.

A table of probes (PROBES below): each one sets up one bad condition -- a
missing or unmounted repository, a file that changes while it is archived,
a FIFO where a file is expected, key material in the wrong place, names
that forge log lines -- and checks that walship neither loses data nor
hangs nor leaks.  The table is the list of conditions the suite covers
(test/integration/README.md maps each to its probe and unit tests); every
probe must run its checks (a probe that checks nothing fails).

The probes share one PostgreSQL 15 primary archiving into a file://
repository (run as `postgres` when the test runs as root) and, where the
condition is about recovery, a real recovery whose restore_command is
walship-fetch: PostgreSQL itself is the client.

Usage: test_probes.py [--keep] [--only NAME...]
Needs WS_BUILD_DIR (the meson build root).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15 or the postgres user is missing.
"""

import argparse
import base64
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
from pgtest import Repo, TestError, give, run, sha256_file, wait_promoted, wal_key  # noqa: E402

TIME_LIMIT = 400  # seconds for the whole script
MiB = 1 << 20
ROWS_AFTER_BACKUP = 5000


class Env(pgtest.TestEnv):
    """pgtest.TestEnv (file://), and what setup() makes for the probes."""

    def __init__(self, args):
        super().__init__(keep=args.keep, prefix="walship-probes-", port_base=6100)
        self.primary = None  # set up by setup()
        self.repo = None
        self.orig = None  # plain copies of every archived file
        self.bb = None  # base backup with its WAL (-X stream)
        self.want = None  # the primary's fingerprint after the rows added after the backup

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
    sig = os.path.join(other.datadir, "standby.signal")
    open(sig, "w").close()
    give(sig)
    standby = env.fetch_file(env.repo.conf, "0000000100000000000000F0", os.path.join(scratch, "b"),
                             cwd=other.datadir)
    os.unlink(sig)
    r.check("another cluster's repository, standby mode: still 202 (no waiting fixes a misconfiguration)",
            standby.returncode == 202 and one_error(standby, env.repo.url, sysid),
            "exit %d: %s" % (standby.returncode, standby.stderr))
    mine = env.fetch_file(env.repo.conf, seg, os.path.join(scratch, "c"), cwd=env.primary.datadir)
    r.check("this cluster's repository: the same segment is restored from its data directory",
            mine.returncode == 0 and sha256_file(os.path.join(scratch, "c")) == sha256_file(
                os.path.join(env.orig, seg)), mine.stderr)


def wait_log(c, since, pattern, count, timeout=60):
    """Waits until c's log after offset since matches pattern count times;
    returns the number of matches."""
    end = time.time() + timeout
    n = 0
    while time.time() < end:
        log = c.new_log()
        n = len(re.findall(pattern, log[since:]))
        if n >= count or "database system is shut down" in log:
            break
        time.sleep(0.2)
    return n


def probe_standby_waits(env):
    """A standby (standby.signal: PostgreSQL never ends recovery on "not
    found") set up before its repository exists -- the root missing, then an
    empty directory without an identity -- keeps running and asking, with a
    warning naming the repository each time, and replays once the first
    pushes made the repository."""
    r = env.r
    root = os.path.join(env.tmp, "late", "repo")
    conf = env.conf("late", repo="file://" + root)
    c = env.cluster("standby-late")
    c.copy_from(env.bb)
    c.base_conf()
    c.conf(restore_command="%s --config %s %%f %%p" % (env.fetch, conf), archive_mode="off", hot_standby="on")
    sig = os.path.join(c.datadir, "standby.signal")
    open(sig, "w").close()
    give(sig)
    c.start(wait=False)
    n = wait_log(c, 0, r"walship-fetch: WARNING: .*%s does not exist" % re.escape(root), 3)
    before = c.wait_query("select count(*) from marker", "100", 60) if c.running() else None
    r.check("standby, repository root missing: it keeps running, warning on every call naming the directory",
            n >= 3 and c.running() and before == "100" and "walship-fetch: ERROR" not in c.new_log(),
            "%d warnings, running=%s, rows=%s\n%s" % (n, c.running(), before, c.log_tail(20)))
    r.check("standby, repository root missing: walship-fetch did not create it", not os.path.exists(root))
    since = len(c.new_log())
    env.dir(os.path.join("late", "repo"))
    n = wait_log(c, since, r"walship-fetch: WARNING: .*%s is not a walship repository" % re.escape(root), 2)
    r.check("standby, empty repository directory (no identity yet): it keeps running, warning naming it",
            n >= 2 and c.running() and c.psql("select pg_is_in_recovery()", check=False) == "t",
            "%d warnings, running=%s\n%s" % (n, c.running(), c.log_tail(20)))
    pushed = [env.push_file(conf, os.path.join(env.orig, seg)).returncode for seg in env.segments()]
    got = c.wait_query("select count(*) from marker", env.want, 120) if c.running() else None
    r.check("standby: once the repository exists, it replays every archived row and stays a standby",
            pushed and pushed == [0] * len(pushed) and got == env.want
            and c.psql("select pg_is_in_recovery()", check=False) == "t" and "walship-fetch: ERROR" not in c.new_log(),
            "pushes %s, rows %s of %s\n%s" % (pushed, got, env.want, c.log_tail(20)))
    c.stop("immediate")


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
    """The file grows, or shrinks, while walship-push reads it (reads slowed
    with strace): the push fails, nothing is committed, and the retry of
    the unchanged file succeeds."""
    r = env.r
    if not shutil.which("strace"):
        r.check("file changes while archived: strace is installed (contrib/install-deps)", False)
        return

    def grow(path):
        with open(path, "ab") as f:
            f.write(b"\0" * 8192)

    def shrink(path):
        os.truncate(path, 16 * MiB - 8192)

    seg = env.segments()[-1]
    for how, change in (("grows", grow), ("shrinks", shrink)):
        root = env.dir("change-repo-" + how)
        conf = env.conf("change-" + how, repo="file://" + root)
        path = os.path.join(env.dir("change-" + how), seg)
        shutil.copy(os.path.join(env.orig, seg), path)
        give(path)
        argv = pgtest.as_user(["strace", "-f", "-o", "/dev/null", "-e", "inject=read:delay_exit=50000",
                               env.push, "--config", conf, path])
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        changed = False
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None and not changed:
            pid = find_pid([env.push, "--config", conf, path])
            pos = read_position(pid, path) if pid else None
            if pos is not None and 0 < pos < 8 * MiB:
                change(path)
                changed = True
            else:
                time.sleep(0.02)
        try:
            _, err = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        label = "file %s while archived" % how
        r.check("%s: it changed while walship-push was reading it" % label, changed, err)
        r.check("%s: the push fails saying so" % label,
                proc.returncode == 1 and "changed while being archived" in err,
                "exit %s: %s" % (proc.returncode, err))
        keys = Repo(env.tmp, "change-view-" + how, root=root).keys("wal/")
        r.check("%s: nothing was committed under its key" % label, wal_key(seg) not in keys, str(keys))
        shutil.copy(os.path.join(env.orig, seg), path)
        p = env.push_file(conf, path)
        out = os.path.join(env.dir("scratch-change-" + how), "out")
        f = env.fetch_file(conf, seg, out)
        r.check("%s: the retry of the unchanged file succeeds and restores byte-identical" % label,
                p.returncode == 0 and f.returncode == 0
                and sha256_file(out) == sha256_file(os.path.join(env.orig, seg)),
                "push %d %s; fetch %d %s" % (p.returncode, p.stderr, f.returncode, f.stderr))


# --- FIFOs, key material, names that forge log lines, small things -------------

def timed(argv, cwd=None, env=None, limit=20):
    """Runs argv as the server user with a time limit; returns (process or
    None when it hung, seconds)."""
    t0 = time.time()
    try:
        p = run(argv, cwd=cwd, env=env, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        return None, time.time() - t0
    return p, time.time() - t0


def fifo(env, name):
    path = os.path.join(env.dir("fifos"), name)
    if not os.path.exists(path):
        os.mkfifo(path, 0o600)
        give(path)
    return path


def probe_fifos(env):
    """A FIFO (nobody writing) where walship reads a file: it fails at once
    naming it, never blocks (a stuck archive_command stalls the archiver, a
    stuck restore_command stalls recovery)."""
    r = env.r
    seg = env.segments()[-1]
    out = os.path.join(env.dir("scratch-fifo"), "out")
    conf_fifo = fifo(env, "walship.conf")
    key_fifo = fifo(env, "key")
    key_conf = env.conf("fifo-key", repo=env.repo.url, encryption_key_file=key_fifo)
    cases = [
        ("--config FILE is a FIFO", [env.push, "--config", conf_fifo, os.path.join(env.orig, seg)], None, 1,
         conf_fifo),
        ("--config FILE is a FIFO (fetch)", [env.fetch, "--config", conf_fifo, seg, out], None, 202, conf_fifo),
        ("WALSHIP_CONFIG is a FIFO", [env.push, os.path.join(env.orig, seg)], {"WALSHIP_CONFIG": conf_fifo}, 1,
         conf_fifo),
        ("encryption_key_file is a FIFO", [env.push, "--config", key_conf, os.path.join(env.orig, seg)], None, 1,
         key_fifo),
        ("encryption_key_file is a FIFO (fetch)", [env.fetch, "--config", key_conf, seg, out], None, 202, key_fifo),
        ("the WAL file is a FIFO", [env.push, "--config", env.repo.conf, fifo(env, "000000010000000000000077")],
         None, 1, "000000010000000000000077"),
    ]
    for label, argv, extra, code, needle in cases:
        p, secs = timed(argv, env=extra)
        r.check("FIFO: %s: fails at once (exit %d) naming it" % (label, code),
                p is not None and p.returncode == code and one_error(p, needle, "FIFO") and secs < 15,
                "hung" if p is None else "exit %d in %.1f s: %s" % (p.returncode, secs, p.stderr))


def probe_key_material(env):
    """A key file named by mistake as the config file: no message shows its
    content."""
    r = env.r
    key = os.path.join(env.tmp, "mistaken.key")
    with open(key, "w") as f:
        f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    os.chmod(key, 0o600)
    give(key)
    with open(key) as f:
        material = f.read().strip()
    seg = env.segments()[-1]
    for label, argv in (("walship-push --config KEYFILE", [env.push, "--config", key, os.path.join(env.orig, seg)]),
                        ("walship-fetch --config KEYFILE", [env.fetch, "--config", key, seg, "out"])):
        p = run(argv, cwd=env.dir("scratch-key"), check=False)
        leaked = [material[i:i + 6] for i in range(0, len(material) - 6) if material[i:i + 6] in p.stderr]
        r.check("key material: %s fails without showing any of the key" % label,
                p.returncode != 0 and one_error(p, key) and not leaked, "exit %d: %s" % (p.returncode, p.stderr))


def probe_key_permissions(env):
    """A key file others can read is refused (as ssh refuses such a private
    key), saying how to fix it."""
    r = env.r
    seg = env.segments()[-1]
    for mode, who in ((0o644, "everyone"), (0o640, "its group")):
        key = os.path.join(env.tmp, "open-%o.key" % mode)
        pgtest.write_key_file(key)
        os.chmod(key, mode)
        conf = env.conf("open-key-%o" % mode, repo=env.repo.url, encryption_key_file=key)
        p = env.push_file(conf, os.path.join(env.orig, seg))
        r.check("key file readable by %s (%o): walship-push refuses it, naming it and the fix" % (who, mode),
                p.returncode == 1 and one_error(p, key, "chmod 600"), "exit %d: %s" % (p.returncode, p.stderr))
        f = env.fetch_file(conf, seg, os.path.join(env.dir("scratch-openkey"), "out"))
        r.check("key file readable by %s (%o): walship-fetch stops recovery (202)" % (who, mode),
                f.returncode == 202 and one_error(f, key), "exit %d: %s" % (f.returncode, f.stderr))


def probe_forged_names(env):
    """%f/%p with a newline or escape sequence, or 5,000 characters: one
    error line, the name escaped and cut."""
    r = env.r
    forged = "pg_wal/000000010000000000000001\nwalship-push: ERROR: all is well\x1b[2J"
    p = env.push_file(env.repo.conf, forged)
    r.check("forged %p: one error line, control characters escaped",
            p.returncode == 1 and len(p.stderr.strip().splitlines()) == 1 and "\\x0a" in p.stderr
            and "\x1b" not in p.stderr, repr(p.stderr))
    f = env.fetch_file(env.repo.conf, "0" * 5000, "out", cwd=env.dir("scratch-long"))
    r.check("a 5,000-character %f: exit 202, one line, cut short",
            f.returncode == 202 and len(f.stderr.strip().splitlines()) == 1 and len(f.stderr) < 600
            and "..." in f.stderr, "exit %d, %d bytes: %s" % (f.returncode, len(f.stderr), f.stderr[:300]))


def probe_backup_offset(env):
    """A .backup file whose name's offset is not its START WAL LOCATION."""
    r = env.r
    backups = sorted(n for n in os.listdir(env.orig) if n.endswith(".backup"))
    if not r.check("the archive holds the base backup's .backup file", backups, os.listdir(env.orig)):
        return
    good = backups[0]
    off = int(good[25:33], 16)
    bad_name = "%s.%08X.backup" % (good[:24], off + 8)
    path = os.path.join(env.dir("backup-offset"), bad_name)
    shutil.copy(os.path.join(env.orig, good), path)
    give(path)
    keys = env.repo.keys()
    p = env.push_file(env.repo.conf, path)
    r.check(".backup name offset differs from START WAL LOCATION: refused, nothing stored",
            p.returncode == 1 and one_error(p, bad_name, "START WAL LOCATION") and env.repo.keys() == keys,
            "exit %d: %s" % (p.returncode, p.stderr))


def probe_permission_standby(env):
    """An object of a file:// repository that cannot be read (EACCES): fatal
    in archive recovery (201), a wait in standby mode (1), as doc/archive.md
    says."""
    r = env.r
    seg = env.segments()[-1]
    key = wal_key(seg)
    codes = {}
    env.repo.make_unreadable(key)
    try:
        for mode in ("recovery", "standby"):
            d = env.dir("perm-" + mode)
            sig = os.path.join(d, mode + ".signal")
            open(sig, "w").close()
            give(sig)
            codes[mode] = env.fetch_file(env.repo.conf, seg, "out", cwd=d).returncode
    finally:
        env.repo.make_readable(key)
    r.check("file:// permission error: 201 in archive recovery, 1 in standby mode",
            codes == {"recovery": 201, "standby": 1}, str(codes))


FULL_DISK_SCRIPT = r"""
set -u
mnt=$1 push=$2 fetch=$3 conf_full=$4 conf_good=$5 seg=$6 out=$7 user=$8
as_user() { if [ "$user" = root ]; then "$@"; else runuser -u "$user" -- "$@"; fi; }
mount -t tmpfs -o size=1m,mode=0755 walship-full "$mnt/repo" || exit 90
mount -t tmpfs -o size=1m,mode=0755 walship-full "$mnt/dest" || exit 90
[ "$user" = root ] || chown "$user" "$mnt/repo" "$mnt/dest" || exit 91
# Room for the identity, not for the segment's object.
head -c $((1024 * 1024 - 8192)) /dev/zero >"$mnt/repo/filler~" || exit 92
as_user "$push" --config "$conf_full" "$seg" 2>"$out/push.err"; echo "push=$?"
as_user "$fetch" --config "$conf_full" "$(basename "$seg")" "$mnt/dest/a" 2>"$out/fetch-full.err"; echo "fetch_full=$?"
as_user "$fetch" --config "$conf_good" "$(basename "$seg")" "$mnt/dest/RECOVERYXLOG" 2>"$out/fetch-dest.err"
echo "fetch_dest=$?"
(cd "$mnt/repo" && find . -path ./locks~ -prune -o -type f ! -name 'filler~' -print | sort | tr '\n' ' '); echo
(cd "$mnt/dest" && find . -type f | sort | tr '\n' ' '); echo
"""


def probe_full_disk(env):
    """A full file system (a 1 MiB tmpfs in a private mount namespace):
    under the repository, a push fails naming the cause and leaves no
    object, so a fetch answers "not found"; under fetch's destination, the
    fetch fails (202) and leaves no partial file."""
    r = env.r
    if os.geteuid() != 0 or not shutil.which("unshare"):
        r.check("full disk: runs as root with unshare (a private tmpfs is mounted)", False)
        return
    mnt = env.dir("full")
    for d in ("repo", "dest"):
        env.dir(os.path.join("full", d))
    out = env.dir("full-out")
    conf_full = env.conf("full", repo="file://" + os.path.join(mnt, "repo"))
    # The segment whose object is largest (over 64 KiB, so it cannot fit).
    name = max(env.segments(), key=lambda n: env.repo.size(wal_key(n)))
    if not r.check("full disk: an archived segment's object is larger than 64 KiB",
                   env.repo.size(wal_key(name)) > 65536, str(env.repo.size(wal_key(name)))):
        return
    seg = os.path.join(env.orig, name)
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "bash", "-c", FULL_DISK_SCRIPT, "full-disk",
                        mnt, env.push, env.fetch, conf_full, env.repo.conf, seg, out, pgtest.run_user()],
                       capture_output=True, text=True, timeout=120)
    lines = p.stdout.split("\n")
    codes = dict(line.split("=", 1) for line in lines if re.match(r"^\w+=\d+$", line))
    if not r.check("full disk: a private tmpfs was mounted", p.returncode == 0 and len(lines) >= 5,
                   "exit %d: %s %s" % (p.returncode, p.stdout, p.stderr)):
        return
    repo_files, dest_files = lines[3].split(), lines[4].split()

    def err(name):
        with open(os.path.join(out, name)) as f:
            return f.read()

    push_err = err("push.err")
    r.check("full disk under the repository: push exits 1 with one error naming the path and the cause",
            codes.get("push") == "1" and len([x for x in push_err.splitlines() if "ERROR" in x]) == 1
            and "No space left on device" in push_err and mnt in push_err, "%s: %s" % (codes, push_err))
    r.check("full disk under the repository: no object or temp file is left but the identity",
            repo_files == ["./repo.identity.ws"], str(repo_files))
    r.check("full disk under the repository: fetch then answers 'not found' (1), nothing half-written taken",
            codes.get("fetch_full") == "1", "%s: %s" % (codes, err("fetch-full.err")))
    r.check("full disk under fetch's destination: 202 naming the cause, no partial file left",
            codes.get("fetch_dest") == "202" and "No space left on device" in err("fetch-dest.err")
            and dest_files == [], "%s %s: %s" % (codes, dest_files, err("fetch-dest.err")))


def probe_small_things(env):
    """Conditions that already held up, kept covered: wrong name, wrong
    size, zero pages, an unreadable WAL file, a malformed .backup file, a
    malformed config file, eight concurrent pushes of one segment."""
    r = env.r
    seg = env.segments()[-1]
    work = env.dir("small")
    with open(os.path.join(env.orig, seg), "rb") as f:
        good = f.read()

    def put(name, data, mode=0o600):
        path = os.path.join(work, name)
        with open(path, "wb") as f:
            f.write(data)
        give(path)
        os.chmod(path, mode)
        return path

    backups = sorted(n for n in os.listdir(env.orig) if n.endswith(".backup"))
    bad_backup = backups[0] if backups else "000000010000000000000002.00000028.backup"
    keys = env.repo.keys()
    for label, path, needle in (
            ("a wrong name", put("notawalfile", good), "not a WAL file name"),
            ("a malformed .backup file", put(bad_backup, b"START WAL LOCATION: nonsense\n"), bad_backup),
            ("a wrong size", put("0000000100000000000000A1", good[:MiB]), "differs"),
            ("zero pages", put("0000000100000000000000A2", bytes(16 * MiB)), "page magic"),
            ("an unreadable file", put("0000000100000000000000A3", good, 0o000), "Permission denied")):
        p = env.push_file(env.repo.conf, path)
        r.check("push of %s: one error line, nothing stored" % label,
                p.returncode == 1 and one_error(p, needle) and env.repo.keys() == keys,
                "exit %d: %s" % (p.returncode, p.stderr))
    bad_conf = os.path.join(env.tmp, "malformed.conf")
    with open(bad_conf, "w") as f:
        f.write("repo = %s\nthis line is not a setting\n" % env.repo.url)
    give(bad_conf)
    p = env.push_file(bad_conf, os.path.join(env.orig, seg))
    f = env.fetch_file(bad_conf, seg, os.path.join(env.dir("scratch-badconf"), "out"))
    r.check("a malformed config file: push 1, fetch 202, one line naming the file and line",
            p.returncode == 1 and f.returncode == 202 and one_error(p, bad_conf + ":2") and one_error(f, bad_conf),
            p.stderr + f.stderr)
    root = env.dir("eight")
    conf = env.conf("eight", repo="file://" + root)
    procs = [subprocess.Popen(pgtest.as_user([env.push, "--config", conf, os.path.join(env.orig, seg)]),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(8)]
    rcs = [pp.wait(timeout=120) for pp in procs]
    out = os.path.join(env.dir("scratch-eight"), "out")
    fe = env.fetch_file(conf, seg, out)
    r.check("eight concurrent pushes of one segment: all succeed, one object, byte-identical",
            rcs == [0] * 8 and fe.returncode == 0 and sha256_file(out) == sha256_file(os.path.join(env.orig, seg)),
            "%s %s" % (rcs, fe.stderr))



# name, function, the condition in one line.  Order matters only where noted.
PROBES = [
    ("missing-root", probe_missing_root, "repository directory missing: push fails, fetch stops recovery"),
    ("unmounted", probe_unmounted, "repository is an empty directory: fetch stops recovery"),
    ("foreign-identity", probe_foreign_identity, "repository of another cluster: fetch stops recovery"),
    ("standby-waits", probe_standby_waits,
     "standby, repository root missing then without identity: keeps running, replays once it exists"),
    ("new-repository", probe_new_repository, "existing empty directory: first push starts it, with a NOTICE"),
    ("recovery-control", probe_recovery_right_path, "the right repository recovers every row"),
    ("file-changes", probe_file_changes, "file grows during the push: nothing committed, retry succeeds"),
    ("fifos", probe_fifos, "a FIFO as config file, WALSHIP_CONFIG, key file or WAL file: fails at once"),
    ("key-material", probe_key_material, "a key file passed as the config file: its content is never shown"),
    ("key-permissions", probe_key_permissions, "a key file others can read is refused"),
    ("forged-names", probe_forged_names, "%f/%p with control characters or 5,000 bytes: escaped and cut"),
    ("backup-offset", probe_backup_offset, ".backup name offset differs from START WAL LOCATION: refused"),
    ("permission-standby", probe_permission_standby, "file:// EACCES: 201 in archive recovery, 1 in standby"),
    ("full-disk", probe_full_disk, "a full file system under the repository or fetch's destination"),
    ("small-things", probe_small_things,
     "wrong name/size, zero pages, unreadable file, malformed .backup and config files, 8 pushes"),
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
    env.r.expect(len(probes))
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
    return env.finish(t0)


if __name__ == "__main__":
    sys.exit(main())
