#!/usr/bin/env bash
# Every TLSA record moat-dnsd serves for an MX host matches, on its own, the chain the host
# presents once its certificate is live (RFC 7671 §8, §5.2.3): checked with OpenSSL's own DANE
# verifier (`openssl s_client -dane_tlsa_rrdata`) against `openssl s_server` run on the files
# moat wrote into the live directory. With `--tlsa-issuer on` that includes TLSA 2 1 1.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
require_tools openssl kdig

D=example.test
MX=mail.$D

step "a CA, an intermediate and a leaf for $MX"
pki=$WORK/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/root.key" \
  -out "$pki/root.pem" -days 30 -subj /CN=moat-test-root 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/int.key" \
  -out "$pki/int.csr" -subj /CN=moat-test-intermediate 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' >"$pki/int.ext"
openssl x509 -req -in "$pki/int.csr" -CA "$pki/root.pem" -CAkey "$pki/root.key" \
  -CAcreateserial -out "$pki/int.pem" -days 30 -extfile "$pki/int.ext" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/leaf.key" \
  -out "$pki/leaf.csr" -subj "/CN=$MX" 2>/dev/null
printf 'subjectAltName=DNS:%s\n' "$MX" >"$pki/leaf.ext"
openssl x509 -req -in "$pki/leaf.csr" -CA "$pki/int.pem" -CAkey "$pki/int.key" \
  -CAcreateserial -out "$pki/leaf.pem" -days 10 -extfile "$pki/leaf.ext" 2>/dev/null
cat "$pki/leaf.pem" "$pki/int.pem" >"$pki/fullchain.pem"

step "the MX host with TLSA 3 1 1 and 2 1 1, its certificate taken live by moat tick"
moat init >/dev/null
new_domain "$D"
moat mx add "$D" "$MX" --priority 10 --addr 192.0.2.25 --live-dir "$WORK/live" >/dev/null
moat domain set "$D" --tlsa-issuer on >/dev/null
out=$(moat cert deploy --fullchain "$pki/leaf.pem" --key "$pki/leaf.key" 2>&1 || true)
assert_contains "$out" "RFC 7671" "a leaf without its issuer is refused when 2 1 1 is published"
moat cert deploy --fullchain "$pki/fullchain.pem" --key "$pki/leaf.key" >/dev/null
start_dnsd "$D"
deadline=$(($(now_ms) + 10000))
until moat status "$D" | grep -q "moat-dnsd serves serial $(moat --json domain show "$D" | python3 -c 'import json,sys; print(json.load(sys.stdin)["serial"])')"; do
  (($(now_ms) < deadline)) || die "moat-dnsd did not report serving the current serial"
  sleep 0.05
done
MOAT_FAKE_TIME=$(($(date +%s) + 3 * 3600)) moat tick >/dev/null
[[ -f "$WORK/live/fullchain.pem" ]] || die "the certificate did not go live"

