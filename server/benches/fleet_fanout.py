#!/usr/bin/env python3
"""Bounded fan-out on a miss, measured: what asking a few peers chosen by the
key costs in hit rate and gains in messages, against asking every peer.

Two fleets of N nodes run side by side on loopback (own swarm keys): one with
the default `--peer-fanout 3`, one with `--peer-fanout 0` (ask every connected
peer at once). In each, a third of the nodes keep every entry and the others
keep only the last 10 (`--max-entries 10`), as a fleet of big servers and
small runners would. A round puts 100 fresh entries on a big node, waits
until every big node holds them, then looks each of the first 90 up on a small
node (`GET /api/cache/entry`): none is in its own cache, so each lookup is
answered by a peer (a hit) or by nobody within the peer timeout (a miss). The
two fleets take turns, ROUNDS rounds each, alternating which goes first.

Run: python3 server/benches/fleet_fanout.py --bin PATH [--nodes 10,25] [--rounds 3]
Prints, per N and fan-out, the median and spread (min..max over rounds) of
the hit rate, the lookup's p50 and p99, and fetch requests served per lookup.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fleet"))
import fleet as harness  # noqa: E402

PUTS, LOOKUPS, SMALL_ENTRIES = 100, 90, 10


def lookup(node, key):
    """(found at a peer, seconds)."""
    before = time.monotonic()
    try:
        with urllib.request.urlopen(f"{node.url}/api/cache/entry?key={key}", timeout=30) as response:
            response.read()
            found = response.status == 200
    except urllib.error.HTTPError as error:
        if error.code != 404:
            raise
        found = False
    return found, time.monotonic() - before


def served(fleet):
    """Fetch requests the fleet's nodes have answered so far."""
    return sum((n.peers() or {}).get("fetches_served", 0) for n in fleet.nodes)


def start(args, n, fanout, workdirs):
    workdir = tempfile.mkdtemp(prefix=f"peercache-fanout-{fanout}-")
    workdirs.append(workdir)
    fleet = harness.Fleet(argparse.Namespace(bin=args.bin, nodes=n), harness.Loopback(n), workdir,
                          extra=["--peer-fanout", str(fanout)])
    big = max(1, n // 3)
    for node in fleet.nodes[big:]:
        node.max_entries = SMALL_ENTRIES
    fleet.start()
    return fleet, fleet.nodes[:big], fleet.nodes[big:]


def measure(args, n):
    fleets, workdirs = {}, []
    try:
        for fanout in (3, 0):
            fleets[fanout] = start(args, n, fanout, workdirs)
        for fanout, (fleet, _, _) in fleets.items():
            harness.wait(f"the fan-out {fanout} fleet meshed", fleet.fully_connected, 120)
        rows = {f: {"hit": [], "p50": [], "p99": [], "served": []} for f in fleets}
        for r in range(args.rounds):
            for fanout in ((3, 0) if r % 2 == 0 else (0, 3)):
                fleet, big, small = fleets[fanout]
                prefix = f"fan{r}x"
                for k in range(PUTS):
                    assert big[0].put(f"{prefix}{k:03}", {"k": k, "pad": "x" * 200})
                harness.wait("the big nodes hold the round's entries",
                             lambda: fleet.everywhere(prefix, PUTS, big), 60)
                asker = small[r % len(small)]
                before = served(fleet)
                answers = [lookup(asker, f"{prefix}{k:03}") for k in range(LOOKUPS)]
                row = rows[fanout]
                row["hit"].append(100 * sum(found for found, _ in answers) / LOOKUPS)
                row["p50"].append(harness.pct([t for _, t in answers], 0.5) * 1000)
                row["p99"].append(harness.pct([t for _, t in answers], 0.99) * 1000)
                row["served"].append((served(fleet) - before) / LOOKUPS)
        return rows
    finally:
        for fleet, _, _ in fleets.values():
            fleet.stop()
        for workdir in workdirs:
            subprocess.run(["rm", "-rf", workdir])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--nodes", default="10,25")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{'N':>3} {'fan-out':<8} {'hit rate %':<20} {'lookup p50 ms':<20} {'lookup p99 ms':<22} "
          f"{'fetches served per lookup':<24}")
    for n in (int(x) for x in args.nodes.split(",")):
        rows = measure(args, n)
        for fanout in (3, 0):
            row = rows[fanout]
            label = "3" if fanout else "0 (all)"
            print(f"{n:>3} {label:<8} {harness.spread(row['hit']):<20} {harness.spread(row['p50']):<20} "
                  f"{harness.spread(row['p99']):<22} {harness.spread(row['served'], 2):<24}", flush=True)


if __name__ == "__main__":
    main()
