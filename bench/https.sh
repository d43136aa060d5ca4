#!/usr/bin/env bash
# bench/https.sh: moat-httpsd against nginx, serving the very same MTA-STS policy file over TLS
# with the same certificate, the same protocols and cipher suites, one worker each.
#
# Builds a domain with the moat CLI, deploys one ECDSA P-256 certificate for mta-sts.DOMAIN,
# writes the policy moat-httpsd serves to a file for nginx, checks that both serve the same
# bytes, then drives each in turn with wrk: keep-alive (BENCH_CONNECTIONS connections, both
# servers closing a connection after 100 requests), and a new TLS connection per request
# (Connection: close). Prints requests per second, the ratio moat/nginx, and latency.
#
# usage: bench/https.sh
# environment:
#   BENCH_SECONDS=10      length of each wrk run
#   BENCH_ROUNDS=3        rounds of runs (each server once a round); medians are reported
#   BENCH_CONNECTIONS=32  wrk -c for the keep-alive runs (8 for the new-connection runs)
#   BENCH_SERVER_CPU=0    CPU the servers are pinned to;  BENCH_CLIENT_CPU=1  the one wrk is
#   BENCH_KEEP=1          keep the temporary directory (configs, logs)
#   MOAT_BIN, MOATHTTPSD_BIN  the moat and moat-httpsd to measure; without them a Release build
#                         is made (or brought up to date) in bench/build (BENCH_JOBS: ninja -j)
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH_DIR/.." && pwd)

SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
CLIENT_CPU=${BENCH_CLIENT_CPU:-1}
DOMAIN=bench.test
WEB=mta-sts.$DOMAIN
POLICY_PATH=/.well-known/mta-sts.txt

die() {
  echo "https.sh: $*" >&2
  exit 1
}
say() { echo "$*"; }
section() { printf '\n=== %s\n' "$*"; }
now_ms() { date +%s%3N; }
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }' </dev/null
}
# median: of the numbers on stdin, one per line.
median() { grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
require() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing (apt-get install $2)"; }

require wrk wrk
require nginx nginx-light
require openssl openssl
require curl curl
require taskset util-linux
cpus=$(nproc)
((SERVER_CPU < cpus && CLIENT_CPU < cpus)) ||
  die "this machine has $cpus CPU(s); the servers go on CPU $SERVER_CPU and wrk on CPU $CLIENT_CPU"

# Binaries: MOAT_BIN/MOATHTTPSD_BIN if given, else a Release build in bench/build (not the
# developer's build/, which may be a Debug or sanitizer build).
if [[ -n "${MOAT_BIN:-}" || -n "${MOATHTTPSD_BIN:-}" ]]; then
  [[ -x "${MOAT_BIN:-}" ]] || die "MOAT_BIN='${MOAT_BIN:-}' is not an executable"
  [[ -x "${MOATHTTPSD_BIN:-}" ]] || die "MOATHTTPSD_BIN='${MOATHTTPSD_BIN:-}' is not an executable"
else
  require cmake cmake
  require ninja ninja-build
  mkdir -p "$BENCH_DIR/build"
  log=$BENCH_DIR/build/build.log
  say "building moat and moat-httpsd (Release) in $BENCH_DIR/build (log: $log) ..."
  if ! { cmake -S "$REPO" -B "$BENCH_DIR/build" -G Ninja -DCMAKE_BUILD_TYPE=Release &&
    ninja -C "$BENCH_DIR/build" ${BENCH_JOBS:+-j "$BENCH_JOBS"} moat moat-httpsd; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "the build failed (log above)"
  fi
  MOAT_BIN=$BENCH_DIR/build/cli/moat
  MOATHTTPSD_BIN=$BENCH_DIR/build/httpsd/moat-httpsd
fi
if ldd "$MOATHTTPSD_BIN" 2>/dev/null | grep -q libasan; then
  say "WARNING: $MOATHTTPSD_BIN is built with AddressSanitizer: its figures are not meaningful"
fi
moat() { "$MOAT_BIN" "$@"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/moat-bench-https.XXXXXX")
chmod 755 "$WORK" # nginx's workers run as nobody when started by root
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ "${BENCH_KEEP:-}" == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------------------------------------
section "setup: $DOMAIN, its policy, one certificate for $WEB"
export MOAT_DB=$WORK/moat.db
moat init >/dev/null
moat domain add "$DOMAIN" --ns "ns1.$DOMAIN=127.0.0.1" >/dev/null
mkdir -p "$WORK/live"
moat mx add "$DOMAIN" "mail.$DOMAIN" --priority 10 --addr 127.0.0.1 --live-dir "$WORK/live" >/dev/null
moat policy set "$DOMAIN" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" \
  -out "$WORK/ca.pem" -days 2 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/web.key" \
  -out "$WORK/web.csr" -subj "/CN=$WEB" 2>/dev/null
printf 'subjectAltName=DNS:%s\n' "$WEB" >"$WORK/web.ext"
openssl x509 -req -in "$WORK/web.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -out "$WORK/web.pem" -days 2 -extfile "$WORK/web.ext" 2>/dev/null
cat "$WORK/web.pem" "$WORK/ca.pem" >"$WORK/fullchain.pem"
moat cert deploy --fullchain "$WORK/fullchain.pem" --key "$WORK/web.key" >/dev/null
mkdir -p "$WORK/www/.well-known"
moat --json policy show "$DOMAIN" |
  python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["text"])' >"$WORK/www/.well-known/mta-sts.txt"
chmod -R a+rX "$WORK/www"

MOAT_PORT=$(free_port)
NGINX_PORT=$(free_port)
taskset -c "$SERVER_CPU" "$MOATHTTPSD_BIN" --db "$MOAT_DB" --listen "127.0.0.1:$MOAT_PORT" \
  --metrics off --log-level warn --max-connections-per-source 1024 >"$WORK/httpsd.log" 2>&1 &
pids+=($!)

# nginx with what moat-httpsd does: Mozilla's intermediate protocols and suites, one worker,
# at most 100 requests per connection, no access log, the file from memory (open_file_cache).
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  open_file_cache max=16;
  keepalive_requests 100;
  client_body_temp_path $WORK/nginx;
  proxy_temp_path $WORK/nginx;
  fastcgi_temp_path $WORK/nginx;
  uwsgi_temp_path $WORK/nginx;
  scgi_temp_path $WORK/nginx;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl;
    server_name $WEB;
    ssl_certificate $WORK/fullchain.pem;
    ssl_certificate_key $WORK/web.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:bench:1m;
    root $WORK/www;
    location = $POLICY_PATH { default_type text/plain; add_header Cache-Control no-cache; }
    location / { return 404; }
  }
}
EOF
taskset -c "$SERVER_CPU" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" -g 'daemon off;' \
  >"$WORK/nginx/stdout.log" 2>&1 &
