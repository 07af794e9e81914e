"""benchlib.py - helpers shared by the bench/run-*-bench scripts: running
commands as the server's user, the machine's busy CPU time and load, the
s3env test environment, a description of the machine."""

import datetime
import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
S3_KEY = "S3RVER"  # s3rver's fixed test credentials, not a secret
S3_ENV = {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_KEY, "AWS_REGION": "us-east-1"}


class BenchError(Exception):
    pass


def log(msg):
    print("# " + msg, file=sys.stderr, flush=True)


def as_pg(argv):
    """argv run as postgres when we are root (PostgreSQL refuses root)."""
    return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + list(argv)


def give(path):
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", path], check=True)


def run(argv, env=None, timeout=3600, check=True):
    """Runs argv without any WALSHIP_* of ours; returns CompletedProcess."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("WALSHIP_")}
    full.update(env or {})
    p = subprocess.run(argv, env=full, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise BenchError("%s exited %d: %s%s" % (" ".join(argv), p.returncode, p.stdout[-2000:], p.stderr[-2000:]))
    return p


def busy_seconds():
    """Busy CPU seconds of the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def make_build(build):
    """A release build of the tree in build (made once)."""
    if not os.path.isdir(build):
        run(["meson", "setup", "--buildtype=release", build, ROOT], timeout=600)
    run(["ninja", "-C", build], timeout=1800)


def s3env_start(work, lifetime=14400):
    """s3rver behind the verifying proxy (test/integration/s3env); its env.json."""
    d = os.path.join(work, "s3env")
    p = subprocess.run([os.path.join(ROOT, "test", "integration", "s3env"), "start", d, "--max-lifetime",
                        str(lifetime)], capture_output=True, text=True, timeout=400, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise BenchError("s3env start failed: %s" % (p.stderr or p.stdout)[-1000:])
    with open(os.path.join(d, "env.json")) as f:
        e = json.load(f)
    e["dir"] = d
    return e


def s3env_stop(e):
    if e:
        subprocess.run([os.path.join(ROOT, "test", "integration", "s3env"), "stop", e["dir"]], capture_output=True,
                       timeout=60)


def machine():
    """The machine, the software and the time, for a report's first line."""
    return {
        "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "cpu_model": next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                           if ln.startswith("model name")), "?"),
        "postgresql": run([PGBIN + "/postgres", "--version"]).stdout.strip(),
        "pgbackrest": run(["pgbackrest", "version"], check=False).stdout.strip(),
    }
