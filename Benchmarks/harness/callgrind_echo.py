#!/usr/bin/env python3
"""Instructions and simulated cache misses per echoed message, from callgrind.

Usage:

    callgrind_echo.py SERVER CONNS [WARMUP_MS DURATION_MS]

SERVER is an echo server program (README, "Program interface"), e.g.
Benchmarks/.build/release/ours-echo or Benchmarks/.build-c/cepoll-echo.
valgrind 3.19 cannot read the debug info of Swift 6.3's binaries, so a
copy with the debug sections stripped (`strip --strip-debug`) is run
instead; the program itself is left alone.

The server runs under `valgrind --tool=callgrind --cache-sim=yes` (on
CPU 0), driven by `loadgen --profile` with CONNS connections (on CPU 1):
ping-pong for WARMUP_MS (default 2000), then the load stops and drains,
the counters are zeroed (`callgrind_control -z`), ping-pong runs for
DURATION_MS (default 6000) and drains again, and the counters are dumped
(`callgrind_control -d`). Between the two, the server did exactly the
round trips loadgen counted and nothing else (start-up, accepting and
closing are outside), so the dump divided by them is the cost of one
message in the steady state.

The simulated caches are this machine's first two levels (AMD EPYC,
family 26): D1 48 KiB 12-way, and L2 1 MiB 16-way as callgrind's "LL"
(the last level that one core has to itself: in the real run the server's
working set shares it with the kernel's socket structures). callgrind sees
only user space, so the kernel's instructions and misses are not in these
numbers.

Prints the per-message figures and the functions with the most
instructions and D1 read misses (CALLGRIND_KEEP=<file> keeps the dump):

    PER-MSG conns=.. msgs=.. Ir=.. Dr=.. Dw=.. D1mr=.. D1mw=.. LLmr=.. LLmw=..
"""

import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOADGEN = HERE.parent / ".build-c" / "loadgen"
CACHES = ["--D1=49152,12,64", "--LL=1048576,16,64"]
NAMES = {"DLmr": "LLmr", "DLmw": "LLmw"}  # callgrind's names for the last level


def read_line(proc, timeout, who):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = b""
    deadline = time.monotonic() + timeout
    try:
        while not line.endswith(b"\n"):
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                raise SystemExit(f"{who}: no line within {timeout} s")
            chunk = os.read(proc.stdout.fileno(), 1)
            if not chunk:
                raise SystemExit(f"{who}: exited early")
            line += chunk
    finally:
        sel.close()
    return line.decode()


def control(option, pid):
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True, timeout=60)


def parse(path):
    """The event names, the totals, and each function's own (exclusive) costs
    from a callgrind output file (one position column: no --dump-instr)."""
    names, totals, functions, ids = [], None, {}, {}
    current, after_call = None, False
    for line in Path(path).read_text().splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith(("totals:", "summary:")):
            totals = [int(x) for x in line.split()[1:]]
        elif line.startswith(("fn=", "cfn=")):
            m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
            if m.group(2):
                ids[m.group(1)] = m.group(2)
            if line.startswith("fn="):
                current = ids[m.group(1)]
        elif line.startswith("calls="):
            after_call = True  # the next cost line is the call's inclusive cost
        elif line[:1].isdigit() or line[:1] in ("+", "-", "*"):
            if after_call:
                after_call = False
                continue
            costs = functions.setdefault(current, [0] * len(names))
            for i, value in enumerate(line.split()[1:]):
                costs[i] += int(value)
    totals += [0] * (len(names) - len(totals))  # trailing zeros are left out
    return names, dict(zip(names, totals)), functions


def main(argv):
    if len(argv) not in (3, 5):
        raise SystemExit(__doc__)
    program, conns = Path(argv[1]), int(argv[2])
    warmup_ms, duration_ms = (int(argv[3]), int(argv[4])) if len(argv) == 5 else (2000, 6000)
    with tempfile.TemporaryDirectory() as workdir:
        stripped = Path(workdir) / program.name
        shutil.copy(program, stripped)
        subprocess.run(["strip", "--strip-debug", str(stripped)], check=True)
        out = Path(workdir) / "callgrind.out"
        port = 21000 + os.getpid() % 1000
        server = subprocess.Popen(
            ["taskset", "-c", "0", "valgrind", "--tool=callgrind", "--cache-sim=yes", *CACHES,
             f"--callgrind-out-file={out}", str(stripped), str(port)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        client = None
        try:
            if not read_line(server, 120, program.name).startswith("READY"):
                raise SystemExit(f"{program.name}: no READY line")
            client = subprocess.Popen(
                ["taskset", "-c", "1", str(LOADGEN), "--profile", str(port), str(conns), "64",
                 str(warmup_ms), str(duration_ms)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            timeout = (warmup_ms + duration_ms) / 1000 + 600
            if not read_line(client, timeout, "loadgen").startswith("MARK start"):
                raise SystemExit("loadgen: expected MARK start")
            control("-z", server.pid)
            client.stdin.write(b"go\n")
            client.stdin.flush()
            end = read_line(client, timeout, "loadgen")
            if not end.startswith("MARK end"):
                raise SystemExit(f"loadgen: expected MARK end, got {end!r}")
            msgs = int(end.split("msgs=")[1])
            control("-d", server.pid)
            client.stdin.write(b"go\n")
            client.stdin.flush()
            client.communicate(timeout=120)
            server.communicate(timeout=300)
        finally:
            for proc in (client, server):
                if proc is not None and proc.poll() is None:
                    proc.kill()  # by PID
                    proc.communicate()
        names, totals, functions = parse(f"{out}.1")
        if os.environ.get("CALLGRIND_KEEP"):  # keep the dump, e.g. for callgrind_annotate --tree=caller
            shutil.copy(f"{out}.1", os.environ["CALLGRIND_KEEP"])
    wanted = ["Ir", "Dr", "Dw", "D1mr", "D1mw", "DLmr", "DLmw"]
    print(f"PER-MSG conns={conns} msgs={msgs} "
          + " ".join(f"{NAMES.get(k, k)}={totals[k] / msgs:.2f}" for k in wanted if k in totals))
    for key in ("Ir", "D1mr"):
        i = names.index(key)
        top = [(name, costs[i] / msgs) for name, costs in functions.items() if costs[i] / msgs >= 0.01]
        if top:
            print(f"  top functions by {key} per message:")
        for name, cost in sorted(top, key=lambda kv: -kv[1])[:12]:
            print(f"    {cost:8.2f}  {name[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
