#!/usr/bin/env bash
# Rules 1, 3 and 5 of DESIGN.md end to end, with the real moat-dnsd and real clients: an MX host
# is added, its first certificate (new key) is staged behind its TLSA and goes live only two
# TLSA TTLs after moat-dnsd served that TLSA; only then does the MX record appear. A new-key
# rotation publishes the new TLSA beside the old, waits, swaps the files, reloads, and only then
# withdraws the old TLSA; a same-key renewal goes live at once; bad certificates change nothing;
# a removed host loses its MX first and its TLSA one MX TTL later. Then two edge cases of the
# same rules: a negative TTL longer than two TLSA TTLs (the MX must wait for it, counted from the
# TLSA's publication), and a moat-dnsd that cannot listen (it has served nothing, so nothing may
# advance).
#
# Time: moat-dnsd runs on the wall clock and records when it started serving each serial; the
# waits are crossed by running `moat tick` with MOAT_FAKE_TIME (core/clock.cpp) set to that
# moment plus the wait, and one second less. The on-live hook records, at each reload, which
# certificate is on disk and which TLSA records moat-dnsd serves at that instant.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SOFT_FAIL=1 # report every broken check of one run; waits that cannot go on use die
require_tools openssl kdig delv jq

D=example.test
HOST=mail.$D
TLSA_NAME=_25._tcp.$HOST
LIVE=$WORK/live
WAIT_MS=10000 # bound of every wait on moat-dnsd
TLSA_TTL=3600 # core/derived_records.hpp: kTlsaTtl
MX_TTL=3600   # kMxTtl
[[ "$WORK" =~ [[:space:]] ]] && die "--on-live is split on blanks: \$WORK may not contain any ($WORK)"

# --- helpers ---------------------------------------------------------------------------------

# tick_at TIME: `moat tick` with the CLI's clock at TIME (Unix seconds). Sets TICK_OUT (stdout
# and stderr) and TICK_RC.
tick_at() {
  TICK_RC=0
  TICK_OUT=$(MOAT_FAKE_TIME=$1 "$MOAT_BIN" tick 2>&1) || TICK_RC=$?
  printf '   tick at now%+d s (rc %d): %s\n' "$(($1 - $(date +%s)))" "$TICK_RC" \
    "$(tr '\n' ' ' <<<"${TICK_OUT:-nothing done}")"
}

# served DOMAIN: lib.sh's wait_served for DOMAIN (sets SERVED_AT and SERVED_SERIAL).
served() { wait_served "$1"; }

# spki_sha256 CERT: the TLSA 3 1 1 digest, computed by openssl (not by moat).
spki_sha256() {
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

# served_tlsa [NAME]: the TLSA records served at NAME, lower case, sorted, ';'-separated.
served_tlsa() { kq "${1:-$TLSA_NAME}" TLSA +short | tr 'A-F' 'a-f' | sort | paste -sd';'; }
# tlsa_set HASH...: what served_tlsa prints when exactly these 3 1 1 records are served.
tlsa_set() { printf '3 1 1 %s\n' "$@" | sort | paste -sd';'; }

served_mx() { kq "${1:-$D}" MX +short | sort | paste -sd';'; }

# stop_pid PID: stops a process this test started and forgets it (its number may be reused).
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  local kept=() pid
  for pid in "${_lib_pids[@]}"; do [[ $pid == "$1" ]] || kept+=("$pid"); done
  _lib_pids=("${kept[@]}")
}

reload_count() { if [[ -f $WORK/reloads ]]; then wc -l <"$WORK/reloads"; else echo 0; fi; }

# live_state: digests of the live files and the number of reloads so far.
live_state() {
  local f
  for f in fullchain.pem privkey.pem; do
    if [[ -e $LIVE/$f ]]; then sha256sum <"$LIVE/$f" | cut -c1-16; else echo "no-$f"; fi
  done
  echo "reloads=$(reload_count)"
}

# expect_live FULLCHAIN KEY WHAT: the live directory holds exactly these files, the key 0600.
expect_live() {
  cmp -s "$1" "$LIVE/fullchain.pem" || fail "$3: $LIVE/fullchain.pem is not $(basename "$1")"
  cmp -s "$2" "$LIVE/privkey.pem" || fail "$3: $LIVE/privkey.pem is not $(basename "$2")"
  assert_eq 600 "$(stat -c %a "$LIVE/privkey.pem" 2>&1)" "$3: mode of privkey.pem"
}

