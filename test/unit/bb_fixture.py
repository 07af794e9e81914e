#!/usr/bin/env python3
"""bb_fixture.py - real BASE_BACKUP COPY streams from PostgreSQL 15, for the
stream parser's and the tar splitter's tests.

Usage: bb_fixture.py --fixture DIR --capture BB_CAPTURE [--run PROGRAM [ARGS...]]

Makes DIR once (complete when DIR/facts.json exists; concurrent callers wait
on DIR.lock), then, with --run, runs PROGRAM with WS_TEST_BB_FIXTURE=DIR and
exits with its status.  Exit 77 (skipped) without PostgreSQL 15.

The cluster has data checksums, a user tablespace holding a small table, and
a table of several MiB in the data directory (so that 1 MiB pieces split a
member).  Two streams are captured with bb_capture (test/unit/bb_capture.c):
DIR/full.stream with PROGRESS, MANIFEST and TABLESPACE_MAP, as walship-backup
asks, and DIR/nomanifest.stream without a manifest.  DIR/facts.json records
the tablespace (oid, location) and the result sets (start and stop LSNs).
"""

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import pgtest  # noqa: E402
from pgtest import Cluster, give, run  # noqa: E402

FULL = ("BASE_BACKUP (LABEL 'walship fixture', PROGRESS, CHECKPOINT 'fast', WAIT false, MANIFEST 'yes', "
        "MANIFEST_CHECKSUMS 'SHA256', TABLESPACE_MAP)")
NOMANIFEST = "BASE_BACKUP (LABEL 'walship fixture 2', CHECKPOINT 'fast', WAIT false, MANIFEST 'no')"


def results(text):
    out = {}
    for line in text.splitlines():
        if line.startswith("result "):
            n, _, rest = line[7:].partition(": ")
            out.setdefault(n, []).append(rest.split("|"))
    return out


def generate(out_dir, capture):
    tmp = tempfile.mkdtemp(prefix="ws-bbfix-")
    give(tmp)
    c = Cluster(tmp, "pg", 5400 + (os.getpid() + 250) % 500)
    try:
        c.initdb("-k")
        c.base_conf()
        c.conf(archive_mode="on", archive_command="/bin/true")
        c.start()
        ts = os.path.join(tmp, "ts")
        os.makedirs(ts)
        give(ts)
        c.psql("create tablespace fixts location '%s'" % ts)
        c.psql("create table small (a int) tablespace fixts; insert into small select generate_series(1, 1000)")
        c.psql("create table big as select g, repeat(md5(g::text), 16) as v from generate_series(1, 12000) g")
        c.psql("checkpoint")
        oid = c.psql("select oid from pg_tablespace where spcname = 'fixts'")
        conninfo = "host=%s port=%d user=postgres replication=true" % (c.sockdir, c.port)
        facts = {"tablespace": {"oid": int(oid), "location": ts}, "streams": {}}
        for name, cmd in (("full", FULL), ("nomanifest", NOMANIFEST)):
            path = os.path.join(tmp, name + ".stream")
            p = run([capture, conninfo, cmd, path], cwd=tmp, timeout=120)
            r = results(p.stdout)
            facts["streams"][name] = {"command": cmd, "start": r["0"][0], "tablespaces": r["1"], "end": r["2"][0]}
            shutil.copy(path, os.path.join(out_dir, name + ".stream"))
        with open(os.path.join(out_dir, "facts.json.tmp"), "w") as f:
            json.dump(facts, f, indent=1)
        os.rename(os.path.join(out_dir, "facts.json.tmp"), os.path.join(out_dir, "facts.json"))
    finally:
        c.stop("immediate")
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = sys.argv[1:]
    fixture = capture = None
    run_argv = None
    while args:
        a = args.pop(0)
        if a == "--fixture":
            fixture = os.path.abspath(args.pop(0))
        elif a == "--capture":
            capture = os.path.abspath(args.pop(0))
        elif a == "--run":
            run_argv = args
            args = []
        else:
            print("bb_fixture.py: unknown argument %s" % a, file=sys.stderr)
            return 2
    if not fixture or not capture:
        print("usage: bb_fixture.py --fixture DIR --capture BB_CAPTURE [--run PROGRAM ARGS...]", file=sys.stderr)
        return 2
    why = pgtest.missing_prerequisite()
    if why:
        print("skipped: %s" % why)
        return 77
    with open(fixture + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(fixture, "facts.json")):
            shutil.rmtree(fixture, ignore_errors=True)
            os.makedirs(fixture)
            generate(fixture, capture)
    if run_argv:
        env = dict(os.environ, WS_TEST_BB_FIXTURE=fixture)
        return subprocess.call(run_argv, env=env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
