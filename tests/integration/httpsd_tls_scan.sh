#!/usr/bin/env bash
# moat-httpsd's TLS is Mozilla's "intermediate" profile: TLS 1.2 and 1.3 only, ECDHE with AEAD
# suites only, and an offline testssl run against it finds nothing rated MEDIUM or worse.
# Three independent tools against the real daemon on loopback, SNI mta-sts.example.test:
# - testssl (its JSON findings, every MEDIUM, HIGH, CRITICAL, WARN or FATAL one fails the test
#   unless TESTSSL_IGNORE below names it with the reason it is an artefact of this test);
# - sslscan (its XML: exactly which protocols, which suites, groups, renegotiation, Heartbleed);
# - openssl s_client (handshakes that must fail and must succeed) and a raw ClientHello offering
#   DEFLATE (compression: neither openssl nor sslscan here is built with zlib to offer it).
# With an ECDSA P-256 certificate (all of them), then an RSA 2048 one deployed over it (all but
# testssl, which takes a minute of CPU: once is enough). Both are issued by a test
# intermediate CA, like ACME ones: served with it, 90 days, key usage, a CRL URL (so that what
# testssl rates about the certificate is not this test's doing); the test root is the only CA
# trusted (testssl gets it by --add-ca, for its chain checks when -S is run).
# Offline: testssl runs with --ip and -n none (no DNS), and fetches no CRL or OCSP (no --phone-out).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SOFT_FAIL=1 # independent checks: report them all; waits that cannot go on use die
: "${MOATHTTPSD_BIN:?MOATHTTPSD_BIN must name the moat-httpsd binary}"
require_tools openssl curl jq python3 timeout testssl sslscan

D=example.test
WEB=mta-sts.$D

# testssl findings of MEDIUM or worse (or WARN: a check that could not run) that come from this
# test's setup rather than from moat-httpsd: "ID|SEVERITY|FINDING", all exact, and why.
declare -A TESTSSL_IGNORE=(
  # run_renego calls `openssl s_client` without -servername ("No SNI needed here"), and
  # moat-httpsd refuses handshakes without SNI by design (httpsd_policy.sh); RFC 5746 support is
  # checked below with SNI (s_client "Secure Renegotiation IS supported", the raw ClientHello).
  ["secure_renego|WARN|OpenSSL handshake didn't succeed"]="testssl's renegotiation check sends no SNI, which moat-httpsd refuses by design; checked here with SNI"
  # (-S only) TLS 1.3 tickets come after the handshake, and testssl's `s_client -sess_out
  # </dev/null` quits before it reads one about half the time (resumption is no weakness anyway).
  ["sessionresumption_ticket|WARN|check failed because of connect problem"]="testssl's s_client often quits before the TLS 1.3 ticket arrives (a race in the check)"
)
# The testssl checks run: protocols, server preference, every vulnerability. testssl is a shell
# script that runs thousands of short processes: on a CI machine, half a minute of CPU before its
# first check and up to half a minute for each group of checks, so some are left out (MOAT_TESTSSL_CHECKS="-p -s -f
# -P -S -U -h" runs them all, in about three minutes): -s and -f (cipher categories, forward
# secrecy: sslscan's list below is the exact set of suites accepted, all ECDHE or TLS 1.3 with
# AEAD, and the groups are checked), -S (server defaults: what is rated there is the
# certificate's, which is the CA's doing, and the chain, which openssl verifies here up to the
# test root from the intermediate moat-httpsd serves), -h (HTTP headers: nothing rated above LOW
# for this host) and -c (client simulations: not rated at all).
read -r -a TESTSSL_CHECKS <<<"${MOAT_TESTSSL_CHECKS:--p -P -U}"
# JSON ids each check gives: a missing one means that check did not run.
declare -A TESTSSL_IDS=(
  [-p]="SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2 TLS1_3"
  [-s]="cipherlist_NULL cipherlist_aNULL cipherlist_EXPORT cipherlist_LOW cipherlist_3DES_IDEA cipherlist_AVERAGE cipherlist_STRONG"
  [-f]="PFS"
  [-P]="cipher_order"
  [-S]="cert_trust cert_chain_of_trust cert_keySize cert_expirationStatus cert_crlDistributionPoints"
  [-U]="heartbleed CCS ticketbleed ROBOT secure_renego secure_client_renego CRIME_TLS BREACH POODLE_SSL fallback_SCSV SWEET32 FREAK DROWN LOGJAM BEAST LUCKY13 RC4"
  [-h]="HSTS"
)
TESTSSL_TIMEOUT_S=170