# cert_states: "STATE SPKI" of every certificate moat holds for the host, sorted.
cert_states() { moat --json cert list "$D" | jq -r '.[] | "\(.state) \(.spki_sha256)"' | sort | paste -sd';'; }

# last_reload_is N CHAIN TLSA WHAT: the Nth reload saw CHAIN on disk and TLSA served.
last_reload_is() {
  assert_eq "$1" "$(reload_count)" "$4: number of reloads"
  local line
  line=$(sed -n "${1}p" "$WORK/reloads" 2>/dev/null)
  assert_eq "$(sha256sum <"$2" | cut -d' ' -f1) $3" "$line" "$4: certificate on disk and TLSA served when the reload ran"
}

# --- 2. certificates (openssl only) ----------------------------------------------------------
step "test certificates: a CA, leaves for $HOST (key 1; key 2; key 2 renewed), and bad ones"
C=$WORK/certs
mkdir -p "$C/ca"
(
  cd "$C"
  exec 2>>"$C/openssl.log" >>"$C/openssl.log"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=moat test CA"
  leaf() { # leaf KEYFILE CSRFILE NAME
    openssl req -new "${ec[@]}" -keyout "$1" -out "$2" -subj "/CN=$3" -addext "subjectAltName=DNS:$3"
  }
  sign() { # sign CSR OUT SERIAL DAYS
    openssl x509 -req -in "$1" -CA ca.pem -CAkey ca.key -set_serial "$3" -days "$4" \
      -copy_extensions copy -out "$2"
  }
  leaf k1.pem c1.csr "$HOST" && sign c1.csr c1.pem 1 10
  leaf k2.pem c2.csr "$HOST" && sign c2.csr c2.pem 2 10
  sign c2.csr c3.pem 3 20 # the renewal of c2: same key, same CSR, a new certificate
  leaf ko.pem co.csr "other.$D" && sign co.csr co.pem 4 10
  # Expired and not yet valid leaves need explicit dates: `openssl ca` takes them.
  : >ca/index.txt
  echo 10 >ca/serial
  cat >ca.cnf <<'EOF'
[ca]
default_ca = test_ca
[test_ca]
database = ca/index.txt
new_certs_dir = ca
serial = ca/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
EOF
  ca_sign() { # ca_sign CSR OUT START END
    openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in "$1" -out "$2" \
      -startdate "$3" -enddate "$4"
  }
  ca_sign c1.csr expired.pem 20200101000000Z 20200201000000Z
  ca_sign c1.csr notyet.pem 20990101000000Z 20990201000000Z
  for n in 1 2 3 o; do cat "c$n.pem" ca.pem >"fullchain$n.pem"; done
  cat expired.pem ca.pem >fullchain-expired.pem
  cat notyet.pem ca.pem >fullchain-notyet.pem
  # Cut inside a PEM block (a cut right after an END line would be a valid shorter chain):
  # inside the leaf, and inside the second certificate after a complete leaf.
  head -n 5 fullchain3.pem >fullchain-truncated-leaf.pem
  awk 'done && ++n > 4 { exit } { print } /^-----END / { done = 1 }' fullchain3.pem \
    >fullchain-truncated-chain.pem
  head -c "$(($(wc -c <k2.pem) - 40))" k2.pem >k2-truncated.pem
) || die "openssl could not make the test certificates: $(tail -n 5 "$C/openssl.log")"
H1=$(spki_sha256 "$C/c1.pem")
H2=$(spki_sha256 "$C/c2.pem")
assert_eq "$H2" "$(spki_sha256 "$C/c3.pem")" "the renewal keeps the key"
[[ $H1 != "$H2" ]] || die "key 1 and key 2 have the same SPKI"
openssl x509 -in "$C/expired.pem" -noout -checkend 0 >/dev/null && die "expired.pem is not expired"

