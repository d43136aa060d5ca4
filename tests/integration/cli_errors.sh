#!/usr/bin/env bash
# Every failing moat command prints one line on stderr, exits non-zero and leaves the
# database exactly as it was (rule 5 of DESIGN.md).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

D=example.test

# The whole observable state: domains, records, keys and both exports (the SOA serial included).
state() {
  {
    moat --json domain list
    moat --json domain show "$D"
    moat --json record list "$D"
    moat --json key list "$D"
    moat zone export "$D"
    moat --json tsig list
    moat --json secondary list "$D"
  } 2>&1 | sha256sum
}

checks=0
failures=()
# expect_error WHAT ARGS...: `moat ARGS` fails with one line on stderr and changes nothing.
# Every case runs even after one failed, so that one run lists them all.
expect_error() {
  checks=$((checks + 1))
  if ! (check_error "$@"); then
    failures+=("$1")
  fi
}
check_error() {
  local what=$1
  shift
  local before after rc=0
  before=$(state)
  moat "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  after=$(state)
  local err
  err=$(cat "$WORK/err")
  ((rc != 0)) || fail "$what: 'moat $*' exited 0" "a non-zero exit" "exit 0, stdout: $(cat "$WORK/out")"
  local lines
  lines=$(wc -l <"$WORK/err")
  [[ "$lines" == 1 && -n "$err" ]] ||
    fail "$what: 'moat $*' must print exactly one line on stderr" "1 line" "$lines lines: $err"
  assert_eq "$before" "$after" "$what: 'moat $*' changed the database"
  echo "ok ($what): $err"
}

step "a database with one domain and a few records"
moat init >/dev/null
new_domain "$D"
moat record add "$D" @ MX 10 mail >/dev/null
moat record add "$D" mail A 192.0.2.25 >/dev/null
moat record add "$D" www CNAME mail >/dev/null
moat record add "$D" _mta-sts TXT "v=STSv1; id=1" >/dev/null

step "bad names"
expect_error "empty label" record add "$D" "a..b" A 192.0.2.1
expect_error "label over 63 octets" record add "$D" "$(printf 'a%.0s' {1..64})" A 192.0.2.1
long=$(printf 'abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxy.%.0s' {1..5})
expect_error "name over 255 octets" record add "$D" "${long%.}" A 192.0.2.1
expect_error "bad domain name" domain add "bad..test" --ns ns1.example.net
expect_error "bad name server name" domain add other.test --ns "ns1..other.test"

step "bad rdata"
expect_error "A out of range" record add "$D" host A 300.1.1.1
expect_error "A not an address" record add "$D" host A mail.example.test.
expect_error "A with two addresses" record add "$D" host A 192.0.2.1 192.0.2.2
expect_error "AAAA malformed" record add "$D" host AAAA 2001:db8::1::2
expect_error "MX without preference" record add "$D" @ MX mail.example.test.
expect_error "MX preference too large" record add "$D" @ MX 70000 mail.example.test.
expect_error "TLSA digest not hex" record add "$D" _25._tcp.mail TLSA 3 1 1 zz
expect_error "TLSA usage out of range" record add "$D" _25._tcp.mail TLSA 300 1 1 abcd
expect_error "TXT string over 255 octets" record add "$D" t TXT "\"$(printf 'x%.0s' {1..256})\""
expect_error "SRV missing fields" record add "$D" _sip._tcp SRV 10 5 sip.example.test.
expect_error "CAA bad flags" record add "$D" @ CAA 256 issue "\"ca.example\""
expect_error "no rdata" record add "$D" host A ""
expect_error "bad TTL" record add "$D" host A 192.0.2.1 --ttl -5
expect_error "bad --ns address" domain add other.test --ns ns1.other.test=999.1.1.1

step "unknown and forbidden types"
expect_error "unknown type" record add "$D" host FOOBAR 1
expect_error "SOA by hand" record add "$D" @ SOA ns1 hostmaster 1 2 3 4 5
expect_error "RRSIG by hand" record add "$D" @ RRSIG "A 13 2 3600 20300101000000 20200101000000 1 example.test. AAAA"
expect_error "bad algorithm" domain add other.test --ns ns1.other.test=192.0.2.53 --algorithm rsamd5

