#!/usr/bin/env python3
"""Runs the benchmark programs serially and prints one table of medians.

Usage (normally through ../run.sh, which builds first):

    bench.py [GROUP-OR-VARIANT ...]      default: every group
    bench.py --render DIR [DIR ...]      print saved runs' table again (several: pooled)
    QUICK=1    shorter runs (echo 1 s, loop 300k events, no 1M-timer variant)
    REPEATS=n  runs per (variant, peer), default 3
    PEERS=a,b  only these peers (names as in PEERS below)
    VERSUS=p   ratio columns "peer ÷ p" (e.g. VERSUS=c-epoll) instead of "ours ÷ peer"

Groups: echo, timers, xthread, loop, hop, allocs, memory. Variants: see variants().

The descriptor limit: this script raises its own soft RLIMIT_NOFILE to the
hard limit (and, as root, the hard limit too) before starting anything, and
every program inherits it; the programs themselves do not touch it. An echo
variant that needs more descriptors than the limit allows is not run, with
the reason in the table.

Peers are data: a peer is a name and a program prefix; its program for a
workload is "<prefix>-<workload>" (e.g. .build/release/ours-echo) and the
peer is skipped for a workload when that file does not exist. The contract
every program follows (arguments, the "RESULT k=v ..." line) is in
../README.md, "Program interface".

Runs are interleaved (for each repeat, every peer in turn: A B C A B C ...),
never two at once; every process is started by this script, bounded by a
timeout, and ended by its PID only. Results (raw runs as JSON, the table as
Markdown) are also written to ../.build-results/<time>/.
"""

import json
import os
import resource
import selectors
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # Benchmarks/
C_BIN = ROOT / ".build-c"
SWIFT_BIN = ROOT / ".build" / "release"
LOADGEN = C_BIN / "loadgen"

QUICK = os.environ.get("QUICK", "") not in ("", "0")
REPEATS = int(os.environ.get("REPEATS", "3"))
SEED = 42
ECHO_SIZE = 64
ECHO_WARMUP_MS = 300 if QUICK else 500
ECHO_DURATION_MS = 1000 if QUICK else 3000
LOOP_EVENTS = 300_000 if QUICK else 1_000_000
PORT_BASE = 19000

# The reference for the ratio columns: "ours ÷ peer" appears once this peer
# has results. VERSUS=<peer> turns them round: "peer ÷ <that peer>" for every
# peer (VERSUS=c-epoll: each peer against the C ceiling).
VERSUS = os.environ.get("VERSUS") or None
REFERENCE = VERSUS or "ours"


@dataclass
class Peer:
    name: str
    prefix: Path  # program = prefix + "-" + workload
    only: frozenset = frozenset()  # workloads it takes part in (empty: all)
    extra: dict = field(default_factory=dict)  # workload -> extra arguments
    note: str = ""
    variants: object = None  # a predicate on variant names it takes part in (None: all)
    env: dict = field(default_factory=dict)  # environment variables its programs get (e.g. BACKEND)

    def program(self, workload, variant=None):
        if self.only and workload not in self.only:
            return None
        if variant is not None and self.variants is not None and not self.variants(variant):
            return None
        path = Path(f"{self.prefix}-{workload}")
        return path if path.exists() else None


