#!/usr/bin/env bash
# moat-dnsd answers as an authoritative server should, checked with dig, kdig and raw packets:
# flags, rcodes, EDNS (RFC 6891, RFC 8906), truncation, minimal ANY (RFC 8482), CNAME chains,
# signed negative and wildcard answers, and it survives garbage.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SOFT_FAIL=1 # independent checks: report them all
require_tools kdig

D=example.test   # NSEC
N3=nsec3.test    # NSEC3
R=rsa.test       # RSA keys: a DNSKEY RRset too big for 512 bytes

moat init >/dev/null
new_domain "$D"
new_domain "$N3" --nsec3
new_domain "$R" --algorithm rsasha256
for z in "$D" "$N3"; do
  moat record add "$z" @ MX 10 mail >/dev/null
  moat record add "$z" mail A 192.0.2.25 >/dev/null
  moat record add "$z" mail AAAA 2001:db8::25 >/dev/null
  moat record add "$z" @ TXT "v=spf1 mx -all" >/dev/null
  moat record add "$z" www CNAME web >/dev/null
  moat record add "$z" web CNAME host >/dev/null
  moat record add "$z" host A 192.0.2.80 >/dev/null
  moat record add "$z" "*.wild" A 192.0.2.99 >/dev/null
done
# 60 TXT records of ~100 octets: about 6 KB, more than any UDP answer may carry.
for i in $(seq -w 1 60); do
  moat record add "$D" big TXT "record $i $(printf 'x%.0s' {1..90})" >/dev/null
done

start_dnsd "$D"
start_ok=$(q "$N3" SOA +short)
[[ -n "$start_ok" ]] || fail "the NSEC3 zone is not served"

step "AA on authoritative answers, the buffer size advertised is 1232"
out=$(q "$D" MX +dnssec)
assert_eq NOERROR "$(dig_status "$out")" "status of $D MX"
assert_match "$(dig_flags "$out")" '(^| )aa( |$)' "flags of $D MX"
assert_contains "$out" "10 mail.$D." "answer of $D MX"
assert_contains "$out" "udp: 1232" "EDNS buffer size of the answer"
out=$(kq "$D" MX)
assert_match "$out" 'Flags: qr aa' "kdig flags of $D MX"
assert_contains "$out" "10 mail.$D." "kdig answer of $D MX"

step "REFUSED outside the zones, without AA"
out=$(q example.org A)
assert_eq REFUSED "$(dig_status "$out")" "status of example.org A"
assert_not_contains "$(dig_flags "$out")" "aa" "flags of a REFUSED answer"
out=$(q "x.$D.invalid" A)
assert_eq REFUSED "$(dig_status "$out")" "status of a name below an unknown TLD"

step "NOTIMP for opcodes it does not serve"
out=$(python3 "$RAW" 127.0.0.1 "$DNSD_PORT" udp opcode "$D" 15)
assert_contains "$out" "rcode=NOTIMP" "opcode 15 over UDP"
assert_contains "$out" "opcode=15" "opcode 15 over UDP echoes the opcode"
out=$(python3 "$RAW" 127.0.0.1 "$DNSD_PORT" tcp opcode "$D" 15)
assert_contains "$out" "rcode=NOTIMP" "opcode 15 over TCP"
out=$(q +opcode=3 "$D" SOA)
assert_eq NOTIMP "$(dig_status "$out")" "opcode 3 (unassigned) with dig"

step "FORMERR for a query with two questions"
out=$(python3 "$RAW" 127.0.0.1 "$DNSD_PORT" udp twoq "$D")
assert_contains "$out" "rcode=FORMERR" "two questions over UDP"
out=$(python3 "$RAW" 127.0.0.1 "$DNSD_PORT" tcp twoq "$D")
assert_contains "$out" "rcode=FORMERR" "two questions over TCP"

step "the DO bit brings RRSIGs, no DO brings none"
out=$(q "$D" MX +dnssec)
assert_match "$(dig_section "$out" ANSWER)" "RRSIG[[:space:]]+MX 13 2 " "RRSIG of $D MX"
assert_contains "$out" "flags: do;" "DO echoed"
out=$(q "$D" MX)
assert_not_contains "$out" "RRSIG" "answer without DO"