step "CNAME beside other data"
expect_error "CNAME where an A is" record add "$D" mail CNAME other.example.net.
expect_error "A where a CNAME is" record add "$D" www A 192.0.2.80
expect_error "second CNAME" record add "$D" www CNAME other.example.net.
expect_error "CNAME at the apex" record add "$D" @ CNAME other.example.net.

step "records outside the domain"
expect_error "absolute owner outside" record add "$D" www.example.net. A 192.0.2.1
expect_error "owner is the parent" record add "$D" test. A 192.0.2.1

step "duplicates and missing records"
expect_error "duplicate domain" domain add "$D" --ns "ns1.$D=127.0.0.1"
expect_error "duplicate record" record add "$D" mail A 192.0.2.25
expect_error "delete a missing record" record del "$D" mail A 192.0.2.99
expect_error "delete a missing RRset" record del "$D" nothing TXT
expect_error "delete the last NS" record del "$D" @ NS

step "unknown domain"
expect_error "record add" record add nosuch.test www A 192.0.2.1
expect_error "record list" record list nosuch.test
expect_error "record del" record del nosuch.test www A
expect_error "domain show" domain show nosuch.test
expect_error "domain del" domain del nosuch.test
expect_error "zone export" zone export nosuch.test
expect_error "key list" key list nosuch.test
expect_error "ds" ds nosuch.test

step "zone files with errors"
cat >"$WORK/syntax.zone" <<'EOF'
$ORIGIN example.test.
$TTL 3600
@       IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@       IN NS  ns1
ns1     IN A   127.0.0.1
www     IN A   192.0.2.80
broken  IN A   192.0.2.
EOF
expect_error "zone file with a bad A record" zone import "$D" "$WORK/syntax.zone"
sed 's/^broken.*/broken  IN MX  mail/' "$WORK/syntax.zone" >"$WORK/mx.zone"
expect_error "zone file with a bad MX record" zone import "$D" "$WORK/mx.zone"
sed 's/^broken.*/broken  IN A   192.0.2.1 (/' "$WORK/syntax.zone" >"$WORK/paren.zone"
expect_error "zone file with an open parenthesis" zone import "$D" "$WORK/paren.zone"
sed 's/^broken.*/www     IN CNAME mail/' "$WORK/syntax.zone" >"$WORK/cname.zone"
expect_error "zone file with a CNAME beside an A" zone import "$D" "$WORK/cname.zone"
sed 's/^broken.*/out.example.net. IN A 192.0.2.1/' "$WORK/syntax.zone" >"$WORK/out.zone"
expect_error "zone file with a record outside the zone" zone import "$D" "$WORK/out.zone"
grep -v ' SOA ' "$WORK/syntax.zone" | sed '/^broken/d' >"$WORK/nosoa.zone"
expect_error "zone file without SOA" zone import "$D" "$WORK/nosoa.zone"
expect_error "zone file that does not exist" zone import "$D" "$WORK/missing.zone"
sed 's/example\.test/new.test/; /^broken/!b; s/.*/broken IN A 192.0.2./' "$WORK/syntax.zone" >"$WORK/new.zone"
expect_error "bad zone file for a new domain" zone import new.test "$WORK/new.zone"
domains=$(moat --json domain list)
assert_not_contains "$domains" "new.test" "a failed import of a new domain left it behind"

step "a database that does not exist"
for args in "domain list" "record list $D" "zone export $D" "key list $D" "ds $D" \
  "record add $D www2 A 192.0.2.1" "domain add x.test --ns ns1.x.test=192.0.2.1"; do
  # shellcheck disable=SC2086
  expect_error "missing --db file ($args)" --db "$WORK/absent.db" $args
  [[ ! -e "$WORK/absent.db" ]] || fail "'moat --db $WORK/absent.db $args' created the file"
