"""The listening socket's accept queue, read from the socket itself."""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from app.kernel.tcp_info import TcpState, read_tcp_info

__all__ = ["AcceptQueueSample", "read_accept_queue"]


@dataclass(frozen=True, slots=True)
class AcceptQueueSample:
    t_ns: int
    length: int
    # Linux admits a connection while length <= capacity, so length can reach capacity + 1.
    capacity: int


def read_accept_queue(sock: socket.socket) -> AcceptQueueSample:
    """Sample the accept queue of a listening TCP socket.

    For a socket in LISTEN, the kernel reports the accept queue's length in
    tcpi_unacked and its capacity (the backlog, capped by net.core.somaxconn) in
    tcpi_sacked.
    """
    info = read_tcp_info(sock)
    t_ns = time.monotonic_ns()
    if info.state != TcpState.LISTEN:
        # On any other socket these fields are segment counters, not the queue.
        raise ValueError(f"socket is not listening (tcpi_state={info.state})")
    return AcceptQueueSample(t_ns=t_ns, length=info.unacked, capacity=info.sacked)
