#!/usr/bin/env python3
"""test_pitr.py - pitr-restore against PostgreSQL 15, file:// or s3://.

The history (one primary, archiving through walship-push, a plain copy of
every archived file kept for pg_waldump):
  - track_commit_timestamp = on, autovacuum = off; one writer commits one row
    per transaction (a procedure with COMMIT in its loop), so commits cannot
    reorder; each row's xid and commit time are read back, each commit's LSN
    from the archived WAL (pg_waldump): the ground truth;
  - a tablespace with a table in it;
  - backup 1; writes; a restore point; segment switches; backup 2 while the
    writer runs (slowed, so transactions commit during it); writes; the
    writer stops; backup 3 on the idle database; writes again; switches.
Then the primary stops and its data directory is deleted, and each case is
restored into a fresh directory with pitr-restore, started, and queried: the
rows restored must be exactly the rows committed at or before the target.

Cases (--cases to run some): T targets (time between backups, after backup 2,
during backup 2, before the idle backup, exclusive time, restore point,
LSN, xid, immediate, latest); L timelines (restore with --archive-mode
preserve and promote: timeline 2, write, back up there, then a time on
timeline 2, a time on timeline 1 before the switch, and the ambiguous time
refused without --target-timeline); G gaps and refusals (a WAL object
deleted: the plan names it, nothing is written, --force stops at the
furthest point; a time older than every backup; a time beyond the archive);
X crafted backups (path traversal, absolute path, links escaping, writing
through a link; a file changed or missing against the manifest, the manifest
changed; a Debian backup without postgresql.conf, with a stale postmaster.pid
and standby.signal) and the tablespace refusal; D data directories (running
server, non-empty, --force with a pg_wal link); A --target-action shutdown
and the progress bar on a terminal; M a mistyped repository in the
generated config: the server stops, it does not promote.
doc/restore.md's coverage table maps each point of the design to its check.

Usage: test_pitr.py [--repo-kind file|s3] [--encryption plain|encrypted]
                    [--cases TLGXDAM] [--keep]
Needs WS_BUILD_DIR (the meson build root).  Prints "N passed, M failed".
Exit 77 (skipped) when PostgreSQL 15 or the postgres user is missing.
"""

import argparse
import datetime
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgtest  # noqa: E402
from pgtest import PGBIN, TestError, give, run, wait_promoted  # noqa: E402

TIME_LIMIT = 1500
MiB = 1 << 20


