#!/usr/bin/env bash
# moat-dnsd patches the served zone when records change (it re-signs only the changed names, the
# SOA and the NSEC or NSEC3 records whose next name or bitmap moved) and the patched zone is
# still a correct signed zone. A fixed sequence of `moat record add/del` covers names at every
# depth (empty non-terminals that appear, fill, empty and go), names sorting between others, the
# first and last names of the chain, the apex, a TTL change and the wildcard's parent, first
# with NSEC, then with NSEC3. After each change, once it is served:
# - its reload line says "(changed names only)" (a change under the zone cut reloads whole);
# - ldns-verify-zone accepts the dump of the served zone (--zone-dump) from the zone's DS:
#   every signature valid, the denial chain complete;
# - the dump less its RRSIGs is what `moat zone export --signed` makes of the whole zone.
# After each part, answers in the patched regions (new names, NXDOMAIN, NODATA at empty
# non-terminals, wildcard expansions) validate with delv. At the end a restarted moat-dnsd,
# which reads the zone whole (re-using the signatures its last run kept), serves the same
# records as the last patch.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
require_tools ldns-verify-zone delv

D=patch.test
WAIT_MS=5000 # how long a change may take to be served (it takes milliseconds)
DUMP_DIR=$WORK/dump
DUMP=$DUMP_DIR/$D.zone
mkdir -p "$DUMP_DIR"
TLSA_HASH=8d02536c887482bc34ff54e41d2ba659bf85b341a0a20afadb5813dcfbcf286d

moat init >/dev/null
new_domain "$D"
moat record add "$D" @ MX 10 mail >/dev/null
moat record add "$D" mail A 192.0.2.25 >/dev/null
moat record add "$D" www A 192.0.2.80 >/dev/null
moat record add "$D" a.b.c.deep A 192.0.2.1 >/dev/null # b.c.deep, c.deep, deep: empty
moat record add "$D" "*.wild" TXT from-the-wildcard >/dev/null
moat record add "$D" sub NS ns.sub >/dev/null # a delegation with its glue
moat record add "$D" ns.sub A 192.0.2.53 >/dev/null
moat ds "$D" >"$WORK/ds" # the DS the parent would hold: ldns-verify-zone's trust anchor
grep -q " IN DS " "$WORK/ds" || die "moat ds printed no DS record" "a DS record" "$(cat "$WORK/ds")"

start_dnsd "$D" 10 --zone-dump "$DUMP_DIR"
trust_anchor "$D" "$WORK/ta.conf"
wait_served "$D"

# strip FILE: the records of a zone file without comments and RRSIGs, sorted.
strip() { grep -v '^;' "$1" | awk '$4 != "RRSIG"' | sort; }

# show_dump: prints the dump on stderr (the work directory goes at exit).
show_dump() {
  echo "--- $DUMP" >&2
  cat "$DUMP" >&2
}

# check_dump WHAT: the dump is the zone of serial $SERVED_SERIAL, ldns-verify-zone accepts it
# from the DS, and less its RRSIGs it is the whole signing of the store's content.
check_dump() {
  local out serial
  serial=$(awk '!/^;/ && $4 == "SOA" { print $7; exit }' "$DUMP")
  assert_eq "$SERVED_SERIAL" "$serial" "$1: SOA serial in the dump of the served zone"
  if ! out=$(ldns-verify-zone -k "$WORK/ds" "$DUMP" 2>&1); then
    show_dump
    fail "$1: ldns-verify-zone -k DS rejects the served zone (dump above)" \
      "exit 0 and 'Zone is verified and complete'" "$out"
  fi
  assert_contains "$out" "Zone is verified and complete" "$1: ldns-verify-zone"
  moat zone export --signed "$D" >"$WORK/whole.zone"
  if ! out=$(diff <(strip "$WORK/whole.zone") <(strip "$DUMP")); then
    show_dump
    fail "$1: the served zone (dump above) less its RRSIGs is not the whole signing of the store" \
      "no difference from 'moat zone export --signed'" "diff (< whole signing, > served): $out"
  fi
}

# reload_line SERIAL: moat-dnsd's log line for its reload to SERIAL (written just after the
# zone is served: looked for up to 2 s); empty if none.
reload_line() {
  local line deadline
  deadline=$(($(now_ms) + 2000))
  while :; do
    line=$(grep -E "reload $D\.? serial $1:" "$DNSD_LOG" | tail -n1) || true
    if [[ -n "$line" ]] || (($(now_ms) >= deadline)); then
      echo "$line"
      return 0
    fi
    sleep 0.05
  done
}

