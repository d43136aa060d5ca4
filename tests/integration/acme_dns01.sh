#!/usr/bin/env bash
# ACME DNS-01 through moat-dnsd's RFC 2136 UPDATE, limited to TXT records at _acme-challenge names
# (DESIGN.md, moat-dnsd): the real certbot with its dns-rfc2136 plugin adds and removes the
# challenge TXT by TSIG-signed UPDATE (RFC 2136, RFC 8945), the real pebble validates it by asking
# moat-dnsd, and `moat cert deploy --certbot` as certbot's deploy hook stages the new key behind its
# TLSA (rule 1, RFC 7671 §8.1). The challenge record is signed like any other (delv validates it
# from the zone's KSK) and its removal is a validated denial (RFC 4035 §5.4). An UPDATE that asks
# for anything else, or is not signed with a key allowed for the domain, is refused and changes
# nothing (rule 5); the _mta-sts id does not move (rule 2); challenge records left behind expire
# after a day.
#
# What the peers send (certbot 2.1.0 with dnspython 2.3.0, pebble 2.4.0, nsupdate 9.18; seen by a
# logging proxy in front of knotd 3.2 taking dynamic updates):
#   certbot, before the add and again before the delete of each challenge: SOA queries for
#     _acme-challenge.NAME, then each parent name in turn, until an answer has the SOA in its answer
#     section and the AA flag: that name is the zone. Over TCP (UDP only when TCP fails), a new
#     connection for each, RD clear, no EDNS, TSIG-signed (hmac-sha256, fudge 300). It takes an
#     unsigned answer; one with a TSIG that does not verify ends the run.
#   certbot's add: UPDATE over TCP, zone section "APEX. IN SOA", no prerequisites, one record
#     "_acme-challenge.NAME. 120 IN TXT "<43 characters of base64url>"" (its owner compressed against
#     the zone name), TSIG-signed; it checks the rcode only (an unsigned NOERROR is taken). A
#     wildcard or apex certificate uses _acme-challenge.APEX (two TXT in one RRset for both).
#   certbot's delete, once the authorization is valid and before the deploy hook: the same, with
#     "_acme-challenge.NAME. 0 NONE TXT "<the value>"".
#   pebble: three TXT queries for _acme-challenge.NAME at once, UDP, RD set, no EDNS, no TSIG,
#     about 10 ms after certbot's add got NOERROR when the propagation wait is 0. NXDOMAIN or a
#     missing value fails the order at once (no retry): moat-dnsd must serve the record within
#     PROPAGATION_S of answering the UPDATE.
#   nsupdate: UPDATE over UDP (-v: TCP); on failure "update failed: RCODE" (with a TSIG error:
#     "update failed: NOTAUTH(BADSIG)") and exit 2; "; TSIG error with server: ..." when the answer
#     to a signed UPDATE is unsigned or its TSIG does not verify. A blank line in its input sends.
# Time: moat-dnsd runs on the wall clock until the expiry check, which restarts it with
# MOAT_FAKE_TIME_FILE (core/clock.cpp) and moves that clock a day on.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MOATHTTPSD_BIN:?MOATHTTPSD_BIN must name the moat-httpsd binary}"
SOFT_FAIL=1 # report every broken check of one run; waits that cannot go on use die
require_tools certbot pebble openssl curl jq kdig delv nsupdate

D=example.test
OTHER=other.test # a second domain of the same moat, where the key is not allowed
HOST=mail.$D
WEB=mta-sts.$D
TLSA_NAME=_25._tcp.$HOST
CHALLENGE=_acme-challenge.$HOST
KEY=acme-key
LIVE=$WORK/live
CB=$WORK/certbot              # certbot's --config-dir, --work-dir and --logs-dir are under it
LINEAGE=$CB/config/live/$HOST # certbot's live directory of the lineage
CREDS=$WORK/rfc2136.ini       # the dns-rfc2136 credentials
PROPAGATION_S=1  # certbot's wait between its add and asking pebble to validate (0 works with knotd)
WAIT_MS=15000    # bound of every wait on a daemon
TLSA_TTL=3600    # core/derived_records.hpp: kTlsaTtl
DAY=86400        # challenge records received by UPDATE expire after a day
MOAT_UPDATE_RE='UPDATE' # how moat-dnsd's log names an UPDATE it applied (with the owner name)
[[ "$WORK" =~ [[:space:]] ]] && die "the hook is split on blanks: \$WORK may not contain any ($WORK)"

# --- helpers ---------------------------------------------------------------------------------

