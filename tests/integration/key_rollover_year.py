#!/usr/bin/env python3
"""DNSSEC keys that roll themselves for years without a validation failure.

The acceptance test of moat's key rollovers (signer/key_rollover.hpp). The real `moat` CLI and the
real `moat-dnsd` are driven through SIM_DAYS simulated days, one `moat tick` per simulated hour:

  day 0     the KSK's DS is put in the simulated parent and confirmed (moat key ds-seen)
  ~day 60.. ZSK rollovers started by the tick at the end of each ZSK's lifetime (60 days)
  day 100   a KSK rollover: the parent ADDS the new DS when `moat status` asks for it, then
            REMOVES the old one when it says it may go
  day 150   moat-dnsd is down for DOWN_DAYS days (no tick meanwhile); its first zone after the
            restart must validate
  day 200   an algorithm rollover ECDSA P-256 -> Ed25519: the parent REPLACES its DS set when
            asked for the new DS
  day 300   NSEC -> NSEC3

Time: every `moat` command runs with MOAT_FAKE_TIME=<simulated now>; moat-dnsd runs with
MOAT_FAKE_TIME_FILE, a file this test rewrites (temp + rename) to move the daemon's clock, and
--zone-dump, so that the exact zone it serves is known (it is written before being served).

What is checked (any failure names the simulated time, the check and the tool's output):

1. ldns-verify-zone -t <simulated now> -k <DS set> for every DS set a validator may hold: the
   parent's current set and every set the parent published within the last parent DS TTL.
2. What validators may have cached: every dump still served within the last DNSKEY TTL may be
   where a validator's DNSKEY RRset (with its RRSIGs) comes from, and every dump still served
   within the last max zone TTL may be where its other RRsets come from. For every such pair
   (data dump i, DNSKEY dump j) the composite zone "dump i with its apex DNSKEY RRset and
   RRSIG(DNSKEY) replaced by dump j's" is verified against every held DS set. This covers both
   composites of the brief (current data + older DNSKEY, older data + current DNSKEY) and the
   older/older ones. The denial chain of a composite is always the whole chain of one dump (only
   the DNSKEY RRset and its signatures are swapped, and the DNSKEY type bit is in every dump's
   apex NSEC/NSEC3), so ldns-verify-zone's chain checks stay meaningful and never need relaxing.
   A dump is "held" until end_of_service + TTL (strictly after): a record fetched just before a
   dump stopped being served expires just before then. Between two hourly ticks the served zone
   does not change (re-signing is waited for, below) and the held sets only shrink, so checking
   right after each tick covers the whole hour.
   Verification results are cached by (composite text, DS set): a result found at time t holds
   at any t' inside [latest inception, earliest expiration] of all RRSIGs of the composite,
   since then every signature passes ldns' time test at both t and t' and the outcome depends
   on the text and the keys only. In addition, at every simulated day the current zone is
   verified by a real ldns-verify-zone run against every held DS set, cache or not.
3. delv against moat-dnsd, validating at the simulated time, with each held DS set as its trust
   anchor (static-ds), for SOA, MX, www A, DNSKEY and an NXDOMAIN name: after every key state
   change and at least every DELV_EVERY_DAYS days. delv cannot run under faketime: BIND 9.18's
   delv links jemalloc, which libfaketime cannot initialise under (libfaketime issue #130: it
   hangs), so a minimal LD_PRELOAD time shim compiled
   here from C (CLOCK_REALTIME, time(), gettimeofday() moved by an offset) is used instead.
4. Crash tests: every tick runs first with MOAT_CRASH_POINT=key-step; when it aborts a key step
   was due: the aborted tick must have changed nothing (serial, `moat --json key list`, served
   zone) and the zone must still validate; moat-dnsd is then killed with SIGKILL and restarted
   (alternately before the real tick and right after it), and the real tick must do the step.
   Manual rollovers are crash-tested the same way.
5. The week down: moat-dnsd stopped, the clock moved DOWN_DAYS days on without ticking, restarted:
   its very first served zone must validate.
6. At the end: at least 2 completed automatic ZSK rollovers, a KSK rollover, an algorithm
   rollover (only Ed25519 keys left), NSEC3PARAM in the final zone, checks actually run, no
   failure.
"""

import calendar
import hashlib
import json
import os
import random
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

# --- scenario -----------------------------------------------------------------------------------

DOMAIN = "example.test"
APEX = DOMAIN + "."
HOUR = 3600
DAY = 86400
SIM_DAYS = int(os.environ.get("KEY_ROLLOVER_DAYS", "410"))  # of which DOWN_DAYS without ticks
ZSK_LIFETIME_DAYS = 60
SIG_VALIDITY_DAYS = 14
SIG_REFRESH_DAYS = 7
PARENT_DS_TTL = 86400  # core/store.hpp: Domain::parent_ds_ttl
KSK_ROLL_DAY = 100
DOWN_DAY = 150
DOWN_DAYS = 8
ALG_ROLL_DAY = 200
NSEC3_DAY = 300
DELV_EVERY_DAYS = 10
WAIT_S = 10  # bound of every wait on moat-dnsd
RESIGN_WAIT_S = 5  # bound of the wait for moat-dnsd to refresh signatures that are due
MAX_FAILURES = 25  # stop the simulation after this many (the list is printed)

# (qname, qtype, text that the delv output must also hold)
DELV_QUERIES = [
    (APEX, "SOA", "ns1.example.test. hostmaster.example.test."),
    (APEX, "MX", "10 mail.example.test."),
    ("www." + APEX, "A", "192.0.2.80"),
    (APEX, "DNSKEY", "DNSKEY"),
    ("nosuch." + APEX, "A", "NXDOMAIN"),
]