def lsn_int(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def lsn_text(v):
    return "%X/%X" % (v >> 32, v & 0xFFFFFFFF)


def ts_text(usec, offset_minutes=120):
    """A TimestampTz (µs since the Unix epoch here) as text in a zone with
    the given offset: the operator copies local times."""
    tz = datetime.timezone(datetime.timedelta(minutes=offset_minutes))
    d = datetime.datetime.fromtimestamp(usec // 1000000, tz).replace(microsecond=usec % 1000000)
    sign = "+" if offset_minutes >= 0 else "-"
    return d.strftime("%Y-%m-%d %H:%M:%S.%f") + "%s%02d:%02d" % (sign, abs(offset_minutes) // 60,
                                                               abs(offset_minutes) % 60)


class Env(pgtest.TestEnv):
    def __init__(self, args):
        super().__init__(args.repo_kind, args.encryption, args.keep, prefix="walship-pitr-", port_base=6500)
        self.pitr = self.bin("pitr-restore")
        self.n = 0

    def fresh(self, label):
        """A name for a new restore."""
        self.n += 1
        return "r%02d-%s" % (self.n, re.sub(r"[^a-z0-9]+", "-", label.lower()))[:40]

    def walship_cmd(self, repo, *args, check=True, timeout=120):
        return run([self.walship, "--config", repo.conf] + list(args), env=repo.env(), timeout=timeout, check=check)

    def backup(self, repo, c, *extra):
        env = dict(repo.env(), WALSHIP_PG_CONNINFO="host=%s port=%d user=postgres" % (c.sockdir, c.port))
        p = run([self.backup_exe, "--config", repo.conf, "--json", "--no-progress"] + list(extra), env=env,
                timeout=600, check=False)
        if p.returncode != 0:
            raise TestError("walship-backup failed: %s" % p.stderr[-2000:])
        return json.loads(p.stdout)

    def pitr_restore(self, repo, pgdata, *args, timeout=600):
        """Runs pitr-restore --json; returns (process, JSON or None)."""
        p = run([self.pitr, "--config", repo.conf, "--pgdata", pgdata, "--json", "--no-progress"] + list(args),
                env=repo.env(), timeout=timeout, check=False)
        doc = None
        try:
            doc = json.loads(p.stdout) if p.stdout.strip() else None
        except ValueError:
            doc = None
        return p, doc


# --- the primary and its history ------------------------------------------------------------

WRITER_SQL = """
create table t (id bigserial primary key, xid bigint not null default txid_current(), phase text not null);
create procedure writer(ph text, stop_file text, pause float8) language plpgsql as $$
begin
  loop
    exit when (pg_stat_file(stop_file, true)).size is not null;
    insert into t (phase) values (ph);
    commit;
    perform pg_sleep(pause);
  end loop;
end $$;
"""


class Writer:
    """One connection committing one row per transaction until stopped."""

    def __init__(self, env, c, phase, pause=0.01):
        self.c, self.phase = c, phase
        # Stopped by a file, not a transaction: the writer's are the only commits.
        self.stop_file = os.path.join(env.tmp, "stop-writer-" + phase)
        self.proc = subprocess.Popen(pgtest.as_user([PGBIN + "/psql", "-X", "-q", "-h", c.sockdir, "-p", str(c.port),
                                                     "-U", "postgres", "-d", "postgres", "-c",
                                                     "call writer('%s', '%s', %s)" % (phase, self.stop_file, pause)]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def stop(self):
        with open(self.stop_file, "w") as f:
            f.write("stop\n")
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise TestError("the writer did not stop")
        if self.proc.returncode != 0:
            raise TestError("the writer failed: %s" % self.proc.stderr.read())


def wait_rows(c, n, timeout=60):
    """Waits until table t has at least n more rows than now."""
    start = int(c.psql("select count(*) from t"))
    end = time.time() + timeout
    while time.time() < end:
        if int(c.psql("select count(*) from t")) >= start + n:
            return
        time.sleep(0.2)
    raise TestError("the writer did not write %d rows in %d s" % (n, timeout))


def rows_truth(c):
    """{id: (xid, commit time µs since the Unix epoch, phase)} from the server."""
    out = {}
    text = c.psql("select id, xid, (extract(epoch from pg_xact_commit_timestamp(xmin)) * 1000000)::bigint, phase "
                  "from t order by id")
    for line in text.splitlines():
        i, x, ts, ph = line.split("|")
        out[int(i)] = (int(x), int(ts), ph)
    return out


def commit_lsns(orig, timeline):
    """{xid: commit record LSN} from the archived WAL of a timeline (pg_waldump)."""
    segs = sorted(n for n in os.listdir(orig) if len(n) == 24 and n.startswith("%08X" % timeline))
    out = {}
    if not segs:
        return out
    p = run([PGBIN + "/pg_waldump", "-p", orig, "-t", str(timeline), "-r", "Transaction", segs[0], segs[-1]],
            timeout=300, check=False)
    for line in p.stdout.splitlines():
        m = re.search(r"tx:\s+(\d+), lsn: ([0-9A-F]+/[0-9A-F]+),.*desc: (COMMIT|ABORT)", line)
        if m:
            out[int(m.group(1))] = lsn_int(m.group(2))
    return out


class History:
    pass


def make_primary(env, repo):
    h = History()
    h.orig = env.dir("orig")
    p = env.cluster("primary")
    p.initdb("-k")
    p.base_conf()
    p.conf(archive_mode="on", archive_command="%s --config %s %%p && cp %%p %s/%%f" % (env.push, repo.conf, h.orig),
           track_commit_timestamp="on", autovacuum="off", max_wal_size="1GB", checkpoint_timeout="30min")
    p.start()
    h.ts_dir = env.dir("primary-ts")
    p.psql("create tablespace ts1 location '%s'" % h.ts_dir)
    h.ts_oid = p.psql("select oid from pg_tablespace where spcname = 'ts1'")
    p.psql(WRITER_SQL)
    p.psql("create table tsd (i int primary key, v text) tablespace ts1")
    p.psql("insert into tsd select g, md5(g::text) from generate_series(1, 5000) g")
    p.psql("create table filler (b text)")
    p.psql("insert into filler select repeat(md5(g::text), 30) from generate_series(1, 40000) g")  # ~40 MB
    p.psql("checkpoint")
    h.tsd = p.psql("select md5(string_agg(v, ',' order by i)) from tsd")

    w = Writer(env, p, "a")
    wait_rows(p, 100)
    h.b1 = env.backup(repo, p)
    wait_rows(p, 100)
    p.switch_wal()
    wait_rows(p, 50)
    h.rp_lsn = lsn_int(p.psql("select pg_create_restore_point('rp1')"))
    wait_rows(p, 50)
    p.switch_wal()
    # Backup 2 is slowed down so that transactions commit while it runs.
    h.b2 = env.backup(repo, p, "--max-rate", "8192")
    wait_rows(p, 100)
    p.switch_wal()
    w.stop()
    h.idle_last = int(p.psql("select max(id) from t"))
    time.sleep(1.5)
    h.b3 = env.backup(repo, p)  # on an idle database: nothing commits during it
    time.sleep(1.0)
    w = Writer(env, p, "b")
    wait_rows(p, 150)
    p.switch_wal()
    wait_rows(p, 150)
    w.stop()
    last = p.switch_wal()
    p.wait_archived(last)
    h.rows = rows_truth(p)
    h.lsn = commit_lsns(h.orig, 1)
    h.primary = p
    return h


def commit_lsn(h, rid):
    return h.lsn.get(h.rows[rid][0])


# --- restoring and judging ------------------------------------------------------------------

def start_restored(env, name, wait="paused"):
    """Starts the restored data directory tmp/name on a port of its own;
    waits until it paused at the target, promoted, or shut down."""
    c = env.cluster(name)
    c.conf(port=c.port, unix_socket_directories=c.sockdir)
    c.start(wait=False, check=False)
    if wait == "paused":
        got = c.wait_query("select pg_is_in_recovery() and pg_get_wal_replay_pause_state() = 'paused'", "t", 180)
        if got != "t":
            raise TestError("%s did not pause at the target; log tail:\n%s" % (name, c.log_tail(30)))
    elif wait == "promoted":
        wait_promoted(c)
    return c


def restored_ids(c):
    return [int(x) for x in c.psql("select id from t order by id").split()]


def judge(env, label, c, expected_ids):
    got = restored_ids(c)
    want = sorted(expected_ids)
    extra = sorted(set(got) - set(want))
    missing = sorted(set(want) - set(got))
    env.r.check("%s: the restored rows are exactly the rows committed at or before the target (%d rows)"
                % (label, len(want)), got == want and len(want) > 0,
                "extra %s missing %s" % (extra[:10], missing[:10]))


def restore_case(env, repo, h, label, args, expected_ids, want_backup=None, wait="paused", want_timeline=None,
                 map_by_path=False, inspect=None):
    """pitr-restore with args into a fresh directory, checks the plan,
    inspect(pgdata, plan) before the server starts, starts the server, judges
    its rows; returns (cluster, plan JSON)."""
    name = env.fresh(label)
    pgdata = os.path.join(env.tmp, name)
    ts = os.path.join(env.tmp, name + "-ts")
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_dir if map_by_path else h.ts_oid, ts),
                              *args)
    ok = env.r.check("%s: pitr-restore exits 0" % label, p.returncode == 0 and doc and "restore" in doc,
                     p.stderr[-3000:] + p.stdout[-2000:])
    if not ok:
        return None, doc
    if want_backup:
        env.r.check("%s: backup %s chosen" % (label, want_backup), doc["backup"]["id"] == want_backup,
                    "chose %s; rejected %s" % (doc["backup"]["id"], doc.get("rejected")))
    if want_timeline is not None:
        env.r.check("%s: recovery_target_timeline = %d (numeric)" % (label, want_timeline),
                    doc["timeline"] == want_timeline and
                    doc["restore"]["settings"].get("recovery_target_timeline") == str(want_timeline),
                    doc.get("restore", {}).get("settings"))
    if inspect:
        inspect(pgdata, doc)
    c = start_restored(env, name, wait)
    judge(env, label, c, expected_ids)
    return c, doc


def check_restored_dir(env, label, pgdata, doc, ts_dir, ts_oid):
    """What the restore left before the server starts: modes, owner,
    backup_label kept, recovery.signal, the settings and the generated config,
    the tablespace link and tablespace_map from the map."""
    owner = os.stat(pgdata).st_uid
    bad = []
    n = 0
    for top in (pgdata, ts_dir):
        for d, dirs, files in os.walk(top):
            for x in [d] + [os.path.join(d, f) for f in files]:
                st = os.lstat(x)
                if os.path.islink(x):
                    continue
                n += 1
                want = 0o700 if os.path.isdir(x) else 0o600
                if st.st_mode & 0o7777 != want or st.st_uid != owner:
                    bad.append("%s %o uid %d" % (x, st.st_mode & 0o7777, st.st_uid))
    env.r.check("%s: every restored file is 0600 and directory 0700, owned by the data directory's owner (%d)"
                % (label, n), n > 100 and not bad and pwd_name(owner) == pgtest.run_user(), bad[:10])
    env.r.check("%s: backup_label kept, recovery.signal written" % label,
                os.path.isfile(os.path.join(pgdata, "backup_label")) and
                os.path.isfile(os.path.join(pgdata, "recovery.signal")))
    link = os.path.join(pgdata, "pg_tblspc", str(ts_oid))
    with open(os.path.join(pgdata, "tablespace_map")) as f:
        tsmap = f.read()
    env.r.check("%s: the tablespace link and tablespace_map point at the mapped directory" % label,
                os.path.islink(link) and os.readlink(link) == ts_dir and tsmap == "%s %s\n" % (ts_oid, ts_dir) and
                len(os.listdir(ts_dir)) > 0, "%s -> %s; tablespace_map %r" % (link, os.path.realpath(link), tsmap))
    conf = doc["restore"]["walship_config"]
    st = os.stat(conf)
    with open(os.path.join(pgdata, "postgresql.auto.conf")) as f:
        auto = f.read()
    target = doc["restore"]["settings"].get("recovery_target_time")
    env.r.check("%s: the generated config is 0600, the owner's, in the data directory outside pg_wal; "
                "postgresql.auto.conf sets restore_command through it and the time in UTC (+00)" % label,
                st.st_mode & 0o777 == 0o600 and st.st_uid == owner and os.path.dirname(conf) == pgdata and
                "restore_command = '" in auto and conf in auto and target and target.endswith("+00") and
                "recovery_target_time = '%s'" % target in auto, auto[-1500:])


def pwd_name(uid):
    import pwd
    return pwd.getpwuid(uid).pw_name


def rows_by_time(h, t, inclusive=True, phases=None):
    return [i for i, (x, ts, ph) in h.rows.items() if (ts <= t if inclusive else ts < t) and
            (phases is None or ph in phases)]


def rows_by_lsn(h, lsn, inclusive=True):
    return [i for i in h.rows if commit_lsn(h, i) is not None and
            (commit_lsn(h, i) <= lsn if inclusive else commit_lsn(h, i) < lsn)]


def mid(a, b):
    return (a + b) // 2


def commit_times(h, phases=None):
    return sorted((ts, i) for i, (x, ts, ph) in h.rows.items() if phases is None or ph in phases)


def time_between(h, lo_lsn, hi_lsn):
    """A time between two consecutive commits whose LSNs lie in (lo, hi), and
    the id of the commit before it."""
    ids = sorted(i for i in h.rows if commit_lsn(h, i) and lo_lsn < commit_lsn(h, i) < hi_lsn)
    if len(ids) < 4:
        raise TestError("fewer than 4 commits between %s and %s" % (lsn_text(lo_lsn), lsn_text(hi_lsn)))
    k = ids[len(ids) // 2]
    return mid(h.rows[k][1], h.rows[k + 1][1]), k


# --- T: targets --------------------------------------------------------------------------

def cases_targets(env, repo, h):
    b1, b2, b3 = h.b1, h.b2, h.b3
    b1_stop, b2_start, b2_stop = lsn_int(b1["stop"]["lsn"]), lsn_int(b2["start"]["lsn"]), lsn_int(b2["stop"]["lsn"])
    b3_start = lsn_int(b3["start"]["lsn"])

    t, k = time_between(h, b1_stop, b2_start)
    label = "T time between backup 1 and 2"
    c, _ = restore_case(env, repo, h, label, ["--target-time", ts_text(t)], rows_by_time(h, t), want_backup=b1["id"],
                        map_by_path=True,
                        inspect=lambda d, doc: check_restored_dir(env, label, d, doc, d + "-ts", h.ts_oid))
    if c:
        got = c.psql("select md5(string_agg(v, ',' order by i)) from tsd")
        env.r.check("T: the tablespace's table is restored through --tablespace-map", got == h.tsd, got)
        c.stop("immediate")

    given = ts_text(t, 120)
    p = run([env.pitr, "--config", repo.conf, "--pgdata", os.path.join(env.tmp, "never-made"), "--dry-run",
             "--target-time", given, "--tablespace-map", "%s=%s" % (h.ts_oid, os.path.join(env.tmp, "never-made-ts"))],
            env=repo.env(), check=False)
    utc = datetime.datetime.fromtimestamp(t // 1000000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    want = ["target:       time %s.%06d+00 (inclusive)" % (utc, t % 1000000), "local time (given as '%s')" % given,
            "backup:       %s" % b1["id"], "not chosen:", "WAL:          ", " segments, ", "proven in the archive",
            "stop point:   before commit of transaction %d" % h.rows[k + 1][0],
            "last kept:    commit of transaction %d" % h.rows[k][0],
            "first lost:   commit of transaction %d" % h.rows[k + 1][0], "data loss:    ", "at the end:   the server PAUSES",
            "archiving:    off", "estimate:     restore about ", "requests:     "]
    env.r.check("T plan (text, --dry-run): target in UTC and local time, backup chosen and not chosen, WAL range, "
                "stop point, last kept and first lost, data loss, end, archiving, estimate, storage requests; exit 0",
                p.returncode == 0 and all(w in p.stdout for w in want) and not os.path.exists(
                    os.path.join(env.tmp, "never-made")), [w for w in want if w not in p.stdout] + [p.stdout])

    t, k = time_between(h, b2_stop, b3_start)
    c, _ = restore_case(env, repo, h, "T time after backup 2", ["--target-time", ts_text(t, -300)],
                        rows_by_time(h, t), want_backup=b2["id"])
    c and c.stop("immediate")

    during = sorted(i for i in h.rows if commit_lsn(h, i) and b2_start < commit_lsn(h, i) < b2_stop)
    env.r.check("T: transactions committed while backup 2 ran (%d)" % len(during), len(during) >= 2)
    if during:
        k = during[len(during) // 2]
        t = mid(h.rows[k - 1][1], h.rows[k][1])
        c, doc = restore_case(env, repo, h, "T time during backup 2", ["--target-time", ts_text(t, 0)],
                              rows_by_time(h, t), want_backup=b1["id"])
        if doc:
            env.r.check("T time during backup 2: backup 2 is listed as not chosen, with the reason",
                        any(x["id"] == b2["id"] and "consistent" in x["why"] for x in doc["rejected"]),
                        doc["rejected"])
        c and c.stop("immediate")

    # Before backup 3 (idle database): transactions ended after the target
    # and before it started; restoring it would keep them.
    k = h.idle_last - 30
    t = mid(h.rows[k][1], h.rows[k + 1][1])
    c, doc = restore_case(env, repo, h, "T time before the idle backup 3", ["--target-time", ts_text(t)],
                          rows_by_time(h, t), want_backup=b2["id"])
    if doc:
        env.r.check("T before the idle backup: backup 3 is rejected, with the reason",
                    any(x["id"] == b3["id"] for x in doc["rejected"]), doc["rejected"])
    c and c.stop("immediate")

    # Exclusive: a target equal to a commit's time leaves that commit out.
    k = h.idle_last - 60
    t = h.rows[k][1]
    c, _ = restore_case(env, repo, h, "T exclusive time", ["--target-time", ts_text(t), "--target-exclusive"],
                        rows_by_time(h, t, inclusive=False))
    c and c.stop("immediate")
    ids = rows_by_time(h, t, inclusive=False)
    env.r.check("T exclusive: the commit at exactly the target is excluded", k not in ids and k - 1 in ids)

    c, doc = restore_case(env, repo, h, "T restore point rp1", ["--target-name", "rp1"], rows_by_lsn(h, h.rp_lsn),
                          want_backup=b1["id"])
    c and c.stop("immediate")

    k = h.idle_last + 40
    target = commit_lsn(h, k)
    c, _ = restore_case(env, repo, h, "T LSN of a commit (inclusive)", ["--target-lsn", lsn_text(target)],
                        rows_by_lsn(h, target), want_backup=b3["id"])
    c and c.stop("immediate")
    c, _ = restore_case(env, repo, h, "T LSN of a commit (exclusive)",
                        ["--target-lsn", lsn_text(target), "--target-exclusive"],
                        rows_by_lsn(h, target, inclusive=False), want_backup=b3["id"])
    c and c.stop("immediate")

    k = h.idle_last + 80
    c, doc = restore_case(env, repo, h, "T xid", ["--target-xid", str(h.rows[k][0])],
                          rows_by_lsn(h, commit_lsn(h, k)), want_backup=b3["id"])
    c and c.stop("immediate")

    c, doc = restore_case(env, repo, h, "T immediate", ["--target", "immediate"],
                          rows_by_lsn(h, lsn_int(b3["stop"]["lsn"])), want_backup=b3["id"])
    if doc:
        env.r.check("T immediate: recovery_target = immediate is written",
                    doc["restore"]["settings"].get("recovery_target") == "immediate", doc["restore"]["settings"])
    c and c.stop("immediate")

    c, doc = restore_case(env, repo, h, "T latest", [], list(h.rows), want_backup=b3["id"], wait="promoted",
                          want_timeline=1)
    if doc:
        env.r.check("T latest: no recovery target, archive_mode off, restore_command through the generated config",
                    not any(k.startswith("recovery_target_t") and k != "recovery_target_timeline"
                            for k in doc["restore"]["settings"]) and
                    doc["restore"]["settings"].get("archive_mode") == "off" and
                    doc["restore"]["walship_config"] in doc["restore"]["settings"]["restore_command"], doc["restore"])
        conf = doc["restore"]["walship_config"]
        st = os.stat(conf)
        env.r.check("T latest: the generated config is mode 0600, owned by the data directory's owner",
                    st.st_mode & 0o777 == 0o600 and st.st_uid == os.stat(os.path.dirname(conf)).st_uid,
                    oct(st.st_mode))
        env.r.check("T latest: the plan counted its storage requests", doc["requests"]["total"] > 0,
                    doc["requests"])
    c and c.stop("immediate")


# --- L: timelines ------------------------------------------------------------------------

def cases_timelines(env, repo, h):
    b1_stop = lsn_int(h.b1["stop"]["lsn"])
    b3_start = lsn_int(h.b3["start"]["lsn"])
    # A restore that becomes a primary: promoted, archiving into the repository.
    t_s, k_s = time_between(h, b1_stop, b3_start)
    name = env.fresh("L promote to timeline 2")
    pgdata = os.path.join(env.tmp, name)
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts"),
                              "--target-time", ts_text(t_s), "--target-action", "promote",
                              "--archive-mode", "preserve")
    if not env.r.check("L: restore with --archive-mode preserve --target-action promote", p.returncode == 0,
                       p.stderr[-3000:]):
        return
    env.r.check("L preserve: archive_mode is not written", "archive_mode" not in doc["restore"]["settings"],
                doc["restore"]["settings"])
    c = start_restored(env, name, "promoted")
    judge(env, "L promoted (timeline 2)", c, rows_by_time(h, t_s))
    tli = c.controldata()["Latest checkpoint's TimeLineID"]
    env.r.check("L: the promoted server is on timeline 2", tli == "2", tli)
    # Timeline 2: writes, a backup, writes.
    w = Writer(env, c, "c")
    wait_rows(c, 100)
    h.b4 = env.backup(repo, c)
    wait_rows(c, 150)
    w.stop()
    last = c.switch_wal()
    c.wait_archived(last)
    rows2 = rows_truth(c)
    c.stop()
    tl2 = {i: v for i, v in rows2.items() if v[2] == "c"}
    kept1 = rows_by_time(h, t_s)

    # A time on timeline 2.
    times2 = sorted(ts for (x, ts, ph) in tl2.values())
    t2 = mid(times2[-40], times2[-39])
    want = kept1 + [i for i, v in tl2.items() if v[1] <= t2]
    c, doc = restore_case(env, repo, h, "L time on timeline 2", ["--target-time", ts_text(t2)], want,
                          want_backup=h.b4["id"], want_timeline=2)
    c and c.stop("immediate")

    # A time on timeline 1 before the switch: one place, whichever path.
    t1, _ = time_between(h, b1_stop, lsn_int(h.b2["start"]["lsn"]))
    if t1 >= t_s:
        raise TestError("the timeline 1 target is not before the switch")
    c, doc = restore_case(env, repo, h, "L time on timeline 1 before the switch", ["--target-time", ts_text(t1)],
                          rows_by_time(h, t1))
    c and c.stop("immediate")

    # A time on timeline 1 after the switch: timeline 1 went on writing, so
    # both paths reach it, at different places.
    k = h.idle_last + 100
    t3 = mid(h.rows[k][1], h.rows[k + 1][1])
    name = env.fresh("L ambiguous")
    pgdata = os.path.join(env.tmp, name)
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts"),
                              "--target-time", ts_text(t3))
    env.r.check("L ambiguous: refused without --target-timeline, both paths named, nothing written",
                p.returncode == 1 and doc and doc["status"] == "ambiguous" and len(doc.get("paths", [])) == 2 and
                "--target-timeline" in p.stderr and not os.path.exists(pgdata),
                p.stderr[-2000:] + json.dumps(doc)[:2000])
    text = run([env.pitr, "--config", repo.conf, "--pgdata", pgdata, "--dry-run", "--target-time", ts_text(t3)],
               env=repo.env(), check=False).stdout
    env.r.check("L ambiguous: the plan names the paths with their time ranges",
                text.count("--target-timeline") >= 2 and "commits from" in text, text)
    c, doc = restore_case(env, repo, h, "L ambiguous with --target-timeline 1",
                          ["--target-time", ts_text(t3), "--target-timeline", "1"], rows_by_time(h, t3),
                          want_timeline=1)
    c and c.stop("immediate")
    c, doc = restore_case(env, repo, h, "L ambiguous with --target-timeline latest",
                          ["--target-time", ts_text(t3), "--target-timeline", "latest"],
                          kept1 + [i for i, v in tl2.items() if v[1] <= t3], want_timeline=2)
    c and c.stop("immediate")


# --- G: gaps and what the archive cannot give ------------------------------------------------

def cases_gaps(env, repo, h):
    # A time older than every backup.
    first = commit_times(h)[0][0]
    name = env.fresh("G older")
    pgdata = os.path.join(env.tmp, name)
    p, doc = env.pitr_restore(repo, pgdata, "--target-time", ts_text(first - 3600 * 1000000))
    env.r.check("G: a time older than every backup is refused with a clear error, nothing written",
                p.returncode == 1 and "older than every backup" in p.stderr and not os.path.exists(pgdata),
                p.stderr[-2000:])
    # A time beyond the archive.
    last = commit_times(h, "ab")[-1][0]
    p, doc = env.pitr_restore(repo, pgdata, "--target-time", ts_text(last + 600 * 1000000), "--target-timeline",
                              "1")
    env.r.check("G: a time beyond the archive says how far it gets (the newest archived commit, how long before)",
                p.returncode == 1 and "newest archived commit is at" in p.stderr and " min " in p.stderr and
                not os.path.exists(pgdata), p.stderr[-2000:])

    # A WAL segment deleted in the middle (after backup 3).
    segs = sorted(n for n in os.listdir(h.orig) if len(n) == 24 and n.startswith("00000001"))
    b3_last = h.b3["stop"]["segment"]
    later = [s for s in segs if s > b3_last]
    if len(later) < 3:
        raise TestError("not enough segments after backup 3: %s" % later)
    gone = later[1]
    key = pgtest.wal_key(gone)
    saved = repo.read(key)
    repo.remove(key)
    try:
        name = env.fresh("G gap")
        pgdata = os.path.join(env.tmp, name)
        ts = pgdata + "-ts"
        p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, ts), "--target-timeline",
                                  "1")
        env.r.check("G gap: the plan fails naming the missing segment and the furthest point, nothing written",
                    p.returncode == 1 and gone in p.stderr and "no further than" in p.stderr and
                    doc and doc["status"] == "gap" and not os.path.exists(pgdata) and not os.path.exists(ts),
                    p.stderr[-2000:])
        p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, ts), "--target-timeline",
                                  "1", "--dry-run")
        env.r.check("G gap: --dry-run exits 1 for a plan that is not complete", p.returncode == 1, p.stderr)
        name = env.fresh("G gap forced")
        pgdata = os.path.join(env.tmp, name)
        p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts"),
                                  "--target-timeline", "1", "--force")
        ok = env.r.check("G gap --force: restores, says so loudly (FORCED on stderr)",
                         p.returncode == 0 and "FORCED" in p.stderr and doc["status"] == "forced", p.stderr[-2000:])
        if ok:
            st = doc["restore"]["settings"]
            env.r.check("G gap --force: recovery_target_lsn = the furthest point, action pause, archiving off",
                        st.get("recovery_target_lsn") == doc["stop"]["record"]["lsn"] and
                        st.get("recovery_target_action") == "pause" and st.get("archive_mode") == "off", st)
            c = start_restored(env, name, "paused")
            furthest = lsn_int(doc["stop"]["record"]["lsn"])
            judge(env, "G gap --force", c, rows_by_lsn(h, furthest))
            env.r.check("G gap --force: it stopped before the gap (rows after it are missing)",
                        len(restored_ids(c)) < len(h.rows))
            c.stop("immediate")
    finally:
        restore_object(env, repo, key, saved)


