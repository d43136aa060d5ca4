#!/usr/bin/env bash
# Answers of moat-dnsd validate with delv, the zone's KSK as the only trust anchor: positive
# answers, NXDOMAIN, NODATA and wildcard expansions, with NSEC and with NSEC3, for each
# algorithm (ECDSA P-256, Ed25519, RSA/SHA-256).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SOFT_FAIL=1 # independent checks: report them all
require_tools delv

moat init >/dev/null
domains=()
for alg in ecdsap256 ed25519 rsasha256; do
  for chain in nsec nsec3; do
    z=$alg-$chain.test
    domains+=("$z")
    opts=(--algorithm "$alg")
    [[ $chain == nsec3 ]] && opts+=(--nsec3)
    new_domain "$z" "${opts[@]}"
    moat record add "$z" @ MX 10 mail >/dev/null
    moat record add "$z" mail A 192.0.2.25 >/dev/null
    moat record add "$z" _25._tcp.mail TLSA 3 1 1 \
      8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d >/dev/null
    moat record add "$z" _mta-sts TXT "v=STSv1; id=1" >/dev/null
    moat record add "$z" www CNAME mail >/dev/null
    moat record add "$z" "*.wild" TXT "from the wildcard" >/dev/null
  done
done

start_dnsd "${domains[0]}"

for z in "${domains[@]}"; do
  step "$z"
  ta=$WORK/$z.ta
  trust_anchor "$z" "$ta"
  grep -q "static-key 257 3 " "$ta" || fail "trust anchor of $z" "a static-key 257 entry" "$(cat "$ta")"

  expect_validated "$ta" "$z" "$z" MX "10 mail.$z."
  expect_validated "$ta" "$z" "_25._tcp.mail.$z" TLSA "3 1 1"
  expect_validated "$ta" "$z" "_mta-sts.$z" TXT "v=STSv1; id=1"
  expect_validated "$ta" "$z" "$z" DNSKEY "DNSKEY"
  expect_validated "$ta" "$z" "$z" CDS "CDS"
  expect_validated "$ta" "$z" "www.$z" A "192.0.2.25"
  # delv 9.18 prints "; negative response, fully validated" and the proof for both kinds of
  # negative answer; the first line names which one it was.
  expect_validated "$ta" "$z" "nosuch.$z" A "NXDOMAIN"
  expect_validated "$ta" "$z" "deeper.nosuch.$z" MX "NXDOMAIN"
  expect_validated "$ta" "$z" "mail.$z" TXT "NXRRSET"
  expect_validated "$ta" "$z" "$z" TLSA "NXRRSET"
  # An empty non-terminal (_tcp.mail) exists: NODATA, not NXDOMAIN.
  expect_validated "$ta" "$z" "_tcp.mail.$z" A "NXRRSET"
  expect_validated "$ta" "$z" "anything.wild.$z" TXT "from the wildcard"
  # A wildcard owner with no data of the asked type: validated NODATA via the wildcard.
  expect_validated "$ta" "$z" "anything.wild.$z" A "NXRRSET"
done

step "a wrong trust anchor does not validate (the checks above are not vacuous)"
a=${domains[0]} b=${domains[1]}
sed "s/$b\./$a./" "$WORK/$b.ta" >"$WORK/wrong.ta"
out=$(delv_q "$WORK/wrong.ta" "$a" "$a" MX)
assert_not_contains "$out" "fully validated" "delv with the KSK of $b as the anchor of $a"
