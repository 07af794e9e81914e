#!/usr/bin/env python3
"""test_s3_credentials.py - S3 credentials the way AWS users have them, and
server-side encryption / storage-class headers.

s3env runs with --aws-endpoints: besides s3rver behind the verifying proxy,
the project's own fake endpoints on 127.0.0.1 (test/proxy/fake_aws.py: IMDSv2
with its token dance, the ECS container endpoint, STS AssumeRoleWithWebIdentity)
issue temporary credentials and register them with the proxy, which then
checks every request's signature with the issued secret and that the session
token was sent and signed.  Every walship process runs under `env -i`, so no
AWS_* key variable reaches it unless a scenario puts it there.

Scenarios:
  P  precedence: with all five providers configured, the environment wins;
     taking them away one by one gives the credentials file, web identity,
     the container endpoint, then instance metadata (proxy log: the access
     key of each request; fake log: nothing asked of providers that lost)
  W  a credentials file that group or others may read, or owned by another
     user, is refused before any request
  V  IMDSv1-only (no token) is refused; an instance-metadata address that
     does not answer costs at most a second or two; AWS_EC2_METADATA_DISABLED
  R  credentials that expire 6 s after issue are refreshed during a slow
     multipart upload (never an ExpiredToken answer); credentials S3 revokes
     early are renewed after its ExpiredToken answer
  G  PostgreSQL 15 archives and an archive-only standby replays through
     walship-push / walship-fetch with each provider in turn, none of the
     AWS_* key variables set
  E  every PUT and CreateMultipartUpload carried the configured
     server-side-encryption and storage-class headers, no GET/HEAD/UploadPart
     did

Needs WS_BUILD_DIR (the meson build root).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15 or the postgres user is missing.
"""

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402
from pgtest import TestError, give, run, sha256_file  # noqa: E402

TIME_LIMIT = 540
ROLE_ARN = "arn:aws:iam::111122223333:role/walship-test"
WEB_TOKEN = "eyJhbGciOiJSUzI1NiJ9.fake-service-account-token.sig"
ECS_AUTH = "Bearer fake-ecs-agent-token"
KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ENV_KEY = ("AKIAENVSTATIC0000001", "env-secret/+=1")
FILE_KEY = ("AKIAFILESTATIC000001", "file-secret/+=2")
FILE_KEY_PROD = ("AKIAFILEPROD00000001", "file-secret-prod")
PREFIX = {"env": "AKIAENV", "file": "AKIAFILE", "sts": "ASIASTSW", "ecs": "ASIAECSC", "imds": "ASIAIMDS",
          "envtemp": "ASIAENVT"}
PUT_OPS = ("PutObject", "CreateMultipartUpload")
SSE_HEADERS = ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id", "x-amz-storage-class")