# --- helpers ---------------------------------------------------------------------------------

# failures: how many checks failed so far (SOFT_FAIL); ok BEFORE MESSAGE says MESSAGE only when
# no check failed since failures said BEFORE.
failures() { if [[ -f "$WORK/failures" ]]; then wc -l <"$WORK/failures"; else echo 0; fi; }
ok() {
  if (($(failures) == $1)); then echo "ok: $2"; fi
}

# start_httpsd: moat-httpsd on a free port, waits until it serves the policy; sets HTTPS_PORT.
start_httpsd() {
  HTTPS_PORT=$(free_port)
  "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$HTTPS_PORT" --poll-ms 100 --metrics off \
    >>"$WORK/httpsd.log" 2>&1 &
  HTTPS_PID=$!
  track_pid "$HTTPS_PID"
  local deadline=$(($(now_ms) + 10000))
  until [[ "$(fetch -o /dev/null -w '%{http_code}' || true)" == 200 ]]; do
    (($(now_ms) < deadline)) || { cat "$WORK/httpsd.log" >&2; die "moat-httpsd did not serve the policy within 10 s"; }
    kill -0 "$HTTPS_PID" 2>/dev/null || { cat "$WORK/httpsd.log" >&2; die "moat-httpsd exited"; }
    sleep 0.05
  done
  echo "moat-httpsd (pid $HTTPS_PID) serves https://$WEB on 127.0.0.1:$HTTPS_PORT"
}
# fetch [curl args...]: the policy, trusting only the test root.
fetch() {
  curl -sS --max-time 5 --resolve "$WEB:$HTTPS_PORT:127.0.0.1" --cacert "$WORK/root.pem" "$@" \
    "https://$WEB:$HTTPS_PORT/.well-known/mta-sts.txt"
}
# sc ARGS...: openssl s_client at moat-httpsd with SNI $WEB, the test root as the only CA.
sc() {
  timeout 10 openssl s_client -connect "127.0.0.1:$HTTPS_PORT" -servername "$WEB" \
    -CAfile "$WORK/root.pem" "$@" </dev/null 2>&1 || true
}
# served_fingerprint: SHA-256 fingerprint of the certificate moat-httpsd presents for $WEB.
served_fingerprint() {
  sc | openssl x509 -noout -fingerprint -sha256 2>/dev/null || true
}

# issue NAME NEWKEY_ARGS...: a key and a 90-day certificate for $WEB from the test intermediate,
# with what an ACME CA puts in one; $WORK/NAME-full.pem is it followed by the intermediate.
issue() {
  local name=$1
  shift
  openssl req -new "$@" -nodes -keyout "$WORK/$name.key" -out "$WORK/$name.csr" -subj "/CN=$WEB" \
    2>>"$WORK/openssl.log" || die "openssl could not make the $name key: $(tail -n 3 "$WORK/openssl.log")"
  printf '%s\n' "subjectAltName=DNS:$WEB" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" \
    "crlDistributionPoints=URI:http://crl.$D/moat-test.crl" >"$WORK/$name.ext"
  openssl x509 -req -in "$WORK/$name.csr" -CA "$WORK/int.pem" -CAkey "$WORK/int.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 90 -extfile "$WORK/$name.ext" \
    -out "$WORK/$name.pem" 2>>"$WORK/openssl.log" ||
    die "openssl could not issue the $name certificate: $(tail -n 3 "$WORK/openssl.log")"
  cat "$WORK/$name.pem" "$WORK/int.pem" >"$WORK/$name-full.pem"
}

