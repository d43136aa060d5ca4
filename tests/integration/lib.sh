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
    "$MOATD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$DNSD_PORT" "$@" >>"$DNSD_LOG" 2>&1 &
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