done
rc=0
MOAT_DB=$WORK/absent2.db "$MOAT_BIN" domain list >/dev/null 2>"$WORK/err" || rc=$?
((rc != 0)) || fail "a missing \$MOAT_DB file is not an error"
[[ ! -e "$WORK/absent2.db" ]] || fail "a missing \$MOAT_DB file was created by 'domain list'"

step "key rollovers and signing settings"
KSK=$(moat --json ds "$D" | jq -r '.[0].key_tag')
expect_error "unknown rollover kind" key rollover "$D" pzk
expect_error "algorithm rollover without --algorithm" key rollover "$D" algorithm
expect_error "algorithm rollover to the same algorithm" key rollover "$D" algorithm --algorithm ecdsap256
expect_error "algorithm rollover to an unknown algorithm" key rollover "$D" algorithm --algorithm dsa
expect_error "--algorithm on a ZSK rollover" key rollover "$D" zsk --algorithm ed25519
expect_error "CSK rollover of a KSK+ZSK domain" key rollover "$D" csk
expect_error "rollover of an unknown domain" key rollover nosuch.test zsk
expect_error "ds-seen of a key tag that is not a number" key ds-seen "$D" abc
expect_error "ds-seen of a key tag over 65535" key ds-seen "$D" 70000
expect_error "ds-seen of a key that is not a KSK" key ds-seen "$D" "$(moat --json key list "$D" | jq -r '.[] | select(.role=="zsk") | .key_tag')"
expect_error "domain set with nothing to set" domain set "$D"
expect_error "--nsec3 and --nsec together" domain set "$D" --nsec3 --nsec
expect_error "--tlsa-issuer with signing options" domain set "$D" --tlsa-issuer on --nsec3
expect_error "sig-refresh over half the validity" domain set "$D" --sig-refresh 8
expect_error "sig-validity out of range" domain set "$D" --sig-validity 1000
expect_error "ksk-lifetime not a number" domain set "$D" --ksk-lifetime soon
expect_error "ksk-lifetime too short" domain set "$D" --ksk-lifetime 1
moat key ds-seen "$D" "$KSK" >/dev/null
expect_error "ds-seen twice" key ds-seen "$D" "$KSK"
moat key rollover "$D" zsk >/dev/null
expect_error "a second rollover while one is under way" key rollover "$D" ksk

step "TSIG keys and secondaries"
moat tsig add xfr-key >/dev/null
expect_error "tsig add of a key that exists" tsig add xfr-key
expect_error "tsig add with an unknown algorithm" tsig add k2 --algorithm hmac-md5
expect_error "tsig add with a secret that is not base64" tsig add k2 --secret 'not base64!'
expect_error "tsig add with a secret too short" tsig add k2 --secret AAAA
expect_error "tsig add with a bad name" tsig add 'a..b'
expect_error "tsig del of an unknown key" tsig del nosuch
expect_error "secondary add to an unknown domain" secondary add nosuch.test 192.0.2.7
expect_error "secondary add with a bad address" secondary add "$D" 192.0.2.300
expect_error "secondary add with a bad port" secondary add "$D" 192.0.2.7:70000
expect_error "secondary add with an unknown key" secondary add "$D" 192.0.2.7 --tsig nosuch
moat secondary add "$D" 192.0.2.7 --tsig xfr-key >/dev/null
expect_error "secondary add twice" secondary add "$D" 192.0.2.7:5300
expect_error "tsig del of a key in use" tsig del xfr-key
expect_error "secondary del of an unknown address" secondary del "$D" 192.0.2.8

step "usage errors"
expect_error "missing arguments" record add "$D" www
expect_error "unknown subcommand" frobnicate
expect_error "unknown option" record list "$D" --frobnicate

step "errors with --json are still one line on stderr"
expect_error "json: unknown domain" --json record list nosuch.test
expect_error "json: bad rdata" --json record add "$D" host A 1.2.3

echo "$checks error cases checked, ${#failures[@]} failed"
if ((${#failures[@]} > 0)); then
  printf '  failed: %s\n' "${failures[@]}"
  fail "${#failures[@]} of $checks error cases failed (details above)"
fi