step "every served TLSA record matches the presented chain on its own"
# start_server: openssl s_server on the files now in the live directory.
start_server() {
  if [[ -n "${server_pid:-}" ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  port=$(free_port)
  openssl s_server -accept "127.0.0.1:$port" -cert "$WORK/live/fullchain.pem" \
    -cert_chain "$WORK/live/fullchain.pem" -key "$WORK/live/privkey.pem" -quiet \
    >>"$WORK/s_server.log" 2>&1 &
  server_pid=$!
  track_pid "$server_pid"
  local deadline=$(($(now_ms) + 10000))
  until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    (($(now_ms) < deadline)) || die "openssl s_server did not start"
    sleep 0.05
  done
}
dane() { # RRDATA...: OpenSSL's DANE check of the live server against these records
  local args=() rr
  for rr in "$@"; do args+=(-dane_tlsa_rrdata "$rr"); done
  timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername "$MX" \
    -dane_tlsa_domain "$MX" "${args[@]}" </dev/null 2>&1 || true
}
# served_tlsa: the TLSA records moat-dnsd serves, one "U S M HEX" per line.
served_tlsa() {
  kq +short TLSA "_25._tcp.$MX" | awk '{ h = ""; for (i = 4; i <= NF; i++) h = h $i; print $1, $2, $3, tolower(h) }' | sort
}
# wait_tlsa_count N: until moat-dnsd serves N TLSA records (bounded).
wait_tlsa_count() {
  local deadline=$(($(now_ms) + 10000))
  until [[ $(served_tlsa | wc -l) == "$1" ]]; do
    (($(now_ms) < deadline)) || fail "$1 TLSA records expected" "$1" "$(served_tlsa)"
    sleep 0.05
  done
}
# rrset_verifies WHAT: the live server verifies against the whole served TLSA RRset.
rrset_verifies() {
  local rrs=()
  mapfile -t rrs < <(served_tlsa)
  assert_contains "$(dane "${rrs[@]}")" "Verification: OK" "$1 (${#rrs[@]} TLSA records)"
  echo "ok: $1"
}
leaf_digest() { # PEM: SHA-256 of the certificate's SubjectPublicKeyInfo
  openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}
wait_tlsa_count 2 # 3 1 1 and 2 1 1
start_server
while read -r usage selector mtype hex; do
  rr="$usage $selector $mtype ${hex// /}"
  out=$(dane "$rr")
  assert_contains "$out" "Verification: OK" "TLSA $rr alone verifies the live chain"
  case $usage in
  3) assert_contains "$out" "matched EE certificate" "3 1 1 matches the leaf" ;;
  2) assert_contains "$out" "matched TA certificate" "2 1 1 matches the issuing CA" ;;
  esac
  echo "ok: TLSA $usage $selector $mtype matches on its own"
done < <(served_tlsa)
rrset_verifies "before the rotation, the live chain verifies against the served RRset"

step "a key-changing rotation: the live server verifies at every stage"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/leaf2.key" \
  -out "$pki/leaf2.csr" -subj "/CN=$MX" 2>/dev/null
openssl x509 -req -in "$pki/leaf2.csr" -CA "$pki/int.pem" -CAkey "$pki/int.key" \
  -CAcreateserial -out "$pki/leaf2.pem" -days 10 -extfile "$pki/leaf.ext" 2>/dev/null
cat "$pki/leaf2.pem" "$pki/int.pem" >"$pki/fullchain2.pem"
moat cert deploy --fullchain "$pki/fullchain2.pem" --key "$pki/leaf2.key" >/dev/null
wait_tlsa_count 3 # old 3 1 1, new 3 1 1, and the one 2 1 1 of their common issuer
assert_contains "$(served_tlsa)" "3 1 1 $(leaf_digest "$pki/leaf2.pem")" "the new key's TLSA is served"
cmp -s "$WORK/live/fullchain.pem" "$pki/fullchain.pem" || fail "the staged certificate went live early"
rrset_verifies "during the rotation (new TLSA published, old certificate live)"
deadline=$(($(now_ms) + 10000))
until moat status "$D" | grep -q "moat-dnsd serves serial $(moat --json domain show "$D" | python3 -c 'import json,sys; print(json.load(sys.stdin)["serial"])')"; do
  (($(now_ms) < deadline)) || die "moat-dnsd did not report serving the current serial"
  sleep 0.05
done
MOAT_FAKE_TIME=$(($(date +%s) + 3 * 3600)) moat tick >/dev/null
cmp -s "$WORK/live/fullchain.pem" "$pki/fullchain2.pem" || die "the new certificate did not go live"
start_server # what `--on-live "systemctl reload postfix"` does for a real MTA
rrset_verifies "just after the swap (old TLSA may still be served)"
wait_tlsa_count 2
assert_not_contains "$(served_tlsa)" "3 1 1 $(leaf_digest "$pki/leaf.pem")" "the old TLSA is withdrawn"
rrset_verifies "after the rotation (old TLSA withdrawn)"
while read -r rr; do
  assert_contains "$(dane "$rr")" "Verification: OK" "TLSA $rr alone verifies the new chain"
done < <(served_tlsa)

step "a record that matches nothing fails the same check (the check can fail)"
out=$(dane "3 1 1 $(printf '%064d' 0)")
assert_not_contains "$out" "Verification: OK" "a wrong digest"

echo "PASS: $TEST_NAME"
