#!/usr/bin/env python3
"""test_wal_index.py - `walship index-rebuild` and `walship index-show` on real
PostgreSQL 15 WAL.

The WAL comes from the fixture of test/unit/wal_fixture.py (made once in the
build directory if missing): its archived segments are pushed with
walship-push into a file:// repository, then:
  1  index-rebuild writes an entry per segment; index-show prints each, equal
     to what pg_waldump and SQL reported (facts.json); records spanning two
     segments are carried; the first segment says its first record was not
     read
  2  an encrypted repository: the same, and no plaintext entry on disk
  3  --dry-run writes nothing; --timeline; bad arguments and names
  4  a timeline 2 made of copies of timeline 1 segments, with a history file:
     its first segment's continued record is read from timeline 1's segment
     (the history says so), and only timeline 2 is rebuilt with --timeline 2
  5  a missing archived segment: the next one is read from scratch
  6  a damaged archived segment: the rebuild fails naming it, and still
     writes the other entries; a damaged entry: index-show names it

Usage: test_wal_index.py FIXTURE_DIR
Needs WS_BUILD_DIR (the meson build root).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15 or the postgres user is missing.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pgtest  # noqa: E402
from pgtest import Repo, Results, give, run, wal_key, write_key_file  # noqa: E402

TIME_LIMIT = 400
SEG = 1 << 20


def seg_start(name):
    return (int(name[8:16], 16) * ((1 << 32) // SEG) + int(name[16:24], 16)) * SEG


def lsn_int(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


class Env:
    def __init__(self, fixture):
        build = os.environ.get("WS_BUILD_DIR")
        if not build:
            raise SystemExit("WS_BUILD_DIR is not set (the meson build root)")
        self.walship = os.path.join(build, "src", "walship")
        self.push = os.path.join(build, "src", "walship-push")
        self.fixture = fixture
        with open(os.path.join(fixture, "facts.json")) as f:
            self.facts = json.load(f)
        self.tmp = tempfile.mkdtemp(prefix="walship-widx-")
        os.chmod(self.tmp, 0o755)
        give(self.tmp)
        self.r = Results()

    def walship_cmd(self, repo, *args, check=False):
        return run([self.walship, "--config", repo.conf] + list(args), timeout=120, check=check)

    def push_dir(self, repo, names, src_dir):
        for n in names:
            p = run([self.push, "--config", repo.conf, os.path.join(src_dir, n)], timeout=60, check=False)
            if p.returncode != 0:
                return "%s: %s" % (n, p.stderr.strip())
        return None

    def segments_dir(self, name, files):
        """A directory of WAL files (copies), owned by the server user."""
        d = os.path.join(self.tmp, name)
        os.makedirs(d, exist_ok=True)
        for src, dst in files:
            shutil.copyfile(src, os.path.join(d, dst))
        give(d)
        return d


def show(env, repo, name):
    p = env.walship_cmd(repo, "index-show", name)
    if p.returncode != 0:
        return None, p.stderr.strip()
    return json.loads(p.stdout), p.stderr


def entry_matches(got, want, sql_rps):
    """Compares index-show's JSON with the facts; returns a difference or ''."""
    for k in ("records", "first_lsn", "end_lsn", "continued_unread"):
        if got.get(k) != want.get(k):
            return "%s: %r, want %r" % (k, got.get(k), want.get(k))
    if got["stop"]["reason"] != want["stop"] or got["stop"]["lsn"] != want["stop_lsn"]:
        return "stop %r, want %s at %s" % (got["stop"], want["stop"], want["stop_lsn"])
    for part in ("commits", "aborts", "prepares"):
        g, w = got[part], want[part]
        for k in ("count", "prepared", "xid_min", "xid_max", "time_min", "time_max"):
            if k in w and g.get(k) != w[k]:
                return "%s.%s: %r, want %r" % (part, k, g.get(k), w[k])
    if len(got["restore_points"]) != len(want["restore_points"]):
        return "restore points %r, want %r" % (got["restore_points"], want["restore_points"])
    for g, w in zip(got["restore_points"], want["restore_points"]):
        sql = [p for p in sql_rps if p["name"] == w["name"]][0]
        if (g["name"], g["lsn"], g["end_lsn"]) != (w["name"], w["lsn"], w["end_lsn"]) or \
                not sql["time_lo"] <= g["time"] <= sql["time_hi"] or g["end_lsn"] != sql["end_lsn"]:
            return "restore point %r, want %r (time in [%d, %d])" % (g, w, sql["time_lo"], sql["time_hi"])
    if got["pg_version"] != 15 or got["timeline"] != int(want["segment"][:8], 16):
        return "pg_version/timeline %r/%r" % (got["pg_version"], got["timeline"])
    return ""


