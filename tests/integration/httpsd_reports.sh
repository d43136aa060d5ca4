#!/usr/bin/env bash
# SMTP TLS reports POSTed to moat-httpsd (RFC 8460 §5.3) at the path of the domain's builtin rua
# (`moat tlsrpt set DOMAIN --builtin`): media types, size bounds (as sent and decompressed), what is
# not a report or not about the domain, duplicates, the daily bound, Expect: 100-continue, request
# smuggling attempts (Content-Length with Transfer-Encoding, two Content-Lengths, a Transfer-Encoding
# that is not chunked), slow clients and the per-source connection bound. Every refusal must leave
# the store as it was and log one warning line; what is taken is summed up by `moat reports`.
# Reports are written by python3's json module (and gzip), sent by curl or, where curl would not
# send the request, by python3's ssl module; every --json output is read with jq.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MOATHTTPSD_BIN:?MOATHTTPSD_BIN must name the moat-httpsd binary}"
SOFT_FAIL=1 # independent checks: report them all
require_tools openssl curl jq gzip

D=example.test
O=other.test
WEB=mta-sts.$D
OWEB=mta-sts.$O
FX=$WORK/fx # the report files, made below
mkdir -p "$FX"
MAX_PER_DAY=12 # moat-httpsd's --max-reports-per-day for the main instance (see "the daily bound")
# The interpreter itself, not a wrapper (a pyenv shim costs most of a second per start).
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

# --- the reports -----------------------------------------------------------------------------
#   R1  Org-A a-1 example.test sts  100 ok 7 failed: validation-failure mx1 192.0.2.25 5,
#                                    starttls-not-supported mx2 192.0.2.26 2          (gzip)
#   R2  Org-A a-2 example.test sts   50 ok 3 failed: validation-failure mx1 192.0.2.25 3 (JSON)
#   B1  Org-B b-1 tlsa mail.example.test 30 ok 2 failed (tlsa-invalid mail.example.test
#                 192.0.2.30 2) and sts example.test 40 ok 0 failed                    (gzip)
#   C1  Org-C c-1 example.test sts   20 ok 0 failed, sent with Expect: 100-continue     (JSON)
#   D1  Org-D d-1 example.test sts    5 ok 1 failed (sts-policy-fetch-error), gzip sent as
#                 application/tlsrpt+json (the magic number decides)
#   G1  Org-G g-1 example.test sts    7 ok 0 failed, JSON padded to exactly 1 MiB
#   H1  Org-H h-1 example.test sts    9 ok 0 failed, JSON padded to exactly 4 MiB, gzip
#   P1  Org-P p-1 example.test sts    1 ok 0 failed, POSTed at the new path
#   Q1..Q4 Org-Q q-1..q-4 example.test sts 1 ok 0 failed each (the daily bound)
# Refused: OT (Org-A a-3 about other.test), EL (elsewhere.test), BOTH (example.test and
# other.test), no report-id, not JSON, gzip cut in half, G2 (1 MiB + 1 as sent), H2 (4 MiB + 1
# decompressed), a gzip bomb, a chunked report over 1 MiB, and S1 (Org-S s-1, a good report sent in
# requests that try to smuggle it).
step "reports made with python3 (json) and gzip"
head -c 50000000 /dev/zero | gzip >"$FX/bomb.gz"
"$PYTHON" - "$FX" <<'PY'
import copy, gzip, json, os, sys

fx = sys.argv[1]

def failure(rtype, mx, ip, n):
    f = {"result-type": rtype, "sending-mta-ip": "198.51.100.1"}
    if mx:
        f["receiving-mx-hostname"] = mx
    if ip:
        f["receiving-ip"] = ip
    f["failed-session-count"] = n
    return f

def policy_of(ptype, domain, ok, failed, failures=()):
    p = {
        "policy": {
            "policy-type": ptype,
            "policy-string": ["version: STSv1", "mode: enforce", "mx: mail.example.test",
                              "max_age: 604800"] if ptype == "sts" else [],
            "policy-domain": domain,
            "mx-host": ["mail." + domain],
        },
        "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
    }
    if failures:
        p["failure-details"] = list(failures)
    return p

def report(org, rid, day, policies):
    return {
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
        "contact-info": "tlsrpt@" + org.lower() + ".example",
        "report-id": rid,
        "policies": policies,
    }

def text(r):
    return json.dumps(r, indent=2) + "\n"

