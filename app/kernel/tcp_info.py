"""The one reader of a socket's `struct tcp_info` (linux/tcp.h, getsockopt TCP_INFO).

The kernel fills the whole struct whatever is asked and copies min(optlen, its size), so
one read of the prefix that ends at the last field we use costs what a one-byte read does.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from enum import IntEnum


class TcpState(IntEnum):
    """tcpi_state and sock_diag's idiag_state (include/net/tcp_states.h)."""

    ESTABLISHED = 1
    SYN_SENT = 2
    SYN_RECV = 3
    FIN_WAIT1 = 4
    FIN_WAIT2 = 5
    TIME_WAIT = 6
    CLOSE = 7
    CLOSE_WAIT = 8
    LAST_ACK = 9
    LISTEN = 10
    CLOSING = 11
    NEW_SYN_RECV = 12


# Byte 0 tcpi_state; bytes 24 and 28 tcpi_unacked and tcpi_sacked (after 8 one-byte fields
# and u32 rto, ato, snd_mss, rcv_mss); byte 100 tcpi_total_retrans.
_PREFIX = struct.Struct("=B23xII68xI")


@dataclass(frozen=True, slots=True)
class TcpInfo:
    state: int
    """A `TcpState` value (compared as an int: no enum built per read)."""
    unacked: int
    """On a listener, the accept queue's length; otherwise unacknowledged segments."""
    sacked: int
    """On a listener, the accept queue's capacity; otherwise selectively acked segments."""
    total_retrans: int
    """Every retransmission of the connection's life (SYNs included)."""


def read_tcp_info(sock: socket.socket) -> TcpInfo:
    return TcpInfo(*_PREFIX.unpack(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _PREFIX.size)))