def scenario_rebuild(env, encrypted):
    tag = "encrypted" if encrypted else "plain"
    key_file = None
    if encrypted:
        key_file = os.path.join(env.tmp, "repo.key")
        write_key_file(key_file)
    repo = Repo(env.tmp, "repo-" + tag, key_file=key_file)
    segs = env.facts["segments"]
    names = [s["segment"] for s in segs]
    src = env.segments_dir("src-" + tag, [(os.path.join(env.fixture, "wal", n), n) for n in names])
    err = env.push_dir(repo, names, src)
    if not env.r.check("%s: walship-push stores the %d fixture segments" % (tag, len(names)), err is None, err):
        return None
    # walship-push stores every segment's entry itself; the previous segment
    # is next to each one here, so only the first starts with an unread record.
    bad = []
    for s in segs:
        got, err = show(env, repo, s["segment"])
        diff = err if got is None else entry_matches(got, s, env.facts["restore_points"])
        if diff:
            bad.append("%s: %s" % (s["segment"], diff))
    env.r.check_all("%s: the entries walship-push stored equal pg_waldump's and SQL's facts" % tag, segs, bad,
                    "; ".join(bad))
    p = env.walship_cmd(repo, "index-rebuild")
    total = sum(s["records"] for s in segs)
    want_line = ("index-rebuild: %d segments on 1 timeline, %d entries written, %d records; 1 with an unread first "
                 "record, 0 stopping before the segment end, 0 failed" % (len(names), len(names), total))
    env.r.check("%s: index-rebuild succeeds with the summary line" % tag,
                p.returncode == 0 and p.stdout.strip() == want_line, "%d %r %r" % (p.returncode, p.stdout, p.stderr))
    bad = []
    for s in segs:
        got, err = show(env, repo, s["segment"])
        if got is None:
            bad.append("%s: %s" % (s["segment"], err))
            continue
        diff = entry_matches(got, s, env.facts["restore_points"])
        if diff:
            bad.append("%s: %s" % (s["segment"], diff))
    env.r.check_all("%s: index-show of every segment equals pg_waldump's and SQL's facts" % tag, segs, bad,
                    "; ".join(bad))
    span = [c for c in env.facts["commits"] if c["xid"] == env.facts["span_xid"]][0]
    got, _ = show(env, repo, span["segment"])
    env.r.check("%s: the commit spanning %s..%s counts in %s" % (tag, span["start_segment"], span["segment"],
                                                                 span["segment"]),
                got is not None and got["first_lsn"] == span["lsn"] and
                got["commits"]["time_min"] <= span["time"] <= got["commits"]["time_max"])
    ikey = "index/%s/%s.ws" % (names[0][:16], names[0])
    raw = repo.read(ikey) if repo.exists(ikey) else b""
    if encrypted:
        env.r.check("encrypted: the entry object holds no plaintext", raw and b"walship_wal_index" not in raw)
    else:
        env.r.check("plain: the entry object is at %s" % ikey, bool(raw))
    return repo


