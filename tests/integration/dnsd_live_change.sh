#!/usr/bin/env bash
# A change made with the CLI while moat-dnsd runs is served, signed and validating within one
# second, without a restart and without dropping a query; the SOA serial goes up each time.
# moat-dnsd runs three UDP workers, each with its own socket and answer cache: once a change is
# seen, a dozen more queries from fresh source ports (spread over the workers by SO_REUSEPORT)
# must all see it, so that no worker answers from a stale snapshot or cache.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
require_tools delv

D=live.test
BOUND_MS=1000  # what the issue promises
WAIT_MS=3000   # how long we look, so that a slow run reports its time instead of timing out

moat init >/dev/null
new_domain "$D"
moat record add "$D" @ MX 10 mail >/dev/null
moat record add "$D" mail A 192.0.2.25 >/dev/null
start_dnsd "$D" 10 --workers 3
trust_anchor "$D" "$WORK/ta.conf"
expect_validated "$WORK/ta.conf" "$D" "mail.$D" A "192.0.2.25"

# Queries in a loop for the whole test, alternately over UDP and TCP; every one must be answered
# with the right address.
load_loop() {
  local n=0 bad=0 out proto
  while [[ ! -e "$WORK/stop" ]]; do
    proto=+notcp
    ((n % 2)) && proto=+tcp
    out=$(dig @127.0.0.1 -p "$DNSD_PORT" +norecurse +time=1 +tries=1 "$proto" "mail.$D" A +short 2>&1) || true
    if [[ "$out" != "192.0.2.25" ]]; then
      bad=$((bad + 1))
      echo "query $n ($proto): '$out'" >>"$WORK/load.failures"
    fi
    n=$((n + 1))
  done
  echo "$n $bad" >"$WORK/load.result"
}
load_loop &
track_pid $!
loop_pid=$!

# wait_for WHAT COMMAND...: runs COMMAND every 50 ms until it succeeds (at most WAIT_MS);
# prints the milliseconds it took, or fails.
wait_for() {
  local what=$1 start elapsed
  shift
  start=$(now_ms)
  while :; do
    if "$@"; then
      elapsed=$(($(now_ms) - start))
      echo "$what after $elapsed ms" >&2
      echo "$elapsed"
      return 0
    fi
    elapsed=$(($(now_ms) - start))
    ((elapsed < WAIT_MS)) || fail "$what: not seen within $WAIT_MS ms"
    sleep 0.05
  done
}
# The checks take extra dig arguments (dig sends a DNS COOKIE unless told +nocookie). A worker's
# answer cache keeps answers to queries without a cookie and answers both kinds from them.
serves_new() { [[ "$(q "new.$D" A +short "$@")" == "192.0.2.77" ]]; }
new_is_gone() { [[ "$(dig_status "$(q "new.$D" A "$@")")" == NXDOMAIN ]]; }
# every_worker WHAT CHECK: CHECK holds for 12 queries in a row, each from a new source port, half
# of them with a cookie, after the same was asked before the change (so cached by some worker).
every_worker() {
  local i cookie
  for i in $(seq 12); do
    cookie=+nocookie
    ((i % 2)) && cookie=+cookie
    "$2" "$cookie" || fail "$1: query $i ($cookie) after the change was first seen answered from the old zone"
  done
}
# warm_caches CHECK...: asks the question of CHECK a dozen times without a cookie, so that the
# workers' answer caches hold the answer from before a change.
warm_caches() {
  local i
  for i in $(seq 12); do
    "$1" +nocookie || true
  done
}

serial0=$(zone_serial "$D")
sleep 0.3 # let the load loop get going before the change

step "record add is served within $BOUND_MS ms"
warm_caches serves_new
moat record add "$D" new A 192.0.2.77 >/dev/null
ms=$(wait_for "new.$D A served" serves_new)
((ms <= BOUND_MS)) || fail "record add took too long to be served" "<= $BOUND_MS ms" "$ms ms"
every_worker "new.$D A" serves_new
serial1=$(zone_serial "$D")
((serial1 > serial0)) || fail "the SOA serial did not go up after record add" "> $serial0" "$serial1"
expect_validated "$WORK/ta.conf" "$D" "new.$D" A "192.0.2.77"
out=$(q "new.$D" A +dnssec)
assert_contains "$(dig_section "$out" ANSWER)" "RRSIG" "the new record is signed"

step "a second record at the same name (RRset re-signed)"
both() { [[ "$(q "new.$D" A +short "$@" | sort | tr '\n' ' ')" == "192.0.2.77 192.0.2.78 " ]]; }
warm_caches both
moat record add "$D" new A 192.0.2.78 >/dev/null
ms=$(wait_for "new.$D A with two addresses served" both)
((ms <= BOUND_MS)) || fail "the second address took too long to be served" "<= $BOUND_MS ms" "$ms ms"
every_worker "new.$D A, two addresses" both
expect_validated "$WORK/ta.conf" "$D" "new.$D" A "192.0.2.78"

step "record del disappears within $BOUND_MS ms"
warm_caches new_is_gone
moat record del "$D" new A >/dev/null
ms=$(wait_for "new.$D A gone" new_is_gone)
((ms <= BOUND_MS)) || fail "record del took too long to disappear" "<= $BOUND_MS ms" "$ms ms"
every_worker "new.$D A gone" new_is_gone
serial2=$(zone_serial "$D")
((serial2 > serial1)) || fail "the SOA serial did not go up after record del" "> $serial1" "$serial2"
expect_validated "$WORK/ta.conf" "$D" "new.$D" A "NXDOMAIN"
expect_validated "$WORK/ta.conf" "$D" "mail.$D" A "192.0.2.25"

step "no query was dropped meanwhile"
sleep 0.2
touch "$WORK/stop"
wait "$loop_pid" || true
read -r total bad <"$WORK/load.result"
echo "$total queries during the changes, $bad failed"
((total >= 10)) || fail "the load loop ran too few queries" ">= 10" "$total"
((bad == 0)) || fail "queries failed during the changes" "0 failures" "$(cat "$WORK/load.failures")"

step "the reloads were logged"
assert_match "$(cat "$DNSD_LOG")" "reload $D\.? serial $serial2" "moat-dnsd log"
