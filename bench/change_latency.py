#!/usr/bin/env python3
"""Time from a `moat record add` to moat-dnsd serving the new record, signed.

usage: change_latency.py MOAT_BIN DOMAIN PORT COUNT

For each of COUNT changes: waits a random 0-200 ms, runs `moat record add DOMAIN chgN-TAG A ADDR`
(MOAT_DB names the database), then asks 127.0.0.1:PORT for that name over UDP with the DO bit,
every millisecond, until the answer holds the A record and its RRSIG. Prints one line per change
and a last line "median_ms=.. min_ms=.. max_ms=.. cli_median_ms=.." (times from the start of
the CLI command; cli_ = until the command returned).

The random wait matters: moat-dnsd checks for commits every 10 ms; a change made right after
the previous one was seen would always land at the same point of that cycle.
"""
import os
import random
import socket
import statistics
import struct
import subprocess
import sys
import time

TYPE_A, TYPE_RRSIG, TYPE_OPT = 1, 46, 41
GIVE_UP_S = 10.0


def wire_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def query(qid, name):
    """A query for NAME/A without RD, with an EDNS OPT record (1232 bytes, DO bit)."""
    header = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1)
    question = wire_name(name) + struct.pack("!HH", TYPE_A, 1)
    opt = b"\0" + struct.pack("!HHIH", TYPE_OPT, 1232, 0x8000, 0)
    return header + question + opt


def skip_name(msg, p):
    while True:
        n = msg[p]
        if n == 0:
            return p + 1
        if n & 0xC0 == 0xC0:
            return p + 2
        p += 1 + n


def answer_types(msg, qid):
    """The rcode and the types in the answer section, or None if MSG is not our reply."""
    if len(msg) < 12:
        return None
    rid, flags, qd, an = struct.unpack("!HHHH", msg[:8])
    if rid != qid or not flags & 0x8000:
        return None
    p = 12
    for _ in range(qd):
        p = skip_name(msg, p) + 4
    types = []
    for _ in range(an):
        p = skip_name(msg, p)
        rtype, _, _, rdlen = struct.unpack("!HHIH", msg[p:p + 10])
        types.append(rtype)
        p += 10 + rdlen
    return flags & 0xF, types


def served_signed(sock, port, name):
    qid = random.randrange(65536)
    sock.sendto(query(qid, name), ("127.0.0.1", port))
    deadline = time.perf_counter() + 0.05
    while time.perf_counter() < deadline:
        try:
            reply = sock.recv(65535)
        except socket.timeout:
            return False
        parsed = answer_types(reply, qid)
        if parsed is None:
            continue  # a late reply to an earlier probe
        rcode, types = parsed
        return rcode == 0 and TYPE_A in types and TYPE_RRSIG in types
    return False


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    moat, domain, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.05)
    tag = os.getpid()
    totals, clis = [], []
    for i in range(count):
        time.sleep(random.uniform(0, 0.2))
        label = f"chg{i}-{tag}"
        name = f"{label}.{domain}"
        start = time.perf_counter()
        subprocess.run([moat, "record", "add", domain, label, "A", f"192.0.2.{i % 250 + 1}"],
                       check=True, stdout=subprocess.DEVNULL)
        cli_done = time.perf_counter()
        while not served_signed(sock, port, name):
            if time.perf_counter() - start > GIVE_UP_S:
                sys.exit(f"{name} was not served, signed, within {GIVE_UP_S:.0f} s")
            time.sleep(0.001)
        served = time.perf_counter()
        totals.append((served - start) * 1000)
        clis.append((cli_done - start) * 1000)
        print(f"  change {i + 1:2d}: served after {totals[-1]:6.1f} ms (CLI returned after "
              f"{clis[-1]:5.1f} ms)")
    print(f"median_ms={statistics.median(totals):.1f} min_ms={min(totals):.1f} "
          f"max_ms={max(totals):.1f} cli_median_ms={statistics.median(clis):.1f}")


if __name__ == "__main__":
    main()
