#!/usr/bin/env bash
# A one-record change in a zone of 100,000 names re-signs only what changed (the RRset, the SOA
# and the NSEC records around it), not the zone: moat-dnsd's reload log line says how many
# signatures it made, and that it read only the names that changed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

D=big.test
NAMES=100000

step "a zone of $NAMES names"
python3 - "$D" "$NAMES" >"$WORK/big.zone" <<'PY'
import sys
domain, n = sys.argv[1], int(sys.argv[2])
out = [f"$ORIGIN {domain}.", "$TTL 3600",
       f"@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300",
       "@ IN NS ns1", "ns1 IN A 127.0.0.1", "@ IN MX 10 mail", "mail IN A 192.0.2.25"]
for i in range(n - 2):
    out.append(f"h{i:06d} IN A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
print("\n".join(out))
PY
moat init >/dev/null
start=$(now_ms)
moat zone import "$D" "$WORK/big.zone" >/dev/null
echo "imported in $(($(now_ms) - start)) ms"

start_dnsd "$D" 120
grep -E "load $D\.? serial" "$DNSD_LOG" || true
out=$(q "h054321.$D" A +dnssec)
assert_contains "$(dig_section "$out" ANSWER)" "10.0.212.49" "a name in the middle of the zone"
assert_contains "$(dig_section "$out" ANSWER)" "RRSIG" "a name in the middle of the zone is signed"

step "add one record while it runs"
serial0=$(zone_serial "$D")
reloads_before=$(grep -cE "reload $D\.? serial" "$DNSD_LOG" || true)
start=$(now_ms)
moat record add "$D" h054321x A 192.0.2.1 >/dev/null
served=
while (($(now_ms) - start < 30000)); do
  if [[ "$(q "h054321x.$D" A +short)" == 192.0.2.1 ]]; then
    served=$(($(now_ms) - start))
    break
  fi
  sleep 0.05
done
[[ -n "$served" ]] || fail "the new record was not served within 30 s"
echo "served after $served ms"

# The reload line may be written just after the new snapshot is published.
line=
for _ in $(seq 100); do
  line=$(grep -E "reload $D\.? serial" "$DNSD_LOG" | sed -n "$((reloads_before + 1))p")
  [[ -n "$line" ]] && break
  sleep 0.05
done
[[ -n "$line" ]] || fail "no reload line for $D in the log" "reload $D serial N: ... S signatures made ..." "$(cat "$DNSD_LOG")"
echo "log: $line"
made=$(sed -nE 's/.* ([0-9]+) signatures made.*/\1/p' <<<"$line")
[[ -n "$made" ]] || fail "the reload line does not say how many signatures were made" "'N signatures made'" "$line"
((made < 10)) || fail "a one-record change re-signed too much" "< 10 signatures made" "$made ($line)"
[[ "$line" == *"(changed names only)"* ]] ||
  fail "a one-record change read and signed the whole zone" "reload ... (changed names only)" "$line"

serial1=$(zone_serial "$D")
((serial1 > serial0)) || fail "the SOA serial did not go up" "> $serial0" "$serial1"
out=$(q "h054321x.$D" A +dnssec)
assert_contains "$(dig_section "$out" ANSWER)" "RRSIG" "the new record is signed"
out=$(q "h054321a.$D" A +dnssec)
assert_eq NXDOMAIN "$(dig_status "$out")" "a name beside the new one"
assert_contains "$(dig_section "$out" AUTHORITY)" "h054321x.$D." "the NSEC chain around the new name"
