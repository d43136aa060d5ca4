#!/usr/bin/env bash
# A real MTA-STS client, mta-sts-query (Debian's postfix-mta-sts-resolver), finds and fetches the
# policy exactly as a sending MTA would (RFC 8461 §3): `_mta-sts.DOMAIN` TXT through the system
# resolver (c-ares reading /etc/resolv.conf), then https://mta-sts.DOMAIN/.well-known/mta-sts.txt
# on port 443 (glibc getaddrinfo for the name, Python's default trust store for the chain).
# Nothing is pointed at a port or address by hand: moat-dnsd answers on 127.0.0.1:53 and
# moat-httpsd on 127.0.0.1:443, inside private network, mount and pid namespaces where
# /etc/resolv.conf names 127.0.0.1, so the host's network and files are never touched.
# The script re-executes itself under unshare; when its shell (pid 1 of the private pid
# namespace) exits, the kernel kills whatever it started, even after a SIGKILL from ctest.

if [[ "${MOAT_MTA_STS_NETNS:-}" != 1 ]]; then
  ns=(--net --mount --pid --fork --kill-child)
  # Unprivileged runs need a user namespace (root in it may bind port 443 and mount).
  ((EUID == 0)) || ns=(--map-root-user "${ns[@]}")
  if ! err=$(unshare "${ns[@]}" true 2>&1); then
    echo "FAIL: $(basename "$0" .sh): cannot create private namespaces (unshare ${ns[*]}): $err" >&2
    echo "  this test needs root, or unprivileged user namespaces enabled" >&2
    exit 1
  fi
  MOAT_MTA_STS_NETNS=1 exec unshare "${ns[@]}" -- bash "$0" "$@"
fi

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MOATHTTPSD_BIN:?MOATHTTPSD_BIN must name the moat-httpsd binary}"
require_tools mta-sts-query ip mount openssl curl kdig jq

D=example.test
WEB=mta-sts.$D
MX=mail.$D

step "a private loopback with its own resolver configuration"
ip link set lo up
# A host with only 127.0.0.1 has "no IPv4 configured" for getaddrinfo(AI_ADDRCONFIG), which
# aiohttp asks for: like any real MTA, give the namespace one more address (TEST-NET-1).
ip addr add 192.0.2.1/32 dev lo
printf 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n' >"$WORK/resolv.conf"
printf '127.0.0.1 localhost\n' >"$WORK/hosts"
printf 'hosts: files dns\n' >"$WORK/nsswitch.conf"
# Bind mounts in this mount namespace only (unshare makes its mounts private).
for f in resolv.conf hosts nsswitch.conf; do
  mount --bind "$WORK/$f" "/etc/$f" || die "cannot bind-mount $WORK/$f over /etc/$f"
done
assert_eq "nameserver 127.0.0.1" "$(head -n1 /etc/resolv.conf)" "/etc/resolv.conf in the namespace"

