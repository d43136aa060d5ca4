#!/usr/bin/env bash
# moat-dnsd as the hidden primary of real secondaries: a Knot DNS and an NSD secondary copy the
# signed zone by AXFR with TSIG (RFC 5936, RFC 8945), serve the same answers, which validate from
# the zone's KSK, and follow each change made with the CLI within seconds by IXFR (RFC 1995)
# because moat-dnsd sends them a signed NOTIFY (RFC 1996): their own SOA refresh and retry are held
# at an hour (lib.sh). Transfers without the key, with an unknown key, a wrong secret or from
# another address are refused; a removed secondary is no longer notified nor served.
#
# knotd runs on 127.0.0.1 and nsd on 127.0.0.2 (NOTIFY port and transfer source alike): moat keys a
# domain's secondaries by address, and the address is what lets moat-dnsd tell the two apart.
# What this test reads from the peers (Knot DNS 3.2, NSD 4.6; see lib.sh for the proven lines):
#   knotd log  "[D.] AXFR, incoming, remote 127.0.0.1@PORT, finished"  the bootstrap
#              "[D.] IXFR, incoming, remote 127.0.0.1@PORT, finished"  each change after it
#              "[D.] IXFR, incoming, remote ..., receiving AXFR-style IXFR"  must never appear, nor
#              "[D.] refresh, incoming, remote ..., fallback to AXFR (connection timeout)"
#              "[D.] notify, incoming, remote 127.0.0.1@..., serial S"
#   nsd log    "zone D. received update to serial S at ... from 127.0.0.1@PORT TSIG verified with
#              key xfr-key of N bytes in ..." (NSD does not say IXFR or AXFR: an IXFR is the one
#              much smaller than the bootstrap AXFR of the padded zone)
#              "notify for D. from 127.0.0.1 serial S"; "... refused, no acl matches.", "bad tsig
#              signature" and "bad transfer" never
#   kdig       ";; ERROR: server replied with error 'REFUSED'" (and 'BADKEY', 'BADSIG': kdig names
#              the TSIG error of a NOTAUTH answer); record lines (no leading ';') of AXFR/IXFR, the
#              TSIG record among them
#   moat-dnsd  its log, after each change, has a line naming IXFR and 127.0.0.1 and one naming
#              IXFR and 127.0.0.2 (MOAT_IXFR_RE), and no line naming AXFR and a secondary.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SOFT_FAIL=1 # independent checks: report them all (a broken prerequisite still ends the test)
require_tools kdig delv jq knotd nsd

