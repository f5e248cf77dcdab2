#!/usr/bin/env python3
"""Release assets across a fleet, against every node downloading directly.

N nodes, each in a network namespace of its own (as root; on loopback
otherwise, without bandwidth caps), one private swarm. A stand-in GitHub runs
beside them: the API answers an asset's metadata (its `digest` and size) and
its download with a 302 to the objects host, which serves the bytes. With
namespaces, `tc tbf` caps the objects host's egress at --cap Mbit/s and each
node's link at --link Mbit/s in each direction.

A round puts a fresh SIZE MiB asset on the objects host and has every node
fetch it at once, both ways in turn (alternating which goes first):
  peercache  `curl` in each node's namespace asks its own node
             (/github/repos/o/r/releases/assets/{id}, Accept: application/octet-stream);
  direct     `curl -L` in each node's namespace fetches the API URL straight
             from the stand-in, following the redirect: what a runner does
             without peercache.
Measured per round: the time until all N nodes hold a whole copy (each copy's
SHA-256 checked), and the bytes the objects host sent, as multiples of the
asset, with how many of its requests started at the beginning and how many
resumed part way (a node whose peers stopped), and the bytes of pieces the
busiest node and the median node sent to their peers; then, as the reference, one
node downloading a fresh asset alone. Prints the median and spread (min..max)
over the rounds, and the load average.

Run (as root for namespaces):
  python3 server/benches/fleet_assets.py --bin PATH [--nodes 8] [--size-mib 64] [--rounds 3]
"""

import argparse
import hashlib
import http.server
import json
import os
import random
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fleet"))
import fleet as harness  # noqa: E402