class Env(pgtest.TestEnv):
    """pgtest.TestEnv with the fake credential endpoints, and the providers' settings."""

    def __init__(self):
        super().__init__("s3", prefix="walship-creds-", port_base=5900)
        self.v = None

    # --- the environment -------------------------------------------------------
    def start(self):
        self.start_s3(aws_endpoints=True)
        # No AWS_* variable reaches a server: each scenario's commands name their own.
        self.server_env = {}
        self.v = self.s3.vars
        self.fake("POST", "config", {"web_identity_token": WEB_TOKEN, "ecs_authorization": ECS_AUTH})
        for key in (ENV_KEY, FILE_KEY, FILE_KEY_PROD):
            self.register(key[0], key[1])

    def register(self, access_key, secret_key, token=None, expires=None):
        body = {"access_key": access_key, "secret_key": secret_key, "session_token": token, "expires": expires}
        self.s3.control(False, "POST", "credentials", body)
        self.s3.control(True, "POST", "credentials", body)

    def fake(self, method, name, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.v["S3ENV_FAKE_AWS_CONTROL"] + "/" + name, data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode())

    def issued(self):
        return self.fake("GET", "issued")

    def log(self, since=0):
        return [e for e in self.s3.proxy_log(False) if e["seq"] > since]

    def last_seq(self):
        return max([e["seq"] for e in self.s3.proxy_log(False)] or [0])

    # --- files and settings --------------------------------------------------------
    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, text, mode=0o600, owner=True):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        os.chmod(p, mode)
        if owner:
            give(p)
        return p

    def conf(self, name, prefix, **extra):
        s = {"repo": "s3://%s/%s" % (self.v["S3ENV_BUCKET"], prefix),
             "s3_endpoint": self.v["S3ENV_HTTP_ENDPOINT"], "log_level": "info",
             "s3_retry_budget": "20", "s3_request_timeout": "10"}
        s.update(extra)
        pgtest.write_conf(self.path(name), s)
        return self.path(name)

    def provider_env(self, which):
        """The variables that select one provider (nothing else AWS_*)."""
        v = self.v
        if which == "env":
            return {"AWS_ACCESS_KEY_ID": ENV_KEY[0], "AWS_SECRET_ACCESS_KEY": ENV_KEY[1]}
        if which == "file":
            return {"AWS_SHARED_CREDENTIALS_FILE": self.credfile}
        if which == "sts":
            return {"AWS_ROLE_ARN": ROLE_ARN, "AWS_WEB_IDENTITY_TOKEN_FILE": self.tokfile,
                    "AWS_ROLE_SESSION_NAME": "walship-test", "AWS_ENDPOINT_URL_STS": v["S3ENV_STS_ENDPOINT"]}
        if which == "ecs":
            return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": v["S3ENV_ECS_FULL_URI"],
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": ECS_AUTH}
        if which == "imds":
            return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": v["S3ENV_IMDS_ENDPOINT"]}
        raise ValueError(which)

    def clean_argv(self, variables, argv):
        """argv under `env -i` with only PATH and the given variables."""
        return ["env", "-i", "PATH=/usr/bin:/bin"] + ["%s=%s" % kv for kv in sorted(variables.items())] + argv

    def clean_command(self, variables, argv):
        """The same as one shell command line (archive_command, restore_command)."""
        return " ".join(shlex.quote(a) if a not in ("%p", "%f") else a for a in self.clean_argv(variables, argv))

    def run_walship(self, conf, variables, *args, timeout=120):
        t0 = time.time()
        p = run(self.clean_argv(variables, [self.walship, "--config", conf] + list(args)), check=False,
                timeout=timeout)
        p.elapsed = time.time() - t0
        return p


def key_used(entries, key_suffix, op="PutObject"):
    """Access keys of the op's requests on the object whose key ends with key_suffix."""
    return [e.get("access_key") for e in entries if e.get("op") == op and (e.get("key") or "").endswith(key_suffix)]


# --- P: precedence, and a round trip with each provider -------------------------------------------