# start_dnsd53: moat-dnsd on 127.0.0.1:53, where the system resolver looks; waits for the SOA.
# Sets DNSD_PORT, DNSD_LOG (for lib.sh's q/kq and its failure report), DNSD_PID.
start_dnsd53() {
  DNSD_PORT=53
  DNSD_LOG=$WORK/dnsd.log
  "$MOATD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:53" --poll-ms 100 --rrl-rate 0 >>"$DNSD_LOG" 2>&1 &
  DNSD_PID=$!
  track_pid "$DNSD_PID"
  local deadline=$(($(now_ms) + 10000))
  until soa_served "$D"; do
    (($(now_ms) < deadline)) ||
      { cat "$DNSD_LOG" >&2; die "moat-dnsd did not answer the SOA of $D within 10 s"; }
    kill -0 "$DNSD_PID" 2>/dev/null || { cat "$DNSD_LOG" >&2; die "moat-dnsd exited"; }
    sleep 0.05
  done
}
# fetch: the policy at its URL, the name resolved by the system resolver, trusting the test CA.
fetch() {
  curl -sS --max-time 5 --cacert "$WORK/ca.pem" "https://$WEB/.well-known/mta-sts.txt"
}
# start_httpsd: moat-httpsd on 127.0.0.1:443, waits until it serves the policy text of
# `moat policy show`; sets HTTPS_PID.
start_httpsd() {
  "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:443" --poll-ms 100 \
    >>"$WORK/httpsd.log" 2>&1 &
  HTTPS_PID=$!
  track_pid "$HTTPS_PID"
  local deadline=$(($(now_ms) + 10000))
  until [[ "$(fetch 2>/dev/null | id_of)" == "$(policy_field id)" ]]; do
    (($(now_ms) < deadline)) ||
      { cat "$WORK/httpsd.log" >&2; die "moat-httpsd did not serve the policy within 10 s"; }
    kill -0 "$HTTPS_PID" 2>/dev/null || { cat "$WORK/httpsd.log" >&2; die "moat-httpsd exited"; }
    sleep 0.05
  done
}
stop_httpsd() {
  kill "$HTTPS_PID"
  wait "$HTTPS_PID" 2>/dev/null || true
}
# policy_field NAME: one field of `moat --json policy show`.
policy_field() { moat --json policy show "$D" | jq -r ".$1"; }
# id_of: the policy id of the bytes on stdin (first 16 octets of SHA-256, in hex).
id_of() { sha256sum | cut -c1-32; }
# txt_id: the id in the _mta-sts TXT record moat-dnsd serves ("" when there is none).
txt_id() { kq +short TXT "_mta-sts.$D" | sed -n 's/.*id=\([A-Za-z0-9]*\).*/\1/p'; }
# wait_txt_id ID: waits (bounded) until moat-dnsd serves that id.
wait_txt_id() {
  local deadline=$(($(now_ms) + 10000))
  until [[ "$(txt_id)" == "$1" ]]; do
    (($(now_ms) < deadline)) || die "the _mta-sts id never became $1" "$1" "$(txt_id)"
    sleep 0.05
  done
}

# sts_query [KNOWN_ID]: runs mta-sts-query on $D with the test CA as Python's trust store and
# prints its answer as JSON: {"result": "VALID", "id": ..., "policy": {...}}. mta-sts-query
# prints a Python tuple, `(<STSFetchResult.VALID: 1>, ('ID', {'mode': ..., 'mx': [...]}))`,
# and exits 0 whatever the outcome; its warnings (why a fetch failed) go to $WORK/query.err.
# STS_CA overrides the trust store (to check that the chain really is verified).
sts_query() {
  local out rc=0
  out=$(SSL_CERT_FILE=${STS_CA:-$WORK/ca.pem} timeout 30 mta-sts-query "$D" "$@" \
    2>"$WORK/query.err") || rc=$?
  ((rc == 0)) || { cat "$WORK/query.err" >&2; die "mta-sts-query exited with status $rc"; }
  python3 -c '
import ast, json, re, sys
text = sys.stdin.read().strip()
m = re.fullmatch(r"\(<STSFetchResult\.(\w+): \d+>, (.*)\)", text, re.S)
if not m:
    sys.exit("unexpected mta-sts-query output: " + text)
rest = ast.literal_eval(m.group(2))
ident, policy = rest if rest is not None else (None, None)
print(json.dumps({"result": m.group(1), "id": ident, "policy": policy}))' <<<"$out" ||
    die "cannot parse the answer of mta-sts-query" "(<STSFetchResult.X: n>, ...)" "$out"
}
# expect_policy JSON MODE MAX_AGE ID: a VALID answer with that policy.
expect_policy() {
  local got=$1 what="mta-sts-query $D"
  assert_eq "VALID" "$(jq -r .result <<<"$got")" "$what: result ($(cat "$WORK/query.err"))"
  assert_eq "$4" "$(jq -r .id <<<"$got")" "$what: policy id (from _mta-sts TXT)"
  assert_eq "STSv1" "$(jq -r .policy.version <<<"$got")" "$what: version"
  assert_eq "$2" "$(jq -r .policy.mode <<<"$got")" "$what: mode"
  assert_eq "$MX" "$(jq -r '.policy.mx | join(",")' <<<"$got")" "$what: mx"
  assert_eq "$3" "$(jq -r .policy.max_age <<<"$got")" "$what: max_age"
}

step "$D with MX $MX, a policy published at 127.0.0.1 and a certificate for $WEB"
moat init >/dev/null
new_domain "$D"
moat mx add "$D" "$MX" --priority 10 --addr 192.0.2.25 --live-dir "$WORK/live" >/dev/null
moat policy set "$D" --https-addr 127.0.0.1 >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" \
  -out "$WORK/ca.pem" -days 30 -subj /CN=moat-test-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/web.key" \
  -out "$WORK/web.csr" -subj "/CN=$WEB" 2>/dev/null
