#!/usr/bin/env python3
"""Instruction counts per operation under valgrind's callgrind.

Wall-clock numbers on a shared machine drift with everyone else's load;
instruction counts do not. This runs the timer and cross-thread programs
under `valgrind --tool=callgrind`, splits each run into its phases with
`--dump-before=<function>` and prints instructions per operation (all
threads, user space only: system calls and cache misses are not in them).

    python3 Benchmarks/harness/callgrind.py           # build what it needs, then run (about 3 minutes)
    SKIP_BUILD=1 python3 Benchmarks/harness/callgrind.py
    TIMERS=200000 CLOSURES=200000 python3 Benchmarks/harness/callgrind.py

Valgrind 3.19 cannot read this toolchain's debug info, so each program is
copied and stripped of it first (symbols stay). Under valgrind a run is
tens of times slower, so the real-clock programs see every timer overdue
at once (one batch) and their producer threads take turns; the
manual-clock program `profile-timers` fires in 1 ms steps as a real run
does. Programs run one at a time, each ended by its own exit.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # Benchmarks/
C_BIN = ROOT / ".build-c"
SWIFT_BIN = ROOT / ".build" / "release"
TIMERS = int(os.environ.get("TIMERS", "1000000"))
CLOSURES = int(os.environ.get("CLOSURES", "200000"))
PROFILE_MARK = "$s14profile_timers0A4MarkyyF"  # profile-timers' profileMark()


def build():
    subprocess.run(["make", "-C", str(ROOT / "c"), "--no-print-directory", "-j2"], check=True,
                   stdout=subprocess.DEVNULL)
    for product in ("profile-timers", "ours-timers", "ours-xthread"):
        subprocess.run(["swift", "build", "-c", "release", "--package-path", str(ROOT),
                        "--product", product], check=True, stdout=subprocess.DEVNULL)


def parts(program, args, mark, workdir):
    """Instruction totals of the parts of one callgrind run, split before each call of `mark`."""
    copy = workdir / program.name
    if not copy.exists():
        shutil.copy(program, copy)
        subprocess.run(["strip", "--strip-debug", str(copy)], check=True)
    out = workdir / f"cg.{program.name}.{'-'.join(map(str, args))}"
    run = subprocess.run(["valgrind", "--tool=callgrind", f"--dump-before={mark}",
                          f"--callgrind-out-file={out}", str(copy)] + [str(a) for a in args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
    if run.returncode != 0:
        return None  # e.g. a mode an older build does not have
    totals = []
    for i in range(1, 20):
        part = Path(f"{out}.{i}")
        if not part.exists():
            break
        totals.append(int(re.search(r"^summary:\s*(\d+)", part.read_text(), re.M).group(1)))
    return totals


def main():
    if not os.environ.get("SKIP_BUILD"):
        build()
    n = TIMERS
    kept = n - n // 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # Timers on a manual clock, 1 ms steps: schedule / cancel / firing.
        for mode in ("tag", "closure", "repeat"):
            p = parts(SWIFT_BIN / "profile-timers", [n, mode], PROFILE_MARK, work)
            if p is None:
                continue
            firings = 2 * kept if mode == "repeat" else kept
            scheduled = kept if mode == "repeat" else n
            rows.append((f"ours profile-timers {mode}", p[1] / scheduled,
                         p[2] / (n // 2) if mode != "repeat" else None, p[3] / firings))
        # The real-clock timer programs (every timer overdue: one batch).
        # ours-timers reads bench_now_ns before scheduling, after, after
        # cancelling, at the last firing; libev-timers once more first (its base).
        for label, program, args, first in (
                ("libev libev-timers", C_BIN / "libev-timers", [n, 42], 2),
                ("ours ours-timers tag", SWIFT_BIN / "ours-timers", [n, 42, "tag"], 1),
                ("ours ours-timers closure", SWIFT_BIN / "ours-timers", [n, 42, "closure"], 1)):
            p = parts(program, args, "bench_now_ns", work)
            if p is None:
                continue
            rows.append((label, p[first] / n, p[first + 1] / (n // 2), p[first + 2] / kept))
        print(f"### Timers, {n:,}: instructions per operation\n")
        print("| program | schedule | cancel | firing |")
        print("|---|---|---|---|")
        for label, s, c, f in rows:
            print(f"| {label} | {s:,.0f} | {'—' if c is None else f'{c:,.0f}'} | {f:,.0f} |")
        # Cross-thread: one producer, everything between the release of the
        # producers and the last closure (both threads' instructions).
        print(f"\n### Cross-thread, 1 producer, {CLOSURES:,} closures: instructions per closure (all threads)\n")
        print("| program | plain | capturing | tag |")
        print("|---|---|---|---|")
        for name, program, modes in (
                ("libev", C_BIN / "libev-xthread", ([], ["capture"], None)),
                ("libuv", C_BIN / "libuv-xthread", ([], ["capture"], None)),
                ("ours", SWIFT_BIN / "ours-xthread", ([], ["capture"], ["tag"]))):
            cells = []
            for extra in modes:
                if extra is None:
                    cells.append("—")
                    continue
                p = parts(program, [1, CLOSURES] + extra, "bench_now_ns", work)
                cells.append("failed" if p is None else f"{p[1] / CLOSURES:,.0f}")
            print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
