#!/usr/bin/env bash
# A year and more of DNSSEC key rollovers, simulated hour by hour with the real moat CLI and the
# real moat-dnsd, validated from the parent's DS at every step (ldns-verify-zone on what is
# served and on what validators may have cached, delv on the live server). The bookkeeping is
# in key_rollover_year.py; see its docstring.
# Inputs (set by ctest): MOAT_BIN, MOATD_BIN, MOAT_SRC. MOAT_TEST_KEEP=1 keeps the work directory.
set -euo pipefail
exec python3 "$(dirname "$0")/key_rollover_year.py" "$@"
