#!/usr/bin/env bash
# moat-httpsd serves the MTA-STS policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt with
# the certificate deployed for that name, and the `_mta-sts` id moat-dnsd serves follows only
# what moat-httpsd reports serving (DESIGN.md rule 2, RFC 8461 §3.1-3.3). Checked with curl,
# openssl s_client and kdig against the real daemons.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MOATHTTPSD_BIN:?MOATHTTPSD_BIN must name the moat-httpsd binary}"
require_tools openssl curl kdig sha256sum

D=example.test
WEB=mta-sts.$D

# start_httpsd: moat-httpsd on a free port, waits until it answers; sets HTTPS_PORT, HTTPS_PID.
start_httpsd() {
  HTTPS_PORT=$(free_port)
  "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$HTTPS_PORT" --poll-ms 100 --header-timeout 5 \
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
stop_httpsd() {
  kill "$HTTPS_PID"
  wait "$HTTPS_PID" 2>/dev/null || true
}
# fetch_path PATH [curl args...]: an HTTPS request to mta-sts.DOMAIN, trusting only the test CA.
fetch_path() {
  local path=$1
  shift
  curl -sS --max-time 5 --resolve "$WEB:$HTTPS_PORT:127.0.0.1" --cacert "$WORK/ca.pem" "$@" \
    "https://$WEB:$HTTPS_PORT$path"
}
# fetch [curl args...]: the policy URL of RFC 8461 §3.3.
fetch() { fetch_path /.well-known/mta-sts.txt "$@"; }
# txt_id: the id in the _mta-sts TXT record moat-dnsd serves ("" when there is none).
txt_id() {
  kq +short TXT "_mta-sts.$D" | sed -n 's/.*id=\([A-Za-z0-9]*\).*/\1/p'
}
# wait_txt_id ID: waits (bounded) until moat-dnsd serves that id.
wait_txt_id() {
  local deadline=$(($(now_ms) + 10000))
  until [[ "$(txt_id)" == "$1" ]]; do
    (($(now_ms) < deadline)) || fail "the _mta-sts id never became $1" "$1" "$(txt_id)"
    sleep 0.05
  done
}
# id_of: the policy id of the bytes on stdin, computed independently (first 16 octets of
# SHA-256, in hex). (Not through $(...), which would drop the final line end.)
id_of() { sha256sum | cut -c1-32; }

step "a domain with an MX host, a policy and a certificate for $WEB"
moat init >/dev/null
new_domain "$D"
moat mx add "$D" "mail.$D" --priority 10 --addr 192.0.2.25 --live-dir "$WORK/live" >/dev/null
moat policy set "$D" >/dev/null
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
start_dnsd "$D"

step "no _mta-sts record before moat-httpsd serves the policy"
assert_eq "" "$(txt_id)" "the _mta-sts id before anything serves the policy"

step "moat-httpsd serves the policy text, byte for byte"
start_httpsd
want=$(moat --json policy show "$D" | python3 -c 'import json,sys; print(json.load(sys.stdin)["text"], end="")')
want_id=$(moat --json policy show "$D" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
fetch -o "$WORK/body" -D "$WORK/headers"
assert_eq "$want" "$(cat "$WORK/body")" "the served policy"
assert_eq "$want_id" "$(id_of <"$WORK/body")" "the id is derived from the served bytes"
assert_match "$(cat "$WORK/headers")" $'^HTTP/1.1 200' "status line"
assert_match "$(tr -d '\r' <"$WORK/headers")" '^Content-Type: text/plain$' "media type (RFC 8461 §3.3)"
assert_eq "4" "$(grep -c $'\r$' "$WORK/body")" "every line ends with CRLF"
assert_match "$(cat "$WORK/body")" "^version: STSv1" "first line"

step "the _mta-sts id follows once it is served"
wait_txt_id "$want_id"
echo "ok: _mta-sts.$D TXT id=$want_id"

step "a changed policy: the id moves only when moat-httpsd serves the new text"
stop_httpsd
moat policy set "$D" --max-age 86400 >/dev/null
new_id=$(moat --json policy show "$D" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
[[ "$new_id" != "$want_id" ]] || fail "the policy id did not change with the text"
# moat-dnsd polls every 100 ms: ten rounds without moat-httpsd must leave the old id.
deadline=$(($(now_ms) + 1000))
while (($(now_ms) < deadline)); do
  assert_eq "$want_id" "$(txt_id)" "the _mta-sts id while the new policy is not served"
  sleep 0.1
done
start_httpsd
assert_eq "$new_id" "$(fetch | id_of)" "the new policy is served"
wait_txt_id "$new_id"
echo "ok: _mta-sts id moved to $new_id after the new text was served"

step "HTTP behaviour"
assert_eq "404" "$(fetch_path /other -o /dev/null -w '%{http_code}')" "unknown path"
assert_eq "405" "$(fetch -o /dev/null -w '%{http_code}' -X POST)" "POST to the policy"
head=$(fetch -I)
assert_match "$head" "Content-Length: $(fetch | wc -c)" "HEAD gives the length of the GET answer"
big=$(head -c 9000 /dev/zero | tr '\0' 'a')
assert_eq "431" "$(fetch -o /dev/null -w '%{http_code}' -H "X-Big: $big")" "oversized header"
assert_eq "200" "$(fetch -o /dev/null -w '%{http_code}')" "still serving after the bad requests"

step "a slow client is cut off at the header timeout, and others are served meanwhile"
# Half a request head, then silence: moat-httpsd (--header-timeout 5) must hang up. The client
# gives up by itself after 9 s (less than the default 10 s), so a server that does not apply
# the configured timeout fails the check. (5 s, not less: a loaded CI machine must still
# finish its handshakes well within it.)
python3 - "$HTTPS_PORT" "$WEB" "$WORK/ca.pem" >"$WORK/slow.out" 2>&1 <<'PY' &
import socket, ssl, sys, time
port, host, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tls = ssl.create_default_context(cafile=ca).wrap_socket(
    socket.create_connection(("127.0.0.1", port)), server_hostname=host)
tls.settimeout(9)
tls.send(b"GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: " + host.encode() + b"\r\n")
start = time.monotonic()
try:
    data = tls.recv(4096)
    print("closed" if data == b"" else "answered", int((time.monotonic() - start) * 1000))
except (socket.timeout, TimeoutError):
    print("still open after 9 s")
PY
slow=$!
assert_eq "200" "$(fetch -o /dev/null -w '%{http_code}')" "a normal client while the slow one waits"
wait "$slow" || true
read -r verdict elapsed <"$WORK/slow.out" || true
assert_eq "closed" "$verdict" "the server hangs up on a request head that never ends ($(cat "$WORK/slow.out"))"
echo "ok: a slow client was cut off after $elapsed ms"

step "TLS: 1.2 and 1.3 only, SNI selects the certificate"
sc() { timeout 5 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -CAfile "$WORK/ca.pem" "$@" </dev/null 2>&1 || true; }
assert_contains "$(sc -servername "$WEB" -tls1_3 -verify_return_error)" "Verify return code: 0 (ok)" "TLS 1.3 with a verified chain"
assert_contains "$(sc -servername "$WEB" -tls1_2 -verify_return_error)" "Verify return code: 0 (ok)" "TLS 1.2"
assert_contains "$(sc -servername "$WEB" -tls1_1)" "Cipher is (NONE)" "TLS 1.1 is refused"
assert_contains "$(sc -servername "other.$D")" "unrecognized name" "an unknown SNI name is refused"
assert_contains "$(sc -noservername)" "unrecognized name" "a handshake without SNI is refused"

echo "PASS: $TEST_NAME"
