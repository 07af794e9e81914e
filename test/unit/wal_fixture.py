#!/usr/bin/env python3
"""wal_fixture.py - real WAL from PostgreSQL 15 with known facts, for the WAL
reader and index tests.

Usage: wal_fixture.py --fixture DIR [--run PROGRAM [ARGS...]]

Makes DIR once (a complete DIR has DIR/facts.json; concurrent callers wait
on DIR.lock), then, with --run, runs PROGRAM with WS_TEST_WAL_FIXTURE=DIR
and exits with its status.  Exit 77 (skipped) when PostgreSQL 15 or the
postgres user is missing.

The cluster (1 MiB segments, track_commit_timestamp, prepared transactions,
archive_command = cp) produces, in order:
  * commits, aborts, PREPARE TRANSACTION + COMMIT PREPARED, PREPARE +
    ROLLBACK PREPARED, named restore points, pg_switch_wal();
  * a commit record of a transaction with 2000 subtransactions written right
    before a segment boundary so that it spans two segments (asserted from
    pg_waldump);
  * several segments of WAL, checkpoints so that old segments are recycled,
    then a segment that is a recycled file, written up to a page boundary
    and copied while the server is running: its tail still holds the old WAL
    (asserted: the next page has a valid magic and an older pageaddr).
DIR/wal/ holds the archived segments, DIR/recycled/ the copied segment.

DIR/facts.json records what SQL reported (xids, commit timestamps from
pg_xact_commit_timestamp(), restore point LSNs from
pg_create_restore_point(), clock_timestamp() around each restore point) and
what pg_waldump, PostgreSQL's own reader, reports for every record
(DIR/records.tsv: lsn, end_lsn, prev, xl_tot_len, xid, rmgr, kind) and per
segment (records ending in it, first and last LSN, commit/abort/prepare
ranges, restore points, how the segment ends).  The generator checks that
SQL and pg_waldump agree before writing facts.json.
"""

import fcntl
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import pgtest  # noqa: E402
from pgtest import Cluster, give, run  # noqa: E402

SEG = 1 << 20
BLCKSZ = 8192
PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
TIME_LIMIT = 240  # seconds for the whole generation


class FixtureError(Exception):
    pass


def lsn_int(text):
    hi, lo = text.split("/")
    return int(hi, 16) << 32 | int(lo, 16)


def lsn_text(v):
    return "%X/%X" % (v >> 32, v & 0xFFFFFFFF)