def restore_object(env, repo, key, data):
    """Puts an object's bytes back as they were (without walship)."""
    if env.kind == "file":
        path = repo.object_path(key)
        with open(path, "wb") as f:
            f.write(data)
        give(path)
    else:
        repo.replace_raw(key, data)


# --- X: crafted backups and tablespaces ---------------------------------------------------

def tar_bytes(members):
    """A tar archive of (name, type, data or link) members, with end blocks."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, val in members:
            ti = tarfile.TarInfo(name)
            ti.mode = 0o600
            if kind == "file":
                ti.size = len(val)
                t.addfile(ti, io.BytesIO(val))
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o700
                t.addfile(ti)
            elif kind == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = val
                t.addfile(ti)
            elif kind == "hardlink":
                ti.type = tarfile.LNKTYPE
                ti.linkname = val
                t.addfile(ti)
    return buf.getvalue()


def backup_tar(env, repo, rec, name="base.tar"):
    """An archive of a backup as walship stored it, decoded: its bytes."""
    arch = [a for a in rec["archives"] if a["name"] == name][0]
    work = env.dir("tar-%s-%d" % (rec["id"], env.n))
    out = bytearray()
    for o in sorted(arch["objects"], key=lambda o: o["tar_offset"]):
        path = os.path.join(work, "obj")
        env.walship_cmd(repo, "--key", "repo-get", o["key"], path)
        with open(path, "rb") as f:
            out += f.read()
        os.unlink(path)
    shutil.rmtree(work)
    return bytes(out)


def retar(data, drop=(), change=None, add=()):
    """The tar archive data again, without the members named in drop, with
    change[name](bytes) applied, and (name, bytes) files added at the end."""
    src = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
    buf = io.BytesIO()
    seen = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for m in src.getmembers():
            if m.name in drop:
                seen.add(m.name)
                continue
            if m.isfile():
                body = src.extractfile(m).read()
                if change and m.name in change:
                    seen.add(m.name)
                    body = change[m.name](body)
                    m.size = len(body)
                t.addfile(m, io.BytesIO(body))
            else:
                t.addfile(m)
        for name, body in add:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(body), 0o600, int(time.time())
            t.addfile(ti, io.BytesIO(body))
    if seen != set(drop) | set(change or {}):
        raise TestError("members not in the archive: %s" % (set(drop) | set(change or {}) - seen))
    return buf.getvalue()


def manifest_without(text, path):
    """A backup_manifest without one file's entry, its checksum made again."""
    lines = text.split("\n")
    kept = [x for x in lines if not x.startswith('{ "Path": "%s",' % path)]
    if len(kept) != len(lines) - 1:
        raise TestError("%s is not once in the manifest" % path)
    body = "\n".join(kept)
    cut = body.index('"Manifest-Checksum": ')
    return body[:cut] + '"Manifest-Checksum": "%s"}\n' % hashlib.sha256(body[:cut].encode()).hexdigest()