PEERS = [
    Peer("c-epoll", C_BIN / "cepoll", note="hand-written epoll loop in C (the ceiling)"),
    Peer("libev", C_BIN / "libev", note="libev 4.33, epoll backend"),
    Peer("libuv", C_BIN / "libuv", note="libuv 1.44"),
    Peer("nio", SWIFT_BIN / "nio", note="SwiftNIO 2.101, one MultiThreadedEventLoopGroup thread"),
    Peer("nio-cb", SWIFT_BIN / "nio", only=frozenset({"timers"}), extra={"timers": ["callback"]},
         note="SwiftNIO scheduleCallback(at:handler:) instead of scheduleTask"),
    # "ours": this package's programs, Swift targets ours-echo, ours-timers,
    # ours-xthread, ours-loop in ../Package.swift. Picked up automatically
    # once built.
    Peer("ours", SWIFT_BIN / "ours", note="this package's EventLoop"),
    # The async layer (issue 10): echo on async streams beside NIO's
    # NIOAsyncChannel, and the task hop beside NIO's loop and Swift's global executor.
    Peer("ours-async", SWIFT_BIN / "ours-async", only=frozenset({"echo"}),
         note="this package's async streams (StreamServer, read(into:)/write)"),
    Peer("ours-group", SWIFT_BIN / "ours-group", only=frozenset({"echo"}),
         note="this package's async echo over a 2-loop LoopGroup (acceptor balancing; LOOPS, BALANCING env)"),
    # The io_uring backend (issue 21): the same two echo servers with
    # BACKEND=io_uring (every ours-* program reads BACKEND; default epoll).
    Peer("ours-uring", SWIFT_BIN / "ours", only=frozenset({"echo"}), env={"BACKEND": "io_uring"},
         note="this package's callback echo on the io_uring backend (readiness: poll requests on the ring)"),
    Peer("ours-async-uring", SWIFT_BIN / "ours-async", only=frozenset({"echo"}), env={"BACKEND": "io_uring"},
         note="this package's async streams echo on the io_uring backend"),
    Peer("ours-async-buffered", SWIFT_BIN / "ours-async", only=frozenset({"echo"}), env={"WRITES": "buffered"},
         note="this package's async streams echo writing as asyncio does (bufferWrite, then drain())"),
    Peer("ours-async-buffered-uring", SWIFT_BIN / "ours-async", only=frozenset({"echo"}),
         env={"WRITES": "buffered", "BACKEND": "io_uring"},
         note="the same on the io_uring backend: sends by completion, no write(2)"),
    # Issue 18: the async echo read the other ways a user reads, and served
    # from an actor on the loop's serial face.
    Peer("ours-async-exactly", SWIFT_BIN / "ours-async", only=frozenset({"echo"}), env={"READS": "exactly"},
         note="this package's async streams echo reading each message with readExactly(64)"),
    Peer("ours-async-line", SWIFT_BIN / "ours-async", only=frozenset({"echo"}), env={"READS": "line"},
         note="this package's async streams echo reading each message with readLine()"),
    Peer("ours-async-actor", SWIFT_BIN / "ours-async", only=frozenset({"echo"}), env={"SERVER": "actor"},
         note="this package's async streams echo served by an actor on the loop's serial face"),
    Peer("nio-async", SWIFT_BIN / "nio-async", only=frozenset({"echo"}),
         note="SwiftNIO's NIOAsyncChannel, a child task per connection"),
    Peer("global", SWIFT_BIN / "global", only=frozenset({"hop"}),
         note="Swift's default global executor (hop workload only)"),
    # Ours in the other forms user code takes: timers with a capturing
    # closure each (`schedule(at:_:)`), cross-thread work through the
    # handler-and-tag submission (`submit(tag:_:)`, capturing variants only).
    Peer("ours-closure", SWIFT_BIN / "ours", only=frozenset({"timers"}), extra={"timers": ["closure"]},
         note="this package, schedule(at:_:) with a capturing closure per timer"),
    Peer("ours-tag", SWIFT_BIN / "ours", only=frozenset({"xthread"}), extra={"xthread": ["tag"]},
         variants=lambda name: "-cap" in name,
         note="this package, LoopHandle.submit(tag:_:): one shared handler, the index as the tag"),
    # A diagnostic, not a way to write code: the capturing closure with its
    # reference captured `unowned(unsafe)`, so the closure still allocates a
    # context but nobody counts references to the object the producers and
    # the loop share. The difference from `ours` is what Swift's reference
    # counting of a captured, shared object costs across threads.
    Peer("ours-unretained", SWIFT_BIN / "ours", only=frozenset({"xthread"}),
         extra={"xthread": ["unretained"]}, variants=lambda name: "-cap" in name,
         note="this package, the capturing closure with its reference unowned(unsafe) (diagnostic)"),
]

# A second build of ours to compare against in the same run (e.g. the commit
# before a change): BASELINE=<that checkout's Benchmarks/.build/release>.
if os.environ.get("BASELINE"):
    PEERS.append(Peer("ours-before", Path(os.environ["BASELINE"]) / "ours",
                      note=f"this package, baseline build in {os.environ['BASELINE']}"))
    PEERS.append(Peer("ours-async-before", Path(os.environ["BASELINE"]) / "ours-async", only=frozenset({"echo"}),
                      note=f"this package's async streams, baseline build in {os.environ['BASELINE']}"))

