"""pgtest.py - throwaway PostgreSQL clusters and walship repositories for tests.

Python standard library only.  PostgreSQL refuses to run as root: when the
test runs as root every server and walship command runs as the `postgres`
user (runuser); otherwise as the current user.  Servers listen on a unix
socket in the test's own directory only (listen_addresses = '').

A Repo describes where walship stores objects (its URL and settings) and
how a test can reach behind walship's back to damage or inspect objects:
Repo for file://, S3Repo for s3:// (through the project's verifying proxy,
inspected directly in s3rver; S3Env starts and stops that environment).
S3 needs python3-botocore (only imported when used).
"""

import http.client
import json
import hashlib
import os
import pwd
import shutil
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

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


def write_key_file(path, size=32):
    """A raw binary encryption key readable by the server user, as
    `head -c 32 /dev/urandom` makes it: any last byte, 0x0a and 0x0d included
    (a file that is not text is key material byte for byte; doc/format.md)."""
    key = os.urandom(size)
    with open(path, "wb") as f:
        f.write(key)
    os.chmod(path, 0o600)
    give(path)


def write_conf(path, settings):
    """Writes a walship config file (key = value lines) readable by the server user."""
    with open(path, "w") as f:
        for k, v in settings.items():
            f.write("%s = %s\n" % (k, v))
    give(path)


class Results:
    """TAP-like check lines ("ok - ..." / "FAIL - ...") and their counts.

    A run that checked nothing, or fewer checks than it expects (expect()),
    fails: a scenario skipped by mistake must not look like a pass."""

    def __init__(self, expected=1):
        self.passed = 0
        self.failed = 0
        self.expected = expected

    def expect(self, n):
        """At least n checks must run (over the whole run)."""
        self.expected = max(self.expected, n)

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok - %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL - %s%s" % (name, (": " + str(detail)[:3000]) if detail else ""), flush=True)
        return cond

    def check_all(self, name, items, bad, detail=None):
        """Every one of items is right (bad lists the wrong ones): fails when
        items is empty, since then nothing was checked."""
        items = list(items)
        return self.check("%s (%d checked)" % (name, len(items)), bool(items) and not bad,
                          detail if detail is not None else ("nothing to check" if not items else bad))

    def finish(self):
        """Prints the counts; returns the exit status (0 only when every
        check passed and at least the expected number ran)."""
        ran = self.passed + self.failed
        if ran < self.expected:
            print("FAIL - %d checks ran, at least %d expected" % (ran, self.expected), flush=True)
        print("%d passed, %d failed" % (self.passed, self.failed + (1 if ran < self.expected else 0)))
        return 0 if self.failed == 0 and ran >= self.expected else 1


class Repo:
    """A file:// repository with its walship config file.

    root (default tmp/name) lets several config files (variant()) share one
    repository; settings are extra walship settings for the config file."""

    # Settings for a test that wants storage errors to fail fast (none needed
    # for file://: its errors are immediate).
    FAST_FAIL = {}

    def __init__(self, tmp, name, key_file=None, root=None, settings=None):
        self.tmp = tmp
        self.key_file = key_file
        self.root = root or os.path.join(tmp, name)
        self.url = "file://" + self.root
        # walship never creates a missing root: an empty directory is a new repository.
        if not os.path.isdir(self.root):
            os.makedirs(self.root)
            give(self.root)
        self.conf = os.path.join(tmp, name + ".conf")
        self.extra = dict(settings or {})
        self.write_conf(self.conf, key_file, **self.extra)

    def settings(self):
        """The settings naming the repository (no key, no tuning)."""
        return {"repo": self.url}

    def write_conf(self, path, key_file=None, **extra):
        """A config file for this repository, e.g. with another key."""
        s = self.settings()
        if key_file:
            s["encryption_key_file"] = key_file
        s.update(extra)
        write_conf(path, s)

    def variant(self, name, **settings):
        """The same repository through another config file with more settings."""
        return Repo(self.tmp, name, self.key_file, root=self.root, settings=dict(self.extra, **settings))

    def env(self):
        """Environment walship needs for this repository (none for file://)."""
        return {}

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

    def invert_range(self, key, offset, length):
        """Inverts length bytes in place (xattrs survive); again to repair.
        Unlike one flipped bit, which can land where LZ4 decodes the same
        plaintext (a match offset between equal bytes), this always damages
        what the object decodes to."""
        with open(self.object_path(key), "r+b") as f:
            f.seek(offset)
            b = f.read(length)
            f.seek(offset)
            f.write(bytes(x ^ 0xFF for x in b))

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

    def size(self, key):
        return os.path.getsize(self.object_path(key))

    def meta(self, key):
        """walship's metadata of the object (xattrs), by walship's names."""
        p = self.object_path(key)
        pre = "user.walship."  # storage_file.c
        return {n[len(pre):]: os.getxattr(p, n).decode() for n in os.listxattr(p) if n.startswith(pre)}

    def remove(self, key):
        os.unlink(self.object_path(key))

    def make_unreadable(self, key):
        """Reading key fails with an I/O error (EACCES) until make_readable."""
        self.chmod(key, 0)

    def make_readable(self, key):
        self.chmod(key, 0o640)

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