# change N EXPECT add|del OWNER TYPE [RDATA...] [--ttl T]: makes the change with the CLI, waits
# until moat-dnsd serves it, and checks the reload was a patch (EXPECT=patch) or whole
# (EXPECT=whole) and the dump.
change() {
  local n=$1 expect=$2 before=$SERVED_SERIAL line
  shift 2
  local op=$1
  shift
  local what="change $n (moat record $op $D $*)"
  step "$what: $expect"
  moat record "$op" "$D" "$@" >/dev/null
  wait_served "$D"
  ((SERVED_SERIAL != before)) ||
    fail "$what: the serial did not change" "not $before" "$SERVED_SERIAL"
  line=$(reload_line "$SERVED_SERIAL")
  [[ -n "$line" ]] || fail "$what: no reload line for serial $SERVED_SERIAL in the log" \
    "reload $D serial $SERVED_SERIAL: ..." "$(tail -n 5 "$DNSD_LOG")"
  if [[ $expect == patch ]]; then
    [[ "$line" == *" (changed names only)" ]] ||
      fail "$what: reloaded whole instead of patched" \
        "a line ending in '(changed names only)'" "$line"
  else
    [[ "$line" != *"(changed names only)"* ]] ||
      fail "$what: patched though it changes the delegation" "a whole reload (no suffix)" "$line"
  fi
  check_dump "$what"
}

# run_changes LIST...: change for each "EXPECT OP OWNER TYPE [RDATA...]" of the list, in turn.
n_changes=0
run_changes() {
  local entry words
  for entry in "$@"; do
    read -r -a words <<<"$entry"
    n_changes=$((n_changes + 1))
    change "$n_changes" "${words[@]}"
  done
}

step "the zone as first served verifies"
check_dump "the first load"

# Canonical order of the names below the apex: 0, a.b.c.deep etc. under deep, mail and its
# children, ns1, sub (a cut), *.wild, host.wild, www, z.
NSEC_CHANGES=(
  "patch add x.b.c.deep A 192.0.2.2"  # a sibling under the empty b.c.deep
  "patch add e.deep TXT e"            # after everything under c.deep
  "patch add deep A 192.0.2.3"        # the empty non-terminal deep gets data
  "patch del deep A"                  # and is empty again
  "patch del a.b.c.deep A"            # b.c.deep stays (x.b.c.deep)
  "patch del x.b.c.deep A"            # b.c.deep and c.deep go; deep stays (e.deep)
  "patch add q.r.s.t.u.deep A 192.0.2.4" # four empty non-terminals at once
  "patch add mail2 A 192.0.2.26"      # between mail and ns1
  "patch add @ TXT v=spf1"            # the apex's bitmap
  "patch add www A 192.0.2.81 --ttl 600" # the TTL of the whole RRset
  "patch add host.wild A 192.0.2.90"  # beside the wildcard, under its parent
  "patch add wild TXT parent"         # the wildcard's empty parent gets data
  "patch del *.wild TXT"              # no wildcard any more
  "patch add *.wild TXT back"         # and back
  "patch add _25._tcp.mail TLSA 3 1 1 $TLSA_HASH" # the empty non-terminal _tcp.mail
  "patch add z A 192.0.2.99"          # the last name: its NSEC points at the apex
  "patch add 0 A 192.0.2.98"          # the first name: the apex's NSEC points at it
  "whole add ns.sub A 192.0.2.54"     # glue below the zone cut: a whole reload
  "patch del z A"                     # the last name goes
  "patch del q.r.s.t.u.deep A"        # four empty non-terminals go at once
  "patch del @ TXT"
  "patch add mail1 A 192.0.2.27"      # between mail's children and mail2
  "patch del mail2 A"
  "patch del www A 192.0.2.81"        # one record of an RRset (the TTL stays 600)
  "patch add www AAAA 2001:db8::80"   # a new type at a name
  "patch del 0 A"                     # the first name goes
  "patch del wild TXT"                # the wildcard's parent is empty again
)
run_changes "${NSEC_CHANGES[@]}"

step "NSEC: denial proofs of the patched zone validate with delv"
expect_validated "$WORK/ta.conf" "$D" "mail1.$D" A "192.0.2.27"
expect_validated "$WORK/ta.conf" "$D" "x.b.c.deep.$D" A "NXDOMAIN"
expect_validated "$WORK/ta.conf" "$D" "z.$D" A "NXDOMAIN"
expect_validated "$WORK/ta.conf" "$D" "deep.$D" A "NXRRSET"  # empty non-terminal (e.deep)
expect_validated "$WORK/ta.conf" "$D" "wild.$D" TXT "NXRRSET" # empty again
expect_validated "$WORK/ta.conf" "$D" "other.wild.$D" TXT "back"

step "switch to NSEC3: a whole reload"
before=$SERVED_SERIAL
moat domain set "$D" --nsec3 >/dev/null
wait_served "$D"
((SERVED_SERIAL != before)) ||
  fail "the serial did not change with NSEC3" "not $before" "$SERVED_SERIAL"