def scenario_precedence(env, conf, small, small_sha):
    r = env.r
    order = ["env", "file", "sts", "ecs", "imds"]
    for i, winner in enumerate(order):
        variables = {}
        for which in order[i:]:
            variables.update(env.provider_env(which))
        before_issued = len(env.issued())
        seq0 = env.last_seq()
        name = "prec-%d-%s" % (i, winner)
        p = env.run_walship(conf, variables, "repo-put", name, small)
        log = env.log(seq0)
        keys = key_used(log, "user/%s.ws" % name)
        r.check("P: with %s the first provider configured, the put succeeds" % winner, p.returncode == 0,
                p.stderr)
        r.check("P: ... and its request was signed with %s's credentials (%s)" % (winner, keys),
                len(keys) == 1 and keys[0].startswith(PREFIX[winner]), str(log[-3:]))
        puts = [e for e in log if e.get("op") == "PutObject"]
        temp = winner in ("sts", "ecs", "imds")
        r.check("P: ... %s" % ("the session token was sent and signed" if temp else "no session token was sent"),
                puts != [] and all(e.get("token") == ("signed" if temp else None) and e.get("sig") == "ok"
                                   for e in puts), str(puts))
        issued = env.issued()[before_issued:]
        want = {"sts": ["sts"], "ecs": ["ecs"], "imds": ["imds"]}.get(winner, [])
        r.check("P: ... and only it was asked for credentials (issued: %s)" % [x["provider"] for x in issued],
                [x["provider"] for x in issued] == want)
        r.check("P: ... the provider is logged at info level, without the secret",
                "INFO: S3 credentials" in p.stderr and winner_words(winner) in p.stderr
                and ENV_KEY[1] not in p.stderr and FILE_KEY[1] not in p.stderr, p.stderr)
        out = env.path("got-" + name)
        g = env.run_walship(conf, variables, "repo-get", name, out)
        r.check("P: ... and reading it back with the same provider gives the same bytes",
                g.returncode == 0 and os.path.exists(out) and sha256_file(out) == small_sha, g.stderr)
    # A temporary key pair in the environment: its token is sent and signed too.
    tok = "env-session-token/" + os.urandom(200).hex()
    env.register("ASIAENVT000000000001", "env-temp-secret", tok, time.time() + 3600)
    seq0 = env.last_seq()
    p = env.run_walship(conf, {"AWS_ACCESS_KEY_ID": "ASIAENVT000000000001", "AWS_SECRET_ACCESS_KEY": "env-temp-secret",
                               "AWS_SESSION_TOKEN": tok}, "repo-put", "prec-envtemp", small)
    puts = [e for e in env.log(seq0) if e.get("op") == "PutObject"]
    r.check("P: AWS_SESSION_TOKEN from the environment is sent and signed",
            p.returncode == 0 and len(puts) == 1 and puts[0].get("token") == "signed"
            and puts[0].get("access_key") == "ASIAENVT000000000001", p.stderr + str(puts))
    # s3_profile (the walship setting) names the profile.
    prof = env.conf("prof.conf", "creds", s3_credentials_file=env.credfile, s3_profile="prod",
                    **{k: v for k, v in sse_settings().items()})
    seq0 = env.last_seq()
    p = env.run_walship(prof, {}, "repo-put", "prec-profile", small)
    r.check("P: s3_credentials_file + s3_profile with no AWS_* variable at all",
            p.returncode == 0 and key_used(env.log(seq0), "user/prec-profile.ws") == [FILE_KEY_PROD[0]], p.stderr)


def winner_words(winner):
    return {"env": "the environment", "file": "credentials file", "sts": "web identity",
            "ecs": "container credentials endpoint", "imds": "instance metadata service (IMDSv2)"}[winner]


def sse_settings():
    return {"s3_sse": "aws:kms", "s3_sse_kms_key_id": KMS_KEY, "s3_storage_class": "STANDARD_IA"}


# --- W: a credentials file others may read ----------------------------------------------------------

def scenario_private_file(env, small):
    r = env.r
    body = "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % FILE_KEY
    for mode, what in ((0o644, "world-readable"), (0o640, "group-readable"), (0o620, "group-writable")):
        p_file = env.write("cred-%o" % mode, body, mode)
        conf = env.conf("w-%o.conf" % mode, "creds", s3_credentials_file=p_file)
        seq0 = env.last_seq()
        p = env.run_walship(conf, {"AWS_EC2_METADATA_DISABLED": "true"}, "repo-put", "w", small)
        r.check("W: a %s credentials file (mode %04o) is refused with a clear message" % (what, mode),
                p.returncode != 0 and "credentials file %s has mode %04o" % (p_file, mode) in p.stderr
                and "chmod 600" in p.stderr and FILE_KEY[1] not in p.stderr, p.stderr)
        r.check("W: ... and nothing was sent to S3", env.log(seq0) == [])
    if os.geteuid() == 0:
        p_file = env.write("cred-nobody", body, 0o644, owner=False)
        os.chown(p_file, 65534, 65534)
        conf = env.conf("w-nobody.conf", "creds", s3_credentials_file=p_file)
        p = env.run_walship(conf, {"AWS_EC2_METADATA_DISABLED": "true"}, "repo-put", "w", small)
        r.check("W: a credentials file owned by another user is refused",
                p.returncode != 0 and "is owned by uid 65534" in p.stderr, p.stderr)


# --- V: instance metadata that cannot be used -----------------------------------------------------------

