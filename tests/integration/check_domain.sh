#!/usr/bin/env bash
# `moat check DOMAIN` audits the live deployment as a DANE- and MTA-STS-aware sender would. Here it
# meets the real moat-dnsd and moat-httpsd and a real Postfix (private to the test, see below)
# whose listeners present: the live certificate (everything passes); another certificate of the
# same CA that no TLSA record names (DANE fails, the WebPKI passes); an expired certificate with
# the live key (DANE-EE still matches, RFC 7672 §3.1.1; the WebPKI and the expiry fail); no
# STARTTLS at all. Then nothing listening; trust anchors from a file (the right DS, a wrong DS, a
# DNSKEY; with and without the database); --json; the warnings (signatures and certificate near
# their end, with the CLI's clock moved by MOAT_FAKE_TIME; a TLSRPT failure report imported with
# `moat reports import`; a rotation step overdue by a day); and MTA-STS policy servers that do
# not serve what the _mta-sts id names, redirect, or give the wrong media type.
# The expected output is compared whole, line for line; its figures (digests, ids, dates, days
# left, cipher, OpenSSL's verdict) come from openssl, kdig, curl and sha256sum, only the KSK's tag
# and the wording of a pending step from moat itself. The format is cli/check_command.cpp's:
# "STATUS SUBJECT MESSAGE", the status in 6 columns and the subject in 20, an indented
# "fix: ..." line under a finding that has one, and a last line that counts.
#
# Postfix: one instance of the system's Postfix (root is needed: master(8) starts as root and
# smtpd drops to the postfix user), with its own configuration, queue and data directories
# under $WORK, started with `postfix -c DIR start` and stopped with `postfix -c DIR stop`.
# Root may use any configuration directory (alternate_config_directories only binds other
# users), so nothing outside $WORK is read or written but Postfix's own programs. Its log goes to
# a file through postlogd (maillog_file), each listener under its own syslog_name.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MOATHTTPSD_BIN:?MOATHTTPSD_BIN must name the moat-httpsd binary}"
SOFT_FAIL=1 # independent checks: report them all; waits that cannot go on use die
require_tools openssl kdig curl jq sha256sum postfix postconf
((EUID == 0)) || die "Postfix's master must be started as root (CI runs the tests as root)"

D=example.test
MX=mail.$D
WEB=mta-sts.$D
LIVE=$WORK/live
C=$WORK/pki
PF=$WORK/postfix
WAIT_MS=10000 # bound of every wait
mkdir -p "$C"

# --- helpers ---------------------------------------------------------------------------------

# line STATUS SUBJECT MESSAGE: a finding line as `moat check` prints it.
line() { printf '%-6s%-20s %s' "$1" "$2" "$3"; }
# fix TEXT: the line under a finding that says what to do.
fix() { printf '%26s fix: %s' '' "$1"; }
# lines LINE...: the lines joined with newlines.
lines() { printf '%s\n' "$@"; }

# check_domain ARGS...: `moat check $D` at the running moat-dnsd, trusting the test CA, with
# mta-sts.$D at moat-httpsd (unless POLICY_AT says another ADDR:PORT). Sets OUT, ERR and RC.
check_domain() {
  RC=0
  OUT=$(moat check "$D" --server "127.0.0.1:$DNSD_PORT" --ca-file "$C/ca.pem" \
    --connect "$WEB=${POLICY_AT:-127.0.0.1:$HTTPS_PORT}" --timeout 5 "$@" 2>"$WORK/check.err") || RC=$?
  ERR=$(cat "$WORK/check.err")
}

# expect_output WHAT RC STDOUT: the last check_domain exited RC and printed exactly STDOUT, and
# on stderr nothing (RC 0) or the one line that counts the failures (RC 1).
expect_output() {
  local what=$1 rc=$2 want=$3 failures
  assert_eq "$rc" "$RC" "$what: exit status of moat check"
  assert_eq "$want" "$OUT" "$what: output of moat check"
  if ((rc == 0)); then
    assert_eq "" "$ERR" "$what: stderr of moat check"
  else
    failures=$(grep -c '^FAIL ' <<<"$want")
    local s=s
    ((failures == 1)) && s=
    assert_eq "moat: error: $D. fails $failures check$s a sender makes" "$ERR" "$what: stderr of moat check"
  fi
  echo "ok ($what): $(tail -n1 <<<"$OUT"), exit $RC"
}

# expect_line WHAT LINE / expect_no_line WHAT TEXT: the last output has that very line / no line
# containing TEXT.
expect_line() { grep -qxF -- "$2" <<<"$OUT" || fail "$1: no such line in the output" "$2" "$OUT"; }
expect_no_line() { assert_not_contains "$OUT" "$2" "$1"; }

