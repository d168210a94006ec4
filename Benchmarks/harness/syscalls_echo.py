#!/usr/bin/env python3
"""System calls per echoed message, from `strace -c -f` on the server only.

Usage:

    syscalls_echo.py SERVER CONNS [WARMUP_MS DURATION_MS]
    BACKEND=io_uring syscalls_echo.py Benchmarks/.build/release/ours-echo 500

SERVER is an echo server program (README, "Program interface"), e.g.
Benchmarks/.build/release/ours-echo or Benchmarks/.build-c/cepoll-echo;
it inherits the environment (BACKEND for the ours-* programs).

The server runs on CPU 0, driven by `loadgen --profile` with CONNS
connections of 64-byte messages on CPU 1: ping-pong for WARMUP_MS (default
1000), then the load stops and drains (`MARK start`); strace attaches to
every thread of the server (`strace -f -c -p PID`); ping-pong runs for
DURATION_MS (default 3000) and drains again (`MARK end msgs=N`); strace is
stopped (SIGINT, by its PID) and prints its table. Between the marks the
server did exactly the N round trips loadgen counted and nothing else
(start-up, accepting and closing are outside), so each count divided by N is
that system call's share of one message.

strace stops the server at every system call, so the server runs several
times slower than it would alone and each wait finds more sockets ready:
the wait calls per message are a lower bound; reads and writes per message
do not depend on it.

TOOL=perf counts in the kernel instead (`perf stat -e raw_syscalls:sys_enter`,
in total and filtered by number for the calls named in PERF_CALLS, x86-64
numbers): it does not stop the server, so the waits per message are those
of an unobserved run; the other calls are in "other".

Prints one line per system call and a total:

    SYSCALLS server=.. backend=.. conns=.. msgs=.. total=.. per_msg=..
"""

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LOADGEN = HERE.parent / ".build-c" / "loadgen"
PORT = 19900
# x86-64 system call numbers of the calls an echo server makes per message.
PERF_CALLS = {"read": 0, "write": 1, "sendto": 44, "recvfrom": 45, "epoll_wait": 232,
              "epoll_pwait": 281, "epoll_pwait2": 441, "io_uring_enter": 426}


def read_line(stream, timeout, who):
    """One line from a pipe, byte by byte (nothing after it buffered away)."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    line = b""
    deadline = time.monotonic() + timeout
    try:
        while not line.endswith(b"\n"):
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                raise SystemExit(f"{who}: no line within {timeout} s")
            chunk = os.read(stream.fileno(), 1)
            if not chunk:
                raise SystemExit(f"{who}: exited early")
            line += chunk
    finally:
        sel.close()
    return line.decode()


def parse_strace_summary(text):
    """{syscall: (calls, errors)} from strace -c's table."""
    counts = {}
    for line in text.splitlines():
        fields = line.split()
        # % time, seconds, usecs/call, calls, [errors,] syscall
        if len(fields) < 5 or not re.fullmatch(r"[\d.]+", fields[0]) or fields[-1] == "total":
            continue
        calls = int(fields[3])
        errors = int(fields[4]) if len(fields) == 6 else 0
        counts[fields[-1]] = (calls, errors)
    return counts


def tracer_command(tool, out, pid):
    """The command that counts `pid`'s system calls into `out` until SIGINT."""
    if tool == "perf":
        events = ["-e", "raw_syscalls:sys_enter"]
        for number in PERF_CALLS.values():
            events += ["-e", "raw_syscalls:sys_enter", "--filter", f"id == {number}"]
        return ["perf", "stat", "-x", ",", "-o", str(out)] + events + ["-p", str(pid)]
    return ["strace", "-f", "-c", "-o", str(out), "-p", str(pid)]


def parse_perf_stat(text):
    """{syscall: (calls, 0)} from perf stat -x, in tracer_command's event order."""
    counts = [int(line.split(",")[0]) for line in text.splitlines()
              if "raw_syscalls:sys_enter" in line and line.split(",")[0].isdigit()]
    total, named = counts[0], dict(zip(PERF_CALLS, counts[1:]))
    result = {name: (calls, 0) for name, calls in named.items() if calls}
    result["other"] = (total - sum(named.values()), 0)
    return result


def main(argv):
    if len(argv) not in (3, 5):
        raise SystemExit(__doc__)
    server_path, conns = argv[1], int(argv[2])
    warmup_ms, duration_ms = (int(argv[3]), int(argv[4])) if len(argv) == 5 else (1000, 3000)
    port = PORT + conns % 100
    procs = []
    try:
        server = subprocess.Popen(["taskset", "-c", "0", server_path, str(port)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(server)
        ready = read_line(server.stdout, 30, "server")
        if not ready.startswith("READY"):
            raise SystemExit(f"server: expected READY, got {ready!r}")
        load = subprocess.Popen(["taskset", "-c", "1", str(LOADGEN), "--profile", str(port), str(conns), "64",
                                 str(warmup_ms), str(duration_ms)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        procs.append(load)
        if not read_line(load.stdout, 60, "loadgen").startswith("MARK start"):
            raise SystemExit("loadgen: expected MARK start")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "strace.txt"
            tool = os.environ.get("TOOL", "strace")
            tracer = subprocess.Popen(tracer_command(tool, out, server.pid), stderr=subprocess.PIPE)
            procs.append(tracer)
            if tool != "perf":
                read_line(tracer.stderr, 10, "strace")  # "strace: Process PID attached"
            time.sleep(0.5)  # every thread attached
            load.stdin.write(b"go\n")
            load.stdin.flush()
            mark = read_line(load.stdout, duration_ms / 1000 + 120, "loadgen")
            if not mark.startswith("MARK end msgs="):
                raise SystemExit(f"loadgen: expected MARK end, got {mark!r}")
            msgs = int(mark.split("=", 1)[1])
            tracer.send_signal(signal.SIGINT)  # by its PID: detach and write the table
            tracer.communicate(timeout=30)
            text = out.read_text()
            counts = parse_perf_stat(text) if tool == "perf" else parse_strace_summary(text)
        load.stdin.write(b"go\n")
        load.stdin.flush()
        load.communicate(timeout=60)
        server.communicate(timeout=30)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()  # by PID
                proc.communicate()
    total = sum(calls for calls, _ in counts.values())
    for name, (calls, errors) in sorted(counts.items(), key=lambda kv: -kv[1][0]):
        print(f"  {name:<20} {calls:>10} calls {calls / msgs:8.3f}/msg"
              + (f"  ({errors} errors, {errors / msgs:.3f}/msg)" if errors else ""))
    print(f"SYSCALLS tool={os.environ.get('TOOL', 'strace')} server={Path(server_path).name} backend={os.environ.get('BACKEND', '-')} conns={conns} "
          f"msgs={msgs} total={total} per_msg={total / msgs:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