class S3Env:
    """test/integration/s3env: s3rver behind the verifying, fault-injecting
    proxy (test/integration/README.md).  vars holds DIR/env.json."""

    def __init__(self, directory, script=None):
        self.dir = directory
        self.script = script or os.environ.get("S3ENV") or os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "s3env")
        self.vars = None

    def start(self, parent_pid=None, timeout=180, aws_endpoints=False):
        """Starts it; it stops by itself when parent_pid (default: this process) exits.
        aws_endpoints: also the fake credential endpoints (S3ENV_IMDS_ENDPOINT, ...)."""
        os.makedirs(self.dir, exist_ok=True)
        p = subprocess.run([self.script, "start", self.dir, "--parent-pid", str(parent_pid or os.getpid())]
                           + (["--aws-endpoints"] if aws_endpoints else []),
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise TestError("s3env start %s failed: %s%s" % (self.dir, p.stdout, p.stderr))
        with open(os.path.join(self.dir, "env.json")) as f:
            self.vars = json.load(f)

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)

    def aws_env(self):
        """The credentials walship reads from its environment (never from a config file)."""
        return {k: self.vars[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}

    def endpoint(self, https):
        return self.vars["S3ENV_HTTPS_ENDPOINT" if https else "S3ENV_HTTP_ENDPOINT"]

    def control(self, https, method, name, body=None):
        """One call to the control API of the HTTP or HTTPS proxy; returns its text."""
        url = self.vars["S3ENV_CONTROL_HTTPS" if https else "S3ENV_CONTROL_HTTP"] + "/" + name
        data = json.dumps(body).encode() if body is not None else None
        ctx = ssl.create_default_context(cafile=self.vars["S3ENV_CA_FILE"]) if https else None
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30, context=ctx) as resp:
                return resp.read().decode()
        except OSError as e:
            raise TestError("proxy control %s %s: %s" % (method, url, e))

    def proxy_config(self, https, **settings):
        """POST /__proxy/config (fault_rate, faults, only, seed, ...)."""
        return json.loads(self.control(https, "POST", "config", settings))

    def proxy_reset(self, https):
        """Start-up settings, empty log, fresh RNG; ends stalls."""
        self.control(https, "POST", "reset", {})

    def proxy_log(self, https, since=0):
        text = self.control(https, "GET", "log?since=%d" % since)
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def proxy_log_complete(self, https, timeout=15):
        """The log once every request numbered so far is in it: an entry is
        written when its answer is, so a stalled request shows up late."""
        end = time.time() + timeout
        while True:
            log = self.proxy_log(https)
            seqs = sorted(e["seq"] for e in log)
            if not seqs or seqs[-1] - seqs[0] + 1 == len(seqs) or time.time() > end:
                return log
            time.sleep(0.2)

    def direct(self):
        """Signed requests straight to s3rver, bypassing the proxy."""
        return S3Direct(self.vars["S3ENV_S3RVER_ENDPOINT"], self.vars["S3ENV_BUCKET"],
                        self.vars["AWS_ACCESS_KEY_ID"], self.vars["AWS_SECRET_ACCESS_KEY"], self.vars["AWS_REGION"])


class S3Direct:
    """Minimal S3 client for s3rver over HTTP, signed with botocore's SigV4
    (s3rver checks no signature, but real requests keep the helper honest)."""

    def __init__(self, endpoint, bucket, access_key, secret_key, region):
        from botocore.credentials import Credentials  # python3-botocore
        u = urllib.parse.urlsplit(endpoint)
        if u.scheme != "http":
            raise TestError("S3Direct speaks plain HTTP only: %s" % endpoint)
        self.endpoint, self.host, self.port = endpoint, u.hostname, u.port
        self.bucket, self.region = bucket, region
        self.creds = Credentials(access_key, secret_key)

    def request(self, method, key, body=b"", headers=None, query="", ok=(200, 204, 206)):
        """Returns (status, headers with lower-case names, body); raises unless status in ok."""
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        path = "/%s/%s" % (self.bucket, urllib.parse.quote(key, safe="/-_.~"))
        if query:
            path += "?" + query
        req = AWSRequest(method=method, url=self.endpoint + path, data=body, headers=dict(headers or {}))
        S3SigV4Auth(self.creds, "s3", self.region).add_auth(req)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=dict(req.headers.items()))
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
        finally:
            conn.close()
        if resp.status not in ok:
            raise TestError("s3rver %s %s: %d %s" % (method, path, resp.status, data[:300]))
        return resp.status, hdrs, data

    def list(self, prefix):
        keys, token = [], None
        for _ in range(10000):  # pages; bounded
            q = [("list-type", "2"), ("prefix", prefix)]
            if token:
                q.append(("continuation-token", token))
            _, _, data = self.request("GET", "", query=urllib.parse.urlencode(sorted(q), quote_via=urllib.parse.quote))
            root = ET.fromstring(data)
            # By local name: s3rver's namespace is not AWS's (see s3rver notes).
            for el in root.iter():
                el.tag = el.tag.rsplit("}", 1)[-1]
            keys += [c.findtext("Key") for c in root.findall("Contents")]
            if root.findtext("IsTruncated") != "true":
                return keys
            token = root.findtext("NextContinuationToken")
        raise TestError("listing %s did not end" % prefix)