# spki_sha256 CERT: the TLSA 3 1 1 digest of a certificate, by openssl.
spki_sha256() {
  openssl x509 -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1
}
# not_after CERT: the certificate's notAfter, Unix time.
not_after() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }
# iso TIME / ymd TIME: Unix time as moat prints it.
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
ymd() { date -u -d "@$1" +%F; }
# days_text SECONDS: "1 day", "7 days" (whole days, rounded down).
days_text() {
  local d=$(($1 / 86400))
  if ((d == 1)); then echo "1 day"; else echo "$d days"; fi
}
# served_tlsa: the TLSA records moat-dnsd serves for the MX host, "3 1 1 hex" lines, sorted.
served_tlsa() { kq "_25._tcp.$MX" TLSA +short | tr 'A-F' 'a-f' | awk '{ h = ""; for (i = 4; i <= NF; i++) h = h $i; print $1, $2, $3, h }' | sort; }
# sig_expires NAME TYPE: when the RRSIG over NAME/TYPE that moat-dnsd serves expires (Unix time;
# the earliest when there are several).
sig_expires() {
  kq +dnssec "$1" "$2" | awk -v t="$2" '$4 == "RRSIG" && $5 == t { print $9 }' | sort | head -n1 |
    sed -E 's/^(....)(..)(..)(..)(..)(..)$/\1-\2-\3 \4:\5:\6 UTC/' | xargs -I{} date -u -d {} +%s
}
# id_of: the MTA-STS policy id of the bytes on stdin (first 16 octets of SHA-256, hex).
id_of() { sha256sum | cut -c1-32; }
# txt_id: the id in the _mta-sts TXT record moat-dnsd serves ("" when there is none).
txt_id() { kq +short TXT "_mta-sts.$D" | sed -n 's/.*id=\([A-Za-z0-9]*\).*/\1/p'; }
# txt_id_is ID: moat-dnsd serves that _mta-sts id (any id when ID is empty).
txt_id_is() {
  local id
  id=$(txt_id)
  [[ -n $id && ( -z $1 || $id == "$1" ) ]]
}
# wait_until WHAT COMMAND...: polls COMMAND every 50 ms until it succeeds, at most WAIT_MS.
wait_until() {
  local what=$1 deadline=$(($(now_ms) + WAIT_MS))
  shift
  until "$@"; do
    (($(now_ms) < deadline)) || die "$what did not happen within $WAIT_MS ms"
    sleep 0.05
  done
}
# pf_log_count TAG TEXT: lines of Postfix's log from listener TAG (its syslog_name) with TEXT.
pf_log_count() { grep -F "postfix-$1/smtpd[" "$PF/maillog" 2>/dev/null | grep -cF -- "$2" || true; }
# expect_pf_log TAG TEXT N WHAT: waits until the Postfix log has N such lines.
expect_pf_log() {
  local deadline=$(($(now_ms) + WAIT_MS))
  until (($(pf_log_count "$1" "$2") >= $3)); do
    if (($(now_ms) >= deadline)); then
      fail "$4: Postfix logged $(pf_log_count "$1" "$2") line(s) '$2' from postfix-$1" "$3" "$(tail -n 20 "$PF/maillog")"
      return
    fi
    sleep 0.05
  done
}

# --- certificates (openssl only) -------------------------------------------------------------
step "a test CA; for $MX the live key and another, a certificate of the live key expired in 2020; one for $WEB"
(
  cd "$C"
  exec >>openssl.log 2>&1
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 365 -subj "/CN=moat check test CA"
  leaf() { # leaf NAME HOST DAYS SERIAL
    openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" -addext "subjectAltName=DNS:$2"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$4" -days "$3" \
      -copy_extensions copy -out "$1.pem"
    cat "$1.pem" ca.pem >"$1-full.pem"
  }
  leaf live "$MX" 20 1 # 20 days: no expiry warning today, one 12 days from now
  leaf other "$MX" 90 2
  leaf web "$WEB" 90 3
  # Past dates need `openssl ca` (openssl 3.0's x509 has no -not_before/-not_after).
  mkdir ca
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
  openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in live.csr \
    -out expired.pem -startdate 20200101000000Z -enddate 20200201000000Z
  cat expired.pem ca.pem >expired-full.pem
) || die "openssl could not make the test certificates: $(tail -n 5 "$C/openssl.log")"
H_LIVE=$(spki_sha256 "$C/live.pem")
H_OTHER=$(spki_sha256 "$C/other.pem")
[[ $H_LIVE != "$H_OTHER" ]] || die "the two keys have the same SPKI"
assert_eq "$H_LIVE" "$(spki_sha256 "$C/expired.pem")" "the expired certificate has the live key"
openssl x509 -in "$C/expired.pem" -noout -checkend 0 >/dev/null && die "expired.pem is not expired"