def scenario_imds_refusals(env, conf):
    r = env.r
    env.fake("POST", "config", {"imds": "v1only"})
    n_req = len(imds_requests(env))
    seq0 = env.last_seq()
    p = env.run_walship(conf, env.provider_env("imds"), "repo-ls")
    reqs = imds_requests(env)[n_req:]
    env.fake("POST", "config", {"imds": "v2"})
    r.check("V: an instance metadata service without IMDSv2 tokens is refused",
            p.returncode != 0 and "IMDSv1" in p.stderr and "HTTP 405" in p.stderr, p.stderr)
    r.check("V: ... walship never falls back to IMDSv1 (only the token PUT was made: %s)"
            % [(x["method"], x["path"]) for x in reqs],
            [(x["method"], x["path"]) for x in reqs] == [("PUT", "/latest/api/token")])
    r.check("V: ... and nothing was sent to S3", env.log(seq0) == [])

    # An address where something accepts connections and never answers.
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        port = silent.getsockname()[1]
        p = env.run_walship(conf, {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % port}, "repo-ls")
        r.check("V: a metadata endpoint that does not answer means 'no credentials' (exit %d)" % p.returncode,
                p.returncode != 0 and "no S3 credentials" in p.stderr and "timed out" in p.stderr, p.stderr)
        r.check("V: ... within a second or two (%.2f s for the whole command)" % p.elapsed, p.elapsed < 2.5)
        t0 = time.time()
        f = run(env.clean_argv({"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:%d" % port},
                               [env.fetch, "--config", conf, "000000010000000000000001", env.path("no-seg")]),
                check=False, timeout=60)
        took = time.time() - t0
        r.check("V: ... and walship-fetch answers PostgreSQL 202 (configuration) in %.2f s" % took,
                f.returncode == 202 and "no S3 credentials" in f.stderr and took < 2.5, f.stderr)
    finally:
        silent.close()
    n_req = len(imds_requests(env))
    p = env.run_walship(conf, dict(env.provider_env("imds"), AWS_EC2_METADATA_DISABLED="true"), "repo-ls")
    r.check("V: AWS_EC2_METADATA_DISABLED=true skips instance metadata (no request, 'no S3 credentials')",
            p.returncode != 0 and "no S3 credentials" in p.stderr and len(imds_requests(env)) == n_req, p.stderr)


def imds_requests(env):
    return [x for x in env.fake("GET", "requests") if x["provider"] == "imds"]


# --- R: refresh during a long multipart upload --------------------------------------------------------

def scenario_refresh(env, conf, big, big_sha):
    r = env.r
    for label, which, settings in (("expiry 6 s after issue", "imds", {"lifetime": 6}),
                                   ("S3 revoking the session after 3 s", "sts",
                                    {"lifetime": 3600, "revoke_after": 3})):
        env.fake("POST", "config", dict({"lifetime": 3600, "revoke_after": None}, **settings))
        env.s3.proxy_config(False, fault_rate=1.0, faults=["delay"], only=["UploadPart"], delay_seconds=2)
        n_issued = len(env.issued())
        seq0 = env.last_seq()
        name = "refresh-" + which
        try:
            p = env.run_walship(conf, env.provider_env(which), "repo-put", name, big, timeout=300)
        finally:
            env.s3.proxy_config(False, fault_rate=0.0, only=None)
        log = [e for e in env.log(seq0) if (e.get("key") or "").endswith("user/%s.ws" % name)]
        parts = [e for e in log if e.get("op") == "UploadPart"]
        keys = sorted({e.get("access_key") for e in log})
        issued = env.issued()[n_issued:]
        expired = [e for e in log if e.get("error") == "ExpiredToken"]
        r.check("R(%s): the multipart upload succeeds" % label, p.returncode == 0, p.stderr[-2000:])
        r.check("R(%s): ... it was multipart and took longer than its credentials (%d parts)" % (label, len(parts)),
                len(parts) >= 4 and log != [] and log[-1]["time"] - log[0]["time"] > 6)
        r.check("R(%s): ... with credentials refreshed on the way (%d keys used, %d issued)"
                % (label, len(keys), len(issued)), len(keys) >= 2 and len(issued) >= 2
                and set(keys) <= {x["access_key"] for x in issued})
        r.check("R(%s): ... every request was signed right, with its session token" % label,
                all(e.get("sig") in ("ok", "ExpiredToken") and e.get("token") == "signed" for e in log))
        if "revoking" in label:
            ok_after = [e for e in log if e["seq"] > expired[0]["seq"] and e.get("status") == 200] if expired else []
            r.check("R(%s): ... S3's ExpiredToken answer was followed by new credentials that worked" % label,
                    expired != [] and ok_after != [] and ok_after[0]["access_key"] != expired[0]["access_key"],
                    str(expired[:2]))
        else:
            r.check("R(%s): ... refreshed before they expired: no ExpiredToken answer" % label, expired == [],
                    str(expired[:2]))
        out = env.path("got-" + name)
        g = env.run_walship(conf, env.provider_env(which), "repo-get", name, out, timeout=300)
        r.check("R(%s): ... and the object reads back byte-identical" % label,
                g.returncode == 0 and sha256_file(out) == big_sha, g.stderr)
        if os.path.exists(out):
            os.unlink(out)
    env.fake("POST", "config", {"lifetime": 3600, "revoke_after": None})


