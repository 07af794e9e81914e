"""pgtest.py - throwaway PostgreSQL clusters and walship repositories for tests.

Python standard library only.  PostgreSQL refuses to run as root: when the
test runs as root every server and walship command runs as the `postgres`
user (runuser); otherwise as the current user.  Servers listen on a unix
socket in the test's own directory only (listen_addresses = '').

A Repo describes where walship stores objects (its URL and settings) and
how a test can reach behind walship's back to damage or inspect objects.
Only file:// is implemented here; an S3 variant provides the same methods.
"""

import os
import pwd
import shutil
import subprocess
import time

PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


class TestError(Exception):
    pass


def run_user():
    """The user servers and walship run as."""
    if os.geteuid() == 0:
        return "postgres"
    return pwd.getpwuid(os.geteuid()).pw_name


def as_user(argv):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + list(argv)
    return list(argv)


def give(path):
    """Hands path (recursively) to the server user."""
    if os.geteuid() != 0:
        return
    pw = pwd.getpwnam("postgres")
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for n in dirs + files:
            os.lchown(os.path.join(root, n), pw.pw_uid, pw.pw_gid)
    if not os.path.isdir(path):
        os.chown(path, pw.pw_uid, pw.pw_gid)


def run(argv, cwd=None, env=None, timeout=120, check=True, input=None):
    """Runs argv as the server user; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    # The test's settings come from --config files only (walship rejects
    # unknown WALSHIP_* variables, so none may leak through).
    for k in list(full_env):
        if k.startswith("WALSHIP_"):
            del full_env[k]
    if env:
        full_env.update(env)
    p = subprocess.run(as_user(argv), cwd=cwd, env=full_env, timeout=timeout,
                       capture_output=True, text=True, input=input)
    if check and p.returncode != 0:
        raise TestError("%s exited %d: %s%s" % (" ".join(argv), p.returncode, p.stdout, p.stderr))
    return p


class Repo:
    """A file:// repository with its walship config file."""

    def __init__(self, tmp, name, key_file=None):
        self.root = os.path.join(tmp, name)
        self.url = "file://" + self.root
        self.conf = os.path.join(tmp, name + ".conf")
        with open(self.conf, "w") as f:
            f.write("repo = %s\n" % self.url)
            if key_file:
                f.write("encryption_key_file = %s\n" % key_file)
        give(self.conf)

    # --- reaching behind walship (file:// only) ---
    def object_path(self, key):
        return os.path.join(self.root, key)

    def exists(self, key):
        return os.path.isfile(self.object_path(key))

    def read(self, key):
        with open(self.object_path(key), "rb") as f:
            return f.read()

    def flip_byte(self, key, offset):
        """Flips one bit of the stored object in place (xattrs survive)."""
        with open(self.object_path(key), "r+b") as f:
            f.seek(offset)
            b = f.read(1)
            f.seek(offset)
            f.write(bytes([b[0] ^ 0x01]))

    def truncate(self, key, size):
        os.truncate(self.object_path(key), size)

    def replace_raw(self, key, data):
        """Replaces the object's bytes (without walship's metadata)."""
        p = self.object_path(key)
        os.unlink(p)
        with open(p, "wb") as f:
            f.write(data)
        give(p)

    def chmod(self, key, mode):
        os.chmod(self.object_path(key), mode)

    def keys(self, prefix=""):
        out = []
        for root, dirs, files in os.walk(self.root):
            for n in files:
                if n.endswith("~") or n.startswith("."):
                    continue
                k = os.path.relpath(os.path.join(root, n), self.root)
                if k.startswith(prefix):
                    out.append(k)
        return sorted(out)


def wal_key(name):
    """The object key walship uses for a WAL file name (doc/format.md)."""
    if name.endswith(".history"):
        return "wal/history/%s.ws" % name
    return "wal/%s/%s.ws" % (name[:16], name)