# --- the domain, its daemons ---------------------------------------------------------------
step "$D with $MX (its certificate live, MX published), an MTA-STS policy in enforce mode, TLSRPT"
moat init >/dev/null
new_domain "$D"
moat mx add "$D" "$MX" --priority 10 --addr 192.0.2.25 --live-dir "$LIVE" >/dev/null
moat policy set "$D" >/dev/null # testing: enforce is refused while no certificate is live
moat cert deploy --fullchain "$C/web-full.pem" --key "$C/web.key" >/dev/null
moat tlsrpt set "$D" --builtin >/dev/null
moat cert deploy --fullchain "$C/live-full.pem" --key "$C/live.key" >/dev/null
start_dnsd "$D" 10 --poll-ms 20
HTTPS_PORT=$(free_port)
"$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$HTTPS_PORT" --poll-ms 50 >>"$WORK/httpsd.log" 2>&1 &
track_pid $!
_lib_peer_logs+=("$WORK/httpsd.log")
# The policy is served, then its id published; the certificate goes live two TLSA TTLs after its
# TLSA was served, the MX once the policy listing it has been out for an hour: a tick three hours
# ahead does both (as in dane_live_chain.sh).
wait_until "the _mta-sts id of the testing policy" txt_id_is ""
wait_served "$D"
MOAT_FAKE_TIME=$(($(date +%s) + 3 * 3600)) moat tick >/dev/null
[[ -f "$LIVE/fullchain.pem" && -f "$LIVE/privkey.pem" ]] || die "the certificate of $MX did not go live"
cmp -s "$LIVE/fullchain.pem" "$C/live-full.pem" || die "the live fullchain.pem is not the deployed one"
moat policy set "$D" --mode enforce >/dev/null
ID=$(moat --json policy show "$D" | jq -r .id)
wait_until "the _mta-sts id of the enforce policy" txt_id_is "$ID"
wait_served "$D"
assert_eq "10 $MX." "$(kq "$D" MX +short)" "MX served"
assert_eq "3 1 1 $H_LIVE" "$(served_tlsa)" "TLSA served (digest by openssl)"
curl -sS --max-time 5 --resolve "$WEB:$HTTPS_PORT:127.0.0.1" --cacert "$C/ca.pem" \
  -o "$WORK/policy.txt" "https://$WEB:$HTTPS_PORT/.well-known/mta-sts.txt" || die "curl could not fetch the policy"
assert_eq "$ID" "$(id_of <"$WORK/policy.txt")" "the _mta-sts id is the SHA-256 of the served policy (by sha256sum)"
assert_contains "$(cat "$WORK/policy.txt")" "mode: enforce" "the served policy"
KSK=$(moat --json ds "$D" | jq -r '.[0].key_tag')
assert_contains "$(kq "$D" DNSKEY +short)" "257 3 13" "the KSK is served"
moat ds "$D" >"$WORK/ds-right"

# --- Postfix ---------------------------------------------------------------------------------
# One instance, one smtpd listener per case; main.cf holds the chains the listeners take.
step "a private Postfix: four smtpd listeners on loopback ports"
mkdir -p "$PF/conf" "$PF/queue" "$PF/data"
# Postfix's daemons run as the postfix user and open files under $PF: they must be able to pass
# through $WORK (mktemp made it 0700), though not to list it.
chmod 0711 "$WORK"
chown postfix "$PF/data" # master.lock and the like, written as mail_owner
start_postfix() {
  local attempt
  for attempt in 1 2 3; do
    P_LIVE=$(free_port) P_OTHER=$(free_port) P_EXPIRED=$(free_port) P_PLAIN=$(free_port)
    [[ $(printf '%s\n' "$P_LIVE" "$P_OTHER" "$P_EXPIRED" "$P_PLAIN" | sort -u | wc -l) == 4 ]] || continue
    cat >"$PF/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = $MX
# Nothing is delivered: no lookups through proxymap(8), which smtpd would wait for at start.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
# key first, then its chain; the live files are those moat wrote
smtpd_tls_chain_files = $LIVE/privkey.pem, $LIVE/fullchain.pem
chain_other = $C/other.key, $C/other-full.pem
chain_expired = $LIVE/privkey.pem, $C/expired-full.pem
EOF
    cat >"$PF/conf/master.cf" <<EOF
127.0.0.1:$P_LIVE inet n - n - - smtpd -o syslog_name=postfix-live
127.0.0.1:$P_OTHER inet n - n - - smtpd -o syslog_name=postfix-other -o smtpd_tls_chain_files=\$chain_other
127.0.0.1:$P_EXPIRED inet n - n - - smtpd -o syslog_name=postfix-expired -o smtpd_tls_chain_files=\$chain_expired
127.0.0.1:$P_PLAIN inet n - n - - smtpd -o syslog_name=postfix-plain -o smtpd_tls_security_level=none
postlog unix-dgram n - n - 1 postlogd
anvil unix - - n - 1 anvil
tlsmgr unix - - n 1000? 1 tlsmgr
EOF
    # `postfix start` returns once master(8) has bound every listener (master -w).
    if postfix -c "$PF/conf" start >>"$PF/start.log" 2>&1; then
      PF_PID=$(tr -d ' ' <"$PF/queue/pid/master.pid")
      track_pid "$PF_PID" # stopped at exit even when the test dies early
      return 0
    fi
    grep -q "in use" "$PF/maillog" "$PF/start.log" 2>/dev/null || break
  done
  cat "$PF/start.log" "$PF/maillog" >&2
  die "postfix did not start"
}
start_postfix
_lib_peer_logs+=("$PF/maillog")
echo "postfix (master pid $PF_PID): live $P_LIVE, other $P_OTHER, expired $P_EXPIRED, no STARTTLS $P_PLAIN"
for p in "$P_LIVE" "$P_OTHER" "$P_EXPIRED" "$P_PLAIN"; do
  wait_until "a connection to Postfix at 127.0.0.1:$p" bash -c "exec 2>/dev/null 3<>/dev/tcp/127.0.0.1/$p"