# --- G: PostgreSQL with each provider ------------------------------------------------------------------

def scenario_postgres(env):
    r = env.r
    providers = ["env", "file", "sts", "ecs", "imds"]
    confs = {w: env.conf("pg-%s.conf" % w, "pg", s3_sse="AES256", s3_storage_class="STANDARD_IA")
             for w in providers}
    # The file provider as a restored server would have it: named in walship's config.
    confs["file"] = env.conf("pg-file.conf", "pg", s3_sse="AES256", s3_storage_class="STANDARD_IA",
                             s3_credentials_file=env.credfile)
    variables = {w: env.provider_env(w) for w in providers}
    variables["file"] = {}

    def archive_command(w):
        return env.clean_command(variables[w], [env.push, "--config", confs[w], "%p"])

    def restore_command(w):
        return env.clean_command(variables[w], [env.fetch, "--config", confs[w], "%f", "%p"])

    p = env.cluster("primary")
    p.initdb()
    p.base_conf()
    p.conf(archive_mode="on", archive_command=archive_command("env"))
    p.start()
    p.psql("create table marker (id serial primary key, provider text)")
    bb = os.path.join(env.tmp, "bb")
    run([pgtest.PGBIN + "/pg_basebackup", "-D", bb, "-X", "none", "-c", "fast", "-h", p.sockdir, "-p",
         str(p.port), "-U", "postgres", "--no-sync"], timeout=120)
    name = p.switch_wal()
    p.wait_archived(name)
    s = env.cluster("standby")
    s.copy_from(bb)
    s.base_conf()
    s.conf(restore_command=restore_command("env"), archive_mode="off", hot_standby="on")
    sig = os.path.join(s.datadir, "standby.signal")
    open(sig, "w").close()
    give(sig)
    s.start(wait=False)

    for w in providers:
        p.conf(archive_command=archive_command(w))
        p.psql("select pg_reload_conf()")
        s.conf(restore_command=restore_command(w))
        if s.running():
            run([pgtest.PGBIN + "/pg_ctl", "-D", s.datadir, "reload"], timeout=60, check=False)
        seq0 = env.last_seq()
        # Outcome, not path: add rows and switch segments until the primary has
        # archived with w's credentials and the standby has fetched with them
        # and shows the rows (a reload takes effect when the process gets to it).
        pushed = fetched = seen = False
        end = time.time() + 90
        n = 0
        while time.time() < end and not (pushed and fetched and seen):
            n += 1
            p.psql("insert into marker (provider) values ('%s-%d')" % (w, n))
            p.wait_archived(p.switch_wal(), timeout=60)
            log = env.log(seq0)
            pushed = any(e.get("op") == "PutObject" and "/wal/" in (e.get("key") or "") and e.get("status") == 200
                         and (e.get("access_key") or "").startswith(PREFIX[w]) for e in log)
            fetched = any(e.get("op") == "GetObject" and "/wal/" in (e.get("key") or "") and e.get("status") == 200
                          and (e.get("access_key") or "").startswith(PREFIX[w]) for e in log)
            got = s.wait_query("select count(*) from marker where provider = '%s-%d'" % (w, n), "1", 10)
            seen = got == "1"
        failed = p.psql("select failed_count from pg_stat_archiver")
        r.check("G: PostgreSQL archived with %s credentials through walship-push (%d switches, %s failures)"
                % (w, n, failed), pushed, p.log_tail())
        r.check("G: the standby restored with %s credentials through walship-fetch and replayed the rows" % w,
                fetched and seen, s.log_tail())
    log = env.log(0)
    wal_puts = [e for e in log if e.get("op") == "PutObject" and (e.get("key") or "").startswith("pg/wal/")]
    r.check("G: every WAL object PUT carried AES256 and STANDARD_IA (%d PUTs)" % len(wal_puts),
            wal_puts != [] and all(e["headers"].get("x-amz-server-side-encryption") == "AES256"
                                   and e["headers"].get("x-amz-storage-class") == "STANDARD_IA"
                                   for e in wal_puts))
    for c in (s, p):
        c.stop("immediate")