# The on-live hook: fails while $WORK/reload-fails exists; otherwise records the digest of the
# fullchain.pem it finds and the TLSA records moat-dnsd serves at that instant.
cat >"$WORK/on-live.sh" <<EOF
#!/usr/bin/env bash
set -eu
[[ ! -e "$WORK/reload-fails" ]] || { echo "reload refused by the test" >&2; exit 1; }
chain=\$(sha256sum <"$LIVE/fullchain.pem" | cut -d' ' -f1)
port=\$(cat "$WORK/dnsd.port")
tlsa=\$(kdig @127.0.0.1 -p "\$port" +norecurse +time=2 +retry=0 +short "$TLSA_NAME" TLSA |
  tr 'A-F' 'a-f' | sort | paste -sd';')
echo "\$chain \$tlsa" >>"$WORK/reloads"
EOF
chmod +x "$WORK/on-live.sh"

# --- 1. database and server ------------------------------------------------------------------
step "a database with $D, served by moat-dnsd"
moat init >/dev/null
new_domain "$D"
# The operator adds the DS at the parent and says so; until then `moat status` asks for it.
assert_contains "$(moat status "$D")" "registrar: add this DS record" "moat status of a new domain"
moat key ds-seen "$D" "$(moat --json ds "$D" | jq -r '.[0].key_tag')" >/dev/null
start_dnsd "$D" 10 --poll-ms 20
echo "$DNSD_PORT" >"$WORK/dnsd.port"
trust_anchor "$D" "$WORK/ta.conf"

# --- 3. the MX host --------------------------------------------------------------------------
step "moat mx add: the host's address is published, no MX yet"
moat mx add "$D" "$HOST" --priority 10 --addr 192.0.2.25 --live-dir "$LIVE" \
  --on-live "$WORK/on-live.sh" >/dev/null
served "$D"
assert_eq "192.0.2.25" "$(kq "$HOST" A +short)" "A of $HOST after mx add"
assert_eq "" "$(served_mx)" "MX of $D right after mx add"
assert_contains "$(moat status "$D")" "MX record published — waits for a certificate" "moat status after mx add"

# --- 4. first certificate: staged ------------------------------------------------------------
step "first certificate (key 1) deployed while moat-dnsd is down: nothing can move forward"
stop_pid "$DNSD_PID"
deployed_before=$(date +%s)
out=$(moat --json cert deploy --fullchain "$C/fullchain1.pem" --key "$C/k1.pem")
assert_eq "false" "$(jq -r '.hosts[0].live_now' <<<"$out")" "first deploy is not live at once"
wait1=$(jq -r '.hosts[0].wait_serial' <<<"$out")
assert_eq "staged $H1" "$(cert_states)" "certificates after the first deploy"
assert_contains "$(moat zone export "$D")" "3 1 1 $H1" "desired zone holds the staged TLSA"
tick_at $((deployed_before + 86400))
assert_eq 0 "$TICK_RC" "tick a day later with moat-dnsd down"
assert_eq "staged $H1" "$(cert_states)" "a day later, moat-dnsd down: the certificate is still staged"
[[ ! -e $LIVE/fullchain.pem && ! -e $LIVE/privkey.pem ]] || fail "certificate files written before moat-dnsd served its TLSA"
assert_eq 0 "$(reload_count)" "reloads before the TLSA is served"
assert_contains "$(moat status "$D")" "waits for moat-dnsd to serve $D. serial $wait1" "moat status while moat-dnsd is down"

step "moat-dnsd back: the TLSA 3 1 1 of key 1 is served and signed, still no MX"
start_dnsd "$D" 10 --poll-ms 20
echo "$DNSD_PORT" >"$WORK/dnsd.port"
served "$D"
P1=$SERVED_AT
served_after=$(date +%s)
((SERVED_SERIAL == wait1)) || fail "serial served after the deploy" "$wait1" "$SERVED_SERIAL"
((deployed_before <= P1 && P1 <= served_after)) ||
  fail "moat-dnsd's publication time is off the wall clock" "$deployed_before..$served_after" "$P1"
