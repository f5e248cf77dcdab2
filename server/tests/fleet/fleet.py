#!/usr/bin/env python3
"""The fleet harness: N real `peercache serve` processes, each in its own
network namespace with its own IP (or, where namespaces cannot be made, all on
127.0.0.1), and the scenarios a real fleet meets:

  delivery   every node active, then entries put on random nodes, timed until
             they are listed on every node (put -> visible on all);
  partition  half the fleet cut off from the other half, entries put on both
             sides, the cut healed: every entry on every node (namespaces only);
  kill       nodes killed with SIGKILL while entries are being put, then
             restarted: no acknowledged entry lost, the restarted nodes rejoin
             and catch up;
  soak       a steady rate of GitHub requests through the proxy of several
             nodes: no errors, resident memory flat.

Namespaces: a router namespace with a point-to-point link to each node, the
two halves of the fleet in 10.X.1.0/24 and 10.X.2.0/24, routed to each other
and to the harness (10.X.0.1); a partition is an `ip rule ... prohibit` between the halves in the
router, healed by deleting it. A GitHub-like stand-in runs in the harness.

Usage: fleet.py --bin PATH [--nodes N] [--short] [--net auto|netns|loopback]
                [--scenarios delivery,partition,kill,soak] [--soak-secs S]
Exit status 0 when every scenario met its bound; the figures are printed as a
table (for BENCHMARKS.md). With FLEET_LOG_DIR set, each node's log goes to
FLEET_LOG_DIR/node-I.log at the level FLEET_RUST_LOG names (default warn);
otherwise nodes log nowhere.
"""

import argparse
import concurrent.futures
import http.server
import hashlib
import json
import os
import random
import signal
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

TOKEN = "fleet-admin-token"


def now():
    return time.monotonic()


def sh(*args, check=True):
    return subprocess.run(args, check=check, capture_output=True, text=True)


def wait(what, probe, timeout):
    """The one way this harness waits: until probe() is truthy, or fail."""
    deadline = now() + timeout
    while True:
        value = probe()
        if value:
            return value
        if now() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


# ---------------------------------------------------------------- the stand-in