pids+=($!)

fetch() { curl -sS --max-time 2 --resolve "$WEB:$1:127.0.0.1" --cacert "$WORK/ca.pem" "https://$WEB:$1$POLICY_PATH"; }
deadline=$(($(now_ms) + 10000))
until fetch "$MOAT_PORT" >/dev/null 2>&1 && fetch "$NGINX_PORT" >/dev/null 2>&1; do
  (($(now_ms) < deadline)) || { cat "$WORK/httpsd.log" "$WORK/nginx/error.log" >&2; die "the servers did not answer within 10 s"; }
  sleep 0.1
done
cmp <(fetch "$MOAT_PORT") "$WORK/www/.well-known/mta-sts.txt" || die "moat-httpsd serves other bytes than the policy file"
cmp <(fetch "$NGINX_PORT") "$WORK/www/.well-known/mta-sts.txt" || die "nginx serves other bytes than the policy file"
say "both serve the same $(wc -c <"$WORK/www/.well-known/mta-sts.txt")-byte policy; moat-httpsd on $MOAT_PORT, nginx on $NGINX_PORT (CPU $SERVER_CPU), wrk on CPU $CLIENT_CPU"

# wrk sends SNI for the URL's host, which does not resolve here: its resolve step is replaced
# so that the connection goes to 127.0.0.1 while the name stays mta-sts.DOMAIN.
cat >"$WORK/connect.lua" <<'EOF'
wrk.resolve = function(host, service)
  wrk.addrs = wrk.lookup("127.0.0.1", service)
end
EOF

# cpu_ticks PID...: user + system CPU time of the processes, in clock ticks.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
  done
  echo "$total"
}