# (variant, peer) pairs not run, with the reason printed in the table.
SKIP = {
    ("timers-1M", "nio"): "not run: NIO 2.101 cancels by a linear scan of its timer heap "
                          "(O(n)): ~560 µs per cancel here, ~4.5 min per run (README)",
    ("timers-1M", "nio-cb"): "not run: same linear-scan cancel as nio",
}


# ---- metrics ---------------------------------------------------------------

@dataclass
class Metric:
    key: str          # key in the per-run dict
    header: str
    fmt: str = "{:.1f}"
    higher_is_better: bool = False
    ratio: bool = False  # show an "ours ÷ peer" column for it


def per(a, b):
    return a / b if b else float("nan")


def echo_metrics(server, client):
    msgs_total = int(server["bytes"]) / ECHO_SIZE
    return {
        "msgs_per_s": float(client["msgs_per_s"]),
        "p50_us": float(client["p50_us"]),
        "p99_us": float(client["p99_us"]),
        "cpu_ns_per_msg": per(int(server["cpu_us"]) * 1000.0, msgs_total),
        "mallocs_per_msg": per(int(server["mallocs"]), msgs_total),
        "maxrss_mb": int(server["maxrss_kb"]) / 1024.0,
    }


def timer_metrics(r):
    return {
        "schedule_ns": float(r["schedule_ns"]),
        "cancel_ns": float(r["cancel_ns"]),
        "cpu_ms": int(r["cpu_us"]) / 1000.0,
        "late_ms": float(r["late_us"]) / 1000.0 if "late_us" in r else float("nan"),
        "fire_cpu_ns": float(r["fire_cpu_ns"]) if "fire_cpu_ns" in r else float("nan"),
        "maxrss_mb": int(r["maxrss_kb"]) / 1024.0,
        "mallocs_per_timer": per(int(r["mallocs"]), int(r["n"])),
    }


def xthread_metrics(r):
    return {
        "ns_per_op": float(r["ns_per_op"]),
        "cpu_ns_per_op": per(int(r["cpu_us"]) * 1000.0, int(r["total"])),
        "mallocs_per_op": per(int(r["mallocs"]), int(r["total"])),
    }


def memory_metrics(r):
    return {
        "bytes_per_conn": (r["rss_after_kb"] - r["rss_before_kb"]) * 1024.0 / r["conns"],
        "anon_bytes_per_conn": (r["anon_after_kb"] - r["anon_before_kb"]) * 1024.0 / r["conns"],
        "rss_before_mb": r["rss_before_kb"] / 1024.0,
    }


def hop_metrics(r):
    return {
        "ns_per_hop": float(r["ns_per_hop"]),
        "cpu_ns_per_hop": per(int(r["cpu_us"]) * 1000.0, int(r["hops"])),
        "mallocs_per_hop": per(int(r["mallocs"]), int(r["hops"])),
    }


def loop_metrics(r):
    return {
        "ns_per_event": float(r["ns_per_event"]),
        "cpu_ns_per_event": per(int(r["cpu_us"]) * 1000.0, int(r["events"])),
        "mallocs_per_event": per(int(r["mallocs"]), int(r["events"])),
    }


@dataclass
class Variant:
    name: str
    group: str
    workload: str  # program suffix
    label: str
    args: list
    metrics: list
    count_mallocs: bool = False
    peers: frozenset = frozenset()  # the only peers that run it (empty: all)