# spki_sha256 CERT: the TLSA 3 1 1 digest of the first certificate in CERT, by openssl alone.
spki_sha256() {
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}
# cert_states: "STATE SPKI" of every certificate moat holds for the MX host, sorted, ';'-separated.
cert_states() {
  moat --json cert list "$D" | jq -r '.[] | "\(.state) \(.spki_sha256)"' | sort | paste -sd';'
}
# served_tlsa: the TLSA records moat-dnsd serves for the MX host, lower case, sorted.
served_tlsa() { kq "$TLSA_NAME" TLSA +short | tr 'A-F' 'a-f' | sort | paste -sd';'; }

# txt_values QNAME: the TXT strings moat-dnsd serves at QNAME, sorted, ';'-separated.
txt_values() { q "$1" TXT +short | sort | paste -sd';'; }

# wait_txt QNAME EXPECTED [BOUND_MS]: waits until txt_values QNAME is EXPECTED ("" for none),
# at most BOUND_MS (default WAIT_MS). Sets TXT_MS (how long it took); false after the bound.
wait_txt() {
  local start bound=${3:-$WAIT_MS}
  start=$(now_ms)
  until [[ "$(txt_values "$1")" == "$2" ]]; do
    (($(now_ms) - start < bound)) || { TXT_MS=$(($(now_ms) - start)); return 1; }
    sleep 0.02
  done
  TXT_MS=$(($(now_ms) - start))
}

# expect_no_txt QNAME WHAT: moat-dnsd says NXDOMAIN, or NOERROR without a TXT, for QNAME TXT, and
# delv validates that denial from the zone's KSK.
expect_no_txt() {
  local out status
  out=$(q "$1" TXT)
  status=$(dig_status "$out")
  [[ $status == NXDOMAIN || ($status == NOERROR && -z "$(dig_section "$out" ANSWER)") ]] ||
    fail "$2: $1 TXT is still answered" "NXDOMAIN or NODATA" "$out"
  out=$(delv_q "$TA" "$D" "$1" TXT)
  assert_contains "$out" "negative response, fully validated" "$2: delv $1 TXT"
  assert_match "$out" 'NXDOMAIN|NXRRSET' "$2: delv $1 TXT"
}

# challenges: the _acme-challenge records moat lists for $D ("OWNER TXT" each), sorted.
challenges() {
  moat --json acme list "$D" | jq -r '.challenges // [] | .[] | "\(.owner) \(.txt)"' | sort | paste -sd';'
}

# nsupd KEYLINE SCRIPT [nsupdate options...]: one UPDATE to moat-dnsd by nsupdate. KEYLINE is an
# nsupdate "key" command, or "" for an unsigned UPDATE; SCRIPT holds the zone and update lines (no
# blank line: nsupdate sends at one). Sets NSU_OUT (stdout and stderr) and NSU_RC.
nsupd() {
  local keyline=$1 script=$2 input
  shift 2
  input="server 127.0.0.1 $DNSD_PORT"$'\n'
  [[ -z $keyline ]] || input+=$keyline$'\n'
  input+=$script$'\n'send$'\n'
  NSU_RC=0
  NSU_OUT=$(nsupdate -t 4 -u 2 -r 1 "$@" <<<"$input" 2>&1) || NSU_RC=$?
}

# expect_update_ok WHAT KEYLINE SCRIPT [nsupdate options...]: the UPDATE succeeds, its answer
# signed (nsupdate verifies it).
expect_update_ok() {
  local what=$1
  nsupd "${@:2}"
  ((NSU_RC == 0)) || fail "$what: nsupdate failed (exit $NSU_RC)" "success" "$NSU_OUT"
  assert_not_contains "$NSU_OUT" "TSIG error" "$what: the answer's TSIG"
}

# expect_update_fails WHAT RCODE_RE ANSWER KEYLINE SCRIPT [QNAME QTYPE]: the UPDATE fails with an
# rcode matching RCODE_RE (as nsupdate prints it), its answer signed with the key when ANSWER is
# "signed" (RFC 8945 §5.3: the request's TSIG verified) or not looked at ("any"); afterwards the
# serials of $D and $OTHER are unchanged, no challenge record is listed, and QNAME QTYPE (when
# given) is answered as before.
expect_update_fails() {
  local what=$1 re=$2 answer=$3 keyline=$4 script=$5 qname=${6:-} qtype=${7:-}
  local serial_d serial_o before=""
  serial_d=$(zone_serial "$D")
  serial_o=$(zone_serial "$OTHER")
  [[ -z $qname ]] || before=$(q "$qname" "$qtype" +short)
  nsupd "$keyline" "$script"
  if ((NSU_RC == 0)); then
    fail "$what: nsupdate succeeded" "update failed: $re" "$NSU_OUT"
  else
    assert_match "$NSU_OUT" "^update failed: ($re)\$" "$what: nsupdate's verdict"
  fi
  [[ $answer != signed ]] || assert_not_contains "$NSU_OUT" "TSIG error" "$what: the answer is signed"
  sleep 0.3 # fifteen of moat-dnsd's polls: time for a change that should not be to show
  assert_eq "$serial_d" "$(zone_serial "$D")" "$what: serial of $D"
  assert_eq "$serial_o" "$(zone_serial "$OTHER")" "$what: serial of $OTHER"
  assert_eq "" "$(challenges)" "$what: challenge records listed by moat acme list"
  [[ -z $qname ]] || assert_eq "$before" "$(q "$qname" "$qtype" +short)" "$what: $qname $qtype"
  echo "   refused ($what): $(grep -E '^update failed' <<<"$NSU_OUT" | head -n1)"
}

