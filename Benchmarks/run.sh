#!/usr/bin/env bash
# Builds every benchmark program in release and runs the comparison.
#
#   bash Benchmarks/run.sh                 everything (about 13 minutes of runs on 2 cores)
#   bash Benchmarks/run.sh echo timers     only these groups (echo timers xthread loop hop allocs memory)
#                                          or variants (echo-50, timers-1M, xthread-4, ...)
#   QUICK=1 bash Benchmarks/run.sh         a short run (about 6 minutes)
#   REPEATS=5 PEERS=libev,nio bash Benchmarks/run.sh loop
#   SKIP_BUILD=1 ...                       reuse the last build
#
# Needs: a C compiler and make, Swift 6.1+, python3 (stdlib only), taskset
# (util-linux) for pinning, and the libev/libuv headers, installed below
# with apt-get when missing. Everything runs on 127.0.0.1 only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ -z "${SKIP_BUILD:-}" ]]; then
    missing=()
    for pkg in libev-dev libuv1-dev; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        echo "== installing ${missing[*]}" >&2
        sudo=""
        [[ $(id -u) -ne 0 ]] && sudo="sudo"
        $sudo apt-get update && $sudo apt-get install -y "${missing[@]}"
    fi

    echo "== building the C peers and the load generator" >&2
    make -C "$here/c" --no-print-directory -j2 >&2

    echo "== building the Swift programs (release)" >&2
    # Builds every executable target: nio-* and ours-*.
    swift build -c release --package-path "$here" >&2
fi

# The peers (c-epoll, libev, libuv, nio, nio-cb, ours) are a list in
# harness/bench.py; the "ours ÷ peer" ratio columns come with the ours rows.
exec python3 "$here/harness/bench.py" "$@"
