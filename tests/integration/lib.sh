# shellcheck shell=bash
# Shared helpers of the integration tests. Sourced by every tests/integration/*.sh:
#   source "$(dirname "$0")/lib.sh"
#
# Gives each test a fresh temporary directory ($WORK) and database ($MOAT_DB) removed at exit,
# starts moat-dnsd on a free loopback port and stops it at exit, and the assertions.
# Inputs (set by ctest): MOAT_BIN, MOATD_BIN, MOAT_SRC.
# Set MOAT_TEST_KEEP=1 to keep $WORK (with dnsd.log) for a look after a failure.
set -euo pipefail

: "${MOAT_BIN:?MOAT_BIN must name the moat CLI binary}"
: "${MOATD_BIN:?MOATD_BIN must name the moat-dnsd binary}"
: "${MOAT_SRC:?MOAT_SRC must name the source tree}"

TEST_NAME=$(basename "$0" .sh)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/moat-$TEST_NAME.XXXXXX")
export MOAT_DB=$WORK/moat.db
LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export RAW=$LIB_DIR/dnsraw.py # raw packets dig will not send

# Pids this test started (moat-dnsd instances, background loops); stopped at exit.
_lib_pids=()
# Logs of the peers started here (knotd, nsd), shown at exit after a failure.
_lib_peer_logs=()

_lib_cleanup() {
  local rc=$?
  set +e
  if [[ -s "$WORK/failures" ]]; then
    echo "$(wc -l <"$WORK/failures") check(s) failed:"
    sed 's/^/  - /' "$WORK/failures"
    ((rc != 0)) || rc=1
  fi
  for pid in "${_lib_pids[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${_lib_pids[@]}"; do
    wait "$pid" 2>/dev/null
  done
  if ((rc != 0)) && [[ -n "${DNSD_LOG:-}" && -f "$DNSD_LOG" ]]; then
    echo "--- last lines of $DNSD_LOG"
    tail -n 30 "$DNSD_LOG"
  fi
  if ((rc != 0)); then
    for log in "${_lib_peer_logs[@]}"; do
      [[ -f "$log" ]] || continue
      echo "--- last lines of $log"
      tail -n 30 "$log"
    done
  fi
  if [[ "${MOAT_TEST_KEEP:-}" == 1 ]]; then
    echo "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  if ((rc == 0)); then
    echo "PASS: $TEST_NAME"
  else
    echo "FAIL: $TEST_NAME (exit $rc)"
  fi
  exit "$rc"
}
trap _lib_cleanup EXIT

# Remembers a background pid so that it is stopped at exit.
track_pid() { _lib_pids+=("$1"); }

# fail MESSAGE [EXPECTED ACTUAL]: prints what went wrong (and what was expected and got) and
# ends the test. A test that sets SOFT_FAIL=1 goes on after a failed check instead, so that one
# run lists every failure, and still exits 1 at the end.
fail() {
  echo "FAIL: $1" >&2
  if (($# >= 3)); then
    echo "  expected: $2" >&2
    echo "  actual:   $3" >&2
  fi
  if [[ "${SOFT_FAIL:-}" == 1 ]]; then
    echo "$1" >>"$WORK/failures"
    return 0
  fi
  exit 1
}

# die MESSAGE: ends the test now, whatever SOFT_FAIL says (nothing sensible can follow).
die() {
  SOFT_FAIL=0
  fail "$@"
}

# step TEXT: says what the test does next.
step() { echo "== $*"; }

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
  [[ "$1" == "$2" ]] || fail "$3" "$1" "$2"
}

# assert_contains HAYSTACK NEEDLE WHAT (fixed string)
assert_contains() {
  grep -qF -- "$2" <<<"$1" || fail "$3: output does not contain '$2'" "'$2' in the output" "$1"
}

# assert_not_contains HAYSTACK NEEDLE WHAT (fixed string)
assert_not_contains() {
  if grep -qF -- "$2" <<<"$1"; then
    fail "$3: output contains '$2'" "no '$2' in the output" "$1"
  fi
}

# assert_match HAYSTACK REGEX WHAT (extended regex)
assert_match() {
  grep -qE -- "$2" <<<"$1" || fail "$3: output does not match /$2/" "a line matching /$2/" "$1"
}

# require_tools TOOL...: a missing tool fails the test (it is not a reason to skip it).
require_tools() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null 2>&1 || die "required tool '$t' is not installed (run scripts/install-deps)"
  done
}
require_tools python3 dig sha256sum