# --- E: SSE and storage-class headers -------------------------------------------------------------------

def scenario_headers(env):
    r = env.r
    log = env.log(0)
    puts = [e for e in log if e.get("op") in PUT_OPS and e.get("status") == 200
            and "/creds/" in "/" + (e.get("key") or "")]
    creates = [e for e in puts if e["op"] == "CreateMultipartUpload"]
    want = {"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": KMS_KEY,
            "x-amz-storage-class": "STANDARD_IA"}
    bad = [e for e in puts if any(e["headers"].get(k) != v for k, v in want.items())]
    r.check("E: every PUT and CreateMultipartUpload carried aws:kms, the key id and STANDARD_IA "
            "(%d PUTs, %d creates)" % (len(puts) - len(creates), len(creates)),
            len(puts) - len(creates) >= 5 and len(creates) >= 2 and not bad, str(bad[:2]))
    others = [e for e in log if e.get("op") not in PUT_OPS and e.get("op")]
    leaked = [e for e in others if any(h in e["headers"] for h in SSE_HEADERS)]
    kinds = sorted({e["op"] for e in others})
    r.check("E: no other request carried them (%s)" % ", ".join(kinds),
            {"GetObject", "HeadObject", "UploadPart", "CompleteMultipartUpload"} <= set(kinds) and not leaked,
            str(leaked[:2]))


def main():
    why = pgtest.missing_prerequisite()
    if why:
        print("%s: skipped" % why)
        return 77
    env = Env()
    print("# temp dir %s" % env.tmp, flush=True)

    def on_alarm(signum, frame):
        raise TestError("time limit of %d s reached" % TIME_LIMIT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT)
    t0 = time.time()
    try:
        env.start()
        print("# s3env with fake AWS endpoints up after %.1f s" % (time.time() - t0), flush=True)
        env.credfile = env.write("credentials", "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
                                 "[prod]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                                 % (FILE_KEY + FILE_KEY_PROD))
        env.tokfile = env.write("web-identity-token", WEB_TOKEN + "\n", 0o644)
        small = env.write("small", os.urandom(300000).hex(), 0o644)
        big = env.path("big")
        with open(big, "wb") as f:
            for _ in range(70):
                f.write(os.urandom(1 << 20))
        os.chmod(big, 0o644)
        conf = env.conf("creds.conf", "creds", **sse_settings())
        steps = [("P", lambda: scenario_precedence(env, conf, small, sha256_file(small))),
                 ("W", lambda: scenario_private_file(env, small)),
                 ("V", lambda: scenario_imds_refusals(env, conf)),
                 ("R", lambda: scenario_refresh(env, conf, big, sha256_file(big))),
                 ("E", lambda: scenario_headers(env)),
                 ("G", lambda: scenario_postgres(env))]
    except (TestError, subprocess.TimeoutExpired, OSError) as e:
        env.r.check("test environment started", False, str(e))
        steps = []
    for label, fn in steps:
        t1 = time.time()
        try:
            fn()
        except (TestError, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
            env.r.check("scenario %s ran to the end" % label, False, repr(e))
        print("# %s: %.1f s" % (label, time.time() - t1), flush=True)
    signal.alarm(0)
    return env.finish(t0)


if __name__ == "__main__":
    sys.exit(main())
