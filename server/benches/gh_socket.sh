#!/usr/bin/env bash
# `gh api repos/o/r` through peercache's gh socket (answered from the cache)
# against `gh api repos/o/r` straight to a GitHub stand-in on its own Unix
# socket (the same transport, nothing cached): wall time of 20 runs of stock
# `gh`, ROUNDS rounds each, the two alternating (and alternating which goes
# first), median and spread (min..max) of the rounds.
#
# Run: bash server/benches/gh_socket.sh   (needs gh: apt-get install -y gh)
# Everything listens on 127.0.0.1 or on sockets in a scratch directory, and is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/peercache-target}"
ROUNDS="${ROUNDS:-3}"
RUNS="${RUNS:-20}"
for tool in gh python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y gh)" >&2; exit 1; }
done

cargo build --release -p server --bin peercache >&2
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
trap 'echo "failed at line $LINENO; peercache said: $(tail -5 "$work/pc.err" 2>/dev/null)" >&2' ERR

upstream_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The stand-in: a repository's JSON (about GitHub's size for one), on TCP for
# peercache and on a Unix socket for gh straight.
python3 - "$upstream_port" "$work/standin.sock" >"$work/standin.log" 2>&1 <<'PY' &
import http.server, json, socketserver, sys, threading
repo = {"id": 1, "name": "r", "full_name": "o/r", "private": False, "url": "https://api.github.com/repos/o/r",
        "description": "x" * 200, "topics": ["a", "b"], "owner": {"login": "o", "url": "https://api.github.com/users/o"}}
repo.update({f"{name}_url": f"https://api.github.com/repos/o/r/{name}" for name in
             ["issues", "pulls", "commits", "branches", "tags", "releases", "labels", "milestones", "hooks", "forks"]})
body = json.dumps(repo).encode() + b" " * 4000
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path.split("?")[0] != "/repos/o/r":
            self.send_response(404); self.send_header("content-length", "0"); self.end_headers(); return
        self.send_response(200)
        for k, v in (("content-type", "application/json; charset=utf-8"), ("etag", '"r1"'),
                     ("cache-control", "private, max-age=60"), ("content-length", str(len(body)))):
            self.send_header(k, v)
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *args): pass
class Unix(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)
unix = Unix(sys.argv[2], Handler)
threading.Thread(target=unix.serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
PY
pids+=($!)

"$CARGO_TARGET_DIR/release/peercache" serve --http 127.0.0.1:0 --no-p2p --cache-dir "$work/pc" \
  --gh-socket "$work/gh.sock" --github-api-url "http://127.0.0.1:$upstream_port" >"$work/pc.out" 2>"$work/pc.err" &
pids+=($!)
for _ in $(seq 100); do
  [ -S "$work/gh.sock" ] && [ -S "$work/standin.sock" ] && curl -s "127.0.0.1:$upstream_port" >/dev/null 2>&1 && break
  sleep 0.1
done

gh_at() { # name socket: a gh config dir pointed at socket
  mkdir -p "$work/$1"
  GH_CONFIG_DIR="$work/$1" gh config set http_unix_socket "$2"
}
gh_at peercache "$work/gh.sock"
gh_at straight "$work/standin.sock"
gh_api() { # name
  GH_CONFIG_DIR="$work/$1" GH_TOKEN=ghp_benchmark GH_NO_UPDATE_NOTIFIER=1 GH_PROMPT_DISABLED=1 \
    env -u GH_HOST -u GITHUB_TOKEN gh api repos/o/r >/dev/null
}

# Warm the cache, and check that the second answer is a hit.
gh_api peercache
GH_CONFIG_DIR="$work/peercache" GH_TOKEN=ghp_benchmark gh api -i repos/o/r | tr -d '\r' | grep -qi '^x-peercache: HIT' \
  || { echo "peercache did not answer gh from its cache" >&2; exit 1; }
gh_api straight

declare -A times
for round in $(seq "$ROUNDS"); do
  if (( round % 2 )); then order="peercache straight"; else order="straight peercache"; fi
  for way in $order; do
    start=$(date +%s%N)
    for _ in $(seq "$RUNS"); do gh_api "$way"; done
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    times[$way]+="$ms "
    echo "round $round $way: $RUNS runs in $ms ms" >&2
  done
done

stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%s %s %s\n", m, v[1], v[NR]}'; }
printf '%-10s %28s %14s\n' way "ms for $RUNS runs (min..max)" "ms per run"
for way in peercache straight; do
  read -r m lo hi < <(stats <<<"${times[$way]}")
  printf '%-10s %12s (%s..%s) %14.1f\n' "$way" "$m" "$lo" "$hi" "$(awk -v m="$m" -v n="$RUNS" 'BEGIN{print m/n}')"
  eval "median_$way=$m"
done
awk -v a="$median_peercache" -v b="$median_straight" -v n="$ROUNDS" \
  'BEGIN{printf "through peercache / straight to the stand-in, medians of %d rounds: %.2fx\n", n, a/b}'
