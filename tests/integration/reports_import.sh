#!/usr/bin/env bash
# SMTP TLS reports (RFC 8460) taken in by `moat reports import` and summed up by `moat reports`.
# The reports are written as JSON by python3's json module, compressed by gzip and wrapped in mail
# messages (multipart/report, RFC 8460 §5.3) by python3's email module, as a sender would mail
# them; every --json output is read with jq. Checked: each form is stored (gzip file, JSON on
# standard input, a message with a base64 gzip part, a message with two parts, one of them a 7bit
# JSON part); a report is stored once per domain; one refused file (not ours, a gzip bomb, cut
# short, too large, not a report, no report in the message...) refuses the whole import with one
# line on stderr and leaves the store as it was; the summary sums the sessions of one
# organisation's reports, merges failure rows by result type, MX and IP (most sessions first),
# keeps only the reports that end at or after --since (30 days before the fake clock by default)
# and the domain asked for.
# Reports that moat-httpsd takes by HTTPS are not part of this test.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
SOFT_FAIL=1 # independent checks: report them all
require_tools jq gzip

D=example.test
O=other.test
FX=$WORK/fx # the report files, made below
mkdir -p "$FX"

# Every command runs at the same fake moment, so that the default --since (30d) is a fixed date.
MOAT_FAKE_TIME=$(date -u -d 2026-11-30T12:00:00Z +%s)
export MOAT_FAKE_TIME
DEFAULT_SINCE=2026-10-31T12:00:00Z # 30 days before

# --- helpers ---------------------------------------------------------------------------------

# state: everything stored about reports, as the summary of every report ever shows it.
state() { moat --json reports --since 1970-01-01 2>&1 | sha256sum; }

# import_ok WHAT ARGS...: `moat reports import ARGS` succeeds with nothing on stderr; sets OUT.
import_ok() {
  local what=$1 rc=0
  shift
  OUT=$(moat reports import "$@" 2>"$WORK/err") || rc=$?
  ((rc == 0)) || fail "$what: 'moat reports import $*' failed" "exit 0" "exit $rc: $(cat "$WORK/err")"
  [[ ! -s "$WORK/err" ]] || fail "$what: 'moat reports import $*' wrote on stderr" "nothing" "$(cat "$WORK/err")"
}

# import_json WHAT ARGS...: `moat --json reports import ARGS`, one line per report in OUT:
# "source domain organization report_id stored".
import_json() {
  local what=$1 rc=0 raw
  shift
  raw=$(moat --json reports import "$@" 2>"$WORK/err") || rc=$?
  ((rc == 0)) || fail "$what: 'moat --json reports import $*' failed" "exit 0" "exit $rc: $(cat "$WORK/err")"
  assert_eq true "$(jq -r .ok <<<"$raw")" "$what: .ok"
  OUT=$(jq -r '.reports[] | [.source, .domain, .organization, .report_id, .stored] | map(tostring) | join(" ")' <<<"$raw")
}

# refused WHAT EXPECTED_STDERR [--stdin FILE] ARGS...: `moat ARGS` exits 1, prints nothing on
# stdout, exactly EXPECTED_STDERR (one line) on stderr, and stores nothing. Sets ELAPSED_MS.
refused() {
  local what=$1 expected=$2 input=/dev/null rc=0 before after start
  shift 2
  if [[ $1 == --stdin ]]; then
    input=$2
    shift 2
  fi
  before=$(state)
  start=$(now_ms)
  moat "$@" <"$input" >"$WORK/out" 2>"$WORK/err" || rc=$?
  ELAPSED_MS=$(($(now_ms) - start))
  after=$(state)
  assert_eq 1 "$rc" "$what: exit status of 'moat $*'"
  assert_eq "$expected" "$(cat "$WORK/err")" "$what: stderr of 'moat $*'"
  assert_eq 1 "$(wc -l <"$WORK/err")" "$what: lines on stderr of 'moat $*'"
  assert_eq "" "$(cat "$WORK/out")" "$what: stdout of 'moat $*'"
  assert_eq "$before" "$after" "$what: 'moat $*' changed the stored reports"
  echo "ok ($what, $ELAPSED_MS ms): $(cat "$WORK/err")"
}