# expected_challenge_values: the DNS-01 TXT values of the run (RFC 8555 §8.4), from the challenge
# tokens in certbot's log and the thumbprint (RFC 7638) of its account key, one per line.
expected_challenge_values() {
  python3 - "$CB" <<'PY'
import base64, glob, hashlib, json, re, sys
cb = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
keys = glob.glob(cb + "/config/accounts/*/*/*/private_key.json")
if len(keys) != 1:
    sys.exit(f"expected one certbot account key, found {keys}")
jwk = json.load(open(keys[0]))
members = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
public = json.dumps({m: jwk[m] for m in members}, sort_keys=True, separators=(",", ":"))
thumbprint = b64(hashlib.sha256(public.encode()).digest())
log = open(cb + "/logs/letsencrypt.log").read()
tokens = set()
for obj in re.findall(r'\{[^{}]*"type": "dns-01"[^{}]*\}', log):
    tokens.update(re.findall(r'"token": "([^"]+)"', obj))
for t in sorted(tokens):
    print(b64(hashlib.sha256(f"{t}.{thumbprint}".encode()).digest()))
PY
}

# watch_txt QNAME SEEN DELV: polls moat-dnsd for QNAME TXT (+dnssec) every 50 ms; appends every
# answer that holds a TXT to SEEN, and keeps in DELV the first delv output that validates a TXT.
watch_txt() {
  local qname=$1 seen=$2 delv_out=$3 out ans
  while :; do
    out=$(dig @127.0.0.1 -p "$DNSD_PORT" +norecurse +dnssec +time=1 +tries=1 "$qname" TXT 2>&1 || true)
    ans=$(dig_section "$out" ANSWER)
    if [[ $ans == *TXT* ]]; then
      printf '@%s\n%s\n' "$(now_ms)" "$ans" >>"$seen"
      if [[ ! -s $delv_out ]]; then
        out=$(delv_q "$TA" "$D" "$qname" TXT)
        if grep -q "fully validated" <<<"$out" && grep -qE "^[^;].*[[:space:]]TXT[[:space:]]" <<<"$out"; then
          printf '%s\n' "$out" >"$delv_out"
        fi
      fi
    fi
    sleep 0.05
  done
}

# moat-httpsd: start_httpsd (waits until it serves the policy), fetch (the policy, by HTTPS).
start_httpsd() {
  HTTPS_PORT=$(free_port)
  "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$HTTPS_PORT" --poll-ms 100 \
    >>"$WORK/httpsd.log" 2>&1 &
  HTTPS_PID=$!
  track_pid "$HTTPS_PID"
  local deadline=$(($(now_ms) + 10000))
  until [[ "$(fetch -o /dev/null -w '%{http_code}' || true)" == 200 ]]; do
    (($(now_ms) < deadline)) || { cat "$WORK/httpsd.log" >&2; die "moat-httpsd did not serve the policy within 10 s"; }
    kill -0 "$HTTPS_PID" 2>/dev/null || { cat "$WORK/httpsd.log" >&2; die "moat-httpsd exited"; }
    sleep 0.05
  done
}
fetch() {
  curl -sS --max-time 5 --resolve "$WEB:$HTTPS_PORT:127.0.0.1" --cacert "$WORK/ca.pem" "$@" \
    "https://$WEB:$HTTPS_PORT/.well-known/mta-sts.txt"
}
# txt_id: the id in the _mta-sts TXT record moat-dnsd serves ("" when there is none).
txt_id() { kq +short TXT "_mta-sts.$D" | sed -n 's/.*id=\([A-Za-z0-9]*\).*/\1/p'; }
# served_policy_id: the id of the policy moat-httpsd serves (first 16 octets of its SHA-256).
served_policy_id() { fetch | sha256sum | cut -c1-32; }