assert_eq "$(tlsa_set "$H1")" "$(served_tlsa)" "TLSA served for the staged key 1 (digest by openssl)"
out=$(q "$TLSA_NAME" TLSA +dnssec)
assert_eq "RRSIG TLSA" "$(section_types "$out" ANSWER)" "TLSA answer with +dnssec is signed"
expect_validated "$WORK/ta.conf" "$D" "$TLSA_NAME" TLSA "3 1 1"
out=$(q "$D" MX)
assert_eq "NOERROR" "$(dig_status "$out")" "MX query while the certificate is staged"
assert_eq "" "$(dig_section "$out" ANSWER)" "no MX while the certificate is staged"
[[ ! -e $LIVE/fullchain.pem && ! -e $LIVE/privkey.pem ]] || fail "certificate files written while staged"
assert_contains "$(moat status "$D")" "certificate 1 goes live — waits for caches to expire (7200 s after it was served)" "moat status while staged"

# --- 5. the wait of two TLSA TTLs ------------------------------------------------------------
step "tick one second before two TLSA TTLs: not live, no files, no reload, no MX"
tick_at $((P1 + 2 * TLSA_TTL - 1))
assert_eq 0 "$TICK_RC" "tick before the wait is over"
assert_eq "staged $H1" "$(cert_states)" "certificate one second before the wait is over"
[[ ! -e $LIVE/fullchain.pem && ! -e $LIVE/privkey.pem ]] || fail "certificate files written before 2 TLSA TTLs"
assert_eq 0 "$(reload_count)" "reloads before 2 TLSA TTLs"
assert_not_contains "$(moat zone export "$D")" $'\tMX\t' "desired zone before the certificate is live"

step "tick at two TLSA TTLs: key 1 live, files installed (key 0600), reload ran once"
tick_at $((P1 + 2 * TLSA_TTL))
assert_eq 0 "$TICK_RC" "tick once the wait is over"
assert_contains "$TICK_OUT" "is live on $HOST." "tick output"
assert_eq "live $H1" "$(cert_states)" "certificate after the wait"
expect_live "$C/fullchain1.pem" "$C/k1.pem" "after go-live of key 1"
last_reload_is 1 "$C/fullchain1.pem" "$(tlsa_set "$H1")" "go-live of key 1"

# --- 6. the MX -------------------------------------------------------------------------------
# With this SOA the MX wait, max(TLSA TTL, negative TTL) = 3600 s from the host's publication,
# is already over when the certificate goes live: the MX may come with the same tick.
step "tick past the MX wait: MX 10 $HOST served and signed; nothing pending"
tick_at $((P1 + 2 * TLSA_TTL + MX_TTL))
assert_eq 0 "$TICK_RC" "tick past the MX wait"
served "$D"
assert_eq "10 $HOST." "$(served_mx)" "MX of $D once the certificate is live"
out=$(q "$D" MX +dnssec)
assert_eq "MX RRSIG" "$(section_types "$out" ANSWER)" "MX answer with +dnssec is signed"
expect_validated "$WORK/ta.conf" "$D" "$D" MX "10 $HOST."
assert_eq "$(tlsa_set "$H1")" "$(served_tlsa)" "TLSA with key 1 live"
assert_eq "1" "$(reload_count)" "reloads after the MX tick"
assert_eq "$D. serial $SERVED_SERIAL, moat-dnsd serves serial $SERVED_SERIAL since $(date -u -d "@$SERVED_AT" +%Y-%m-%dT%H:%M:%SZ)
nothing pending" "$(moat status "$D" | grep -v '^scheduled: \|^keys: ')" "moat status once the MX is published"
assert_contains "$(moat status "$D")" "keys: ksk " "moat status shows the keys"
assert_contains "$(moat status "$D")" "scheduled: $D.: zsk rollover" "moat status shows the next key rollover"

# --- 7. rotation to a new key ----------------------------------------------------------------
step "new key (key 2) deployed: staged, both TLSA served, live files untouched"
before=$(live_state)
out=$(moat --json cert deploy --fullchain "$C/fullchain2.pem" --key "$C/k2.pem")
assert_eq "false" "$(jq -r '.hosts[0].live_now' <<<"$out")" "new-key deploy is not live at once"
served "$D"
P2=$SERVED_AT
assert_eq "$(tlsa_set "$H1" "$H2")" "$(served_tlsa)" "TLSA while key 2 is staged (old and new)"
assert_eq "10 $HOST." "$(served_mx)" "MX during the rotation"
assert_eq "live $H1;staged $H2" "$(cert_states)" "certificates while key 2 is staged"
assert_eq "$before" "$(live_state)" "live files and reloads right after the new-key deploy"

