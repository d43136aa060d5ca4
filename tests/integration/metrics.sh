#!/usr/bin/env bash
# The Prometheus metrics of moat-dnsd and moat-httpsd (`--metrics ADDR:PORT|off`, loopback only):
# exact counter values after known traffic (dig, kdig, a burst of raw packets; curl, openssl
# s_client, TLS reports), every scrape checked by `promtool check metrics`; the listener itself (200
# with the text format's media type, 404, 405); and the option: off, an address that is not
# loopback or is taken (exit 1, one error line), the default address taken (a warning, and the
# daemon runs).
# Counters of answers a client has seen are read with `settle`, which waits (bounded) for the
# value first: a server may count an answer just after sending it.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MOATHTTPSD_BIN:?MOATHTTPSD_BIN must name the moat-httpsd binary}"
SOFT_FAIL=1 # independent checks: report them all
require_tools promtool curl openssl kdig ss

D=example.test
O=other.test
WEB=mta-sts.$D

# --- reading scrapes ---------------------------------------------------------------------------
# Scrapes are kept as $WORK/scrape.N (N counts them), their samples as $WORK/scrape.N.norm: one per
# line, "SERIES VALUE", the labels of SERIES sorted (normkey), so that a series is found whatever
# order its labels come in. (No label value here holds a comma or a space.)
AWK_LIB='
function normkey(s,   i, n, l, a, b, t, r) {
  i = index(s, "{")
  if (!i) return s
  n = split(substr(s, i + 1, length(s) - i - 1), l, ",")
  for (a = 2; a <= n; a++) {
    t = l[a]
    for (b = a - 1; b >= 1 && l[b] > t; b--) l[b + 1] = l[b]
    l[b + 1] = t
  }
  r = substr(s, 1, i)
  for (a = 1; a <= n; a++) r = r (a > 1 ? "," : "") l[a]
  return r "}"
}'
norm() { LC_ALL=C awk "$AWK_LIB"' !/^#/ && NF == 2 { print normkey($1), $2 }' "$@"; }

# fetch PORT: GET http://127.0.0.1:PORT/metrics into the next $WORK/scrape.N; sets M to it.
SCRAPES=0
fetch() {
  SCRAPES=$((SCRAPES + 1))
  M=$WORK/scrape.$SCRAPES
  : >"$M"
  : >"$M.head"
  curl -sS --max-time 5 -D "$M.head" -o "$M" -w '%{http_code}' "http://127.0.0.1:$1/metrics" >"$M.code" 2>"$M.err" || true
  norm "$M" >"$M.norm"
}

# check_scrape: the last scrape is a 200 in the text format's media type, with no series twice,
# which `promtool check metrics` takes without a word (started in the background: lint_all waits
# for its verdicts). Both a parse error (promtool exits 1) and a lint finding (exits 3) fail: the
# names and types were chosen to pass its lint, so a finding means one was changed against
# Prometheus' conventions.
LINTS=()
check_scrape() {
  assert_eq 200 "$(cat "$M.code")" "status of GET /metrics (scrape $SCRAPES; $(cat "$M.err"))"
  assert_match "$(tr -d '\r' <"$M.head" | sed -n 's/^Content-Type: //Ip')" '^text/plain; version=0\.0\.4(;|$)' \
    "media type of scrape $SCRAPES"
  assert_eq "" "$(cut -d' ' -f1 "$M.norm" | sort | uniq -d)" "series given twice in scrape $SCRAPES"
  (
    rc=0
    promtool check metrics <"$M" >"$M.lint" 2>&1 || rc=$?
    echo "$rc" >"$M.rc"
  ) &
  track_pid "$!"
  LINTS+=("$!:$M")
}

