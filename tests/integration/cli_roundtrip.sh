#!/usr/bin/env bash
# A realistic zone file imported with `moat zone import` and exported again gives the same
# RRsets (through BIND's own parser); the export re-imported into another database gives them
# again; named-checkzone accepts the unsigned export; ldns-verify-zone and dnssec-verify accept
# the signed export for every algorithm with NSEC and NSEC3; `moat ds` matches
# dnssec-dsfromkey; every --json listing is valid JSON.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
require_tools named-compilezone named-checkzone ldns-verify-zone dnssec-verify dnssec-dsfromkey

# write_zone DOMAIN: a zone such as an operator would bring from another server.
write_zone() {
  cat <<EOF
; zone of $1, as exported from another server
\$ORIGIN $1.
\$TTL 3600
@   IN  SOA ns1.$1. hostmaster.$1. (
            2024010101 ; serial
            7200       ; refresh
            3600       ; retry
            1209600    ; expire
            300 )      ; negative TTL
    IN  NS      ns1
    IN  NS      ns2.example.net.
    IN  MX      10 mail
    IN  MX      20 mx2.example.net.
@ 300 IN A      192.0.2.1
    IN  AAAA    2001:db8::1
    IN  TXT     "v=spf1 mx -all"
    IN  TXT     "part one" "part two; with a \"quote\" and a semicolon"
    IN  CAA     0 issue "letsencrypt.org"
    IN  CAA     128 iodef "mailto:security@$1"
ns1 IN  A       127.0.0.1
mail        IN A    192.0.2.25
mail        IN AAAA 2001:db8::25
mail        IN SSHFP 4 2 $(printf '%064x' 12345)
_25._tcp.mail IN TLSA 3 1 1 8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d
_25._tcp.mail IN TLSA 2 1 1 $(printf '%064x' 42)
_mta-sts    IN TXT  "v=STSv1; id=20240101T000000"
_smtp._tls  IN TXT  "v=TLSRPTv1; rua=mailto:tlsrpt@$1"
_dmarc  600 IN TXT  "v=DMARC1; p=reject; rua=mailto:dmarc@$1"
_sip._tcp   IN SRV  10 60 5060 sip
_sip._tcp   IN SRV  20 0 5060 sip2.example.net.
sip         IN A    192.0.2.50
www         IN CNAME mail
*.wild      IN A    192.0.2.99
*.wild      IN TXT  "wildcard"
host        IN HINFO "PC" "Linux"
1.2.0.192.in-addr IN PTR mail.$1.
naptr       IN NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp.$1.
opaque      IN TYPE65280 \# 4 0a000001
sub         IN NS   ns.sub
ns.sub      IN A    192.0.2.53
EOF
}

# normalise FILE DOMAIN: the RRsets of a master file as BIND reads them, one record per line,
# SOA serial blanked, DNSSEC records dropped, sorted.
normalise() {
  named-compilezone -q -i none -k ignore -n ignore -o - "$2" "$1" |
    awk '/^;/ { next } { $1 = $1 } $4 == "SOA" { $7 = "SERIAL" } $4 !~ /^(RRSIG|NSEC|NSEC3|NSEC3PARAM|DNSKEY|CDS|CDNSKEY)$/' |
    sort
}

D=roundtrip.test
write_zone "$D" >"$WORK/original.zone"
# The file is valid to BIND: a failure below is moat's.
named-checkzone -q -i local "$D" "$WORK/original.zone" || fail "the test's own zone file is rejected by named-checkzone"

step "import, export, compare with the original"
moat init >/dev/null
moat zone import "$D" "$WORK/original.zone"
moat zone export "$D" >"$WORK/export.zone"
normalise "$WORK/original.zone" "$D" >"$WORK/original.norm"
normalise "$WORK/export.zone" "$D" >"$WORK/export.norm"
[[ -s "$WORK/export.norm" ]] || fail "named-compilezone could not read the export" "a zone" "$(cat "$WORK/export.zone")"
diff -u "$WORK/original.norm" "$WORK/export.norm" ||
  fail "the export does not hold the RRsets of the imported file (diff above)"

step "named-checkzone accepts the unsigned export"
out=$(named-checkzone -i local "$D" "$WORK/export.zone" 2>&1) || fail "named-checkzone rejects the export" "OK" "$out"
assert_contains "$out" "OK" "named-checkzone"

step "the export re-imported into another database gives the same RRsets"
MOAT_DB=$WORK/second.db moat init >/dev/null
MOAT_DB=$WORK/second.db moat zone import "$D" "$WORK/export.zone" >/dev/null
MOAT_DB=$WORK/second.db moat zone export "$D" >"$WORK/export2.zone"
normalise "$WORK/export2.zone" "$D" >"$WORK/export2.norm"
diff -u "$WORK/export.norm" "$WORK/export2.norm" || fail "export → import → export changed the RRsets (diff above)"