def crafted_backup(env, repo, h, label, data, manifest=None, tablespaces=False):
    """A complete catalog record for a backup whose base.tar is `data`
    (backup 3's LSNs, WAL and manifest, or the manifest text given; with
    tablespaces, backup 3's tablespace archives); returns its id."""
    n = env.n
    rid = "20990101T0000%02dZ-%08X" % (n % 60, 0xC0FFEE00 + n)
    rec = json.loads(json.dumps(h.b3))
    rec["id"] = rid
    rec["label"] = "crafted: " + label
    work = env.dir("craft-%s" % rid)
    tar_path = os.path.join(work, "base.tar")
    with open(tar_path, "wb") as f:
        f.write(data)
    give(tar_path)
    key = "backup/%s/base.tar.00000000.ws" % rid
    env.walship_cmd(repo, "--key", "repo-put", key, tar_path)
    stored = len(repo.read(key))
    ts_archives = [a for a in rec["archives"] if a["name"] != "base.tar"] if tablespaces else []
    for a in ts_archives:
        # A backup's objects live under its own prefix: copied, decoded and stored again.
        for o in a["objects"]:
            copy = os.path.join(work, "ts-object")
            env.walship_cmd(repo, "--key", "repo-get", o["key"], copy)
            o["key"] = "backup/%s/%s" % (rid, o["key"].rsplit("/", 1)[1])
            env.walship_cmd(repo, "--key", "repo-put", o["key"], copy)
            o["stored_size"] = len(repo.read(o["key"]))
            os.unlink(copy)
        a["stored_size"] = sum(o["stored_size"] for o in a["objects"])
    rec["archives"] = [{"name": "base.tar", "tablespace": None, "estimated_size": len(data), "tar_size": len(data),
                        "stored_size": stored, "members": 1,
                        "objects": [{"key": key, "tar_offset": 0, "size": len(data), "stored_size": stored,
                                     "sha256": hashlib.sha256(data).hexdigest()}]}] + ts_archives
    man_key = "backup/%s/backup_manifest.ws" % rid
    man_path = os.path.join(work, "backup_manifest")
    if manifest is None:
        env.walship_cmd(repo, "--key", "repo-get", h.b3["manifest"]["key"], man_path)
    else:
        with open(man_path, "w") as f:
            f.write(manifest)
        give(man_path)
        rec["manifest"]["size"] = len(manifest.encode())
        rec["manifest"]["sha256"] = hashlib.sha256(manifest.encode()).hexdigest()
    env.walship_cmd(repo, "--key", "repo-put", man_key, man_path)
    rec["manifest"]["key"] = man_key
    rec["manifest"]["stored_size"] = len(repo.read(man_key))
    rec["sizes"]["tar"] = len(data) + sum(a["tar_size"] for a in ts_archives)
    rec["sizes"]["stored"] = stored + sum(a["stored_size"] for a in ts_archives) + rec["manifest"]["stored_size"]
    rec_path = os.path.join(work, "record.json")
    with open(rec_path, "w") as f:
        json.dump(rec, f)
    give(rec_path)
    env.walship_cmd(repo, "--key", "repo-put", "catalog/%s.ws" % rid, rec_path)
    return rid


