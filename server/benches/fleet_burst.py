#!/usr/bin/env python3
"""Fleet-wide single flight, measured: a matrix build's burst.

For each N, two fleets of N nodes run side by side on loopback, one with
fleet-wide single flight (the default) and one with `--fleet-single-flight
false`, each with its own swarm key and its own GitHub stand-in that answers
the burst's path after 200 ms. A round sends one GET of a fresh key to every
node of a fleet at once (one token, released together by a barrier), and
counts the stand-in's calls for that key and each client's wait. The two
fleets take turns, ROUNDS rounds each, alternating which goes first. Then a
run of MISSes on one node (distinct keys, answered at once) gives what the
lease round trip adds to a MISS with peers.

Run: python3 server/benches/fleet_burst.py --bin PATH [--nodes 2,5,10,20] [--rounds 5]
Prints, per N and mode, the median and spread (min..max over rounds) of:
upstream calls per burst, the burst's p50 and p99 answer time, the time from
the first client's send to the last's (the burst's width), and the MISS p50.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fleet"))
import fleet as harness  # noqa: E402

TOKEN = "ghp_burst_bench_token"
UPSTREAM_SECONDS = 0.2
MISSES = 20


def get(node, path):
    request = urllib.request.Request(node.url + "/github" + path, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.headers.get("X-Peercache", "")


def burst(fleet, path):
    """Every node asked for `path` at once: (upstream calls, waits, width, modes)."""
    nodes = fleet.nodes
    barrier = threading.Barrier(len(nodes))
    sent, waits, modes, errors = [0.0] * len(nodes), [0.0] * len(nodes), [""] * len(nodes), []

    def client(i):
        barrier.wait()
        sent[i] = time.monotonic()
        try:
            modes[i] = get(nodes[i], path)
        except Exception as error:  # a failed client is a finding, not a figure
            errors.append(f"node {i}: {error}")
        waits[i] = time.monotonic() - sent[i]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(nodes))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise AssertionError(f"burst on {path}: {errors}")
    calls = fleet.upstream_counts["paths"].get(path, 0)
    return calls, waits, max(sent) - min(sent), modes


def misses(fleet, tag):
    """MISS answer times on node 0, one key after another."""
    times = []
    for j in range(MISSES):
        before = time.monotonic()
        mode = get(fleet.nodes[0], f"/repos/octo/miss-{tag}-{j}")
        assert mode == "MISS", f"expected a MISS, got {mode!r}"
        times.append(time.monotonic() - before)
    return statistics.median(times)


def measure(args, n):
    fleets = {}
    workdirs = []
    try:
        for mode, extra in (("on", []), ("off", ["--fleet-single-flight", "false"])):
            workdir = tempfile.mkdtemp(prefix=f"peercache-burst-{mode}-")
            workdirs.append(workdir)
            net = harness.Loopback(n)
            fleet = harness.Fleet(argparse.Namespace(bin=args.bin, nodes=n), net, workdir,
                                  slow=("burst", UPSTREAM_SECONDS), extra=extra)
            fleets[mode] = fleet
            fleet.start()
        for mode, fleet in fleets.items():
            harness.wait(f"the {mode} fleet meshed", fleet.fully_connected, 120)
        rows = {mode: {"calls": [], "p50": [], "p99": [], "width": [], "miss": []} for mode in fleets}
        for r in range(args.rounds):
            order = ("on", "off") if r % 2 == 0 else ("off", "on")
            for mode in order:
                fleet = fleets[mode]
                calls, waits, width, _ = burst(fleet, f"/repos/octo/burst-{n}-{r}")
                row = rows[mode]
                row["calls"].append(calls)
                row["p50"].append(harness.pct(waits, 0.5) * 1000)
                row["p99"].append(harness.pct(waits, 0.99) * 1000)
                row["width"].append(width * 1000)
                row["miss"].append(misses(fleet, f"{n}-{r}") * 1000)
        return rows
    finally:
        for fleet in fleets.values():
            fleet.stop()
        for workdir in workdirs:
            subprocess.run(["rm", "-rf", workdir])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--nodes", default="2,5,10,20")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'N':>3} {'single flight':<14} {'upstream calls':<16} {'burst p50 ms':<22} {'burst p99 ms':<22} "
          f"{'burst width ms':<16} {'MISS p50 ms':<16}")
    for n in (int(x) for x in args.nodes.split(",")):
        rows = measure(args, n)
        for mode in ("on", "off"):
            row = rows[mode]
            calls = f"{statistics.median(row['calls']):g} ({min(row['calls'])}..{max(row['calls'])})"
            print(f"{n:>3} {mode:<14} {calls:<16} {harness.spread(row['p50']):<22} {harness.spread(row['p99']):<22} "
                  f"{harness.spread(row['width']):<16} {harness.spread(row['miss']):<16}", flush=True)


if __name__ == "__main__":
    main()