def write(name, data):
    with open(os.path.join(fx, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

def padded(r, size):
    t = text(r).rstrip("\n")
    t += " " * (size - len(t) - 1) + "\n"
    assert len(t) == size
    return t

E = "example.test"
MX1, MX2 = "mx1.example.test", "mx2.example.test"
R1 = report("Org-A", "a-1", "2026-11-20", [policy_of("sts", E, 100, 7, [
    failure("validation-failure", MX1, "192.0.2.25", 5),
    failure("starttls-not-supported", MX2, "192.0.2.26", 2)])])
R2 = report("Org-A", "a-2", "2026-11-21", [policy_of("sts", E, 50, 3, [
    failure("validation-failure", MX1, "192.0.2.25", 3)])])
B1 = report("Org-B", "b-1", "2026-11-22", [
    policy_of("tlsa", "mail.example.test", 30, 2, [
        failure("tlsa-invalid", "mail.example.test", "192.0.2.30", 2)]),
    policy_of("sts", E, 40, 0)])
C1 = report("Org-C", "c-1", "2026-11-23", [policy_of("sts", E, 20, 0)])
D1 = report("Org-D", "d-1", "2026-11-24", [policy_of("sts", E, 5, 1, [
    failure("sts-policy-fetch-error", "", "", 1)])])
OT = report("Org-A", "a-3", "2026-11-22", [policy_of("sts", "other.test", 60, 0)])
EL = report("Org-F", "f-1", "2026-11-22", [policy_of("sts", "elsewhere.test", 5, 0)])
BOTH = report("Org-E", "e-1", "2026-11-22", [policy_of("sts", E, 1, 0),
                                              policy_of("sts", "other.test", 1, 0)])
S1 = report("Org-S", "s-1", "2026-11-25", [policy_of("sts", E, 1000, 1000)])
P1 = report("Org-P", "p-1", "2026-11-26", [policy_of("sts", E, 1, 0)])

write("r1.json.gz", gzip.compress(text(R1).encode()))
write("r1.json", text(R1))
write("r2.json", text(R2))
write("b1.json.gz", gzip.compress(text(B1).encode()))
write("c1.json", text(C1))
write("d1.json.gz", gzip.compress(text(D1).encode()))
write("ot.json", text(OT))
write("el.json.gz", gzip.compress(text(EL).encode()))
write("both.json", text(BOTH))
write("s1.json", text(S1))
write("p1.json", text(P1))
for i in range(1, 5):
    write("q%d.json" % i, text(report("Org-Q", "q-%d" % i, "2026-11-27", [policy_of("sts", E, 1, 0)])))
no_id = copy.deepcopy(R2)
del no_id["report-id"]
write("no-id.json", text(no_id))
write("not-json.json", '{"organization-name": "Org-A", "report-id": ')
half = gzip.compress(text(R2).encode())
write("half.json.gz", half[:len(half) // 2])

# Around the bounds: 1 MiB as sent, 4 MiB decompressed.
write("g1.json", padded(report("Org-G", "g-1", "2026-11-28", [policy_of("sts", E, 7, 0)]), 1048576))
write("g2.json", padded(report("Org-G", "g-2", "2026-11-28", [policy_of("sts", E, 7, 0)]), 1048577))
write("h1.json.gz", gzip.compress(padded(
    report("Org-H", "h-1", "2026-11-29", [policy_of("sts", E, 9, 0)]), 4194304).encode()))
write("h2.json.gz", gzip.compress(padded(
    report("Org-H", "h-2", "2026-11-29", [policy_of("sts", E, 9, 0)]), 4194305).encode()))
# Sent chunked: over 1 MiB, so refused once the limit is passed.
write("big-chunked.json", padded(report("Org-K", "k-1", "2026-11-29", [policy_of("sts", E, 1, 0)]),
                                 1300000))
PY
bomb_size=$(stat -c %s "$FX/bomb.gz")
((bomb_size < 1048576)) || die "the gzip bomb is $bomb_size octets" "under 1 MiB as sent" "$bomb_size"
gzip -t "$FX/bomb.gz" || die "gzip -t rejects the bomb, which should be valid gzip"
if gzip -t "$FX/half.json.gz" 2>/dev/null; then die "gzip -t accepts half.json.gz, which the test meant to cut"; fi
for f in h1 h2; do
  echo "$f.json.gz: $(stat -c %s "$FX/$f.json.gz") octets for $(gzip -dc "$FX/$f.json.gz" | wc -c)"
done
assert_eq 4194305 "$(gzip -dc "$FX/h2.json.gz" | wc -c)" "decompressed size of h2.json.gz"
assert_eq 1048577 "$(stat -c %s "$FX/g2.json")" "size of g2.json"

# raw.py: requests curl will not send, over TLS to mta-sts.DOMAIN (python3's ssl module). Prints
# one line per response head ("status: HTTP/1.1 400 Bad Request"), then the body of the last one
# ("body: ..."), then how the connection ended: "end: closed MS" (the server closed it, MS after
# the last octet was sent) or "end: open" (still open after the bound).
cat >"$WORK/raw.py" <<'PY'
import os, socket, ssl, sys, time

port, host, ca, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
args = sys.argv[5:]
BOUND = 6.0  # seconds: every wait here ends by then

def connect(src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(BOUND)
    s.connect(("127.0.0.1", port))
    return ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname=host)

def heads(data):
    """The complete responses in data (status line, body), and the bytes after them."""
    out = []
    while b"\r\n\r\n" in data:
        head, rest = data.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(rest) < length:
            break
        out.append((lines[0], rest[:length]))
        data = rest[length:]
    return out, data

def read_response(tls, want_final=True):
    """Reads until a complete final (non-1xx) response (any response unless want_final), or
    EOF, or the bound. Returns the responses, "closed", "open" or "" (neither yet), the data."""
    data = b""
    deadline = time.monotonic() + BOUND
    while True:
        got, _ = heads(data)
        if got and (not want_final or not got[-1][0].split(" ")[1].startswith("1")):
            return got, "", data
        left = deadline - time.monotonic()
        if left <= 0:
            return got, "open", data
        tls.settimeout(left)
        try:
            chunk = tls.recv(65536)
        except (socket.timeout, TimeoutError):
            return got, "open", data
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
            return got, "closed", data
        if not chunk:
            return got, "closed", data
        data += chunk

EXTRA = [0]  # octets the server sent after the response read_response returned

def until_closed(tls, start):
    """Reads (and counts) until the server closes the connection, within the bound."""
    deadline = start + BOUND
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "end: open"
        tls.settimeout(left)
        try:
            chunk = tls.recv(65536)
        except (socket.timeout, TimeoutError):
            return "end: open"
        except (ConnectionResetError, ssl.SSLError, BrokenPipeError, OSError):
            chunk = b""
        if not chunk:
            return "end: closed %d" % int((time.monotonic() - start) * 1000)
        EXTRA[0] += len(chunk)

def report(got):
    for status, _ in got:
        print("status:", status)
    if got:
        print("body:", got[-1][1].decode("latin-1").strip())

def send_all(tls, data):
    try:
        tls.sendall(data)
        return True
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
        return False

if mode == "send":  # send FILE...: each request at once on a connection of its own
    for name in args:
        print("request:", os.path.basename(name))
        tls = connect()
        send_all(tls, open(name, "rb").read())
        start = time.monotonic()
        got, end, data = read_response(tls)
        report(got)
        EXTRA[0] = len(heads(data)[1])
        print(until_closed(tls, start) if end != "closed" else "end: closed %d" % int((time.monotonic() - start) * 1000))
        print("extra:", EXTRA[0])
        sys.stdout.flush()
elif mode == "expect":  # expect HEAD BODY: the head, then the body only after 100 Continue
    tls = connect()
    send_all(tls, open(args[0], "rb").read())
    got, end, data = read_response(tls, want_final=False)
    report(got)
    if got and got[-1][0].split(" ")[1] == "100" and end == "":
        send_all(tls, open(args[1], "rb").read())
        got, end, _ = read_response(tls)
        report(got)
    start = time.monotonic()
    print(until_closed(tls, start) if end != "closed" else "end: closed 0")
elif mode == "chunked":  # chunked HEAD BODY: the body in chunks of 16 KiB, sent while it is taken
    tls = connect()
    send_all(tls, open(args[0], "rb").read())
    body = open(args[1], "rb").read()
    sent = 0
    while sent < len(body):
        piece = body[sent:sent + 16384]
        if not send_all(tls, b"%x\r\n%s\r\n" % (len(piece), piece)):
            break
        sent += len(piece)
    else:
        send_all(tls, b"0\r\n\r\n")
    start = time.monotonic()
    got, end, _ = read_response(tls)
    report(got)
    print("sent: %d" % sent)
    print(until_closed(tls, start) if end != "closed" else "end: closed 0")
elif mode == "stall":  # stall FILE READY: sends FILE, says so in READY, waits for the server
    tls = connect()
    send_all(tls, open(args[0], "rb").read())
    start = time.monotonic()
    open(args[1], "w").close()
    got, end, _ = read_response(tls)
    report(got)
    print(until_closed(tls, start) if end != "closed" else "end: closed %d" % int((time.monotonic() - start) * 1000))
elif mode == "hold":  # hold N SRC READY RELEASE: N idle connections until RELEASE exists
    n, src, ready, release = int(args[0]), args[1], args[2], args[3]
    held = [connect(src) for _ in range(n)]
    open(ready, "w").close()
    deadline = time.monotonic() + 20
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.02)
    # Still open? A server that dropped them early would have closed them by now.
    alive = 0
    for t in held:
        t.setblocking(False)
        try:
            alive += 1 if t.recv(1) != b"" else 0
        except (ssl.SSLWantReadError, BlockingIOError):
            alive += 1
        except (ConnectionResetError, ssl.SSLError, OSError):
            pass
        t.close()
    print("alive:", alive)
else:
    sys.exit("unknown mode " + mode)
PY

# --- helpers ---------------------------------------------------------------------------------

# state: everything stored about reports, as the summary of every report ever shows it.
state() { moat --json reports --since 1970-01-01 2>&1 | sha256sum; }

# summary ARGS...: `moat --json reports --since 1970-01-01 ARGS`, one line per row:
# "domain organization policy_type reports start end successful failed", then one line per
# failure row: "  result_type mx ip sessions" (mx and ip "-" when absent).
summary() {
  moat --json reports --since 1970-01-01 "$@" | jq -r '.summaries[] |
    ([.domain, .organization, .policy_type, .reports, .start, .end, .successful_sessions,
      .failed_sessions] | map(tostring) | join(" ")),
    (.failures[] | "  " + ([.result_type, (.receiving_mx_hostname | if . == "" then "-" else . end),
      (.receiving_ip | if . == "" then "-" else . end), .sessions] | map(tostring) | join(" ")))'
}

# https HOST PORT PATH [curl args...]: an HTTPS request, trusting only the test CA. Prints the
# status code; the answer's head is in $WORK/head, its body in $WORK/resp.
https() {
  local host=$1 port=$2 path=$3
  shift 3
  curl -sS --max-time 10 --resolve "$host:$port:127.0.0.1" --cacert "$WORK/ca.pem" \
    -D "$WORK/head" -o "$WORK/resp" -w '%{http_code}' "$@" "https://$host:$port$path" 2>"$WORK/curl.err" || true
}
# post FILE TYPE [curl args...]: POSTs FILE as TYPE ("" for no Content-Type) to the report path.
post() {
  local file=$1 type=$2
  shift 2
  https "$WEB" "$HTTPS_PORT" "$RPATH" --data-binary "@$file" -H "Content-Type: $type" "$@"
}
# header NAME: that header of the last answer ($WORK/head), without CR.
header() { tr -d '\r' <"$WORK/head" | sed -n "s/^$1: //Ip" | tail -n1; }

warnings() { grep -c ' warning report for ' "$WORK/httpsd.log" || true; }
infos() { grep -c ' info report ' "$WORK/httpsd.log" || true; }

# accepted WHAT STATUS TEXT FILE TYPE [curl args...]: the report is answered STATUS with TEXT and
# logged by one info line, no warning.
accepted() {
  local what=$1 status=$2 text=$3 file=$4 type=$5 w i code
  shift 5
  w=$(warnings)
  i=$(infos)
  STATE=
  code=$(post "$file" "$type" "$@")
  assert_eq "$status" "$code" "$what: status ($(cat "$WORK/curl.err" "$WORK/resp" 2>/dev/null))"
  assert_eq "$text" "$(cat "$WORK/resp")" "$what: answer"
  assert_eq "$w" "$(warnings)" "$what: warnings in the log"
  assert_eq $((i + 1)) "$(infos)" "$what: info lines in the log"
  echo "ok ($what): $code $(cat "$WORK/resp")"
}

# refused_by WHAT STATUS REASON SEND...: SEND (a command printing the status code) is answered
# STATUS; one new warning line names the domain, the peer and REASON (a fixed string); the stored
# reports are as they were.
# (The state after one refusal is the state before the next: STATE keeps it until a report is
# taken, as a summary of every report costs a while once the large ones are in.)
STATE=
refused_by() {
  local what=$1 status=$2 reason=$3 before w code line
  shift 3
  before=${STATE:-$(state)}
  w=$(warnings)
  code=$("$@")
  assert_eq "$status" "$code" "$what: status ($(cat "$WORK/curl.err" "$WORK/resp" 2>/dev/null))"
  assert_eq $((w + 1)) "$(warnings)" "$what: warning lines in the log"
  line=$(grep ' warning report for ' "$WORK/httpsd.log" | tail -n1 || true)
  assert_match "$line" "^[0-9T:.-]+ warning report for $D\. from 127\.0\.0\.1 refused: " "$what: the warning"
  assert_contains "$line" "$reason" "$what: the reason in the warning"
  STATE=$(state)
  assert_eq "$before" "$STATE" "$what: the stored reports"
  echo "ok ($what): $code; $line"
}

# raw MODE ARGS...: raw.py against the main instance as mta-sts.example.test; output in RAW_OUT.
# (Also in $WORK/raw.out, for when it runs in a command substitution.)
raw() {
  "$PYTHON" "$WORK/raw.py" "$HTTPS_PORT" "$WEB" "$WORK/ca.pem" "$@" >"$WORK/raw.out" 2>&1 || true
  RAW_OUT=$(cat "$WORK/raw.out")
}
raw_field() { sed -n "s/^$1: //p" "$WORK/raw.out"; }

# start_httpsd LOG [moat-httpsd args...]: moat-httpsd on a free port, waits (at most 10 s) until it
# serves the policy of example.test; sets STARTED_PORT. Stopped at exit.
start_httpsd() {
  local log=$1 port pid deadline
  shift
  port=$(free_port)
  "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$port" --poll-ms 100 "$@" >>"$log" 2>&1 &
  pid=$!
  track_pid "$pid"
  deadline=$(($(now_ms) + 10000))
  until [[ "$(https "$WEB" "$port" /.well-known/mta-sts.txt)" == 200 ]]; do
    (($(now_ms) < deadline)) || { cat "$log" >&2; die "moat-httpsd did not serve the policy within 10 s"; }
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; die "moat-httpsd exited"; }
    sleep 0.05
  done
  STARTED_PORT=$port
}

# --- the tests -------------------------------------------------------------------------------

step "two domains; moat tlsrpt set --builtin before there is anything to serve it"
moat init >/dev/null
new_domain "$D"
new_domain "$O"
rc=0
out=$(moat tlsrpt set "$D" --builtin 2>"$WORK/err") || rc=$?
assert_eq 0 "$rc" "exit status of tlsrpt set --builtin without a policy"
assert_eq "_smtp._tls.$D. TXT \"v=TLSRPTv1; rua=https://$WEB/.well-known/tlsrpt\"" "$out" "stdout of tlsrpt set --builtin"
assert_contains "$(cat "$WORK/err")" "moat-httpsd takes reports for $D. once it has an MTA-STS policy" \
  "notice of tlsrpt set --builtin without a policy or certificate"
for bad in '/x?y' relative '/a#b' '//host/x' '/a b'; do
  rc=0
  moat tlsrpt set "$D" --builtin --path "$bad" >"$WORK/out" 2>"$WORK/err" || rc=$?
  assert_eq 1 "$rc" "exit status of tlsrpt set --path '$bad'"
  assert_match "$(cat "$WORK/err")" "^moat: error: bad report path " "stderr of tlsrpt set --path '$bad'"
  assert_eq "" "$(cat "$WORK/out")" "stdout of tlsrpt set --path '$bad'"
done

# tlsrpt_txt: the _smtp._tls TXT record of example.test in the zone moat publishes.
tlsrpt_txt() { moat zone export "$D" | awk -F'\t' -v o="_smtp._tls.$D." '$1 == o && $4 == "TXT" { print $5 }'; }
assert_eq "\"v=TLSRPTv1; rua=https://$WEB/.well-known/tlsrpt\"" "$(tlsrpt_txt)" "_smtp._tls.$D TXT after the bad paths"

step "policies, MX hosts and one certificate for $WEB and $OWEB"
for d in "$D" "$O"; do
  moat mx add "$d" "mail.$d" --priority 10 --addr 192.0.2.25 --live-dir "$WORK/live-$d" >/dev/null
  moat policy set "$d" >/dev/null
done
# After the policy, before the certificate: still a notice.
moat tlsrpt set "$D" --builtin >/dev/null 2>"$WORK/err"
assert_contains "$(cat "$WORK/err")" "moat-httpsd takes reports for $D." "notice of tlsrpt set --builtin without a certificate"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" \
  -out "$WORK/ca.pem" -days 30 -subj /CN=moat-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/web.key" \
  -out "$WORK/web.csr" -subj "/CN=$WEB" 2>/dev/null
printf 'subjectAltName=DNS:%s,DNS:%s\n' "$WEB" "$OWEB" >"$WORK/web.ext"
openssl x509 -req -in "$WORK/web.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
  -CAcreateserial -out "$WORK/web.pem" -days 10 -extfile "$WORK/web.ext" 2>/dev/null
cat "$WORK/web.pem" "$WORK/ca.pem" >"$WORK/web-full.pem"
out=$(moat cert deploy --fullchain "$WORK/web-full.pem" --key "$WORK/web.key")
assert_contains "$out" "$WEB" "cert deploy names $WEB"
assert_contains "$out" "$OWEB" "cert deploy names $OWEB"

step "moat tlsrpt set --builtin --rua: the builtin URI first, then the others"
rc=0
out=$(moat tlsrpt set "$D" --builtin --rua "mailto:tlsrpt@$D" 2>"$WORK/err") || rc=$?
assert_eq 0 "$rc" "exit status of tlsrpt set --builtin --rua"
assert_eq "" "$(cat "$WORK/err")" "stderr of tlsrpt set --builtin once policy and certificate exist"
assert_eq "https://$WEB/.well-known/tlsrpt,mailto:tlsrpt@$D" \
  "$(moat --json tlsrpt set "$D" --builtin --rua "mailto:tlsrpt@$D" | jq -r .rua)" "--json rua of --builtin --rua"
moat tlsrpt set "$O" --rua "mailto:tlsrpt@$O" >/dev/null # no builtin URI: no report path
assert_eq "\"v=TLSRPTv1; rua=https://$WEB/.well-known/tlsrpt,mailto:tlsrpt@$D\"" "$(tlsrpt_txt)" "_smtp._tls.$D TXT"
moat tlsrpt set "$D" --builtin >/dev/null

step "moat-httpsd: the main instance (--header-timeout 2 --max-reports-per-day $MAX_PER_DAY), and one with --max-connections-per-source 4"
start_httpsd "$WORK/httpsd.log" --header-timeout 2 --max-reports-per-day "$MAX_PER_DAY"
HTTPS_PORT=$STARTED_PORT
start_httpsd "$WORK/httpsd-limits.log" --max-connections-per-source 4
LIMITS_PORT=$STARTED_PORT
RPATH=/.well-known/tlsrpt
# The builtin rua is read by polling: wait (bounded) until the report path answers as one.
deadline=$(($(now_ms) + 10000))
until [[ "$(https "$WEB" "$HTTPS_PORT" "$RPATH")" == 405 ]]; do
  (($(now_ms) < deadline)) || die "$RPATH is not a report path within 10 s" "405" "$(https "$WEB" "$HTTPS_PORT" "$RPATH")"
  sleep 0.05
done
assert_eq "\"v=TLSRPTv1; rua=https://$WEB/.well-known/tlsrpt\"" "$(tlsrpt_txt)" "_smtp._tls.$D TXT of --builtin"

step "methods: only POST at the report path, only GET and HEAD at the policy"
assert_eq 405 "$(https "$WEB" "$HTTPS_PORT" "$RPATH")" "GET $RPATH"
assert_eq "POST" "$(header Allow)" "Allow of GET $RPATH"
assert_eq 405 "$(https "$WEB" "$HTTPS_PORT" "$RPATH" -I)" "HEAD $RPATH"
assert_eq "POST" "$(header Allow)" "Allow of HEAD $RPATH"
assert_eq 405 "$(https "$WEB" "$HTTPS_PORT" /.well-known/mta-sts.txt --data-binary "@$FX/r2.json" -H 'Content-Type: application/tlsrpt+json')" \
  "POST /.well-known/mta-sts.txt"
assert_eq "GET, HEAD" "$(header Allow)" "Allow of POST /.well-known/mta-sts.txt"
assert_eq 405 "$(https "$WEB" "$HTTPS_PORT" /.well-known/mta-sts.txt -X POST)" "POST /.well-known/mta-sts.txt without a body"
assert_eq "GET, HEAD" "$(header Allow)" "Allow of POST /.well-known/mta-sts.txt without a body"
assert_eq 405 "$(https "$OWEB" "$HTTPS_PORT" "$RPATH" --data-binary "@$FX/ot.json" -H 'Content-Type: application/tlsrpt+json')" \
  "POST $RPATH at $OWEB (no builtin rua)"
assert_eq "GET, HEAD" "$(header Allow)" "Allow of POST $RPATH at $OWEB"
assert_eq 405 "$(https "$OWEB" "$HTTPS_PORT" "$RPATH" -X POST)" "POST $RPATH at $OWEB without a body"
assert_eq "GET, HEAD" "$(header Allow)" "Allow of POST $RPATH at $OWEB without a body"
assert_eq 404 "$(https "$OWEB" "$HTTPS_PORT" "$RPATH")" "GET $RPATH at $OWEB"
assert_eq 200 "$(https "$OWEB" "$HTTPS_PORT" /.well-known/mta-sts.txt)" "GET the policy at $OWEB"
assert_eq 0 "$(warnings)" "warnings after requests that were no reports"
assert_eq 0 "$(moat --json reports --since 1970-01-01 | jq '.summaries | length')" "reports stored after them"

step "reports taken: gzip, JSON, media type parameters and case, a policy under the domain"
accepted "R1 gzip" 201 "report received" "$FX/r1.json.gz" application/tlsrpt+gzip
assert_match "$(grep ' info report a-1 of Org-A' "$WORK/httpsd.log")" "for $D\. from 127\.0\.0\.1" "the info line of R1"
accepted "R1 again, as JSON" 200 "report already received" "$FX/r1.json" application/tlsrpt+json
accepted "R1 again, as gzip" 200 "report already received" "$FX/r1.json.gz" application/tlsrpt+gzip
accepted "R2 with parameters, in another case" 201 "report received" "$FX/r2.json" 'Application/TLSRPT+JSON; charset="utf-8"'
accepted "B1: a tlsa policy for mail.$D and an sts one" 201 "report received" "$FX/b1.json.gz" ' application/tlsrpt+gzip ; x=y'
accepted "D1: gzip sent as application/tlsrpt+json" 201 "report received" "$FX/d1.json.gz" application/tlsrpt+json
out=$(summary)
assert_eq "$D. Org-A sts 2 2026-11-20T00:00:00Z 2026-11-21T23:59:59Z 150 10
  validation-failure mx1.example.test 192.0.2.25 8
  starttls-not-supported mx2.example.test 192.0.2.26 2
$D. Org-B sts 1 2026-11-22T00:00:00Z 2026-11-22T23:59:59Z 40 0
$D. Org-B tlsa 1 2026-11-22T00:00:00Z 2026-11-22T23:59:59Z 30 2
  tlsa-invalid mail.example.test 192.0.2.30 2
$D. Org-D sts 1 2026-11-24T00:00:00Z 2026-11-24T23:59:59Z 5 1
  sts-policy-fetch-error - - 1" "$out" "moat --json reports after R1, R2, B1, D1"

step "Expect: 100-continue: 100 first, then the answer to the body"
size=$(stat -c %s "$FX/c1.json")
printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: %d\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n' \
  "$RPATH" "$WEB" "$size" >"$WORK/c1.head"
i=$(infos)
raw expect "$WORK/c1.head" "$FX/c1.json"
STATE=
assert_eq "HTTP/1.1 100 Continue
HTTP/1.1 201 Created" "$(raw_field status)" "statuses with Expect: 100-continue ($RAW_OUT)"
assert_eq "report received" "$(raw_field body | tail -n1)" "answer with Expect: 100-continue"
assert_eq $((i + 1)) "$(infos)" "info lines after C1"
assert_eq "$D. Org-C sts 1 2026-11-23T00:00:00Z 2026-11-23T23:59:59Z 20 0" "$(summary | grep Org-C)" "C1 stored"
# Too large by its Content-Length: refused at once, no 100 Continue, no body read.
printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: 1048577\r\nExpect: 100-continue\r\n\r\n' \
  "$RPATH" "$WEB" >"$WORK/big.head"
raw_big() { raw expect "$WORK/big.head" "$FX/g2.json"; raw_field status; }
refused_by "Content-Length 1048577 with Expect: 100-continue" "HTTP/1.1 413 Payload Too Large" "" raw_big
assert_eq "closed" "$(raw_field end | cut -d' ' -f1)" "the connection after a 413 before the body"

step "refused: media types"
refused_by "text/plain" 415 "(415)" post "$FX/r2.json" text/plain
refused_by "no Content-Type" 415 "(415)" post "$FX/r2.json" ""
refused_by "application/json" 415 "(415)" post "$FX/r2.json" application/json
refused_by "application/tlsrpt+gzipped" 415 "(415)" post "$FX/r1.json.gz" application/tlsrpt+gzipped

step "refused: not reports"
refused_by "not JSON" 400 "JSON" post "$FX/not-json.json" application/tlsrpt+json
refused_by "no report-id" 400 "report-id" post "$FX/no-id.json" application/tlsrpt+json
refused_by "gzip cut in half" 400 "gzip" post "$FX/half.json.gz" application/tlsrpt+gzip
refused_by "an empty body" 400 "" post /dev/null application/tlsrpt+json

step "refused: reports about other domains (403), even one moat serves"
refused_by "a report about $O" 403 "$O" post "$FX/ot.json" application/tlsrpt+json
refused_by "a report about elsewhere.test" 403 "elsewhere.test" post "$FX/el.json.gz" application/tlsrpt+gzip
refused_by "a report about $D and $O" 403 "$O" post "$FX/both.json" application/tlsrpt+json

step "sizes: 1 MiB as sent, 4 MiB decompressed"
refused_by "1 MiB + 1 octet (Content-Length)" 413 "too large" post "$FX/g2.json" application/tlsrpt+json
start=$(now_ms)
refused_by "a gzip bomb ($bomb_size octets, 50000000 decompressed)" 413 "4194304" post "$FX/bomb.gz" application/tlsrpt+gzip
elapsed=$(($(now_ms) - start))
((elapsed < 3000)) || fail "the gzip bomb took $elapsed ms to refuse" "under 3000 ms" "$elapsed ms"
refused_by "4 MiB + 1 octet decompressed" 413 "4194304" post "$FX/h2.json.gz" application/tlsrpt+gzip
printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\nTransfer-Encoding: chunked\r\n\r\n' \
  "$RPATH" "$WEB" >"$WORK/chunked.head"
raw_chunked() { raw chunked "$WORK/chunked.head" "$FX/big-chunked.json"; raw_field status; }
refused_by "1300000 octets, chunked" "HTTP/1.1 413 Payload Too Large" "too large" raw_chunked
assert_eq "closed" "$(raw_field end | cut -d' ' -f1)" "the connection after the chunked 413"

step "request smuggling: ambiguous framing is refused and the connection closed"
s1=$(stat -c %s "$FX/s1.json")
# CL.TE: the chunked body ends early, and a second request hides behind it within Content-Length.
{
  printf '%x\r\n' "$s1"
  cat "$FX/s1.json"
  printf '\r\n0\r\n\r\nGET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n\r\n' "$WEB"
} >"$WORK/cl-te.body"
{
  printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n' \
    "$RPATH" "$WEB" "$(stat -c %s "$WORK/cl-te.body")"
  cat "$WORK/cl-te.body"
} >"$WORK/cl-te.req"
{
  printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n' "$RPATH" "$WEB" "$s1" 10
  cat "$FX/s1.json"
} >"$WORK/cl-cl.req"
{
  printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\nTransfer-Encoding: gzip\r\n\r\n' "$RPATH" "$WEB"
  gzip -c "$FX/s1.json"
} >"$WORK/te-gzip.req"
{
  printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: %d\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' "$RPATH" "$WEB" "$s1"
  printf '%x\r\n' "$s1"
  cat "$FX/s1.json"
  printf '\r\n0\r\n\r\n'
} >"$WORK/cl-te2.req"
before=${STATE:-$(state)}
raw send "$WORK/cl-te.req" "$WORK/cl-cl.req" "$WORK/te-gzip.req" "$WORK/cl-te2.req"
for req in cl-te cl-cl te-gzip cl-te2; do
  # The lines raw.py printed about this request.
  answer=$(awk -v r="$req.req" '/^request: / { on = ($2 == r); next } on' "$WORK/raw.out")
  assert_eq "HTTP/1.1 400 Bad Request" "$(sed -n 's/^status: //p' <<<"$answer")" "$req: status ($answer)"
  assert_eq "closed" "$(sed -n 's/^end: //p' <<<"$answer" | cut -d' ' -f1)" "$req: the connection after the 400"
  assert_eq 0 "$(sed -n 's/^extra: //p' <<<"$answer")" "$req: octets sent after the 400"
  echo "ok ($req): $(tr '\n' ' ' <<<"$answer")"
done
STATE=$(state)
assert_eq "$before" "$STATE" "the stored reports after the smuggling attempts"
assert_eq 0 "$(summary | grep -c Org-S || true)" "the report sent in the smuggling attempts is not stored"

step "a new report path: moat-httpsd follows the rua"
moat tlsrpt set "$D" --builtin --path /reports/v1 --rua "mailto:tlsrpt@$D" >/dev/null
deadline=$(($(now_ms) + 10000))
until [[ "$(https "$WEB" "$HTTPS_PORT" /reports/v1)" == 405 ]]; do
  (($(now_ms) < deadline)) || { fail "/reports/v1 is not a report path within 10 s"; break; }
  sleep 0.05
done
assert_eq "POST" "$(header Allow)" "Allow of GET /reports/v1"
assert_eq "\"v=TLSRPTv1; rua=https://$WEB/reports/v1,mailto:tlsrpt@$D\"" "$(tlsrpt_txt)" "_smtp._tls.$D TXT of --path /reports/v1 --rua"
assert_eq 404 "$(https "$WEB" "$HTTPS_PORT" "$RPATH")" "GET the old report path"
before=$(state)
assert_eq 405 "$(post "$FX/p1.json" application/tlsrpt+json)" "POST to the old report path"
assert_eq "GET, HEAD" "$(header Allow)" "Allow of POST to the old report path"
assert_eq "$before" "$(state)" "the stored reports after a POST to the old path"
RPATH=/reports/v1
accepted "P1 at the new path" 201 "report received" "$FX/p1.json" application/tlsrpt+json

step "slow clients (--header-timeout 2): cut off, and others served meanwhile"
{
  printf 'POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/tlsrpt+json\r\nContent-Length: 1000\r\n\r\n' "$RPATH" "$WEB"
  head -c 10 "$FX/s1.json"
} >"$WORK/slow-body.req"
printf 'GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\nUser-Ag' "$WEB" >"$WORK/slow-head.req"
before=$(state)
rm -f "$WORK/ready-body" "$WORK/ready-head"
"$PYTHON" "$WORK/raw.py" "$HTTPS_PORT" "$WEB" "$WORK/ca.pem" stall "$WORK/slow-body.req" "$WORK/ready-body" >"$WORK/slow-body.out" 2>&1 &
slow_body=$!
"$PYTHON" "$WORK/raw.py" "$HTTPS_PORT" "$WEB" "$WORK/ca.pem" stall "$WORK/slow-head.req" "$WORK/ready-head" >"$WORK/slow-head.out" 2>&1 &
slow_head=$!
deadline=$(($(now_ms) + 5000))
until [[ -e "$WORK/ready-body" && -e "$WORK/ready-head" ]]; do
  (($(now_ms) < deadline)) || { fail "the slow clients did not connect within 5 s"; break; }
  sleep 0.02
done
out=$(https "$WEB" "$HTTPS_PORT" /.well-known/mta-sts.txt -w '%{http_code} %{time_total}')
assert_eq 200 "${out% *}" "a GET of the policy while two clients stall"
# A server held up by them would answer only once it cuts them off, 2 s on.
awk -v t="${out#* }" 'BEGIN { exit !(t < 1.5) }' || fail "the GET while two clients stall took ${out#* } s" "under 1.5 s" "${out#* } s"
wait "$slow_body" "$slow_head" || true
for which in body head; do
  end=$(sed -n 's/^end: //p' "$WORK/slow-$which.out")
  read -r verdict ms <<<"$end"
  assert_eq closed "$verdict" "a client stalling in the request $which is closed ($(tr '\n' ' ' <"$WORK/slow-$which.out"))"
  if [[ $verdict == closed ]]; then
    ((ms >= 1000 && ms <= 6000)) || fail "a client stalling in the request $which was closed after $ms ms" "between 1000 and 6000 ms (--header-timeout 2)" "$ms ms"
  fi
  echo "ok: stalled in the request $which, closed after ${ms:-?} ms"
done
assert_eq "$before" "$(state)" "the stored reports after the stalled body"

step "reports at the bounds are taken: 1 MiB as sent, 4 MiB decompressed"
# Last but one: from now on every summary reads these 5 MiB.
accepted "G1: exactly 1 MiB of JSON" 201 "report received" "$FX/g1.json" application/tlsrpt+json
accepted "H1: exactly 4 MiB decompressed" 201 "report received" "$FX/h1.json.gz" application/tlsrpt+gzip

step "the daily bound: --max-reports-per-day $MAX_PER_DAY"
# Stored so far: R1 R2 B1 D1 C1 G1 H1 P1 = 8; four more reach the bound.
assert_eq 8 "$(moat --json reports --since 1970-01-01 | jq '[.summaries[] | select(.policy_type == "sts") | .reports] | add')" \
  "reports stored before the daily bound (one sts row each)"
for i in 1 2 3 4; do
  accepted "Q$i" 201 "report received" "$FX/q$i.json" application/tlsrpt+json
done
printf '%s' "$(sed 's/"q-4"/"q-5"/' "$FX/q4.json")" >"$FX/q5.json"
refused_by "report $((MAX_PER_DAY + 1)) in 24 hours" 429 "in the last 24 hours" post "$FX/q5.json" application/tlsrpt+json

step "the summary of everything taken"
out=$(summary)
assert_eq "$D. Org-A sts 2 2026-11-20T00:00:00Z 2026-11-21T23:59:59Z 150 10
  validation-failure mx1.example.test 192.0.2.25 8
  starttls-not-supported mx2.example.test 192.0.2.26 2
$D. Org-B sts 1 2026-11-22T00:00:00Z 2026-11-22T23:59:59Z 40 0
$D. Org-B tlsa 1 2026-11-22T00:00:00Z 2026-11-22T23:59:59Z 30 2
  tlsa-invalid mail.example.test 192.0.2.30 2
$D. Org-C sts 1 2026-11-23T00:00:00Z 2026-11-23T23:59:59Z 20 0
$D. Org-D sts 1 2026-11-24T00:00:00Z 2026-11-24T23:59:59Z 5 1
  sts-policy-fetch-error - - 1
$D. Org-G sts 1 2026-11-28T00:00:00Z 2026-11-28T23:59:59Z 7 0
$D. Org-H sts 1 2026-11-29T00:00:00Z 2026-11-29T23:59:59Z 9 0
$D. Org-P sts 1 2026-11-26T00:00:00Z 2026-11-26T23:59:59Z 1 0
$D. Org-Q sts 4 2026-11-27T00:00:00Z 2026-11-27T23:59:59Z 4 0" "$out" "moat --json reports --since 1970-01-01"
assert_eq "" "$(summary "$O")" "reports stored for $O"

step "connections per source (--max-connections-per-source 4)"
lim() { # lim SRC: a GET of the policy from SRC at the second instance; prints the status
  curl -sS --max-time 5 --interface "$1" --resolve "$WEB:$LIMITS_PORT:127.0.0.1" --cacert "$WORK/ca.pem" \
    -o /dev/null -w '%{http_code}' "https://$WEB:$LIMITS_PORT/.well-known/mta-sts.txt" 2>"$WORK/lim.err" || true
}
rm -f "$WORK/held" "$WORK/release"
"$PYTHON" "$WORK/raw.py" "$LIMITS_PORT" "$WEB" "$WORK/ca.pem" hold 4 127.0.0.1 "$WORK/held" "$WORK/release" >"$WORK/hold.out" 2>&1 &
holder=$!
deadline=$(($(now_ms) + 5000))
until [[ -e "$WORK/held" ]]; do
  kill -0 "$holder" 2>/dev/null || break
  (($(now_ms) < deadline)) || break
  sleep 0.02
done
[[ -e "$WORK/held" ]] || fail "4 connections from 127.0.0.1 could not be opened ($(cat "$WORK/hold.out"))"
assert_eq 000 "$(lim 127.0.0.1)" "a 5th connection from 127.0.0.1 (curl: $(cat "$WORK/lim.err"))"
assert_eq 200 "$(lim 127.0.0.2)" "a connection from 127.0.0.2 while 127.0.0.1 holds 4 ($(cat "$WORK/lim.err"))"
touch "$WORK/release"
wait "$holder" || true
assert_eq "alive: 4" "$(cat "$WORK/hold.out")" "the 4 held connections were open until released"
deadline=$(($(now_ms) + 5000))
until [[ "$(lim 127.0.0.1)" == 200 ]]; do
  (($(now_ms) < deadline)) || { fail "127.0.0.1 is not served again within 5 s of closing its connections"; break; }
  sleep 0.05
done

step "out of file descriptors (ulimit 48): the server stays up, and serves again once they are back"
fd_port=$(free_port)
prlimit --nofile=48 "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$fd_port" --poll-ms 100 \
  --metrics off --header-timeout 2 --max-connections 1000 --max-connections-per-source 1000 \
  >>"$WORK/httpsd-fd.log" 2>&1 &
fd_pid=$!
track_pid "$fd_pid"
deadline=$(($(now_ms) + 10000))
until [[ "$(https "$WEB" "$fd_port" /.well-known/mta-sts.txt)" == 200 ]]; do
  (($(now_ms) < deadline)) || die "moat-httpsd with 48 descriptors did not serve within 10 s" "200" "$(cat "$WORK/httpsd-fd.log")"
  sleep 0.05
done
rm -f "$WORK/fd-held" "$WORK/fd-release"
# 80 plain TCP connections, held: each one the server accepts costs it a descriptor.
"$PYTHON" - "$fd_port" "$WORK/fd-held" "$WORK/fd-release" <<'PY' &
import os, socket, sys, time
port, held, release = int(sys.argv[1]), sys.argv[2], sys.argv[3]
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(80)]
open(held, "w").close()
deadline = time.time() + 20
while not os.path.exists(release) and time.time() < deadline:
    time.sleep(0.02)
for s in socks:
    s.close()
PY
fd_holder=$!
deadline=$(($(now_ms) + 10000))
until [[ -e "$WORK/fd-held" ]] && grep -q 'accept: Too many open files' "$WORK/httpsd-fd.log"; do
  (($(now_ms) < deadline)) || { fail "no 'accept: Too many open files' in the log within 10 s" "the warning" "$(tail -n 5 "$WORK/httpsd-fd.log")"; break; }
  sleep 0.05
done
kill -0 "$fd_pid" 2>/dev/null || fail "moat-httpsd exited when its descriptors ran out" "running" "$(tail -n 5 "$WORK/httpsd-fd.log")"
touch "$WORK/fd-release"
wait "$fd_holder" || true
deadline=$(($(now_ms) + 10000))
until [[ "$(https "$WEB" "$fd_port" /.well-known/mta-sts.txt)" == 200 ]]; do
  (($(now_ms) < deadline)) || { fail "not served again within 10 s of the descriptors coming back" "200" "$(tail -n 5 "$WORK/httpsd-fd.log")"; break; }
  sleep 0.05
done
kill -0 "$fd_pid" 2>/dev/null || fail "moat-httpsd is not running after the descriptors came back"

step "the log: one warning per refused report, one info line per report taken"
# Refused above: 1 (Expect) + 4 (media types) + 4 (not reports) + 3 (other domains)
# + 4 (sizes) + 1 (daily bound) = 17; taken or taken again: 6 + C1 + P1 + G1 + H1 + 4 = 14.
assert_eq 17 "$(warnings)" "warning lines in moat-httpsd's log"
assert_eq 14 "$(infos)" "info lines about reports in moat-httpsd's log"
