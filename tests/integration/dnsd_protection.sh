#!/usr/bin/env bash
# moat-dnsd under attack: Response Rate Limiting on by default (a flood from one network is cut
# down to drops and truncated "slips" while another network is answered in full), DNS Cookies
# (RFC 7873/9018: a client holding our server cookie is exempt from RRL, a malformed COOKIE is
# FORMERR), and TCP per RFC 7766 (pipelined queries answered in order, idle connections closed,
# a bound on connections per source).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
require_tools kdig python3

D=rrl.test
moat init >/dev/null
new_domain "$D"
moat record add "$D" mail A 192.0.2.25 >/dev/null
DNSD_RRL=on start_dnsd "$D" 10 --tcp-idle-ms 1500 --tcp-per-source 4

step "kdig +cookie: moat-dnsd answers the client cookie with a 16-byte server cookie"
out=$(kdig @127.0.0.1 -p "$DNSD_PORT" +cookie +norecurse "mail.$D" A 2>&1 || true)
# kdig prints the client cookie (8 bytes) and the server cookie (16: version 1, reserved, time,
# hash) as one hex string.
assert_match "$out" '^;; COOKIE: [0-9A-F]{16}01000000[0-9A-F]{24}$' "kdig shows our server cookie"

step "flood, a second network, a cookie holder, malformed cookies, TCP (raw packets)"
python3 - "$DNSD_PORT" "mail.$D" <<'PY'
import socket, struct, sys, time, os

port, qname = int(sys.argv[1]), sys.argv[2]
failures = []

def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)

def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"

def query(qid, cookie=None, cookie_raw=None):
    opt = b""
    if cookie is not None or cookie_raw is not None:
        data = cookie_raw if cookie_raw is not None else cookie
        opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 4 + len(data)) + struct.pack("!HH", 10, len(data)) + data
    else:
        opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)
    return struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1) + name(qname) + struct.pack("!HH", 1, 1) + opt

def parse(reply):
    qid, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", reply[:12])
    return {"id": qid, "tc": bool(flags & 0x200), "rcode": flags & 0xF, "an": an}

def server_cookie(reply):
    # The COOKIE option in the OPT record at the end of the reply.
    i = reply.rfind(b"\x00\x0a\x00\x18")
    return reply[i + 12:i + 28] if i >= 0 else None

def udp(source):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(0.5)
    return s

# 1. A client cookie gets a server cookie back; it is then valid for this address.
c = udp("127.0.0.1")
client_cookie = os.urandom(8)
c.sendto(query(1, client_cookie), ("127.0.0.1", port))
sc = server_cookie(c.recvfrom(2048)[0])
check(sc is not None and len(sc) == 16, "a 16-byte server cookie is returned for a client cookie")

# 2. Malformed COOKIE options are FORMERR (RFC 7873 §5.2.2).
for raw, what in ((b"\1" * 5, "5 bytes"), (b"\1" * 12, "12 bytes"), (b"\1" * 41, "41 bytes")):
    c.sendto(query(2, cookie_raw=raw), ("127.0.0.1", port))
    check(parse(c.recvfrom(2048)[0])["rcode"] == 1, f"a COOKIE of {what} is FORMERR")

# 3. A flood from 127.0.0.1: 600 queries for one name as fast as they go.
# Sent in batches, each drained before the next, so that no answer is lost in our own socket
# buffer and miscounted as dropped.
flood = udp("127.0.0.1")
flood.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
flood.setblocking(False)
sent = full = slipped = 0
start = time.monotonic()

def drain(wait):
    global full, slipped
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            r = parse(flood.recvfrom(2048)[0])
        except BlockingIOError:
            time.sleep(0.002)
            continue
        if r["tc"] and r["an"] == 0:
            slipped += 1
        else:
            full += 1

for batch in range(30):
    for i in range(20):
        flood.sendto(query(1000 + 20 * batch + i), ("127.0.0.1", port))
        sent += 1
    drain(0.03)