def variants(quick=QUICK):
    v = []
    echo = [Metric("msgs_per_s", "msgs/s", "{:,.0f}", True, True),
            Metric("p50_us", "p50 µs"), Metric("p99_us", "p99 µs"),
            Metric("cpu_ns_per_msg", "server CPU ns/msg", "{:,.0f}", ratio=True)]
    for conns in (1, 50, 500, 2000, 5000, 10000):
        v.append(Variant(f"echo-{conns}", "echo", "echo", f"{conns} conn", [conns], echo))
    timers = [Metric("schedule_ns", "schedule ns", ratio=True),
              Metric("cancel_ns", "cancel ns", ratio=True),
              Metric("fire_cpu_ns", "fire CPU ns", "{:,.0f}"),
              Metric("cpu_ms", "CPU ms", "{:,.0f}", ratio=True), Metric("late_ms", "last late ms", "{:.2f}"),
              Metric("maxrss_mb", "peak RSS MB", ratio=True)]
    for n, label in ((100_000, "100k"), (1_000_000, "1M")):
        if quick and n > 100_000:
            continue
        v.append(Variant(f"timers-{label}", "timers", "timers", f"{label} timers", [n, SEED], timers))
    # Periodic timers (ours only: closures): the 1M run's N/2 kept timers as
    # `scheduleRepeating(every: 1 s)`, each firing twice, and the same written
    # with one-shots that schedule the next period from their callback;
    # compare fire CPU ns.
    if not quick:
        v.append(Variant("timers-repeat-1M", "timers", "timers", "1M: 500k repeating, 2 firings each",
                         [1_000_000, SEED, "repeat"], timers, peers=frozenset({"ours-closure"})))
        v.append(Variant("timers-rearm-1M", "timers", "timers", "1M: 500k one-shots re-armed by hand, 2 firings each",
                         [1_000_000, SEED, "rearm"], timers, peers=frozenset({"ours-closure"})))
    xthread = [Metric("ns_per_op", "ns/closure", ratio=True),
               Metric("cpu_ns_per_op", "CPU ns/closure")]
    for threads in (1, 4, 8):
        v.append(Variant(f"xthread-{threads}", "xthread", "xthread", f"{threads} thread(s)",
                         [threads, 1_000_000], xthread))
    # Capturing: each closure captures a reference and an index (one
    # allocation per closure); the C peers malloc an item per submission.
    for threads in (1, 4, 8):
        v.append(Variant(f"xthread-cap-{threads}", "xthread", "xthread",
                         f"{threads} thread(s), capturing", [threads, 1_000_000, "capture"], xthread))
    loop = [Metric("ns_per_event", "ns/event", ratio=True),
            Metric("cpu_ns_per_event", "CPU ns/event")]
    v.append(Variant("loop", "loop", "loop", "1000 pairs, 100 active",
                     [1000, 100, LOOP_EVENTS], loop))
    hop = [Metric("ns_per_hop", "ns/hop", ratio=True), Metric("cpu_ns_per_hop", "CPU ns/hop")]
    v.append(Variant("hop", "hop", "hop", "two tasks, 1M hops", [1_000_000], hop))
    # Allocations: separate runs with the counter on (it costs an atomic
    # add per allocation, kept out of the timing runs). No ratio column:
    # the counts are small integers or near zero, so compare them directly.
    v.append(Variant("allocs-echo", "allocs", "echo", "per echo message (50 conns, 1 s)", [50],
                     [Metric("mallocs_per_msg", "allocs/op", "{:.3f}")], True))
    v.append(Variant("allocs-timers", "allocs", "timers", "per timer (100k)", [100_000, SEED],
                     [Metric("mallocs_per_timer", "allocs/op", "{:.3f}")], True))
    v.append(Variant("allocs-xthread", "allocs", "xthread", "per submitted closure (1 thread)",
                     [1, 1_000_000],
                     [Metric("mallocs_per_op", "allocs/op", "{:.3f}")], True))
    v.append(Variant("allocs-xthread-cap", "allocs", "xthread",
                     "per submitted capturing closure (1 thread)", [1, 1_000_000, "capture"],
                     [Metric("mallocs_per_op", "allocs/op", "{:.3f}")], True))
    v.append(Variant("allocs-loop", "allocs", "loop", "per loop event", [1000, 100, 300_000],
                     [Metric("mallocs_per_event", "allocs/op", "{:.3f}")], True))
    # Memory held per idle connection: the echo programs again, driven by
    # `loadgen --hold` (see run_memory).
    v.append(Variant("memory-5000", "memory", "echo", "5000 idle conns, after one round trip", [5000],
                     [Metric("bytes_per_conn", "RSS bytes/conn", "{:,.0f}", ratio=True),
                      Metric("anon_bytes_per_conn", "anon RSS bytes/conn", "{:,.0f}"),
                      Metric("rss_before_mb", "RSS before MB", "{:.1f}")]))
    return v


GROUP_TITLES = {
    "echo": "TCP echo ping-pong, 64-byte messages, loopback (server on CPU 0, load generator on CPU 1)",
    "timers": "Timers: schedule N one-shot timers (deadlines over 1 s), cancel every other, fire the rest",
    "xthread": "Cross-thread submission: 1,000,000 closures from other threads until the last has run "
               "(capturing: each captures a reference and an index; C: a malloc'd item each)",
    "loop": "Loop overhead: 1,000 socketpairs, 100 tokens circulating, per read event",
    "hop": "Task hop: two tasks on one executor pass a turn through continuations",
    "allocs": "Heap allocations per operation (malloc/calloc/realloc/memalign calls)",
    "memory": "Memory per connection: echo server RSS with N idle connections, minus before them",
}