class Standin(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def github_etag(headers, body):
    """The ETag github.com gives `body` for a request with `headers`: W/" +
    hex(SHA-256 of the Accept, Authorization and Cookie values present, each
    followed by ':', then the body) + " (undocumented; observed)."""
    digest = hashlib.sha256()
    for name in ("Accept", "Authorization", "Cookie"):
        for value in headers.get_all(name) or []:
            digest.update(value.encode() + b":")
    digest.update(body)
    return 'W/"%s"' % digest.hexdigest()


def standin(host, slow=None):
    """A GitHub-like server: JSON with an ETag computed as github.com computes
    it, 304 when If-None-Match lists it (counted apart: GitHub does not
    charge it), counted in all and per path. Paths containing `slow[0]` are
    answered after `slow[1]` seconds, as a busy GitHub would."""
    counts = {"requests": 0, "free": 0, "paths": {}}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without this, Nagle's
        # algorithm and the client's delayed ACK add 40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, *args):
            pass

        def do_GET(self):
            with lock:
                counts["requests"] += 1
                counts["paths"][self.path] = counts["paths"].get(self.path, 0) + 1
            if slow and slow[0] in self.path:
                time.sleep(slow[1])
            body = json.dumps({"url": f"http://{host}:{server.server_address[1]}{self.path}", "path": self.path}).encode()
            etag = github_etag(self.headers, body)
            offered = [tag.strip().removeprefix("W/") for tag in (self.headers.get("If-None-Match") or "").split(",")]
            if etag.removeprefix("W/") in offered:
                with lock:
                    counts["free"] += 1
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("ETag", etag)
            self.send_header("Cache-Control", "private, max-age=60")
            self.send_header("X-RateLimit-Limit", "5000")
            self.send_header("X-RateLimit-Remaining", "4999")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = Standin((host, 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counts


# ------------------------------------------------------------------- networks

class Loopback:
    """Every node on 127.0.0.1 with OS-chosen ports: no partitions."""

    partitions = False
    harness_ip = "127.0.0.1"

    def __init__(self, nodes):
        self.nodes = nodes

    def ip(self, i):
        return "127.0.0.1"

    def prefix(self, i):
        return []

    def setup(self):
        pass

    def teardown(self):
        pass


class Namespaces:
    """A namespace per node, its own IP, two halves behind one router."""

    partitions = True

    def __init__(self, nodes):
        self.nodes = nodes
        tag = os.getpid() % 1000
        self.tag = f"pcf{tag}"
        self.net = f"10.{64 + tag % 64}"
        self.router = f"{self.tag}r"
        self.harness_ip = f"{self.net}.0.1"
        self.made = []

    def half(self, i):
        return 1 if i < (self.nodes + 1) // 2 else 2

    def ip(self, i):
        return f"{self.net}.{self.half(i)}.{i + 1}"

    def prefix(self, i):
        return ["ip", "netns", "exec", f"{self.tag}n{i}"]

    def setup(self):
        r = self.router
        sh("ip", "netns", "add", r)
        self.made.append(("netns", r))
        sh("ip", "-n", r, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # The harness's link to the router.
        sh("ip", "link", "add", f"{self.tag}h", "type", "veth", "peer", "name", f"{self.tag}hr")
        self.made.append(("link", f"{self.tag}h"))
        sh("ip", "link", "set", f"{self.tag}hr", "netns", r)
        sh("ip", "addr", "add", f"{self.harness_ip}/30", "dev", f"{self.tag}h")
        sh("ip", "link", "set", f"{self.tag}h", "up")
        sh("ip", "-n", r, "addr", "add", f"{self.net}.0.2/30", "dev", f"{self.tag}hr")
        sh("ip", "-n", r, "link", "set", f"{self.tag}hr", "up")
        # Routed, not bridged: each node's link is a point-to-point veth to
        # the router, which holds the gateway address on every one of them.
        # A node then has one ARP neighbour (the router) and the router one
        # per node; on a shared bridge each node would keep an entry for
        # every node of its half, and at 50 nodes the kernel's ARP table
        # (gc_thresh3 = 1024 entries, shared by all namespaces) overflows:
        # "No route to host" for whoever comes last.
        gateway = f"{self.net}.255.254"
        for half in (1, 2):
            sh("ip", "route", "add", f"{self.net}.{half}.0/24", "via", f"{self.net}.0.2")
            self.made.append(("route", f"{self.net}.{half}.0/24"))
        for i in range(self.nodes):
            ns = f"{self.tag}n{i}"
            sh("ip", "netns", "add", ns)
            self.made.append(("netns", ns))
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", r, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            sh("ip", "-n", r, "addr", "add", f"{gateway}/32", "dev", f"v{i}")
            sh("ip", "-n", r, "link", "set", f"v{i}", "up")
            sh("ip", "-n", r, "route", "add", f"{self.ip(i)}/32", "dev", f"v{i}")
            sh("ip", "-n", ns, "addr", "add", f"{self.ip(i)}/32", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "route", "add", gateway, "dev", "eth0")
            sh("ip", "-n", ns, "route", "add", "default", "via", gateway, "dev", "eth0")

    def partition(self):
        for a, b in ((1, 2), (2, 1)):
            sh("ip", "-n", self.router, "rule", "add", "from", f"{self.net}.{a}.0/24", "to", f"{self.net}.{b}.0/24", "prohibit", "pref", "100")

    def heal(self):
        for a, b in ((1, 2), (2, 1)):
            sh("ip", "-n", self.router, "rule", "del", "from", f"{self.net}.{a}.0/24", "to", f"{self.net}.{b}.0/24", "prohibit", "pref", "100", check=False)

    def teardown(self):
        for kind, name in reversed(self.made):
            if kind == "netns":
                sh("ip", "netns", "del", name, check=False)
            elif kind == "link":
                sh("ip", "link", "del", name, check=False)
            elif kind == "route":
                sh("ip", "route", "del", name, check=False)


def namespaces_work():
    probe = f"pcfprobe{os.getpid() % 1000}"
    ok = sh("ip", "netns", "add", probe, check=False).returncode == 0
    if ok:
        sh("ip", "netns", "del", probe, check=False)
    return ok


# ---------------------------------------------------------------------- nodes

class Node:
    def __init__(self, fleet, i):
        self.fleet, self.i = fleet, i
        self.dir = os.path.join(fleet.workdir, f"node{i}")
        self.proc = None
        self.url = None
        self.ip = fleet.net.ip(i)
        self.max_entries = 100000

    def start(self, bootstrap=""):
        os.makedirs(self.dir, exist_ok=True)
        net = self.fleet.net
        loop = isinstance(net, Loopback)
        http = "127.0.0.1:0" if loop else f"{self.ip}:8899"
        if not loop and self.url:
            http = self.url.split("//")[1]
        p2p_port = "0" if loop else "9100"
        args = net.prefix(self.i) + [
            self.fleet.bin, "serve", "--http", http, "--cache-dir", self.dir,
            "--p2p-host", self.ip, "--p2p-port", p2p_port, "--bootstrap", bootstrap,
            "--github-api-url", self.fleet.upstream, "--max-entries", str(self.max_entries),
        ] + self.fleet.extra
        env = dict(os.environ, RUST_LOG=os.environ.get("FLEET_RUST_LOG", "warn"), PEERCACHE_ADMIN_TOKEN=TOKEN,
                   PEERCACHE_PUBLIC_NAMES=self.ip, CACHE_SWARM_KEY=self.fleet.swarm_key)
        env.pop("CACHE_BOOTSTRAP_PEERS", None)
        logs = os.environ.get("FLEET_LOG_DIR")
        stderr = open(os.path.join(logs, f"node-{self.i}.log"), "a") if logs else subprocess.DEVNULL
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        if logs:
            stderr.close()
        line = self.proc.stdout.readline()
        if "listening on " not in line:
            raise AssertionError(f"node {self.i} did not start: {line!r}")
        self.url = line.split("listening on ")[1].strip()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def get(self, path, timeout=5):
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            return json.loads(response.read())

    def put(self, key, value):
        request = urllib.request.Request(
            f"{self.url}/api/cache/entry?key={key}&ttl=3600", data=json.dumps(value).encode(), method="PUT",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status == 201

    def peers(self):
        try:
            return self.get("/api/mcp/peers")
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def count(self, prefix):
        try:
            return self.get(f"/api/cache/entries?prefix={prefix}&limit=1")["total"]
        except (urllib.error.URLError, OSError, ValueError, KeyError):
            return -1

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_ticks(self):
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])


def has_gh_socket(binary):
    """Whether `binary serve` has a gh socket (the first release has none:
    the harness runs it too, for comparison)."""
    return "--gh-socket" in sh(binary, "serve", "--help").stdout


class Fleet:
    def __init__(self, args, net, workdir, slow=None, extra=()):
        self.args, self.net, self.workdir = args, net, workdir
        self.bin = os.path.abspath(args.bin)
        # No gh socket (the nodes would share one path); then what a caller adds.
        self.extra = (["--gh-socket", ""] if has_gh_socket(self.bin) else []) + list(extra)
        self.swarm_key = os.path.join(workdir, "swarm.key")
        with open(self.swarm_key, "w") as key:
            key.write("/key/swarm/psk/1.0.0/\n/base16/\n" + "%064x\n" % random.getrandbits(256))
        os.chmod(self.swarm_key, 0o600)
        self.upstream_server, self.upstream_counts = standin(net.harness_ip, slow)
        self.upstream = f"http://{net.harness_ip}:{self.upstream_server.server_address[1]}"
        self.nodes = [Node(self, i) for i in range(args.nodes)]
        self.bootstrap = ""

    def start(self):
        first = self.nodes[0]
        first.start()
        self.bootstrap = wait("node 0's address", lambda: ((first.peers() or {}).get("listen_addrs") or [None])[0], 30)
        for node in self.nodes[1:]:
            node.start(self.bootstrap)

    def alive(self):
        return [n for n in self.nodes if n.alive()]

    def all_active(self):
        """Every node active and in the announcement mesh: connected, with at
        least one gossip mesh peer (a release without gossip health: at least
        one peer). Not every node connected to every other: past about 40
        nodes each node holds the peers its DHT routing table keeps (20 per
        bucket) and those that dialled it, and gossip carries entries across
        the mesh in a few hops."""
        def active(status):
            if status.get("state") != "active":
                return False
            gossip = status.get("gossip")
            return gossip["mesh_peers"] >= 1 if gossip else status.get("peer_count", 0) >= 1
        return all(active(n.peers() or {}) for n in self.nodes)

    def fully_connected(self):
        """Every node connected to every other (a small fleet: the DHT meshes it)."""
        want = len(self.nodes) - 1
        return all((n.peers() or {}).get("peer_count", 0) >= want for n in self.nodes)

    def peer_counts(self):
        return sorted((n.peers() or {}).get("peer_count", 0) for n in self.nodes)

    def everywhere(self, prefix, count, nodes=None):
        return all(n.count(prefix) >= count for n in (nodes or self.nodes))

    def last_arrival(self, prefix, since, timeout):
        """Seconds from `since` until `prefix` was listed on the last node to
        get it. The nodes are asked at once (a thread each, up to 32), each
        until it lists it: asked one after another, 100 nodes took the
        harness seconds to go round, and that time was counted as delivery."""
        pending, last = list(self.nodes), [0.0]

        def ask(node):
            return node, node.count(prefix) >= 1, now()

        def everyone_has_it():
            answers = list(pool.map(ask, pending))
            pending[:] = [node for node, seen, _ in answers if not seen]
            last[0] = max(last + [at - since for _, seen, at in answers if seen])
            return not pending

        with concurrent.futures.ThreadPoolExecutor(min(32, len(pending))) as pool:
            wait(f"{prefix} on every node", everyone_has_it, timeout)
        return last[0]

    def stop(self):
        for node in self.nodes:
            node.stop()
        self.upstream_server.shutdown()


# ------------------------------------------------------------------ scenarios

def pct(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def spread(values, digits=1):
    """Median and min..max of rounds, as BENCHMARKS.md reports them."""
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}..{max(values):.{digits}f})"


def delivery(fleet, report, puts, short):
    started = now()
    fleet.start()
    wait("every node active, in the gossip mesh", fleet.all_active, 120)
    report["all active (s)"] = round(now() - started, 2)
    counts = fleet.peer_counts()
    report["peers per node (min / median)"] = f"{counts[0]} / {statistics.median(counts):g}"
    times = []
    for k in range(puts):
        source = random.choice(fleet.nodes)
        before = now()
        assert source.put(f"probe:{k}", {"k": k, "from": source.i})
        times.append(fleet.last_arrival(f"probe:{k}", before, 30))
    report["put->visible p50 (ms)"] = round(pct(times, 0.5) * 1000, 1)
    report["put->visible p99 (ms)"] = round(pct(times, 0.99) * 1000, 1)
    report["load average (1 min) after the puts"] = round(os.getloadavg()[0], 1)
    report["slowest put (which, of how many)"] = f"{times.index(max(times)) + 1} of {puts}"
    bound = 2.0
    assert pct(times, 0.99) < bound, f"put -> visible on all {len(fleet.nodes)} nodes took {max(times):.2f} s (> {bound} s)"
    # Messages per put: entries each node took from peers, over the puts.
    accepted = sum((n.peers() or {}).get("accepted_from_peers", 0) for n in fleet.nodes)
    report["entries taken per put"] = round(accepted / puts, 1)
    rss = [n.rss_kib() / 1024 for n in fleet.nodes]
    report["RSS per node (MiB, median)"] = round(statistics.median(rss), 1)
    if short:
        return
    ticks = [n.cpu_ticks() for n in fleet.nodes]
    time.sleep(10)  # measuring idle CPU is measuring time passing
    idle = [(n.cpu_ticks() - t) / os.sysconf("SC_CLK_TCK") / 10 * 100 for n, t in zip(fleet.nodes, ticks)]
    report["idle CPU per node (%)"] = round(statistics.median(idle), 2)


def connected_within(side):
    """Whether the nodes of `side` reach each other over links inside it."""
    ids = {}
    for node in side:
        status = node.peers() or {}
        ids[status.get("peer_id")] = {p["peer_id"] for p in status.get("peers", [])}
    start = next(iter(ids))
    seen, todo = {start}, [start]
    while todo:
        for peer in ids.get(todo.pop(), ()):
            if peer in ids and peer not in seen:
                seen.add(peer)
                todo.append(peer)
    return len(seen) == len(side)


def partition(fleet, report):
    if not fleet.net.partitions:
        report["partition heal (s)"] = "not run (no namespaces)"
        return
    half = (len(fleet.nodes) + 1) // 2
    side_a, side_b = fleet.nodes[:half], fleet.nodes[half:]
    # A side can only share within itself if its nodes are linked without the
    # other side: right after start, nodes may know each other only through
    # node 0 (side a) until the DHT has introduced them.
    wait("each side connected within itself", lambda: connected_within(side_a) and connected_within(side_b), 60)
    ids_b = {(n.peers() or {}).get("peer_id") for n in side_b}
    fleet.net.partition()
    cut = now()
    try:
        # Both sides notice: no node has a peer across the cut (the kernel
        # drops a connection whose peer acknowledges nothing for 20 s).
        wait("the cut to show", lambda: all(not ({p["peer_id"] for p in (n.peers() or {}).get("peers", [])} & ids_b) for n in side_a), 60)
        report["partition noticed (s)"] = round(now() - cut, 2)
        for k in range(5):
            assert side_a[k % len(side_a)].put(f"cut:a{k}", {"side": "a"})
            assert side_b[k % len(side_b)].put(f"cut:b{k}", {"side": "b"})
        wait("each side to have its own entries", lambda: fleet.everywhere("cut:a", 5, side_a) and fleet.everywhere("cut:b", 5, side_b), 30)
        assert all(n.count("cut:b") == 0 for n in side_a), "an entry crossed the cut"
    finally:
        fleet.net.heal()
    healed = now()
    wait("every entry everywhere after the heal", lambda: fleet.everywhere("cut:a", 5) and fleet.everywhere("cut:b", 5), 30)
    report["partition heal (s)"] = round(now() - healed, 2)


def kill(fleet, report, victims):
    acknowledged, stop = [], threading.Event()

    def load():
        k = 0
        while not stop.is_set():
            node = random.choice(fleet.nodes)
            try:
                if node.alive() and node.put(f"load:{k}", {"k": k}):
                    acknowledged.append(f"load:{k}")
            except (urllib.error.URLError, OSError):
                pass  # a node being killed: not acknowledged, not counted
            k += 1
            time.sleep(0.02)

    writer = threading.Thread(target=load)
    writer.start()
    try:
        time.sleep(1)  # load before the kills
        killed = random.sample(fleet.nodes[1:], victims)
        for node in killed:
            node.kill()
        time.sleep(1)  # load while they are down
        for node in killed:
            node.start(fleet.bootstrap)
        time.sleep(1)
    finally:
        stop.set()
        writer.join()
    restarted = now()
    wait("the restarted nodes to rejoin", fleet.all_active, 60)
    missing = lambda: [(n.i, key) for n in fleet.nodes for key in acknowledged[-50:] if n.count(key) < 1]
    wait("every acknowledged entry on every node", lambda: not missing(), 60)
    for node in fleet.nodes:
        total = node.count("load:")
        assert total >= len(acknowledged), f"node {node.i} has {total} of {len(acknowledged)} acknowledged entries"
    report["kill -9 rejoin + catch-up (s)"] = round(now() - restarted, 2)
    report["acknowledged puts, none lost"] = len(acknowledged)


def soak(fleet, report, seconds):
    serving = fleet.nodes[: min(4, len(fleet.nodes))]
    errors, done, stop = [], [0], threading.Event()

    def client(node):
        k = 0
        while not stop.is_set():
            path = f"/github/repos/octo/r{k % 100}"
            try:
                with urllib.request.urlopen(node.url + path, timeout=10) as response:
                    response.read()
                done[0] += 1
            except Exception as error:  # every failure is a finding
                errors.append(f"{node.i} {path}: {error}")
            k += 1
            time.sleep(0.01)

    threads = [threading.Thread(target=client, args=(n,)) for n in serving]
    for thread in threads:
        thread.start()
    samples, started = [], now()
    try:
        while now() - started < seconds:
            time.sleep(min(10, seconds / 6))
            samples.append(statistics.median(n.rss_kib() / 1024 for n in serving))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    report["soak requests"] = done[0]
    report["soak errors"] = len(errors)
    report["soak RSS (MiB, median node)"] = " ".join(f"{s:.1f}" for s in samples)
    assert not errors, f"{len(errors)} errors, e.g. {errors[:3]}"
    warm = samples[1] if len(samples) > 2 else samples[0]
    growth = (samples[-1] - warm) / warm
    report["soak RSS growth"] = f"{growth * 100:.1f} %"
    assert growth < 0.10, f"RSS grew {growth * 100:.1f} % over the soak"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--short", action="store_true", help="the minute-long version `make test` runs")
    parser.add_argument("--net", choices=["auto", "netns", "loopback"], default="auto")
    parser.add_argument("--scenarios", default="delivery,partition,kill,soak")
    parser.add_argument("--soak-secs", type=int, default=600)
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    use_ns = args.net == "netns" or (args.net == "auto" and os.geteuid() == 0 and namespaces_work())
    net = Namespaces(args.nodes) if use_ns else Loopback(args.nodes)
    report = {"nodes": args.nodes, "network": "netns, an IP each" if use_ns else "loopback, one IP"}
    workdir = tempfile.mkdtemp(prefix="peercache-fleet-")
    fleet = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        net.setup()
        fleet = Fleet(args, net, workdir)
        delivery(fleet, report, 10 if args.short else 30, args.short)
        if "partition" in scenarios:
            partition(fleet, report)
        if "kill" in scenarios:
            kill(fleet, report, 2 if args.short else max(2, args.nodes // 10))
        if "soak" in scenarios:
            soak(fleet, report, 20 if args.short else args.soak_secs)
        ok = True
    except AssertionError as failure:
        report["FAILED"] = str(failure)
        ok = False
    finally:
        if fleet:
            fleet.stop()
        net.teardown()
        subprocess.run(["rm", "-rf", workdir])
    width = max(len(k) for k in report)
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