def scenario_cli(env, repo):
    segs = env.facts["segments"]
    p = env.walship_cmd(repo, "index-rebuild", "--dry-run", "--timeline", "1")
    env.r.check("--dry-run --timeline 1: summary says nothing was written",
                p.returncode == 0 and "0 entries written (dry run)" in p.stdout and
                "%d segments on 1 timeline" % len(segs) in p.stdout, p.stdout + p.stderr)
    p = env.walship_cmd(repo, "index-rebuild", "--timeline=7")
    env.r.check("--timeline 7 (no such timeline): nothing to do",
                p.returncode == 0 and p.stdout.startswith("index-rebuild: 0 segments on 0 timelines"), p.stdout)
    for args, want in ((["index-rebuild", "--timeline", "x"], "--timeline needs a timeline ID"),
                       (["index-rebuild", "--timeline", "0"], "--timeline needs a timeline ID"),
                       (["index-rebuild", "--bogus"], "unknown argument \"--bogus\""),
                       (["index-show", "00000002.history"], "not a WAL segment name"),
                       (["index-show", "junk"], "is not a WAL file name"),
                       (["index-show", "0000000100000000000000AA"],
                        "0000000100000000000000AA has no WAL index entry"),
                       (["index-show"], "wrong number of arguments")):
        p = env.walship_cmd(repo, *args)
        env.r.check("walship %s fails: %s" % (" ".join(args), want),
                    p.returncode != 0 and want in p.stderr.splitlines()[0],
                    "%d %r" % (p.returncode, p.stderr))
    # A fresh repository and --dry-run: no entries appear.
    fresh = Repo(env.tmp, "repo-dry")
    names = [s["segment"] for s in segs[:3]]
    src = os.path.join(env.tmp, "src-plain")
    env.push_dir(fresh, names, src)
    pushed = fresh.keys("index/")
    env.r.check("walship-push stored an entry for each of the %d segments" % len(names),
                len(pushed) == len(names), repr(pushed))
    for k in pushed:
        fresh.remove(k)
    p = env.walship_cmd(fresh, "index-rebuild", "--dry-run")
    env.r.check("--dry-run on a fresh repository writes no entry",
                p.returncode == 0 and not fresh.keys("index/"), "%r %r" % (p.stdout, fresh.keys("index/")))
    p = env.walship_cmd(Repo(env.tmp, "repo-empty"), "index-rebuild")
    env.r.check("an empty repository: nothing to do", p.returncode == 0 and "0 segments" in p.stdout,
                p.stdout + p.stderr)


def scenario_timeline(env, repo):
    """Timeline 2 branches inside segment S, whose first record began in S-1
    on timeline 1; its segments are copies of timeline 1's."""
    segs = env.facts["segments"]
    pick = None
    for i in range(1, len(segs)):
        if segs[i]["records"] and lsn_int(segs[i]["first_lsn"]) < seg_start(segs[i]["segment"]):
            pick = i
            break
    if not env.r.check("the fixture has a segment that starts inside a record", pick is not None):
        return
    names1 = [s["segment"] for s in segs[pick:]]
    names2 = ["00000002" + n[8:] for n in names1]
    switch = lsn_int(segs[pick]["first_lsn"]) + SEG  # somewhere inside segment S
    hist = "1\t%X/%X\tno recovery target specified\n" % (switch >> 32, switch & 0xFFFFFFFF)
    d = env.segments_dir("src-tli2", [(os.path.join(env.fixture, "wal", a), b) for a, b in zip(names1, names2)])
    with open(os.path.join(d, "00000002.history"), "w") as f:
        f.write(hist)
    give(d)
    err = env.push_dir(repo, ["00000002.history"] + names2, d)
    if not env.r.check("timeline 2 copies and its history file are pushed", err is None, err):
        return
    p = env.walship_cmd(repo, "index-rebuild", "--timeline", "2")
    env.r.check("index-rebuild --timeline 2 indexes only timeline 2",
                p.returncode == 0 and p.stdout.startswith("index-rebuild: %d segments on 1 timeline, %d entries "
                                                          "written" % (len(names2), len(names2))) and
                " 0 with an unread first record" in p.stdout, p.stdout + p.stderr)
    bad = []
    for s, n2 in zip(segs[pick:], names2):
        got, err = show(env, repo, n2)
        want = dict(s, segment=n2, continued_unread=False)
        diff = entry_matches(got, want, env.facts["restore_points"]) if got else err
        if diff:
            bad.append("%s: %s" % (n2, diff))
    env.r.check("timeline 2's first segment reads its first record from timeline 1's %s (the history's parent)"
                % segs[pick - 1]["segment"], not bad, "; ".join(bad))


