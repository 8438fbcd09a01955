"""The listening socket's accept queue, read from the socket itself."""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

__all__ = ["AcceptQueueSample", "read_accept_queue"]

_TCP_LISTEN = 10
# struct tcp_info: 8 one-byte fields, then u32 rto, ato, snd_mss, rcv_mss, unacked,
# sacked. Asking for just these 32 bytes keeps the copy minimal; the kernel copies
# min(optlen, sizeof(struct tcp_info)).
_TCP_INFO_PREFIX = struct.Struct("=B23xII")


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
    raw = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_PREFIX.size)
    t_ns = time.monotonic_ns()
    state, length, capacity = _TCP_INFO_PREFIX.unpack_from(raw)
    if state != _TCP_LISTEN:
        # On any other socket these fields are segment counters, not the queue.
        raise ValueError(f"socket is not listening (tcpi_state={state})")
    return AcceptQueueSample(t_ns=t_ns, length=length, capacity=capacity)
