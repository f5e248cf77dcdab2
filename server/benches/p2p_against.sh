#!/usr/bin/env bash
# The P2P bench (`cargo bench --bench p2p`) of this checkout against the same
# bench of an older revision, in the same run: the two bench binaries take
# turns, ROUNDS rounds each (alternating which goes first), and the median and
# spread (min..max) of each reported figure are printed side by side.
#
# Run: bash server/benches/p2p_against.sh 15f5e1f
# (A bench that changed since REV can be given the same change in the kept
# worktree before running; BENCHMARKS.md says when that was done.)
# The old revision is checked out in a git worktree beside the build directory
# (kept, so a second run does not build it again) and built in the same
# CARGO_TARGET_DIR (its crates get their own hashes).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/peercache-target}"
ROUNDS="${ROUNDS:-3}"
rev="${1:?usage: p2p_against.sh REVISION}"
old="$(dirname "$CARGO_TARGET_DIR")/peercache-at-$rev"

# The path of the bench executable cargo builds in directory $1.
bench_binary() {
  (cd "$1" && cargo bench -p server --bench p2p --no-run --message-format json 2>/dev/null) \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "p2p" and m.get("executable"):
        print(m["executable"])'
}
[ -d "$old" ] || git worktree add --detach "$old" "$rev" >/dev/null 2>&1
echo "building the p2p bench of $rev and of this checkout" >&2
old_bin=$(bench_binary "$old")
new_bin=$(bench_binary .)
[ -x "$old_bin" ] && [ -x "$new_bin" ] || { echo "a bench did not build" >&2; exit 1; }

declare -A seen
for round in $(seq "$ROUNDS"); do
  if (( round % 2 )); then order="new old"; else order="old new"; fi
  for which in $order; do
    bin=$([ "$which" = new ] && echo "$new_bin" || echo "$old_bin")
    echo "round $round: $which" >&2
    # Lines look like `<name>  p50 1.234 ms  p99 5.678 ms   | <reference>: p50 0.4 ms p99 0.9 ms (…)`:
    # the figure, and its reference as a measurement of its own.
    while IFS=$'\t' read -r name p50 p99; do
      seen["$which|$name|p50"]+="$p50 "; seen["$which|$name|p99"]+="$p99 "
    done < <("$bin" | python3 -c '
import re, sys
for line in sys.stdin:
    figure = re.match(r"^(.*?\S)\s+p50\s+([0-9.]+) ms\s+p99\s+([0-9.]+) ms", line)
    if figure:
        print(*figure.groups(), sep="\t")
    reference = re.search(r"\|\s*(.*?): p50 ([0-9.]+) ms p99 ([0-9.]+) ms", line)
    if figure and reference:
        print(f"{figure.group(1)}, its reference: {reference.group(1)}", *reference.groups()[1:], sep="\t")
')
  done
done

stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END{m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f (%.3f..%.3f)", m, v[1], v[NR]}'; }
printf '%-40s %-10s %-28s %-28s\n' measurement revision "p50 ms median (min..max)" "p99 ms median (min..max)"
for key in "${!seen[@]}"; do echo "${key#*|}"; done | sed 's/|p[59][09]$//' | sort -u | while read -r name; do
  for which in new old; do
    label=$([ "$which" = new ] && echo "this" || echo "$rev")
    [ -n "${seen[$which|$name|p50]:-}" ] || continue
    printf '%-40s %-10s %-28s %-28s\n' "$name" "$label" "$(stats <<<"${seen[$which|$name|p50]}")" "$(stats <<<"${seen[$which|$name|p99]}")"
  done
done