# --- 1. database ---------------------------------------------------------------------------
step "a database with $D (MX host $HOST, an MTA-STS policy, an SPF record) and $OTHER"
moat init >/dev/null
new_domain "$D"
new_domain "$OTHER"
moat mx add "$D" "$HOST" --priority 10 --addr 127.0.0.1 --live-dir "$LIVE" >/dev/null
moat record add "$D" @ TXT "v=spf1 mx -all" >/dev/null
moat policy set "$D" >/dev/null
# The certificate of mta-sts.$D, from a test CA (moat-httpsd serves the policy with it).
(
  cd "$WORK"
  exec >>openssl.log 2>&1
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj /CN=moat-test-ca
  openssl req "${ec[@]}" -keyout web.key -out web.csr -subj "/CN=$WEB"
  printf 'subjectAltName=DNS:%s\n' "$WEB" >web.ext
  openssl x509 -req -in web.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out web.pem -days 10 \
    -extfile web.ext
  cat web.pem ca.pem >web-full.pem
) || die "openssl could not make the certificate of $WEB: $(tail -n 5 "$WORK/openssl.log")"
moat cert deploy --fullchain "$WORK/web-full.pem" --key "$WORK/web.key" >/dev/null

step "TSIG keys $KEY (allowed to UPDATE challenges of $D) and other-key (not allowed)"
key_json=$(moat tsig add "$KEY" --json) || die "moat tsig add $KEY --json failed: $key_json"
ALG=$(jq -r .algorithm <<<"$key_json")
SECRET=$(jq -r .secret <<<"$key_json")
assert_eq "hmac-sha256" "$ALG" "the algorithm of $KEY"
[[ $SECRET =~ ^[A-Za-z0-9+/]{40,}={0,2}$ ]] || die "moat tsig add --json printed no base64 secret" "a secret" "$key_json"
other_json=$(moat tsig add other-key --json) || die "moat tsig add other-key --json failed: $other_json"
WRONG_SECRET=$(head -c 32 /dev/urandom | base64)
K_ACME="key $ALG:$KEY $SECRET"
K_WRONG="key $ALG:$KEY $WRONG_SECRET"
K_OTHER="key $ALG:other-key $(jq -r .secret <<<"$other_json")"
K_UNKNOWN="key $ALG:no-such-key $WRONG_SECRET"
moat acme allow "$D" --tsig "$KEY" >/dev/null
assert_eq "$KEY" "$(moat --json acme list "$D" | jq -r '[.keys[] | rtrimstr(".")] | join(",")')" \
  "keys moat acme list gives for $D"
assert_eq "" "$(moat --json acme list "$OTHER" | jq -r '[.keys[] | rtrimstr(".")] | join(",")')" \
  "keys moat acme list gives for $OTHER"

# --- 2. daemons ----------------------------------------------------------------------------
step "moat-dnsd and moat-httpsd; the _mta-sts id follows the policy served"
start_dnsd "$D" 10 --poll-ms 20
TA=$WORK/ta.conf
trust_anchor "$D" "$TA"
start_httpsd
POLICY_ID=$(moat --json policy show "$D" | jq -r .id)
deadline=$(($(now_ms) + WAIT_MS))
until [[ "$(txt_id)" == "$POLICY_ID" ]]; do
  (($(now_ms) < deadline)) || die "moat-dnsd did not publish the _mta-sts id $POLICY_ID" "$POLICY_ID" "$(txt_id)"
  sleep 0.05
done
assert_eq "$POLICY_ID" "$(served_policy_id)" "the id of the policy moat-httpsd serves"
wait_served

step "the SOA queries certbot sends first: TSIG-signed, over TCP, no RD, no EDNS"
out=$(q +tcp +noedns -y "$ALG:$KEY:$SECRET" "$D" SOA)
assert_eq NOERROR "$(dig_status "$out")" "signed SOA query for the apex"
assert_contains "$(dig_flags "$out")" "aa" "flags of the signed SOA answer (certbot wants AA)"
assert_match "$(dig_section "$out" ANSWER)" "^$D\.[[:space:]].*[[:space:]]SOA[[:space:]]" "answer section of the signed SOA query"
assert_contains "$out" "TSIG PSEUDOSECTION" "the SOA answer is signed"
assert_not_contains "$out" "Couldn't verify signature" "the SOA answer's TSIG"
out=$(q +tcp +noedns -y "$ALG:$KEY:$SECRET" "$CHALLENGE" SOA)
assert_match "$(dig_status "$out")" '^(NXDOMAIN|NOERROR)$' "signed SOA query for $CHALLENGE"
assert_eq "" "$(dig_section "$out" ANSWER)" "answer section of the SOA query for $CHALLENGE"
assert_not_contains "$out" "Couldn't verify signature" "the TSIG of the answer for $CHALLENGE"