# run_wrk PORT CONNECTIONS PIDS [extra wrk args]: prints "requests/s p50_ms p99_ms errors
# cpu_us_per_request", the last from the CPU time the server's processes (PIDS, space-separated)
# used during the run. wrk on its own CPU is usually the limit of requests/s on a small machine;
# the server's CPU per request says which server does less work for the same answers.
run_wrk() {
  local port=$1 conns=$2 pids=$3
  shift 3
  local out before after
  # shellcheck disable=SC2086 # PIDS is a list
  before=$(cpu_ticks $pids)
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"${SECS}s" --latency -s "$WORK/connect.lua" \
    "$@" "https://$WEB:$port$POLICY_PATH" 2>&1)
  # shellcheck disable=SC2086
  after=$(cpu_ticks $pids)
  echo "$out" >>"$WORK/wrk.log"
  awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /requests in/ { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    /Socket errors:/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    END { printf "%s %.3f %.3f %d %.1f\n", rps, p50, p99, errors, requests ? ticks * 1e6 / hz / requests : 0 }' <<<"$out"
}

MOAT_PIDS=$(pgrep -f -- "--listen 127.0.0.1:$MOAT_PORT " | tr '\n' ' ')
NGINX_MASTER=$(cat "$WORK/nginx/nginx.pid")
NGINX_PIDS="$NGINX_MASTER $(pgrep -P "$NGINX_MASTER" | tr '\n' ' ')"
[[ -n "$MOAT_PIDS" && -n "$NGINX_PIDS" ]] || die "cannot find the servers' processes"

declare -A rps p50 p99 errs cpu
for mode in keepalive close; do
  for server in moat nginx; do
    cpu[$mode.$server]=""
    rps[$mode.$server]=""
    p50[$mode.$server]=""
    p99[$mode.$server]=""
    errs[$mode.$server]=0
  done
done

section "wrk, $ROUNDS round(s) of ${SECS}s per server and mode"
for ((round = 1; round <= ROUNDS; round++)); do
  for mode in keepalive close; do
    for server in moat nginx; do
      port=$MOAT_PORT pids=$MOAT_PIDS
      [[ $server == nginx ]] && port=$NGINX_PORT pids=$NGINX_PIDS
      if [[ $mode == keepalive ]]; then
        read -r r a b e c < <(run_wrk "$port" "$CONNECTIONS" "$pids")
      else
        read -r r a b e c < <(run_wrk "$port" 8 "$pids" -H "Connection: close")
      fi
      rps[$mode.$server]+="$r"$'\n'
      p50[$mode.$server]+="$a"$'\n'
      p99[$mode.$server]+="$b"$'\n'
      cpu[$mode.$server]+="$c"$'\n'
      errs[$mode.$server]=$((errs[$mode.$server] + e))
      printf '  round %d %-9s %-5s %10.0f req/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %6.1f us/req  errors %d\n' \
        "$round" "$mode" "$server" "$r" "$a" "$b" "$c" "$e"
    done
  done
done

section "results (medians of $ROUNDS rounds; ratios above 1 put moat-httpsd ahead)"
printf '%-34s %12s %12s %8s\n' "" "moat-httpsd" "nginx" "ratio"
for mode in keepalive close; do
  label="keep-alive, $CONNECTIONS connections"
  [[ $mode == close ]] && label="new TLS connection per request, 8"
  m=$(median <<<"${rps[$mode.moat]}")
  n=$(median <<<"${rps[$mode.nginx]}")
  printf '%-34s %12.0f %12.0f %8s\n' "$label: req/s" "$m" "$n" "$(ratio "$m" "$n")"
  mc=$(median <<<"${cpu[$mode.moat]}")
  nc=$(median <<<"${cpu[$mode.nginx]}")
  printf '%-34s %12.1f %12.1f %8s\n' "  server CPU us/request (nginx/moat)" "$mc" "$nc" "$(ratio "$nc" "$mc")"
  printf '%-34s %12.2f %12.2f\n' "  p50 latency ms" "$(median <<<"${p50[$mode.moat]}")" "$(median <<<"${p50[$mode.nginx]}")"
  printf '%-34s %12.2f %12.2f\n' "  p99 latency ms" "$(median <<<"${p99[$mode.moat]}")" "$(median <<<"${p99[$mode.nginx]}")"
  printf '%-34s %12d %12d\n' "  errors (all rounds)" "${errs[$mode.moat]}" "${errs[$mode.nginx]}"
done
say ""
say "machine: $(nproc) CPUs, $(uname -r); nginx $(nginx -v 2>&1 | sed 's/.*\///'); $(openssl version)"