# summary ARGS...: `moat --json reports ARGS`, one line per row:
# "domain organization policy_type reports start end successful failed", then one line per
# failure row: "  result_type mx ip sessions" (mx and ip "-" when absent).
summary() {
  moat --json reports "$@" | jq -r '.summaries[] |
    ([.domain, .organization, .policy_type, .reports, .start, .end, .successful_sessions,
      .failed_sessions] | map(tostring) | join(" ")),
    (.failures[] | "  " + ([.result_type, (.receiving_mx_hostname | if . == "" then "-" else . end),
      (.receiving_ip | if . == "" then "-" else . end), .sessions] | map(tostring) | join(" ")))'
}

# --- the reports -----------------------------------------------------------------------------
# Each report, its figures and its form, in one place; the expected sums below are worked out by
# hand from this table.
#   A0 Org-A a-0 example.test sts 2026-10-14  1000 ok 900 failed (older than 30 days)
#        validation-failure mx1 192.0.2.25 900
#   A1 Org-A a-1 example.test sts 2026-11-20  100 ok 7 failed
#        validation-failure mx1 192.0.2.25 3 (from 198.51.100.1) + 2 (from 198.51.100.2)
#        starttls-not-supported mx2 192.0.2.26 2
#   A2 Org-A a-2 example.test sts 2026-11-21  50 ok 8 failed
#        validation-failure mx1 192.0.2.25 3, validation-failure mx1 2001:db8::25 4,
#        certificate-expired mx1 192.0.2.25 1
#   AO Org-A a-1 (A1's id) other.test sts 2026-11-20  60 ok 0 failed: another domain's report
#   B1 Org-B b-1 two policies: tlsa for mail.example.test (under example.test) 30 ok 2 failed
#        (tlsa-invalid mail.example.test 192.0.2.30 2); sts for example.test 40 ok 0 failed
#   C1 Org-C c-1 other.test sts 2026-11-23  20 ok 1 failed (sts-policy-fetch-error, no MX, no IP)
#   C2 Org-C c-2 other.test sts 2026-11-24  10 ok 0 failed
#   D1 Org-D d-1 example.test sts 2026-11-25  5 ok 0 failed
#   F1 Org-F f-1 elsewhere.test (not served here)
#   BOTH Org-E e-1 one policy for example.test, one for other.test
# Bad ones: no report-id, a failure without failed-session-count, an unknown policy-type, not
# JSON, a message without a report part, a message with a part that is not base64, a gzip bomb
# (alone and in a message), gzip cut in half, gzip without its trailer, gzip with a wrong CRC.
step "reports made with python3 (json, email) and gzip"
head -c 100000000 /dev/zero | gzip >"$FX/bomb.gz"
python3 - "$FX" <<'PY'
import copy, gzip, json, os, sys
from email import policy
from email.message import EmailMessage

fx = sys.argv[1]

def failure(rtype, mx, ip, n, sender="198.51.100.1"):
    f = {"result-type": rtype, "sending-mta-ip": sender}
    if mx:
        f["receiving-mx-hostname"] = mx
    if ip:
        f["receiving-ip"] = ip
    f["failed-session-count"] = n
    return f

def policy_of(ptype, domain, ok, failed, failures=()):
    p = {
        "policy": {
            "policy-type": ptype,
            "policy-string": ["version: STSv1", "mode: enforce", "mx: mx1.example.test",
                              "max_age: 604800"] if ptype == "sts" else [],
            "policy-domain": domain,
            "mx-host": ["mx1." + domain],
        },
        "summary": {"total-successful-session-count": ok, "total-failure-session-count": failed},
    }
    if failures:
        p["failure-details"] = list(failures)
    return p

def report(org, rid, day, policies):
    return {
        "organization-name": org,
        "date-range": {"start-datetime": day + "T00:00:00Z", "end-datetime": day + "T23:59:59Z"},
        "contact-info": "tlsrpt@" + org.lower() + ".example",
        "report-id": rid,
        "policies": policies,
    }

def text(r):
    return json.dumps(r, indent=2) + "\n"

def gz(r):
    return gzip.compress(text(r).encode())

