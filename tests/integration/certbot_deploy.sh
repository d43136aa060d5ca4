#!/usr/bin/env bash
# `moat cert deploy --certbot` as the --deploy-hook of the real certbot, with certificates from
# a real ACME server (pebble) that validates HTTP-01 by resolving the MX host through moat-dnsd.
# DESIGN.md rule 1 (RFC 7671 §8.1, RFC 7672 §3.1) end to end: the first certificate and a
# renewal with a new key are staged behind their TLSA until moat-dnsd has served it for two TLSA
# TTLs, then installed and the host reloaded; a renewal with --reuse-key goes live at once with
# the same TLSA. Rule 5: a hook run that cannot read its lineage fails loudly and changes nothing.
#
# Time: moat-dnsd, pebble and certbot run on the wall clock; the two-TTL waits are crossed by
# `moat tick` with MOAT_FAKE_TIME (core/clock.cpp) set to two TLSA TTLs after moat-dnsd's ack of
# the serial the hook named (checked against what `moat status` gives), and one second less.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SOFT_FAIL=1 # report every broken check of one run; waits that cannot go on use die
require_tools certbot pebble openssl kdig curl jq

D=example.test
HOST=mail.$D
TLSA_NAME=_25._tcp.$HOST
LIVE=$WORK/live
CB=$WORK/certbot              # certbot's --config-dir, --work-dir and --logs-dir are under it
LINEAGE=$CB/config/live/$HOST # certbot's live directory of the lineage (RENEWED_LINEAGE)
WAIT_MS=15000                 # bound of every wait on a daemon
TLSA_TTL=3600                 # core/derived_records.hpp: kTlsaTtl
[[ "$WORK" =~ [[:space:]] ]] && die "--on-live and the hook are split on blanks: \$WORK may not contain any ($WORK)"

# --- helpers ---------------------------------------------------------------------------------

# spki_sha256 CERT: the TLSA 3 1 1 digest of the first certificate in CERT, by openssl alone.
spki_sha256() {
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}

# cert_states: "STATE SPKI" of every certificate moat holds for the host, sorted, ';'-separated.
cert_states() {
  moat --json cert list "$D" | jq -r '.[] | "\(.state) \(.spki_sha256)"' | sort | paste -sd';'
}

# served_tlsa: the TLSA records moat-dnsd serves for the host, lower case, sorted, ';'-separated.
served_tlsa() { kq "$TLSA_NAME" TLSA +short | tr 'A-F' 'a-f' | sort | paste -sd';'; }
# tlsa_set HASH...: what served_tlsa prints when exactly these 3 1 1 records are served.
tlsa_set() { printf '3 1 1 %s\n' "$@" | sort | paste -sd';'; }

reload_count() { if [[ -f $WORK/reloads ]]; then wc -l <"$WORK/reloads"; else echo 0; fi; }

# live_state: digests of the live files (or their absence) and the number of reloads so far.
live_state() {
  local f
  for f in fullchain.pem privkey.pem; do
    if [[ -e $LIVE/$f ]]; then sha256sum <"$LIVE/$f" | cut -c1-16; else echo "no-$f"; fi
  done
  echo "reloads=$(reload_count)"
}

# expect_live FULLCHAIN KEY WHAT: the live directory holds exactly these files, the key 0600.
expect_live() {
  cmp -s "$1" "$LIVE/fullchain.pem" || fail "$3: $LIVE/fullchain.pem is not certbot's $1"
  cmp -s "$2" "$LIVE/privkey.pem" || fail "$3: $LIVE/privkey.pem is not certbot's $2"
  assert_eq 600 "$(stat -c %a "$LIVE/privkey.pem" 2>&1)" "$3: mode of privkey.pem"
}

# last_reload_saw N FULLCHAIN WHAT: N reloads so far, the last with FULLCHAIN already on disk.
last_reload_saw() {
  assert_eq "$1" "$(reload_count)" "$3: number of reloads"
  assert_eq "$(sha256sum <"$2" | cut -d' ' -f1)" "$(sed -n "${1}p" "$WORK/reloads" 2>/dev/null)" \
    "$3: the certificate on disk when the reload ran"
}