# lint_all: the verdicts of promtool on every scrape checked.
lint_all() {
  local entry pid file
  for entry in "${LINTS[@]}"; do
    pid=${entry%%:*}
    file=${entry#*:}
    wait "$pid" || true
    if [[ "$(cat "$file.rc" 2>/dev/null)" != 0 || -s "$file.lint" ]]; then
      fail "promtool check metrics on ${file##*/} exited $(cat "$file.rc" 2>/dev/null)" "exit 0, nothing said" "$(cat "$file.lint" 2>/dev/null)"
    fi
  done
  echo "promtool check metrics: ${#LINTS[@]} scrapes"
}

# scrape PORT: fetch and check_scrape.
scrape() {
  fetch "$1"
  check_scrape
}

# v FILE SERIES: the value of SERIES in a scrape, or "absent".
v() {
  LC_ALL=C awk -v k="$2" "$AWK_LIB"'
    BEGIN { k = normkey(k) }
    $1 == k { print $2; found = 1; exit }
    END { if (!found) print "absent" }' "$1.norm"
}

# settle PORT SERIES VALUE: scrapes PORT until SERIES = VALUE (at most 5 s: a server may count an
# answer just after sending it), and checks that scrape. What follows reads it: a value that never
# comes fails there.
settle() {
  local port=$1 series=$2 want=$3 deadline
  deadline=$(($(now_ms) + 5000))
  while :; do
    fetch "$port"
    [[ "$(v "$M" "$series")" == "$want" ]] && break
    (($(now_ms) < deadline)) || break
    SCRAPES=$((SCRAPES - 1)) # this one is done with: the next takes its place
    sleep 0.05
  done
  check_scrape
}

# is SERIES VALUE: SERIES has VALUE in the last scrape.
is() { assert_eq "$2" "$(v "$M" "$1")" "$1 in scrape $SCRAPES"; }

# grew_only FAMILY [SERIES N]...: from the scrape $BASE to the last one, each SERIES of FAMILY
# grew by N and every other series of FAMILY stayed as it was (one missing from $BASE counts
# from 0: moat-httpsd shows a status once it answered one).
grew_only() {
  local family=$1 wants="" line
  shift
  while (($# >= 2)); do
    wants+="$1 $2"$'\n'
    shift 2
  done
  while IFS= read -r line; do
    fail "$line (scrape ${BASE##*.} to $SCRAPES)"
  done < <(LC_ALL=C awk -v fam="$family" -v wants="$wants" -v first="$BASE.norm" "$AWK_LIB"'
    BEGIN {
      n = split(wants, w, "\n")
      for (i = 1; i <= n; i++)
        if (split(w[i], p, " ") == 2) want[normkey(p[1])] = p[2]
    }
    FILENAME == first { base[$1] = $2; next }
    substr($1, 1, length(fam) + 1) == fam "{" || $1 == fam {
      seen[$1] = 1
      a = ($1 in base) ? base[$1] : 0
      e = ($1 in want) ? want[$1] : 0
      if (a !~ /^[0-9]+$/ || $2 !~ /^[0-9]+$/)
        print $1 " is no count: " a " then " $2
      else if ($2 - a != e)
        print "growth of " $1 ": expected " e ", got " ($2 - a) " (" a " to " $2 ")"
    }
    END { for (k in want) if (!(k in seen)) print k " is missing" }' "$BASE.norm" "$M.norm")
}

# present SERIES...: each SERIES is in the last scrape.
present() {
  local line
  while IFS= read -r line; do
    fail "$line is not in scrape $SCRAPES"
  done < <(printf '%s\n' "$@" | LC_ALL=C awk -v first="$M.norm" "$AWK_LIB"'
    FILENAME == first { have[$1] = 1; next }
    !(normkey($0) in have) { print }' "$M.norm" -)
}

# families NAME:TYPE...: the last scrape declares each NAME with TYPE and a HELP text.
families() {
  local line
  while IFS= read -r line; do
    fail "$line (scrape $SCRAPES)"
  done < <(printf '%s\n' "$@" | awk -v first="$M" '
    FILENAME == first { if ($1 == "#" && $2 == "TYPE") type[$3] = $4; if ($1 == "#" && $2 == "HELP" && NF > 3) help[$3] = 1; next }
    {
      split($0, f, ":")
      if (type[f[1]] != f[2]) print f[1] " is declared \"" type[f[1]] "\", not " f[2]
      if (!(f[1] in help)) print f[1] " has no HELP text"
    }' "$M" -)
}

# balanced: in the last scrape of moat-dnsd, per transport, the queries counted by type add up to
# the responses counted by rcode (each answer is one of each).
balanced() {
  local t q r
  while read -r t q r; do
    assert_eq "$q" "$r" "$t queries by type and responses by rcode in scrape $SCRAPES"
  done < <(awk '
    match($1, /transport="[a-z]+"/) {
      t = substr($1, RSTART + 11, RLENGTH - 12)
      if (index($1, "moat_dnsd_queries_total{") == 1) q[t] += $2
      if (index($1, "moat_dnsd_responses_total{") == 1) r[t] += $2
    }
    END { print "udp", q["udp"] + 0, r["udp"] + 0; print "tcp", q["tcp"] + 0, r["tcp"] + 0 }' "$M.norm")
}

# free_ports N: N different ports free on 127.0.0.1 for both UDP and TCP, one a line (as
# free_port, with one python3 start).
free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
held, ports = [], []
while len(ports) < int(sys.argv[1]):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    held += [t, u]
    ports.append(port)
print("\n".join(map(str, ports)))
PY
}

# http_code ARGS...: the status curl gets (000 when none).
http_code() { curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "$@" 2>/dev/null || true; }

# listener PORT: what the metrics listener answers besides GET /metrics.
listener() {
  assert_eq 404 "$(http_code "http://127.0.0.1:$1/other")" "GET /other at the metrics listener 127.0.0.1:$1"
  assert_eq 404 "$(http_code "http://127.0.0.1:$1/metrics/x")" "GET /metrics/x at 127.0.0.1:$1"
  assert_eq 405 "$(http_code -X POST "http://127.0.0.1:$1/metrics")" "POST /metrics at 127.0.0.1:$1"
  assert_eq 405 "$(http_code -X DELETE "http://127.0.0.1:$1/metrics")" "DELETE /metrics at 127.0.0.1:$1"
}

# log_since FILE LINE: the lines of FILE after its first LINE ones.
log_since() { tail -n +"$(($2 + 1))" "$1"; }

# signatures WHAT FILE LINE: the sum of "N signatures made" (WHAT=made) or "N reused"
# (WHAT=reused) over moat-dnsd's load lines in FILE after LINE, counted from its last error line
# (a start that failed, before start_dnsd tried another port).
signatures() {
  log_since "$2" "$3" | awk -v w="$1" '
    / error / { n = 0 }
    / info (re)?load .* signatures made, / {
      if (match($0, w == "made" ? "[0-9]+ signatures made" : "[0-9]+ reused"))
        n += substr($0, RSTART, RLENGTH) + 0
    }
    END { print n + 0 }'
}

# listening PID: the TCP addresses PID listens on, sorted, on one line.
listening() { ss -Hltnp | awk -v p="pid=$1," 'index($0, p) { print $4 }' | sort | tr '\n' ' ' | sed 's/ $//'; }

# stop PID: ends a daemon started here and waits for it.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# refused_start WHAT MESSAGE DAEMON ARGS...: DAEMON exits 1 within 10 s, with exactly one error
# line, which contains MESSAGE.
refused_start() {
  local what=$1 message=$2 rc=0 out
  shift 2
  out=$(timeout 10 "$@" 2>&1) || rc=$?
  assert_eq 1 "$rc" "exit status with $what"
  assert_eq 1 "$(grep -cE '^[0-9T:.-]+ error ' <<<"$out")" "error lines with $what ($out)"
  assert_contains "$(grep -E '^[0-9T:.-]+ error ' <<<"$out")" "$message" "the error line with $what"
  assert_not_contains "$out" "started" "output with $what"
  echo "ok ($what): $(grep -E ' error ' <<<"$out")"
}

# hold.py SRC PORT N READY RELEASE CA: opens N TLS connections from SRC to 127.0.0.1:PORT
# (handshakes done, with SNI $WEB, trusting CA), then one more (TCP), which the server should
# close at once; says "third: closed" (or "open", "data") and touches READY; holds the N until
# RELEASE exists (at most 20 s) and says "held N".
cat >"$WORK/hold.py" <<'PY'
import os, socket, ssl, sys, time

src, port, n, ready, release, ca = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]

def connect():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

held = []
for _ in range(n):
    held.append(ssl.create_default_context(cafile=ca).wrap_socket(connect(), server_hostname=os.environ["WEB"]))
extra = connect()
extra.settimeout(2)
try:
    print("third:", "closed" if extra.recv(1) == b"" else "data", flush=True)
except (ConnectionResetError, BrokenPipeError):
    print("third: closed", flush=True)
except (socket.timeout, TimeoutError):
    print("third: open", flush=True)
extra.close()
open(ready, "w").close()
deadline = time.monotonic() + 20
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.02)
for s in held:
    s.close()
print("held", len(held))
PY
export WEB

# hold_start SRC PORT N CA: hold.py in the background until hold_release; sets HOLD_PID.
hold_start() {
  local src=$1 port=$2 n=$3 deadline
  rm -f "$WORK/held" "$WORK/release"
  python3 "$WORK/hold.py" "$src" "$port" "$n" "$WORK/held" "$WORK/release" "$4" >"$WORK/hold.out" 2>&1 &
  HOLD_PID=$!
  track_pid "$HOLD_PID"
  deadline=$(($(now_ms) + 10000))
  until [[ -e "$WORK/held" ]]; do
    kill -0 "$HOLD_PID" 2>/dev/null || break
    (($(now_ms) < deadline)) || break
    sleep 0.02
  done
  [[ -e "$WORK/held" ]] || fail "$n TLS connections from $src to port $port could not be opened ($(cat "$WORK/hold.out"))"
}
hold_release() {
  touch "$WORK/release"
  wait "$HOLD_PID" || true
}

# hold_default_port PORT: holds 127.0.0.1:PORT (a listening TCP socket) until $WORK/release-PORT
# exists, when it is free; true when it holds it. Another test's daemon may have it: then false.
hold_default_port() {
  local port=$1 deadline
  rm -f "$WORK/holding-$port" "$WORK/release-$port"
  python3 - "$port" "$WORK/holding-$port" "$WORK/release-$port" >"$WORK/hold-$port.out" 2>&1 <<'PY' &
import os, socket, sys, time
port, holding, release = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", port))
    s.listen(1)
except OSError as e:
    sys.exit("busy: %s" % e)
open(holding, "w").close()
deadline = time.monotonic() + 20
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.02)
PY
  DEFAULT_HOLDER=$!
  track_pid "$DEFAULT_HOLDER"
  deadline=$(($(now_ms) + 5000))
  until [[ -e "$WORK/holding-$port" ]]; do
    kill -0 "$DEFAULT_HOLDER" 2>/dev/null || return 1
    (($(now_ms) < deadline)) || return 1
    sleep 0.02
  done
}
release_default_port() {
  touch "$WORK/release-$1"
  wait "$DEFAULT_HOLDER" 2>/dev/null || true
}

# --- the domains -------------------------------------------------------------------------------
step "$D with an MX host, a policy, a certificate for $WEB and the builtin TLS report address; $O"
moat init >/dev/null
new_domain "$D"
new_domain "$O"
moat mx add "$D" "mail.$D" --priority 10 --addr 192.0.2.25 --live-dir "$WORK/live" >/dev/null
moat policy set "$D" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" \
  -out "$WORK/ca.pem" -days 30 -subj /CN=moat-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/web.key" \
  -out "$WORK/web.csr" -subj "/CN=$WEB" 2>/dev/null
printf 'subjectAltName=DNS:%s\n' "$WEB" >"$WORK/web.ext"
openssl x509 -req -in "$WORK/web.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
  -CAcreateserial -out "$WORK/web.pem" -days 10 -extfile "$WORK/web.ext" 2>/dev/null
cat "$WORK/web.pem" "$WORK/ca.pem" >"$WORK/web-full.pem"
moat cert deploy --fullchain "$WORK/web-full.pem" --key "$WORK/web.key" >/dev/null
moat tlsrpt set "$D" --builtin >/dev/null 2>&1
# RFC 8460's example report, about $D instead of company-y.example.
EXAMPLE=$MOAT_SRC/tests/fuzz/corpus/fuzz_tlsrpt/rfc8460-example
sed "s/\"policy-domain\": \"company-y.example\"/\"policy-domain\": \"$D\"/" "$EXAMPLE" >"$WORK/report.json"
grep -qF "\"policy-domain\": \"$D\"" "$WORK/report.json" || die "no policy-domain to change in $EXAMPLE"

# --- moat-dnsd ---------------------------------------------------------------------------------
step "moat-dnsd --metrics 127.0.0.1:PORT --tcp-per-source 2 --workers 1"
mapfile -t ports < <(free_ports 2)
DMP=${ports[0]}
RMP=${ports[1]} # for the instance that tests RRL
# One UDP worker, so one answer cache: which worker a query reaches does not matter.
start_dnsd "$D" 10 --metrics "127.0.0.1:$DMP" --tcp-per-source 2 --workers 1
MAIN_PORT=$DNSD_PORT
assert_contains "$(cat "$DNSD_LOG")" "info metrics on http://127.0.0.1:$DMP/metrics" "moat-dnsd's log line about its metrics"
listener "$DMP"

step "the families after the start: every series, zones, serials, loads and signatures"
scrape "$DMP"
families moat_dnsd_queries_total:counter moat_dnsd_responses_total:counter \
  moat_dnsd_answer_cache_hits_total:counter moat_dnsd_rrl_answers_total:counter \
  moat_dnsd_requests_total:counter moat_dnsd_tcp_connections:gauge \
  moat_dnsd_tcp_connections_refused_total:counter moat_dnsd_zone_loads_total:counter \
  moat_dnsd_signatures_total:counter moat_dnsd_zones:gauge moat_dnsd_zone_serial:gauge
QTYPES=(A NS CNAME SOA PTR MX TXT AAAA SRV DS DNSKEY NSEC3PARAM TLSA HTTPS CAA ANY other)
RCODES=(NOERROR FORMERR SERVFAIL NXDOMAIN NOTIMP REFUSED YXDOMAIN YXRRSET NXRRSET NOTAUTH NOTZONE)
want=()
for t in udp tcp; do
  for x in "${QTYPES[@]}"; do want+=("moat_dnsd_queries_total{transport=\"$t\",qtype=\"$x\"}"); done
  for x in "${RCODES[@]}"; do want+=("moat_dnsd_responses_total{transport=\"$t\",rcode=\"$x\"}"); done
done
for x in axfr ixfr update other; do
  want+=("moat_dnsd_requests_total{kind=\"$x\",result=\"served\"}" "moat_dnsd_requests_total{kind=\"$x\",result=\"refused\"}")
done
present "${want[@]}"
assert_eq $((2 * ${#QTYPES[@]})) "$(grep -c '^moat_dnsd_queries_total{' "$M.norm")" "series of moat_dnsd_queries_total"
assert_eq $((2 * ${#RCODES[@]})) "$(grep -c '^moat_dnsd_responses_total{' "$M.norm")" "series of moat_dnsd_responses_total"
assert_eq 8 "$(grep -c '^moat_dnsd_requests_total{' "$M.norm")" "series of moat_dnsd_requests_total"
# Only start_dnsd's SOA queries (over UDP) were answered so far; everything else is 0.
ready=$(v "$M" 'moat_dnsd_queries_total{transport="udp",qtype="SOA"}')
[[ $ready =~ ^[1-9][0-9]*$ ]] || fail "the SOA queries start_dnsd made are not counted" "1 or more" "$ready"
BASE=$WORK/zero
awk '{ print $1, 0 }' "$M.norm" >"$BASE.norm"
grew_only moat_dnsd_queries_total 'moat_dnsd_queries_total{transport="udp",qtype="SOA"}' "$ready"
grew_only moat_dnsd_responses_total 'moat_dnsd_responses_total{transport="udp",rcode="NOERROR"}' "$ready"
balanced
grew_only moat_dnsd_rrl_answers_total 'moat_dnsd_rrl_answers_total{action="dropped"}' 0 \
  'moat_dnsd_rrl_answers_total{action="slipped"}' 0
grew_only moat_dnsd_requests_total
grew_only moat_dnsd_tcp_connections moat_dnsd_tcp_connections 0
grew_only moat_dnsd_answer_cache_hits_total moat_dnsd_answer_cache_hits_total 0
grew_only moat_dnsd_tcp_connections_refused_total moat_dnsd_tcp_connections_refused_total 0
made=$(signatures made "$DNSD_LOG" 0)
((made > 0)) || fail "moat-dnsd's log says no signatures were made at the start" "a number" "$(cat "$DNSD_LOG")"
grew_only moat_dnsd_zone_loads_total 'moat_dnsd_zone_loads_total{result="whole"}' 2 \
  'moat_dnsd_zone_loads_total{result="patched"}' 0 'moat_dnsd_zone_loads_total{result="failed"}' 0
grew_only moat_dnsd_signatures_total 'moat_dnsd_signatures_total{work="made"}' "$made" \
  'moat_dnsd_signatures_total{work="reused"}' "$(signatures reused "$DNSD_LOG" 0)"
is moat_dnsd_zones 2
is "moat_dnsd_zone_serial{zone=\"$D.\"}" "$(zone_serial "$D")"
is "moat_dnsd_zone_serial{zone=\"$O.\"}" "$(zone_serial "$O")"
assert_eq 2 "$(grep -c '^moat_dnsd_zone_serial{' "$M.norm")" "series of moat_dnsd_zone_serial"
echo "ok: $ready SOA queries of start_dnsd, $made signatures made"

step "known queries: 3 SOA (dig), MX over TCP (kdig), NXDOMAIN, REFUSED, NAPTR, FORMERR, NOTIMP"
scrape "$DMP"
BASE=$M
for i in 1 2 3; do
  assert_match "$(q "$D" SOA +short)" "^ns1\.$D\. " "SOA answer $i"
done
assert_contains "$(kq "$D" MX +tcp)" "status: NOERROR" "kdig $D MX +tcp"
assert_eq NXDOMAIN "$(dig_status "$(q "nosuch.$D" A)")" "status of nosuch.$D A"
assert_eq REFUSED "$(dig_status "$(q example.org A)")" "status of example.org A"
assert_eq NOERROR "$(dig_status "$(q "$D" NAPTR)")" "status of $D NAPTR"
# A COOKIE option of 5 bytes is malformed (RFC 7873 §5.2.2).
assert_eq FORMERR "$(dig_status "$(q +nocookie +ednsopt=10:0102030405 "$D" TXT)")" "status of TXT with a 5-byte COOKIE"
assert_eq NOTIMP "$(dig_status "$(q +opcode=15 "$D" CAA)")" "status of CAA with opcode 15"
settle "$DMP" 'moat_dnsd_responses_total{transport="udp",rcode="NOTIMP"}' 1
# NAPTR is no type counted by name: "other". Errors count under the type of their question.
grew_only moat_dnsd_queries_total \
  'moat_dnsd_queries_total{transport="udp",qtype="SOA"}' 3 \
  'moat_dnsd_queries_total{transport="udp",qtype="TXT"}' 1 \
  'moat_dnsd_queries_total{transport="udp",qtype="CAA"}' 1 \
  'moat_dnsd_queries_total{transport="tcp",qtype="MX"}' 1 \
  'moat_dnsd_queries_total{transport="udp",qtype="A"}' 2 \
  'moat_dnsd_queries_total{transport="udp",qtype="other"}' 1
grew_only moat_dnsd_responses_total \
  'moat_dnsd_responses_total{transport="udp",rcode="NOERROR"}' 4 \
  'moat_dnsd_responses_total{transport="tcp",rcode="NOERROR"}' 1 \
  'moat_dnsd_responses_total{transport="udp",rcode="NXDOMAIN"}' 1 \
  'moat_dnsd_responses_total{transport="udp",rcode="REFUSED"}' 1 \
  'moat_dnsd_responses_total{transport="udp",rcode="FORMERR"}' 1 \
  'moat_dnsd_responses_total{transport="udp",rcode="NOTIMP"}' 1
balanced
grew_only moat_dnsd_requests_total
grew_only moat_dnsd_rrl_answers_total

step "the answer cache: one question asked three times without a cookie (dig gives each a new ID)"
# The cache does not key on the ID, but a client cookie makes a query another one: +nocookie.
BASE=$M
for i in 1 2 3; do
  assert_eq 127.0.0.1 "$(q +nocookie "ns1.$D" A +short)" "ns1.$D A, time $i"
done
settle "$DMP" moat_dnsd_answer_cache_hits_total "$(($(v "$BASE" moat_dnsd_answer_cache_hits_total) + 2))"
grew_only moat_dnsd_answer_cache_hits_total moat_dnsd_answer_cache_hits_total 2
grew_only moat_dnsd_queries_total 'moat_dnsd_queries_total{transport="udp",qtype="A"}' 3
grew_only moat_dnsd_responses_total 'moat_dnsd_responses_total{transport="udp",rcode="NOERROR"}' 3

step "AXFR and IXFR from a client that is no secondary, an UPDATE without TSIG: refused, and counted"
BASE=$M
assert_contains "$(q "$D" AXFR)" "Transfer failed." "dig AXFR $D"
assert_contains "$(q "$D" IXFR=1)" "Transfer failed." "dig IXFR=1 $D"
assert_eq REFUSED "$(dig_status "$(q +opcode=5 "$D" SOA)")" "status of an unsigned UPDATE"
settle "$DMP" 'moat_dnsd_requests_total{kind="update",result="refused"}' 1
grew_only moat_dnsd_requests_total \
  'moat_dnsd_requests_total{kind="axfr",result="refused"}' 1 \
  'moat_dnsd_requests_total{kind="ixfr",result="refused"}' 1 \
  'moat_dnsd_requests_total{kind="update",result="refused"}' 1
assert_eq 2 "$(grep -cE "warning refused (AXFR|IXFR) of $D\. to 127\.0\.0\.1" "$DNSD_LOG")" "warnings about the refused transfers"
assert_eq 1 "$(grep -cE "warning refused UPDATE of $D\. from 127\.0\.0\.1" "$DNSD_LOG")" "warnings about the refused UPDATE"

step "TCP connections: a gauge, and the third from one address refused (--tcp-per-source 2)"
BASE=$M
# Held by this shell; the third is accepted after them, by the same thread, so it is refused.
exec {tcp1}<>"/dev/tcp/127.0.0.1/$DNSD_PORT" {tcp2}<>"/dev/tcp/127.0.0.1/$DNSD_PORT" {tcp3}<>"/dev/tcp/127.0.0.1/$DNSD_PORT"
rc=0
read -r -t 3 -u "$tcp3" _ || rc=$?
assert_eq 1 "$rc" "read on a third TCP connection from 127.0.0.1 (1: closed by the server, over 128: still open)"
settle "$DMP" moat_dnsd_tcp_connections_refused_total 1
is moat_dnsd_tcp_connections 2
grew_only moat_dnsd_tcp_connections_refused_total moat_dnsd_tcp_connections_refused_total 1
exec {tcp1}>&- {tcp2}>&- {tcp3}>&-
settle "$DMP" moat_dnsd_tcp_connections 0
is moat_dnsd_tcp_connections 0

step "a record added: one patched load, and the serial served"
BASE=$M
old=$(zone_serial "$D")
other_serial=$(zone_serial "$O")
lines=$(wc -l <"$DNSD_LOG")
moat record add "$D" www A 192.0.2.80 >/dev/null
deadline=$(($(now_ms) + 10000))
while [[ "$(zone_serial "$D")" == "$old" ]] && (($(now_ms) < deadline)); do sleep 0.05; done
new=$(zone_serial "$D")
[[ "$new" != "$old" ]] || fail "moat-dnsd did not serve a new serial of $D within 10 s" "not $old" "$new"
settle "$DMP" "moat_dnsd_zone_serial{zone=\"$D.\"}" "$new"
is "moat_dnsd_zone_serial{zone=\"$O.\"}" "$other_serial"
is moat_dnsd_zones 2
grew_only moat_dnsd_zone_loads_total 'moat_dnsd_zone_loads_total{result="patched"}' 1
made=$(signatures made "$DNSD_LOG" "$lines")
reused=$(signatures reused "$DNSD_LOG" "$lines")
((made > 0)) || fail "moat-dnsd's log says no signatures were made for the new record" "a number" "$(log_since "$DNSD_LOG" "$lines")"
grew_only moat_dnsd_signatures_total 'moat_dnsd_signatures_total{work="made"}' "$made" \
  'moat_dnsd_signatures_total{work="reused"}' "$reused"
echo "ok: serial $old -> $new, $made signatures made, $reused reused"

step "Response Rate Limiting (--rrl-rate 1 --rrl-slip 2): a burst of 20 identical queries"
DNSD_RRL=on start_dnsd "$D" 10 --metrics "127.0.0.1:$RMP" --rrl-rate 1 --rrl-slip 2 --state-dir ''
RRL_PID=$DNSD_PID
scrape "$RMP"
BASE=$M
read -r full slipped missing < <(python3 - "$DNSD_PORT" "ns1.$D" <<'PY'
import socket, struct, sys
port, qname = int(sys.argv[1]), sys.argv[2]
wire = b"".join(bytes([len(l)]) + l.encode() for l in qname.split(".")) + b"\0"
packet = struct.pack("!HHHHHH", 0x4242, 0, 1, 0, 0, 0) + wire + struct.pack("!HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
for _ in range(20):
    s.sendto(packet, ("127.0.0.1", port))
# Every answer comes at once over loopback: half a second of silence ends the count.
s.settimeout(0.5)
full = slipped = 0
while True:
    try:
        r = s.recv(4096)
    except (socket.timeout, TimeoutError):
        break
    flags, an = struct.unpack("!H", r[2:4])[0], struct.unpack("!H", r[6:8])[0]
    if flags & 0x200 and an == 0:
        slipped += 1
    else:
        full += 1
print(full, slipped, 20 - full - slipped)
PY
)
echo "burst: $full answered, $slipped slipped (TC), $missing never answered"
((full >= 1 && slipped > 0 && missing > 0)) ||
  fail "20 identical queries at --rrl-rate 1 --rrl-slip 2" "1 or more answered, some slipped, some dropped" "$full answered, $slipped slipped, $missing dropped"
settle "$RMP" 'moat_dnsd_rrl_answers_total{action="dropped"}' "$missing"
grew_only moat_dnsd_rrl_answers_total \
  'moat_dnsd_rrl_answers_total{action="dropped"}' "$missing" \
  'moat_dnsd_rrl_answers_total{action="slipped"}' "$slipped"
# Counted before the limit: all 20, the 19 after the first replayed from the answer cache.
grew_only moat_dnsd_queries_total 'moat_dnsd_queries_total{transport="udp",qtype="A"}' 20
grew_only moat_dnsd_responses_total 'moat_dnsd_responses_total{transport="udp",rcode="NOERROR"}' 20
grew_only moat_dnsd_answer_cache_hits_total moat_dnsd_answer_cache_hits_total 19
stop "$RRL_PID"

step "--metrics off: moat-dnsd listens for DNS only"
lines=$(wc -l <"$DNSD_LOG")
start_dnsd "$D" 10 --metrics off --state-dir ''
assert_eq "127.0.0.1:$DNSD_PORT" "$(listening "$DNSD_PID")" "TCP addresses moat-dnsd --metrics off listens on"
assert_not_contains "$(log_since "$DNSD_LOG" "$lines")" "metrics on" "the log of moat-dnsd --metrics off"
assert_not_contains "$(log_since "$DNSD_LOG" "$lines")" "no metrics" "the log of moat-dnsd --metrics off"
stop "$DNSD_PID"

step "an explicit --metrics that cannot be used: exit 1, one error line"
mapfile -t ports < <(free_ports 3)
LOOPBACK_ONLY="metrics listen on loopback only (127.0.0.0/8 or ::1), not"
refused_start "moat-dnsd --metrics 192.0.2.1:9999" "$LOOPBACK_ONLY 192.0.2.1:9999" \
  "$MOATD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:${ports[0]}" --state-dir '' --metrics 192.0.2.1:9999
refused_start "moat-dnsd --metrics [2001:db8::1]:9999" "$LOOPBACK_ONLY [2001:db8::1]:9999" \
  "$MOATD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:${ports[1]}" --state-dir '' --metrics '[2001:db8::1]:9999'
refused_start "moat-dnsd --metrics on a taken port" "cannot listen for metrics on 127.0.0.1:$DMP: Address already in use" \
  "$MOATD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:${ports[2]}" --state-dir '' --metrics "127.0.0.1:$DMP"

step "the default address 127.0.0.1:9353 taken: moat-dnsd warns and runs without metrics"
if hold_default_port 9353; then
  lines=$(wc -l <"$DNSD_LOG")
  start_dnsd "$D" 10 --state-dir ''
  assert_match "$(log_since "$DNSD_LOG" "$lines")" \
    '^[0-9T:.-]+ warning cannot listen for metrics on 127\.0\.0\.1:9353: .*\(no metrics; --metrics ADDR:PORT or off\)$' \
    "moat-dnsd's warning about the default metrics address"
  assert_eq "127.0.0.1:$DNSD_PORT" "$(listening "$DNSD_PID")" "TCP addresses moat-dnsd listens on without metrics"
  stop "$DNSD_PID"
  release_default_port 9353
else
  echo "skipped: 127.0.0.1:9353 is in use ($(cat "$WORK/hold-9353.out")), perhaps by another test's moat-dnsd"
fi
DNSD_PORT=$MAIN_PORT

# --- moat-httpsd -------------------------------------------------------------------------------
# https PATH [curl args...]: a request to $WEB, trusting only the test CA; prints the status, the
# body is in $WORK/resp.
https() {
  local path=$1
  shift
  curl -sS --max-time 5 --resolve "$WEB:$HTTPS_PORT:127.0.0.1" --cacert "$WORK/ca.pem" \
    -o "$WORK/resp" -w '%{http_code}' "$@" "https://$WEB:$HTTPS_PORT$path" 2>"$WORK/curl.err" || true
}
# start_httpsd LOG ARGS...: moat-httpsd on 127.0.0.1:$port; waits (at most 10 s) until its log
# says it serves the site, which takes no HTTPS request. Sets HTTPSD_PID.
start_httpsd() {
  local log=$1 deadline
  shift
  "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$port" --poll-ms 100 "$@" >>"$log" 2>&1 &
  HTTPSD_PID=$!
  track_pid "$HTTPSD_PID"
  deadline=$(($(now_ms) + 10000))
  until grep -q "info serving 1 site(s)" "$log"; do
    kill -0 "$HTTPSD_PID" 2>/dev/null || { cat "$log" >&2; die "moat-httpsd $* exited"; }
    (($(now_ms) < deadline)) || { cat "$log" >&2; die "moat-httpsd $* did not serve $WEB within 10 s"; }
    sleep 0.05
  done
}

step "moat-httpsd --metrics 127.0.0.1:PORT --max-connections-per-source 2; no HTTPS request yet"
scrape "$DMP"
DNSD_BEFORE=$M
mapfile -t ports < <(free_ports 6)
HMP=${ports[0]}
port=${ports[1]}
HTTPS_PORT=$port
start_httpsd "$WORK/httpsd.log" --metrics "127.0.0.1:$HMP" --max-connections-per-source 2
assert_contains "$(cat "$WORK/httpsd.log")" "info metrics on http://127.0.0.1:$HMP/metrics" "moat-httpsd's log line about its metrics"
listener "$HMP"
scrape "$HMP"
HTTPS_BASE=$M
families moat_httpsd_tls_handshakes_total:counter moat_httpsd_connections_refused_total:counter \
  moat_httpsd_responses_total:counter moat_httpsd_policy_fetches_total:counter \
  moat_httpsd_reports_total:counter
is 'moat_httpsd_tls_handshakes_total{result="ok"}' 0
is 'moat_httpsd_tls_handshakes_total{result="failed"}' 0
is moat_httpsd_connections_refused_total 0
assert_eq "" "$(grep -E '^moat_httpsd_(responses|reports)_total' "$M.norm")" "statuses and reports before any request"
# A host's fetch counter exists from the moment it is served (a series that starts at 0).
assert_eq 'moat_httpsd_policy_fetches_total{host="mta-sts.example.test"} 0' \
  "$(grep -E '^moat_httpsd_policy_fetches_total' "$M.norm")" "policy fetches before any request"

step "a policy fetch"
assert_eq 200 "$(https /.well-known/mta-sts.txt)" "GET the policy ($(cat "$WORK/curl.err"))"
assert_match "$(cat "$WORK/resp")" '^version: STSv1' "the policy"
settle "$HMP" "moat_httpsd_policy_fetches_total{host=\"$WEB\"}" 1
is 'moat_httpsd_responses_total{status="200"}' 1
is 'moat_httpsd_tls_handshakes_total{result="ok"}' 1
is 'moat_httpsd_tls_handshakes_total{result="failed"}' 0

step "a 404, and a handshake without SNI"
assert_eq 404 "$(https /other)" "GET /other"
settle "$HMP" 'moat_httpsd_responses_total{status="404"}' 1
is "moat_httpsd_policy_fetches_total{host=\"$WEB\"}" 1
out=$(timeout 5 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -noservername </dev/null 2>&1 || true)
assert_contains "$out" "unrecognized name" "openssl s_client -noservername"
settle "$HMP" 'moat_httpsd_tls_handshakes_total{result="failed"}' 1
is 'moat_httpsd_tls_handshakes_total{result="ok"}' 2

step "TLS reports: one taken (201), the same again (200), one about another domain (403)"
report() { https /.well-known/tlsrpt --data-binary "@$1" -H 'Content-Type: application/tlsrpt+json'; }
assert_eq 201 "$(report "$WORK/report.json")" "POST the report ($(cat "$WORK/curl.err" "$WORK/resp"))"
settle "$HMP" 'moat_httpsd_reports_total{status="201"}' 1
assert_eq 200 "$(report "$WORK/report.json")" "POST the report again ($(cat "$WORK/curl.err" "$WORK/resp"))"
assert_eq "report already received" "$(cat "$WORK/resp")" "the answer to the same report again"
settle "$HMP" 'moat_httpsd_reports_total{status="200"}' 1
assert_eq 403 "$(report "$EXAMPLE")" "POST RFC 8460's example, about company-y.example"
settle "$HMP" 'moat_httpsd_reports_total{status="403"}' 1
BASE=$HTTPS_BASE
grew_only moat_httpsd_reports_total \
  'moat_httpsd_reports_total{status="201"}' 1 \
  'moat_httpsd_reports_total{status="200"}' 1 \
  'moat_httpsd_reports_total{status="403"}' 1
# A 200 to a report is no policy fetch.
grew_only moat_httpsd_policy_fetches_total "moat_httpsd_policy_fetches_total{host=\"$WEB\"}" 1
grew_only moat_httpsd_responses_total \
  'moat_httpsd_responses_total{status="200"}' 2 \
  'moat_httpsd_responses_total{status="201"}' 1 \
  'moat_httpsd_responses_total{status="403"}' 1 \
  'moat_httpsd_responses_total{status="404"}' 1
grew_only moat_httpsd_tls_handshakes_total \
  'moat_httpsd_tls_handshakes_total{result="ok"}' 5 \
  'moat_httpsd_tls_handshakes_total{result="failed"}' 1
grew_only moat_httpsd_connections_refused_total

step "connections over --max-connections-per-source 2 are refused, and counted"
hold_start 127.0.0.2 "$HTTPS_PORT" 2 "$WORK/ca.pem"
assert_eq "third: closed" "$(head -n1 "$WORK/hold.out")" "a third connection from 127.0.0.2"
settle "$HMP" moat_httpsd_connections_refused_total 1
is 'moat_httpsd_tls_handshakes_total{result="ok"}' 7
is 'moat_httpsd_tls_handshakes_total{result="failed"}' 1
hold_release
assert_eq "held 2" "$(tail -n1 "$WORK/hold.out")" "the TLS connections held from 127.0.0.2"

step "moat-dnsd follows what moat-httpsd serves: the _mta-sts TXT record is one more patched load"
deadline=$(($(now_ms) + 10000))
until [[ "$(q "_mta-sts.$D" TXT +short)" == *v=STSv1* ]]; do
  (($(now_ms) < deadline)) || { fail "moat-dnsd serves no _mta-sts.$D TXT within 10 s"; break; }
  sleep 0.05
done
serial=$(zone_serial "$D")
settle "$DMP" "moat_dnsd_zone_serial{zone=\"$D.\"}" "$serial"
BASE=$DNSD_BEFORE
grew_only moat_dnsd_zone_loads_total 'moat_dnsd_zone_loads_total{result="patched"}' 1

step "moat-httpsd: --metrics off, and explicit addresses it cannot use"
port=${ports[2]}
start_httpsd "$WORK/httpsd-off.log" --metrics off
assert_eq "127.0.0.1:$port" "$(listening "$HTTPSD_PID")" "TCP addresses moat-httpsd --metrics off listens on"
assert_not_contains "$(cat "$WORK/httpsd-off.log")" "metrics on" "the log of moat-httpsd --metrics off"
assert_not_contains "$(cat "$WORK/httpsd-off.log")" "no metrics" "the log of moat-httpsd --metrics off"
stop "$HTTPSD_PID"
refused_start "moat-httpsd --metrics 192.0.2.1:9999" "$LOOPBACK_ONLY 192.0.2.1:9999" \
  "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:${ports[3]}" --metrics 192.0.2.1:9999
refused_start "moat-httpsd --metrics on a taken port" "cannot listen for metrics on 127.0.0.1:$HMP: Address already in use" \
  "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:${ports[4]}" --metrics "127.0.0.1:$HMP"

step "the default address 127.0.0.1:9354 taken: moat-httpsd warns and runs without metrics"
if hold_default_port 9354; then
  port=${ports[5]}
  start_httpsd "$WORK/httpsd-default.log"
  assert_match "$(cat "$WORK/httpsd-default.log")" \
    '^[0-9T:.-]+ warning cannot listen for metrics on 127\.0\.0\.1:9354: .*\(no metrics; --metrics ADDR:PORT or off\)$' \
    "moat-httpsd's warning about the default metrics address"
  assert_eq "127.0.0.1:$port" "$(listening "$HTTPSD_PID")" "TCP addresses moat-httpsd listens on without metrics"
  stop "$HTTPSD_PID"
  release_default_port 9354
else
  echo "skipped: 127.0.0.1:9354 is in use ($(cat "$WORK/hold-9354.out")), perhaps by another test's moat-httpsd"
fi

lint_all