def scenario_gap(env, repo):
    segs = env.facts["segments"]
    for i in range(2, len(segs)):
        if segs[i]["records"] and lsn_int(segs[i]["first_lsn"]) < seg_start(segs[i]["segment"]):
            break
    else:
        env.r.check("the fixture has a later segment that starts inside a record", False)
        return
    gone = segs[i - 1]["segment"]
    os.unlink(repo.object_path(wal_key(gone)))
    p = env.walship_cmd(repo, "index-rebuild", "--timeline", "1")
    got, err = show(env, repo, segs[i]["segment"])
    env.r.check("without %s, %s is read from scratch: first record not read" % (gone, segs[i]["segment"]),
                p.returncode == 0 and got is not None and got["continued_unread"] and
                got["records"] == segs[i]["records"] - 1 and lsn_int(got["first_lsn"]) > lsn_int(segs[i]["first_lsn"]),
                "%r %r" % (p.stdout, got))


def scenario_damage(env, repo):
    segs = env.facts["segments"]
    victim = segs[1]["segment"]
    key = wal_key(victim)
    size = os.path.getsize(repo.object_path(key))
    repo.flip_byte(key, size // 2)
    for k in repo.keys("index/"):
        os.unlink(repo.object_path(k))
    stored = [os.path.basename(k)[:-3] for k in repo.keys("wal/00000001")]
    want = sorted("index/%s/%s.ws" % (n[:16], n) for n in stored if n != victim)
    p = env.walship_cmd(repo, "index-rebuild", "--timeline", "1")
    env.r.check("a damaged segment object fails the rebuild, naming it",
                p.returncode != 0 and ("index %s" % victim) in p.stderr and "1 segment could not be indexed" in
                p.stderr, "%d %r" % (p.returncode, p.stderr))
    after = repo.keys("index/")
    env.r.check("... and the other entries are still written", after == want and len(want) > 3,
                "%r, want %r" % (after, want))
    ikey = after[-1]
    repo.truncate(ikey, 80)
    p = env.walship_cmd(repo, "index-show", os.path.basename(ikey)[:-3])
    env.r.check("a damaged entry: index-show fails naming its key",
                p.returncode != 0 and ikey in p.stderr, "%d %r" % (p.returncode, p.stderr))


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: test_wal_index.py FIXTURE_DIR")
    fixture = os.path.abspath(sys.argv[1])
    gen = subprocess.run([sys.executable, os.path.join(HERE, "..", "unit", "wal_fixture.py"), "--fixture", fixture])
    if gen.returncode == 77:
        print("skipped: no PostgreSQL 15")
        sys.exit(77)
    if gen.returncode != 0:
        raise SystemExit("the WAL fixture could not be made")
    env = Env(fixture)
    env.r.expect(25)  # fewer checks than a full run makes fail the run (pgtest.Results)
    deadline = time.time() + TIME_LIMIT
    try:
        repo = scenario_rebuild(env, encrypted=False)
        scenario_rebuild(env, encrypted=True)
        if repo is not None:
            scenario_cli(env, repo)
            scenario_timeline(env, repo)
            scenario_gap(env, repo)
            scenario_damage(env, repo)
        if time.time() > deadline:
            env.r.check("finished within %d s" % TIME_LIMIT, False)
    finally:
        shutil.rmtree(env.tmp, ignore_errors=True)
    sys.exit(env.r.finish())


if __name__ == "__main__":
    main()