# --- 3. certbot certonly --dns-rfc2136 -----------------------------------------------------
start_pebble "$DNSD_PORT"
(
  umask 077
  cat >"$CREDS" <<EOF
# certbot dns-rfc2136 credentials (the server must be an IP address)
dns_rfc2136_server = 127.0.0.1
dns_rfc2136_port = $DNSD_PORT
dns_rfc2136_name = $KEY
dns_rfc2136_secret = $SECRET
dns_rfc2136_algorithm = HMAC-SHA256
EOF
)
# certbot runs the hook through /bin/sh -c (and keeps it for `certbot renew`), without MOAT_DB in
# its environment here, as from certbot.timer: the hook names the database itself.
HOOK="env MOAT_DB=$MOAT_DB $MOAT_BIN cert deploy --certbot"
step "certbot certonly --dns-rfc2136 -d $HOST --deploy-hook '$HOOK'"
log_lines=$(wc -l <"$DNSD_LOG")
watch_txt "$CHALLENGE" "$WORK/txt-seen" "$WORK/txt-delv" &
WATCH_PID=$!
track_pid "$WATCH_PID"
CERTBOT_STARTED=$(date +%s)
rc=0
env -u MOAT_DB REQUESTS_CA_BUNDLE="$PEBBLE_CA" certbot certonly --non-interactive \
  --config-dir "$CB/config" --work-dir "$CB/work" --logs-dir "$CB/logs" \
  --server "https://127.0.0.1:$PEBBLE_PORT/dir" --agree-tos --register-unsafely-without-email \
  --dns-rfc2136 --dns-rfc2136-credentials "$CREDS" \
  --dns-rfc2136-propagation-seconds "$PROPAGATION_S" \
  -d "$HOST" --key-type ecdsa --deploy-hook "$HOOK" >"$WORK/certbot.out" 2>&1 || rc=$?
kill "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true
if ((rc != 0)); then
  cat "$WORK/certbot.out" >&2
  tail -n 40 "$CB/logs/letsencrypt.log" >&2 2>/dev/null || true
  die "certbot certonly exited $rc"
fi
cb_out=$(cat "$WORK/certbot.out")
[[ -f $LINEAGE/fullchain.pem && -f $LINEAGE/privkey.pem ]] || die "certbot made no lineage at $LINEAGE"
assert_match "$(openssl x509 -in "$LINEAGE/cert.pem" -noout -ext subjectAltName)" "DNS:$HOST\$" "SAN of the issued certificate"
assert_not_contains "$cb_out" "reported error code" "certbot's output (the hook)"
assert_not_contains "$cb_out" "Unsafe permissions" "certbot's output (the credentials file)"
assert_contains "$cb_out" "$HOST.: new key, staged" "certbot's output shows what the hook did"
cb_log=$(cat "$CB/logs/letsencrypt.log")
assert_contains "$cb_log" "Successfully added TXT record $CHALLENGE" "certbot's log (the add was answered NOERROR)"
assert_contains "$cb_log" "Successfully deleted TXT record $CHALLENGE" "certbot's log (the delete was answered NOERROR)"