drain(0.5)
elapsed = time.monotonic() - start
dropped = sent - full - slipped
print(f"flood: {sent} sent in {elapsed:.2f} s: {full} answered, {slipped} slipped (TC), {dropped} dropped")
check(full <= 20 + 20 * elapsed + 5, "the flood got about 20 answers a second, no more")
check(slipped > 0 and dropped > 0, "over the limit, some answers slip (TC) and the rest are dropped")
check(0.35 <= slipped / max(1, slipped + dropped) <= 0.65, "slip 2: about every second one slips")

# 4. During the flood's limit, another /24 is answered in full, and so is the cookie holder
#    on the flooded address.
flood.sendto(query(5000), ("127.0.0.1", port))  # keep the bucket empty
other = udp("127.0.1.1")
answered = 0
for i in range(15):
    other.sendto(query(3000 + i), ("127.0.0.1", port))
    try:
        r = parse(other.recvfrom(2048)[0])
        answered += r["an"] > 0 and not r["tc"]
    except socket.timeout:
        pass
check(answered == 15, f"127.0.1.1 (another network) got {answered} of 15 answers")
with_cookie = 0
for i in range(15):
    for _ in range(5):
        flood.sendto(query(6000 + i), ("127.0.0.1", port))
    c.sendto(query(4000 + i, client_cookie + sc), ("127.0.0.1", port))
    try:
        while True:
            r = parse(c.recvfrom(2048)[0])
            if r["id"] == 4000 + i:
                with_cookie += r["an"] > 0 and not r["tc"]
                break
    except socket.timeout:
        pass
check(with_cookie == 15, f"the cookie holder on the flooded address got {with_cookie} of 15 answers")
bad = 0
for i in range(5):
    c.sendto(query(7000 + i, client_cookie + bytes(16)), ("127.0.0.1", port))
    try:
        while True:
            r = parse(c.recvfrom(2048)[0])
            if r["id"] == 7000 + i:
                bad += r["an"] > 0 and not r["tc"]
                break
    except socket.timeout:
        pass
check(bad < 5, f"a forged server cookie is no exemption ({bad} of 5 answered in full)")

# 5. TCP: five pipelined queries on one connection, answered in order; then idle close.
t = socket.create_connection(("127.0.0.1", port), timeout=3)
t.sendall(b"".join(struct.pack("!H", len(q)) + q for q in (query(100 + i) for i in range(5))))
ids = []
buf = b""
while len(ids) < 5:
    chunk = t.recv(65535)
    if not chunk:
        break
    buf += chunk
    while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
        n = struct.unpack("!H", buf[:2])[0]
        ids.append(parse(buf[2:2 + n])["id"])
        buf = buf[2 + n:]
check(ids == [100, 101, 102, 103, 104], f"pipelined TCP queries answered in order: {ids}")
start = time.monotonic()
t.settimeout(5)
closed = t.recv(1) == b""
idle = time.monotonic() - start
check(closed and 1.0 <= idle <= 3.5, f"an idle TCP connection is closed after {idle:.1f} s (--tcp-idle-ms 1500)")

# 6. At most 4 connections from one address; the fifth is closed at once, others still served.
held = [socket.create_connection(("127.0.0.1", port), timeout=3) for _ in range(4)]
time.sleep(0.2)
fifth = socket.create_connection(("127.0.0.1", port), timeout=3)
q = query(200)
try:
    fifth.sendall(struct.pack("!H", len(q)) + q)
    refused = fifth.recv(2) == b""
except (ConnectionResetError, BrokenPipeError):
    refused = True
check(refused, "a fifth connection from one address is closed (--tcp-per-source 4)")
o = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
o.settimeout(3)
o.bind(("127.0.1.1", 0))
o.connect(("127.0.0.1", port))
o.sendall(struct.pack("!H", len(q)) + q)
check(len(o.recv(65535)) > 2, "another address is still served over TCP")
for s in held:
    s.close()

sys.exit(1 if failures else 0)
PY
assert_contains "$(cat "$DNSD_LOG")" "rate limit:" "moat-dnsd logs what RRL dropped"
echo "PASS: dnsd_protection"