line=$(reload_line "$SERVED_SERIAL")
assert_match "$line" "reload $D\.? serial $SERVED_SERIAL: .* ms$" "the reload to NSEC3 is whole"
grep -q $'\tNSEC3\t' "$DUMP" ||
  fail "no NSEC3 record in the dump after the switch" "NSEC3 records" "$(cat "$DUMP")"
check_dump "the switch to NSEC3"

NSEC3_CHANGES=(
  "patch add a.b.c.deep A 192.0.2.1"  # b.c.deep and c.deep: new empty non-terminal hashes
  "patch add y.b.c.deep A 192.0.2.5"
  "patch del a.b.c.deep A"            # b.c.deep stays (y.b.c.deep)
  "patch add c.deep TXT c"            # an empty non-terminal gets data
  "patch del c.deep TXT"              # and is empty again
  "patch del y.b.c.deep A"            # b.c.deep and c.deep go
  "patch add k.j.i.h A 192.0.2.6"     # j.i.h, i.h, h: three empty non-terminals
  "patch add @ TXT apex3"             # the apex's bitmap
  "patch add www A 192.0.2.82 --ttl 300" # the TTL of the whole RRset
  "patch add g1.wild A 192.0.2.91"    # beside the wildcard, under its empty parent
  "patch del *.wild TXT"
  "patch add *.wild TXT back3"
  "whole del ns.sub A 192.0.2.54"     # glue below the zone cut: a whole reload
  "patch del k.j.i.h A"               # three empty non-terminals go
  "patch del @ TXT"
  "patch add _443._tcp.www TLSA 3 1 1 $TLSA_HASH" # the empty non-terminal _tcp.www
  "patch del host.wild A"
  "patch del e.deep TXT"              # deep and its last name go
)
run_changes "${NSEC3_CHANGES[@]}"

step "NSEC3: denial proofs of the patched zone validate with delv"
expect_validated "$WORK/ta.conf" "$D" "_443._tcp.www.$D" TLSA "3 1 1"
expect_validated "$WORK/ta.conf" "$D" "k.j.i.h.$D" A "NXDOMAIN"
expect_validated "$WORK/ta.conf" "$D" "i.h.$D" A "NXDOMAIN"     # was an empty non-terminal
expect_validated "$WORK/ta.conf" "$D" "e.deep.$D" TXT "NXDOMAIN"
expect_validated "$WORK/ta.conf" "$D" "_tcp.www.$D" A "NXRRSET"  # empty non-terminal
expect_validated "$WORK/ta.conf" "$D" "wild.$D" A "NXRRSET"      # empty non-terminal
expect_validated "$WORK/ta.conf" "$D" "other.wild.$D" TXT "back3"
expect_validated "$WORK/ta.conf" "$D" "www.$D" A "192.0.2.82"

step "ldns-verify-zone is not vacuous: a dump less one NSEC3 record is rejected"
awk '!(/\tNSEC3\t/ && !done) { print; next } { done = 1 }' "$DUMP" >"$WORK/broken.zone"
if out=$(ldns-verify-zone -k "$WORK/ds" "$WORK/broken.zone" 2>&1); then
  fail "ldns-verify-zone accepts the dump with an NSEC3 record taken out" "a failure" "$out"
fi

step "a restart reads the zone whole and re-uses the signatures kept at shutdown: the same zone"
cp "$DUMP" "$WORK/patched.zone"
last_serial=$SERVED_SERIAL
kill "$DNSD_PID" # SIGTERM: the served zone is kept in the state directory on the way out
wait "$DNSD_PID" || true
start_dnsd "$D" 10 --zone-dump "$DUMP_DIR"
wait_served "$D"
assert_eq "$last_serial" "$SERVED_SERIAL" "the serial served after the restart"
line=$(grep -E "load $D\.? serial $SERVED_SERIAL:" "$DNSD_LOG" | tail -n1) || true
[[ -n "$line" && "$line" != *"(changed names only)"* ]] ||
  fail "no whole load of serial $SERVED_SERIAL after the restart" \
    "load $D serial $SERVED_SERIAL: ..." "$line"
[[ "$line" == *" 0 signatures made"* ]] ||
  fail "the restart signed anew instead of re-using the kept signatures" \
    "load $D serial $SERVED_SERIAL: ... 0 signatures made, N reused" "$line"
if ! out=$(diff <(grep -v '^;' "$WORK/patched.zone" | sort) <(grep -v '^;' "$DUMP" | sort)); then
  fail "the zone loaded whole differs from the last patched one" \
    "no difference" "diff (< patched, > whole): $out"
fi
check_dump "the zone loaded whole after the restart"
expect_validated "$WORK/ta.conf" "$D" "i.h.$D" A "NXDOMAIN"
echo "$n_changes changes served and verified"