TIME_SHIM_C = r"""
#define _GNU_SOURCE
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
/* The wall clock moved by TIMESHIM_OFFSET seconds; other clocks untouched. No dlsym, no malloc:
   safe under jemalloc, unlike libfaketime. */
static long long offset_s(void) {
  static int done;
  static long long off;
  if (!done) {
    const char *e = getenv("TIMESHIM_OFFSET");
    off = e ? strtoll(e, 0, 10) : 0;
    done = 1;
  }
  return off;
}
int clock_gettime(clockid_t id, struct timespec *ts) {
  long r = syscall(SYS_clock_gettime, id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE || id == CLOCK_TAI))
    ts->tv_sec += offset_s();
  return (int)r;
}
int gettimeofday(struct timeval *tv, void *tz) {
  struct timespec ts;
  (void)tz;
  if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
    return -1;
  if (tv) {
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
  }
  return 0;
}
time_t time(time_t *t) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (t)
    *t = ts.tv_sec;
  return ts.tv_sec;
}
"""


def need_env(name):
    value = os.environ.get(name, "")
    if not value:
        print(f"FAIL: {name} must be set (see tests/integration/lib.sh)", file=sys.stderr)
        sys.exit(1)
    return value


MOAT_BIN = need_env("MOAT_BIN")
MOATD_BIN = need_env("MOATD_BIN")
need_env("MOAT_SRC")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if t is not None else "now"


def ldns_time(t):
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(t))


def sig_time(text):
    if len(text) == 14 and text.isdigit():
        return calendar.timegm(time.strptime(text, "%Y%m%d%H%M%S"))
    return int(text)


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


class Abort(Exception):
    """Ends the simulation (a failure after which nothing sensible can follow, or too many)."""


class Dump:
    """One signed zone served by moat-dnsd, as dumped by --zone-dump, with when it was served."""

    def __init__(self, text, index, start):
        self.text = text
        self.sha = sha(text)
        self.index = index
        self.start = start
        self.end = None  # simulated time it stopped being served (None: still served)
        self.serial = None
        self.lines = []  # (line, is part of the apex DNSKEY RRset or its RRSIGs)
        self.dnskey_ttl = 0
        self.max_ttl = 0
        self.dnskey_algorithms = set()
        self.has_nsec3param = False
        self.cds = set()  # (key tag, algorithm, digest type, DIGEST) of the apex CDS RRset
        # [latest inception, earliest expiration] of the RRSIGs of each part
        self.data_range = [0, 1 << 62]
        self.key_range = [0, 1 << 62]
        for line in text.splitlines():
            if not line.strip() or line.startswith(";"):
                continue
            f = line.split()
            owner, ttl, rtype, rd = f[0].lower(), int(f[1]), f[3].upper(), f[4:]
            is_key = owner == APEX and (
                rtype == "DNSKEY" or (rtype == "RRSIG" and rd[0].upper() == "DNSKEY"))
            self.lines.append((line, is_key))
            self.max_ttl = max(self.max_ttl, ttl)
            if rtype == "SOA" and owner == APEX:
                self.serial = int(rd[2])
            elif rtype == "DNSKEY" and owner == APEX:
                self.dnskey_ttl = ttl
                self.dnskey_algorithms.add(int(rd[2]))
            elif rtype == "CDS" and owner == APEX:
                self.cds.add((int(rd[0]), int(rd[1]), int(rd[2]), "".join(rd[3:]).upper()))
            elif rtype == "NSEC3PARAM":
                self.has_nsec3param = True
            elif rtype == "RRSIG":
                r = self.key_range if is_key else self.data_range
                r[0] = max(r[0], sig_time(rd[5]))
                r[1] = min(r[1], sig_time(rd[4]))
        if self.serial is None or not self.dnskey_ttl:
            raise ValueError("dump without SOA or DNSKEY")
        self.min_expiration = min(self.data_range[1], self.key_range[1])

    def describe(self):
        return (f"dump #{self.index} (serial {self.serial}, served {iso(self.start)} to "
                f"{iso(self.end)})")