class S3Repo:
    """An s3:// repository (a unique prefix in S3ENV_BUCKET) used through the
    proxy (HTTPS with s3_ca_file, or HTTP), with the same "reach behind
    walship" methods as Repo, done directly in s3rver.

    Metadata (x-amz-meta-*) plays the part of file://'s xattrs: flip_byte and
    truncate keep it (the object changes under intact metadata, as an
    in-place change of a file does), replace_raw drops it."""

    # Storage errors fail within about a second instead of the 60 s default budget.
    FAST_FAIL = {"s3_retry_budget": 1, "s3_request_timeout": 2}

    def __init__(self, tmp, name, s3, key_file=None, https=False, prefix=None, settings=None):
        self.tmp, self.s3, self.key_file, self.https = tmp, s3, key_file, https
        self.bucket = s3.vars["S3ENV_BUCKET"]
        self.prefix = prefix or "%s-%d-%s" % (name, os.getpid(), os.urandom(4).hex())
        self.url = "s3://%s/%s" % (self.bucket, self.prefix)
        self.conf = os.path.join(tmp, name + ".conf")
        self.extra = dict(settings or {})
        self.s3d = s3.direct()
        self.write_conf(self.conf, key_file, **self.extra)

    def settings(self):
        s = {"repo": self.url, "s3_endpoint": self.s3.endpoint(self.https)}
        if self.https:
            s["s3_ca_file"] = self.s3.vars["S3ENV_CA_FILE"]
        return s

    write_conf = Repo.write_conf

    def variant(self, name, **settings):
        return S3Repo(self.tmp, name, self.s3, self.key_file, self.https, self.prefix, dict(self.extra, **settings))

    def env(self):
        return self.s3.aws_env()

    def _k(self, key):
        return self.prefix + "/" + key

    def exists(self, key):
        return self.s3d.request("HEAD", self._k(key), ok=(200, 404))[0] == 200

    def size(self, key):
        return int(self.s3d.request("HEAD", self._k(key))[1]["content-length"])

    def read(self, key):
        return self.s3d.request("GET", self._k(key))[2]

    def read_with_meta(self, key):
        _, h, data = self.s3d.request("GET", self._k(key))
        return data, {k: v for k, v in h.items() if k.startswith("x-amz-meta-")}

    def meta(self, key):
        """walship's metadata of the object (x-amz-meta-*), names without the prefix."""
        h = self.s3d.request("HEAD", self._k(key))[1]
        return {k[11:]: v for k, v in h.items() if k.startswith("x-amz-meta-")}

    def _put(self, key, data, meta):
        self.s3d.request("PUT", self._k(key), body=data, headers=meta)

    def flip_byte(self, key, offset):
        """Flips one bit of the stored object; its metadata survives."""
        data, meta = self.read_with_meta(key)
        b = bytearray(data)
        b[offset] ^= 0x01
        self._put(key, bytes(b), meta)

    def invert_range(self, key, offset, length):
        """Inverts length bytes, keeping the metadata; again to repair."""
        data, meta = self.read_with_meta(key)
        b = bytearray(data)
        b[offset:offset + length] = bytes(x ^ 0xFF for x in b[offset:offset + length])
        self._put(key, bytes(b), meta)

    def truncate(self, key, size):
        data, meta = self.read_with_meta(key)
        self._put(key, data[:size], meta)

    def replace_raw(self, key, data):
        """Replaces the object's bytes (without walship's metadata)."""
        self._put(key, data, {})

    def remove(self, key):
        self.s3d.request("DELETE", self._k(key), ok=(200, 204, 404))

    def make_unreadable(self, key):
        """S3 has no per-object permission s3rver enforces: the storage becomes
        unreachable for reads instead (the proxy answers every GET and HEAD
        with 503 SlowDown) until make_readable.  Use a FAST_FAIL variant."""
        self.s3.proxy_config(self.https, fault_rate=1.0, faults=["503"], only=["GetObject", "HeadObject"])

    def make_readable(self, key):
        self.s3.proxy_reset(self.https)

    def keys(self, prefix=""):
        n = len(self.prefix) + 1
        return sorted(k[n:] for k in self.s3d.list(self._k(prefix)))