step "tick one second before two TLSA TTLs: nothing changes"
tick_at $((P2 + 2 * TLSA_TTL - 1))
assert_eq 0 "$TICK_RC" "tick before the wait is over (key 2)"
assert_eq "live $H1;staged $H2" "$(cert_states)" "certificates one second before the wait is over"
assert_eq "$before" "$(live_state)" "live files and reloads one second before the wait is over"
assert_eq "$(tlsa_set "$H1" "$H2")" "$(served_tlsa)" "TLSA one second before the wait is over"

step "tick at two TLSA TTLs while the reload command fails: the old TLSA stays"
touch "$WORK/reload-fails"
tick_at $((P2 + 2 * TLSA_TTL))
((TICK_RC != 0)) || fail "tick with a failing reload command exited 0"
assert_eq "live $H1;staged $H2" "$(cert_states)" "certificates after a failed reload"
assert_eq "$(tlsa_set "$H1" "$H2")" "$(served_tlsa)" "TLSA after a failed reload (old one kept)"
assert_contains "$(moat zone export "$D")" "3 1 1 $H1" "desired zone after a failed reload keeps the old TLSA"
assert_eq 1 "$(reload_count)" "successful reloads after a failed one"
rm "$WORK/reload-fails"

step "tick again: key 2 live, files swapped, reload ran, then the old TLSA withdrawn"
tick_at $((P2 + 2 * TLSA_TTL))
assert_eq 0 "$TICK_RC" "tick after the reload command works again"
assert_contains "$TICK_OUT" "the old TLSA is withdrawn" "tick output"
assert_eq "live $H2;retired $H1" "$(cert_states)" "certificates after go-live of key 2"
expect_live "$C/fullchain2.pem" "$C/k2.pem" "after go-live of key 2"
last_reload_is 2 "$C/fullchain2.pem" "$(tlsa_set "$H1" "$H2")" "go-live of key 2"
served "$D"
assert_eq "$(tlsa_set "$H2")" "$(served_tlsa)" "TLSA once moat-dnsd serves the serial after go-live"
expect_validated "$WORK/ta.conf" "$D" "$TLSA_NAME" TLSA "3 1 1 $(tr a-f A-F <<<"${H2:0:16}")"
assert_eq "10 $HOST." "$(served_mx)" "MX after the rotation"

# --- 8. renewal with the same key ------------------------------------------------------------
step "renewal of key 2 with the same key: live at once, files replaced, reload, same TLSA"
tlsa_before=$(served_tlsa)
out=$(moat --json cert deploy --fullchain "$C/fullchain3.pem" --key "$C/k2.pem")
assert_eq "true" "$(jq -r '.hosts[0].live_now' <<<"$out")" "same-key deploy is live at once"
expect_live "$C/fullchain3.pem" "$C/k2.pem" "after the same-key renewal"
last_reload_is 3 "$C/fullchain3.pem" "$(tlsa_set "$H2")" "same-key renewal"
assert_eq "live $H2;retired $H1" "$(cert_states)" "certificates after the same-key renewal"
served "$D"
assert_eq "$tlsa_before" "$(served_tlsa)" "TLSA after the same-key renewal"
tick_at "$(date +%s)"
assert_eq 0 "$TICK_RC" "tick after the renewal"
assert_eq 3 "$(reload_count)" "a tick after the renewal does not reload again"

# --- 9. rule 5: bad certificates change nothing ----------------------------------------------
step "bad certificates: one line on stderr, non-zero exit, nothing changed"
state() {
  {
    moat --json cert list
    moat zone export "$D"
    live_state
  } 2>&1 | sha256sum
}
expect_refused() {
  local what=$1 rc=0 before after lines
  shift
  before=$(state)
  moat cert deploy "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  after=$(state)
  ((rc != 0)) || fail "$what: cert deploy exited 0" "a non-zero exit" "exit 0: $(cat "$WORK/out")"
  lines=$(wc -l <"$WORK/err")
  [[ $lines == 1 && -s $WORK/err ]] || fail "$what: one line on stderr" "1 line" "$lines: $(cat "$WORK/err")"
  assert_eq "$before" "$after" "$what: the state changed"
  echo "   ok ($what): $(cat "$WORK/err")"
}
expect_refused "a certificate for other.$D" --fullchain "$C/fullchaino.pem" --key "$C/ko.pem"
expect_refused "a certificate for other.$D, --host $HOST" --fullchain "$C/fullchaino.pem" \
  --key "$C/ko.pem" --host "$HOST"
