"""How much the kernel witness costs: run with `python bench/kernel_sampling.py`.

Opens N loopback connections to one listener (half accepted, half left in the accept
queue), then times read_accept_queue, SockDiag.dump_port and classify, and the same
classification from parsing /proc/net/tcp.
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.kernel import (  # noqa: E402
    PeerState,
    SockDiag,
    SocketEntry,
    TcpState,
    classify,
    read_accept_queue,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--connections", type=int, default=2000)
    parser.add_argument("--queue-iterations", type=int, default=100_000)
    parser.add_argument("--dump-iterations", type=int, default=300)
    parser.add_argument("--proc-iterations", type=int, default=30)
    args = parser.parse_args()
    n: int = args.connections

    _raise_nofile(2 * n + 64)
    listener = socket.socket()
    clients: list[socket.socket] = []
    accepted: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(n)
        port: int = listener.getsockname()[1]
        t0 = time.perf_counter()
        for _ in range(n):
            c = socket.socket()
            clients.append(c)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
        for _ in range(n // 2):
            accepted.append(listener.accept()[0])
        print(
            f"{n} connections to 127.0.0.1:{port} in {time.perf_counter() - t0:.2f} s "
            f"({len(accepted)} accepted, {n - len(accepted)} queued)"
        )

        queue = read_accept_queue(listener)
        print(f"accept queue: length {queue.length}, capacity {queue.capacity}")
        with SockDiag() as diag:
            entries = diag.dump_port(port)
            by_diag = classify(entries, port)
            by_proc = classify(_proc_net_tcp(port), port)
            print(f"sock_diag entries: {len(entries)}, classified: {_counts(by_diag)}")
            if by_diag != by_proc:
                raise SystemExit("sock_diag and /proc/net/tcp disagree")

            q = _time_calls(lambda: read_accept_queue(listener), args.queue_iterations)
            d = _time_calls(lambda: diag.dump_port(port), args.dump_iterations)
            fresh = _time_calls(lambda: _fresh_dump(port), args.dump_iterations)
            dc = _time_calls(lambda: classify(diag.dump_port(port), port), args.dump_iterations)
            cl = _time_calls(lambda: classify(entries, port), args.dump_iterations)
            p = _time_calls(lambda: classify(_proc_net_tcp(port), port), args.proc_iterations)
        tcp_lines = Path("/proc/net/tcp").read_text().count("\n") - 1

        print(f"\n{'per call':<34}{'median µs':>12}{'p99 µs':>12}")
        for label, samples in (
            ("read_accept_queue", q),
            ("SockDiag.dump_port", d),
            ("first dump_port of a new SockDiag", fresh),
            ("classify", cl),
            ("dump_port + classify", dc),
            ("/proc/net/tcp parse + classify", p),
        ):
            print(f"{label:<34}{_median_us(samples):>12.2f}{_p99_us(samples):>12.2f}")
        print(
            f"\n/proc/net/tcp ({tcp_lines} lines) vs dump_port + classify: "
            f"{_median_us(p) / _median_us(dc):.1f}x slower (median)"
        )
    finally:
        for s in (*accepted, *clients, listener):
            s.close()


def _fresh_dump(port: int) -> list[SocketEntry]:
    with SockDiag() as diag:
        return diag.dump_port(port)


def _raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        if hard != resource.RLIM_INFINITY and hard < needed:
            raise SystemExit(f"need {needed} file descriptors, hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


_PROC_STATES = {f"{s.value:02X}": s for s in TcpState}


def _proc_net_tcp(port: int) -> list[SocketEntry]:
    entries = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1][-4:], 16)
            remote_port = int(fields[2][-4:], 16)
            if local_port != port and remote_port != port:
                continue
            state = _PROC_STATES[fields[3]]
            # sock_diag is asked to leave these out; keep the comparison like for like.
            if state in (TcpState.TIME_WAIT, TcpState.CLOSE):
                continue
            entries.append(SocketEntry(local_port, remote_port, state, int(fields[9])))
    return entries


def _time_calls(call: Callable[[], object], iterations: int) -> list[int]:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(iterations):
        start = clock()
        call()
        samples.append(clock() - start)
    return samples


def _median_us(samples: list[int]) -> float:
    return statistics.median(samples) / 1000


def _p99_us(samples: list[int]) -> float:
    return statistics.quantiles(samples, n=100)[98] / 1000


def _counts(states: dict[int, PeerState]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state.value] = counts.get(state.value, 0) + 1
    return counts


if __name__ == "__main__":
    main()