# deploy NAME: `moat cert deploy` of NAME's chain and key; waits (bounded) until moat-httpsd
# presents that certificate.
deploy() {
  local name=$1 want out deadline
  out=$(moat cert deploy --fullchain "$WORK/$name-full.pem" --key "$WORK/$name.key")
  assert_contains "$out" "$WEB" "cert deploy of the $name certificate names the mta-sts host"
  want=$(openssl x509 -in "$WORK/$name.pem" -noout -fingerprint -sha256)
  [[ -z "${HTTPS_PORT:-}" ]] && return 0
  deadline=$(($(now_ms) + 10000))
  until [[ "$(served_fingerprint)" == "$want" ]]; do
    (($(now_ms) < deadline)) || die "moat-httpsd did not present the $name certificate within 10 s" "$want" "$(served_fingerprint)"
    sleep 0.05
  done
  echo "moat-httpsd presents the $name certificate"
}

# sslscan_checks KT (ECDSA or RSA): sslscan's XML report, against Mozilla's intermediate profile.
sslscan_checks() {
  local kt=$1 xml=$WORK/sslscan-$1.xml facts line bad=() before
  before=$(failures)
  timeout 60 sslscan --no-colour --sni-name="$WEB" --xml="$xml" "127.0.0.1:$HTTPS_PORT" \
    >"$WORK/sslscan-$kt.txt" 2>&1 || fail "sslscan ($kt) failed: $(tail -n 5 "$WORK/sslscan-$kt.txt")"
  # One fact a line: "protocols SSLv2=0 ...", "cipher PROTO NAME STATUS", "heartbleed PROTO 0|1",
  # "renegotiation SUPPORTED SECURE", "compression SUPPORTED" (only from an sslscan with zlib),
  # "group PROTO NAME BITS", "pk TYPE BITS CURVE".
  facts=$(python3 - "$xml" 2>&1 <<'PY'
import sys, xml.etree.ElementTree as ET
t = ET.parse(sys.argv[1]).find("ssltest")
if t is None:
    raise SystemExit("no <ssltest> in the report")
names = {("ssl", "2"): "SSLv2", ("ssl", "3"): "SSLv3", ("tls", "1.0"): "TLSv1.0",
         ("tls", "1.1"): "TLSv1.1", ("tls", "1.2"): "TLSv1.2", ("tls", "1.3"): "TLSv1.3"}
print("protocols", " ".join("%s=%s" % (names[(p.get("type"), p.get("version"))], p.get("enabled"))
                            for p in t.findall("protocol")))
for c in t.findall("cipher"):
    print("cipher", c.get("sslversion"), c.get("cipher"), c.get("status"))
for h in t.findall("heartbleed"):
    print("heartbleed", h.get("sslversion"), h.get("vulnerable"))
for r in t.findall("renegotiation"):
    print("renegotiation", r.get("supported"), r.get("secure"))
for c in t.findall("compression"):
    print("compression", c.get("supported"))
for g in t.findall("group"):
    print("group", g.get("sslversion"), g.get("name").split(" ")[0], g.get("bits"))
for pk in t.iter("pk"):
    print("pk", pk.get("type"), pk.get("bits"), pk.get("curve_name") or "-")
PY
  ) || { fail "sslscan's XML ($kt) could not be read: $facts"; return 0; }
  echo "$facts" >"$WORK/sslscan-$kt.facts"

  assert_eq "protocols SSLv2=0 SSLv3=0 TLSv1.0=0 TLSv1.1=0 TLSv1.2=1 TLSv1.3=1" \
    "$(grep '^protocols ' <<<"$facts")" "sslscan ($kt): the protocols enabled"

  # Every suite accepted: TLS 1.3 (all AEAD, all (EC)DHE) with GCM or ChaCha20-Poly1305, or
  # TLS 1.2 ECDHE, signed with the key's type, with GCM or ChaCha20-Poly1305.
  local suites
  suites=$(awk '$1 == "cipher" { print $2, $3 }' <<<"$facts" | sort)
  [[ -n "$suites" ]] || fail "sslscan ($kt) lists no cipher suite accepted" "the suites accepted" "$(cat "$WORK/sslscan-$kt.txt")"
  while read -r line; do
    [[ -n "$line" ]] || continue
    [[ "$line" =~ ^TLSv1\.3\ TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)$ ||
      "$line" =~ ^TLSv1\.2\ ECDHE-$kt-(AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$ ]] ||
      bad+=("$line")
  done <<<"$suites"
  ((${#bad[@]} == 0)) || fail "sslscan ($kt): suites accepted that are not ECDHE (or TLS 1.3) with AEAD: ${bad[*]}"
  # ... and all that Mozilla's intermediate profile lists for this key type are.
  local mozilla
  mozilla=$(printf '%s\n' "TLSv1.2 ECDHE-$kt-AES128-GCM-SHA256" "TLSv1.2 ECDHE-$kt-AES256-GCM-SHA384" \
    "TLSv1.2 ECDHE-$kt-CHACHA20-POLY1305" "TLSv1.3 TLS_AES_128_GCM_SHA256" \
    "TLSv1.3 TLS_AES_256_GCM_SHA384" "TLSv1.3 TLS_CHACHA20_POLY1305_SHA256" | sort)
  assert_eq "$mozilla" "$suites" "sslscan ($kt): the suites accepted are Mozilla intermediate's"

  # Heartbleed: tried with each protocol enabled, never vulnerable.
  assert_eq "TLSv1.2 0 TLSv1.3 0" "$(awk '$1 == "heartbleed" { print $2, $3 }' <<<"$facts" | sort | tr '\n' ' ' | sed 's/ $//')" \
    "sslscan ($kt): Heartbleed (PROTOCOL VULNERABLE)"
  # No insecure renegotiation: none at all, or only the RFC 5746 one.
  line=$(grep '^renegotiation ' <<<"$facts" || true)
  [[ "$line" == "renegotiation 0 "* || "$line" == "renegotiation 1 1" ]] ||
    fail "sslscan ($kt): insecure renegotiation" "renegotiation 0 * or renegotiation 1 1" "$line"
  # No compression (this sslscan is built without zlib and says nothing: see compression_check).
  if grep -q '^compression 1' <<<"$facts"; then
    fail "sslscan ($kt): the server takes TLS compression (CRIME)"
  fi
  # Key exchange groups: elliptic curves of 128 bits or more, finite-field groups of 2048 bits
  # or more (Mozilla intermediate: P-256, P-384, X25519; DH 2048).
  bad=()
  while read -r _ proto name bits; do
    if [[ "$name" =~ ^ffdhe([0-9]+)$ ]]; then
      ((BASH_REMATCH[1] >= 2048)) || bad+=("$proto $name")
    else
      ((bits >= 128)) || bad+=("$proto $name ($bits bits)")
    fi
  done < <(grep '^group ' <<<"$facts")
  grep -q '^group ' <<<"$facts" || fail "sslscan ($kt) lists no key exchange group"
  ((${#bad[@]} == 0)) || fail "sslscan ($kt): weak key exchange groups: ${bad[*]}"
  # The certificate sslscan was given is the one deployed.
  case $kt in
  ECDSA) assert_eq "pk EC 128 prime256v1" "$(grep '^pk ' <<<"$facts")" "sslscan ($kt): the server key" ;;
  RSA) assert_eq "pk RSA 2048 -" "$(grep '^pk ' <<<"$facts")" "sslscan ($kt): the server key" ;;
  esac
  ok "$before" "sslscan ($kt): TLS 1.2 and 1.3 only; $(grep -c '^cipher ' <<<"$facts") suites, Mozilla intermediate's, all ECDHE/TLS 1.3 with AEAD"
}

# openssl_checks KT: handshakes that must fail (old protocols, suites without ECDHE or without
# AEAD) and must succeed (ECDHE-KT-AES128-GCM-SHA256 over TLS 1.2, TLS 1.3), the chain verified.
openssl_checks() {
  local kt=$1 out v c before
  before=$(failures)
  # @SECLEVEL=0 here and below: no security level of the local OpenSSL keeps it from offering
  # the old protocol or suite. The server's "protocol version" alert (70) shows that it saw the
  # old version and refused it.
  for v in tls1 tls1_1; do
    out=$(sc "-$v" -cipher 'DEFAULT:@SECLEVEL=0' -brief)
    assert_contains "$out" "alert protocol version" "openssl s_client -$v ($kt) is refused with a protocol_version alert"
    assert_not_contains "$out" "CONNECTION ESTABLISHED" "openssl s_client -$v ($kt)"
  done
  # RSA key transport (CBC, GCM), ECDHE with CBC (SHA-1, SHA-256), DHE with GCM: each one alone
  # is offered and must end in the server's handshake_failure alert (40): no suite in common.
  for c in AES128-SHA AES128-GCM-SHA256 "ECDHE-$kt-AES128-SHA" "ECDHE-$kt-AES128-SHA256" \
    DHE-RSA-AES128-GCM-SHA256; do
    out=$(sc -tls1_2 -cipher "$c:@SECLEVEL=0" -brief)
    assert_contains "$out" "alert handshake failure" "openssl s_client -tls1_2 -cipher $c ($kt) is refused"
    assert_not_contains "$out" "CONNECTION ESTABLISHED" "openssl s_client -tls1_2 -cipher $c ($kt)"
  done
  out=$(sc -tls1_2 -cipher "ECDHE-$kt-AES128-GCM-SHA256" -verify_return_error -brief)
  assert_contains "$out" "Protocol version: TLSv1.2" "openssl s_client -tls1_2 -cipher ECDHE-$kt-AES128-GCM-SHA256"
  assert_contains "$out" "Ciphersuite: ECDHE-$kt-AES128-GCM-SHA256" "openssl s_client -tls1_2 -cipher ECDHE-$kt-AES128-GCM-SHA256"
  assert_contains "$out" "Verification: OK" "openssl s_client -tls1_2 ($kt): the chain served verifies up to the test root"
  out=$(sc -tls1_3 -verify_return_error -brief)
  assert_contains "$out" "Protocol version: TLSv1.3" "openssl s_client -tls1_3 ($kt)"
  assert_contains "$out" "Verification: OK" "openssl s_client -tls1_3 ($kt): the chain served verifies up to the test root"
  # RFC 5746 (secure renegotiation indication) in TLS 1.2, with SNI.
  assert_contains "$(sc -tls1_2)" "Secure Renegotiation IS supported" "openssl s_client -tls1_2 ($kt): RFC 5746"
  ok "$before" "openssl s_client ($kt): TLS 1.0/1.1 and non-ECDHE or non-AEAD suites refused; TLS 1.2 ECDHE-GCM and TLS 1.3 served"
}

# compression_check KT: a raw TLS 1.2 ClientHello offering DEFLATE and null compression (and the
# empty renegotiation_info); the ServerHello must pick null and send renegotiation_info.
compression_check() {
  local kt=$1 out before
  before=$(failures)
  out=$(python3 - "$HTTPS_PORT" "$WEB" 2>&1 <<'PY'
import os, socket, struct, sys
port, host = int(sys.argv[1]), sys.argv[2].encode()
def ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body
suites = [0xC02B, 0xC02C, 0xCCA9, 0xC02F, 0xC030, 0xCCA8]  # ECDHE-{ECDSA,RSA} GCM and ChaCha20
exts = (ext(0, struct.pack("!HBH", len(host) + 3, 0, len(host)) + host)  # server_name
        + ext(10, struct.pack("!HHH", 4, 0x001D, 0x0017))                 # groups: X25519, P-256
        + ext(11, b"\x01\x00")                                            # ec_point_formats
        + ext(13, struct.pack("!HHHH", 6, 0x0403, 0x0804, 0x0401))        # signature_algorithms
        + ext(0xFF01, b"\x00"))                                           # renegotiation_info
body = (b"\x03\x03" + os.urandom(32) + b"\x00"
        + struct.pack("!H", 2 * len(suites)) + b"".join(struct.pack("!H", s) for s in suites)
        + b"\x02\x01\x00"                                                 # DEFLATE, null
        + struct.pack("!H", len(exts)) + exts)
hello = b"\x01" + struct.pack("!I", len(body))[1:] + body
sock = socket.create_connection(("127.0.0.1", port), timeout=5)
sock.sendall(b"\x16\x03\x01" + struct.pack("!H", len(hello)) + hello)
def read(n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("connection closed after %d bytes" % len(data))
        data += chunk
    return data
kind, _, length = struct.unpack("!BHH", read(5))
rec = read(length)
if kind == 21:
    raise SystemExit("alert %d" % rec[1])
if kind != 22 or rec[0] != 2:
    raise SystemExit("no ServerHello (record type %d, message %d)" % (kind, rec[0]))
end = 4 + int.from_bytes(rec[1:4], "big")  # the ServerHello alone (more may follow it)
p = 4 + 2 + 32
p += 1 + rec[p]  # session id
suite = struct.unpack("!H", rec[p:p + 2])[0]
compression = rec[p + 2]
p += 3
kinds = []
if p < end:
    end = p + 2 + struct.unpack("!H", rec[p:p + 2])[0]
    p += 2
    while p < end:
        k, n = struct.unpack("!HH", rec[p:p + 4])
        kinds.append(k)
        p += 4 + n
print("version=%04x suite=%04x compression=%d renegotiation_info=%s" % (
    struct.unpack("!H", rec[4:6])[0], suite, compression, "yes" if 0xFF01 in kinds else "no"))
PY
  ) || true
  assert_match "$out" '^version=0303 suite=[0-9a-f]{4} compression=0 renegotiation_info=yes$' \
    "a TLS 1.2 ClientHello offering DEFLATE ($kt): null compression chosen, RFC 5746 answered"
  ok "$before" "raw ClientHello ($kt): $out"
}

# testssl_start: testssl against moat-httpsd, in the background (it takes a minute; the other
# checks run meanwhile). testssl_checks waits for it and fails every finding of MEDIUM or worse
# (or WARN, FATAL) that TESTSSL_IGNORE does not name.
testssl_start() {
  TESTSSL_START=$(now_ms)
  # Its temporary files under $WORK; --ip: no resolving of the name, -n none: no DNS at all
  # (rDNS, CAA), --sneaky: no referer or user agent naming testssl's site, no --phone-out: no
  # CRL or OCSP fetched. The URL is the policy one, so that the HTTP checks (BREACH) look at
  # what moat-httpsd serves; --assume-http: they run even if a loaded machine makes testssl's
  # 5 s probe for the service time out. --warnings batch: it stops rather than asks.
  TMPDIR=$WORK timeout "$TESTSSL_TIMEOUT_S" testssl --quiet --color 0 --warnings batch \
    --ip 127.0.0.1 -n none --sneaky --assume-http --openssl-timeout 10 --add-ca "$WORK/root.pem" \
    --jsonfile "$WORK/testssl.json" "${TESTSSL_CHECKS[@]}" \
    "https://$WEB:$HTTPS_PORT/.well-known/mta-sts.txt" >"$WORK/testssl.log" 2>&1 &
  TESTSSL_PID=$!
  track_pid "$TESTSSL_PID"
}
testssl_checks() {
  local json=$WORK/testssl.json log=$WORK/testssl.log rc=0 flag key id sev finding i=0 before
  before=$(failures)
  wait "$TESTSSL_PID" || rc=$?
  echo "testssl ${TESTSSL_CHECKS[*]} took $(($(now_ms) - TESTSSL_START)) ms (exit $rc)"
  if ((rc == 124)); then
    tail -n 20 "$log" >&2
    fail "testssl did not finish within $TESTSSL_TIMEOUT_S s"
  fi
  if ! jq -e 'type == "array" and length > 0' "$json" >/dev/null 2>&1; then
    tail -n 40 "$log" >&2
    die "testssl wrote no JSON findings (exit $rc)"
  fi
  for flag in "${TESTSSL_CHECKS[@]}"; do
    for id in ${TESTSSL_IDS[$flag]:-}; do
      jq -e --arg id "$id" 'any(.[]; .id == $id)' "$json" >/dev/null ||
        fail "testssl $flag gave no '$id' finding: the check did not run (see $log)"
    done
  done
  while IFS=$'\t' read -r id sev finding; do
    key="$id|$sev|$finding"
    if [[ -n "${TESTSSL_IGNORE[$key]+set}" ]]; then
      echo "ignored: testssl $sev $id: $finding -- ${TESTSSL_IGNORE[$key]}"
      i=$((i + 1))
    else
      fail "testssl rates $id $sev: $finding"
    fi
  done < <(jq -r '.[] | select(.severity | IN("MEDIUM", "HIGH", "CRITICAL", "WARN", "FATAL"))
                      | [.id, .severity, .finding] | @tsv' "$json")
  jq -r '.[] | select(.severity == "LOW") | "note: testssl LOW \(.id): \(.finding)"' "$json"
  ok "$before" "testssl: nothing rated MEDIUM or worse ($i finding(s) of this setup ignored)"
}

# --- the test ----------------------------------------------------------------------------------

step "a domain with a policy; a test root, an intermediate, an ECDSA P-256 and an RSA 2048 certificate"
moat init >/dev/null
new_domain "$D"
moat mx add "$D" "mail.$D" --priority 10 --addr 192.0.2.25 --live-dir "$WORK/live" >/dev/null
moat policy set "$D" >/dev/null
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
openssl req -x509 "${ec[@]}" -nodes -keyout "$WORK/root.key" -out "$WORK/root.pem" -days 3650 \
  -subj "/CN=moat test root" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>>"$WORK/openssl.log" || die "openssl could not make the test root"
openssl req -new "${ec[@]}" -nodes -keyout "$WORK/int.key" -out "$WORK/int.csr" \
  -subj "/CN=moat test intermediate" 2>>"$WORK/openssl.log" || die "openssl could not make the intermediate key"
printf '%s\n' "basicConstraints=critical,CA:TRUE,pathlen:0" "keyUsage=critical,keyCertSign,cRLSign" \
  "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$WORK/int.ext"
openssl x509 -req -in "$WORK/int.csr" -CA "$WORK/root.pem" -CAkey "$WORK/root.key" -set_serial 2 \
  -days 3650 -extfile "$WORK/int.ext" -out "$WORK/int.pem" 2>>"$WORK/openssl.log" || die "openssl could not issue the intermediate"
issue ecdsa "${ec[@]}"
issue rsa -newkey rsa:2048
deploy ecdsa

step "moat-httpsd with the ECDSA certificate; testssl starts in the background"
start_httpsd
assert_contains "$(sc -brief)" "Signature type: ECDSA" "the ECDSA certificate is presented"
testssl_start

step "sslscan (ECDSA): protocols, suites, groups, renegotiation, Heartbleed"
sslscan_checks ECDSA

step "openssl s_client (ECDSA): what must fail, what must succeed"
openssl_checks ECDSA

step "no TLS compression (ECDSA)"
compression_check ECDSA

step "testssl (ECDSA), offline: nothing rated MEDIUM or worse"
testssl_checks

step "the RSA 2048 certificate deployed over it"
deploy rsa
assert_contains "$(sc -brief)" "Signature type: RSA-PSS" "the RSA certificate is presented"

step "sslscan (RSA)"
sslscan_checks RSA

step "openssl s_client (RSA)"
openssl_checks RSA

step "no TLS compression (RSA)"
compression_check RSA