def wal_key(name):
    """The object key walship uses for a WAL file name (doc/format.md)."""
    if name.endswith(".history"):
        return "wal/history/%s.ws" % name
    return "wal/%s/%s.ws" % (name[:16], name)


class Cluster:
    """One PostgreSQL data directory and its server."""

    def __init__(self, tmp, name, port, env=None):
        self.tmp = tmp
        self.name = name
        # Extra environment of the server, so of its archive_command and
        # restore_command (e.g. AWS_* credentials for an s3:// repository).
        self.env = dict(env or {})
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
        return run(argv + ["start"], env=self.env, timeout=90, check=check)

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


def sha256_file(path):
    """Hex SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def wait_promoted(c, timeout=180):
    """Waits until cluster c has left recovery (bounded), else TestError with its log's tail."""
    got = c.wait_query("select pg_is_in_recovery()", "f", timeout)
    if got != "f":
        raise TestError("%s did not finish recovery in %ds; log tail:\n%s" % (c.name, timeout, c.log_tail(30)))


def backup_start_segment(bbdir):
    """The WAL segment a base backup starts in, from its backup_label."""
    with open(os.path.join(bbdir, "backup_label")) as f:
        for line in f:
            if line.startswith("START WAL LOCATION:"):
                return line.split("(file ")[1].split(")")[0]
    raise TestError("no START WAL LOCATION in backup_label")


def missing_prerequisite():
    """Why PostgreSQL tests cannot run here (a message), or None."""
    if not os.path.exists(PGBIN + "/postgres"):
        return "PostgreSQL 15 not found in %s" % PGBIN
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a postgres user"
    return None


class TestEnv:
    """What a PostgreSQL test script keeps: the walship executables of the
    build (WS_BUILD_DIR), a temp directory readable by the server user, an
    encryption key when encrypted, the repository kind, its results, its
    clusters (each on a port of its own) and, for s3://, the S3 environment."""

    def __init__(self, repo_kind="file", encryption="plain", keep=False, prefix="walship-", port_base=6100):
        import tempfile
        build = os.environ.get("WS_BUILD_DIR")
        if not build:
            raise SystemExit("WS_BUILD_DIR is not set (the meson build root)")
        self.bin = lambda name: os.path.join(build, "src", name)
        self.push, self.fetch, self.walship = self.bin("walship-push"), self.bin("walship-fetch"), self.bin("walship")
        self.backup_exe = self.bin("walship-backup")
        self.tmp = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.tmp, 0o755)
        give(self.tmp)
        self.key_file = None
        if encryption == "encrypted":
            self.key_file = os.path.join(self.tmp, "repo.key")
            write_key_file(self.key_file)
        self.kind = repo_kind
        self.https = repo_kind == "s3" and encryption == "encrypted"
        self.keep = keep
        self.r = Results()
        self.clusters = []
        self.next_port = port_base + os.getpid() % 400
        self.s3 = None
        self.server_env = {}

    def start_s3(self, aws_endpoints=False):
        """Starts the S3 environment (S3Env.start) and gives the servers its credentials."""
        self.s3 = S3Env(os.path.join(self.tmp, "s3env"))
        self.s3.start(parent_pid=os.getpid(), aws_endpoints=aws_endpoints)
        self.server_env = self.s3.aws_env()

    def stop_s3(self):
        if self.s3:
            self.s3.stop()
            self.s3 = None

    def new_repo(self, name, **settings):
        if self.kind == "s3":
            return S3Repo(self.tmp, name, self.s3, self.key_file, https=self.https, settings=settings)
        return Repo(self.tmp, name, self.key_file, settings=settings)

    def dir(self, name):
        p = os.path.join(self.tmp, name)
        os.makedirs(p, exist_ok=True)
        give(p)
        return p

    def cluster(self, name):
        c = Cluster(self.tmp, name, self.next_port, env=self.server_env)
        self.next_port += 1
        self.clusters.append(c)
        return c

    def finish(self, started=None):
        """The end of a test script: stops every cluster and the S3
        environment, says how long the script ran (since started), removes
        the temp directory unless a check failed or keep is set (then says
        where it is), and returns the exit status (Results.finish)."""
        for c in self.clusters:
            c.stop("immediate")
        self.stop_s3()
        if started is not None:
            print("# %.0f s" % (time.time() - started))
        status = self.r.finish()
        if status == 0 and not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            print("# kept %s" % self.tmp)
        return status