done
P_NONE=$(free_port) # nothing listens there

# What any client negotiates with these listeners, and the dates, as openssl sees them.
sc=$(openssl s_client -brief -starttls smtp -connect "127.0.0.1:$P_LIVE" -servername "$MX" </dev/null 2>&1 || true)
PROTO=$(sed -n 's/^Protocol version: //p' <<<"$sc")
CIPHER=$(sed -n 's/^Ciphersuite: //p' <<<"$sc")
[[ -n $PROTO && -n $CIPHER ]] || die "openssl s_client could not shake hands with Postfix" "a protocol and a cipher" "$sc"
# OpenSSL's own verdict on the other certificate against the live key's TLSA record.
sc=$(openssl s_client -brief -starttls smtp -connect "127.0.0.1:$P_OTHER" -servername "$MX" \
  -dane_tlsa_domain "$MX" -dane_tlsa_rrdata "3 1 1 $H_LIVE" </dev/null 2>&1 || true)
NO_MATCH=$(sed -n 's/^Verification error: //p' <<<"$sc")
[[ -n $NO_MATCH ]] || die "openssl s_client did not fail DANE for the other certificate" "a verification error" "$sc"
LIVE_UNTIL=$(not_after "$C/live.pem")
OTHER_UNTIL=$(not_after "$C/other.pem")
EXPIRED_UNTIL=$(not_after "$C/expired.pem")

# The lines every run against the running daemons starts with, and ends with.
HEAD=$(lines \
  "$(line ok dnssec "DNSKEY RRset of $D. validated from the DS the parent holds (moat ds) (key $KSK)")" \
  "$(line ok mta-sts "policy fetched over HTTPS (chain to a trusted CA, valid, names $WEB): mode enforce, max_age 604800")" \
  "$(line ok mta-sts "the _mta-sts id $ID is that of the policy served")" \
  "$(line ok mx "MX validated: 10 $MX.")")
TLSRPT_OK=$(line ok tlsrpt "reports go to https://$WEB/.well-known/tlsrpt")
starttls_ok() { line ok "$MX" "STARTTLS at 127.0.0.1:$1: $PROTO $CIPHER, certificate /CN=$MX valid until $(ymd "$2")"; }
DANE_OK=$(line ok "$MX" "DANE: TLSA 3 1 1 matches the certificate at depth 0")
PKIX_OK=$(line ok "$MX" "MTA-STS: chain to a trusted CA, valid, names $MX")

# --- 1. the live certificate -----------------------------------------------------------------
step "1. Postfix presents the live certificate: DANE, MTA-STS and everything else pass"
before=$(pf_log_count live "Anonymous TLS connection established from localhost[127.0.0.1]")
check_domain --connect "$MX=127.0.0.1:$P_LIVE"
WANT1=$(lines "$HEAD" "$(starttls_ok "$P_LIVE" "$LIVE_UNTIL")" "$DANE_OK" "$PKIX_OK" "$TLSRPT_OK" "0 failures, 0 warnings")
expect_output "live certificate" 0 "$WANT1"
expect_pf_log live "Anonymous TLS connection established from localhost[127.0.0.1]" $((before + 1)) \
  "the check shook hands with Postfix's live listener"

step "1. the same with --json (read with jq; the same findings as the text)"
RC=0
JSON=$(moat --json check "$D" --server "127.0.0.1:$DNSD_PORT" --ca-file "$C/ca.pem" \
  --connect "$WEB=127.0.0.1:$HTTPS_PORT" --connect "$MX=127.0.0.1:$P_LIVE" 2>"$WORK/check.err") || RC=$?
assert_eq 0 "$RC" "--json, live certificate: exit status"
assert_eq "$D. true 0 0 8" "$(jq -r '"\(.domain) \(.ok) \(.failures) \(.warnings) \(.checks | length)"' <<<"$JSON")" \
  "--json, live certificate: domain, ok, failures, warnings, number of checks"
