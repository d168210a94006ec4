#!/usr/bin/env bash
# Cross-thread submission before and after a change, in one run: builds
# xthread-ab in release against BASE (a commit; default: main) and against
# this checkout, then runs the two programs in turn, REPEATS times for each
# producer count (the order alternates between repeats), and prints the
# medians and the new/old ratio (the median of the per-repeat ratios, with
# their range).
#
#   bash Benchmarks/xthread-ab/run.sh [BASE]
#   REPEATS=9 THREADS="1 4 8" TOTAL=1000000 bash Benchmarks/xthread-ab/run.sh main
#
# Needs only Swift and python3 (standard library). Builds in
# Benchmarks/xthread-ab/.build-ab/ (ignored by git); the base checkout is a
# `git archive` there, so the repository's work trees are left alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(git -C "$here" rev-parse --show-toplevel)"
base="$(git -C "$repo" rev-parse --short "${1:-main}")"
work="$here/.build-ab"

rm -rf "$work/base"
mkdir -p "$work/base"
git -C "$repo" archive "$base" | tar -x -C "$work/base"
echo "== building against $base (old) and against $repo (new)" >&2
XTHREAD_AB_ROOT="$work/base" swift build -c release --package-path "$here" --scratch-path "$work/old" >&2
XTHREAD_AB_ROOT="$repo" swift build -c release --package-path "$here" --scratch-path "$work/new" >&2

exec python3 - "$work/old/release/xthread-ab" "$work/new/release/xthread-ab" "$base" <<'PY'
import os, statistics, subprocess, sys

old, new, base = sys.argv[1:4]
repeats = int(os.environ.get("REPEATS", "7"))
threads = [int(t) for t in os.environ.get("THREADS", "1 8").split()]
total = int(os.environ.get("TOTAL", "1000000"))

def measure(program, n):
    out = subprocess.run([program, str(n), str(total)], capture_output=True, text=True, timeout=120, check=True).stdout
    return float(out.strip().split("=")[1])

runs = {(which, n): [] for which in ("old", "new") for n in threads}
for r in range(repeats):
    for n in threads:
        order = [("old", old), ("new", new)] if r % 2 == 0 else [("new", new), ("old", old)]
        for which, program in order:
            runs[(which, n)].append(measure(program, n))

print(f"cross-thread submission, {total:,} closures, {repeats} repeats; old = {base}, new = this checkout")
print("| producers | old ns/closure | new ns/closure | new / old (range) |")
print("|---|---|---|---|")
for n in threads:
    o, w = runs[("old", n)], runs[("new", n)]
    ratios = [b / a for a, b in zip(o, w)]
    print(f"| {n} | {statistics.median(o):.1f} | {statistics.median(w):.1f} | "
          f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f}) |")
PY