# ---- running ---------------------------------------------------------------

class RunError(Exception):
    pass


def parse_result(text, who):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    raise RunError(f"{who}: no RESULT line in output: {text.strip()[-300:]!r}")


def cpu_prefix(cpu):
    """taskset keeps the PID (it execs), so ending by PID still works."""
    if PIN and shutil.which("taskset"):
        return ["taskset", "-c", str(cpu)]
    return []


def run_once(cmd, env, timeout):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # SIGKILL to this PID only
        proc.communicate()
        raise RunError(f"{Path(cmd[-1]).name}: timed out after {timeout} s")
    if proc.returncode != 0:
        raise RunError(f"{' '.join(map(str, cmd))}: exit {proc.returncode}: {err.strip()[-300:]}")
    return out


def raise_descriptor_limit():
    """Soft RLIMIT_NOFILE up to the hard limit (as root, both up to NOFILE_WANTED)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if os.geteuid() == 0 and hard != resource.RLIM_INFINITY and hard < NOFILE_WANTED:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE_WANTED, NOFILE_WANTED))
            return
        except (ValueError, OSError):
            pass
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def descriptor_shortfall(conns):
    """Why an echo run with `conns` connections cannot run here, or None."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    need = conns + 64  # each side: the connections, plus the listener, epoll, stdio...
    if limit != resource.RLIM_INFINITY and limit < need:
        return f"not run: descriptor limit {limit} < {need} needed (raise the hard limit: ulimit -Hn)"
    return None