assert_eq "ok ok ok ok ok ok ok ok" "$(jq -r '[.checks[].status] | join(" ")' <<<"$JSON")" "--json: statuses"
assert_eq "0" "$(jq '[.checks[] | select(has("fix"))] | length' <<<"$JSON")" "--json: no fix on passing checks"
# The JSON findings printed as the text prints them are the text's lines.
as_text() {
  jq -r '.checks[] | [(if .status == "fail" then "FAIL" else .status end), .subject, .message, (.fix // "")] | @tsv' <<<"$1" |
    while IFS=$'\t' read -r st su me fx; do
      line "$st" "$su" "$me"
      echo
      [[ -z $fx ]] || { fix "$fx"; echo; }
    done
}
assert_eq "$(head -n -1 <<<"$WANT1")" "$(as_text "$JSON")" "--json findings, printed as text"

# --- 2. a certificate no TLSA record names ---------------------------------------------------
step "2. Postfix presents another certificate of the same CA: DANE fails, the WebPKI passes"
before=$(pf_log_count other "Anonymous TLS connection established from localhost[127.0.0.1]")
check_domain --connect "$MX=127.0.0.1:$P_OTHER"
WANT2=$(lines "$HEAD" "$(starttls_ok "$P_OTHER" "$OTHER_UNTIL")" \
  "$(line FAIL "$MX" "DANE: no TLSA record matches the chain presented ($NO_MATCH); DANE senders defer mail to this host")" \
  "$(fix "the TLSA records must follow the certificate the server presents: deploy it with moat cert deploy (or the certbot hook) and let moat tick run")" \
  "$PKIX_OK" "$TLSRPT_OK" "1 failure, 0 warnings")
expect_output "a certificate not in TLSA" 1 "$WANT2"
expect_pf_log other "Anonymous TLS connection established from localhost[127.0.0.1]" $((before + 1)) \
  "the check shook hands with Postfix's listener of the other certificate"

RC=0
JSON=$(moat check "$D" --json --server "127.0.0.1:$DNSD_PORT" --ca-file "$C/ca.pem" \
  --connect "$WEB=127.0.0.1:$HTTPS_PORT" --connect "$MX=127.0.0.1:$P_OTHER" 2>"$WORK/check.err") || RC=$?
assert_eq 1 "$RC" "--json, certificate not in TLSA: exit status"
assert_eq "$D. false 1 0" "$(jq -r '"\(.domain) \(.ok) \(.failures) \(.warnings)"' <<<"$JSON")" \
  "--json, certificate not in TLSA: domain, ok, failures, warnings"
assert_eq "fail $MX the TLSA records must follow the certificate the server presents: deploy it with moat cert deploy (or the certbot hook) and let moat tick run" \
  "$(jq -r '.checks[] | select(.status == "fail") | "\(.status) \(.subject) \(.fix)"' <<<"$JSON")" \
  "--json: the one failing check, with its fix"
assert_eq "$(head -n -1 <<<"$WANT2")" "$(as_text "$JSON")" "--json findings (certificate not in TLSA), printed as text"
assert_eq "moat: error: $D. fails 1 check a sender makes" "$(cat "$WORK/check.err")" "--json: stderr"

# --- 3. an expired certificate of the live key -----------------------------------------------
step "3. Postfix presents an expired certificate of the live key: DANE-EE passes, the WebPKI and the expiry fail"
before=$(pf_log_count expired "Anonymous TLS connection established from localhost[127.0.0.1]")
check_domain --connect "$MX=127.0.0.1:$P_EXPIRED"
expect_output "an expired certificate" 1 "$(lines "$HEAD" "$(starttls_ok "$P_EXPIRED" "$EXPIRED_UNTIL")" "$DANE_OK" \
  "$(line FAIL "$MX" "MTA-STS: the certificate fails WebPKI validation: certificate has expired; enforcing senders will not deliver")" \
  "$(fix "deploy a certificate from a public CA naming $MX")" \
  "$(line FAIL "$MX" "the certificate expired on $(iso "$EXPIRED_UNTIL")")" \
  "$(fix "renew it (certbot renew) and deploy it (moat cert deploy)")" \
  "$TLSRPT_OK" "2 failures, 0 warnings")"
expect_pf_log expired "Anonymous TLS connection established from localhost[127.0.0.1]" $((before + 1)) \
  "the check shook hands with Postfix's listener of the expired certificate"

# --- 4. no STARTTLS --------------------------------------------------------------------------
step "4. Postfix without STARTTLS (smtpd_tls_security_level = none)"
check_domain --connect "$MX=127.0.0.1:$P_PLAIN"
expect_output "no STARTTLS" 1 "$(lines "$HEAD" \
  "$(line FAIL "$MX" "SMTP at 127.0.0.1:$P_PLAIN: STARTTLS is not offered after EHLO")" \
  "$(fix "turn on STARTTLS in the mail server (Postfix: smtpd_tls_security_level = may)")" \
  "$TLSRPT_OK" "1 failure, 0 warnings")"
expect_pf_log plain "disconnect from localhost[127.0.0.1] ehlo=1" 1 "the check said EHLO to Postfix's listener without STARTTLS"
assert_eq 0 "$(pf_log_count plain "TLS connection established")" "no TLS with the listener without STARTTLS"