step "the challenge TXT was served, signed, while it existed"
mapfile -t expected < <(expected_challenge_values)
((${#expected[@]} == 1)) || fail "one DNS-01 value computed from certbot's log and account key" "1" "${#expected[@]}: ${expected[*]}"
VALUE=${expected[0]:-none}
seen=$(cat "$WORK/txt-seen" 2>/dev/null || true)
[[ -n $seen ]] || fail "moat-dnsd never answered $CHALLENGE TXT while certbot ran" "a TXT answer" "none"
assert_match "$seen" "^$CHALLENGE\.[[:space:]]+120[[:space:]]+IN[[:space:]]+TXT[[:space:]]+\"$VALUE\"\$" \
  "the challenge TXT served (certbot's TTL 120, the value of RFC 8555 §8.4)"
assert_match "$seen" "^$CHALLENGE\.[[:space:]].*[[:space:]]RRSIG[[:space:]]+TXT[[:space:]]" "an RRSIG over the challenge TXT"
delv_seen=$(cat "$WORK/txt-delv" 2>/dev/null || true)
assert_contains "$delv_seen" "; fully validated" "delv on the challenge TXT while it existed"
assert_contains "$delv_seen" "\"$VALUE\"" "delv on the challenge TXT while it existed"
if [[ -n $seen ]]; then
  first_ms=$(grep '^@' <<<"$seen" | head -n1 | tr -d @)
  last_ms=$(grep '^@' <<<"$seen" | tail -n1 | tr -d @)
  echo "   seen served for $((last_ms - first_ms)) ms ($(grep -c '^@' <<<"$seen") answers)"
fi
new_log=$(tail -n +"$((log_lines + 1))" "$DNSD_LOG")
n=$(grep -E -- "$MOAT_UPDATE_RE" <<<"$new_log" | grep -cF -- "$CHALLENGE" || true)
((n >= 2)) || fail "moat-dnsd's log names fewer than two UPDATEs (certbot's add and delete) of $CHALLENGE" \
  "lines matching /$MOAT_UPDATE_RE/ with $CHALLENGE" "$new_log"

step "after certbot's cleanup: no challenge record, a validated denial"
wait_txt "$CHALLENGE" "" || fail "moat-dnsd still serves $CHALLENGE TXT after certbot's delete" "none" "$(txt_values "$CHALLENGE")"
expect_no_txt "$CHALLENGE" "after certbot's cleanup"
assert_eq "" "$(challenges)" "challenge records listed after certbot's cleanup"

step "the hook staged the new key behind its TLSA"
H1=$(spki_sha256 "$LINEAGE/cert.pem")
assert_eq "staged $H1" "$(cert_states)" "moat's certificates after the hook"
hook_serial=$(sed -n 's/.*after moat-dnsd serves serial \([0-9]*\).*/\1/p' <<<"$cb_out" | head -n1)
[[ $hook_serial =~ ^[0-9]+$ ]] || fail "the hook's output (in certbot's) names no serial" "a serial" "$cb_out"
# certbot deleted the challenge before it ran the hook: the hook's serial is the last one.
wait_served
assert_eq "$hook_serial" "$SERVED_SERIAL" "the serial moat-dnsd serves after the hook"
((CERTBOT_STARTED <= SERVED_AT && SERVED_AT <= $(date +%s))) ||
  fail "moat-dnsd's ack of serial $SERVED_SERIAL is off the wall clock" "$CERTBOT_STARTED..$(date +%s)" "$SERVED_AT"
assert_eq "$((SERVED_AT + 2 * TLSA_TTL))" "$(go_live_time)" "go-live time in moat status (two TLSA TTLs after the ack)"
assert_eq "3 1 1 $H1" "$(served_tlsa)" "TLSA served for the new key"
expect_validated "$TA" "$D" "$TLSA_NAME" TLSA "3 1 1"
[[ ! -e $LIVE ]] || [[ -z "$(ls -A "$LIVE")" ]] || fail "files in $LIVE before the TLSA was served for two TTLs" "no files" "$(ls -A "$LIVE")"

# --- 4. UPDATEs that must be refused -------------------------------------------------------
step "UPDATEs moat-dnsd must refuse, each changing nothing"
expect_update_fails "an A record" 'REFUSED' signed "$K_ACME" "zone $D
update add x.$D 60 A 192.0.2.1" "x.$D" A
expect_update_fails "TXT at a name without _acme-challenge" 'REFUSED' signed "$K_ACME" "zone $D
update add foo.$D 60 TXT hello" "foo.$D" TXT
expect_update_fails "TXT below an _acme-challenge label, not at it" 'REFUSED' signed "$K_ACME" "zone $D
update add x._acme-challenge.$D 60 TXT hello" "x._acme-challenge.$D" TXT
expect_update_fails "TXT at _acme-challenge-x (a prefix, not the label)" 'REFUSED' signed "$K_ACME" "zone $D
update add _acme-challenge-x.$D 60 TXT hello" "_acme-challenge-x.$D" TXT
expect_update_fails "an A record at an _acme-challenge name" 'REFUSED' signed "$K_ACME" "check-names off
zone $D
update add _acme-challenge.x.$D 60 A 192.0.2.1" "_acme-challenge.x.$D" A
expect_update_fails "an allowed TXT and an A in one UPDATE (all or nothing)" 'REFUSED' signed "$K_ACME" "zone $D
update add _acme-challenge.mix.$D 60 TXT hello
update add mix.$D 60 A 192.0.2.1" "_acme-challenge.mix.$D" TXT
expect_update_fails "deleting the MX host's A record" 'REFUSED' signed "$K_ACME" "zone $D
update delete $HOST A" "$HOST" A
expect_update_fails "deleting the apex TXT (SPF)" 'REFUSED' signed "$K_ACME" "zone $D
update delete $D TXT" "$D" TXT
expect_update_fails "deleting the _mta-sts TXT" 'REFUSED' signed "$K_ACME" "zone $D
update delete _mta-sts.$D TXT" "_mta-sts.$D" TXT
expect_update_fails "TXT at _acme-challenge of $OTHER (key not allowed there)" 'REFUSED|NOTAUTH' signed "$K_ACME" "zone $OTHER
update add _acme-challenge.$OTHER 60 TXT hello" "_acme-challenge.$OTHER" TXT
expect_update_fails "TXT at _acme-challenge of $OTHER in an UPDATE of $D (outside the zone)" 'NOTZONE|NOTAUTH|REFUSED' signed "$K_ACME" "zone $D
update add _acme-challenge.$OTHER 60 TXT hello" "_acme-challenge.$OTHER" TXT
expect_update_fails "an UPDATE of a zone moat does not serve" 'NOTAUTH|REFUSED' any "$K_ACME" "zone nosuch.test
update add _acme-challenge.nosuch.test 60 TXT hello"
expect_update_fails "an unsigned UPDATE" 'REFUSED' any "" "zone $D
update add _acme-challenge.x.$D 60 TXT hello" "_acme-challenge.x.$D" TXT
expect_update_fails "$KEY with a wrong secret" 'NOTAUTH\(BADSIG\)' any "$K_WRONG" "zone $D
update add _acme-challenge.x.$D 60 TXT hello" "_acme-challenge.x.$D" TXT
expect_update_fails "an unknown key" 'NOTAUTH\(BADKEY\)' any "$K_UNKNOWN" "zone $D
update add _acme-challenge.x.$D 60 TXT hello" "_acme-challenge.x.$D" TXT
expect_update_fails "other-key, which exists but is not allowed for $D" 'REFUSED' signed "$K_OTHER" "zone $D
update add _acme-challenge.x.$D 60 TXT hello" "_acme-challenge.x.$D" TXT
assert_eq "v=spf1 mx -all" "$(q "$D" TXT +short | tr -d '"')" "the SPF record after the refused UPDATEs"
assert_eq "$POLICY_ID" "$(txt_id)" "the _mta-sts id after the refused UPDATEs"

# --- 5. UPDATEs that must be applied -------------------------------------------------------
X=_acme-challenge.x.$D
step "an allowed UPDATE over UDP: TXT at $X, served within $PROPAGATION_S s, signed"
s0=$(zone_serial "$D")
expect_update_ok "add at $X" "$K_ACME" "zone $D
update add $X 300 TXT \"first\""
wait_txt "$X" '"first"' $((PROPAGATION_S * 1000)) ||
  fail "moat-dnsd did not serve $X within $PROPAGATION_S s of answering the UPDATE (certbot would fail)" '"first"' "$(txt_values "$X")"
echo "   served $TXT_MS ms after nsupdate returned"
wait_txt "$X" '"first"' >/dev/null || true
s1=$(zone_serial "$D")
(((s1 - s0 + 4294967296) % 4294967296 > 0 && (s1 - s0 + 4294967296) % 4294967296 < 2147483648)) ||
  fail "the serial of $D did not grow with the UPDATE" "> $s0" "$s1"
assert_match "$(dig_section "$(q "$X" TXT)" ANSWER)" "^$X\.[[:space:]]+300[[:space:]]+IN[[:space:]]+TXT[[:space:]]+\"first\"\$" "TTL and value of $X"
expect_validated "$TA" "$D" "$X" TXT '"first"'
# As pebble asks: UDP, RD set, no EDNS.
out=$(dig @127.0.0.1 -p "$DNSD_PORT" +recurse +noedns +time=2 +tries=1 "$X" TXT 2>&1 || true)
assert_eq NOERROR "$(dig_status "$out")" "$X TXT asked as pebble asks"
assert_contains "$(dig_flags "$out")" "aa" "flags of the answer to a query as pebble's"
assert_contains "$(dig_section "$out" ANSWER)" '"first"' "answer to a query as pebble's"
assert_match "$(challenges)" "^$X\. \"first\"\$" "challenge records listed by moat acme list"

step "a second value at the same name (a wildcard and its base name share one): both served"
expect_update_ok "second add at $X" "$K_ACME" "zone $D
update add $X 300 TXT \"second\""
wait_txt "$X" '"first";"second"' || fail "$X does not hold both values" '"first";"second"' "$(txt_values "$X")"
expect_validated "$TA" "$D" "$X" TXT '"second"'

step "delete one value (class NONE, as certbot does): the other stays"
expect_update_ok "delete of one value at $X" "$K_ACME" "zone $D
update delete $X TXT \"first\""
wait_txt "$X" '"second"' || fail "$X after deleting one value" '"second"' "$(txt_values "$X")"
expect_validated "$TA" "$D" "$X" TXT '"second"'

step "delete the RRset (class ANY) over TCP: gone, a validated denial"
expect_update_ok "delete of the TXT RRset at $X" "$K_ACME" "zone $D
update delete $X TXT" -v
wait_txt "$X" "" || fail "$X after deleting its TXT RRset" "none" "$(txt_values "$X")"
expect_no_txt "$X" "after the RRset delete"
assert_eq "" "$(challenges)" "challenge records listed after the deletes"

A=_acme-challenge.$D
step "the apex's challenge name $A (wildcard and apex certificates)"
expect_update_ok "add at $A" "$K_ACME" "zone $D
update add $A 120 TXT \"apex\""
wait_txt "$A" '"apex"' || fail "$A not served" '"apex"' "$(txt_values "$A")"
expect_validated "$TA" "$D" "$A" TXT '"apex"'
expect_update_ok "delete at $A" "$K_ACME" "zone $D
update delete $A TXT \"apex\""
wait_txt "$A" "" || fail "$A after its delete" "none" "$(txt_values "$A")"
expect_no_txt "$A" "after the apex challenge's delete"

step "moat acme deny: the key's UPDATEs are refused from then on"
moat acme deny "$D" --tsig "$KEY" >/dev/null
assert_eq "" "$(moat --json acme list "$D" | jq -r '[.keys[] | rtrimstr(".")] | join(",")')" "keys listed after moat acme deny"
wait_served
expect_update_fails "$KEY after moat acme deny" 'REFUSED' signed "$K_ACME" "zone $D
update add $X 60 TXT hello" "$X" TXT
moat acme allow "$D" --tsig "$KEY" >/dev/null
wait_served

step "the MTA-STS policy id did not move"
assert_eq "$POLICY_ID" "$(moat --json policy show "$D" | jq -r .id)" "the policy id moat holds"
assert_eq "$POLICY_ID" "$(txt_id)" "the _mta-sts id moat-dnsd serves"
assert_eq "$POLICY_ID" "$(served_policy_id)" "the id of the policy moat-httpsd serves"

# --- 6. expiry -----------------------------------------------------------------------------
# moat-dnsd again, on MOAT_FAKE_TIME_FILE: a record added at T0 by its clock, kept at T0 + 23 h,
# gone by T0 + 25 h. (No delv once its clock has moved: the signatures it makes then start in
# delv's future.)
E=_acme-challenge.exp.$D
step "a challenge record left behind expires after a day (moat-dnsd's clock moved on)"
kill "$DNSD_PID"
wait "$DNSD_PID" 2>/dev/null || true
TIME_FILE=$WORK/dnsd-time
set_dnsd_time() { printf '%s\n' "$1" >"$TIME_FILE.tmp" && mv -f "$TIME_FILE.tmp" "$TIME_FILE"; }
T0=$(date +%s)
set_dnsd_time "$T0"
MOAT_FAKE_TIME_FILE=$TIME_FILE start_dnsd "$D" 10 --poll-ms 20
expect_update_ok "add at $E" "$K_ACME" "zone $D
update add $E 60 TXT \"left-behind\""
wait_txt "$E" '"left-behind"' || fail "$E not served" '"left-behind"' "$(txt_values "$E")"
expires=$(moat --json acme list "$D" |
  jq -r --arg o "$E" '.challenges // [] | .[] | select((.owner | rtrimstr(".")) == $o) | .expires')
if [[ -z $expires ]]; then
  fail "moat acme list shows no expiry for $E" "an expires time" "$(moat --json acme list "$D")"
else
  exp_s=$(date -u -d "$expires" +%s)
  ((T0 + 23 * 3600 < exp_s && exp_s <= T0 + 25 * 3600)) ||
    fail "the expiry of $E is not a day after it was added (T0 = $T0 by moat-dnsd's clock)" "about $((T0 + DAY))" "$exp_s ($expires)"
fi
set_dnsd_time $((T0 + 23 * 3600))
sleep 1 # fifty polls of moat-dnsd on its new time
assert_eq '"left-behind"' "$(txt_values "$E")" "$E 23 hours after it was added"
set_dnsd_time $((T0 + 25 * 3600))
if wait_txt "$E" "" 10000; then
  echo "   $E gone $TXT_MS ms after moat-dnsd's clock passed a day"
else
  fail "moat-dnsd still serves $E 25 hours after it was added" "none" "$(txt_values "$E")"
fi
out=$(q "$E" TXT)
assert_match "$(dig_status "$out")" '^(NXDOMAIN|NOERROR)$' "rcode for $E after its expiry"
assert_eq "" "$(dig_section "$out" ANSWER)" "answer for $E after its expiry"
assert_eq "" "$(challenges)" "challenge records listed after the expiry"