D=xfr.test
D_RE=${D//./\\.}
KEY=xfr-key
XFR_BOUND_S=10       # a secondary follows a change within this long of moat-dnsd serving it
MOAT_IXFR_RE='IXFR .* from the journal'  # how moat-dnsd's log names an IXFR served from its journal
MOAT_AXFR_RE='AXFR'  # ... and an AXFR
KNOT_IP=127.0.0.1
NSD_IP=127.0.0.2
OTHER_IP=127.0.0.3 # neither secondary

step "a signed domain with MX, A, TLSA, TXT and 20 more names (so that an AXFR dwarfs an IXFR)"
moat init >/dev/null
new_domain "$D"
moat record add "$D" @ MX 10 mail >/dev/null
moat record add "$D" mail A 192.0.2.25 >/dev/null
TLSA1=8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
TLSA2=0c72ac70b745ac19998811b131d662c9ac69dbdbe7cb23e5b514b56664c5d3d6
moat record add "$D" _25._tcp.mail TLSA 3 1 1 "$TLSA1" >/dev/null
moat record add "$D" _mta-sts TXT "v=STSv1; id=1" >/dev/null
for i in $(seq 1 20); do
  moat record add "$D" "host$i" A "198.51.100.$i" >/dev/null
done

step "a TSIG key and the two secondaries"
key_json=$(moat --json tsig add "$KEY") || die "moat --json tsig add $KEY failed: $key_json"
ALG=$(jq -r .algorithm <<<"$key_json")
SECRET=$(jq -r .secret <<<"$key_json")
assert_eq "$KEY" "$(jq -r .name <<<"$key_json")" "the name moat tsig add --json prints"
assert_eq "hmac-sha256" "$ALG" "the default TSIG algorithm"
[[ "$SECRET" =~ ^[A-Za-z0-9+/]{40,}={0,2}$ ]] ||
  die "moat tsig add --json printed no base64 secret of 32 bytes" "a secret" "$key_json"
KEYARG=$ALG:$KEY:$SECRET
WRONG_SECRET=$(head -c 32 /dev/urandom | base64)

KNOT_PORT=$(free_port)
NSD_PORT=$(free_port)
while [[ "$NSD_PORT" == "$KNOT_PORT" ]]; do NSD_PORT=$(free_port); done
moat secondary add "$D" "$KNOT_IP:$KNOT_PORT" --tsig "$KEY" >/dev/null
moat secondary add "$D" "$NSD_IP:$NSD_PORT" --tsig "$KEY" >/dev/null
list=$(moat --json secondary list "$D")
assert_eq "$KNOT_IP $KNOT_PORT|$NSD_IP $NSD_PORT" \
  "$(jq -r '[.[] | "\(.address) \(.port)"] | sort | join("|")' <<<"$list")" "moat secondary list"
assert_eq "2" "$(jq -r "[.[] | select(.tsig | rtrimstr(\".\") == \"$KEY\")] | length" <<<"$list")" \
  "secondaries listed with TSIG key $KEY: $list"

start_dnsd "$D"
trust_anchor "$D" "$WORK/ta.conf"
S0=$(zone_serial "$D")
[[ -n "$S0" ]] || die "moat-dnsd serves no SOA serial for $D"

start_knotd_secondary "$D" "$DNSD_PORT" "$KEY" "$ALG" "$SECRET" "$KNOT_IP"
start_nsd_secondary "$D" "$DNSD_PORT" "$KEY" "$ALG" "$SECRET" "$NSD_IP"

# Log helpers. knot_count PATTERN: lines of knotd's log with this fixed string.
knot_count() { grep -cF -- "$1" "$KNOT_LOG" || true; }
KNOT_IXFR="[$D.] IXFR, incoming, remote 127.0.0.1@$DNSD_PORT, finished"
KNOT_AXFR="[$D.] AXFR, incoming, remote 127.0.0.1@$DNSD_PORT, finished"
# nsd_bytes SERIAL: the size nsd logged for the transfer that brought SERIAL (empty if none);
# nsd_all_bytes: the sizes of all its transfers from moat-dnsd, the first one first.
nsd_bytes() {
  sed -n "s/.*zone $D_RE\. received update to serial $1 at .* from 127\.0\.0\.1@$DNSD_PORT TSIG verified with key $KEY of \([0-9]*\) bytes.*/\1/p" \
    "$NSD_LOG" | tail -n1
}
nsd_all_bytes() {
  sed -n "s/.*zone $D_RE\. received update to serial [0-9]* at .* from 127\.0\.0\.1@$DNSD_PORT TSIG verified with key $KEY of \([0-9]*\) bytes.*/\1/p" \
    "$NSD_LOG"
}
# knot_notifies, nsd_notifies: how many NOTIFYs for D from 127.0.0.1 each accepted so far. (A
# NOTIFY without the SOA is logged with "serial none" by knotd and without "serial" by nsd; one
# with a wrong key is answered NOTAUTH/BADSIG by knotd without a line at "info", REFUSED/BADSIG by
# nsd with "notify for D. from 127.0.0.1 refused, no acl matches." or "bad tsig signature".)
knot_notifies() { grep -cE "\[$D_RE\.\] notify, incoming, remote 127\.0\.0\.1@[0-9]+, serial " "$KNOT_LOG" || true; }
nsd_notifies() { grep -cE "notify for $D_RE\. from 127\.0\.0\.1( serial [0-9]+)?\$" "$NSD_LOG" || true; }
# lines_after FILE N: the lines of FILE after its first N.
lines_after() { tail -n +"$(($2 + 1))" "$1"; }

step "both secondaries bootstrap by AXFR with TSIG"
wait_serial knotd "$KNOT_IP" "$KNOT_PORT" "$D" "$S0" 20 ||
  die "knotd did not load $D from moat-dnsd within 20 s" "serial $S0" "serial '${WAIT_LAST:-none}'"
wait_serial nsd "$NSD_IP" "$NSD_PORT" "$D" "$S0" 20 ||
  die "nsd did not load $D from moat-dnsd within 20 s" "serial $S0" "serial '${WAIT_LAST:-none}'"
S0=$(zone_serial "$D") # moat-dnsd may have bumped it meanwhile; the secondaries follow
wait_serial knotd "$KNOT_IP" "$KNOT_PORT" "$D" "$S0" "$XFR_BOUND_S" >/dev/null ||
  fail "knotd at moat-dnsd's serial" "$S0" "${WAIT_LAST:-none}"
wait_serial nsd "$NSD_IP" "$NSD_PORT" "$D" "$S0" "$XFR_BOUND_S" >/dev/null ||
  fail "nsd at moat-dnsd's serial" "$S0" "${WAIT_LAST:-none}"
(($(knot_count "$KNOT_AXFR") >= 1)) ||
  fail "knotd's log shows no AXFR from moat-dnsd" "'$KNOT_AXFR'" "$(grep -F "[$D.]" "$KNOT_LOG")"
AXFR_BYTES=$(nsd_all_bytes | head -n1) # nsd's first transfer, the bootstrap AXFR
[[ -n "$AXFR_BYTES" ]] || die "nsd's log shows no TSIG-verified transfer from 127.0.0.1@$DNSD_PORT" \
  "zone $D. received update to serial S at ... from 127.0.0.1@$DNSD_PORT TSIG verified with key $KEY of N bytes" \
  "$(cat "$NSD_LOG")"
echo "nsd's bootstrap transfer: $AXFR_BYTES bytes"

step "the secondaries give moat-dnsd's answers (+dnssec), with the aa flag"
# view ADDR PORT SECTION QNAME QTYPE: the rcode and one section of a +dnssec answer, sorted.
view() {
  local out
  out=$(dig @"$1" -p "$2" +norecurse +dnssec +time=2 +tries=1 "$4" "$5" 2>&1 || true)
  echo "status: $(dig_status "$out")"
  dig_section "$out" "$3" | sort
}
# same_answers SECTION QNAME QTYPE: knotd and nsd give what moat-dnsd gives.
same_answers() {
  local want got name addr port
  want=$(view 127.0.0.1 "$DNSD_PORT" "$@")
  [[ "$want" == *RRSIG* ]] || fail "moat-dnsd's $2 $3 carries no RRSIG" "RRSIG in the $1 section" "$want"
  for name in knotd nsd; do
    if [[ $name == knotd ]]; then addr=$KNOT_IP port=$KNOT_PORT; else addr=$NSD_IP port=$NSD_PORT; fi
    got=$(view "$addr" "$port" "$@")
    [[ "$got" == "$want" ]] || fail "$name's $1 section for $2 $3 differs from moat-dnsd's" "$want" "$got"
  done
}
same_answers ANSWER "$D" MX
same_answers ANSWER "_25._tcp.mail.$D" TLSA
same_answers ANSWER "$D" DNSKEY
same_answers ANSWER "_mta-sts.$D" TXT
same_answers AUTHORITY "nosuch.$D" A
assert_eq "status: NXDOMAIN" "$(view "$NSD_IP" "$NSD_PORT" AUTHORITY "nosuch.$D" A | head -n1)" "nsd on nosuch.$D"
for sp in "$KNOT_IP $KNOT_PORT knotd" "$NSD_IP $NSD_PORT nsd"; do
  read -r addr port name <<<"$sp"
  flags=$(dig_flags "$(dig @"$addr" -p "$port" +norecurse +time=2 +tries=1 "$D" MX 2>&1 || true)")
  assert_contains "$flags" "aa" "$name's flags for $D MX"
done

step "answers of both secondaries validate from moat's KSK"
for sp in "$KNOT_IP $KNOT_PORT" "$NSD_IP $NSD_PORT"; do
  read -r addr port <<<"$sp"
  expect_validated_at "$addr" "$port" "$WORK/ta.conf" "$D" "$D" MX "10 mail.$D."
  expect_validated_at "$addr" "$port" "$WORK/ta.conf" "$D" "_25._tcp.mail.$D" TLSA "3 1 1"
  expect_validated_at "$addr" "$port" "$WORK/ta.conf" "$D" "$D" DNSKEY "DNSKEY"
  expect_validated_at "$addr" "$port" "$WORK/ta.conf" "$D" "nosuch.$D" A "NXDOMAIN"
done

# change WHAT CHECK_QNAME CHECK_TYPE EXPECT -- MOAT_ARGS...: makes one change with the CLI, waits
# until moat-dnsd serves it, then until both secondaries serve its serial (within XFR_BOUND_S,
# which only a NOTIFY explains), and checks that each pulled it by IXFR after a NOTIFY and serves
# EXPECT (a fixed string of `dig +short`, or "NXDOMAIN") for CHECK_QNAME CHECK_TYPE.
# Sets SERIAL to the new serial.
change() {
  local what=$1 qname=$2 qtype=$3 expect=$4 before moat_lines knot_ixfr knot_axfr bytes got
  local knot_notes nsd_notes
  shift 5 # past "--"
  step "change: $what"
  before=$(zone_serial "$D")
  moat_lines=$(wc -l <"$DNSD_LOG")
  knot_ixfr=$(knot_count "$KNOT_IXFR")
  knot_axfr=$(knot_count "$KNOT_AXFR")
  knot_notes=$(knot_notifies)
  nsd_notes=$(nsd_notifies)
  moat "$@" >/dev/null
  local deadline=$(($(now_ms) + 5000))
  SERIAL=$before
  while [[ "$SERIAL" == "$before" ]]; do
    (($(now_ms) < deadline)) || die "moat-dnsd did not serve a new serial within 5 s of: moat $*" "a serial after $before" "$SERIAL"
    sleep 0.05
    SERIAL=$(zone_serial "$D")
  done
  echo "moat-dnsd serves serial $SERIAL"

  if wait_serial knotd "$KNOT_IP" "$KNOT_PORT" "$D" "$SERIAL" "$XFR_BOUND_S"; then
    got=$(knot_count "$KNOT_IXFR")
    ((got > knot_ixfr)) || fail "knotd did not log an IXFR from moat-dnsd for serial $SERIAL" \
      "a new line '$KNOT_IXFR'" "$(grep -F "[$D.]" "$KNOT_LOG" | tail -n 8)"
    got=$(knot_count "$KNOT_AXFR")
    ((got == knot_axfr)) || fail "knotd took an AXFR for serial $SERIAL (IXFR expected)" \
      "no new line '$KNOT_AXFR'" "$(grep -F "[$D.]" "$KNOT_LOG" | tail -n 8)"
    (($(knot_notifies) > knot_notes)) || fail "knotd logged no NOTIFY from moat-dnsd for serial $WAIT_LAST" \
      "a new line '[$D.] notify, incoming, remote 127.0.0.1@..., serial $WAIT_LAST'" \
      "$(grep -F "[$D.]" "$KNOT_LOG" | tail -n 8)"
  else
    fail "knotd did not reach serial $SERIAL within $XFR_BOUND_S s of moat-dnsd serving it (was it notified?)" \
      "serial $SERIAL" "serial ${WAIT_LAST:-none}"
  fi

  if wait_serial nsd "$NSD_IP" "$NSD_PORT" "$D" "$SERIAL" "$XFR_BOUND_S"; then
    bytes=$(nsd_bytes "$WAIT_LAST")
    if [[ -z "$bytes" ]]; then
      fail "nsd logged no TSIG-verified transfer of serial $WAIT_LAST from moat-dnsd" \
        "zone $D. received update to serial $WAIT_LAST ... TSIG verified with key $KEY of N bytes" "$(tail -n 8 "$NSD_LOG")"
    elif ((bytes * 2 >= AXFR_BYTES)); then
      fail "nsd's transfer of serial $WAIT_LAST was $bytes bytes, not an IXFR (the AXFR was $AXFR_BYTES)" \
        "< $((AXFR_BYTES / 2)) bytes" "$bytes bytes"
    fi
    (($(nsd_notifies) > nsd_notes)) || fail "nsd logged no NOTIFY from moat-dnsd for serial $WAIT_LAST" \
      "a new line 'notify for $D. from 127.0.0.1 serial $WAIT_LAST'" "$(tail -n 8 "$NSD_LOG")"
  else
    fail "nsd did not reach serial $SERIAL within $XFR_BOUND_S s of moat-dnsd serving it (was it notified?)" \
      "serial $SERIAL" "serial ${WAIT_LAST:-none}"
  fi

  local new
  new=$(lines_after "$DNSD_LOG" "$moat_lines")
  grep -E "$MOAT_IXFR_RE" <<<"$new" | grep -qF "$KNOT_IP" ||
    fail "moat-dnsd's log does not say it served an IXFR to knotd ($KNOT_IP) for serial $SERIAL" \
      "a line matching /$MOAT_IXFR_RE/ and naming $KNOT_IP" "$new"
  grep -E "$MOAT_IXFR_RE" <<<"$new" | grep -qF "$NSD_IP" ||
    fail "moat-dnsd's log does not say it served an IXFR to nsd ($NSD_IP) for serial $SERIAL" \
      "a line matching /$MOAT_IXFR_RE/ and naming $NSD_IP" "$new"
  if grep -wE "$MOAT_AXFR_RE" <<<"$new" | grep -qE "$KNOT_IP|$NSD_IP"; then
    fail "moat-dnsd's log says it served an AXFR for serial $SERIAL (IXFR expected)" \
      "no line matching /$MOAT_AXFR_RE/ with a secondary's address" "$new"
  fi

  local sp addr port name
  for sp in "$KNOT_IP $KNOT_PORT knotd" "$NSD_IP $NSD_PORT nsd"; do
    read -r addr port name <<<"$sp"
    if [[ "$expect" == NXDOMAIN ]]; then
      got=$(dig_status "$(dig @"$addr" -p "$port" +norecurse +time=2 +tries=1 "$qname" "$qtype" 2>&1 || true)")
    else
      got=$(dig @"$addr" -p "$port" +norecurse +time=2 +tries=1 +short "$qname" "$qtype" 2>&1 || true)
    fi
    assert_contains "$got" "$expect" "$name's $qname $qtype after '$what'"
  done
}

change "a new A record" "new1.$D" A "192.0.2.101" -- record add "$D" new1 A 192.0.2.101
S1=$SERIAL
expect_validated_at "$KNOT_IP" "$KNOT_PORT" "$WORK/ta.conf" "$D" "new1.$D" A "192.0.2.101"
expect_validated_at "$NSD_IP" "$NSD_PORT" "$WORK/ta.conf" "$D" "new1.$D" A "192.0.2.101"

change "a second TLSA record (a key rollover's first step)" "_25._tcp.mail.$D" TLSA \
  "3 1 1 $(tr a-f A-F <<<"${TLSA2:0:16}")" -- record add "$D" _25._tcp.mail TLSA 3 1 1 "$TLSA2"
same_answers ANSWER "_25._tcp.mail.$D" TLSA

change "the A record removed" "new1.$D" A NXDOMAIN -- record del "$D" new1 A
S3=$SERIAL
expect_validated_at "$KNOT_IP" "$KNOT_PORT" "$WORK/ta.conf" "$D" "new1.$D" A "NXDOMAIN"
expect_validated_at "$NSD_IP" "$NSD_PORT" "$WORK/ta.conf" "$D" "new1.$D" A "NXDOMAIN"
same_answers AUTHORITY "new1.$D" A

step "no secondary fell back to AXFR, no NOTIFY was refused"
if grep -qF "receiving AXFR-style IXFR" "$KNOT_LOG"; then
  fail "moat-dnsd answered knotd's IXFR with a full zone" "no 'receiving AXFR-style IXFR'" \
    "$(grep -F "AXFR-style" "$KNOT_LOG")"
fi
# knotd ends an IXFR only at an SOA whose rdata equals the first one's; else it times out (5 s).
if grep -qF "fallback to AXFR" "$KNOT_LOG"; then
  fail "an IXFR from moat-dnsd did not end for knotd (is its last SOA the first one again, rdata and all?)" \
    "no 'fallback to AXFR'" "$(grep -F "fallback to AXFR" "$KNOT_LOG")"
fi
if grep -qF "bad transfer" "$NSD_LOG"; then
  fail "nsd rejected a transfer from moat-dnsd (an IXFR not starting at nsd's serial?)" \
    "no 'bad transfer'" "$(grep -F "bad transfer" "$NSD_LOG")"
fi
if grep -qE "refused, no acl matches|bad tsig signature" "$NSD_LOG"; then
  fail "nsd refused a NOTIFY (unsigned, or signed with another key?)" \
    "no 'refused, no acl matches' nor 'bad tsig signature'" \
    "$(grep -E "refused, no acl matches|bad tsig signature" "$NSD_LOG")"
fi

# rrs OUTPUT: the record lines of a kdig transfer, without the TSIG records.
rrs() { grep -vE '^;|^[[:space:]]*$' <<<"$1" | awk '$4 != "TSIG"' || true; }
# kdig_xfr ARGS...: kdig at moat-dnsd over TCP (kdig asks AXFR and IXFR over TCP).
kdig_xfr() { kdig @127.0.0.1 -p "$DNSD_PORT" +time=3 +retry=0 "$@" 2>&1 || true; }
SERIAL=$(zone_serial "$D")

step "AXFR with the key from a secondary's address: the whole zone (so the refusals below mean something)"
out=$(kdig_xfr -y "$KEYARG" "$D" AXFR)
recs=$(rrs "$out")
first=$(head -n1 <<<"$recs") last=$(tail -n1 <<<"$recs")
assert_match "$first" "^$D_RE\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+SOA[[:space:]].* $SERIAL " "the first record of the AXFR"
assert_eq "$first" "$last" "the last record of the AXFR is its first SOA again"
AXFR_RRS=$(grep -c . <<<"$recs")
((AXFR_RRS > 80)) || fail "the AXFR holds too few records" "> 80 records" "$out"
assert_contains "$out" "$KEY." "the AXFR answer is signed with $KEY (a TSIG record)"
out=$(kdig_xfr -b "$NSD_IP" -y "$KEYARG" "$D" AXFR)
assert_match "$(rrs "$out" | head -n1)" "SOA.* $SERIAL " "AXFR with the key from nsd's address $NSD_IP"

step "transfers that must be refused"
out=$(kdig_xfr "$D" AXFR)
assert_contains "$out" ";; ERROR: server replied with error 'REFUSED'" "AXFR without TSIG from $KNOT_IP"
assert_eq "" "$(rrs "$out")" "records given to an AXFR without TSIG"
out=$(kdig_xfr "$D" IXFR="$S1")
assert_contains "$out" ";; ERROR: server replied with error 'REFUSED'" "IXFR without TSIG from $KNOT_IP"
out=$(kdig_xfr -y "$ALG:no-such-key:$SECRET" "$D" AXFR)
assert_contains "$out" ";; ERROR: server replied with error 'BADKEY'" "AXFR signed with an unknown key name"
assert_eq "" "$(rrs "$out")" "records given to an AXFR with an unknown key"
out=$(kdig_xfr -y "$ALG:$KEY:$WRONG_SECRET" "$D" AXFR)
assert_contains "$out" ";; ERROR: server replied with error 'BADSIG'" "AXFR signed with the right name and a wrong secret"
assert_eq "" "$(rrs "$out")" "records given to an AXFR with a wrong secret"
out=$(kdig_xfr -b "$OTHER_IP" -y "$KEYARG" "$D" AXFR)
assert_contains "$out" ";; ERROR: server replied with error 'REFUSED'" "AXFR with the key from $OTHER_IP (no secondary there)"
assert_eq "" "$(rrs "$out")" "records given to an AXFR from $OTHER_IP"

step "IXFR answers"
out=$(kdig_xfr -y "$KEYARG" "$D" IXFR="$SERIAL")
recs=$(rrs "$out")
assert_eq 1 "$(grep -c . <<<"$recs")" "records in the answer to IXFR with the current serial $SERIAL (just the SOA): $out"
assert_match "$recs" "^$D_RE\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+SOA[[:space:]].* $SERIAL " "IXFR with the current serial"
out=$(kdig_xfr -y "$KEYARG" "$D" IXFR="$S1")
recs=$(rrs "$out")
# RFC 1995 §4: new SOA, then each difference sequence opened by the old SOA ... ends with new SOA.
assert_match "$(sed -n 1p <<<"$recs")" "[[:space:]]SOA[[:space:]].* $SERIAL " "IXFR from $S1: record 1 (the new SOA)"
assert_match "$(sed -n 2p <<<"$recs")" "[[:space:]]SOA[[:space:]].* $S1 " "IXFR from $S1: record 2 (the old SOA, not an AXFR-style answer)"
assert_match "$(tail -n1 <<<"$recs")" "[[:space:]]SOA[[:space:]].* $SERIAL " "IXFR from $S1: the last record (the new SOA)"
(($(grep -c . <<<"$recs") * 2 < AXFR_RRS)) ||
  fail "the IXFR from $S1 is not much smaller than the zone ($AXFR_RRS records)" "< $((AXFR_RRS / 2)) records" "$out"
assert_contains "$(grep -E 'new1' <<<"$recs")" "192.0.2.101" "IXFR from $S1 (before new1 went away) deletes new1"

step "moat secondary del of nsd: knotd still follows, nsd is neither notified nor served"
before=$(zone_serial "$D")
nsd_before=$(soa_serial_at "$NSD_IP" "$NSD_PORT" "$D")
moat secondary del "$D" "$NSD_IP" >/dev/null
list=$(moat --json secondary list "$D")
assert_eq "$KNOT_IP $KNOT_PORT" "$(jq -r '[.[] | "\(.address) \(.port)"] | join("|")' <<<"$list")" \
  "moat secondary list after the del"
# The del makes a new version of the zone (moat-dnsd reloads its transfer rules with it): knotd
# is told of it, nsd should not be (the rules and the zone change together).
deadline=$(($(now_ms) + 5000))
S4=$before
while [[ "$S4" == "$before" ]]; do
  (($(now_ms) < deadline)) || die "moat-dnsd did not serve a new serial within 5 s of moat secondary del" "a serial after $before" "$S4"
  sleep 0.05
  S4=$(zone_serial "$D")
done
wait_serial knotd "$KNOT_IP" "$KNOT_PORT" "$D" "$S4" "$XFR_BOUND_S" ||
  fail "knotd did not follow the version made by moat secondary del" "serial $S4" "serial ${WAIT_LAST:-none}"
sleep 1
assert_eq "$nsd_before" "$(soa_serial_at "$NSD_IP" "$NSD_PORT" "$D")" \
  "nsd's serial once moat-dnsd served the version without it (was the removed secondary notified?)"
nsd_before=$(soa_serial_at "$NSD_IP" "$NSD_PORT" "$D")
nsd_notes=$(nsd_notifies)
moat record add "$D" after-del A 192.0.2.102 >/dev/null
deadline=$(($(now_ms) + 5000))
until [[ "$(q "after-del.$D" A +short)" == "192.0.2.102" ]]; do
  (($(now_ms) < deadline)) || die "moat-dnsd did not serve after-del.$D within 5 s"
  sleep 0.05
done
S5=$(zone_serial "$D")
wait_serial knotd "$KNOT_IP" "$KNOT_PORT" "$D" "$S5" "$XFR_BOUND_S" ||
  fail "knotd did not follow the change after nsd was removed" "serial $S5" "serial ${WAIT_LAST:-none}"
assert_eq "192.0.2.102" "$(dig @"$KNOT_IP" -p "$KNOT_PORT" +norecurse +short +time=2 +tries=1 "after-del.$D" A 2>&1 || true)" \
  "knotd's after-del.$D A"
sleep 2 # time for a NOTIFY to nsd, had one gone out
assert_eq "$nsd_before" "$(soa_serial_at "$NSD_IP" "$NSD_PORT" "$D")" "nsd's serial after its removal (no NOTIFY, no transfer)"
assert_eq "$nsd_notes" "$(nsd_notifies)" "NOTIFYs nsd got after its removal"
out=$(kdig_xfr -b "$NSD_IP" -y "$KEYARG" "$D" AXFR)
assert_contains "$out" ";; ERROR: server replied with error 'REFUSED'" "AXFR with the key from nsd's address after its removal"
assert_eq "" "$(rrs "$out")" "records given to the removed secondary"
out=$(kdig_xfr -b "$NSD_IP" -y "$KEYARG" "$D" IXFR="$S3")
assert_contains "$out" ";; ERROR: server replied with error 'REFUSED'" "IXFR with the key from nsd's address after its removal"
out=$(kdig_xfr -y "$KEYARG" "$D" AXFR)
assert_match "$(rrs "$out" | head -n1)" "SOA.* $S5 " "AXFR with the key from knotd's address still served"