# --- 5. nothing listening --------------------------------------------------------------------
step "5. nothing listens at the MX host's address"
check_domain --connect "$MX=127.0.0.1:$P_NONE"
expect_output "nothing listening" 1 "$(lines "$HEAD" \
  "$(line FAIL "$MX" "SMTP at 127.0.0.1:$P_NONE: cannot connect to 127.0.0.1:$P_NONE: Connection refused")" \
  "$(fix "is the mail server running, with a certificate and key it can read?")" \
  "$TLSRPT_OK" "1 failure, 0 warnings")"

# --- trust anchors ---------------------------------------------------------------------------
step "--trust-anchor: the DS of moat ds, a DS with another digest, the KSK itself"
# A DS whose digest is that of another key: the SHA-256 of nothing.
awk -v d="$(printf '' | sha256sum | cut -d' ' -f1 | tr a-f A-F)" '{ $NF = d; print }' "$WORK/ds-right" >"$WORK/ds-wrong"
[[ $(cat "$WORK/ds-wrong") != "$(cat "$WORK/ds-right")" ]] || die "the wrong DS is the right one"
check_domain --connect "$MX=127.0.0.1:$P_LIVE" --trust-anchor "$WORK/ds-wrong"
expect_output "a DS with another digest" 1 "$(lines \
  "$(line FAIL dnssec "no DNSKEY of $D. matches the DS the parent holds or the trust anchor given: validating resolvers find the zone bogus")" \
  "$(fix "make sure moat-dnsd serves the zone there and the parent holds the DS that \`moat ds $D\` prints")" \
  "1 failure, 0 warnings")"
with_anchor() { # the first line of WANT1 for a trust anchor file
  sed "1s|validated from the DS the parent holds (moat ds)|validated from the trust anchor in $1|" <<<"$WANT1"
}
check_domain --connect "$MX=127.0.0.1:$P_LIVE" --trust-anchor "$WORK/ds-right"
expect_output "the DS of moat ds as trust anchor" 0 "$(with_anchor "$WORK/ds-right")"
# The KSK as served (flags 257), in presentation format, from kdig.
kq "$D" DNSKEY +noall +answer | awk '$4 == "DNSKEY" && $5 == 257' >"$WORK/ksk"
[[ $(wc -l <"$WORK/ksk") == 1 ]] || die "kdig gave no single KSK" "one DNSKEY 257" "$(cat "$WORK/ksk")"
check_domain --connect "$MX=127.0.0.1:$P_LIVE" --trust-anchor "$WORK/ksk"
expect_output "the KSK as trust anchor" 0 "$(with_anchor "$WORK/ksk")"
# Without the database nothing tells the DS: a trust anchor is needed, and then it is enough.
RC=0
OUT=$(moat --db "$WORK/none.db" check "$D" --server "127.0.0.1:$DNSD_PORT" 2>&1) || RC=$?
assert_eq 1 "$RC" "no database, no trust anchor: exit status"
assert_eq "moat: error: $D. is not in the database ($WORK/none.db): give --trust-anchor FILE with its DS or DNSKEY records" \
  "$OUT" "no database, no trust anchor: the error"
[[ ! -e "$WORK/none.db" ]] || fail "moat check created a database at $WORK/none.db"

# --- warnings --------------------------------------------------------------------------------
step "MOAT_FAKE_TIME 12 days ahead: signatures and the certificate near their end are warnings"
FAKE=$(($(date +%s) + 12 * 86400))
sigwarn() { # NAME TYPE WHAT: the warning for the RRSIG over NAME/TYPE
  local exp
  exp=$(sig_expires "$1" "$2")
  (((exp - FAKE) < 3 * 86400)) || die "the RRSIG over $1 $2 does not end within 3 days of the fake clock" "< $((FAKE + 3 * 86400))" "$exp"
  line warn dnssec "the signature of $3 expires in $(days_text $((exp - FAKE))) ($(iso "$exp"))"
  echo
  fix "moat-dnsd refreshes signatures days ahead: is it running?"
}
MOAT_FAKE_TIME=$FAKE check_domain --connect "$MX=127.0.0.1:$P_LIVE"
expect_output "12 days ahead" 0 "$(lines \
  "$(head -n1 <<<"$HEAD")" "$(sigwarn "$D" DNSKEY DNSKEY)" \
  "$(sigwarn "_mta-sts.$D" TXT "_mta-sts.$D. TXT")" \
  "$(sed -n 2,3p <<<"$HEAD")" "$(sigwarn "$D" MX MX)" "$(sed -n 4p <<<"$HEAD")" \
  "$(sigwarn "_25._tcp.$MX" TLSA "_25._tcp.$MX. TLSA")" \
  "$(starttls_ok "$P_LIVE" "$LIVE_UNTIL")" "$DANE_OK" "$PKIX_OK" \
  "$(line warn "$MX" "the certificate expires in $(days_text $((LIVE_UNTIL - FAKE)))")" \
  "$(fix "renew it (certbot renew; the deploy hook runs moat cert deploy)")" \
  "$(sigwarn "_smtp._tls.$D" TXT "_smtp._tls.$D. TXT")" \
  "$TLSRPT_OK" "0 failures, 6 warnings")"