def start_server(program, port, env):
    """Starts an echo server on CPU 0 and waits (bounded) for "READY port=P"."""
    server = subprocess.Popen(cpu_prefix(0) + [str(program), str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env)
    first = read_line(server, server.stdout, 30, program.name)
    if not first.startswith(b"READY"):
        server.kill()
        server.communicate()
        raise RunError(f"{program.name}: expected READY, got {first!r}")
    return server


def read_line(proc, stream, timeout, who):
    """One line from `stream` (a pipe of `proc`), byte by byte so that nothing
    after it is buffered away; bounded by `timeout` seconds."""
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    line = b""
    deadline = time.monotonic() + timeout
    try:
        while not line.endswith(b"\n"):
            if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
                raise RunError(f"{who}: no line within {timeout} s")
            chunk = os.read(stream.fileno(), 1)
            if not chunk:
                raise RunError(f"{who}: exited before its line: "
                               f"{proc.stderr.read().decode(errors='replace')[-300:]}")
            line += chunk
    finally:
        sel.close()
    return line


def rss_kb(pid):
    """(VmRSS, RssAnon) of a process, in KiB, from /proc/PID/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            fields[key] = int(value.split()[0])
    return fields["VmRSS"], fields["RssAnon"]


def next_port():
    global _next_port
    port = _next_port
    _next_port = PORT_BASE + (_next_port - PORT_BASE + 1) % 1000
    return port


def run_memory(program, conns, env):
    """RSS of an echo server with `conns` idle connections, minus before them.

    `loadgen --hold` makes one warm-up connection do a round trip (so the
    code paths, the read buffer and the loop's first allocations are in
    "before"), waits; the harness samples the server's /proc/PID/status;
    then it opens `conns` more connections, each makes one round trip, and
    it waits again: the second sample. Then it closes everything and the
    server exits as in the echo runs."""
    port = next_port()
    server = start_server(program, port, env)
    client = None
    try:
        client = subprocess.Popen(cpu_prefix(1) + [str(LOADGEN), "--hold", str(port), str(conns), str(ECHO_SIZE)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=os.environ.copy())
        samples = []
        for step in (b"STEP warm", b"STEP held"):
            line = read_line(client, client.stdout, 120, "loadgen --hold")
            if not line.startswith(step):
                raise RunError(f"loadgen --hold: expected {step!r}, got {line!r}")
            time.sleep(0.2)  # let the server settle back into its wait
            samples.append(rss_kb(server.pid))
            client.stdin.write(b"go\n")
            client.stdin.flush()
        out, err = client.communicate(timeout=60)
        if client.returncode != 0:
            raise RunError(f"loadgen --hold: exit {client.returncode}: {err.decode(errors='replace')[-300:]}")
        wait_s = 15 + conns // 1000
        try:
            server.communicate(timeout=wait_s)
        except subprocess.TimeoutExpired:
            raise RunError(f"{program.name}: did not exit within {wait_s} s of the last close")
        if server.returncode != 0:
            raise RunError(f"{program.name}: exit {server.returncode}")
        (rss0, anon0), (rss1, anon1) = samples
        r = {"conns": conns, "rss_before_kb": rss0, "rss_after_kb": rss1,
             "anon_before_kb": anon0, "anon_after_kb": anon1}
        return memory_metrics(r), r
    finally:
        for proc in (client, server):
            if proc is not None and proc.poll() is None:
                proc.kill()  # by PID
                proc.communicate()


_next_port = PORT_BASE


def run_echo(program, conns, env, warmup_ms, duration_ms):
    port = next_port()
    server = start_server(program, port, env)
    try:
        client_out = run_once(cpu_prefix(1) + [str(LOADGEN), str(port), str(conns), str(ECHO_SIZE),
                                               str(warmup_ms), str(duration_ms)],
                              os.environ.copy(), timeout=(warmup_ms + duration_ms) / 1000 + 30)
        client = parse_result(client_out, "loadgen")
        # The server exits by itself once the last connection has closed
        # (15 s, and 1 s more per 1,000 connections to close).
        wait_s = 15 + conns // 1000
        try:
            out, err = server.communicate(timeout=wait_s)
        except subprocess.TimeoutExpired:
            raise RunError(f"{program.name}: did not exit within {wait_s} s of the last close")
        if server.returncode != 0:
            raise RunError(f"{program.name}: exit {server.returncode}: {err.decode(errors='replace')[-300:]}")
        return echo_metrics(parse_result(out.decode(), program.name), client), {"client": client}
    finally:
        if server.poll() is None:
            server.kill()  # by PID
            server.communicate()


def run_variant(variant, peer, program):
    env = os.environ.copy()
    env.pop("BENCH_COUNT_MALLOCS", None)
    env.pop("BACKEND", None)  # a peer's backend is its own (Peer.env), never the caller's
    env.update(peer.env)
    if variant.count_mallocs:
        env["BENCH_COUNT_MALLOCS"] = "1"
    extra = peer.extra.get(variant.workload, [])
    if variant.group == "memory":
        return run_memory(program, variant.args[0], env)
    if variant.workload == "echo":
        if variant.count_mallocs:
            return run_echo(program, variant.args[0], env, 300, 1000)
        return run_echo(program, variant.args[0], env, ECHO_WARMUP_MS, ECHO_DURATION_MS)
    # xthread uses two or more threads: leave it unpinned.
    pin = [] if variant.workload in ("xthread", "hop") else cpu_prefix(0)
    cmd = pin + [str(program)] + [str(a) for a in variant.args] + extra
    r = parse_result(run_once(cmd, env, timeout=TIMEOUT), program.name)
    if variant.workload == "timers":
        if r.get("order_ok") != "1":
            raise RunError(f"{program.name}: timers fired out of order or wrongly: {r}")
        return timer_metrics(r), r
    if variant.workload == "xthread":
        return xthread_metrics(r), r
    if variant.workload == "hop":
        return hop_metrics(r), r
    return loop_metrics(r), r


# ---- tables ----------------------------------------------------------------

def fmt(metric, value):
    if value is None or value != value:  # None or NaN
        return "—"
    text = metric.fmt.format(value)
    if value > 0 and float(text.replace(",", "")) == 0:
        return "<" + metric.fmt.format(10 ** -int(metric.fmt.split(".")[1][0]))  # e.g. "<0.001"
    return text


def table(vs, peers, results):
    """results[(variant, peer)] = list of metric dicts, or a str (why not).

    One Markdown table per group; the variants of a group have columns with
    the same headers (their metric keys may differ, e.g. allocs/op)."""
    lines = []
    for group in dict.fromkeys(v.group for v in vs):
        gvs = [v for v in vs if v.group == group]
        columns = gvs[0].metrics
        has_ref = any(isinstance(results.get((v.name, REFERENCE)), list) for v in gvs)
        header = ["", "peer"] + [m.header for m in columns] + ["spread"]
        if has_ref:
            header += [f"{ratio_name('peer')}, {m.header} ({'higher' if m.higher_is_better else 'lower'}"
                       " is better)" for m in columns if m.ratio]
        lines += [f"### {GROUP_TITLES.get(group, group)}", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for v in gvs:
            ref = medians(v.metrics, results.get((v.name, REFERENCE)))
            for p in peers:
                runs = results.get((v.name, p.name))
                if runs is None:
                    continue
                row = [v.label, p.name]
                if isinstance(runs, str):
                    row += [runs] + [""] * (len(header) - 3)
                    lines.append("| " + " | ".join(row) + " |")
                    continue
                med = medians(v.metrics, runs)
                row += [fmt(m, med[m.key]) for m in v.metrics]
                # Spread of the first metric over the repeats: ±half the range.
                first = [r[v.metrics[0].key] for r in runs]
                m0 = med[v.metrics[0].key]
                row.append(f"±{(max(first) - min(first)) / m0 * 50:.0f}% (n={len(runs)})"
                           if m0 else f"n={len(runs)}")
                if has_ref:
                    for m in v.metrics:
                        if not m.ratio:
                            continue
                        if ref is None or p.name == REFERENCE or not med[m.key]:
                            row.append("")
                        else:
                            ref_runs = results[(v.name, REFERENCE)]
                            row.append(paired_ratio(m.key, runs, ref_runs) if VERSUS
                                       else paired_ratio(m.key, ref_runs, runs))
                lines.append("| " + " | ".join(row) + " |")
        lines.append("")
    return "\n".join(lines)


def ratio_name(peer):
    """The ratio columns' name: "ours ÷ peer", or with VERSUS "peer ÷ VERSUS"."""
    return f"{peer} ÷ {VERSUS}" if VERSUS else f"{REFERENCE} ÷ {peer}"


def paired_ratio(key, ours, theirs):
    """Ours ÷ peer as the median of the per-repeat ratios, with their range.

    The peers of one repeat run back to back (interleaved), so they share
    the machine's state of the moment; a ratio within a repeat is steadier
    on a shared machine than the ratio of two medians taken minutes apart."""
    ratios = [a[key] / b[key] for a, b in zip(ours, theirs) if b[key]]
    if not ratios:
        return ""
    def show(r):
        return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"
    middle = statistics.median(ratios)
    if len(ratios) == 1:
        return f"{show(middle)}×"
    return f"{show(middle)}× ({show(min(ratios))}–{show(max(ratios))})"


def medians(metrics, runs):
    if not isinstance(runs, list) or not runs:
        return None
    return {m.key: statistics.median(r[m.key] for r in runs) for m in metrics}


# ---- main ------------------------------------------------------------------

PIN = (os.cpu_count() or 1) >= 2
TIMEOUT = 180
# The most connections a variant opens, plus room for the rest.
NOFILE_WANTED = 10_000 + 1_024


def machine_info():
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "kernel": os.uname().release, "cpu": cpu,
            "loadavg_before": os.getloadavg()[0]}


