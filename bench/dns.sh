#!/usr/bin/env bash
# bench/dns.sh: moat-dnsd against knotd and nsd, serving the very same signed zone.
#
# Builds a signed mail zone with the moat CLI (and a second one with BENCH_NAMES extra names),
# has moat-dnsd dump the signed zone it serves, gives that file to knotd and nsd, checks that
# the three answer alike, then drives each in turn with dnsperf. Also times a CLI change until
# it is served, and moat-dnsd with 1 and 2 workers. bench/README.md explains the method.
#
# usage: bench/dns.sh [--small-only]
# environment:
#   BENCH_SECONDS=10      length of each dnsperf run
#   BENCH_ROUNDS=3        rounds of runs (each server once a round); medians are reported
#   BENCH_NAMES=100000    names added to the mail zone for the big-zone run
#   BENCH_SMALL_ONLY=1    same as --small-only: skip the big zone
#   BENCH_CHANGES=10      CLI changes timed per zone
#   BENCH_CLIENTS=4       dnsperf -c (separate sockets: moat-dnsd spreads them over its workers)
#   BENCH_SERVER_CPU=0    CPU the servers are pinned to;  BENCH_CLIENT_CPU=1  the one dnsperf is
#   BENCH_KEEP=1          keep the temporary directory (configs, logs, zone files)
#   MOAT_BIN, MOATD_BIN   the moat and moat-dnsd to measure; without them a Release build is
#                         made (or brought up to date) in bench/build (BENCH_JOBS: ninja -j)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

SECS=${BENCH_SECONDS:-10}
NAMES=${BENCH_NAMES:-100000}
SMALL_ONLY=${BENCH_SMALL_ONLY:-0}
CHANGES=${BENCH_CHANGES:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-4}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
APEX=bench.test
QUERIES_IN_FILE=100000 # dnsperf loops over the file; big enough to spread over a big zone

# ---------------------------------------------------------------------------------------------
# Small helpers

die() {
  echo "dns.sh: $*" >&2
  exit 1
}
say() { echo "$*"; }
section() { printf '\n=== %s\n' "$*"; }

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# calc EXPR: floating-point arithmetic (bash has integers only).
calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }
# fmt FORMAT EXPR: the same, printed with a printf format.
fmt() { awk "BEGIN { printf \"$1\", $2 }" </dev/null; }

# ratio A B FORMAT: A/B, or "n/a" when B is zero or missing.
ratio() {
  awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf f, a / b }' </dev/null
}

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