CHUNK = 256 * 1024


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def releases(host):
    """The API and the objects host; `assets[id] = bytes`, `sent` counts the objects host's bytes."""
    state = {"assets": {}, "sent": 0, "objects_port": None, "gets": []}
    lock = threading.Lock()

    class Api(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            parts = self.path.split("?")[0].split("/")
            # /repos/o/r/releases/assets/{id}
            if len(parts) != 7 or parts[4:6] != ["releases", "assets"] or int(parts[6]) not in state["assets"]:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            asset_id = int(parts[6])
            body = state["assets"][asset_id]
            if self.headers.get("Accept") == "application/octet-stream":
                self.send_response(302)
                self.send_header("Location", f"http://{host}:{state['objects_port']}/assets/{asset_id}?sig=x")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            meta = json.dumps({"id": asset_id, "name": f"asset-{asset_id}.bin", "size": len(body),
                               "digest": "sha256:" + hashlib.sha256(body).hexdigest()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Cache-Control", "private, max-age=60")
            self.send_header("Content-Length", str(len(meta)))
            self.end_headers()
            self.wfile.write(meta)

    class Objects(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            asset_id = int(self.path.split("?")[0].rsplit("/", 1)[1])
            body = state["assets"][asset_id]
            first = 0
            ranged = (self.headers.get("Range") or "").removeprefix("bytes=")
            if ranged:
                first = int(ranged.split("-")[0])
            with lock:
                state["gets"].append(first)
            self.send_response(206 if ranged else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body) - first))
            if ranged:
                self.send_header("Content-Range", f"bytes {first}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            for start in range(first, len(body), CHUNK):
                chunk = body[start:start + CHUNK]
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    return
                with lock:
                    state["sent"] += len(chunk)

    api = Server((host, 0), Api)
    objects = Server((host, 0), Objects)
    state["objects_port"] = objects.server_address[1]
    for server in (api, objects):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return api, objects, state


def cap(net, link_mbit, objects_mbit):
    """tbf on the objects host's way out and on every node's link, both ways."""
    def tbf(prefix, dev, mbit):
        harness.sh(*prefix, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{mbit}mbit",
                   "burst", "1mb", "latency", "100ms")
    tbf([], f"{net.tag}h", objects_mbit)
    for i in range(net.nodes):
        tbf(["ip", "netns", "exec", net.router], f"v{i}", link_mbit)
        tbf(net.prefix(i), "eth0", link_mbit)


def fetch_all(fleet, urls, headers):
    """`curl` in every node's namespace at once; the seconds until each node held its whole copy
    (sorted), and the digests."""
    start = time.monotonic()
    procs = []
    for node, url in zip(fleet.nodes, urls):
        command = fleet.net.prefix(node.i) + ["sh", "-c", f"curl -sfL {headers} '{url}' | sha256sum"]
        procs.append(subprocess.Popen(command, stdout=subprocess.PIPE, text=True))
    digests, times = [""] * len(procs), [0.0] * len(procs)

    def finish(i):
        out, _ = procs[i].communicate(timeout=600)
        digests[i], times[i] = (out.split()[0] if out else ""), time.monotonic() - start
    waiters = [threading.Thread(target=finish, args=(i,)) for i in range(len(procs))]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    return sorted(times), digests


def peer_uploads(fleet):
    """Each node's bytes of pieces sent to peers so far (-1 where a build does not count them)."""
    def sent(node):
        try:
            return node.get("/api/assets").get("bytes_to_peers", -1)
        except Exception:  # noqa: BLE001 - a node that does not answer counts as unknown
            return -1
    return [sent(node) for node in fleet.nodes]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--link", type=int, default=1000, help="each node's link, Mbit/s")
    parser.add_argument("--cap", type=int, default=400, help="the objects host's egress, Mbit/s")
    args = parser.parse_args()
    use_ns = os.geteuid() == 0 and harness.namespaces_work()
    net = harness.Namespaces(args.nodes) if use_ns else harness.Loopback(args.nodes)
    workdir = tempfile.mkdtemp(prefix="peercache-assets-")
    fleet = None
    try:
        net.setup()
        if use_ns:
            cap(net, args.link, args.cap)
        api, objects, state = releases(net.harness_ip)
        api_url = f"http://{net.harness_ip}:{api.server_address[1]}"
        extra = ["--asset-hosts", f"{net.harness_ip}:{objects.server_address[1]}"]
        fleet = harness.Fleet(argparse.Namespace(bin=args.bin, nodes=args.nodes), net, workdir, extra=extra)
        fleet.upstream = api_url
        fleet.start()
        harness.wait("the fleet meshed", fleet.fully_connected, 120)
        size = args.size_mib * 1024 * 1024
        rows = {mode: {"secs": [], "sent": []} for mode in ("peercache", "direct", "alone")}
        loads = []
        auth = "-H 'Authorization: token ghs_bench'"
        for r in range(args.rounds):
            order = ("peercache", "direct") if r % 2 == 0 else ("direct", "peercache")
            for mode in order + ("alone",):
                asset_id = 1000 + 3 * r + ("peercache", "direct", "alone").index(mode)
                body = random.Random(asset_id).randbytes(size)
                state["assets"][asset_id] = body
                want = hashlib.sha256(body).hexdigest()
                before = state["sent"]
                state["gets"].clear()
                if mode == "peercache":
                    urls = [f"{node.url}/github/repos/o/r/releases/assets/{asset_id}" for node in fleet.nodes]
                elif mode == "direct":
                    urls = [f"{api_url}/repos/o/r/releases/assets/{asset_id}"] * len(fleet.nodes)
                else:
                    urls = [f"{api_url}/repos/o/r/releases/assets/{asset_id}"]
                sent_to_peers = peer_uploads(fleet)
                times, digests = fetch_all(fleet, urls, auth + " -H 'Accept: application/octet-stream'")
                secs = times[-1]
                assert all(d == want for d in digests), f"{mode}: {sum(d == want for d in digests)} of {len(digests)} copies whole"
                rows[mode]["secs"].append(secs)
                rows[mode]["sent"].append((state["sent"] - before) / size)
                gets = list(state["gets"])
                if mode == "peercache":
                    whole = sum(first == 0 for first in gets)
                    print(f"round {r + 1}: the nodes held it after {', '.join(f'{t:.2f}' for t in times)} s",
                          flush=True)
                    print(f"round {r + 1}: the objects host had {whole} requests from the start "
                          f"and {len(gets) - whole} resuming part way", flush=True)
                    counted = peer_uploads(fleet)
                    uploads = sorted(after - before for after, before in zip(counted, sent_to_peers))
                    if min(counted + sent_to_peers) >= 0:
                        print(f"round {r + 1}: pieces sent to peers, as multiples of the asset: the most by one node "
                              f"{uploads[-1] / size:.2f}x, the median node {statistics.median(uploads) / size:.2f}x",
                              flush=True)
                del state["assets"][asset_id]
            loads.append(os.getloadavg()[0])
            print(f"round {r + 1}: peercache {rows['peercache']['secs'][-1]:.2f} s, "
                  f"direct {rows['direct']['secs'][-1]:.2f} s, one node alone {rows['alone']['secs'][-1]:.2f} s, "
                  f"load average {loads[-1]:.2f}", flush=True)
        network = (f"netns, links {args.link} Mbit/s, objects host {args.cap} Mbit/s" if use_ns
                   else "loopback, no caps")
        print(f"{args.nodes} nodes, one {args.size_mib} MiB asset each round, {args.rounds} rounds, {network}")
        print(f"{'mode':<10} {'all hold it (s)':<24} {'objects host sent (x asset)':<28}")
        for mode, row in rows.items():
            print(f"{mode:<10} {harness.spread(row['secs'], 2):<24} {harness.spread(row['sent'], 2):<28}")
        slowest = statistics.median(rows['peercache']['secs']) / statistics.median(rows['alone']['secs'])
        print(f"the slowest node with peercache, against one node downloading alone (median): {slowest:.2f}x")
        print(f"speed-up (median): {statistics.median(rows['direct']['secs']) / statistics.median(rows['peercache']['secs']):.2f}x")
        print(f"load average during the rounds: {harness.spread(loads)}")
    finally:
        if fleet:
            fleet.stop()
        net.teardown()
        subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    main()