def heading(meta):
    m = meta.get("machine", {})
    pooled = f"{meta['pooled']} runs pooled, " if meta.get("pooled") else ""
    return (f"Medians of {meta.get('repeats', '?')} interleaved runs ({meta.get('mode', '?')} mode, {pooled}"
            f"{meta.get('elapsed_s', 0):.0f} s) on {m.get('nproc', '?')} CPUs ({m.get('cpu', '?')}), "
            f"Linux {m.get('kernel', '?')}; 1-min load average {m.get('loadavg_before', 0):.2f} before, "
            f"{m.get('loadavg_after', 0):.2f} after. spread = ± half the range of the first "
            f"column over the runs; {ratio_name('peer')} = the median of the ratios within each "
            "repeat (their range in brackets).\n\n")


def rebuild(raw):
    """The results map of table() from saved runs."""
    results = {}
    for r in raw:
        key = (r["variant"], r["peer"])
        if "skipped" in r:
            results[key] = r["skipped"]
        elif "error" in r:
            results[key] = f"failed: {r['error'][:120]}"
        elif not isinstance(results.get(key), str):
            results.setdefault(key, []).append(r["metrics"])
    return results


def render(paths):
    """bench.py --render DIR [DIR ...]: print the table of saved runs again.

    Several runs of the same variants and peers are rendered as one, their
    repeats pooled (each run's repeats stay paired for the ratios)."""
    raw, metas = [], []
    for path in paths:
        saved = json.loads((Path(path) / "runs.json").read_text())
        raw += saved["runs"]
        metas.append(saved["meta"])
    meta = dict(metas[0])
    if len(metas) > 1:
        meta["repeats"] = sum(m.get("repeats", 0) for m in metas)
        meta["elapsed_s"] = sum(m.get("elapsed_s", 0) for m in metas)
        meta["pooled"] = len(metas)
        meta.setdefault("machine", {})["loadavg_after"] = metas[-1].get("machine", {}).get("loadavg_after", 0)
    names = {r["variant"] for r in raw}
    vs = [v for v in variants(quick=False) if v.name in names]
    peer_names = {r["peer"] for r in raw}
    print(heading(meta) + table(vs, [p for p in PEERS if p.name in peer_names], rebuild(raw)))
    return 0