def write(name, data):
    with open(os.path.join(fx, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

MX1, MX2 = "mx1.example.test", "mx2.example.test"
A0 = report("Org-A", "a-0", "2026-10-14", [policy_of("sts", "example.test", 1000, 900, [
    failure("validation-failure", MX1, "192.0.2.25", 900)])])
A1 = report("Org-A", "a-1", "2026-11-20", [policy_of("sts", "example.test", 100, 7, [
    failure("validation-failure", MX1, "192.0.2.25", 3, "198.51.100.1"),
    failure("validation-failure", MX1, "192.0.2.25", 2, "198.51.100.2"),
    failure("starttls-not-supported", MX2, "192.0.2.26", 2)])])
A2 = report("Org-A", "a-2", "2026-11-21", [policy_of("sts", "example.test", 50, 8, [
    failure("validation-failure", MX1, "192.0.2.25", 3),
    failure("validation-failure", MX1, "2001:db8::25", 4),
    failure("certificate-expired", MX1, "192.0.2.25", 1)])])
AO = report("Org-A", "a-1", "2026-11-20", [policy_of("sts", "other.test", 60, 0)])
B1 = report("Org-B", "b-1", "2026-11-22", [
    policy_of("tlsa", "mail.example.test", 30, 2, [
        failure("tlsa-invalid", "mail.example.test", "192.0.2.30", 2)]),
    policy_of("sts", "example.test", 40, 0)])
C1 = report("Org-C", "c-1", "2026-11-23", [policy_of("sts", "other.test", 20, 1, [
    failure("sts-policy-fetch-error", "", "", 1)])])
C2 = report("Org-C", "c-2", "2026-11-24", [policy_of("sts", "other.test", 10, 0)])
D1 = report("Org-D", "d-1", "2026-11-25", [policy_of("sts", "example.test", 5, 0)])
F1 = report("Org-F", "f-1", "2026-11-25", [policy_of("sts", "elsewhere.test", 5, 0)])
BOTH = report("Org-E", "e-1", "2026-11-25", [policy_of("sts", "example.test", 1, 0),
                                              policy_of("sts", "other.test", 1, 0)])

write("a0.json.gz", gz(A0))
write("a1.json.gz", gz(A1))
write("a1.json", text(A1))
write("a2.json", text(A2))
write("ao.json.gz", gz(AO))
write("d1.json", text(D1))
write("f1.json", text(F1))
write("both.json", text(BOTH))

no_id = copy.deepcopy(A2)
del no_id["report-id"]
write("no-id.json", text(no_id))
no_count = copy.deepcopy(A2)
del no_count["policies"][0]["failure-details"][1]["failed-session-count"]
write("no-count.json", text(no_count))
bad_type = copy.deepcopy(A2)
bad_type["policies"][0]["policy"]["policy-type"] = "dane"
write("bad-type.json", text(bad_type))
write("not-json.json", '{"organization-name": "Org-A", "report-id": ')

# A report just under the 1 MiB bound: its JSON padded with blanks to 1,000,000 octets.
big = text(report("Org-G", "g-1", "2026-11-26", [policy_of("sts", "example.test", 7, 0)]))
big = big.rstrip("\n")
big += " " * (1000000 - len(big) - 1) + "\n"
assert len(big) == 1000000

def mail(submitter, parts, smtp=True):
    """A report mail as RFC 8460 §5.3 has it: multipart/report; report-type="tlsrpt", a text
    part, then the reports. parts: (subtype, bytes, filename, cte or None for base64)."""
    msg = EmailMessage()
    msg["From"] = "noreply-smtp-tls-reporting@" + submitter
    msg["To"] = "tlsrpt@example.test"
    msg["Subject"] = "Report Domain: example.test Submitter: " + submitter
    msg["Date"] = "Mon, 30 Nov 2026 10:00:00 +0000"
    msg["TLS-Report-Domain"] = "example.test"
    msg["TLS-Report-Submitter"] = submitter
    msg["Message-ID"] = "<report." + submitter + "@" + submitter + ">"
    msg.set_content("This is an aggregate TLS report from " + submitter + ".\n")
    for subtype, data, filename, cte in parts:
        kw = {"cte": cte} if cte else {}
        msg.add_attachment(data, maintype="application", subtype=subtype, filename=filename, **kw)
    msg.set_type("multipart/report")
    msg.set_param("report-type", "tlsrpt")
    return msg.as_bytes(policy=policy.SMTP if smtp else policy.default)

write("b1.eml", mail("org-b.example", [("tlsrpt+gzip", gz(B1), "b-1.json.gz", None)]))
write("c.eml", mail("org-c.example", [
    ("tlsrpt+gzip", gz(C1), "c-1.json.gz", None),
    ("tlsrpt+json", text(C2).encode(), "c-2.json", "7bit")], smtp=False))
write("big.eml", mail("org-g.example", [("tlsrpt+json", big.encode(), "g-1.json", None)]))
with open(os.path.join(fx, "bomb.gz"), "rb") as f:
    write("bomb.eml", mail("org-x.example", [("tlsrpt+gzip", f.read(), "x.json.gz", None)]))

# A message with no report in it: the text and a PDF.
msg = EmailMessage()
msg["From"] = "someone@org-x.example"
msg["To"] = "tlsrpt@example.test"
msg["Subject"] = "our report"
msg.set_content("Please find our report attached.\n")
msg.add_attachment(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", maintype="application", subtype="pdf",
                   filename="report.pdf")
write("no-report.eml", msg.as_bytes(policy=policy.SMTP))

# A report part whose base64 is broken.
good = mail("org-y.example", [("tlsrpt+gzip", gz(D1), "d-1.json.gz", None)]).decode()
head, sep, body = good.partition("Content-Type: application/tlsrpt+gzip")
lines = body.split("\r\n")
i = next(i for i in range(1, len(lines)) if lines[i] == "") + 1  # first line of the base64
lines[i] = lines[i][:10] + "!" + lines[i][11:]
write("bad-base64.eml", head + sep + "\r\n".join(lines))
PY

# The damaged gzip files: gzip itself must find them damaged, or the test proves nothing.
size=$(stat -c %s "$FX/a2.json")
gzip -c "$FX/a2.json" >"$FX/a2.json.gz"
gz_size=$(stat -c %s "$FX/a2.json.gz")
head -c $((gz_size / 2)) "$FX/a2.json.gz" >"$FX/half.gz"
head -c $((gz_size - 8)) "$FX/a2.json.gz" >"$FX/no-trailer.gz"
# The CRC-32 is the 4 octets before the last 4 (RFC 1952 §2.2): invert its first octet.
cp "$FX/a2.json.gz" "$FX/bad-crc.gz"
crc_at=$((gz_size - 8))
orig=$(od -An -tu1 -j "$crc_at" -N1 "$FX/bad-crc.gz" | tr -d ' ')
printf '%b' "\\$(printf '%03o' $((orig ^ 255)))" | dd of="$FX/bad-crc.gz" bs=1 seek="$crc_at" conv=notrunc status=none
for f in half.gz no-trailer.gz bad-crc.gz; do
  if gzip -t "$FX/$f" 2>/dev/null; then die "gzip -t accepts $f, which the test meant to damage"; fi
done
gzip -t "$FX/bomb.gz" || die "gzip -t rejects the bomb, which should be valid gzip"
echo "a2.json: $size octets, $gz_size gzipped; bomb.gz: $(stat -c %s "$FX/bomb.gz") octets for 100000000 zeros"
# Around the 2 MiB that `moat reports import` reads of a file: a JSON report padded with blanks.
pad_to() { # pad_to SIZE OUT: a1.json padded with blanks to SIZE octets
  cp "$FX/a1.json" "$2"
  head -c $(($1 - $(stat -c %s "$FX/a1.json"))) /dev/zero | tr '\0' ' ' >>"$2"
}
pad_to 2097152 "$FX/2mib.json"
pad_to 2097153 "$FX/2mib+1.json"
assert_eq 2097153 "$(stat -c %s "$FX/2mib+1.json")" "size of 2mib+1.json"

# --- the tests -------------------------------------------------------------------------------

step "two domains, no reports yet"
moat init >/dev/null
new_domain "$D"
new_domain "$O"
out=$(moat reports)
assert_eq "no TLS reports since 2026-10-31" "$out" "moat reports with no reports"
out=$(moat --json reports)
assert_eq "$DEFAULT_SINCE" "$(jq -r .since <<<"$out")" "default --since is 30 days before the fake clock"
assert_eq 0 "$(jq '.summaries | length' <<<"$out")" "summaries with no reports"
assert_eq "no TLS reports for $O since 2026-10-31" "$(moat reports "$O")" "moat reports $O with no reports"

step "a gzip file"
import_ok "gzip file" "$FX/a1.json.gz"
assert_eq "imported the report of Org-A for $D. (2026-11-20 to 2026-11-20, id a-1)" "$OUT" "import of a1.json.gz"

step "JSON on standard input"
import_json "JSON on stdin" - <"$FX/a2.json"
assert_eq "standard input $D. Org-A a-2 true" "$OUT" "--json import of a2.json on stdin"

step "an older report, and the same id from the same organisation for another domain"
import_json "older and other domain" "$FX/a0.json.gz" "$FX/ao.json.gz"
assert_eq "$FX/a0.json.gz $D. Org-A a-0 true
$FX/ao.json.gz $O. Org-A a-1 true" "$OUT" "--json import of a0 and ao"

step "a mail message with a base64 gzip part (two policies, one of them under the domain)"
grep -q '^Content-Type: multipart/report; report-type="tlsrpt";' "$FX/b1.eml" ||
  die "b1.eml is not multipart/report" "a multipart/report message" "$(head -n 20 "$FX/b1.eml")"
grep -q '^Content-Transfer-Encoding: base64' "$FX/b1.eml" || die "b1.eml has no base64 part"
import_json "mail with a gzip part" "$FX/b1.eml"
assert_eq "$FX/b1.eml $D. Org-B b-1 true" "$OUT" "--json import of b1.eml"

step "a mail message with two report parts, gzip (base64) and JSON (7bit)"
assert_eq 2 "$(grep -c '^Content-Type: application/tlsrpt+' "$FX/c.eml")" "report parts in c.eml"
grep -q '^Content-Transfer-Encoding: 7bit' "$FX/c.eml" || die "c.eml has no 7bit part"
import_ok "mail with two parts" "$FX/c.eml"
assert_eq "imported the report of Org-C for $O. (2026-11-23 to 2026-11-23, id c-1)
imported the report of Org-C for $O. (2026-11-24 to 2026-11-24, id c-2)" "$OUT" "import of c.eml"

step "a report already stored is not stored again"
before=$(state)
import_ok "duplicate gzip" "$FX/a1.json.gz"
assert_eq "already had the report of Org-A for $D. (2026-11-20 to 2026-11-20, id a-1)" "$OUT" "second import of a1.json.gz"
# The same report as JSON rather than gzip, again as gzip on standard input, and the two of a
# message: in one command.
import_json "duplicates in one command" "$FX/a1.json" - "$FX/c.eml" <"$FX/a1.json.gz"
assert_eq "$FX/a1.json $D. Org-A a-1 false
standard input $D. Org-A a-1 false
$FX/c.eml $O. Org-C c-1 false
$FX/c.eml $O. Org-C c-2 false" "$OUT" "--json import of reports already stored"
assert_eq "$before" "$(state)" "the stored reports after importing duplicates"

step "the summary: sums per organisation, failures merged by type, MX and IP"
out=$(summary)
assert_eq "$D. Org-A sts 2 2026-11-20T00:00:00Z 2026-11-21T23:59:59Z 150 15
  validation-failure mx1.example.test 192.0.2.25 8
  validation-failure mx1.example.test 2001:db8::25 4
  starttls-not-supported mx2.example.test 192.0.2.26 2
  certificate-expired mx1.example.test 192.0.2.25 1
$D. Org-B sts 1 2026-11-22T00:00:00Z 2026-11-22T23:59:59Z 40 0
$D. Org-B tlsa 1 2026-11-22T00:00:00Z 2026-11-22T23:59:59Z 30 2
  tlsa-invalid mail.example.test 192.0.2.30 2
$O. Org-A sts 1 2026-11-20T00:00:00Z 2026-11-20T23:59:59Z 60 0
$O. Org-C sts 2 2026-11-23T00:00:00Z 2026-11-24T23:59:59Z 30 1
  sts-policy-fetch-error - - 1" "$out" "moat --json reports (default --since 30d)"
assert_eq "$DEFAULT_SINCE" "$(moat --json reports | jq -r .since)" "--json since"

step "the summary as text"
out=$(moat reports "$O")
assert_eq "$O. since 2026-10-31
  Org-A         sts: 1 report (2026-11-20 to 2026-11-20), 60 successful, 0 failed sessions
  Org-C         sts: 2 reports (2026-11-23 to 2026-11-24), 30 successful, 1 failed sessions
      1 sts-policy-fetch-error at - -" "$out" "moat reports $O"
out=$(moat reports)
assert_contains "$out" "  Org-A         sts: 2 reports (2026-11-20 to 2026-11-21), 150 successful, 15 failed sessions
      8 validation-failure at mx1.example.test 192.0.2.25
      4 validation-failure at mx1.example.test 2001:db8::25
      2 starttls-not-supported at mx2.example.test 192.0.2.26
      1 certificate-expired at mx1.example.test 192.0.2.25" "moat reports"

step "--since: the older report (ending 2026-10-14T23:59:59Z) counts only when asked"
for since in 60d 47d 2026-10-14 2026-10-14T23:59:59Z 2026-10-15T01:59:59+02:00; do
  out=$(summary "$D" --since "$since" | head -n 2)
  assert_eq "$D. Org-A sts 3 2026-10-14T00:00:00Z 2026-11-21T23:59:59Z 1150 915
  validation-failure mx1.example.test 192.0.2.25 908" "$out" "moat --json reports $D --since $since"
done
assert_eq 2026-10-01T12:00:00Z "$(moat --json reports --since 60d | jq -r .since)" "--since 60d"
for since in 2026-10-15 2026-10-15T00:00:00Z 46d; do
  out=$(summary "$D" --since "$since" | head -n 1)
  assert_eq "$D. Org-A sts 2 2026-11-20T00:00:00Z 2026-11-21T23:59:59Z 150 15" "$out" "moat --json reports $D --since $since"
done
# The newest report ends 2026-11-24T23:59:59Z: nothing from the 25th on.
out=$(moat --json reports --since 2026-11-25)
assert_eq 0 "$(jq '.summaries | length' <<<"$out")" "summaries since 2026-11-25"
assert_eq "no TLS reports for $O since 2026-11-25" "$(moat reports "$O" --since 2026-11-25)" "moat reports $O --since 2026-11-25"

step "one domain at a time"
out=$(moat --json reports "$D" | jq -r '[.summaries[] | .domain + " " + .organization + " " + .policy_type] | join(",")')
assert_eq "$D. Org-A sts,$D. Org-B sts,$D. Org-B tlsa" "$out" "rows of moat reports $D"
out=$(moat --json reports "$O" | jq -r '[.summaries[] | .domain + " " + .organization + " " + (.successful_sessions | tostring)] | join(",")')
assert_eq "$O. Org-A 60,$O. Org-C 30" "$out" "rows of moat reports $O"

step "one refused file refuses the whole import"
refused "a report about a domain not served here, after a good one" \
  "moat: error: $FX/f1.json: the report is about elsewhere.test., not a domain served here; nothing imported" \
  reports import "$FX/d1.json" "$FX/f1.json"
refused "the foreign report on standard input, before a good one" \
  "moat: error: standard input: the report is about elsewhere.test., not a domain served here; nothing imported" \
  --stdin "$FX/f1.json" reports import - "$FX/d1.json"
refused "a report about two domains" \
  "moat: error: $FX/both.json: the report is about both $D. and $O.; nothing imported" \
  reports import "$FX/d1.json" "$FX/both.json"
# The good report was never stored: it is now, once, though given twice.
import_ok "the good report alone, twice" "$FX/d1.json" "$FX/d1.json"
assert_eq "imported the report of Org-D for $D. (2026-11-25 to 2026-11-25, id d-1)
already had the report of Org-D for $D. (2026-11-25 to 2026-11-25, id d-1)" "$OUT" "import of d1.json twice after the refusals"
assert_eq "$D. Org-D sts 1 2026-11-25T00:00:00Z 2026-11-25T23:59:59Z 5 0" "$(summary "$D" --since 2026-11-25)" "summary of d-1"

step "gzip bombs are refused at once"
refused "a gzip bomb" \
  "moat: error: $FX/bomb.gz: gzip data decompresses to more than 4194304 octets; nothing imported" \
  reports import "$FX/a0.json.gz" "$FX/bomb.gz"
((ELAPSED_MS < 3000)) || fail "the gzip bomb took $ELAPSED_MS ms to refuse" "under 3000 ms" "$ELAPSED_MS ms"
refused "a gzip bomb in a mail message" \
  "moat: error: $FX/bomb.eml: gzip data decompresses to more than 4194304 octets; nothing imported" \
  reports import "$FX/bomb.eml"
((ELAPSED_MS < 3000)) || fail "the gzip bomb in a message took $ELAPSED_MS ms to refuse" "under 3000 ms" "$ELAPSED_MS ms"

step "damaged gzip"
refused "gzip cut in half" "moat: error: $FX/half.gz: gzip data cut short; nothing imported" \
  reports import "$FX/d1.json" "$FX/half.gz"
refused "gzip without its trailer" "moat: error: $FX/no-trailer.gz: gzip data cut short; nothing imported" \
  reports import "$FX/no-trailer.gz"
refused "gzip with a wrong CRC" "moat: error: $FX/bad-crc.gz: damaged gzip data: incorrect data check; nothing imported" \
  reports import "$FX/bad-crc.gz"

step "sizes: 2 MiB read at most, 1 MiB of report at most"
refused "a file of exactly 2 MiB (read, but a report over 1 MiB)" \
  "moat: error: $FX/2mib.json: the report is larger than 1048576 octets; nothing imported" \
  reports import "$FX/2mib.json"
refused "a file over 2 MiB" \
  "moat: error: $FX/2mib+1.json: larger than 2097152 bytes; nothing imported" \
  reports import "$FX/d1.json" "$FX/2mib+1.json"
refused "over 2 MiB on standard input" \
  "moat: error: standard input: larger than 2097152 bytes; nothing imported" \
  --stdin "$FX/2mib+1.json" reports import -

step "documents that are not reports"
refused "no report-id" "moat: error: $FX/no-id.json: report: \"report-id\" is missing; nothing imported" \
  reports import "$FX/d1.json" "$FX/no-id.json"
refused "no report-id, on standard input" "moat: error: standard input: report: \"report-id\" is missing; nothing imported" \
  --stdin "$FX/no-id.json" reports import -
refused "a failure without failed-session-count" \
  "moat: error: $FX/no-count.json: policies[0] failure-details[1]: \"failed-session-count\" is missing; nothing imported" \
  reports import "$FX/no-count.json"
refused "an unknown policy-type" \
  "moat: error: $FX/bad-type.json: policies[0] policy: \"policy-type\" is \"dane\", not sts, tlsa or no-policy-found; nothing imported" \
  reports import "$FX/bad-type.json"
before=$(state)
rc=0
moat reports import "$FX/not-json.json" >/dev/null 2>"$WORK/err" || rc=$?
assert_eq 1 "$rc" "exit status of an import of not-json.json"
assert_eq 1 "$(wc -l <"$WORK/err")" "lines on stderr of an import of not-json.json"
assert_match "$(cat "$WORK/err")" "^moat: error: $FX/not-json.json: the report is not JSON: .*; nothing imported$" "import of not-json.json"
assert_eq "$before" "$(state)" "the stored reports after an import of not-json.json"
refused "a message without a report part" \
  "moat: error: $FX/no-report.eml: neither a report (gzip or JSON) nor a mail message with one (no part of type application/tlsrpt+gzip or application/tlsrpt+json); nothing imported" \
  reports import "$FX/d1.json" "$FX/no-report.eml"
refused "a report part that is not base64" \
  "moat: error: $FX/bad-base64.eml: the report part is not valid base64; nothing imported" \
  reports import "$FX/bad-base64.eml"

step "errors of moat reports"
refused "an unknown domain" "moat: error: no domain nosuch.test." reports nosuch.test
refused "an unknown domain, --json" "moat: error: no domain nosuch.test." --json reports nosuch.test
refused "a bad --since" \
  "moat: error: --since yesterday: give a date (2026-11-01), a date-time (2026-11-01T12:00:00Z) or days before now (30d)" \
  reports --since yesterday

# Last, as every summary from now on reads its megabyte.
step "a report of 1,000,000 octets, base64 in a message between 1 and 2 MiB, is taken"
big_size=$(stat -c %s "$FX/big.eml")
((big_size > 1048576 && big_size < 2097152)) || die "big.eml is $big_size octets" "between 1 and 2 MiB" "$big_size"
import_ok "a report of 1,000,000 octets in a message of $big_size" "$FX/big.eml"
assert_eq "imported the report of Org-G for $D. (2026-11-26 to 2026-11-26, id g-1)" "$OUT" "import of big.eml"

step "the store after every refusal: what the imports that succeeded put there, no more"
out=$(moat --json reports --since 1970-01-01 | jq -r '[.summaries[] | "\(.domain) \(.organization) \(.policy_type) \(.reports)"] | join(",")')
assert_eq "$D. Org-A sts 3,$D. Org-B sts 1,$D. Org-B tlsa 1,$D. Org-D sts 1,$D. Org-G sts 1,$O. Org-A sts 1,$O. Org-C sts 2" \
  "$out" "every report stored"