step "TLSRPT: a report of failures from yesterday is a warning; one from 10 days ago and one without failures are not"
python3 - "$WORK" "$D" "$MX" <<'PY' || die "python3 could not write the reports"
import datetime, json, os, sys
work, domain, mx = sys.argv[1:]
def report(org, rid, days_ago, ok, failures):
    day = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days_ago)).strftime("%Y-%m-%d")
    policy = {
        "policy": {"policy-type": "sts", "policy-domain": domain, "mx-host": [mx],
                   "policy-string": ["version: STSv1", "mode: enforce", "mx: " + mx, "max_age: 604800"]},
        "summary": {"total-successful-session-count": ok,
                    "total-failure-session-count": sum(f["failed-session-count"] for f in failures)},
    }
    if failures:
        policy["failure-details"] = failures
    return {"organization-name": org, "contact-info": "tlsrpt@" + org.lower().replace(" ", "") + ".example",
            "report-id": rid, "policies": [policy],
            "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"}}
def failure(kind, n):
    return {"result-type": kind, "sending-mta-ip": "198.51.100.1", "receiving-mx-hostname": mx,
            "receiving-ip": "192.0.2.25", "failed-session-count": n}
for name, r in {"recent": report("Sender Org", "r-1", 1, 40, [failure("validation-failure", 3)]),
                "old": report("Old Org", "o-1", 10, 10, [failure("certificate-expired", 5)]),
                "clean": report("Clean Org", "c-1", 1, 25, [])}.items():
    with open(os.path.join(work, name + ".json"), "w") as f:
        json.dump(r, f)
PY
moat reports import "$WORK/recent.json" "$WORK/old.json" "$WORK/clean.json" >/dev/null
TLSRPT_WARN=$(lines "$(line warn tlsrpt "Sender Org reported 3 failed sts sessions in the last 7 days (3 validation-failure at $MX)")" \
  "$(fix "moat reports $D --since 7d")")
check_domain --connect "$MX=127.0.0.1:$P_LIVE"
expect_output "a report of failures" 0 "$(lines "$(head -n -1 <<<"$WANT1")" "$TLSRPT_WARN" "0 failures, 1 warning")"
# From elsewhere (no database), only what the DNS and the servers say: no reports.
RC=0
OUT=$(env -u MOAT_DB "$MOAT_BIN" check "$D" --server "127.0.0.1:$DNSD_PORT" --ca-file "$C/ca.pem" \
  --trust-anchor "$WORK/ds-right" --connect "$WEB=127.0.0.1:$HTTPS_PORT" --connect "$MX=127.0.0.1:$P_LIVE" 2>&1) || RC=$?
assert_eq 0 "$RC" "no database, a trust anchor: exit status"
assert_eq "$(with_anchor "$WORK/ds-right")" "$OUT" "no database, a trust anchor: the reports are not looked at"

# --- MTA-STS policy servers that get it wrong -------------------------------------------------
step "policy servers that serve another policy, redirect, or say text/html"
# A small HTTPS server with the certificate of $WEB, one port per fault.
ALT_POLICY=$'version: STSv1\r\nmode: enforce\r\nmx: '"$MX"$'\r\nmax_age: 86400\r\n'
printf '%s' "$ALT_POLICY" >"$WORK/alt-policy.txt"
python3 - "$C/web-full.pem" "$C/web.key" "$WORK/alt-policy.txt" "$WORK/web-ports" <<'PY' >>"$WORK/fake-web.log" 2>&1 &
import http.server, os, ssl, sys, threading, time
chain, key, body_file, ports_file = sys.argv[1:]
body = open(body_file, "rb").read()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        kind = self.server.kind
        if kind == "redirect":
            self.send_response(301)
            self.send_header("Location", "https://mta-sts.example.test/elsewhere.txt")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8" if kind == "html" else "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(chain, key)
ports = []
for kind in ("other", "redirect", "html"):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.kind = kind
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ports.append(f"{kind}={server.server_address[1]}")
with open(ports_file + ".tmp", "w") as f:
    f.write(" ".join(ports) + "\n")
