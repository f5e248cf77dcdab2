#!/usr/bin/env bash
# Cached HITs through peercache's GitHub proxy against nginx `proxy_cache`
# serving the same bodies, on this machine, in the same run: requests/s and
# p50/p99 latency from wrk at 1 KiB and 64 KiB, with a token (as clients send
# one), and bodies whose URL fields peercache rewrites to its own base (nginx
# serves them as they are). The two servers take turns, ROUNDS rounds each, so
# that the machine's drift hits both alike; the median and the spread
# (min..max) of each are reported, and the ratio of the medians. wrk shares
# the two cores with the server, so each round also reports the server's own
# CPU time per request (user + system, from /proc), a steadier measure of
# how much work a HIT is. Each round prints the machine's load average
# beside it: run on a quiet machine.
#
# Run: bash server/benches/proxy_vs_nginx.sh   (needs nginx and wrk: apt-get install -y nginx-light wrk)
# PROFILE=1 (or 64) instead samples peercache's CPU with perf while wrk asks
# for the 1 KiB (64 KiB) body, and prints the top symbols (apt-get install -y linux-perf).
# INSTRUCTIONS=1 instead runs both servers under valgrind's callgrind (nginx
# as one process) and counts the user-space instructions each spends per HIT:
# a count, not a time, so it holds whatever else the machine is doing and can
# be checked on another machine (the kernel's part, the loopback, is not in it).
# Everything listens on 127.0.0.1 with free ports and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/peercache-target}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
ROUNDS="${ROUNDS:-3}"
TOKEN="ghp_benchmarktoken0123456789abcdefghij"
for tool in nginx wrk python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y nginx wrk)" >&2; exit 1; }
done
# Under callgrind (INSTRUCTIONS=1) each server runs some 50 times slower: one nginx process, and time to start.
wrap=(); nginx_workers=auto; nginx_master=on; patience=100
if [ -n "${INSTRUCTIONS:-}" ]; then
  command -v valgrind >/dev/null || { echo "missing valgrind" >&2; exit 1; }
  wrap=(valgrind -q --tool=callgrind --dump-instr=no); nginx_workers=1; nginx_master=off; patience=1200
fi

cargo build --release -p server --bin peercache >&2
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'echo "failed at line $LINENO; nginx said: $(cat "$work"/nginx/*.log 2>/dev/null); peercache said: $(tail -5 "$work/pc.err")" >&2' ERR

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The fake GitHub: fixed JSON bodies with an ETag, cacheable for an hour.
upstream_port=$(free_port)
python3 - "$upstream_port" >"$work/upstream.log" 2>&1 <<'PY' &
import http.server, sys, json
base = f"http://127.0.0.1:{sys.argv[1]}"
def body(size):
    head = {"url": f"{base}/repos/bench/r{size}", "issues_url": f"{base}/repos/bench/r{size}/issues{{/number}}"}
    pad = size * 1024 - len(json.dumps({**head, "pad": ""}))
    return json.dumps({**head, "pad": "x" * pad}).encode()
bodies = {f"/repos/bench/r{size}": body(size) for size in (1, 64)}
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = bodies.get(self.path.split("?")[0])
        if body is None:
            self.send_response(404); self.send_header("content-length", "0"); self.end_headers(); return
        self.send_response(200)
        for k, v in (("content-type", "application/json; charset=utf-8"), ("etag", '"bench"'),
                     ("cache-control", "private, max-age=3600"), ("content-length", str(len(body)))):
            self.send_header(k, v)
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
pids+=($!)

# peercache, its proxy pointed at the fake GitHub.
"${wrap[@]}" ${wrap:+--callgrind-out-file="$work/pc.cg"} "$CARGO_TARGET_DIR/release/peercache" serve --http 127.0.0.1:0 --no-p2p --cache-dir "$work/pc" \
  --github-api-url "http://127.0.0.1:$upstream_port" >"$work/pc.out" 2>"$work/pc.err" &
pids+=($!)

