#!/usr/bin/env bash
# Cached HITs through peercache's GitHub proxy against nginx `proxy_cache`
# serving the same bodies, on this machine, in the same run: requests/s and
# p50/p99 latency from wrk at 1 KiB and 64 KiB, and the ratio.
#
# Run: bash server/benches/proxy_vs_nginx.sh   (needs nginx and wrk: apt-get install -y nginx wrk)
# Everything listens on 127.0.0.1 with free ports and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/peercache-target}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-32}"
for tool in nginx wrk python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y nginx wrk)" >&2; exit 1; }
done

cargo build --release -p server --bin peercache >&2
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'echo "failed at line $LINENO; nginx said: $(cat "$work"/nginx/*.log 2>/dev/null)" >&2' ERR

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The fake GitHub: fixed JSON bodies with an ETag, cacheable for an hour.
upstream_port=$(free_port)
python3 - "$upstream_port" >"$work/upstream.log" 2>&1 <<'PY' &
import http.server, sys, json
bodies = {f"/repos/bench/r{size}": json.dumps({"pad": "x" * (size * 1024 - 11)}).encode() for size in (1, 64)}
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = bodies.get(self.path.split("?")[0])
        if body is None:
            self.send_response(404); self.send_header("content-length", "0"); self.end_headers(); return
        self.send_response(200)
        for k, v in (("content-type", "application/json; charset=utf-8"), ("etag", '"bench"'),
                     ("cache-control", "public, max-age=3600"), ("content-length", str(len(body)))):
            self.send_header(k, v)
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
pids+=($!)

# peercache, its proxy pointed at the fake GitHub.
"$CARGO_TARGET_DIR/release/peercache" serve --http 127.0.0.1:0 --no-p2p --cache-dir "$work/pc" \
  --github-api-url "http://127.0.0.1:$upstream_port" >"$work/pc.out" 2>"$work/pc.err" &
pids+=($!)

# nginx with proxy_cache in front of the same fake GitHub.
nginx_port=$(free_port)
mkdir -p "$work/nginx/cache" "$work/nginx/tmp"
# nginx's workers drop root for an unprivileged user: let them into the scratch dirs.
chmod 755 "$work"; chmod -R 777 "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes auto;
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
      proxy_cache_lock on;
      add_header X-Cache-Status \$upstream_cache_status;
    }
  }
}
CONF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' 2>"$work/nginx/stderr.log" &
pids+=($!)

for _ in $(seq 100); do
  grep -q "listening on" "$work/pc.out" 2>/dev/null && curl -s "127.0.0.1:$nginx_port" >/dev/null 2>&1 && break
  sleep 0.1
done
pc_url=$(grep -o 'http://[0-9.:]*' "$work/pc.out")
nginx_url="http://127.0.0.1:$nginx_port"

# Warm both caches and check that both really answer from cache.
for size in 1 64; do
  for _ in 1 2; do
    curl -sf -o /dev/null "$pc_url/github/repos/bench/r$size"
    curl -sf -o /dev/null "$nginx_url/github/repos/bench/r$size"
  done
  [ "$(curl -s -D - -o /dev/null "$pc_url/github/repos/bench/r$size" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-peercache"{print $2}')" = HIT ] \
    || { echo "peercache is not answering r$size from cache" >&2; exit 1; }
  [ "$(curl -s -D - -o /dev/null "$nginx_url/github/repos/bench/r$size" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache-status"{print $2}')" = HIT ] \
    || { echo "nginx is not answering r$size from cache" >&2; exit 1; }
done

# wrk prints latency like 512.00us / 1.20ms / 1.01s: print milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.3f", v}'; }
run() { # url -> "rps p50 p99"
  local out; out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$1")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
  p50=$(awk '$1=="50%"{print $2}' <<<"$out" | to_ms)
  p99=$(awk '$1=="99%"{print $2}' <<<"$out" | to_ms)
  echo "$rps $p50 $p99"
}

printf '%-8s %-10s %12s %10s %10s\n' size server requests/s p50_ms p99_ms
for size in 1 64; do
  read -r pc_rps pc_p50 pc_p99 < <(run "$pc_url/github/repos/bench/r$size")
  read -r ng_rps ng_p50 ng_p99 < <(run "$nginx_url/github/repos/bench/r$size")
  printf '%-8s %-10s %12s %10s %10s\n' "${size}KiB" peercache "$pc_rps" "$pc_p50" "$pc_p99"
  printf '%-8s %-10s %12s %10s %10s\n' "${size}KiB" nginx "$ng_rps" "$ng_p50" "$ng_p99"
  awk -v a="$pc_rps" -v b="$ng_rps" -v s="$size" 'BEGIN{printf "%-8s throughput ratio peercache/nginx: %.2f\n", s "KiB", a/b}'
done