expect_refused "an expired certificate" --fullchain "$C/fullchain-expired.pem" --key "$C/k1.pem"
expect_refused "a certificate not valid yet" --fullchain "$C/fullchain-notyet.pem" --key "$C/k1.pem"
expect_refused "a key that does not match" --fullchain "$C/fullchain3.pem" --key "$C/k1.pem"
expect_refused "a PEM cut inside the leaf" --fullchain "$C/fullchain-truncated-leaf.pem" \
  --key "$C/k2.pem"
expect_refused "a PEM cut inside the issuer" --fullchain "$C/fullchain-truncated-chain.pem" \
  --key "$C/k2.pem"
expect_refused "a truncated key PEM" --fullchain "$C/fullchain3.pem" --key "$C/k2-truncated.pem"
served "$D"
assert_eq "$(tlsa_set "$H2")" "$(served_tlsa)" "TLSA after the refused deployments"

# --- 10. removal: MX first, TLSA one MX TTL later --------------------------------------------
step "moat mx del: the MX goes first, the TLSA stays"
moat mx del "$D" "$HOST" >/dev/null
served "$D"
P3=$SERVED_AT
assert_eq "" "$(served_mx)" "MX after mx del"
assert_eq "$(tlsa_set "$H2")" "$(served_tlsa)" "TLSA right after mx del"
out=$(q "$TLSA_NAME" TLSA +dnssec)
assert_eq "RRSIG TLSA" "$(section_types "$out" ANSWER)" "TLSA still signed after mx del"

step "tick one second before the MX TTL: the TLSA stays"
tick_at $((P3 + MX_TTL - 1))
assert_eq 0 "$TICK_RC" "tick before the MX TTL is over"
assert_contains "$(moat zone export "$D")" "3 1 1 $H2" "desired zone before the MX TTL is over"
assert_eq "$(tlsa_set "$H2")" "$(served_tlsa)" "TLSA one second before the MX TTL is over"

step "tick at the MX TTL: the TLSA and the host's address are withdrawn"
tick_at $((P3 + MX_TTL))
assert_eq 0 "$TICK_RC" "tick at the MX TTL"
served "$D"
assert_eq "" "$(served_tlsa)" "TLSA once the MX has been out for its TTL"
assert_eq "NXDOMAIN" "$(dig_status "$(q "$TLSA_NAME" TLSA)")" "TLSA name after removal"
assert_eq "" "$(kq "$HOST" A +short)" "A of $HOST after removal"
expect_validated "$WORK/ta.conf" "$D" "$TLSA_NAME" TLSA "NXDOMAIN"
assert_contains "$(moat status "$D")" "nothing pending" "moat status after removal"

# --- 11. rule 3 with a negative TTL longer than two TLSA TTLs --------------------------------
# Before a TLSA record exists, a resolver may cache "no such TLSA" for the negative TTL
# (min(SOA TTL, SOA MINIMUM), RFC 2308 §5). A sender that sees the MX while that answer is
# cached delivers without DANE, so the MX must wait for the negative TTL counted from the serial
# that first published the TLSA, not from the one that published the host.
N=neg.test
NH=mail.$N
NEG_TTL=10800
step "$N: negative TTL $NEG_TTL s; the MX waits for it from the TLSA's publication"
cat >"$WORK/neg.zone" <<EOF
\$TTL $NEG_TTL
@    IN SOA ns1.$N. hostmaster.$N. 1 14400 3600 1209600 $NEG_TTL
@    IN NS  ns1.$N.
ns1  IN A   127.0.0.1
EOF
moat zone import "$N" "$WORK/neg.zone" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$C/kn.pem" \
  -out "$C/cn.csr" -subj "/CN=$NH" -addext "subjectAltName=DNS:$NH" >>"$C/openssl.log" 2>&1