step "import replaces the records of an existing domain"
sed 's/192.0.2.25/192.0.2.26/' "$WORK/original.zone" >"$WORK/changed.zone"
moat zone import "$D" "$WORK/changed.zone" >/dev/null
moat zone export "$D" >"$WORK/export3.zone"
normalise "$WORK/changed.zone" "$D" >"$WORK/changed.norm"
normalise "$WORK/export3.zone" "$D" >"$WORK/export3.norm"
diff -u "$WORK/changed.norm" "$WORK/export3.norm" || fail "a second import did not replace the records (diff above)"

# ds_fields: "keytag alg digesttype DIGEST" from any DS presentation lines on stdin.
ds_fields() {
  awk '{
    for (i = 1; i <= NF; i++) if ($i == "DS" || $i == "CDS") break
    if (i > NF) next
    d = ""; for (j = i + 4; j <= NF; j++) d = d $j
    print $(i + 1), $(i + 2), $(i + 3), toupper(d)
  }' | sort
}

for alg in ecdsap256 ed25519 rsasha256; do
  for chain in nsec nsec3; do
    S=$alg-$chain.test
    opts=(--algorithm "$alg")
    [[ $chain == nsec3 ]] && opts+=(--nsec3)
    step "signed export of $S"
    write_zone "$S" >"$WORK/$S.zone"
    moat zone import "$S" "$WORK/$S.zone" "${opts[@]}" >/dev/null
    moat zone export "$S" --signed >"$WORK/$S.signed"

    types=$(awk '!/^;/ && NF >= 4 { print $4 }' "$WORK/$S.signed" | sort -u | tr '\n' ' ')
    for t in DNSKEY RRSIG CDS CDNSKEY; do
      assert_contains "$types" "$t" "$S signed export types"
    done
    if [[ $chain == nsec3 ]]; then
      assert_contains "$types" "NSEC3PARAM" "$S signed export types"
      param=$(awk '$4 == "NSEC3PARAM" { print $5, $6, $7, $8 }' "$WORK/$S.signed")
      assert_eq "1 0 0 -" "$param" "$S NSEC3PARAM (RFC 9276: SHA-1, no flags, 0 iterations, no salt)"
    else
      assert_match "$types" '(^| )NSEC( |$)' "$S signed export types"
      assert_not_contains "$types" "NSEC3" "$S signed export types"
    fi

    out=$(ldns-verify-zone "$WORK/$S.signed" 2>&1) || fail "ldns-verify-zone rejects the signed $S" "exit 0" "$out"
    out=$(dnssec-verify -o "$S" "$WORK/$S.signed" 2>&1) || fail "dnssec-verify rejects the signed $S" "exit 0" "$out"
    assert_contains "$out" "Zone fully signed" "dnssec-verify $S"

    # Unsigned part of the signed export = the imported file.
    normalise "$WORK/$S.zone" "$S" >"$WORK/$S.norm"
    normalise "$WORK/$S.signed" "$S" >"$WORK/$S.signed.norm"
    diff -u "$WORK/$S.norm" "$WORK/$S.signed.norm" || fail "the signed export of $S lost or changed records (diff above)"

    expected=$(dnssec-dsfromkey -2 -f "$WORK/$S.signed" "$S" | ds_fields)
    [[ -n "$expected" ]] || fail "dnssec-dsfromkey found no KSK in the signed export of $S"
    actual=$(moat ds "$S" | ds_fields)
    assert_eq "$expected" "$actual" "moat ds $S vs dnssec-dsfromkey -2"
    cds=$(awk '$4 == "CDS"' "$WORK/$S.signed" | ds_fields)
    assert_eq "$expected" "$cds" "CDS of $S vs dnssec-dsfromkey -2"
  done
done

step "--json listings are valid JSON"
for args in "domain list" "domain show $D" "record list $D" "key list $D" "ds $D"; do
  # shellcheck disable=SC2086
  out=$(moat --json $args) || fail "moat --json $args failed"
  python3 -m json.tool <<<"$out" >/dev/null || fail "moat --json $args is not JSON" "JSON" "$out"
done
list=$(moat --json domain list)
for d in "$D" ecdsap256-nsec.test rsasha256-nsec3.test; do
  assert_contains "$list" "$d" "moat --json domain list"
done
records=$(moat --json record list "$D")
n=$(python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' <<<"$records")
((n >= 30)) || fail "moat --json record list $D has too few records" ">= 30" "$n"