# staged_by_hook: the hook said (through certbot's output) that it staged the certificate until
# moat-dnsd serves serial N: waits for that serial and checks that moat-dnsd's ack came after
# the hook ran. Sets GO_LIVE, two TLSA TTLs after the ack, and checks `moat status` agrees.
staged_by_hook() {
  local out wait_serial
  out=$(cat "$WORK/certbot.out")
  assert_contains "$out" "$HOST.: new key, staged" "certbot's output shows what the hook did"
  wait_serial=$(sed -n 's/.*after moat-dnsd serves serial \([0-9]*\).*/\1/p' <<<"$out" | head -n1)
  [[ $wait_serial =~ ^[0-9]+$ ]] || die "the hook's output names no serial" "a serial" "$out"
  wait_served
  assert_eq "$wait_serial" "$SERVED_SERIAL" "the serial moat-dnsd serves after the hook"
  ((CERTBOT_STARTED <= SERVED_AT && SERVED_AT <= $(date +%s))) ||
    fail "moat-dnsd's ack of serial $wait_serial is off the wall clock" "$CERTBOT_STARTED..$(date +%s)" "$SERVED_AT"
  GO_LIVE=$((SERVED_AT + 2 * TLSA_TTL))
  assert_eq "$GO_LIVE" "$(go_live_time)" "go-live time in moat status (two TLSA TTLs after the ack)"
}

# tick_at TIME: `moat tick` with the CLI's clock at TIME (Unix seconds). Sets TICK_OUT (stdout
# and stderr) and TICK_RC.
tick_at() {
  TICK_RC=0
  TICK_OUT=$(MOAT_FAKE_TIME=$1 "$MOAT_BIN" tick 2>&1) || TICK_RC=$?
  printf '   tick at now%+d s (rc %d): %s\n' "$(($1 - $(date +%s)))" "$TICK_RC" \
    "$(tr '\n' ' ' <<<"${TICK_OUT:-nothing done}")"
}

# run_certbot VERB ARGS...: certbot against pebble, its state under $CB, trusting pebble's HTTPS
# through the test CA only, and without MOAT_DB in its environment (as from certbot.timer): the
# hook must name the database itself. Its output goes to $WORK/certbot.out; a failure ends the
# test. Sets CERTBOT_STARTED (Unix time).
run_certbot() {
  local rc=0
  CERTBOT_STARTED=$(date +%s)
  env -u MOAT_DB REQUESTS_CA_BUNDLE="$PEBBLE_CA" certbot "$1" --non-interactive \
    --config-dir "$CB/config" --work-dir "$CB/work" --logs-dir "$CB/logs" \
    --server "https://127.0.0.1:$PEBBLE_PORT/dir" \
    --standalone --http-01-address 127.0.0.1 --http-01-port "$HTTP01_PORT" \
    "${@:2}" >"$WORK/certbot.out" 2>&1 || rc=$?
  if ((rc != 0)); then
    cat "$WORK/certbot.out" >&2
    tail -n 40 "$CB/logs/letsencrypt.log" >&2 2>/dev/null || true
    echo "--- last lines of pebble.log" >&2
    tail -n 20 "$PEBBLE_LOG" >&2
    die "certbot $1 exited $rc"
  fi
}

# The on-live command: records the digest of the fullchain.pem it finds at each reload.
cat >"$WORK/on-live.sh" <<EOF
#!/bin/sh
sha256sum <"$LIVE/fullchain.pem" | cut -d' ' -f1 >>"$WORK/reloads"
EOF
chmod +x "$WORK/on-live.sh"

# --- 1. database and server ------------------------------------------------------------------
step "a database with $D and the MX host $HOST at 127.0.0.1, served by moat-dnsd"
moat init >/dev/null
new_domain "$D"
moat mx add "$D" "$HOST" --priority 10 --addr 127.0.0.1 --live-dir "$LIVE" \
  --on-live "$WORK/on-live.sh" >/dev/null
start_dnsd "$D" 10 --poll-ms 20
wait_served
assert_eq "127.0.0.1" "$(kq "$HOST" A +short)" "A of $HOST (pebble validates HTTP-01 there)"

# --- 2. pebble -------------------------------------------------------------------------------
step "pebble on free loopback ports, resolving through moat-dnsd"
start_pebble "$DNSD_PORT"
HTTP01_PORT=$PEBBLE_HTTP01_PORT
echo "pebble (pid $PEBBLE_PID) serves https://127.0.0.1:$PEBBLE_PORT/dir; HTTP-01 on port $HTTP01_PORT"