def main(argv):
    if len(argv) >= 3 and argv[1] == "--render":
        return render(argv[2:])
    all_variants = variants()
    wanted = argv[1:]
    groups = {v.group for v in all_variants}
    names = {v.name for v in all_variants}
    for w in wanted:
        if w not in groups and w not in names:
            sys.exit(f"unknown group or variant {w!r}; groups: {sorted(groups)}; "
                     f"variants: {sorted(names)}")
    vs = [v for v in all_variants if not wanted or v.group in wanted or v.name in wanted]
    peers = PEERS
    if os.environ.get("PEERS"):
        keep = set(os.environ["PEERS"].split(","))
        peers = [p for p in PEERS if p.name in keep]
    if not LOADGEN.exists() and any(v.workload == "echo" for v in vs):
        sys.exit(f"{LOADGEN} is missing: build with run.sh (or make -C c)")
    if not PIN:
        print("note: fewer than 2 CPUs, running unpinned", file=sys.stderr)
    raise_descriptor_limit()

    meta = {"mode": "QUICK" if QUICK else "full", "repeats": REPEATS, "machine": machine_info()}
    raw = []
    plan = []
    for v in vs:
        short = descriptor_shortfall(v.args[0]) if v.workload == "echo" else None
        for p in peers:
            why = SKIP.get((v.name, p.name)) or short
            if p.program(v.workload, v.name) and why:
                raw.append({"variant": v.name, "peer": p.name, "skipped": why})
        if short:
            continue
        for rep in range(REPEATS):
            for p in peers:  # interleaved: A B C, A B C, ...
                prog = p.program(v.workload, v.name)
                if v.peers and p.name not in v.peers:
                    prog = None
                if prog is not None and (v.name, p.name) not in SKIP:
                    plan.append((v, rep, p, prog))
    failed = set()
    started = time.monotonic()
    for i, (v, rep, p, prog) in enumerate(plan, 1):
        if (v.name, p.name) in failed:
            continue  # an earlier repeat failed
        try:
            metrics, detail = run_variant(v, p, prog)
        except RunError as e:
            print(f"[{i}/{len(plan)}] {v.name} {p.name}: FAILED: {e}", file=sys.stderr)
            failed.add((v.name, p.name))
            raw.append({"variant": v.name, "peer": p.name, "repeat": rep, "error": str(e)})
            continue
        raw.append({"variant": v.name, "peer": p.name, "repeat": rep, "metrics": metrics,
                    "detail": detail})
        first = v.metrics[0]
        print(f"[{i}/{len(plan)}] {v.name:<16} {p.name:<8} rep {rep + 1}: "
              f"{first.header} {fmt(first, metrics[first.key])}", file=sys.stderr)

    meta["elapsed_s"] = time.monotonic() - started
    meta["machine"]["loadavg_after"] = os.getloadavg()[0]
    out_dir = ROOT / ".build-results" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "runs.json").write_text(json.dumps({"meta": meta, "runs": raw}, indent=1) + "\n")
    text = heading(meta) + table(vs, peers, rebuild(raw))
    print(text)
    (out_dir / "table.md").write_text(text + "\n")
    print(f"(raw runs and table saved in {out_dir.relative_to(ROOT.parent)}; "
          f"print again with: python3 Benchmarks/harness/bench.py --render "
          f"{out_dir.relative_to(ROOT.parent)})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