class DsSet:
    """A DS RRset the simulated parent published, with the files the tools read it from."""

    def __init__(self, records, work, n):
        self.records = records  # frozenset of (key_tag, algorithm, digest_type, DIGEST)
        self.tags = ",".join(f"{r[0]}/alg{r[1]}" for r in sorted(records))
        self.key = sha(repr(sorted(records)))
        self.ds_file = os.path.join(work, f"ds-{n}.txt")
        self.anchor_file = os.path.join(work, f"anchor-{n}.conf")
        with open(self.ds_file, "w") as f:
            for tag, alg, dt, digest in sorted(records):
                f.write(f"{APEX} {PARENT_DS_TTL} IN DS {tag} {alg} {dt} {digest}\n")
        with open(self.anchor_file, "w") as f:
            f.write("trust-anchors {\n")
            for tag, alg, dt, digest in sorted(records):
                f.write(f'  "{APEX}" static-ds {tag} {alg} {dt} "{digest}";\n')
            f.write("};\n")


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def skip_name(buf, off):
    while True:
        n = buf[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += n + 1


def soa_serial(port):
    """The SOA serial moat-dnsd answers on 127.0.0.1:port, or None."""
    qid = random.randrange(65536)
    query = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + wire_name(APEX) + struct.pack("!HH", 6, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.5)
    try:
        s.sendto(query, ("127.0.0.1", port))
        reply = s.recv(65535)
        rid, flags, qd, an, _, _ = struct.unpack("!HHHHHH", reply[:12])
        if rid != qid or flags & 0xF != 0 or an == 0:
            return None
        off = 12
        for _ in range(qd):
            off = skip_name(reply, off) + 4
        off = skip_name(reply, off)
        rtype, _, _, _ = struct.unpack("!HHIH", reply[off:off + 10])
        if rtype != 6:
            return None
        off = skip_name(reply, skip_name(reply, off + 10))
        return struct.unpack("!I", reply[off:off + 4])[0]
    except (OSError, struct.error, IndexError):
        return None
    finally:
        s.close()


def free_port():
    for _ in range(100):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise Abort("no free port")


class Sim:
    def __init__(self):
        self.started = time.monotonic()
        self.work = tempfile.mkdtemp(prefix="moat-key_rollover_year.", dir=os.environ.get("TMPDIR"))
        self.db = os.path.join(self.work, "moat.db")
        self.time_file = os.path.join(self.work, "now")
        self.dump_dir = os.path.join(self.work, "dump")
        os.mkdir(self.dump_dir)
        self.dump_path = os.path.join(self.dump_dir, APEX + "zone")
        self.log_path = os.path.join(self.work, "dnsd.log")
        self.dnsd = None
        self.port = free_port()
        self.failures = []
        self.n = {k: 0 for k in (
            "ticks", "crash_aborts", "key_steps", "moat_calls", "checks", "ldns_runs",
            "cache_hits", "daily_real", "delv_runs", "delv_events", "restarts", "dumps",
            "resigns", "composites_cross", "extra_ticks")}
        self.events = {k: 0 for k in (
            "zsk_started", "zsk_switched", "zsk_removed", "ksk_started", "ds_asked", "ds_seen",
            "ksk_removed", "alg_started", "alg_published", "alg_withdrawn", "alg_removed",
            "nsec3")}
        # The first instant of the simulation: the real time rounded up to the hour, so that the
        # simulated period lies ahead of the real clock.
        self.t0 = (int(time.time()) // HOUR + 1) * HOUR
        self.now = self.t0
        self.dumps = []  # dumps validators may still hold, oldest first
        self.cur = None  # the dump served now (None while moat-dnsd is down)
        self.parent = []  # [start, end, frozenset of DS] : the parent's DS set over time
        self.ds_sets = {}
        self.verified = {}  # (composite sha, DS set key) -> [lo, hi] where the result holds
        self.composites = {}
        self.snapshot = None
        self.delv_due = False
        self.last_delv = None
        self.last_registrar_day = -1
        self.ksk_started = self.alg_started = self.nsec3_done = self.down_done = False
        self.waiting_logged = set()
        self.delv_mode = None
        self.pool = ThreadPoolExecutor(max_workers=4)
        self.due_times = set()  # instants moat status says a key step is due

    # --- reporting ------------------------------------------------------------------------------

    def day(self, t=None):
        return ((self.now if t is None else t) - self.t0) / DAY

    def say(self, text):
        print(f"[{iso(self.now)} day {self.day():6.2f}] {text}", flush=True)

    def fail(self, check, message, output=""):
        text = f"[simulated {iso(self.now)}, day {self.day():.2f}] {check}: {message}"
        print("FAIL: " + text, flush=True)
        if output:
            print(indent(output[-6000:]), flush=True)
        self.failures.append(text)
        if len(self.failures) >= MAX_FAILURES:
            raise Abort(f"{len(self.failures)} failures: stopping the simulation")

    def die(self, check, message, output=""):
        self.fail(check, message, output)
        raise Abort(f"{check}: cannot go on")

    # --- processes ------------------------------------------------------------------------------

    def moat(self, *args, crash=False, check=True):
        env = dict(os.environ, MOAT_DB=self.db, MOAT_FAKE_TIME=str(self.now))
        env.pop("MOAT_FAKE_TIME_FILE", None)
        env.pop("MOAT_CRASH_POINT", None)
        if crash:
            env["MOAT_CRASH_POINT"] = "key-step"
        try:
            p = subprocess.run([MOAT_BIN, *args], env=env, capture_output=True, text=True,
                               timeout=120)
        except subprocess.TimeoutExpired as e:
            self.die("moat " + " ".join(args), "did not finish within 120 s",
                     f"{e.stdout or ''}{e.stderr or ''}")
        self.n["moat_calls"] += 1
        if check and p.returncode != 0:
            self.die("moat " + " ".join(args), f"exit status {p.returncode}", p.stdout + p.stderr)
        return p

    def set_time(self, t):
        self.now = t
        tmp = self.time_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(t))
        os.replace(tmp, self.time_file)

    def dump_stat(self):
        try:
            st = os.stat(self.dump_path)
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            return None

    def start_dnsd(self, why):
        before = self.dump_stat()
        env = {k: v for k, v in os.environ.items()
               if k not in ("MOAT_FAKE_TIME", "MOAT_CRASH_POINT")}
        env["MOAT_FAKE_TIME_FILE"] = self.time_file
        deadline = time.monotonic() + WAIT_S
        while True:
            with open(self.log_path, "ab") as log:
                log.write(f"--- start ({why}) at simulated {iso(self.now)}\n".encode())
                log.flush()
                self.dnsd = subprocess.Popen(
                    [MOATD_BIN, "--db", self.db, "--listen", f"127.0.0.1:{self.port}",
                     "--poll-ms", "10", "--zone-dump", self.dump_dir, "--rrl-rate", "0"],
                    env=env, stdout=log, stderr=subprocess.STDOUT)
            while time.monotonic() < deadline:
                if self.dnsd.poll() is not None:
                    break
                if self.dump_stat() != before and soa_serial(self.port) is not None:
                    self.wait_served(f"moat-dnsd start ({why})")
                    return
                time.sleep(0.005)
            if self.dnsd.poll() is None or time.monotonic() >= deadline:
                self.die("moat-dnsd start", f"no answer within {WAIT_S} s ({why})", self.log_tail())
            # It exited: the port may still be held by the killed instance; retry the same args.
            time.sleep(0.05)

    def kill_dnsd(self, sig, why):
        if self.dnsd is None:
            return
        self.observe_dump()  # anything it dumped before dying may have been served
        self.dnsd.send_signal(sig)
        try:
            self.dnsd.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            self.dnsd.kill()
            self.dnsd.wait()
            self.fail("moat-dnsd stop", f"did not stop within {WAIT_S} s on signal {sig} ({why})")
        self.dnsd = None
        self.observe_dump()  # (and what it dumped while being killed)
        if self.cur is not None:
            self.cur.end = self.now
            self.cur = None

    def restart_dnsd(self, why):
        self.kill_dnsd(signal.SIGKILL, why)
        self.start_dnsd(why)
        self.n["restarts"] += 1
        self.validate(f"first zone served after {why}", force=True)

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return "moat-dnsd log (last lines):\n" + "".join(f.readlines()[-25:])
        except OSError:
            return ""

    # --- what moat-dnsd serves ------------------------------------------------------------------

    def observe_dump(self):
        """Records the dump file as the zone served from now on if it changed. True if so."""
        try:
            with open(self.dump_path) as f:
                text = f.read()
        except FileNotFoundError:
            return False
        if self.cur is not None and self.cur.sha == sha(text):
            return False
        try:
            d = Dump(text, self.n["dumps"], self.now)
        except (ValueError, IndexError) as e:
            self.die("zone dump", f"cannot parse {self.dump_path}: {e}", text[:3000])
        self.n["dumps"] += 1
        if self.cur is not None:
            self.cur.end = self.now
        self.cur = d
        self.dumps.append(d)
        self.dumps = [x for x in self.dumps
                      if x.end is None or x.end + max(x.max_ttl, x.dnskey_ttl) > self.now]
        if len(self.composites) > 64:
            self.composites.clear()
        return True

    def status_line(self):
        out = self.moat("status", DOMAIN).stdout
        first = out.splitlines()[0] if out else ""
        m = re.match(r"(\S+) serial (\d+), moat-dnsd serves serial (\d+) since (\S+)", first)
        return first, (int(m.group(2)), int(m.group(3))) if m else None

    def wait_served(self, after):
        """Waits until moat-dnsd serves the domain's current serial; checks the dump and SOA."""
        deadline = time.monotonic() + WAIT_S
        while True:
            first, serials = self.status_line()
            if serials and serials[0] == serials[1]:
                break
            if time.monotonic() > deadline:
                self.die("wait for moat-dnsd", f"the current serial is not served {WAIT_S} s after "
                         f"{after}", first + "\n" + self.log_tail())
            time.sleep(0.003)
        serial = serials[0]
        self.observe_dump()
        if self.cur is None or self.cur.serial != serial:
            self.fail("zone dump", f"moat status says serial {serial} is served but the dump "
                      f"(written before serving) has serial {self.cur and self.cur.serial}")
        answered = soa_serial(self.port)
        if answered != serial:
            self.fail("SOA answer", f"moat-dnsd answers serial {answered}, moat status says it "
                      f"serves {serial}")

    def wait_resign(self):
        """When signatures are due for refresh at the new time, waits for moat-dnsd to re-sign
        (so that what it serves from this instant on is known)."""
        if self.cur is None or getattr(self.cur, "no_resign", False):
            return
        due = self.cur.min_expiration - SIG_REFRESH_DAYS * DAY
        if self.now < due:
            return
        deadline = time.monotonic() + RESIGN_WAIT_S
        while not self.observe_dump():
            if time.monotonic() > deadline:
                self.fail("signature refresh", f"signatures of {self.cur.describe()} expiring "
                          f"{iso(self.cur.min_expiration)} are due for refresh since {iso(due)} "
                          f"(--sig-refresh {SIG_REFRESH_DAYS}) but moat-dnsd did not re-sign "
                          f"within {RESIGN_WAIT_S} s", self.log_tail())
                self.cur.no_resign = True
                return
            time.sleep(0.002)
        self.n["resigns"] += 1

    # --- the simulated parent -------------------------------------------------------------------

    def parent_set(self):
        return self.parent[-1][2] if self.parent else frozenset()

    def set_parent(self, records, why):
        if self.parent:
            self.parent[-1][1] = self.now
        self.parent.append([self.now, None, frozenset(records)])
        self.say(f"parent: {why}; DS set now {{{self.ds_set(frozenset(records)).tags}}}")

    def ds_set(self, records):
        if records not in self.ds_sets:
            self.ds_sets[records] = DsSet(records, self.work, len(self.ds_sets))
        return self.ds_sets[records]

    def held_ds_sets(self):
        """Every DS set a validator may hold now: the parent's current one and each one the
        parent published within the last DS TTL."""
        out = []
        for start, end, records in self.parent:
            if records and (end is None or end + PARENT_DS_TTL > self.now):
                s = self.ds_set(records)
                if s not in out:
                    out.append(s)
        return out

    def registrar(self):
        """Does at the simulated parent what `moat --json status` asks the admin to do."""
        for _ in range(6):
            st = json.loads(self.moat("--json", "status", DOMAIN).stdout)
            self.note_due_times(st)
            acted = False
            for r in st.get("registrar", []):
                d = r["ds"]
                ds = (int(d["key_tag"]), int(d["algorithm"]), int(d["digest_type"]),
                      d["digest"].upper())
                current = self.parent_set()
                if r["action"] in ("add", "replace"):
                    # "replace" comes with an algorithm rollover: the new algorithm's DS, and
                    # none of the old algorithm's, as the status line says.
                    if r["action"] == "replace" and any(x[1] == ds[1] for x in current):
                        self.fail("moat status", "a DS replacement asked within one algorithm",
                                  json.dumps(r))
                    if ds not in current:
                        if r["action"] == "replace":
                            self.set_parent({ds}, f"REPLACES its DS set by the DS of {ds[0]} "
                                            f"(new algorithm {ds[1]})")
                        else:
                            self.set_parent(set(current) | {ds}, f"ADDS the DS of {ds[0]}")
                    p = self.moat("key", "ds-seen", DOMAIN, str(ds[0]))
                    self.events["ds_seen"] += 1
                    self.after_change(p.stdout.splitlines(), "ds-seen", registrar=False)
                    acted = True
                elif r["action"] == "remove":
                    if ds in current:
                        self.set_parent(set(current) - {ds}, f"REMOVES the DS of {ds[0]}")
                        self.delv_due = True
                        acted = True
                else:
                    self.fail("moat status", f"unknown registrar action {r['action']!r}",
                              json.dumps(r))
            if not acted:
                # RFC 7344: the CDS RRset served names the DS set the parent should hold; this
                # parent did what `moat status` asked, so both must agree.
                if self.cur is not None and self.cur.cds != set(self.parent_set()):
                    self.fail("CDS", f"the served CDS RRset {sorted(self.cur.cds)} is not the "
                              f"DS set the parent was asked to hold {sorted(self.parent_set())}")
                return
        self.fail("registrar", "moat status keeps asking for registrar changes")

    def note_due_times(self, st):
        """The instants `moat status` gives for the next key steps: the simulation ticks there
        too (besides every hour), so that each step happens at the earliest instant moat
        allows and the checks see the tightest cache overlap, not one softened by the hour grid."""
        due = set()
        for p in st.get("pending", []):
            if p.get("not_before") and (p["host"] == "keys" or p["host"].startswith("key ")):
                due.add(calendar.timegm(time.strptime(p["not_before"], "%Y-%m-%dT%H:%M:%SZ")))
        for p in st.get("scheduled", []):
            if p.get("at"):
                due.add(calendar.timegm(time.strptime(p["at"], "%Y-%m-%dT%H:%M:%SZ")))
        self.due_times = {t for t in due if t >= self.now}

    # --- changes --------------------------------------------------------------------------------

    def take_snapshot(self):
        self.snapshot = self.moat("--json", "key", "list", DOMAIN).stdout

    def check_unchanged(self, what):
        """After an aborted step: the keys are those before it, moat-dnsd serves the zone it
        served before it, and the domain's serial is the one served (nothing is pending). (The
        serial alone cannot be compared with a copy taken after the last change: moat-dnsd bumps
        it itself when it refreshes signatures.)"""
        before = self.snapshot
        self.take_snapshot()
        if before != self.snapshot:
            self.fail("crash injection", f"{what} changed the keys",
                      "before:\n" + before + "\nafter:\n" + self.snapshot)
        if self.observe_dump():
            self.fail("crash injection", f"moat-dnsd serves a new zone after {what}",
                      self.cur.text[:2000])
        serial = json.loads(self.moat("--json", "domain", "show", DOMAIN).stdout)["serial"]
        if serial != self.cur.serial:
            self.fail("crash injection", f"after {what} the domain's serial is {serial}, not "
                      f"the served {self.cur.serial}")

    def classify(self, line):
        checks = [("ZSK rollover: new ZSK published", "zsk_started"),
                  ("sign with the new ZSK", "zsk_switched"),
                  ("remove the retired zsk", "zsk_removed"),
                  ("KSK rollover: new KSK published", "ksk_started"),
                  ("ask the parent for the DS", "ds_asked"),
                  ("remove the old KSK", "ksk_removed"),
                  ("algorithm rollover to", "alg_started"),
                  ("publish the new", "alg_published"),
                  ("withdraw the old DNSKEYs", "alg_withdrawn"),
                  ("stop signing with the old algorithm", "alg_removed")]
        for needle, event in checks:
            if needle.lower() in line.lower():
                self.events[event] += 1
                return event
        return None

    def after_change(self, lines, source, registrar=True):
        for line in lines:
            if line.strip():
                self.say(f"{source}: {line.strip()}")
        self.wait_served(source)
        self.take_snapshot()
        self.delv_due = True
        self.validate(f"after {source}")
        if registrar:
            self.registrar()

    def tick(self, step_due):
        p = self.moat("tick", crash=True, check=False)
        self.n["ticks"] += 1
        if p.returncode == -signal.SIGABRT:
            self.crash_step()
            return
        lines = [line for line in p.stdout.splitlines() if line.strip()]
        if step_due and not lines:
            self.fail("moat tick", "moat status said a key step is due at this instant; moat "
                      "tick did not do it", json.dumps(json.loads(
                          self.moat("--json", "status", DOMAIN).stdout), indent=1))
        if p.returncode != 0:
            self.fail("moat tick", f"exit status {p.returncode}", p.stdout + p.stderr)
        if lines:
            self.fail("crash injection", "moat tick did a step with MOAT_CRASH_POINT=key-step "
                      "set and did not abort", p.stdout)
            for line in lines:
                self.classify(line)
            self.after_change(lines, "tick")

    def crash_step(self):
        """A key step was due: the aborted tick changed nothing; moat-dnsd killed and restarted
        (before or right after the real tick); the real tick does the step."""
        self.n["crash_aborts"] += 1
        self.check_unchanged("the tick aborted at MOAT_CRASH_POINT=key-step")
        self.validate("after an aborted tick")
        kill_before = self.n["crash_aborts"] % 2 == 1
        if kill_before:
            self.restart_dnsd("kill -9 before a key step")
        p = self.moat("tick", check=False)
        self.n["ticks"] += 1
        lines = [line for line in p.stdout.splitlines() if line.strip()]
        if p.returncode != 0 or not lines:
            self.fail("moat tick", f"the tick after an aborted one did no step (exit status "
                      f"{p.returncode})", p.stdout + p.stderr)
        kinds = [self.classify(line) for line in lines]
        self.n["key_steps"] += sum(1 for k in kinds if k)
        if not kill_before:
            self.restart_dnsd("kill -9 right after a key step")
        self.after_change(lines, "tick")

    def rollover(self, kind, args):
        """Starts a manual rollover (crash-tested first); False while another is under way."""
        p = self.moat("key", "rollover", DOMAIN, *args, crash=True, check=False)
        if p.returncode != -signal.SIGABRT:
            out = p.stdout + p.stderr
            if p.returncode != 0 and "under way" in out:
                if kind not in self.waiting_logged:
                    self.say(f"{kind} rollover must wait: {out.strip()}")
                    self.waiting_logged.add(kind)
                return False
            self.die(f"moat key rollover {kind}", "did not abort at MOAT_CRASH_POINT=key-step "
                     f"(exit status {p.returncode})", out)
        self.n["crash_aborts"] += 1
        self.check_unchanged(f"the {kind} rollover aborted at MOAT_CRASH_POINT=key-step")
        p = self.moat("key", "rollover", DOMAIN, *args)
        for line in p.stdout.splitlines():
            self.classify(line)
        self.after_change(p.stdout.splitlines(), f"moat key rollover {' '.join(args)}")
        return True

    # --- validation -----------------------------------------------------------------------------

    def composite(self, data, keys):
        """Zone `data` with its apex DNSKEY RRset and RRSIG(DNSKEY) taken from zone `keys`."""
        memo = (data.sha, keys.sha)
        if memo not in self.composites:
            if data is keys:
                text = "\n".join(line for line, _ in data.lines) + "\n"
            else:
                out, done = [], False
                for line, is_key in data.lines:
                    if not is_key:
                        out.append(line)
                    elif not done:
                        out.extend(l for l, k in keys.lines if k)
                        done = True
                text = "\n".join(out) + "\n"
            lo = max(data.data_range[0], keys.key_range[0])
            hi = min(data.data_range[1], keys.key_range[1])
            self.composites[memo] = (text, sha(text), lo, hi)
        return self.composites[memo]

    def verify(self, data, keys, ds, reason, force):
        text, text_sha, lo, hi = self.composite(data, keys)
        self.n["checks"] += 1
        if data is not keys:
            self.n["composites_cross"] += 1
        key = (text_sha, ds.key)
        span = self.verified.get(key)
        if not force and span and span[0] <= self.now <= span[1]:
            self.n["cache_hits"] += 1
            return
        p = subprocess.run(["ldns-verify-zone", "-t", ldns_time(self.now), "-k", ds.ds_file],
                           input=text, capture_output=True, text=True, timeout=60)
        self.n["ldns_runs"] += 1
        if p.returncode == 0 and "Zone is verified and complete" in p.stdout:
            self.verified[key] = (lo, hi)
            return
        saved = os.path.join(self.work, f"failed-{len(self.failures)}.zone")
        with open(saved, "w") as f:
            f.write(text)
        what = ("the whole of " + data.describe() if data is keys else
                f"zone data of {data.describe()} with the DNSKEY RRset of {keys.describe()}")
        self.fail("ldns-verify-zone", f"{what} does not validate from DS set {{{ds.tags}}} "
                  f"({reason}); zone kept in {saved} with MOAT_TEST_KEEP=1",
                  f"$ ldns-verify-zone -t {ldns_time(self.now)} -k {ds.ds_file} ZONE\n"
                  f"exit {p.returncode}\n{p.stdout}{p.stderr}\nDS set:\n"
                  + open(ds.ds_file).read())

    def validate(self, reason, force=False):
        """Checks 1 and 2: every (data, DNSKEY) pair a validator may hold, every held DS set."""
        if self.cur is None:
            self.die("validation", f"moat-dnsd serves nothing ({reason})")
        sets = self.held_ds_sets()
        if not sets:
            return  # before the first DS reaches the parent the zone is not secured yet
        n = self.now
        data_dumps = [d for d in self.dumps if d.end is None or d.end + d.max_ttl > n]
        key_dumps = [d for d in self.dumps if d.end is None or d.end + d.dnskey_ttl > n]
        for ds in sets:
            for data in data_dumps:
                for keys in key_dumps:
                    self.verify(data, keys, ds, reason,
                                force=force and data is self.cur and keys is self.cur)

    def delv_command(self, ds, name, rtype):
        args = ["delv", "@127.0.0.1", "-p", str(self.port), "-a", ds.anchor_file,
                "+root=" + APEX, name, rtype]
        env = dict(os.environ)
        env["LD_PRELOAD"] = self.shim
        env["TIMESHIM_OFFSET"] = str(self.now - int(time.time()))
        return args, env

    def delv(self, ds, name, rtype, offset=0):
        saved = self.now
        self.now += offset
        try:
            cmd, env = self.delv_command(ds, name, rtype)
        finally:
            self.now = saved
        try:
            p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
            return p.stdout + p.stderr
        except subprocess.TimeoutExpired as e:
            return f"(timed out after 30 s) {e.stdout or ''}{e.stderr or ''}"

    def delv_check(self, reason):
        """Check 3: delv at the simulated time, each held DS set as trust anchor."""
        sets = self.held_ds_sets()
        if not sets:
            return
        jobs = [(ds, q) for ds in sets for q in DELV_QUERIES]
        outs = list(self.pool.map(lambda j: self.delv(j[0], j[1][0], j[1][1]), jobs))
        self.n["delv_runs"] += len(jobs)
        self.n["delv_events"] += 1
        for (ds, (name, rtype, needle)), out in zip(jobs, outs):
            if "; fully validated" not in out and "; negative response, fully validated" not in out:
                self.fail("delv", f"{name} {rtype} is not fully validated with DS set "
                          f"{{{ds.tags}}} as trust anchor ({reason}); served "
                          f"{self.cur.describe() if self.cur else 'nothing'}", out)
            elif needle not in out:
                self.fail("delv", f"{name} {rtype} (DS set {{{ds.tags}}}, {reason}): no "
                          f"'{needle}' in the answer", out)
        self.last_delv = self.now
        self.delv_due = False

    def setup_delv(self):
        """The time shim (see the docstring): faketime hangs with BIND 9.18's delv (jemalloc)."""
        cc = (os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
              or shutil.which("clang"))
        if not cc:
            raise Abort("no C compiler for the time shim")
        src = os.path.join(self.work, "timeshim.c")
        self.shim = os.path.join(self.work, "timeshim.so")
        with open(src, "w") as f:
            f.write(TIME_SHIM_C)
        p = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", self.shim, src],
                           capture_output=True, text=True)
        if p.returncode != 0:
            raise Abort("cannot compile the time shim:\n" + p.stdout + p.stderr)
        self.delv_mode = "shim"

    def nonvacuity(self):
        """The tools do fail when they should: wrong DS, wrong time."""
        ds = self.held_ds_sets()[0]
        rec = next(iter(ds.records))
        wrong = self.ds_set(frozenset({(rec[0], rec[1], rec[2], rec[3][:-2] + (
            "00" if rec[3][-2:] != "00" else "11"))}))
        zone = self.cur.text
        for label, args in (("a wrong DS", ["-t", ldns_time(self.now), "-k", wrong.ds_file]),
                            ("a time 30 days on", ["-t", ldns_time(self.now + 30 * DAY), "-k",
                                                   ds.ds_file]),
                            ("a time 2 days back", ["-t", ldns_time(self.now - 2 * DAY), "-k",
                                                    ds.ds_file])):
            p = subprocess.run(["ldns-verify-zone", *args], input=zone, capture_output=True,
                               text=True)
            if p.returncode == 0:
                self.die("non-vacuity", f"ldns-verify-zone accepts the zone with {label}",
                         p.stdout + p.stderr)
        out = self.delv(ds, "www." + APEX, "A", offset=30 * DAY)
        if "fully validated" in out:
            self.die("non-vacuity", "delv validates 30 days after the signatures expire: the "
                     "simulated time does not reach it", out)
        out = self.delv(wrong, "www." + APEX, "A")
        if "fully validated" in out:
            self.die("non-vacuity", "delv validates with a wrong DS as trust anchor", out)
        out = self.delv(ds, "www." + APEX, "A")
        if "fully validated" not in out:
            self.die("non-vacuity", "delv does not validate the fresh zone", out)
        self.say("non-vacuity: a wrong DS and wrong times fail with ldns-verify-zone and delv")

    # --- the scenario ---------------------------------------------------------------------------

    def setup(self):
        self.setup_delv()
        self.moat("init")
        self.moat("domain", "add", DOMAIN, "--ns", "ns1.example.test=192.0.2.53")
        for rec in (["www", "A", "192.0.2.80"], ["@", "MX", "10", "mail.example.test."],
                    ["mail", "A", "192.0.2.25"], ["@", "TXT", "v=spf1 mx -all"],
                    ["_dmarc", "TXT", "v=DMARC1; p=reject"]):
            self.moat("record", "add", DOMAIN, *rec)
        self.moat("domain", "set", DOMAIN, "--zsk-lifetime", str(ZSK_LIFETIME_DAYS),
                  "--sig-validity", str(SIG_VALIDITY_DAYS), "--sig-refresh", str(SIG_REFRESH_DAYS))
        self.set_time(self.now)
        self.start_dnsd("initial start")
        self.take_snapshot()
        self.say(f"moat-dnsd serves {self.cur.describe()} on 127.0.0.1:{self.port}")
        self.registrar()
        if not self.parent_set():
            self.die("registrar", "moat status asked for no DS at the start")
        self.validate("day 0", force=True)
        self.nonvacuity()
        self.delv_check("day 0")

    def down_week(self):
        self.say(f"moat-dnsd stops; the clock moves {DOWN_DAYS} days on without a tick")
        self.kill_dnsd(signal.SIGTERM, "down for a week")
        self.set_time(self.now + DOWN_DAYS * DAY)
        self.start_dnsd(f"after {DOWN_DAYS} days down")
        self.n["restarts"] += 1
        self.say(f"moat-dnsd back: first zone {self.cur.describe()}")
        self.validate(f"first zone served after {DOWN_DAYS} days down", force=True)
        self.delv_check(f"after {DOWN_DAYS} days down")
        self.down_done = True

    def hour(self, step_due=False):
        self.wait_resign()
        self.tick(step_due)
        day = self.day()
        if day >= KSK_ROLL_DAY and not self.ksk_started:
            self.ksk_started = self.rollover("ksk", ["ksk"])
        if day >= ALG_ROLL_DAY and not self.alg_started:
            self.alg_started = self.rollover("algorithm", ["algorithm", "--algorithm", "ed25519"])
        if day >= NSEC3_DAY and not self.nsec3_done:
            p = self.moat("domain", "set", DOMAIN, "--nsec3")
            self.events["nsec3"] += 1
            self.nsec3_done = True
            self.after_change(p.stdout.splitlines(), "moat domain set --nsec3")
        whole_day = int(day)
        if whole_day != self.last_registrar_day:
            # Once a simulated day: what the registrar is asked, and a real verification of the
            # served zone against every held DS set (besides the cached hourly checks).
            self.last_registrar_day = whole_day
            self.registrar()
            self.validate("daily check", force=True)
            self.n["daily_real"] += 1
            if whole_day % 30 == 0:
                self.progress()
        else:
            self.validate("hourly check")
        if self.delv_due or self.now - self.last_delv >= DELV_EVERY_DAYS * DAY:
            self.delv_check("key state change" if self.delv_due else
                            f"every {DELV_EVERY_DAYS} days")

    def progress(self):
        n = self.n
        self.say(f"progress: {n['ticks']} ticks, {n['key_steps']} key steps, {n['checks']} zone "
                 f"checks ({n['ldns_runs']} ldns runs), {n['delv_runs']} delv, {n['dumps']} "
                 f"served zones, {len(self.failures)} failures, "
                 f"{time.monotonic() - self.started:.0f} s")

    def run(self):
        self.setup()
        end = self.t0 + SIM_DAYS * DAY
        grid = self.t0 + HOUR  # the next whole simulated hour
        while True:
            # The next whole hour, or the next instant moat status gives for a key step if it is
            # earlier (one second on when that instant is now: a cron ticking often).
            t = min([grid] + sorted(self.due_times)[:1])
            t = max(t, self.now + 1)
            if t > end:
                break
            self.set_time(t)
            if not self.down_done and self.day() >= DOWN_DAY:
                self.down_week()
                grid = t = self.now
            step_due = any(d <= t for d in self.due_times)
            self.due_times = {d for d in self.due_times if d > t}
            if t < grid:
                self.n["extra_ticks"] += 1
            else:
                grid = (t // HOUR + 1) * HOUR  # (t0 is a whole hour)
            self.hour(step_due=step_due)
        self.final()

    def final(self):
        self.say("end of the simulation")
        final = json.loads(self.moat("--json", "key", "list", DOMAIN).stdout)
        live = [k for k in final if k["state"] != "removed"]
        ev, n = self.events, self.n
        expect = [
            (ev["zsk_removed"] >= 2 and ev["zsk_started"] >= 2,
             f"at least 2 completed automatic ZSK rollovers (started {ev['zsk_started']}, "
             f"completed {ev['zsk_removed']})"),
            (ev["ksk_started"] == 1 and ev["ksk_removed"] == 1,
             f"1 KSK rollover (started {ev['ksk_started']}, completed {ev['ksk_removed']})"),
            (ev["alg_started"] == 1 and ev["alg_removed"] == 1,
             f"1 algorithm rollover (started {ev['alg_started']}, completed {ev['alg_removed']})"),
            (bool(live) and all(k["algorithm"] == "ed25519" for k in live),
             "only Ed25519 keys left: " + ", ".join(f"{k['role']} {k['key_tag']} {k['algorithm']} "
                                                    f"{k['state']}" for k in live)),
            (self.cur is not None and self.cur.dnskey_algorithms == {15},
             f"only algorithm 15 in the served DNSKEY RRset "
             f"({sorted(self.cur.dnskey_algorithms) if self.cur else None})"),
            (self.cur is not None and self.cur.has_nsec3param, "NSEC3PARAM in the final zone"),
            (sum(1 for k in live if k["role"] == "ksk") == 1 and
             sum(1 for k in live if k["role"] == "zsk") == 1, "one KSK and one ZSK left"),
            (self.parent_set() == frozenset(
                (k["key_tag"], 15, 2, k["ds"].split()[-1].upper()) for k in live
                if k["role"] == "ksk"), "the parent holds exactly the DS of the final KSK"),
            (n["ticks"] >= (SIM_DAYS - DOWN_DAYS) * 24, f"{n['ticks']} ticks (one per hour)"),
            (n["crash_aborts"] >= n["key_steps"] > 10,
             f"every tick key step crash-tested ({n['crash_aborts']} aborts, "
             f"{n['key_steps']} tick key steps)"),
            (n["ldns_runs"] >= SIM_DAYS - DOWN_DAYS and n["composites_cross"] > 0,
             f"{n['ldns_runs']} ldns-verify-zone runs, {n['composites_cross']} cache composites"),
            (n["delv_runs"] >= len(DELV_QUERIES) * (SIM_DAYS // DELV_EVERY_DAYS),
             f"{n['delv_runs']} delv runs"),
            (n["restarts"] >= n["key_steps"], f"{n['restarts']} moat-dnsd restarts"),
            (n["resigns"] > 0, f"{n['resigns']} signature refreshes seen"),
        ]
        for ok, what in expect:
            if not ok:
                self.fail("final counts", what)
            else:
                self.say(f"ok: {what}")
        history = "; ".join(f"{iso(s)} {{{self.ds_set(r).tags if r else ''}}}"
                            for s, _, r in self.parent)
        self.say(f"parent DS history: {history}")


def main():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the crash tests abort on purpose

    def on_signal(signum, _frame):
        raise SystemExit(f"killed by signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    for tool in ("ldns-verify-zone", "delv"):
        if not shutil.which(tool):
            print(f"FAIL: required tool '{tool}' is not installed (run scripts/install-deps)")
            return 1
    sim = Sim()
    rc = 1
    try:
        sim.run()
        rc = 0 if not sim.failures else 1
    except Abort as e:
        print(f"FAIL: {e}", flush=True)
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        if sim.dnsd is not None:
            sim.dnsd.kill()
            sim.dnsd.wait()
        sim.pool.shutdown(wait=False, cancel_futures=True)
        n, ev = sim.n, sim.events
        elapsed = time.monotonic() - sim.started
        print(f"summary: {sim.day():.0f} simulated days, {n['ticks']} ticks ({n['crash_aborts']} "
              f"crash-aborted, {n['key_steps']} key steps, {n['extra_ticks']} at exact due "
              f"instants), "
              f"{n['checks']} zone checks "
              f"({n['ldns_runs']} ldns-verify-zone runs, {n['cache_hits']} cached, "
              f"{n['composites_cross']} cache composites), {n['delv_runs']} delv queries in "
              f"{n['delv_events']} rounds, {n['dumps']} served zones, {n['resigns']} refreshes, "
              f"{n['restarts']} moat-dnsd restarts, rollovers: ZSK {ev['zsk_removed']}, KSK "
              f"{ev['ksk_removed']}, algorithm {ev['alg_removed']}; {n['moat_calls']} moat calls; "
              f"{len(sim.failures)} failures; {elapsed:.0f} s", flush=True)
        if sim.failures:
            print(f"{len(sim.failures)} check(s) failed:")
            for f in sim.failures:
                print("  - " + f)
            rc = 1
            if sim.dnsd is None:
                print(sim.log_tail())
        if os.environ.get("MOAT_TEST_KEEP") == "1":
            print(f"kept {sim.work}")
        else:
            shutil.rmtree(sim.work, ignore_errors=True)
        print(("PASS" if rc == 0 else "FAIL") + ": key_rollover_year", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