parse_args() {
  while (($#)); do
    case $1 in
    --small-only) SMALL_ONLY=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$1' (try --help)" ;;
    esac
    shift
  done
  [[ "$SECS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a whole number of seconds"
  [[ "$NAMES" =~ ^[1-9][0-9]*$ ]] || die "BENCH_NAMES must be a positive number"
  [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive number"
}

# ---------------------------------------------------------------------------------------------
# Tools and binaries

# require TOOL DEBIAN_PACKAGE: a missing tool ends the run with what to install.
require() {
  command -v "$1" >/dev/null 2>&1 ||
    die "'$1' is missing: install the Debian package '$2' (scripts/install-deps installs all)"
}

check_tools() {
  require knotd knot
  require nsd nsd
  require dnsperf dnsperf
  require kdig knot-dnsutils
  require taskset util-linux
  require python3 python3
  require getconf libc-bin
  require setsid util-linux
  local cpus
  cpus=$(nproc)
  ((cpus > SERVER_CPU && cpus > CLIENT_CPU)) ||
    die "this machine has $cpus CPU(s); the servers go on CPU $SERVER_CPU and dnsperf on CPU $CLIENT_CPU (set BENCH_SERVER_CPU/BENCH_CLIENT_CPU)"
}

# find_binaries: MOAT_BIN/MOATD_BIN if given, else a Release build in bench/build. Not the
# developer's build/: it may be a Debug or sanitizer build, and timing those means nothing.
find_binaries() {
  if [[ -n "${MOAT_BIN:-}" || -n "${MOATD_BIN:-}" ]]; then
    [[ -x "${MOAT_BIN:-}" ]] || die "MOAT_BIN='${MOAT_BIN:-}' is not an executable"
    [[ -x "${MOATD_BIN:-}" ]] || die "MOATD_BIN='${MOATD_BIN:-}' is not an executable"
  else
    require cmake cmake
    require ninja ninja-build
    local log=$BENCH_DIR/build/build.log
    mkdir -p "$BENCH_DIR/build"
    say "building moat and moat-dnsd (Release) in $BENCH_DIR/build (log: $log) ..."
    if ! { cmake -S "$REPO" -B "$BENCH_DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
      ninja -C "$BENCH_DIR/build" ${BENCH_JOBS:+-j "$BENCH_JOBS"} moat moat-dnsd; } >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      die "the build failed (log above)"
    fi
    MOAT_BIN=$BENCH_DIR/build/cli/moat
    MOATD_BIN=$BENCH_DIR/build/dnsd/moat-dnsd
  fi
  if ldd "$MOATD_BIN" 2>/dev/null | grep -q 'libasan'; then
    say "WARNING: $MOATD_BIN is built with AddressSanitizer: its figures are not meaningful"
  fi
}

moat() { "$MOAT_BIN" "$@"; }

# ---------------------------------------------------------------------------------------------
# Processes: everything started is remembered and stopped at exit, Ctrl-C included.

STARTED_PIDS=()
WORK=

# process_tree PID: PID and all its descendants (nsd answers from a forked child).
process_tree() {
  local -A children=()
  local f pid ppid stat
  for f in /proc/[0-9]*/stat; do
    { read -r stat <"$f"; } 2>/dev/null || continue # the process ended meanwhile
    pid=${f#/proc/}
    pid=${pid%/stat}
    stat=${stat##*) } # the name in parentheses may hold spaces: cut up to its end
    ppid=${stat#* }
    ppid=${ppid%% *}
    children[$ppid]+="$pid "
  done
  local queue=("$1") out=()
  while ((${#queue[@]})); do
    pid=${queue[0]}
    queue=("${queue[@]:1}")
    out+=("$pid")
    # shellcheck disable=SC2206 # a list of numbers
    queue+=(${children[$pid]:-})
  done
  echo "${out[@]}"
}

# stop_pid PID: TERM to the process and its children, KILL after 5 s.
stop_pid() {
  local pid=$1 tree i
  kill -0 "$pid" 2>/dev/null || return 0
  tree=$(process_tree "$pid")
  # shellcheck disable=SC2086
  kill -TERM $tree 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  # shellcheck disable=SC2086
  kill -KILL $tree 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT HUP INT PIPE TERM
  for pid in "${STARTED_PIDS[@]}"; do
    stop_pid "$pid"
  done
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    if [[ "${BENCH_KEEP:-}" == 1 ]]; then
      echo "kept $WORK"
    else
      rm -rf "$WORK"
    fi
  fi
  exit "$rc"
}

# start_bg LOG CMD...: runs CMD in the background, output to LOG; sets BG_PID. In a session of
# its own, so that Ctrl-C in the terminal reaches this script (which stops it) but not CMD
# (which would otherwise die in the middle of a measurement and look like a crash).
start_bg() {
  local log=$1
  shift
  setsid "$@" >"$log" 2>&1 &
  BG_PID=$!
  STARTED_PIDS+=("$BG_PID")
}

# free_port: a port free on 127.0.0.1 for both UDP and TCP.
free_port() {
  python3 - <<'PY'
import socket
for _ in range(100):
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        u.close()
        t.close()
    print(port)
    break
else:
    raise SystemExit("no free port")
PY
}

# soa_serial PORT [KDIG_OPTION]: the serial of $APEX's SOA at 127.0.0.1:PORT, empty if there
# is no answer.
soa_serial() {
  local out
  out=$(kdig @127.0.0.1 -p "$1" +short +norec +time=1 +retry=0 ${2:+"$2"} "$APEX" SOA 2>/dev/null) || true
  [[ "$out" =~ ^[^[:space:]]+\ [^[:space:]]+\ ([0-9]+)\  ]] && echo "${BASH_REMATCH[1]}"
  return 0
}

# wait_until_serving NAME PID PORT LOG TIMEOUT_S: polls the SOA until it is answered; fails
# with the log when the process dies or the time is up.
wait_until_serving() {
  local name=$1 pid=$2 port=$3 log=$4 timeout=$5 start
  start=$(now_ms)
  while (($(now_ms) - start < timeout * 1000)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2
      die "$name exited before it served $APEX (log above)"
    fi
    # Over TCP: a refused connection fails at once, while kdig waits its whole timeout for a
    # UDP answer from a port nobody listens on yet.
    if [[ -n "$(soa_serial "$port" +tcp)" ]]; then
      say "  $name (pid $pid) serves $APEX on 127.0.0.1:$port after $(($(now_ms) - start)) ms"
      return 0
    fi
    sleep 0.05
  done
  tail -n 20 "$log" >&2
  die "$name did not answer the SOA of $APEX within $timeout s (log above)"
}

# ---------------------------------------------------------------------------------------------
# The zones

# build_mail_zone: a signed mail domain made with the CLI, as an operator would: two MX hosts
# with their addresses and DANE TLSA records, the MTA-STS and TLSRPT TXT records.
build_mail_zone() {
  moat init >/dev/null
  moat domain add "$APEX" --ns "ns1.$APEX=192.0.2.53" --ns "ns2.$APEX=198.51.100.53" >/dev/null
  moat record add "$APEX" @ MX 10 mx1 >/dev/null
  moat record add "$APEX" @ MX 20 mx2 >/dev/null
  local host n=0
  for host in mx1 mx2; do
    n=$((n + 1))
    moat record add "$APEX" "$host" A "192.0.2.2$n" >/dev/null
    moat record add "$APEX" "$host" AAAA "2001:db8::2$n" >/dev/null
    moat record add "$APEX" "_25._tcp.$host" TLSA 3 1 1 \
      "$(printf '%s' "$host key" | sha256sum | cut -c1-64)" >/dev/null
  done
  moat record add "$APEX" mta-sts A 192.0.2.80 >/dev/null
  moat record add "$APEX" _mta-sts TXT '"v=STSv1; id=20240501T000000"' >/dev/null
  moat record add "$APEX" _smtp._tls TXT '"v=TLSRPTv1; rua=mailto:tlsrpt@bench.test"' >/dev/null
}

# grow_zone N: adds N names (hNNNNNN A) to the mail zone in one `moat zone import` (one record
# add per name would take hours).
grow_zone() {
  local n=$1 file=$2
  moat zone export "$APEX" >"$file"
  python3 - "$APEX" "$n" >>"$file" <<'PY'
import sys
apex, n = sys.argv[1], int(sys.argv[2])
sys.stdout.write("".join(f"h{i:06d}.{apex}.\t3600\tIN\tA\t10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}\n"
                         for i in range(n)))
PY
  moat zone import "$APEX" "$file" >/dev/null
}

# write_queries FILE EXTRA_NAMES: the dnsperf input, one "NAME TYPE" a line, in equal shares:
# MX, TLSA, TXT _mta-sts, TXT _smtp._tls, A, AAAA, DNSKEY, SOA, NS and a name that does not
# exist (NXDOMAIN). The A query goes to a random name of the zone (over all hNNNNNN names in the
# big zone) and the NXDOMAIN names fall between them, so that lookups cover the whole tree.
write_queries() {
  python3 - "$APEX" "$2" "$QUERIES_IN_FILE" >"$1" <<'PY'
import random, sys
apex, extra, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(4242)  # the same file for every server and every run
a_names = ["mx1", "mx2", "mta-sts", "ns1", "ns2"]
def a_name():
    i = rnd.randrange(len(a_names) + extra)
    return a_names[i] if i < len(a_names) else f"h{i - len(a_names):06d}"
kinds = [
    lambda: f"{apex} MX",
    lambda: f"_25._tcp.mx{rnd.randint(1, 2)}.{apex} TLSA",
    lambda: f"_mta-sts.{apex} TXT",
    lambda: f"_smtp._tls.{apex} TXT",
    lambda: f"{a_name()}.{apex} A",
    lambda: f"mx{rnd.randint(1, 2)}.{apex} AAAA",
    lambda: f"{apex} DNSKEY",
    lambda: f"{apex} SOA",
    lambda: f"{apex} NS",
    lambda: f"h{rnd.randrange(max(extra, 1)):06d}x.{apex} A",
]
for _ in range(count):
    print(rnd.choice(kinds)())
PY
}

# ---------------------------------------------------------------------------------------------
# The servers. Each gets one worker and, unless PIN is empty, is pinned with taskset.

MOATD_STARTS=0
# start_moatd DIR PIN WORKERS [extra moat-dnsd args...]: sets MOATD_PID, MOATD_PORT, MOATD_LOG.
start_moatd() {
  local dir=$1 pin=$2 workers=$3 timeout=600 # a 100,000-name zone is signed at start
  shift 3
  MOATD_PORT=$(free_port)
  # No rate limiting, as nsd runs with rrl-ratelimit: 0: dnsperf is one client asking the same
  # names thousands of times a second, which RRL exists to stop.
  local cmd=("$MOATD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$MOATD_PORT" --workers "$workers"
    --rrl-rate 0 "$@")
  if [[ -n "$pin" ]]; then
    cmd=(taskset -c "$pin" "${cmd[@]}")
  fi
  MOATD_LOG=$dir/moat-dnsd-$((++MOATD_STARTS)).log
  start_bg "$MOATD_LOG" "${cmd[@]}"
  MOATD_PID=$BG_PID
  wait_until_serving "moat-dnsd --workers $workers" "$MOATD_PID" "$MOATD_PORT" "$MOATD_LOG" "$timeout"
}

# start_knotd DIR ZONEFILE: sets KNOT_PID, KNOT_PORT. Signing off: it serves moat's signatures.
start_knotd() {
  local dir=$1/knot zonefile=$2
  mkdir -p "$dir"
  KNOT_PORT=$(free_port)
  cat >"$dir/knot.conf" <<EOF
server:
    rundir: "$dir"
    pidfile: "$dir/knot.pid"
    listen: 127.0.0.1@$KNOT_PORT
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$dir"
log:
  - target: stderr
    any: notice
template:
  - id: default
    storage: "$dir"
    zonefile-load: whole
    zonefile-sync: -1
    journal-content: none
    dnssec-signing: off
zone:
  - domain: $APEX
    file: "$zonefile"
EOF
  start_bg "$dir/knotd.log" taskset -c "$SERVER_CPU" knotd -c "$dir/knot.conf"
  KNOT_PID=$BG_PID
  wait_until_serving knotd "$KNOT_PID" "$KNOT_PORT" "$dir/knotd.log" 300
}

# start_nsd DIR ZONEFILE: sets NSD_PID, NSD_PORT. Debian's NSD limits each client to 200 qps
# (RRL) unless rrl-ratelimit is 0. minimal-responses: yes because moat-dnsd and knotd do not
# add the NS RRset to every answer either (the answer sections are then the same).
start_nsd() {
  local dir=$1/nsd zonefile=$2
  mkdir -p "$dir"
  NSD_PORT=$(free_port)
  cat >"$dir/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$NSD_PORT
    server-count: 1
    username: ""
    chroot: ""
    database: ""
    zonesdir: "$dir"
    pidfile: "$dir/nsd.pid"
    xfrdfile: "$dir/xfrd.state"
    xfrdir: "$dir"
    zonelistfile: "$dir/zone.list"
    rrl-ratelimit: 0
    minimal-responses: yes
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: $APEX
    zonefile: "$zonefile"
EOF
  start_bg "$dir/nsd.log" taskset -c "$SERVER_CPU" nsd -d -c "$dir/nsd.conf"
  NSD_PID=$BG_PID
  wait_until_serving nsd "$NSD_PID" "$NSD_PORT" "$dir/nsd.log" 300
}

# ---------------------------------------------------------------------------------------------
# Same answers?

# answer_digest PORT NAME TYPE: rcode, answer and authority sections (+dnssec), records sorted.
# The additional section is left out: knotd and moat-dnsd add the MX hosts' addresses, NSD with
# minimal-responses does not.
answer_digest() {
  local out
  out=$(kdig @127.0.0.1 -p "$1" +dnssec +norec +time=2 +retry=0 +noadditional +nostats \
    +noquestion +noopt "$2" "$3" 2>&1) || true
  sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<<"$out"
  grep -v '^;' <<<"$out" | grep -v '^$' | sed 's/[[:space:]]\+/ /g' | sort
}

# check_same_answers EXTRA_NAMES: the three servers give the same serial and the same answers
# to one query of each kind in the mix; a difference ends the run with the diff.
check_same_answers() {
  local serials
  serials="$(soa_serial "$MOATD_PORT") $(soa_serial "$KNOT_PORT") $(soa_serial "$NSD_PORT")"
  read -r s_moat s_knot s_nsd <<<"$serials"
  [[ "$s_moat" == "$s_knot" && "$s_moat" == "$s_nsd" ]] ||
    die "SOA serials differ: moat-dnsd $s_moat, knotd $s_knot, nsd $s_nsd"
  local checks=("$APEX MX" "_25._tcp.mx1.$APEX TLSA" "_mta-sts.$APEX TXT" "_smtp._tls.$APEX TXT"
    "mx1.$APEX A" "mx2.$APEX AAAA" "$APEX DNSKEY" "$APEX SOA" "$APEX NS" "h000042x.$APEX A")
  if (($1 > 0)); then
    checks+=("h$(printf '%06d' $(($1 / 2))).$APEX A")
  fi
  local c ref other srv port
  for c in "${checks[@]}"; do
    # shellcheck disable=SC2086 # "NAME TYPE"
    ref=$(answer_digest "$MOATD_PORT" $c)
    [[ -n "$ref" ]] || die "moat-dnsd gave no answer to $c"
    for srv in knotd:$KNOT_PORT nsd:$NSD_PORT; do
      port=${srv#*:}
      # shellcheck disable=SC2086
      other=$(answer_digest "$port" $c)
      if [[ "$ref" != "$other" ]]; then
        diff <(echo "$ref") <(echo "$other") | sed 's/^/    /' >&2 || true
        die "moat-dnsd and ${srv%%:*} answer $c differently (< moat-dnsd, > ${srv%%:*})"
      fi
    done
  done
  local list
  list=$(printf '%s, ' "${checks[@]}")
  say "  same SOA serial ($s_moat) and the same answers (rcode, answer and authority sections, DO bit) to: ${list%, }"
}

# ---------------------------------------------------------------------------------------------
# Measuring

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: utime+stime+cutime+cstime of PID and its children (/proc/PID/stat 14-17).
cpu_ticks() {
  local pid stat total=0 f
  for pid in $(process_tree "$1"); do
    { read -r stat <"/proc/$pid/stat"; } 2>/dev/null || continue
    stat=${stat##*) }
    read -r -a f <<<"$stat" # f[0] is field 3 (state): utime is f[11]
    total=$((total + f[11] + f[12] + f[13] + f[14]))
  done
  echo "$total"
}

# memory_kib PID FIELD: a /proc/PID/status field (VmRSS) or smaps_rollup field (Pss) in KiB,
# summed over the process and its children.
memory_kib() {
  local pid total=0 v file=status
  [[ "$2" == Pss ]] && file=smaps_rollup
  for pid in $(process_tree "$1"); do
    v=$(awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$pid/$file" 2>/dev/null) || true
    total=$((total + ${v:-0}))
  done
  echo "$total"
}

# cpu_task_ticks CPU: ticks CPU spent running tasks (user, nice, system) or stolen by the
# hypervisor (/proc/stat). Interrupt and softirq time is left out: the kernel does not charge it
# to the server either, and loopback traffic makes plenty of it.
cpu_task_ticks() {
  awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $9 }' /proc/stat
}

# dnsperf_field FILE LABEL: the first number after "LABEL:" in dnsperf's report.
dnsperf_field() { sed -n "s/^ *$2: *\([0-9.]*\).*/\1/p" "$1" | head -n1; }

declare -A R # results: R[LABEL.KEY], R[LABEL#ROUND.KEY] for each round
declare -A SRV_PID SRV_PORT # the server behind each LABEL

# measure LABEL ROUND QUERYFILE PINNED(yes|no): one dnsperf run against server LABEL; fills
# R[LABEL#ROUND.qps|lost|completed|lat_ms|cpu_us|rss_mib|pss_mib|resp|rcodes|other].
measure() {
  local label=$1 qfile=$3 pinned=$4 k="$1#$2"
  local pid=${SRV_PID[$label]} port=${SRV_PORT[$label]} out=$WORK/dnsperf-$label-$2.txt
  local perf=(dnsperf -s 127.0.0.1 -p "$port" -d "$qfile" -l "$SECS" -D -c "$CLIENTS")
  if [[ "$pinned" == yes ]]; then
    perf=(taskset -c "$CLIENT_CPU" "${perf[@]}")
  fi
  local t0 t1 b0 b1
  t0=$(cpu_ticks "$pid")
  b0=$(cpu_task_ticks "$SERVER_CPU")
  "${perf[@]}" >"$out" 2>&1 || {
    cat "$out" >&2
    die "dnsperf failed against $label"
  }
  # dnsperf takes Ctrl-C itself and exits 0, so bash does not run the INT trap: stop here.
  if grep -q 'Testing complete (interruption)' "$out"; then
    echo "interrupted" >&2
    exit 130
  fi
  t1=$(cpu_ticks "$pid")
  b1=$(cpu_task_ticks "$SERVER_CPU")
  kill -0 "$pid" 2>/dev/null || die "$label died during the run"
  local completed lat
  completed=$(dnsperf_field "$out" "Queries completed")
  ((completed > 0)) || {
    cat "$out" >&2
    die "$label answered no query"
  }
  lat=$(dnsperf_field "$out" "Average Latency (s)")
  R[$k.completed]=$completed
  R[$k.lost]=$(dnsperf_field "$out" "Queries lost")
  R[$k.qps]=$(fmt %.0f "$(dnsperf_field "$out" "Queries per second")")
  R[$k.lat_ms]=$(fmt %.3f "$lat * 1000")
  R[$k.cpu_us]=$(fmt %.2f "($t1 - $t0) * 1000000 / $CLK_TCK / $completed")
  R[$k.rss_mib]=$(fmt %.1f "$(memory_kib "$pid" VmRSS) / 1024")
  R[$k.pss_mib]=$(fmt %.1f "$(memory_kib "$pid" Pss) / 1024")
  R[$k.resp]=$(sed -n 's/.*response \([0-9]*\).*/\1/p' "$out" | head -n1)
  R[$k.rcodes]=$(sed -n 's/^ *Response codes: *//p' "$out" | sed 's/ ([0-9.]*%)//g')
  # How much of the server's CPU other processes took meanwhile: the noise in the figures.
  # Only meaningful when the server is pinned to that CPU.
  R[$k.other]=-
  if [[ "$pinned" == yes ]]; then
    local other=$(((b1 - b0) - (t1 - t0)))
    R[$k.other]=$(fmt %.0f "$((other > 0 ? other : 0)) * 100 / ($SECS * $CLK_TCK)")
  fi
}

declare -A FORMATS=([qps]=%.0f [lat_ms]=%.3f [cpu_us]=%.2f [other]=%.0f)

# median VALUES...: the median (numbers; "-" stays "-").
median() {
  if [[ "$1" == - ]]; then
    echo -
    return
  fi
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# run_rounds QUERYFILE PINNED LABEL...: BENCH_ROUNDS rounds, each driving every server in turn
# (interleaved, so that a burst of load from elsewhere does not hit one server only). Then
# R[LABEL.KEY] is the median over the rounds (lost: the total; memory: after the last round).
run_rounds() {
  local qfile=$1 pinned=$2 round label key values
  shift 2
  for ((round = 1; round <= ROUNDS; round++)); do
    for label in "$@"; do
      measure "$label" "$round" "$qfile" "$pinned"
    done
  done
  for label in "$@"; do
    for key in qps lat_ms cpu_us other; do
      values=()
      for ((round = 1; round <= ROUNDS; round++)); do
        values+=("${R[$label#$round.$key]}")
      done
      R[$label.$key]=$(median "${values[@]}")
      if [[ "${R[$label.$key]}" != - ]]; then
        R[$label.$key]=$(fmt "${FORMATS[$key]}" "${R[$label.$key]}")
      fi
      if [[ "$key" == cpu_us ]]; then
        R[$label.cpu_range]=$(printf '%s\n' "${values[@]}" | sort -g | sed -n '1p;$p' | paste -sd-)
      fi
    done
    R[$label.lost]=0
    for ((round = 1; round <= ROUNDS; round++)); do
      R[$label.lost]=$((R[$label.lost] + R[$label#$round.lost]))
    done
    for key in rss_mib pss_mib resp rcodes; do
      R[$label.$key]=${R[$label#$ROUNDS.$key]}
    done
  done
}

print_table() {
  printf '  %-9s %8s %6s %7s %9s %13s %7s %7s %6s %8s  %s\n' server "qps" lost "avg ms" \
    "CPU us/q" "(min-max)" "RSS MiB" "PSS MiB" "resp B" "cpu0 oth" "response codes (last round)"
  local s other
  for s in "$@"; do
    other=${R[$s.other]}
    [[ "$other" == - ]] || other=$(fmt %.0f%% "$other")
    printf '  %-9s %8s %6s %7s %9s %13s %7s %7s %6s %8s  %s\n' "$s" "${R[$s.qps]}" \
      "${R[$s.lost]}" "${R[$s.lat_ms]}" "${R[$s.cpu_us]}" "(${R[$s.cpu_range]})" "${R[$s.rss_mib]}" \
      "${R[$s.pss_mib]}" "${R[$s.resp]}" "$other" "${R[$s.rcodes]}"
  done
}

# print_ratios ZONE: moat against each of the others, and the targets of the issue.
print_ratios() {
  local zone=$1 other
  say "  ratios (moat/other)       qps (higher=better)   CPU us/q (lower=better)   RSS (lower=better)   latency (lower=better)"
  for other in nsd knotd; do
    printf '    moat/%-18s %12s %23s %20s %24s\n' "$other" \
      "$(ratio "${R[moat.qps]}" "${R[$other.qps]}")" "$(ratio "${R[moat.cpu_us]}" "${R[$other.cpu_us]}")" \
      "$(ratio "${R[moat.rss_mib]}" "${R[$other.rss_mib]}")" "$(ratio "${R[moat.lat_ms]}" "${R[$other.lat_ms]}")"
  done
  local best best_name
  if [[ "$(calc "${R[nsd.cpu_us]} <= ${R[knotd.cpu_us]}")" == 1 ]]; then
    best=${R[nsd.cpu_us]} best_name=nsd
  else
    best=${R[knotd.cpu_us]} best_name=knotd
  fi
  local limit verdict
  limit=$(fmt %.2f "$best * 0.75")
  verdict=$(met_if "${R[moat.cpu_us]} <= $limit")
  verdict_line "$zone" "CPU per query <= 0.75 x the better of knotd/nsd ($best_name $best us -> <= $limit us): moat ${R[moat.cpu_us]} us" "$verdict"
  verdict=$(met_if "${R[moat.lost]} == 0")
  verdict_line "$zone" "no lost queries: moat lost ${R[moat.lost]}" "$verdict"
  if [[ "$zone" == big ]]; then
    verdict=$(met_if "${R[moat.rss_mib]} < ${R[knotd.rss_mib]}")
    verdict_line "$zone" "RSS below knotd's: moat ${R[moat.rss_mib]} MiB, knotd ${R[knotd.rss_mib]} MiB" "$verdict"
  fi
}

VERDICTS=()
# met_if CONDITION: MET or MISSED (CONDITION in awk syntax, on numbers).
met_if() { awk "BEGIN { print ($1) ? \"MET\" : \"MISSED\" }" </dev/null; }

# verdict_line ZONE TEXT MET|MISSED: prints one target check and keeps it for the summary.
verdict_line() {
  say "  target $3: $2"
  VERDICTS+=("[$1 zone] $3: $2")
}

# ---------------------------------------------------------------------------------------------
# One zone, start to end

# run_zone small|big EXTRA_NAMES
run_zone() {
  local zone=$1 extra=$2 dir=$WORK/$1
  mkdir -p "$dir/dump"
  export MOAT_DB=$dir/moat.db

  section "$zone zone: building"
  local t
  t=$(now_ms)
  build_mail_zone
  if ((extra > 0)); then
    grow_zone "$extra" "$dir/import.zone"
  fi
  say "  built with the moat CLI in $(($(now_ms) - t)) ms"
  write_queries "$dir/queries.txt" "$extra"

  # moat-dnsd signs the zone and writes what it serves; that very file goes to knotd and nsd.
  start_moatd "$dir" "$SERVER_CPU" 1 --zone-dump "$dir/dump"
  local zonefile=$dir/dump/${APEX}.zone
  [[ -s "$zonefile" ]] || die "moat-dnsd wrote no $zonefile"
  grep -E "(load|reload) $APEX" "$MOATD_LOG" | sed 's/^/  moat-dnsd: /' || true
  local names records
  names=$(awk '!/^;/ && NF { print $1 }' "$zonefile" | sort -u | wc -l)
  records=$(grep -cv '^;' "$zonefile")
  say "  signed zone: $names names, $records records (with RRSIG and NSEC), $(du -h "$zonefile" | cut -f1)"
  start_knotd "$dir" "$zonefile"
  start_nsd "$dir" "$zonefile"
  check_same_answers "$extra"

  section "$zone zone: $ROUNDS round(s) of $SECS s of dnsperf -D -c $CLIENTS per server (server on CPU $SERVER_CPU, dnsperf on CPU $CLIENT_CPU); load: $(cut -d' ' -f1-3 /proc/loadavg)"
  SRV_PID[moat]=$MOATD_PID SRV_PORT[moat]=$MOATD_PORT
  SRV_PID[knotd]=$KNOT_PID SRV_PORT[knotd]=$KNOT_PORT
  SRV_PID[nsd]=$NSD_PID SRV_PORT[nsd]=$NSD_PORT
  run_rounds "$dir/queries.txt" yes moat knotd nsd
  print_table moat knotd nsd
  print_ratios "$zone"
  stop_pid "$KNOT_PID"
  stop_pid "$NSD_PID"
  stop_pid "$MOATD_PID"

  # Unpinned, no zone dump (it would rewrite the whole zone file before every change is served).
  section "$zone zone: moat-dnsd --workers 1 and 2, nothing pinned (2 cores: dnsperf shares them)"
  start_moatd "$dir" "" 1
  SRV_PID[moat-w1]=$MOATD_PID SRV_PORT[moat-w1]=$MOATD_PORT
  start_moatd "$dir" "" 2
  SRV_PID[moat-w2]=$MOATD_PID SRV_PORT[moat-w2]=$MOATD_PORT
  run_rounds "$dir/queries.txt" no moat-w1 moat-w2
  stop_pid "${SRV_PID[moat-w2]}"
  print_table moat-w1 moat-w2
  say "  qps with 2 workers / with 1: $(ratio "${R[moat-w2.qps]}" "${R[moat-w1.qps]}")"

  section "$zone zone: CLI change until moat-dnsd serves it signed ($CHANGES changes, moat-dnsd --workers 1, default --poll-ms)"
  local lat
  python3 "$BENCH_DIR/change_latency.py" "$MOAT_BIN" "$APEX" "${SRV_PORT[moat-w1]}" "$CHANGES" >"$dir/changes.txt" ||
    die "the change timing failed: $(cat "$dir/changes.txt")"
  grep -v '^median' "$dir/changes.txt"
  lat=$(grep '^median' "$dir/changes.txt")
  say "  $lat"
  # A reload builds a new snapshot beside the served one: memory may not come back.
  say "  moat-dnsd RSS after the changes: $(fmt %.1f "$(memory_kib "${SRV_PID[moat-w1]}" VmRSS) / 1024") MiB (${R[moat-w1.rss_mib]} MiB before)"
  stop_pid "${SRV_PID[moat-w1]}"
  local median=${lat#median_ms=} cli=${lat#*cli_median_ms=}
  median=${median%% *}
  R[$zone.change_ms]=$median
  R[$zone.change_cli_ms]=$cli
  verdict_line "$zone" "CLI change served in < 50 ms: median $median ms" "$(met_if "$median < 50")"
  if [[ "$zone" == big && -n "${R[small.change_ms]:-}" ]]; then
    # "Does not grow" with some room for noise: at most 1.5 times the small zone's time.
    verdict_line big "CLI change time does not grow with the zone (big/small <= 1.5): $(ratio "$median" "${R[small.change_ms]}")" \
      "$(met_if "$median <= 1.5 * ${R[small.change_ms]}")"
  fi

  # The first moat-dnsd of this zone signed it whole; the ones since found it kept in their
  # state directory (signed/ beside the database). Once more, timed on its own.
  section "$zone zone: restart (moat-dnsd --workers 1, the signed zone kept by the last run)"
  start_moatd "$dir" "" 1
  grep -E "load $APEX" "$MOATD_LOG" | sed 's/^/  moat-dnsd: /' || true
  stop_pid "$MOATD_PID"
}

print_header() {
  section "moat DNS benchmark"
  say "  date:      $(date -u '+%Y-%m-%d %H:%M UTC')"
  say "  machine:   $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), kernel $(uname -r)"
  say "  load:      $(uptime | sed 's/^ *//')"
  say "  moat:      repository at $(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?'); measured: $MOATD_BIN"
  say "  knotd:     $(knotd --version | head -n1)"
  say "  nsd:       $(nsd -v 2>&1 | head -n1)"
  say "  dnsperf:   $(dnsperf -h 2>&1 | sed -n 's/^Version //p')"
  say "  runs:      $ROUNDS rounds of $SECS s per server; big zone: $([[ "$SMALL_ONLY" == 1 ]] && echo skipped || echo "+$NAMES names")"
}

print_summary() {
  section "summary"
  local z
  for z in small big; do
    [[ -n "${R[$z.change_ms]:-}" ]] || continue
    say "  $z zone: CLI change served after a median of ${R[$z.change_ms]} ms (of which the CLI command itself: ${R[$z.change_cli_ms]} ms)"
  done
  local v
  for v in "${VERDICTS[@]}"; do
    say "  $v"
  done
  say "  load at the end: $(uptime | sed 's/^ *//')"
}

main() {
  parse_args "$@"
  check_tools
  find_binaries
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/moat-bench.XXXXXX")
  trap cleanup EXIT
  # Without these traps a signal would end bash without running the EXIT trap, leaving the
  # servers running (a closed terminal: HUP; `| head`: PIPE).
  trap 'exit 129' HUP
  trap 'exit 130' INT
  trap 'exit 141' PIPE
  trap 'exit 143' TERM
  print_header
  run_zone small 0
  [[ "$SMALL_ONLY" == 1 ]] || run_zone big "$NAMES"
  print_summary
}

main "$@"