step "TC for a UDP answer that does not fit, the full answer over TCP"
out=$(q big."$D" TXT +ignore +notcp +bufsize=1232)
assert_match "$(dig_flags "$out")" '(^| )tc( |$)' "flags of a 6 KB TXT RRset over UDP"
out=$(q big."$D" TXT +tcp)
assert_eq NOERROR "$(dig_status "$out")" "status of the big TXT RRset over TCP"
assert_not_contains "$(dig_flags "$out")" "tc" "flags over TCP"
assert_eq 60 "$(dig_section "$out" ANSWER | grep -c 'TXT')" "TXT records over TCP"
out=$(kq big."$D" TXT +tcp)
assert_eq 60 "$(grep -c 'TXT.*"record' <<<"$out")" "TXT records over TCP with kdig"
out=$(q big."$D" TXT +ignore +notcp +noedns)
assert_match "$(dig_flags "$out")" '(^| )tc( |$)' "flags of the big TXT RRset over UDP without EDNS"

step "ANY answered minimally (RFC 8482)"
for z in "$D" "$N3"; do
  out=$(q "$z" ANY)
  assert_eq NOERROR "$(dig_status "$out")" "status of $z ANY"
  types=$(section_types "$out" ANSWER)
  [[ -n "$types" && "$types" != *" "* ]] ||
    fail "$z ANY must carry one RRset (or HINFO)" "one type" "'$types'"
  out=$(q "$z" ANY +tcp)
  types=$(section_types "$out" ANSWER)
  [[ -n "$types" && "$types" != *" "* ]] ||
    fail "$z ANY over TCP must carry one RRset (or HINFO)" "one type" "'$types'"
done

step "CNAME chains inside the zone are followed"
out=$(q "www.$D" A)
ans=$(dig_section "$out" ANSWER)
assert_match "$ans" "^www\.$D\.[[:space:]].*CNAME[[:space:]]+web\.$D\." "first link of the chain"
assert_match "$ans" "^web\.$D\.[[:space:]].*CNAME[[:space:]]+host\.$D\." "second link of the chain"
assert_match "$ans" "^host\.$D\.[[:space:]].*A[[:space:]]+192\.0\.2\.80" "end of the chain"
assert_match "$(dig_flags "$out")" '(^| )aa( |$)' "flags of a CNAME answer"
out=$(q "www.$N3" A +dnssec)
assert_eq 3 "$(dig_section "$out" ANSWER | grep -c RRSIG)" "RRSIGs of a signed chain of three RRsets"

step "NXDOMAIN and NODATA carry the signed SOA and their NSEC/NSEC3 proof"
for z in "$D" "$N3"; do
  chain=NSEC
  [[ $z == "$N3" ]] && chain=NSEC3
  out=$(q "nosuch.$z" A +dnssec)
  assert_eq NXDOMAIN "$(dig_status "$out")" "status of nosuch.$z"
  assert_match "$(dig_flags "$out")" '(^| )aa( |$)' "flags of NXDOMAIN"
  auth=$(dig_section "$out" AUTHORITY)
  assert_match "$auth" "[[:space:]]SOA[[:space:]]" "authority of NXDOMAIN in $z"
  assert_match "$auth" "[[:space:]]${chain}[[:space:]]" "authority of NXDOMAIN in $z"
  assert_match "$auth" "RRSIG[[:space:]]+SOA" "authority of NXDOMAIN in $z"
  assert_match "$auth" "RRSIG[[:space:]]+$chain " "authority of NXDOMAIN in $z"
  out=$(q "mail.$z" TXT +dnssec)
  assert_eq NOERROR "$(dig_status "$out")" "status of mail.$z TXT (NODATA)"
  assert_eq "" "$(dig_section "$out" ANSWER)" "answer of NODATA"
  auth=$(dig_section "$out" AUTHORITY)
  assert_match "$auth" "[[:space:]]SOA[[:space:]]" "authority of NODATA in $z"
  assert_match "$auth" "[[:space:]]${chain}[[:space:]]" "authority of NODATA in $z"
  assert_match "$auth" "RRSIG[[:space:]]+$chain " "authority of NODATA in $z"
  out=$(q "nosuch.$z" A)
  auth=$(dig_section "$out" AUTHORITY)
  assert_match "$auth" "[[:space:]]SOA[[:space:]]" "authority of NXDOMAIN without DO"
  assert_not_contains "$auth" "RRSIG" "authority of NXDOMAIN without DO"
done

step "a wildcard answer carries its proof"
for z in "$D" "$N3"; do
  chain=NSEC
  [[ $z == "$N3" ]] && chain=NSEC3
  out=$(q "anything.wild.$z" A +dnssec)
  assert_eq NOERROR "$(dig_status "$out")" "status of a wildcard answer in $z"
  ans=$(dig_section "$out" ANSWER)
  assert_match "$ans" "^anything\.wild\.$z\.[[:space:]].*A[[:space:]]+192\.0\.2\.99" "wildcard answer in $z"
  # The RRSIG's label count (3rd field of its RDATA) is the wildcard's: 2 + labels of the zone.
  labels=$(awk '$4 == "RRSIG" && $5 == "A" { print $7 }' <<<"$ans")
  want=$(($(tr -cd . <<<"$z." | wc -c) + 1))
  assert_eq "$want" "$labels" "RRSIG label count of the wildcard answer in $z"
  assert_match "$(dig_section "$out" AUTHORITY)" "[[:space:]]${chain}[[:space:]]" "wildcard proof in $z"