def seg_name(tli, segno):
    per = (1 << 32) // SEG
    return "%08X%08X%08X" % (tli, segno // per, segno % per)


def segno_of(lsn):
    return lsn // SEG


def align8(v):
    return (v + 7) & ~7


def record_end(lsn, tot_len):
    """The LSN after the last byte of a record, crossing page headers."""
    pos, left = lsn, tot_len
    take = min(left, BLCKSZ - pos % BLCKSZ)
    pos += take
    left -= take
    while left > 0:
        hs = 40 if pos % SEG == 0 else 24
        pos += hs
        take = min(left, BLCKSZ - hs)
        pos += take
        left -= take
    return pos


def xid_precedes(a, b):
    if a < 3 or b < 3:
        return a < b
    return ((a - b) & 0xFFFFFFFF) >= 0x80000000


class Psql:
    def __init__(self, c):
        self.c = c

    def script(self, sql):
        """Runs statements one by one; returns the non-empty output lines."""
        p = run([pgtest.PGBIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.c.sockdir,
                 "-p", str(self.c.port), "-U", "postgres", "-d", "postgres", "-f", "-"], input=sql, timeout=120)
        return [line for line in p.stdout.splitlines() if line.strip()]

    def one(self, sql):
        out = self.script(sql)
        if len(out) != 1:
            raise FixtureError("expected one line from %r, got %r" % (sql, out))
        return out[0]


NOW_US = "select (extract(epoch from clock_timestamp()) * 1000000)::bigint - 946684800000000"


class Generator:
    def __init__(self, out_dir, tmp):
        self.out = out_dir
        self.tmp = tmp
        self.arch = os.path.join(tmp, "archive")
        os.makedirs(self.arch)
        give(self.arch)
        self.c = Cluster(tmp, "pg", 5400 + os.getpid() % 500)
        self.q = Psql(self.c)
        self.facts = {"commits": [], "aborts": [], "prepares": [], "commit_prepared": [], "abort_prepared": [],
                      "restore_points": []}

    # --- the cluster ---
    def start(self):
        self.c.initdb("--wal-segsize=1")
        self.c.base_conf()
        self.c.conf(track_commit_timestamp="on", max_prepared_transactions=10, autovacuum="off",
                    archive_mode="on", archive_command="cp %%p %s/%%f" % self.arch, archive_timeout=0,
                    min_wal_size="4MB", max_wal_size="1GB", checkpoint_timeout="1h", wal_recycle="on",
                    wal_keep_size=0, wal_writer_delay="10ms")
        self.c.start()
        self.q.script("create table t (id serial primary key, v text);")

    def insert_lsn(self):
        return lsn_int(self.q.one("select pg_current_wal_insert_lsn()"))

    def switch(self):
        return self.q.one("select pg_walfile_name(pg_switch_wal())")

    # --- events ---
    def commit(self, tag):
        xid = int(self.q.script("begin; insert into t (v) values ('%s'); select pg_current_xact_id(); commit;" % tag)[0])
        ts = int(self.q.one("select (extract(epoch from pg_xact_commit_timestamp('%d'::xid)) * 1000000)::bigint"
                            " - 946684800000000" % xid))
        self.facts["commits"].append({"xid": xid, "time": ts, "tag": tag})
        return xid

    def abort(self, tag):
        xid = int(self.q.script("begin; insert into t (v) values ('%s'); select pg_current_xact_id(); rollback;"
                                % tag)[0])
        self.facts["aborts"].append({"xid": xid, "tag": tag})
        return xid

    def prepared(self, gid, commit):
        xid = int(self.q.script("begin; insert into t (v) values ('%s'); select pg_current_xact_id();"
                                " prepare transaction '%s';" % (gid, gid))[0])
        self.facts["prepares"].append({"xid": xid, "gid": gid})
        if commit:
            self.q.script("commit prepared '%s';" % gid)
            ts = int(self.q.one("select (extract(epoch from pg_xact_commit_timestamp('%d'::xid)) * 1000000)::bigint"
                                " - 946684800000000" % xid))
            self.facts["commit_prepared"].append({"xid": xid, "time": ts, "gid": gid})
        else:
            self.q.script("rollback prepared '%s';" % gid)
            self.facts["abort_prepared"].append({"xid": xid, "gid": gid})
        return xid

    def restore_point(self, name):
        out = self.q.script("%s; select pg_create_restore_point('%s'); %s;" % (NOW_US, name, NOW_US))
        self.facts["restore_points"].append({"name": name, "time_lo": int(out[0]), "end_lsn": out[1],
                                             "time_hi": int(out[2])})

    def spanning_commit(self):
        """A commit record of about 8 KB that starts less than 6000 bytes
        before a segment boundary, so it must end in the next segment."""
        sql = """
begin;
insert into t (v) values ('span');
do $$ begin for i in 1..2000 loop
  begin insert into t (v) values ('sub'); exception when others then null; end;
end loop; end $$;
select pg_current_xact_id();
do $$ declare r bigint; n int := 0; begin loop
  r := %d - ((pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint %% %d);
  exit when r < 6000 or n > 10000;
  perform pg_logical_emit_message(false, 'pad', repeat('x', least(r - 4000, 200000)::int));
  n := n + 1;
end loop; end $$;
commit;
""" % (SEG, SEG)
        xid = int(self.q.script(sql)[0])
        ts = int(self.q.one("select (extract(epoch from pg_xact_commit_timestamp('%d'::xid)) * 1000000)::bigint"
                            " - 946684800000000" % xid))
        self.facts["commits"].append({"xid": xid, "time": ts, "tag": "span"})
        return xid

    def fill(self, nbytes):
        """About nbytes of WAL in 64 KiB logical messages."""
        self.q.script("do $$ begin for i in 1..%d loop perform pg_logical_emit_message(false, 'fill', "
                      "repeat('y', 65536)); end loop; end $$;" % (nbytes // 65600 + 1))

    def wait_archived(self, name, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if os.path.exists(os.path.join(self.arch, name)):
                return
            time.sleep(0.05)
        raise FixtureError("%s was not archived within %ds" % (name, timeout))

    def to_page_end(self):
        """Writes logical messages so that the last record ends exactly at a
        page's end; returns that page boundary.  (At a boundary,
        pg_current_wal_insert_lsn() points past the next page's header.)"""
        for _ in range(5):
            pos = self.insert_lsn()
            off = pos % BLCKSZ
            if off == 24 and pos % SEG != 24:
                return pos - 24
            # xl_tot_len = 24 header + 5 main data header + 24 xl_logical_message
            # + 2 ("p\0") + L; it must end exactly at the page's end.
            room = BLCKSZ - off
            if room < 24 + 5 + 26 + 256:
                self.q.script("select pg_logical_emit_message(false, 'p', repeat('z', 300));")
                continue
            self.q.script("select pg_logical_emit_message(false, 'p', repeat('z', %d));" % (room - 55))
        raise FixtureError("could not end the WAL at a page boundary (insert position %s)"
                           % lsn_text(self.insert_lsn()))

    def wait_flushed(self, lsn, timeout=30):
        end = time.time() + timeout
        while time.time() < end:
            if lsn_int(self.q.one("select pg_current_wal_flush_lsn()")) >= lsn:
                return
            time.sleep(0.02)
        raise FixtureError("WAL not flushed up to %s within %ds" % (lsn_text(lsn), timeout))

    def recycled_copy(self):
        """Copies the segment being written, a recycled file, while its tail
        still holds older WAL; returns (name, end_lsn)."""
        for attempt in range(4):
            self.fill(3 * SEG)
            last = self.switch()
            self.wait_archived(last)
            self.q.script("checkpoint;")
            self.q.script("checkpoint;")
            cur = self.q.one("select pg_walfile_name(pg_current_wal_insert_lsn())")
            # Move into the next segment: after the checkpoints it is a
            # recycled file (renamed from an old segment).
            self.switch()
            cur = self.q.one("select pg_walfile_name(pg_current_wal_insert_lsn())")
            path = os.path.join(self.c.datadir, "pg_wal", cur)
            self.commit("recycled-1")
            self.abort("recycled-2")
            self.restore_point("rp_recycled")
            end = self.to_page_end()
            self.wait_flushed(end)
            dst = os.path.join(self.out, "recycled", cur)
            shutil.copyfile(path, dst)
            if self.insert_lsn() != end + 24 or end % SEG == 0:
                continue  # other WAL came in meanwhile, or no tail: try again
            with open(dst, "rb") as f:
                f.seek(end % SEG)
                hdr = f.read(24)
            magic, _info, _tli, addr = struct.unpack("<HHIQ", hdr[:16])
            if magic != 0xD110 or addr >= end:
                raise FixtureError("%s is not a recycled file: page at %s has magic %04X pageaddr %s"
                                   % (cur, lsn_text(end), magic, lsn_text(addr)))
            return cur, end
        raise FixtureError("other WAL kept arriving while copying the recycled segment")

    # --- pg_waldump ---
    def waldump(self, first, last):
        env = dict(os.environ, TZ="UTC")
        p = subprocess.run([pgtest.PGBIN + "/pg_waldump", "-p", self.arch, first, last], capture_output=True,
                           text=True, env=env, timeout=120)
        return p.stdout, p.stderr

    def generate(self):
        self.start()
        self.switch()
        self.commit("c1")
        self.abort("a1")
        self.prepared("p1", commit=True)
        self.prepared("p2", commit=False)
        self.restore_point("rp_one")
        self.commit("c2")
        self.facts["switch_segment"] = self.switch()
        self.commit("c3")
        self.restore_point("rp_two")
        self.abort("a2")
        span_xid = self.spanning_commit()
        self.commit("c4")
        self.abort("a3")
        self.restore_point("rp_three")
        self.prepared("p3", commit=True)
        self.switch()
        name, end = self.recycled_copy()
        self.facts["recycled"] = {"segment": name, "end_lsn": lsn_text(end)}
        self.commit("after-recycled")
        last = self.switch()
        self.wait_archived(last)
        self.c.stop()
        self.facts["span_xid"] = span_xid
        self.collect()

    def collect(self):
        names = sorted(n for n in os.listdir(self.arch) if re.fullmatch(r"[0-9A-F]{24}", n))
        os.makedirs(os.path.join(self.out, "wal"), exist_ok=True)
        for n in names:
            shutil.copyfile(os.path.join(self.arch, n), os.path.join(self.out, "wal", n))
        out, err = self.waldump(names[0], names[-1])
        recs = parse_waldump(out)
        if not recs:
            raise FixtureError("pg_waldump printed no records: %s" % err)
        self.facts["waldump_end"] = err.strip()
        self.facts["segments"] = per_segment(names, recs)
        for i, e in enumerate(self.facts["segments"]):
            # Read from scratch, the first one skips a record begun before it.
            with open(os.path.join(self.out, "wal", e["segment"]), "rb") as f:
                info = struct.unpack("<H", f.read(4)[2:4])[0]
            e["continued_unread"] = i == 0 and bool(info & 1)
        self.facts["seg_size"] = SEG
        self.facts["timeline"] = 1
        self.facts["pg_version"] = 15
        self.facts["system_identifier"] = self.c.controldata()["Database system identifier"]
        check_agreement(self.facts, recs)
        rec = self.facts["recycled"]
        rec.update(recycled_expect(recs, rec["segment"], lsn_int(rec["end_lsn"])))
        with open(os.path.join(self.out, "records.tsv"), "w") as f:
            for r in recs:
                f.write("%s\t%s\t%s\t%d\t%d\t%s\t%s\n" % (lsn_text(r["lsn"]), lsn_text(r["end"]),
                                                      lsn_text(r["prev"]), r["tot"], r["xid"], r["rmgr"], r["kind"]))


LINE = re.compile(r"rmgr: (\S+)\s+len \(rec/tot\):\s*(\d+)/\s*(\d+), tx:\s*(\d+), lsn: ([0-9A-F]+/[0-9A-F]+), "
                  r"prev ([0-9A-F]+/[0-9A-F]+), desc: (\S+)(?: (.*))?$")
TS = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) UTC")


def pg_time(text):
    dt = datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc)
    d = dt - PG_EPOCH
    return (d.days * 86400 + d.seconds) * 1000000 + d.microseconds


def parse_waldump(text):
    recs = []
    for line in text.splitlines():
        m = LINE.match(line)
        if not m:
            raise FixtureError("unexpected pg_waldump line: %r" % line)
        rmgr, _rec, tot, xid, lsn, prev, kind, desc = m.groups()
        r = {"rmgr": rmgr, "tot": int(tot), "xid": int(xid), "lsn": lsn_int(lsn), "prev": lsn_int(prev),
             "kind": kind, "desc": desc or ""}
        r["end"] = align8(record_end(r["lsn"], r["tot"]))
        if rmgr == "Transaction" and kind in ("COMMIT", "ABORT", "COMMIT_PREPARED", "ABORT_PREPARED"):
            t = TS.search(r["desc"])
            r["time"] = pg_time(t.group(1))
            r["target_xid"] = r["xid"]
            if kind.endswith("_PREPARED"):
                r["target_xid"] = int(r["desc"].split(":")[0])
        elif rmgr == "Transaction" and kind == "PREPARE":
            r["target_xid"] = r["xid"]
        elif rmgr == "XLOG" and kind == "RESTORE_POINT":
            r["name"] = r["desc"]
        recs.append(r)
    return recs


def xact_range(items, with_time):
    out = {"count": len(items)}
    if items:
        lo = hi = items[0]["target_xid"]
        for r in items[1:]:
            if xid_precedes(r["target_xid"], lo):
                lo = r["target_xid"]
            if xid_precedes(hi, r["target_xid"]):
                hi = r["target_xid"]
        out["xid_min"], out["xid_max"] = lo, hi
        if with_time:
            out["time_min"] = min(r["time"] for r in items)
            out["time_max"] = max(r["time"] for r in items)
    return out


def summarize(name, recs, seg_start, seg_end):
    """The expected entry for the records that end in [seg_start, seg_end)."""
    mine = [r for r in recs if seg_start < r["end"] <= seg_end]
    e = {"segment": name, "records": len(mine)}
    if mine:
        e["first_lsn"] = lsn_text(mine[0]["lsn"])
        e["end_lsn"] = lsn_text(mine[-1]["end"])
    commits = [r for r in mine if r["kind"] in ("COMMIT", "COMMIT_PREPARED") and r["rmgr"] == "Transaction"]
    aborts = [r for r in mine if r["kind"] in ("ABORT", "ABORT_PREPARED") and r["rmgr"] == "Transaction"]
    prepares = [r for r in mine if r["kind"] == "PREPARE" and r["rmgr"] == "Transaction"]
    e["commits"] = xact_range(commits, True)
    e["commits"]["prepared"] = sum(1 for r in commits if r["kind"] == "COMMIT_PREPARED")
    e["aborts"] = xact_range(aborts, True)
    e["aborts"]["prepared"] = sum(1 for r in aborts if r["kind"] == "ABORT_PREPARED")
    e["prepares"] = xact_range(prepares, False)
    e["restore_points"] = [{"name": r["name"], "lsn": lsn_text(r["lsn"]), "end_lsn": lsn_text(r["end"])}
                           for r in mine if r["rmgr"] == "XLOG" and r["kind"] == "RESTORE_POINT"]
    switch = [r for r in mine if r["rmgr"] == "XLOG" and r["kind"] == "SWITCH"]
    if switch:
        e["stop"], e["stop_lsn"] = "switch", lsn_text(switch[0]["end"])
    else:
        e["stop"], e["stop_lsn"] = "end", lsn_text(seg_end)
    return e


def per_segment(names, recs):
    out = []
    for n in names:
        segno = int(n[8:16], 16) * ((1 << 32) // SEG) + int(n[16:24], 16)
        out.append(summarize(n, recs, segno * SEG, (segno + 1) * SEG))
    return out


def recycled_expect(recs, name, end):
    segno = int(name[8:16], 16) * ((1 << 32) // SEG) + int(name[16:24], 16)
    e = summarize(name, [r for r in recs if r["end"] <= end], segno * SEG, (segno + 1) * SEG)
    e["stop"], e["stop_lsn"] = "page", lsn_text(end)
    return e


def check_agreement(facts, recs):
    """SQL and pg_waldump must tell the same story."""
    by_target = {}
    for r in recs:
        if "target_xid" in r:
            by_target.setdefault((r["kind"], r["target_xid"]), []).append(r)
    for kind, key in (("COMMIT", "commits"), ("COMMIT_PREPARED", "commit_prepared")):
        for c in facts[key]:
            found = by_target.get((kind, c["xid"]))
            if not found or found[0]["time"] != c["time"]:
                raise FixtureError("%s of xid %d: pg_waldump %r, SQL time %d" % (kind, c["xid"], found, c["time"]))
            c["lsn"], c["end_lsn"] = lsn_text(found[0]["lsn"]), lsn_text(found[0]["end"])
            c["segment"] = seg_name(1, segno_of(found[0]["end"] - 1))
    for kind, key in (("ABORT", "aborts"), ("ABORT_PREPARED", "abort_prepared"), ("PREPARE", "prepares")):
        for a in facts[key]:
            found = by_target.get((kind, a["xid"]))
            if not found:
                raise FixtureError("no %s record for xid %d in pg_waldump's output" % (kind, a["xid"]))
            a["lsn"], a["end_lsn"] = lsn_text(found[0]["lsn"]), lsn_text(found[0]["end"])
            a["segment"] = seg_name(1, segno_of(found[0]["end"] - 1))
            if "time" in found[0]:
                a["time"] = found[0]["time"]
    rps = {r["name"]: r for r in recs if r["rmgr"] == "XLOG" and r["kind"] == "RESTORE_POINT"}
    for p in facts["restore_points"]:
        r = rps.get(p["name"])
        if not r or lsn_text(r["end"]) != p["end_lsn"]:
            raise FixtureError("restore point %s: pg_create_restore_point returned %s, pg_waldump %r"
                               % (p["name"], p["end_lsn"], r))
        p["lsn"] = lsn_text(r["lsn"])
        p["segment"] = seg_name(1, segno_of(r["end"] - 1))
    span = [c for c in facts["commits"] if c["xid"] == facts["span_xid"]][0]
    start, end = lsn_int(span["lsn"]), lsn_int(span["end_lsn"])
    if segno_of(start) == segno_of(end - 1):
        raise FixtureError("the big commit record %s..%s does not span a segment boundary" % (span["lsn"],
                                                                                            span["end_lsn"]))
    span["start_segment"] = seg_name(1, segno_of(start))


def make(fixture):
    if not os.access(pgtest.PGBIN + "/pg_ctl", os.X_OK) or not os.access(pgtest.PGBIN + "/pg_waldump", os.X_OK):
        print("PostgreSQL binaries not found in %s: skipped" % pgtest.PGBIN)
        sys.exit(77)
    if os.geteuid() == 0:
        try:
            import pwd
            pwd.getpwnam("postgres")
        except KeyError:
            print("no postgres user: skipped")
            sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="walship-walfix-")
    os.chmod(tmp, 0o755)
    give(tmp)
    work = fixture + ".new"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "recycled"))
    g = Generator(work, tmp)
    try:
        g.generate()
        with open(os.path.join(work, "facts.json"), "w") as f:
            json.dump(g.facts, f, indent=1, sort_keys=True)
    except BaseException:
        sys.stderr.write("server log tail:\n%s\n" % g.c.log_tail(30))
        raise
    finally:
        g.c.stop("immediate")
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(fixture, ignore_errors=True)
    os.rename(work, fixture)


def main():
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--fixture":
        sys.exit("usage: wal_fixture.py --fixture DIR [--run PROGRAM [ARGS...]]")
    fixture = os.path.abspath(args[1])
    rest = args[2:]
    deadline = time.time() + TIME_LIMIT
    os.makedirs(os.path.dirname(fixture), exist_ok=True)
    with open(fixture + ".lock", "w") as lock:
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() > deadline:
                    sys.exit("wal_fixture: %s.lock held for too long" % fixture)
                time.sleep(0.2)
        if not os.path.exists(os.path.join(fixture, "facts.json")):
            make(fixture)
    if rest:
        if rest[0] != "--run" or len(rest) < 2:
            sys.exit("usage: wal_fixture.py --fixture DIR [--run PROGRAM [ARGS...]]")
        env = dict(os.environ, WS_TEST_WAL_FIXTURE=fixture)
        sys.exit(subprocess.run(rest[1:], env=env).returncode)


if __name__ == "__main__":
    main()