os.rename(ports_file + ".tmp", ports_file)
time.sleep(600)
PY
track_pid $!
wait_until "the fake policy servers" test -s "$WORK/web-ports"
read -r -a web_ports <"$WORK/web-ports"
declare -A WEB_AT
for kv in "${web_ports[@]}"; do WEB_AT[${kv%%=*}]=127.0.0.1:${kv#*=}; done
ALT_ID=$(id_of <"$WORK/alt-policy.txt")
URL=https://$WEB/.well-known/mta-sts.txt
POLICY_AT=${WEB_AT[other]} check_domain --connect "$MX=127.0.0.1:$P_LIVE"
expect_output "another policy served" 1 "$(lines "$(head -n1 <<<"$HEAD")" \
  "$(line ok mta-sts "policy fetched over HTTPS (chain to a trusted CA, valid, names $WEB): mode enforce, max_age 86400")" \
  "$(line FAIL mta-sts "the _mta-sts id $ID is not that of the policy served ($ALT_ID): senders that cached the old policy keep it")" \
  "$(fix "moat-httpsd tells moat which policy it serves; is it running on this database? then moat tick")" \
  "$(sed -n 4p <<<"$HEAD")" "$(starttls_ok "$P_LIVE" "$LIVE_UNTIL")" "$DANE_OK" "$PKIX_OK" "$TLSRPT_OK" "$TLSRPT_WARN" \
  "1 failure, 1 warning")"
# Without a policy, no MTA-STS verdict on the MX host (a sender has none to apply).
NO_POLICY_TAIL=$(lines "$(sed -n 4p <<<"$HEAD")" "$(starttls_ok "$P_LIVE" "$LIVE_UNTIL")" "$DANE_OK" "$TLSRPT_OK" "$TLSRPT_WARN" \
  "1 failure, 1 warning")
POLICY_AT=${WEB_AT[redirect]} check_domain --connect "$MX=127.0.0.1:$P_LIVE"
expect_output "a redirect" 1 "$(lines "$(head -n1 <<<"$HEAD")" \
  "$(line FAIL mta-sts "$URL redirects (301 to https://mta-sts.example.test/elsewhere.txt): senders must not follow it (RFC 8461 §3.3)")" \
  "$NO_POLICY_TAIL")"
POLICY_AT=${WEB_AT[html]} check_domain --connect "$MX=127.0.0.1:$P_LIVE"
expect_output "text/html" 1 "$(lines "$(head -n1 <<<"$HEAD")" \
  "$(line FAIL mta-sts "$URL is served as text/html, not text/plain (RFC 8461 §3.2)")" \
  "$NO_POLICY_TAIL")"

# --- a new key: its TLSA follows; its go-live step overdue -----------------------------------
step "the other key deployed: its TLSA is served beside the live one, and Postfix's other certificate passes DANE"
moat cert deploy --fullchain "$C/other-full.pem" --key "$C/other.key" >/dev/null
wait_served "$D"
assert_eq "$(printf '3 1 1 %s\n' "$H_LIVE" "$H_OTHER" | sort)" "$(served_tlsa)" "TLSA served with the other key staged"
check_domain --connect "$MX=127.0.0.1:$P_OTHER"
expect_output "the other certificate once its TLSA is served" 0 "$(lines "$HEAD" "$(starttls_ok "$P_OTHER" "$OTHER_UNTIL")" \
  "$DANE_OK" "$PKIX_OK" "$TLSRPT_OK" "$TLSRPT_WARN" "0 failures, 1 warning")"

step "its go-live step, not taken by moat tick, is a warning once a day overdue (not a second before)"
DUE=$(moat --json status "$D" | jq -r 'first(.pending[] | select(.step | endswith("goes live")) | .not_before) // ""')
[[ -n $DUE ]] || die "moat status gives no go-live time for the staged certificate" "a not_before" "$(moat status "$D")"
DUE=$(date -u -d "$DUE" +%s)
assert_eq "$((SERVED_AT + 7200))" "$DUE" "the go-live time: two TLSA TTLs after moat-dnsd served the new TLSA"
STEP=$(moat --json status "$D" | jq -r 'first(.pending[] | select(.step | endswith("goes live")))')
# The subject is the host as in every other finding about it ("mail.example.test", no final dot).
OVERDUE=$(line warn "$MX" "$(jq -r .step <<<"$STEP") could have happened on $(ymd "$DUE") (after $(jq -r .waits_for <<<"$STEP")) and has not")
MOAT_FAKE_TIME=$((DUE + 86400 - 1)) check_domain --connect "$MX=127.0.0.1:$P_LIVE"
assert_eq 0 "$RC" "a second before a day overdue: exit status"
expect_no_line "a second before a day overdue" " could have happened on "
MOAT_FAKE_TIME=$((DUE + 86400)) check_domain --connect "$MX=127.0.0.1:$P_LIVE"
assert_eq 0 "$RC" "a day overdue: exit status"
expect_line "a day overdue" "$OVERDUE"
expect_line "a day overdue" "$(fix "moat tick takes the step: is its timer running? (systemctl status moat-tick.timer)")"
expect_line "a day overdue" "0 failures, 2 warnings"

step "Postfix stops"
postfix -c "$PF/conf" stop >>"$PF/start.log" 2>&1 || fail "postfix stop failed: $(tail -n 3 "$PF/start.log")"
wait_until "the end of Postfix's master" bash -c "! kill -0 $PF_PID 2>/dev/null"
kept=()
for pid in "${_lib_pids[@]}"; do [[ $pid == "$PF_PID" ]] || kept+=("$pid"); done
_lib_pids=("${kept[@]}")