def tree(root, skip):
    """Every path below root, but those under the skipped directories."""
    out = set()
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if os.path.join(d, x) not in skip]
        for n in dirs + files:
            out.add(os.path.join(d, n))
    return out


def cases_crafted(env, repo, h):
    outside = env.dir("outside")
    crafted = [
        ("path traversal", tar_bytes([("PG_VERSION", "file", b"15\n"), ("../outside/evil", "file", b"pwned\n")]),
         ".."),
        ("absolute path", tar_bytes([("/%s/abs-evil" % outside.strip("/"), "file", b"pwned\n")]), "absolute"),
        ("link escaping (absolute)", tar_bytes([("evil-link", "symlink", outside)]), "outside the directory"),
        ("link escaping (relative)", tar_bytes([("base", "dir", None), ("base/evil", "symlink", "../../outside")]),
         "outside the directory"),
        ("write through a link", tar_bytes([("sub", "dir", None), ("lnk", "symlink", "sub"),
                                            ("lnk/x", "file", b"through\n")]), "symbolic link"),
        ("hard link", tar_bytes([("PG_VERSION", "file", b"15\n"), ("hl", "hardlink", "PG_VERSION")]), "hard link"),
        ("tablespace link from the archive", tar_bytes([("pg_tblspc", "dir", None),
                                                        ("pg_tblspc/99999", "symlink", "x")]), "pg_tblspc"),
    ]
    for label, data, needle in crafted:
        rid = crafted_backup(env, repo, h, label, data)
        name = env.fresh("X " + label)
        pgdata = os.path.join(env.tmp, name)
        skip = {pgdata, os.path.join(env.tmp, "craft-%s" % rid)}
        before = tree(env.tmp, skip | {os.path.join(env.tmp, "s3env")})
        p, doc = env.pitr_restore(repo, pgdata, "--backup", rid, "--target", "immediate")
        after = tree(env.tmp, skip | {os.path.join(env.tmp, "s3env")})
        env.r.check("X %s: refused with a clear error naming the member" % label,
                    p.returncode == 1 and needle in p.stderr and not os.path.exists(os.path.join(pgdata,
                                                                                                "recovery.signal")),
                    p.stderr[-2000:])
        new = sorted(x for x in after - before if not x.endswith(".log") and "/sock/" not in x)
        env.r.check("X %s: nothing written outside the data directory" % label,
                    not new and os.listdir(outside) == [], "new: %s, outside: %s" % (new[:10], os.listdir(outside)))
        # The crafted record goes: the other cases choose among the real backups.
        env.walship_cmd(repo, "--key", "repo-rm", "catalog/%s.ws" % rid)

    # Backup 3's own archive, decoded and changed: the manifest check.
    base = backup_tar(env, repo, h.b3)
    man_path = os.path.join(env.dir("b3-manifest"), "backup_manifest")
    env.walship_cmd(repo, "--key", "repo-get", h.b3["manifest"]["key"], man_path)
    with open(man_path) as f:
        man = f.read()

    def flip(b):
        return b[:-2] + bytes([b[-2] ^ 0x20]) + b[-1:]

    edited = man.replace('{ "Path": "pg_ident.conf",', '{ "Path": "pg_ident.conf.x",', 1)
    for label, data, manifest, needle, planned in [
            ("manifest: a file changed, same size", retar(base, change={"pg_hba.conf": flip}), None, "pg_hba.conf",
             True),
            ("manifest: a file missing", retar(base, drop=("pg_ident.conf",)), None, "pg_ident.conf", True),
            ("manifest: the manifest itself changed", base, edited, "manifest checksum mismatch", False)]:
        rid = crafted_backup(env, repo, h, label, data, manifest=manifest, tablespaces=True)
        name = env.fresh("X " + label)
        pgdata = os.path.join(env.tmp, name)
        p, doc = env.pitr_restore(repo, pgdata, "--backup", rid, "--target", "immediate", "--tablespace-map",
                                  "%s=%s" % (h.ts_oid, pgdata + "-ts"))
        env.r.check("X %s: refused, naming it; no recovery settings written" % label,
                    p.returncode == 1 and needle in p.stderr and "manifest" in p.stderr and
                    os.path.isdir(pgdata) == planned and not os.path.exists(os.path.join(pgdata, "recovery.signal")) and
                    not os.path.exists(os.path.join(pgdata, "walship-restore.conf")), p.stderr[-2000:])
        env.walship_cmd(repo, "--key", "repo-rm", "catalog/%s.ws" % rid)

    # A backup of a Debian cluster (no postgresql.conf), with a stale
    # postmaster.pid and a standby.signal in it.
    label = "X Debian backup"
    data = retar(base, drop=("postgresql.conf",), add=[("postmaster.pid", b"4242\n"), ("standby.signal", b"")])
    rid = crafted_backup(env, repo, h, label, data, manifest=manifest_without(man, "postgresql.conf"),
                         tablespaces=True)
    name = env.fresh(label)
    pgdata = os.path.join(env.tmp, name)
    tsmap = "%s=%s" % (h.ts_oid, pgdata + "-ts")
    text = run([env.pitr, "--config", repo.conf, "--pgdata", pgdata, "--backup", rid, "--target", "immediate",
                "--tablespace-map", tsmap, "--dry-run"], env=repo.env(), check=False).stdout
    env.r.check("%s: the plan says the backup holds no postgresql.conf and where to read how to start it" % label,
                "holds no postgresql.conf" in text and "doc/restore.md" in text, text)
    p, doc = env.pitr_restore(repo, pgdata, "--backup", rid, "--target", "immediate", "--tablespace-map", tsmap)
    ok = env.r.check("%s: restored; postmaster.pid and standby.signal from the backup are not, backup_label is" % label,
                     p.returncode == 0 and doc["backup_has_postgresql_conf"] is False and
                     not os.path.exists(os.path.join(pgdata, "postmaster.pid")) and
                     not os.path.exists(os.path.join(pgdata, "standby.signal")) and
                     os.path.isfile(os.path.join(pgdata, "backup_label")) and
                     not os.path.exists(os.path.join(pgdata, "postgresql.conf")), p.stderr[-2000:])
    if ok:
        # Started with a configuration of its own, as doc/restore.md says.
        with open(os.path.join(pgdata, "postgresql.conf"), "w") as f:
            f.write("# the restored cluster's own configuration\n")
        give(os.path.join(pgdata, "postgresql.conf"))
        c = start_restored(env, name, "paused")
        judge(env, label, c, rows_by_lsn(h, lsn_int(h.b3["stop"]["lsn"])))
        c.stop("immediate")
    env.walship_cmd(repo, "--key", "repo-rm", "catalog/%s.ws" % rid)

    # An unmapped tablespace whose original directory is in use.
    os.makedirs(h.ts_dir, exist_ok=True)
    marker = os.path.join(h.ts_dir, "in-use")
    with open(marker, "w") as f:
        f.write("the primary's\n")
    name = env.fresh("X tablespace in use")
    pgdata = os.path.join(env.tmp, name)
    p, doc = env.pitr_restore(repo, pgdata, "--target", "immediate", "--target-timeline", "1")
    env.r.check("X: an unmapped tablespace whose directory is in use is refused, nothing touched",
                p.returncode == 1 and "tablespace" in p.stderr and "--tablespace-map" in p.stderr and
                not os.path.exists(pgdata) and os.listdir(h.ts_dir) == ["in-use"], p.stderr[-2000:])