done

step "RFC 8906: EDNS version 1 gets BADVERS"
out=$(q "$D" SOA +edns=1 +noednsneg)
assert_eq BADVERS "$(dig_status "$out")" "status of an EDNS version 1 query"
assert_contains "$out" "version: 0" "the OPT of BADVERS says version 0"
out=$(kq "$D" SOA +edns=1)
assert_contains "$out" "BADVERS" "kdig +edns=1"

step "RFC 8906: unknown EDNS options are not echoed, unknown flags and Z are cleared"
out=$(q "$D" SOA +ednsopt=65001:abcd)
assert_eq NOERROR "$(dig_status "$out")" "status with an unknown EDNS option"
assert_not_contains "$(grep -v "<<>>" <<<"$out")" "65001" "answer to an unknown EDNS option (dig shows it as OPT=65001)"
out=$(q "$D" SOA +ednsflags=0x100)
assert_eq NOERROR "$(dig_status "$out")" "status with an unknown EDNS flag"
assert_not_contains "$out" "MBZ" "answer to an unknown EDNS flag"
out=$(q "$D" SOA +zflag)
assert_eq NOERROR "$(dig_status "$out")" "status with the Z bit set"
assert_not_contains "$out" "MBZ" "answer to a query with the Z bit"
out=$(kq "$D" SOA +zflag)
assert_not_contains "$(grep 'Flags:' <<<"$out")" " z" "kdig: Z bit in the answer"

step "RFC 8906: an unknown type gets NODATA"
out=$(q "$D" TYPE65280 +dnssec)
assert_eq NOERROR "$(dig_status "$out")" "status of TYPE65280"
assert_eq "" "$(dig_section "$out" ANSWER)" "answer of TYPE65280"
assert_match "$(dig_section "$out" AUTHORITY)" "[[:space:]]SOA[[:space:]]" "authority of TYPE65280"
out=$(q "mail.$D" TYPE1234)
assert_eq NOERROR "$(dig_status "$out")" "status of TYPE1234"

step "RFC 8906: DNSKEY with DO over a 512-byte buffer is truncated, the OPT record kept"
out=$(q "$R" DNSKEY +dnssec +bufsize=512 +ignore +notcp)
assert_match "$(dig_flags "$out")" '(^| )tc( |$)' "flags of a big DNSKEY RRset over 512 bytes"
assert_contains "$out" "OPT PSEUDOSECTION" "the truncated answer keeps the OPT record"
assert_contains "$out" "flags: do;" "the truncated answer keeps DO"
out=$(q "$R" DNSKEY +dnssec +tcp)
assert_eq 2 "$(dig_section "$out" ANSWER | awk '$4 == "DNSKEY"' | wc -l)" "DNSKEYs of $R over TCP"

step "garbage of every length from 1 to 16 bytes, then a self-pointing name: still answering"
for n in $(seq 1 16); do
  python3 "$RAW" 127.0.0.1 "$DNSD_PORT" udp garbage "$n" >/dev/null
  python3 "$RAW" 127.0.0.1 "$DNSD_PORT" tcp garbage "$n" >/dev/null
  kill -0 "$DNSD_PID" 2>/dev/null || fail "moat-dnsd died on $n bytes of garbage"
done
out=$(q "$D" SOA +short)
[[ -n "$out" ]] || fail "no answer after the garbage"
for proto in udp tcp; do
  out=$(python3 "$RAW" 127.0.0.1 "$DNSD_PORT" "$proto" selfptr)
  [[ "$out" == noreply || "$out" == *rcode=FORMERR* ]] ||
    fail "a self-pointing QNAME over $proto" "FORMERR or no reply" "$out"
  kill -0 "$DNSD_PID" 2>/dev/null || fail "moat-dnsd died on a self-pointing QNAME over $proto"
  out=$(q "$D" SOA +short)
  [[ -n "$out" ]] || fail "no answer after a self-pointing QNAME over $proto"
done
out=$(q "$D" MX +tcp +short)
assert_eq "10 mail.$D." "$out" "a normal TCP query after all that"

step "nothing is logged per query at the default level"
lines=$(wc -l <"$DNSD_LOG")
((lines < 20)) || fail "moat-dnsd logged $lines lines for a few hundred queries" "< 20 lines" "$(cat "$DNSD_LOG")"