# moat ARGS...: the CLI under test, on $MOAT_DB.
moat() { "$MOAT_BIN" "$@"; }

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# free_port: prints a port that is free on 127.0.0.1 for both UDP and TCP.
free_port() {
  python3 - <<'PY'
import socket
for _ in range(100):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        u.close()
        t.close()
    print(port)
    break
else:
    raise SystemExit("no free port")
PY
}

# new_domain DOMAIN [moat domain add options...]: a domain with ns1.DOMAIN=127.0.0.1.
new_domain() {
  local d=$1
  shift
  moat domain add "$d" --ns "ns1.$d=127.0.0.1" --soa-email "hostmaster@$d" "$@" >/dev/null
}

# soa_served ZONE: true when the server at $DNSD_PORT answers ZONE's SOA. (dig prints its
# errors, "connection refused" included, on stdout even with +short: look at the answer itself.)
soa_served() {
  local out
  out=$(dig @127.0.0.1 -p "$DNSD_PORT" "$1" SOA +short +norecurse +time=1 +tries=1 2>/dev/null) || return 1
  [[ "$out" =~ ^[^\;[:space:]]+\.[[:space:]][^[:space:]]+\.[[:space:]][0-9]+[[:space:]] ]]
}

# start_dnsd ZONE [TIMEOUT_S] [extra moat-dnsd args...]
# Starts moat-dnsd on $MOAT_DB at 127.0.0.1:$DNSD_PORT (a free port), logging to $DNSD_LOG,
# and waits until it answers the SOA of ZONE (at most TIMEOUT_S seconds, default 10).
# Sets DNSD_PID, DNSD_PORT, DNSD_LOG. The server is stopped at exit.
start_dnsd() {
  local zone=$1 timeout=${2:-10}
  shift $(($# >= 2 ? 2 : 1))
  DNSD_LOG=$WORK/dnsd.log
  local attempt
  for attempt in 1 2 3; do
    DNSD_PORT=$(free_port)
    # Tests fire bursts of identical queries from one address, which Response Rate Limiting
    # (on by default) is there to stop; only the test of RRL itself (DNSD_RRL=on) keeps it.
    local rrl=(--rrl-rate 0)
    [[ "${DNSD_RRL:-off}" == on ]] && rrl=()
    "$MOATD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$DNSD_PORT" "${rrl[@]}" "$@" >>"$DNSD_LOG" 2>&1 &
    DNSD_PID=$!
    track_pid "$DNSD_PID"
    local start deadline
    start=$(now_ms)
    deadline=$((start + timeout * 1000))
    while (($(now_ms) < deadline)); do
      if ! kill -0 "$DNSD_PID" 2>/dev/null; then
        break # died: perhaps the port was taken meanwhile; try another one
      fi
      if soa_served "$zone"; then
        echo "moat-dnsd (pid $DNSD_PID) serves $zone on 127.0.0.1:$DNSD_PORT after $(($(now_ms) - start)) ms"
        return 0
      fi
      sleep 0.05
    done
    if kill -0 "$DNSD_PID" 2>/dev/null; then
      cat "$DNSD_LOG" >&2
      die "moat-dnsd did not answer the SOA of $zone within $timeout s"
    fi
    if ! grep -qiE 'address already in use|in use' "$DNSD_LOG"; then
      cat "$DNSD_LOG" >&2
      die "moat-dnsd exited at start (attempt $attempt)"
    fi
  done
  cat "$DNSD_LOG" >&2
  die "moat-dnsd could not bind a free port in 3 attempts"
}

# q ARGS...: dig at the running moat-dnsd (no recursion, one try, 2 s timeout). A timeout is
# not an error here: the output says so, and the checks on it fail with that output.
q() { dig @127.0.0.1 -p "$DNSD_PORT" +norecurse +time=2 +tries=1 "$@" 2>&1 || true; }

# kq ARGS...: kdig at the running moat-dnsd (same conventions).
kq() { kdig @127.0.0.1 -p "$DNSD_PORT" +norecurse +time=2 +retry=0 "$@" 2>&1 || true; }

# dig_status OUTPUT: the rcode of a dig answer (NOERROR, NXDOMAIN, ...).
dig_status() { sed -n 's/.*status: \([A-Z0-9]*\),.*/\1/p' <<<"$1" | head -n1; }

# dig_flags OUTPUT: the header flags of a dig answer ("qr aa rd").
dig_flags() { sed -n 's/^;; flags: \([^;]*\);.*/\1/p' <<<"$1" | head -n1; }

# dig_section OUTPUT NAME: the records of one section (ANSWER, AUTHORITY, ADDITIONAL) of a dig
# answer printed with the default options, one per line, without comments.
dig_section() {
  awk -v s=";; $2 SECTION:" '
    $0 == s { on = 1; next }
    on && /^$/ { exit }
    on && !/^;/ { print }' <<<"$1"
}

# section_types OUTPUT NAME: the sorted, unique types in one section.
section_types() { dig_section "$1" "$2" | awk '{ print $4 }' | sort -u | tr '\n' ' ' | sed 's/ $//'; }

# trust_anchor DOMAIN FILE: writes delv's trust anchor for DOMAIN (from the running server).
trust_anchor() {
  "$MOAT_SRC/scripts/trust-anchor" 127.0.0.1 "$DNSD_PORT" "$1" >"$2" ||
    die "scripts/trust-anchor found no KSK for $1"
}

# delv_q TA_FILE DOMAIN QNAME QTYPE: delv at the running server with DOMAIN's KSK as anchor.
delv_q() {
  delv @127.0.0.1 -p "$DNSD_PORT" -a "$1" +root="$2" "$3" "$4" 2>&1 || true
}

# expect_validated TA_FILE DOMAIN QNAME QTYPE [NEEDLE]: delv says "fully validated" (and NEEDLE).
expect_validated() {
  local out
  out=$(delv_q "$@")
  assert_contains "$out" "fully validated" "delv $3 $4 (anchor $2)"
  if (($# >= 5)); then
    assert_contains "$out" "$5" "delv $3 $4 (anchor $2)"
  fi
}

# zone_serial DOMAIN: the SOA serial the running server gives.
zone_serial() { q "$1" SOA +short | awk '{ print $3 }'; }

# --- real secondaries (Knot DNS, NSD) pulling from a primary on 127.0.0.1 ------------------------
# Both run unprivileged in the foreground from a directory under $WORK (every path is set in their
# config), listen on ADDR (a loopback address, 127.0.0.1 unless told) at a free port, pull ZONE
# from 127.0.0.1@PRIMARY_PORT from ADDR (so a primary can tell them apart by source address) with
# the TSIG key, and take NOTIFY from 127.0.0.1 only when it is signed with that key.
# Proven against a knotd primary and a logging proxy (Knot DNS 3.2.6, NSD 4.6.1):
# - with no zone, both ask AXFR over TCP at once (no SOA query first);
# - once they hold it, a NOTIFY makes knotd ask the SOA then IXFR, both over TCP on one connection,
#   and nsd ask IXFR over TCP straight away; neither ever asks over UDP. knotd's queries carry EDNS
#   and TSIG, nsd's TSIG only; knotd ignores a NOTIFY whose serial is the one it has;
# - both take a full zone in answer to IXFR; knotd ends an IXFR only at an SOA equal (rdata, not
#   TTL) to the first one: otherwise it waits 5 s, then logs "fallback to AXFR (connection timeout)"
#   and asks AXFR. nsd checks serials only, but refuses ("bad transfer") an IXFR whose first
#   difference does not start at its own serial, which knotd takes.
# Their refresh and retry are held at SECONDARY_HOLD_S whatever the SOA says: a secondary that
# follows a change within seconds was told by NOTIFY (or, after a failed transfer, waits an hour).
# Log lines (knotd "any: info" in KNOT_LOG, nsd verbosity 2 in NSD_LOG; P = primary port):
#   knotd IXFR   "[Z.] IXFR, incoming, remote 127.0.0.1@P, finished, 0.00 seconds, 1 messages, 1025 bytes"
#         AXFR   "[Z.] AXFR, incoming, remote 127.0.0.1@P, finished, 0.00 seconds, 1 messages, 9992 bytes"
#         a full zone for IXFR: "[Z.] IXFR, incoming, remote 127.0.0.1@P, receiving AXFR-style IXFR"
#                then the AXFR lines
#         after either: "[Z.] refresh, remote 127.0.0.1@P, zone updated, 0.00 seconds, serial 2 -> 3, ..."
#         NOTIFY "[Z.] notify, incoming, remote 127.0.0.1@PORT, serial 3" ("serial none" without the
#                SOA); one unsigned or with a wrong key is answered NOTAUTH or BADSIG, unlogged
#         REFUSED "[Z.] AXFR, incoming, remote 127.0.0.1@P, server responded with error 'REFUSED'"
#                then "[Z.] refresh, remote primary, address 127.0.0.1@P, failed (not allowed)"
#         BADSIG and BADKEY alike:
#                "[Z.] refresh, remote primary, address 127.0.0.1@P, failed (failed to verify TSIG)"
#   nsd   IXFR and AXFR alike (nsd does not say which; the size tells, and the primary knows):
#                "xfrd: zone Z committed "received update to serial 3 at ... from 127.0.0.1@P
#                TSIG verified with key xfr-key"" and "zone Z. received update to serial 3 at ...
#                from 127.0.0.1@P TSIG verified with key xfr-key of 1006 bytes in 9.2e-05 seconds"
#                (the AXFR of the same zone: 9973 bytes)
#         NOTIFY "notify for Z. from 127.0.0.1 serial 3" (no " serial 3" without the SOA); unsigned:
#                "notify for Z. from 127.0.0.1 refused, no acl matches." (answered REFUSED), wrong
#                key: "error: query: bad tsig signature for key xfr-key. from 127.0.0.1" (BADSIG)
#         REFUSED "xfrd: zone Z received error code REFUSED from 127.0.0.1@P"
#         BADSIG "xfrd: zone Z received error code SERVER NOT AUTHORITATIVE FOR ZONE from
#                127.0.0.1@P" then "xfrd: zone Z, from 127.0.0.1@P: tsig error (Bad Signature)"
#         BADKEY the same with "tsig error (Bad Key)"
SECONDARY_HOLD_S=3600

# _secondary_wait_up NAME PID ADDR PORT LOG TIMEOUT_S: true once the server at ADDR:PORT answers a
# query (any rcode), false when PID died first; dies when it neither answers nor dies in time.
_secondary_wait_up() {
  local name=$1 pid=$2 addr=$3 port=$4 log=$5 timeout=$6 deadline out
  deadline=$(($(now_ms) + timeout * 1000))
  while (($(now_ms) < deadline)); do
    kill -0 "$pid" 2>/dev/null || return 1
    out=$(kdig @"$addr" -p "$port" +norecurse +time=1 +retry=0 . SOA 2>&1) || true
    [[ "$out" == *"->>HEADER<<-"* ]] && return 0
    sleep 0.05
  done
  cat "$log" >&2
  die "$name did not answer on $addr:$port within $timeout s"
}

# start_knotd_secondary ZONE PRIMARY_PORT KEYNAME ALG SECRET [ADDR [TIMEOUT_S]]
# Starts knotd as a secondary of ZONE (see above) and waits until it answers queries (not until
# it has the zone: use wait_serial). When KNOT_PORT is set already (from free_port, so that the
# primary could be told it first) knotd listens there, else at a free port. Sets and exports
# KNOT_ADDR and KNOT_PORT; sets KNOT_PID, KNOT_DIR, KNOT_LOG and KNOT_CONF (`knotc -c "$KNOT_CONF"
# zone-status ZONE` works). Stopped at exit.
start_knotd_secondary() {
  local zone=${1%.} primary_port=$2 key=$3 alg=$4 secret=$5 timeout=${7:-10}
  require_tools knotd kdig
  KNOT_ADDR=${6:-127.0.0.1}
  KNOT_DIR=$WORK/knotd
  KNOT_LOG=$KNOT_DIR/knotd.log
  KNOT_CONF=$KNOT_DIR/knotd.conf
  export KNOT_ADDR
  mkdir -p "$KNOT_DIR"
  _lib_peer_logs+=("$KNOT_LOG")
  local attempt attempts=3 preset=${KNOT_PORT:-}
  [[ -n "$preset" ]] && attempts=1
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    KNOT_PORT=${preset:-$(free_port)}
    export KNOT_PORT
    # No "user": knotd runs as us. "via" is the source address of its queries to the primary.
    cat >"$KNOT_CONF" <<KNOT
server:
    rundir: "$KNOT_DIR"
    pidfile: "$KNOT_DIR/knotd.pid"
    listen: $KNOT_ADDR@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$KNOT_DIR"
control:
    listen: "$KNOT_DIR/knot.sock"
log:
  - target: "$KNOT_LOG"
    any: info
key:
  - id: $key
    algorithm: $alg
    secret: $secret
remote:
  - id: primary
    address: 127.0.0.1@$primary_port
    via: $KNOT_ADDR
    key: $key
acl:
  - id: notify-from-primary
    address: 127.0.0.1
    key: $key
    action: notify
template:
  - id: default
    storage: "$KNOT_DIR"
    file: "$KNOT_DIR/%s.zone"
    refresh-min-interval: $SECONDARY_HOLD_S
    retry-min-interval: $SECONDARY_HOLD_S
zone:
  - domain: $zone.
    master: primary
    acl: notify-from-primary
KNOT
    knotd -c "$KNOT_CONF" >>"$KNOT_LOG" 2>&1 &
    KNOT_PID=$!
    track_pid "$KNOT_PID"
    if _secondary_wait_up knotd "$KNOT_PID" "$KNOT_ADDR" "$KNOT_PORT" "$KNOT_LOG" "$timeout"; then
      echo "knotd (pid $KNOT_PID) on $KNOT_ADDR:$KNOT_PORT, secondary of $zone from 127.0.0.1:$primary_port"
      return 0
    fi
  done
  cat "$KNOT_LOG" >&2
  die "knotd exited at start ($attempts attempt(s), the last on port $KNOT_PORT)"
}

# start_nsd_secondary ZONE PRIMARY_PORT KEYNAME ALG SECRET [ADDR [TIMEOUT_S]]
# The same with NSD. Sets and exports NSD_ADDR and NSD_PORT (a preset NSD_PORT is used); sets
# NSD_PID, NSD_DIR, NSD_LOG, NSD_CONF.
start_nsd_secondary() {
  local zone=${1%.} primary_port=$2 key=$3 alg=$4 secret=$5 timeout=${7:-10}
  require_tools nsd kdig
  NSD_ADDR=${6:-127.0.0.1}
  NSD_DIR=$WORK/nsd
  NSD_LOG=$NSD_DIR/nsd.log
  NSD_CONF=$NSD_DIR/nsd.conf
  export NSD_ADDR
  mkdir -p "$NSD_DIR"
  _lib_peer_logs+=("$NSD_LOG")
  local attempt attempts=3 preset=${NSD_PORT:-}
  [[ -n "$preset" ]] && attempts=1
  for ((attempt = 1; attempt <= attempts; attempt++)); do
    NSD_PORT=${preset:-$(free_port)}
    export NSD_PORT
    # request-xfr without AXFR or UDP: IXFR over TCP, and a full zone taken when one comes back.
    # outgoing-interface is the source address of its transfers (and of nothing else here).
    cat >"$NSD_CONF" <<NSDCONF
server:
    ip-address: $NSD_ADDR
    port: $NSD_PORT
    do-ip6: no
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$NSD_DIR"
    zonelistfile: "$NSD_DIR/zone.list"
    xfrdfile: "$NSD_DIR/xfrd.state"
    xfrdir: "$NSD_DIR"
    pidfile: "$NSD_DIR/nsd.pid"
    logfile: "$NSD_LOG"
    verbosity: 2
    server-count: 1
    rrl-ratelimit: 0
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
key:
    name: "$key"
    algorithm: $alg
    secret: "$secret"
zone:
    name: "$zone"
    zonefile: "$NSD_DIR/$zone.zone"
    request-xfr: 127.0.0.1@$primary_port $key
    outgoing-interface: $NSD_ADDR
    allow-notify: 127.0.0.1 $key
    min-refresh-time: $SECONDARY_HOLD_S
    min-retry-time: $SECONDARY_HOLD_S
NSDCONF
    nsd -d -c "$NSD_CONF" >>"$NSD_LOG" 2>&1 &
    NSD_PID=$!
    track_pid "$NSD_PID"
    if _secondary_wait_up nsd "$NSD_PID" "$NSD_ADDR" "$NSD_PORT" "$NSD_LOG" "$timeout"; then
      echo "nsd (pid $NSD_PID) on $NSD_ADDR:$NSD_PORT, secondary of $zone from 127.0.0.1:$primary_port"
      return 0
    fi
  done
  cat "$NSD_LOG" >&2
  die "nsd exited at start ($attempts attempt(s), the last on port $NSD_PORT)"
}

# soa_serial_at ADDR PORT ZONE: the SOA serial the server at ADDR:PORT gives (empty if none).
soa_serial_at() {
  kdig @"$1" -p "$2" +norecurse +time=1 +retry=0 "$3" SOA +short 2>/dev/null |
    awk 'NF == 7 && $3 ~ /^[0-9]+$/ { print $3; exit }' || true
}

# wait_serial NAME ADDR PORT ZONE SERIAL [TIMEOUT_S]: polls every 50 ms, at most TIMEOUT_S
# (default 10), until the server at ADDR:PORT serves ZONE with SERIAL or a later one (RFC 1982).
# Sets WAIT_MS (how long it took) and WAIT_LAST (the last serial seen); false after a timeout.
wait_serial() {
  local name=$1 addr=$2 port=$3 zone=$4 want=$5 timeout=${6:-10} start
  start=$(now_ms)
  while :; do
    WAIT_LAST=$(soa_serial_at "$addr" "$port" "$zone")
    WAIT_MS=$(($(now_ms) - start))
    if [[ -n "$WAIT_LAST" ]] && (((WAIT_LAST - want + 4294967296) % 4294967296 < 2147483648)); then
      echo "$name serves $zone serial $WAIT_LAST after $WAIT_MS ms"
      return 0
    fi
    ((WAIT_MS < timeout * 1000)) || return 1
    sleep 0.05
  done
}

# delv_q_at ADDR PORT TA_FILE DOMAIN QNAME QTYPE, expect_validated_at ADDR PORT TA_FILE DOMAIN
# QNAME QTYPE [NEEDLE]: delv_q and expect_validated against the server at ADDR:PORT.
delv_q_at() {
  local addr=$1 port=$2
  shift 2
  delv @"$addr" -p "$port" -a "$1" +root="$2" "$3" "$4" 2>&1 || true
}
expect_validated_at() {
  local addr=$1 port=$2 out
  shift 2
  out=$(delv_q_at "$addr" "$port" "$@")
  assert_contains "$out" "fully validated" "delv $3 $4 at $addr:$port (anchor $2)"
  if (($# >= 5)); then
    assert_contains "$out" "$5" "delv $3 $4 at $addr:$port (anchor $2)"
  fi
}

# --- pebble, the ACME test server ----------------------------------------------------------------
# start_pebble DNS_PORT [TIMEOUT_S]: pebble on free loopback ports, resolving the names it validates
# at 127.0.0.1:DNS_PORT, its own HTTPS signed by a test CA made here (certbot trusts it through
# REQUESTS_CA_BUNDLE="$PEBBLE_CA"). No sleeps in its validation authority, no nonces rejected at
# random, no reuse of earlier authorizations, and every challenge really validated
# (PEBBLE_VA_ALWAYS_VALID is taken out of its environment). Waits until it serves its directory.
# Sets PEBBLE_PORT (https://127.0.0.1:$PEBBLE_PORT/dir), PEBBLE_HTTP01_PORT (where it asks HTTP-01),
# PEBBLE_CA, PEBBLE_LOG and PEBBLE_PID. Stopped at exit.
# Proven (pebble 2.4.0, a logging proxy before knotd): one DNS-01 validation is three TXT queries for
# _acme-challenge.NAME at once ("Starting 3 validations" in its log), over UDP, RD set, no EDNS, no
# TSIG; an NXDOMAIN answer or a missing value fails the authorization at once ("Error retrieving TXT
# records for DNS challenge" / "returned an unsuccessful response: '\x03'"), with no retry.
start_pebble() {
  local dns_port=$1 timeout=${2:-15} dir=$WORK/pebble deadline
  require_tools pebble openssl curl
  mkdir -p "$dir"
  PEBBLE_CA=$dir/ca.pem
  PEBBLE_LOG=$dir/pebble.log
  _lib_peer_logs+=("$PEBBLE_LOG")
  (
    cd "$dir"
    exec >>openssl.log 2>&1
    ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj "/CN=pebble test CA"
    openssl req -new "${ec[@]}" -keyout pebble.key -out pebble.csr -subj /CN=127.0.0.1 \
      -addext "subjectAltName=IP:127.0.0.1,DNS:localhost"
    openssl x509 -req -in pebble.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 2 \
      -copy_extensions copy -out pebble.pem
  ) || die "openssl could not make pebble's certificate: $(tail -n 5 "$dir/openssl.log")"
  PEBBLE_PORT=$(free_port)
  PEBBLE_HTTP01_PORT=$(free_port)
  local mgmt_port tlsalpn_port
  mgmt_port=$(free_port)
  tlsalpn_port=$(free_port)
  cat >"$dir/pebble.json" <<PEBBLE
{
  "pebble": {
    "listenAddress": "127.0.0.1:$PEBBLE_PORT",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$dir/pebble.pem",
    "privateKey": "$dir/pebble.key",
    "httpPort": $PEBBLE_HTTP01_PORT,
    "tlsPort": $tlsalpn_port,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": false
  }
}
PEBBLE
  env -u PEBBLE_VA_ALWAYS_VALID PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
    pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$dns_port" >"$PEBBLE_LOG" 2>&1 &
  PEBBLE_PID=$!
  track_pid "$PEBBLE_PID"
  deadline=$(($(now_ms) + timeout * 1000))
  until curl -sf --max-time 2 --cacert "$PEBBLE_CA" -o /dev/null "https://127.0.0.1:$PEBBLE_PORT/dir"; do
    kill -0 "$PEBBLE_PID" 2>/dev/null || { cat "$PEBBLE_LOG" >&2; die "pebble exited at start"; }
    (($(now_ms) < deadline)) || { cat "$PEBBLE_LOG" >&2; die "pebble did not answer within $timeout s"; }
    sleep 0.05
  done
  echo "pebble (pid $PEBBLE_PID) serves https://127.0.0.1:$PEBBLE_PORT/dir, resolving at 127.0.0.1:$dns_port"
}

# Used by the certificate tests (certbot_deploy, acme_dns01); both need $D and $WAIT_MS.
# wait_served [DOMAIN]: waits until moat-dnsd serves the current serial of DOMAIN (default $D),
# as its ack in the store says and as its SOA answer shows. Sets SERVED_SERIAL and SERVED_AT
# (Unix time of the ack).
wait_served() {
  local d=${1:-$D} deadline line
  deadline=$(($(now_ms) + WAIT_MS))
  while :; do
    line=$(moat status "$d" | head -n1)
    if [[ $line =~ serial\ ([0-9]+),\ moat-dnsd\ serves\ serial\ ([0-9]+)\ since\ ([0-9T:Z-]+) ]] &&
      [[ ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" ]]; then
      SERVED_SERIAL=${BASH_REMATCH[1]}
      SERVED_AT=$(date -u -d "${BASH_REMATCH[3]}" +%s)
      break
    fi
    (($(now_ms) < deadline)) || die "moat-dnsd did not serve the current serial of $d within $WAIT_MS ms" "the current serial served" "$line"
    sleep 0.05
  done
  assert_eq "$SERVED_SERIAL" "$(zone_serial "$d")" "SOA serial moat-dnsd answers for $d"
}

# go_live_time: waits until `moat status` gives the moment the staged certificate may go live
# (it gives one only once moat-dnsd has served the serial with its TLSA). Prints it (Unix time).
# The test does not take it on trust: it is compared with its own reckoning.
go_live_time() {
  local deadline t
  deadline=$(($(now_ms) + WAIT_MS))
  while :; do
    t=$(moat --json status "$D" |
      jq -r 'first(.pending[] | select((.step | endswith("goes live")) and .not_before) | .not_before) // ""')
    [[ -z $t ]] || break
    (($(now_ms) < deadline)) || die "moat status gave no go-live time within $WAIT_MS ms" "a not_before" "$(moat status "$D")"
    sleep 0.05
  done
  date -u -d "$t" +%s
}