# --- D: the data directory ---------------------------------------------------------------

def cases_datadir(env, repo, h):
    name = env.fresh("D running")
    pgdata = os.path.join(env.tmp, name)
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts"),
                              "--target", "immediate", "--target-action", "promote", "--target-timeline", "1")
    if not env.r.check("D: a restore to promote", p.returncode == 0, p.stderr[-2000:]):
        return
    c = start_restored(env, name, "promoted")
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts2"),
                              "--target", "immediate", "--force", "--target-timeline", "1")
    env.r.check("D: a data directory with a running server is refused, even with --force",
                p.returncode == 1 and "running" in p.stderr and c.running(), p.stderr[-2000:])
    c.stop()
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts2"),
                              "--target", "immediate", "--target-timeline", "1")
    env.r.check("D: a non-empty data directory is refused without --force",
                p.returncode == 1 and "not empty" in p.stderr and "--force" in p.stderr, p.stderr[-2000:])
    # --force: pg_wal is a link to another directory; its content goes, the link stays.
    waldir = env.dir(name + "-waldir")
    for n in os.listdir(os.path.join(pgdata, "pg_wal")):
        src = os.path.join(pgdata, "pg_wal", n)
        shutil.move(src, os.path.join(waldir, n))
    shutil.rmtree(os.path.join(pgdata, "pg_wal"), ignore_errors=True)
    os.symlink(waldir, os.path.join(pgdata, "pg_wal"))
    with open(os.path.join(waldir, "junk"), "w") as f:
        f.write("old\n")
    sibling = env.dir(name + "-sibling")
    with open(os.path.join(sibling, "keep"), "w") as f:
        f.write("keep\n")
    os.symlink(sibling, os.path.join(pgdata, "link-to-sibling"))
    give(pgdata)
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts3"),
                              "--target", "latest", "--force", "--target-timeline", "1")
    ok = env.r.check("D --force: the data directory is emptied and restored", p.returncode == 0,
                     p.stderr[-2000:])
    env.r.check("D --force: pg_wal stays a link, its old content is gone; nothing outside is deleted",
                os.path.islink(os.path.join(pgdata, "pg_wal")) and "junk" not in os.listdir(waldir) and
                os.path.exists(os.path.join(sibling, "keep")), os.listdir(waldir))
    if ok:
        c2 = start_restored(env, name, "promoted")
        judge(env, "D --force restore to the end of timeline 1", c2, list(h.rows))
        c2.stop("immediate")