# nginx with proxy_cache in front of the same fake GitHub.
nginx_port=$(free_port)
mkdir -p "$work/nginx/cache" "$work/nginx/tmp"
# nginx's workers drop root for an unprivileged user: let them into the scratch dirs.
chmod 755 "$work"; chmod -R 777 "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes $nginx_workers;
master_process $nginx_master;
error_log $work/nginx/error.log warn;
pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp; proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp; uwsgi_temp_path $work/nginx/tmp; scgi_temp_path $work/nginx/tmp;
  proxy_cache_path $work/nginx/cache keys_zone=gh:10m max_size=1g;
  upstream fake { server 127.0.0.1:$upstream_port; keepalive 16; }
  server {
    listen 127.0.0.1:$nginx_port;
    location /github/ {
      proxy_pass http://fake/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache gh;
      proxy_cache_key \$uri\$is_args\$args\$http_accept\$http_authorization;
      proxy_cache_valid 200 1h;
      proxy_ignore_headers Cache-Control;
      proxy_cache_lock on;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
CONF
"${wrap[@]}" ${wrap:+--callgrind-out-file="$work/nginx.cg"} nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx/stderr.log" &
pids+=($!)
nginx_started=$!

for _ in $(seq "$patience"); do
  grep -q "listening on" "$work/pc.out" 2>/dev/null && curl -s "127.0.0.1:$nginx_port" >/dev/null 2>&1 \
    && curl -s "127.0.0.1:$upstream_port" >/dev/null 2>&1 && break
  sleep 0.1
done
pc_url=$(grep -o 'http://[0-9.:]*' "$work/pc.out")
nginx_url="http://127.0.0.1:$nginx_port"
pc_pid=$(pgrep -n -f "release/peercache serve --http 127.0.0.1:0 --no-p2p --cache-dir $work/pc")
if [ -n "${INSTRUCTIONS:-}" ]; then
  nginx_pids=$nginx_started
else
  nginx_pids=$(pgrep -f "nginx: worker" -P "$(cat "$work/nginx/nginx.pid")" | paste -sd,)
fi

# Warm both caches and check that both really answer from cache.
for size in 1 64; do
  for _ in 1 2; do
    curl -sf -H "Authorization: token $TOKEN" -o /dev/null "$pc_url/github/repos/bench/r$size"
    curl -sf -H "Authorization: token $TOKEN" -o /dev/null "$nginx_url/github/repos/bench/r$size"
  done
  [ "$(curl -s -H "Authorization: token $TOKEN" -D - -o /dev/null "$pc_url/github/repos/bench/r$size" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-peercache"{print $2}')" = HIT ] \
    || { echo "peercache is not answering r$size from cache" >&2; exit 1; }
  curl -s -H "Authorization: token $TOKEN" "$pc_url/github/repos/bench/r$size" | grep -q "\"url\": \"$pc_url/github/" \
    || { echo "peercache is not rewriting r$size's URLs" >&2; exit 1; }
  [ "$(curl -s -H "Authorization: token $TOKEN" -D - -o /dev/null "$nginx_url/github/repos/bench/r$size" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache-status"{print $2}')" = HIT ] \
    || { echo "nginx is not answering r$size from cache" >&2; exit 1; }
done

# wrk prints latency like 512.00us / 1.20ms / 1.01s: print milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
# CPU ticks (user + system) used so far by the processes listed in $1 (comma-separated).
ticks() { local t=0 pid; for pid in ${1//,/ }; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done; echo "$t"; }
run() { # url pids -> "rps p50 p99 cpu_us_per_request"
  local before after out
  before=$(ticks "$2")
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: token $TOKEN" "$1")
  after=$(ticks "$2")
  local rps p50 p99 requests
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  requests=$(awk '/requests in/{print $1}' <<<"$out")
  p50=$(awk '$1=="50%"{print $2}' <<<"$out" | to_ms)
  p99=$(awk '$1=="99%"{print $2}' <<<"$out" | to_ms)
  awk -v r="$rps" -v a="$p50" -v b="$p99" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
    'BEGIN{printf "%s %s %s %.2f\n", r, a, b, t * 1e6 / hz / n}'
}

if [ -n "${INSTRUCTIONS:-}" ]; then
  # Counted from zero over one wrk run each (4 connections: callgrind runs one thread at a time).
  printf '%-6s %-10s %10s %22s\n' size server requests "instructions per HIT"
  for size in 1 64; do
    for server in peercache nginx; do
      if [ "$server" = peercache ]; then url=$pc_url pid=$pc_pid out=$work/pc.cg; else url=$nginx_url pid=$nginx_pids out=$work/nginx.cg; fi
      callgrind_control -z "$pid" >/dev/null
      requests=$(wrk -t1 -c4 -d"$DURATION" -H "Authorization: token $TOKEN" "$url/github/repos/bench/r$size" | awk '/requests in/{print $1}')
      rm -f "$out".*; callgrind_control -d "$pid" >/dev/null
      for _ in $(seq 100); do ls "$out".* >/dev/null 2>&1 && break; sleep 0.1; done
      sleep 1
      instructions=$(awk -F': ' '/^(summary|totals):/{print $2; exit}' "$out".*)
      awk -v s="${size}KiB" -v n="$server" -v r="$requests" -v i="$instructions" \
        'BEGIN{printf "%-6s %-10s %10d %22.0f\n", s, n, r, i / r}'
    done
  done
  exit 0
fi

if [ -n "${PROFILE:-}" ]; then
  perf record -q ${PERF_ARGS:-} -e cpu-clock -F 1999 -p "$pc_pid" -o "$work/perf.data" -- sleep "${DURATION%s}" 2>/dev/null &
  perf_pid=$!
  run "$pc_url/github/repos/bench/r$PROFILE" "$pc_pid" >/dev/null
  wait "$perf_pid" || true
  perf report -q -i "$work/perf.data" ${REPORT_ARGS:---no-children --sort symbol} --stdio 2>/dev/null \
    | grep -v '^$' | head -"${TOP:-25}" | sed -E 's/ +/ /g; s/\[\.\] //' || true
  exit 0
fi

# ROUNDS rounds, the servers alternating (and which goes first alternating too).
declare -A rps p50 p99 cpu
for size in 1 64; do
  for round in $(seq "$ROUNDS"); do
    if (( round % 2 )); then order="peercache nginx"; else order="nginx peercache"; fi
    for server in $order; do
      if [ "$server" = peercache ]; then url=$pc_url of=$pc_pid; else url=$nginx_url of=$nginx_pids; fi
      read -r r a b c < <(run "$url/github/repos/bench/r$size" "$of")
      rps[$size,$server]+="$r "; p50[$size,$server]+="$a "; p99[$size,$server]+="$b "; cpu[$size,$server]+="$c "
      echo "round $round ${size}KiB $server: $r req/s, $c us CPU/request, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
    done
  done
done
stats() { # values -> "median min max"
  tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%s %s %s\n", m, v[1], v[NR]}'
}
printf '%-6s %-10s %24s %24s %8s %8s\n' size server "req/s median (min..max)" "CPU us/req (min..max)" p50_ms p99_ms
for size in 1 64; do
  for server in peercache nginx; do
    read -r m lo hi < <(stats <<<"${rps[$size,$server]}")
    read -r l50 _ _ < <(stats <<<"${p50[$size,$server]}")
    read -r l99 _ _ < <(stats <<<"${p99[$size,$server]}")
    read -r cm clo chi < <(stats <<<"${cpu[$size,$server]}")
    printf '%-6s %-10s %8.0f (%6.0f..%6.0f) %8.2f (%5.2f..%5.2f) %8s %8s\n' "${size}KiB" "$server" "$m" "$lo" "$hi" "$cm" "$clo" "$chi" "$l50" "$l99"
    eval "median_$server=$m cpu_$server=$cm"
  done
  awk -v a="$median_peercache" -v b="$median_nginx" -v ca="$cpu_peercache" -v cb="$cpu_nginx" -v s="$size" -v n="$ROUNDS" \
    'BEGIN{printf "%-6s peercache/nginx, medians of %d rounds: throughput %.2fx, CPU per request %.2fx\n", s "KiB", n, a/b, ca/cb}'
done
