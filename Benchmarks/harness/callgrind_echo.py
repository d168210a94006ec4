#!/usr/bin/env python3
"""Instructions and simulated cache misses per echoed message, from callgrind.

Usage:

    callgrind_echo.py SERVER CONNS [SHORT_MS LONG_MS]

SERVER is an echo server program (README, "Program interface"), e.g.
Benchmarks/.build/release/ours-echo or Benchmarks/.build-c/cepoll-echo.
valgrind 3.19 cannot read the debug info of Swift 6.3's binaries, so a
copy with the debug sections stripped (`strip --strip-debug`) is run
instead; the program itself is left alone.

The server runs twice under `valgrind --tool=callgrind --cache-sim=yes`
(pinned to CPU 0), each time driven by `loadgen` with CONNS connections
(on CPU 1), once for SHORT_MS and once for LONG_MS of load (defaults 2000
and 6000). Start-up, accepting and closing are the same in both runs, so
the differences of the two runs' totals divided by the difference of the
messages they echoed are the cost of one message in the steady state.

The simulated caches are this machine's first two levels (AMD EPYC,
family 26): D1 48 KiB 12-way, and L2 1 MiB 16-way as callgrind's "LL"
(the last level that one core has to itself: the server's working set
shares it with the kernel's socket structures). callgrind sees only user
space, so the kernel's own misses are not in these numbers.

Prints one line per run and a summary line:

    PER-MSG conns=.. Ir=.. Dr=.. Dw=.. D1mr=.. D1mw=.. LLmr=.. LLmw=..
"""

import os
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


def wait_ready(proc, timeout):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    line = b""
    deadline = time.monotonic() + timeout
    while not line.endswith(b"\n"):
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            raise SystemExit("no READY line in time")
        chunk = os.read(proc.stdout.fileno(), 1)
        if not chunk:
            raise SystemExit("the server exited before READY")
        line += chunk
    sel.close()


def totals(path):
    """The event names and totals of a callgrind output file."""
    names, values = None, None
    for line in Path(path).read_text().splitlines():
        if line.startswith("events:"):
            names = line.split()[1:]
        elif line.startswith("totals:") or (values is None and line.startswith("summary:")):
            values = [int(x) for x in line.split()[1:]]
    return dict(zip(names, values))


def run(program, conns, duration_ms, port, workdir):
    out = Path(workdir) / f"callgrind.{duration_ms}.out"
    server = subprocess.Popen(
        ["taskset", "-c", "0", "valgrind", "--tool=callgrind", "--cache-sim=yes", *CACHES,
         f"--callgrind-out-file={out}", str(program), str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        wait_ready(server, 120)
        client = subprocess.run(
            ["taskset", "-c", "1", str(LOADGEN), str(port), str(conns), "64", "500", str(duration_ms)],
            capture_output=True, text=True, timeout=duration_ms / 1000 + 300)
        if client.returncode != 0:
            raise SystemExit(f"loadgen failed: {client.stderr.strip()[-300:]}")
        stdout, _ = server.communicate(timeout=300)
    finally:
        if server.poll() is None:
            server.kill()  # by PID
            server.communicate()
    result = next(line for line in stdout.decode().splitlines() if line.startswith("RESULT "))
    fields = dict(kv.split("=", 1) for kv in result.split()[1:])
    return int(fields["bytes"]) // 64, totals(out)


def main(argv):
    if len(argv) not in (3, 5):
        raise SystemExit(__doc__)
    program, conns = Path(argv[1]), int(argv[2])
    short_ms, long_ms = (int(argv[3]), int(argv[4])) if len(argv) == 5 else (2000, 6000)
    with tempfile.TemporaryDirectory() as workdir:
        stripped = Path(workdir) / program.name
        shutil.copy(program, stripped)
        subprocess.run(["strip", "--strip-debug", str(stripped)], check=True)
        port = 21000 + os.getpid() % 1000
        runs = []
        for i, ms in enumerate((short_ms, long_ms)):
            msgs, t = run(stripped, conns, ms, port + i, workdir)
            runs.append((msgs, t))
            print(f"RUN conns={conns} load_ms={ms} msgs={msgs} "
                  + " ".join(f"{k}={v}" for k, v in t.items()), flush=True)
    (m0, t0), (m1, t1) = runs
    if m1 <= m0:
        raise SystemExit("the longer run echoed no more messages than the shorter one")
    per = {k: (t1[k] - t0[k]) / (m1 - m0) for k in t0}
    names = {"DLmr": "LLmr", "DLmw": "LLmw"}
    print(f"PER-MSG conns={conns} msgs={m1 - m0} "
          + " ".join(f"{names.get(k, k)}={v:.2f}" for k, v in per.items() if k not in ("I1mr", "ILmr")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