openssl x509 -req -in "$C/cn.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -set_serial 20 -days 10 \
  -copy_extensions copy -out "$C/cn.pem" >>"$C/openssl.log" 2>&1
moat mx add "$N" "$NH" --priority 10 --addr 192.0.2.26 --live-dir "$WORK/live-neg" >/dev/null
served "$N"
PN0=$SERVED_AT
# The TLSA must be published at a later second than the host for the two to be told apart.
deadline=$(($(now_ms) + 2000))
while (($(date +%s) <= PN0)); do
  (($(now_ms) < deadline)) || die "the wall clock does not move"
  sleep 0.05
done
moat cert deploy --fullchain "$C/cn.pem" --key "$C/kn.pem" >/dev/null
served "$N"
PN1=$SERVED_AT
((PN1 > PN0)) || die "TLSA published in the same second as the host" "> $PN0" "$PN1"
assert_eq "$(tlsa_set "$(spki_sha256 "$C/cn.pem")")" "$(served_tlsa "_25._tcp.$NH")" "TLSA of $NH"
echo "   $NH served since $PN0, its TLSA since $PN1 ($((PN1 - PN0)) s later)"
tick_at $((PN1 + 2 * TLSA_TTL))
assert_contains "$TICK_OUT" "is live on $NH." "tick at two TLSA TTLs ($N)"
echo "   $(MOAT_FAKE_TIME=$((PN1 + 2 * TLSA_TTL)) "$MOAT_BIN" status "$N" | grep pending)"
tick_at $((PN1 + NEG_TTL - 1))
served "$N"
assert_eq "" "$(served_mx "$N")" "MX of $N one second before the TLSA's negative TTL is over (rule 3)"
tick_at $((PN1 + NEG_TTL))
served "$N"
assert_eq "10 $NH." "$(served_mx "$N")" "MX of $N once the TLSA's negative TTL is over"

# --- 12. a moat-dnsd that cannot listen has served nothing -----------------------------------
# Steps advance only on observed publication: a moat-dnsd that exits because its address is
# taken (another name server on port 53, say) has answered no query, so it must not report the
# staged TLSA as served. A database of its own, so that the main flow above is not disturbed.
step "a moat-dnsd that cannot bind its address reports no serial as served"
python3 - "$WORK/held.port" <<'PY' &
# Holds a loopback port (UDP and TCP) until killed; writes its number when it holds it.
import os, socket, sys, time
for _ in range(100):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    t.listen()
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
        break
    except OSError:
        t.close()
        u.close()
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(port))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
PY
holder_pid=$!
track_pid "$holder_pid"
deadline=$(($(now_ms) + WAIT_MS))
until [[ -s $WORK/held.port ]]; do
  (($(now_ms) < deadline)) || die "the port holder did not start"
  sleep 0.05
done
held=$(cat "$WORK/held.port")
(
  export MOAT_DB=$WORK/nolisten.db
  moat init >/dev/null
  new_domain "$D"
  moat mx add "$D" "$HOST" --priority 10 --live-dir "$WORK/live-nolisten" >/dev/null
  wait_nl=$(moat --json cert deploy --fullchain "$C/fullchain1.pem" --key "$C/k1.pem" |
    jq -r '.hosts[0].wait_serial')
  rc=0
  timeout 10 "$MOATD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$held" >"$WORK/nolisten.log" 2>&1 || rc=$?
  ((rc != 0 && rc != 124)) || fail "moat-dnsd on a taken port" "a non-zero exit at start" "exit $rc"
  assert_contains "$(cat "$WORK/nolisten.log")" "127.0.0.1:$held" "moat-dnsd's error about the taken port"
  assert_contains "$(moat status "$D" | head -n1)" "not served by moat-dnsd yet" \
    "moat status after a moat-dnsd that never listened (it acknowledged serial $wait_nl)"
  tick_at $(($(date +%s) + 86400))
  assert_eq "staged $H1" "$(cert_states)" "certificate a day after a moat-dnsd that never listened"
  [[ ! -e $WORK/live-nolisten/fullchain.pem ]] ||
    fail "certificate files installed although its TLSA was never served"
)
stop_pid "$holder_pid"