def cases_action_progress(env, repo, h):
    name = env.fresh("A shutdown")
    pgdata = os.path.join(env.tmp, name)
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts"),
                              "--target", "immediate", "--target-action", "shutdown", "--target-timeline", "1")
    if env.r.check("A --target-action shutdown: restored, recovery_target_action = shutdown",
                   p.returncode == 0 and doc["restore"]["settings"].get("recovery_target_action") == "shutdown",
                   p.stderr[-2000:]):
        c = env.cluster(name)
        c.conf(port=c.port, unix_socket_directories=c.sockdir)
        c.start(wait=False, check=False)
        down = c.wait_down(180)
        log = c.new_log()
        env.r.check("A --target-action shutdown: the server stops at the target, it does not promote",
                    down and "recovery stopping" in log and "selected new timeline" not in log and
                    c.controldata()["Database cluster state"] == "shut down in recovery", c.log_tail(20))
    # On a terminal: a progress bar, then the summary.
    name = env.fresh("A progress")
    pgdata = os.path.join(env.tmp, name)
    cmd = " ".join(shlex.quote(x) for x in [env.pitr, "--config", repo.conf, "--pgdata", pgdata, "--tablespace-map",
                                            "%s=%s" % (h.ts_oid, pgdata + "-ts"), "--target", "immediate",
                                            "--target-timeline", "1"])
    p = run(["script", "-qefc", cmd, "/dev/null"], env=repo.env(), timeout=600, check=False)
    env.r.check("A on a terminal: a progress bar while restoring, then the summary",
                p.returncode == 0 and "\x1b[K" in p.stdout and re.search(r"\[[#.]+\] +\d+% [0-9.]+ \S+ of ", p.stdout) and
                "restored into %s" % pgdata in
                p.stdout and "set:          restore_command = " in p.stdout, p.stdout[-2000:])