# --- 3. first certificate: certbot certonly, the hook stages it ------------------------------
# certbot runs the hook through /bin/sh -c and saves it in the lineage's renewal configuration,
# so `certbot renew` runs it again; the hook names the database itself, as an operator's would.
HOOK="env MOAT_DB=$MOAT_DB $MOAT_BIN cert deploy --certbot"
step "certbot certonly --deploy-hook '$HOOK'"
run_certbot certonly --agree-tos --register-unsafely-without-email -d "$HOST" \
  --key-type ecdsa --deploy-hook "$HOOK"
[[ -f $LINEAGE/fullchain.pem && -f $LINEAGE/privkey.pem ]] || die "certbot made no lineage at $LINEAGE"
assert_not_contains "$(cat "$WORK/certbot.out")" "reported error code" "certbot's output after the first issuance"
H1=$(spki_sha256 "$LINEAGE/cert.pem")
assert_match "$(openssl x509 -in "$LINEAGE/cert.pem" -noout -ext subjectAltName)" "DNS:$HOST\$" "SAN of the issued certificate"
assert_eq "staged $H1" "$(cert_states)" "moat's certificates after the hook (SPKI digest by openssl)"
assert_eq "$HOST." "$(moat --json cert list "$D" | jq -r '.[0].host')" "host of the staged certificate"
# The hook's stdout reaches the operator through certbot's output.
staged_by_hook
T1=$GO_LIVE
assert_eq "$(tlsa_set "$H1")" "$(served_tlsa)" "TLSA served for the staged key"
[[ ! -e $LIVE ]] || [[ -z "$(ls -A "$LIVE")" ]] || fail "files in $LIVE before the TLSA was served for two TTLs" "no files" "$(ls -A "$LIVE")"
assert_eq 0 "$(reload_count)" "reloads while the first certificate is staged"

# --- 4. the wait of two TLSA TTLs ------------------------------------------------------------
step "tick one second before the go-live time: nothing installed; at it: live, reloaded once"
tick_at $((T1 - 1))
assert_eq 0 "$TICK_RC" "tick before the wait is over"
assert_eq "staged $H1" "$(cert_states)" "certificate one second before the wait is over"
[[ ! -e $LIVE/fullchain.pem && ! -e $LIVE/privkey.pem ]] || fail "certificate files written before two TLSA TTLs"
assert_eq 0 "$(reload_count)" "reloads one second before the wait is over"
tick_at "$T1"
assert_eq 0 "$TICK_RC" "tick once the wait is over"
assert_contains "$TICK_OUT" "is live on $HOST." "tick output"
assert_eq "live $H1" "$(cert_states)" "certificate after the wait"
expect_live "$LINEAGE/fullchain.pem" "$LINEAGE/privkey.pem" "first certificate live"
last_reload_saw 1 "$LINEAGE/fullchain.pem" "first certificate live"
wait_served
assert_eq "$(tlsa_set "$H1")" "$(served_tlsa)" "TLSA once the first certificate is live"

# --- 5. renewal with --reuse-key: live at once -----------------------------------------------
step "certbot renew --force-renewal --reuse-key: the hook installs it at once, same TLSA"
cp "$LINEAGE/fullchain.pem" "$WORK/fullchain-1.pem"
run_certbot renew --cert-name "$HOST" --force-renewal --reuse-key --no-random-sleep-on-renew
cb_out=$(cat "$WORK/certbot.out")
assert_contains "$cb_out" "$HOST.: same key as the live certificate; installed now" "certbot's output shows what the hook did"
assert_not_contains "$cb_out" "reported error code" "certbot's output after the same-key renewal"
cmp -s "$WORK/fullchain-1.pem" "$LINEAGE/fullchain.pem" && fail "certbot renew did not give a new certificate"
assert_eq "$H1" "$(spki_sha256 "$LINEAGE/cert.pem")" "the renewal with --reuse-key keeps the key"
assert_eq "live $H1" "$(cert_states)" "certificates after the same-key renewal"
expect_live "$LINEAGE/fullchain.pem" "$LINEAGE/privkey.pem" "same-key renewal live at once"
last_reload_saw 2 "$LINEAGE/fullchain.pem" "same-key renewal"
wait_served
assert_eq "$(tlsa_set "$H1")" "$(served_tlsa)" "TLSA after the same-key renewal"
tick_at "$(date +%s)"
assert_eq 0 "$TICK_RC" "tick after the same-key renewal"
assert_eq 2 "$(reload_count)" "a tick after the same-key renewal does not reload again"

