#!/usr/bin/env python3
"""What a node costs its runner, against a reference build in the same run.

Idle: a private swarm of N nodes on loopback (default 40) is started and
waited for until every node is active; then each node's CPU time over IDLE
seconds (as % of one core) is read from /proc twice: from SETTLE seconds
after that (the fleet still forming: the DHT's first refreshes, the mesh
grafted, first summaries) and from SETTLED seconds after it (a fleet left
alone), and its RSS at the end; beside them, the whole machine's busy time
over the window divided by N (the kernel's work for the nodes included). Memory: one node takes ANSWERS distinct
GitHub answers through /github from the harness's stand-in (small JSON
bodies, GitHub's headers), then its RSS is read at once and after 15 s
idle, beside what the cache holds (`total_size_bytes`).

The build under test and the reference (`--ref-bin`, e.g. the previous
release) take turns, ROUNDS rounds each, alternating which goes first.

Run: python3 server/benches/node_cost.py --bin PATH --ref-bin PATH [--nodes 40] [--rounds 3] [--answers 0]
(`--answers 0` leaves the memory scenario out.)
Prints, per build, the median and spread (min..max over rounds) of: the
median and the highest node's idle CPU % in each window, the median and highest idle RSS,
and in the memory scenario RSS, stored bytes and RSS per answer; then the
machine's load average.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "fleet"))
import fleet as harness  # noqa: E402

SETTLE = 10
SETTLED = 100
IDLE = 60
TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_ticks():
    """The whole machine's busy CPU time (every core, user, system, interrupts;
    not idle or iowait): work the kernel does for the nodes outside their own
    accounting, such as answering TCP keepalive probes, shows here."""
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    return sum(fields) - fields[3] - fields[4]


def idle_round(binary, nodes):
    args = argparse.Namespace(bin=binary, nodes=nodes)
    with tempfile.TemporaryDirectory() as workdir:
        fleet = harness.Fleet(args, harness.Loopback(nodes), workdir)
        try:
            fleet.start()
            harness.wait("every node active", fleet.all_active, 180)
            active = time.monotonic()
            figures = {}
            for name, settle in (("forming", SETTLE), ("settled", SETTLED)):
                # Measurement windows, not waits for a condition.
                time.sleep(max(0.0, active + settle - time.monotonic()))
                before = [n.cpu_ticks() for n in fleet.nodes]
                busy = machine_busy_ticks()
                started = time.monotonic()
                time.sleep(IDLE)
                seconds = time.monotonic() - started
                busy = machine_busy_ticks() - busy
                cpu = [100.0 * (n.cpu_ticks() - b) / TICKS / seconds for n, b in zip(fleet.nodes, before)]
                figures[f"cpu {name} median %"] = statistics.median(cpu)
                figures[f"cpu {name} max %"] = max(cpu)
                figures[f"machine {name} per node %"] = 100.0 * busy / TICKS / seconds / nodes
            rss = [n.rss_kib() / 1024 for n in fleet.nodes]
            return figures | {"rss median MiB": statistics.median(rss), "rss max MiB": max(rss)}
        finally:
            fleet.stop()


def memory_round(binary, answers):
    args = argparse.Namespace(bin=binary, nodes=1)
    with tempfile.TemporaryDirectory() as workdir:
        fleet = harness.Fleet(args, harness.Loopback(1), workdir)
        node = fleet.nodes[0]
        node.max_entries = answers * 2
        try:
            node.start()
            harness.wait("the node answering", lambda: node.peers(), 30)
            empty = node.rss_kib() / 1024
            for i in range(answers):
                request = urllib.request.Request(f"{node.url}/github/repos/octo/r{i}", headers={"Authorization": "token T"})
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
            stored = node.get("/api/mcp/cache/stats")["total_size_bytes"]
            loaded = node.rss_kib() / 1024
            time.sleep(15)  # the "after 15 s idle" reading
            idle = node.rss_kib() / 1024
            return {"rss empty MiB": empty, "rss loaded MiB": loaded, "rss idle MiB": idle,
                    "stored MiB": stored / 1048576, "KiB per answer": (idle - empty) * 1024 / answers,
                    "target MiB": 60 + 2 * stored / 1048576}
        finally:
            fleet.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--ref-bin", required=True)
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--answers", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    builds = {"this build": args.bin, "reference": args.ref_bin}
    results = {name: {"idle": [], "memory": []} for name in builds}
    loads = []
    for round_no in range(args.rounds):
        order = list(builds) if round_no % 2 == 0 else list(reversed(builds))
        for name in order:
            loads.append(os.getloadavg()[0])
            results[name]["idle"].append(idle_round(builds[name], args.nodes))
            if args.answers:
                results[name]["memory"].append(memory_round(builds[name], args.answers))
            else:
                results[name]["memory"].append({})
            print(f"round {round_no + 1} {name}: {results[name]['idle'][-1]} {results[name]['memory'][-1]} "
                  f"load {loads[-1]:.2f}", flush=True)
    for name in builds:
        print(f"== {name} ({builds[name]})")
        for scenario in ("idle", "memory"):
            rows = results[name][scenario]
            for figure in rows[0]:
                print(f"  {scenario} {figure}: {harness.spread([r[figure] for r in rows], 2)}")
    print(f"load average at round starts: {harness.spread(loads, 2)}; {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