class Cluster:
    """One PostgreSQL data directory and its server."""

    def __init__(self, tmp, name, port):
        self.tmp = tmp
        self.name = name
        self.datadir = os.path.join(tmp, name)
        self.sockdir = os.path.join(tmp, "sock")
        self.log = os.path.join(tmp, name + ".log")
        self.port = port
        os.makedirs(self.sockdir, exist_ok=True)
        give(self.sockdir)

    def initdb(self, *extra):
        run([PGBIN + "/initdb", "-D", self.datadir, "-A", "trust", "-U", "postgres", "--no-sync"] + list(extra),
            timeout=120)

    def conf(self, **settings):
        with open(os.path.join(self.datadir, "postgresql.auto.conf"), "a") as f:
            for k, v in settings.items():
                f.write("%s = '%s'\n" % (k, str(v).replace("'", "''")))

    def base_conf(self):
        self.conf(listen_addresses="", unix_socket_directories=self.sockdir, port=self.port,
                  fsync="off", full_page_writes="on", wal_level="replica", max_wal_senders=4,
                  shared_buffers="32MB", logging_collector="off", log_min_messages="warning",
                  wal_retrieve_retry_interval="1s")

    def start(self, wait=True, check=True):
        self.log_offset = len(self.log_text())
        argv = [PGBIN + "/pg_ctl", "-D", self.datadir, "-l", self.log, "-t", "60"]
        argv += ["-w"] if wait else ["-W"]
        return run(argv + ["start"], timeout=90, check=check)

    def stop(self, mode="fast"):
        if self.running():
            run([PGBIN + "/pg_ctl", "-D", self.datadir, "-m", mode, "-t", "60", "stop"], timeout=90, check=False)

    def running(self):
        return os.path.exists(os.path.join(self.datadir, "postmaster.pid"))

    def new_log(self):
        """The server log written since the last start()."""
        return self.log_text()[getattr(self, "log_offset", 0):]

    def wait_down(self, timeout):
        """Waits until the server started last has shut down by itself."""
        end = time.time() + timeout
        while time.time() < end:
            if "database system is shut down" in self.new_log() and not self.running():
                return True
            time.sleep(0.2)
        return False

    def promote(self):
        run([PGBIN + "/pg_ctl", "-D", self.datadir, "-w", "-t", "60", "promote"], timeout=90)

    def psql(self, sql, db="postgres", check=True):
        p = run([PGBIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.sockdir, "-p",
                 str(self.port), "-U", "postgres", "-d", db, "-c", sql], timeout=120, check=check)
        return p.stdout.strip()

    def wait_query(self, sql, want, timeout):
        """Polls sql until it returns want; returns the last result."""
        end = time.time() + timeout
        got = None
        while time.time() < end:
            p = run([PGBIN + "/psql", "-X", "-q", "-A", "-t", "-h", self.sockdir, "-p", str(self.port), "-U",
                     "postgres", "-d", "postgres", "-c", sql], timeout=30, check=False)
            got = p.stdout.strip()
            if p.returncode == 0 and got == want:
                return got
            time.sleep(0.2)
        return got

    def pgbench(self, *args, timeout=120):
        return run([PGBIN + "/pgbench", "-h", self.sockdir, "-p", str(self.port), "-U", "postgres"] + list(args) +
                   ["postgres"], timeout=timeout)

    def pgbench_bg(self, *args):
        return subprocess.Popen(as_user([PGBIN + "/pgbench", "-h", self.sockdir, "-p", str(self.port), "-U",
                                         "postgres"] + list(args) + ["postgres"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def switch_wal(self):
        """Forces a segment switch; returns the name of the segment it ended."""
        return self.psql("select pg_walfile_name(pg_switch_wal())")

    def wait_archived(self, name, timeout=60):
        """Waits until the archiver reports name (or a later file) archived."""
        end = time.time() + timeout
        last = None
        while time.time() < end:
            last = self.psql("select coalesce(last_archived_wal, '') from pg_stat_archiver")
            if last and last[:24] >= name[:24]:
                return last
            time.sleep(0.2)
        raise TestError("%s: %s not archived after %ds (last archived: %s); log tail: %s"
                        % (self.name, name, timeout, last, self.log_tail()))

    def fingerprint(self):
        """Row counts and content hashes of the pgbench tables and marker."""
        q = []
        for t in ("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history", "marker"):
            q.append("(select count(*) || ':' || coalesce(md5(string_agg(x::text, ',' order by x::text)), '-')"
                     " from %s x)" % t)
        return self.psql("select " + " || ' ' || ".join(q))

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_tail(self, n=15):
        return "\n".join(self.log_text().splitlines()[-n:])

    def controldata(self):
        p = run([PGBIN + "/pg_controldata", "-D", self.datadir], timeout=30)
        out = {}
        for line in p.stdout.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                out[k.strip()] = v.strip()
        return out

    def copy_from(self, src_dir):
        shutil.copytree(src_dir, self.datadir, symlinks=True)
        give(self.datadir)
        os.chmod(self.datadir, 0o700)
