#!/usr/bin/env python3
"""Confirmed sharing, measured: CI jobs with a token each.

Two fleets of N nodes run side by side on loopback, one with confirmed
sharing (`--confirm cross-scope`, the default) and one without (`--confirm
off`: each token fetches its own, as every release before it did), each with
its own swarm key and its own GitHub stand-in, which computes ETags as
github.com does and counts 304s apart (GitHub does not charge them). A round
runs the CI workload on a fleet: every node runs JOBS jobs one after another,
each job with a token of its own, each job GETs PER_JOB keys drawn Zipf-like
from KEYS (fresh keys every round, so each round starts cold). The fleets
take turns, ROUNDS rounds each, alternating which goes first. Then, on the
sharing fleet, the latency a confirmation adds: a key fetched on node 0 is
asked on node 1 with the same token (PEER-HIT, the body arrived by gossip)
and with another token (CONFIRMED), alternating, SAMPLES times.

Run: python3 server/benches/fleet_tokens.py --bin PATH [--nodes 8] [--rounds 3]
Prints, per mode, the median and spread (min..max over rounds) of: charged
calls per distinct key, free calls (304s), request p50 and p99 in ms; then
PEER-HIT against CONFIRMED p50 and p99, and the machine's load average.
"""

import argparse
import concurrent.futures
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fleet"))
import fleet as harness  # noqa: E402

JOBS = 4
PER_JOB = 40
KEYS = 60
SAMPLES = 200


def get(node, path, token):
    request = urllib.request.Request(node.url + "/github" + path, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
        return response.headers.get("X-Peercache", "")


def zipf_draws(rng):
    weights = [1.0 / rank for rank in range(1, KEYS + 1)]
    return rng.choices(range(KEYS), weights=weights, k=PER_JOB)


def workload(fleet, tag, seed):
    """Every node runs its jobs one after another, all nodes at once: the
    charged and free calls, the distinct keys asked and every request's time."""
    before = (fleet.upstream_counts["requests"], fleet.upstream_counts["free"])
    rng = random.Random(seed)
    plans = [[(f"ghs_{tag}_{n}_{j}", zipf_draws(rng)) for j in range(JOBS)] for n in range(len(fleet.nodes))]
    keys = {k for plan in plans for _, draws in plan for k in draws}

    def runner(n):
        times = []
        for token, draws in plans[n]:
            for k in draws:
                start = time.monotonic()
                get(fleet.nodes[n], f"/users/{tag}-u{k}", token)
                times.append(time.monotonic() - start)
        return times

    with concurrent.futures.ThreadPoolExecutor(len(fleet.nodes)) as pool:
        times = [t for ts in pool.map(runner, range(len(fleet.nodes))) for t in ts]
    requests = fleet.upstream_counts["requests"] - before[0]
    free = fleet.upstream_counts["free"] - before[1]
    return requests - free, free, len(keys), times


def confirmation_cost(fleet):
    """PEER-HIT against CONFIRMED answer times on node 1 (ms lists)."""
    peer_hits, confirmed = [], []
    for i in range(SAMPLES):
        path = f"/users/latency-{i}"
        assert get(fleet.nodes[0], path, "ghs_fetcher") == "MISS"
        harness.wait("the entry on node 1", lambda: fleet.nodes[1].count(f"github:GET:{path}") >= 1, 10)
        order = [("ghs_fetcher", peer_hits, "PEER-HIT"), (f"ghs_other_{i}", confirmed, "CONFIRMED")]
        if i % 2:
            order.reverse()
        for token, samples, want in order:
            start = time.monotonic()
            mode = get(fleet.nodes[1], path, token)
            samples.append((time.monotonic() - start) * 1000)
            assert mode == want, f"{path} with {token}: {mode}, not {want}"
    return peer_hits, confirmed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    fleets, workdirs = {}, []
    try:
        for mode in ("cross-scope", "off"):
            workdir = tempfile.mkdtemp(prefix=f"peercache-tokens-{mode}-")
            workdirs.append(workdir)
            fleet = harness.Fleet(argparse.Namespace(bin=args.bin, nodes=args.nodes), harness.Loopback(args.nodes),
                                  workdir, extra=["--confirm", mode])
            fleets[mode] = fleet
            fleet.start()
        for mode, fleet in fleets.items():
            harness.wait(f"the {mode} fleet meshed", fleet.fully_connected, 120)
        rows = {mode: {"per_key": [], "free": [], "p50": [], "p99": []} for mode in fleets}
        loads = []
        for r in range(args.rounds):
            order = ("cross-scope", "off") if r % 2 == 0 else ("off", "cross-scope")
            for mode in order:
                charged, free, keys, times = workload(fleets[mode], f"r{r}{mode[0]}", seed=r)
                row = rows[mode]
                row["per_key"].append(charged / keys)
                row["free"].append(free)
                row["p50"].append(harness.pct(times, 0.5) * 1000)
                row["p99"].append(harness.pct(times, 0.99) * 1000)
            loads.append(os.getloadavg()[0])
            print(f"round {r + 1}: load average {loads[-1]:.2f}", flush=True)
        print(f"{args.nodes} nodes x {JOBS} jobs x {PER_JOB} GETs over {KEYS} keys, a token per job, {args.rounds} rounds")
        print(f"{'confirm':<12} {'charged calls per key':<24} {'free 304s':<16} {'p50 ms':<22} {'p99 ms':<22}")
        for mode in ("cross-scope", "off"):
            row = rows[mode]
            print(f"{mode:<12} {harness.spread(row['per_key']):<24} {harness.spread(row['free']):<16} "
                  f"{harness.spread(row['p50']):<22} {harness.spread(row['p99']):<22}", flush=True)
        peer_hits, confirmed = confirmation_cost(fleets["cross-scope"])
        print(f"PEER-HIT  p50 {statistics.median(peer_hits):.2f} ms, p99 {harness.pct(peer_hits, 0.99):.2f} ms ({SAMPLES} samples)")
        print(f"CONFIRMED p50 {statistics.median(confirmed):.2f} ms, p99 {harness.pct(confirmed, 0.99):.2f} ms ({SAMPLES} samples)")
        print(f"load average during the rounds: {harness.spread(loads)}")
    finally:
        for fleet in fleets.values():
            fleet.stop()
        for workdir in workdirs:
            subprocess.run(["rm", "-rf", workdir])


if __name__ == "__main__":
    main()