# --- M: a mistyped repository during recovery ----------------------------------------------

def cases_mistyped(env, repo, h):
    name = env.fresh("M mistyped")
    pgdata = os.path.join(env.tmp, name)
    p, doc = env.pitr_restore(repo, pgdata, "--tablespace-map", "%s=%s" % (h.ts_oid, pgdata + "-ts"),
                              "--target-timeline", "1")
    if not env.r.check("M: restore", p.returncode == 0, p.stderr[-2000:]):
        return
    conf = doc["restore"]["walship_config"]
    with open(conf) as f:
        text = f.read()
    typo = os.path.join(env.tmp, "no-such-repo")
    with open(conf, "w") as f:
        f.write(re.sub(r"(?m)^repo = .*$", "repo = file://%s" % typo, text))
    c = env.cluster(name)
    c.conf(port=c.port, unix_socket_directories=c.sockdir)
    c.start(wait=False, check=False)
    stopped = c.wait_down(120)
    log = c.new_log()
    env.r.check("M: the server stops with walship's error naming the repository, it does not promote",
                stopped and "archive recovery complete" not in log and "selected new timeline" not in log and
                re.search(r"walship-fetch: ERROR: .*%s" % re.escape(typo), log) is not None, c.log_tail(20))
    env.r.check("M: nothing created the mistyped repository", not os.path.exists(typo))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo-kind", default="file", choices=["file", "s3"])
    ap.add_argument("--encryption", default="plain", choices=["plain", "encrypted"])
    ap.add_argument("--cases", default="TLGXDAM")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    why = pgtest.missing_prerequisite()
    if why:
        print("%s: skipped" % why)
        return 77
    env = Env(args)
    print("# repo kind %s, %s, cases %s, temp dir %s" % (args.repo_kind, args.encryption, args.cases, env.tmp),
          flush=True)
    try:
        return run_all(env, args.cases)
    finally:
        env.stop_s3()
        for c in env.clusters:
            c.stop("immediate")
        if not env.keep:
            shutil.rmtree(env.tmp, ignore_errors=True)


def run_all(env, cases):
    def on_alarm(signum, frame):
        raise TestError("time limit of %d s reached" % TIME_LIMIT)

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TIME_LIMIT)
    t0 = time.time()
    steps = []
    try:
        if env.kind == "s3":
            env.start_s3()
        repo = env.new_repo("repo")
        h = make_primary(env, repo)
        print("# history: %d rows, backups %s %s %s (%.0f s)" % (len(h.rows), h.b1["id"], h.b2["id"], h.b3["id"],
                                                                 time.time() - t0), flush=True)
        h.primary.stop()
        shutil.rmtree(h.primary.datadir)
        shutil.rmtree(h.ts_dir)
        table = {"T": cases_targets, "L": cases_timelines, "G": cases_gaps, "X": cases_crafted,
                 "D": cases_datadir, "A": cases_action_progress, "M": cases_mistyped}
        # How many checks each group makes at least: a group that stops early fails the run.
        least = {"T": 45, "L": 17, "G": 8, "X": 21, "D": 6, "A": 3, "M": 3}
        env.r.expect(sum(least[k] for k in cases))
        for k in cases:
            steps.append((k, table[k]))
    except (TestError, subprocess.TimeoutExpired) as e:
        env.r.check("set-up", False, str(e))
    for label, fn in steps:
        t1 = time.time()
        try:
            fn(env, repo, h)
        except (TestError, subprocess.TimeoutExpired, OSError, KeyError, TypeError) as e:
            env.r.check("cases %s ran to the end" % label, False, "%s: %s" % (type(e).__name__, e))
        finally:
            print("# cases %s: %.0f s" % (label, time.time() - t1), flush=True)
            for c in env.clusters:
                if c.running():
                    c.stop("immediate")
    signal.alarm(0)
    print("# %.0f s" % (time.time() - t0))
    return env.r.finish()


if __name__ == "__main__":
    sys.exit(main())