# --- 6. renewal with a new key: staged ------------------------------------------------------
# certbot saved reuse_key in the renewal configuration: --no-reuse-key (certbot's default for a
# new lineage) unsets it, as an operator who stops reusing keys would.
step "certbot renew --force-renewal --no-reuse-key: staged, old and new TLSA served"
cp "$LINEAGE/fullchain.pem" "$WORK/fullchain-2.pem"
cp "$LINEAGE/privkey.pem" "$WORK/privkey-2.pem"
before=$(live_state)
run_certbot renew --cert-name "$HOST" --force-renewal --no-reuse-key --no-random-sleep-on-renew
assert_not_contains "$(cat "$WORK/certbot.out")" "reported error code" "certbot's output after the new-key renewal"
H2=$(spki_sha256 "$LINEAGE/cert.pem")
[[ $H2 != "$H1" ]] || die "certbot renew --no-reuse-key kept the key"
assert_eq "live $H1;staged $H2" "$(cert_states)" "certificates after the new-key renewal"
staged_by_hook
T2=$GO_LIVE
assert_eq "$(tlsa_set "$H1" "$H2")" "$(served_tlsa)" "TLSA while the new key is staged (old and new)"
assert_eq "$before" "$(live_state)" "live files and reloads right after the new-key renewal"
expect_live "$WORK/fullchain-2.pem" "$WORK/privkey-2.pem" "while the new key is staged"

step "tick one second before the go-live time: nothing changes; at it: swapped, reloaded"
tick_at $((T2 - 1))
assert_eq 0 "$TICK_RC" "tick before the wait is over (new key)"
assert_eq "live $H1;staged $H2" "$(cert_states)" "certificates one second before the wait is over"
assert_eq "$before" "$(live_state)" "live files and reloads one second before the wait is over"
tick_at "$T2"
assert_eq 0 "$TICK_RC" "tick once the wait is over (new key)"
assert_contains "$TICK_OUT" "the old TLSA is withdrawn" "tick output"
assert_eq "live $H2;retired $H1" "$(cert_states)" "certificates after the new key went live"
expect_live "$LINEAGE/fullchain.pem" "$LINEAGE/privkey.pem" "new key live"
last_reload_saw 3 "$LINEAGE/fullchain.pem" "new key live"
wait_served
assert_eq "$(tlsa_set "$H2")" "$(served_tlsa)" "TLSA once the old one is withdrawn"

# --- 7. a hook run that fails ----------------------------------------------------------------
step "the hook on a lineage it cannot read: non-zero exit, one line on stderr, nothing changed"
state() {
  moat --json cert list 2>&1
  moat zone export "$D" 2>&1
  live_state
}
# expect_hook_refused WHAT [VAR=VALUE...]: runs the hook as certbot would, with that environment.
expect_hook_refused() {
  local what=$1 rc=0 lines
  shift
  state >"$WORK/state.before"
  env "$@" "$MOAT_BIN" cert deploy --certbot >"$WORK/out" 2>"$WORK/err" || rc=$?
  state >"$WORK/state.after"
  ((rc != 0)) || fail "$what: the hook exited 0" "a non-zero exit" "exit 0: $(cat "$WORK/out")"
  lines=$(wc -l <"$WORK/err")
  [[ $lines == 1 && -s $WORK/err ]] || fail "$what: one line on stderr" "1 line" "$lines: $(cat "$WORK/err")"
  assert_eq "" "$(cat "$WORK/out")" "$what: stdout"
  cmp -s "$WORK/state.before" "$WORK/state.after" ||
    fail "$what: the state changed" "no change" "$(diff "$WORK/state.before" "$WORK/state.after")"
  echo "   ok ($what): $(cat "$WORK/err")"
}
mkdir "$WORK/empty-lineage" "$WORK/cut-lineage"
head -n 5 "$LINEAGE/fullchain.pem" >"$WORK/cut-lineage/fullchain.pem" # cut inside the leaf
cp "$LINEAGE/privkey.pem" "$WORK/cut-lineage/privkey.pem"
expect_hook_refused "an empty lineage" RENEWED_LINEAGE="$WORK/empty-lineage" RENEWED_DOMAINS="$HOST"
expect_hook_refused "a truncated fullchain.pem" RENEWED_LINEAGE="$WORK/cut-lineage" RENEWED_DOMAINS="$HOST"
expect_hook_refused "no RENEWED_LINEAGE" -u RENEWED_LINEAGE
assert_eq "$(tlsa_set "$H2")" "$(served_tlsa)" "TLSA after the refused hook runs"