printf 'subjectAltName=DNS:%s\n' "$WEB" >"$WORK/web.ext"
openssl x509 -req -in "$WORK/web.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
  -CAcreateserial -out "$WORK/web.pem" -days 10 -extfile "$WORK/web.ext" 2>/dev/null
cat "$WORK/web.pem" "$WORK/ca.pem" >"$WORK/web-full.pem"
out=$(moat cert deploy --fullchain "$WORK/web-full.pem" --key "$WORK/web.key")
assert_contains "$out" "$WEB" "cert deploy names the mta-sts host"
start_dnsd53
assert_eq "127.0.0.1" "$(kq +short A "$WEB")" "$WEB A from moat-dnsd"
# getent ahosts asks with AI_ADDRCONFIG, as aiohttp does.
assert_eq "127.0.0.1" "$(getent ahostsv4 "$WEB" | awk 'NR == 1 { print $1 }')" \
  "$WEB through the system resolver"

step "(1) mta-sts-query finds and fetches the policy: testing, mx $MX, max_age 604800"
start_httpsd
id1=$(policy_field id)
wait_txt_id "$id1"
q1=$(sts_query)
echo "mta-sts-query: $q1"
expect_policy "$q1" testing 604800 "$id1"
got=$(sts_query "$id1")
assert_eq "NOT_CHANGED" "$(jq -r .result <<<"$got")" "mta-sts-query $D with the current id as known"
# The same fetch with only the system's CAs must fail: the chain is really verified.
got=$(STS_CA=/etc/ssl/certs/ca-certificates.crt sts_query)
assert_eq "FETCH_ERROR" "$(jq -r .result <<<"$got")" "mta-sts-query without the test CA"
assert_contains "$(cat "$WORK/query.err")" "CERTIFICATE_VERIFY_FAILED" \
  "why the fetch without the test CA failed"

step "(2) mode enforce is refused without a live certificate for $MX, and nothing changes"
if out=$(moat policy set "$D" --mode enforce 2>&1); then
  fail "moat policy set --mode enforce succeeded without a live certificate for $MX" \
    "a refusal" "$out"
fi
assert_contains "$out" "mode enforce refused" "the refusal of mode enforce"
assert_eq "$id1" "$(policy_field id)" "the policy id after the refused change"
assert_eq "testing" "$(policy_field mode)" "the stored mode after the refused change"
# moat-httpsd and moat-dnsd poll every 100 ms: ten rounds must show no change.
deadline=$(($(now_ms) + 1000))
while (($(now_ms) < deadline)); do
  assert_eq "$id1" "$(fetch | id_of)" "the served policy after the refused change"
  assert_eq "$id1" "$(txt_id)" "the _mta-sts id after the refused change"
  sleep 0.1
done
q2=$(sts_query)
expect_policy "$q2" testing 604800 "$id1"

step "(3) max_age 86400: mta-sts-query sees it once moat-httpsd serves it and the id moves"
moat policy set "$D" --max-age 86400 >/dev/null
id2=$(policy_field id)
[[ "$id2" != "$id1" ]] || fail "the policy id did not change with max_age"
deadline=$(($(now_ms) + 10000))
until [[ "$(fetch | id_of)" == "$id2" ]]; do
  (($(now_ms) < deadline)) || die "moat-httpsd did not serve the new policy within 10 s"
  sleep 0.05
done
wait_txt_id "$id2"
q3=$(sts_query "$id1")
echo "mta-sts-query: $q3"
expect_policy "$q3" testing 86400 "$id2"

step "(4) with moat-httpsd stopped, mta-sts-query fails"
stop_httpsd
assert_eq "$id2" "$(txt_id)" "the _mta-sts id stays while moat-httpsd is down"
got=$(sts_query)
echo "mta-sts-query: $got"
assert_eq "FETCH_ERROR" "$(jq -r .result <<<"$got")" "mta-sts-query with moat-httpsd stopped"
assert_match "$(cat "$WORK/query.err")" "[Cc]onnect" "why the fetch failed with moat-httpsd stopped"
