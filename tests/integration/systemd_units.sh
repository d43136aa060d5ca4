#!/usr/bin/env bash
# `cmake --install` puts the binaries, the systemd units, the sysusers/tmpfiles entries and the
# example /etc/default/moat in place; the units are valid (systemd-analyze verify) and each
# daemon (and moat check) is rated 2.0 or lower ("OK" or better) by `systemd-analyze security --offline=true`.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
: "${MOAT_BUILD_DIR:?MOAT_BUILD_DIR must name the build tree}"
require_tools systemd-analyze cmake

root=$WORK/root
step "cmake --install into $root"
DESTDIR=$root cmake --install "$MOAT_BUILD_DIR" --prefix /usr/local >"$WORK/install.log"
for f in usr/local/bin/moat usr/local/sbin/moat-dnsd usr/local/sbin/moat-httpsd \
  usr/local/lib/systemd/system/moat-dnsd.service usr/local/lib/systemd/system/moat-httpsd.service \
  usr/local/lib/systemd/system/moat-tick.service usr/local/lib/systemd/system/moat-tick.timer \
  usr/local/lib/systemd/system/moat-check@.service usr/local/lib/systemd/system/moat-check@.timer \
  usr/local/lib/sysusers.d/moat.conf usr/local/lib/tmpfiles.d/moat.conf \
  usr/local/share/doc/moat/examples/default-moat; do
  [[ -e "$root/$f" ]] || fail "cmake --install did not install /$f"
done
units=$root/usr/local/lib/systemd/system
assert_contains "$(cat "$units/moat-dnsd.service")" "ExecStart=/usr/local/sbin/moat-dnsd" "the unit names the installed binary"
assert_contains "$(cat "$root/usr/local/lib/tmpfiles.d/moat.conf")" "d /var/lib/moat 0700 moat moat" "the state directory is private"

step "the units parse (systemd-analyze verify)"
# verify resolves ExecStart= and the user against the real system: point it at the installed
# binaries through a copy whose paths exist here.
mkdir -p "$WORK/verify"
for u in moat-dnsd.service moat-httpsd.service moat-tick.service moat-tick.timer \
  moat-check@.service moat-check@.timer; do
  sed -e "s|/usr/local/sbin/|$root/usr/local/sbin/|; s|/usr/local/bin/|$root/usr/local/bin/|" \
    -e 's/^User=moat/User=root/; s/^Group=moat/Group=root/' "$units/$u" >"$WORK/verify/$u"
done
out=$(cd "$WORK/verify" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
  moat-dnsd.service moat-httpsd.service moat-tick.service moat-tick.timer \
  moat-check@example.test.service moat-check@example.test.timer 2>&1) ||
  fail "systemd-analyze verify refused the units" "no complaint" "$out"
# Warnings about this machine (no systemd running here, missing network-online.target, …) are
# not about the units; anything naming one of our files is.
assert_not_contains "$out" "moat-" "systemd-analyze verify has nothing to say about moat's units"

step "each daemon is rated 2.0 or lower by systemd-analyze security"
assert_contains "$(cat "$units/moat-check@.service")" "ExecStart=/usr/local/bin/moat --db \${MOAT_DB} check %i" "moat-check@ checks the instance's domain"

for u in moat-dnsd.service moat-httpsd.service moat-check@.service; do
  out=$(systemd-analyze security --offline=true --no-pager "$units/$u" 2>&1) || true
  level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
  [[ -n "$level" ]] || fail "no exposure level for $u" "a number" "$out"
  awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' ||
    fail "$u is too exposed" "2.0 or lower" "$level: $(grep '^✗' <<<"$out")"
  echo "ok: $u exposure $level"
done

echo "PASS: $TEST_NAME"
