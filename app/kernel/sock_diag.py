"""Per-connection TCP state from the kernel via netlink sock_diag (what `ss` uses)."""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from app.kernel.tcp_info import TcpState

__all__ = ["PeerState", "SockDiag", "SocketEntry", "classify", "listener_queue"]


@dataclass(frozen=True, slots=True)
class SocketEntry:
    local_port: int
    remote_port: int
    state: TcpState
    # 0 when no process owns the socket: still in the accept queue, a request sock, or
    # an orphan the process has already closed.
    inode: int
    # For a LISTEN socket the kernel reports the accept queue here: its length in rqueue,
    # its capacity (the backlog, capped by somaxconn) in wqueue.
    rqueue: int = 0
    wqueue: int = 0


class PeerState(StrEnum):
    CONNECTING = "connecting"
    LIMBO = "limbo"
    QUEUED = "queued"
    ACCEPTED = "accepted"


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_DUMP_REQUEST = _NLM_F_REQUEST | _NLM_F_DUMP
_NLMSG_ERROR = 2
_NLMSG_DONE = 3
_INET_DIAG_REQ_BYTECODE = 1
_INET_DIAG_BC_JMP = 1
_INET_DIAG_BC_S_EQ = 11
_INET_DIAG_BC_D_EQ = 12

# TIME_WAIT and CLOSE say nothing about a live connection and can outnumber the rest by
# far; leaving them out of the mask lets the kernel skip them before running the filter.
# The kernel widens SYN_RECV to NEW_SYN_RECV itself (request socks); both bits are set.
_STATE_MASK = sum(1 << s for s in TcpState if s not in (TcpState.TIME_WAIT, TcpState.CLOSE))
# LISTEN alone: the kernel then walks only the listening hash and skips the established
# one, whose every bucket a dump visits whatever the filter (262,144 here, ~1 ms).
_LISTEN_MASK = 1 << TcpState.LISTEN

_NLMSGHDR = struct.Struct("=IHHII")
_REQ_V2 = struct.Struct("=BBBxI48x")  # family, protocol, ext, pad, states, zeroed sockid
_NLATTR = struct.Struct("=HH")
# inet_diag_bc_op {u8 code; u8 yes; u16 no}. "sport == P or dport == P", laid out as ss
# compiles an OR: a failed first test jumps over itself and the JMP to the second test; a
# passed one lands on the JMP, which always jumps to the end. Landing exactly on the end
# accepts, landing 4 bytes past it rejects. Ports are in host byte order here.
_BC_PORT_OR = struct.Struct("=" + "BBH" * 5)
_REQUEST_SIZE = _NLMSGHDR.size + _REQ_V2.size + _NLATTR.size + _BC_PORT_OR.size

# nlmsghdr followed by inet_diag_msg up to idiag_inode, in one unpack: length, type,
# seq, state, sport and dport (network byte order), rqueue, wqueue, inode.
_MSG = struct.Struct("=IH2xI4x xB2x HH 48x II 4x I")
_ERRNO = struct.Struct("=i")

# A dump skb is at most 32 KiB (the kernel sizes it by our largest recv, capped there).
_RECV_SIZE = 64 * 1024
_SO_RCVBUF = 1024 * 1024

# Indexed by the kernel's state number; 0 is never reported and holds a filler.
_STATES: tuple[TcpState, ...] = (TcpState.CLOSE, *TcpState)


class SockDiag:
    """One netlink socket, reused for repeated filtered dumps of IPv4 TCP sockets."""

    __slots__ = ("_buf", "_entries", "_seq", "_sock")

    def __init__(self) -> None:
        self._sock = _open_netlink()
        # The padding lets _MSG be unpacked at any message start, even a short final
        # NLMSG_DONE, without a separate header unpack per message.
        self._buf = bytearray(_RECV_SIZE + _MSG.size)
        self._seq = 0
        # Building a frozen dataclass costs more than parsing its message, and most
        # sockets look the same from one sample to the next: reuse the previous dump's
        # entries, keyed by the raw fields.
        self._entries: dict[tuple[int, int, int, int, int, int], SocketEntry] = {}

    def __enter__(self) -> SockDiag:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def dump_port(self, port: int, listening_only: bool = False) -> list[SocketEntry]:
        """IPv4 TCP sockets (no TIME_WAIT/CLOSE) whose source or destination port is `port`;
        with `listening_only`, only the LISTEN socket, far cheaper (its accept queue)."""
        if not 0 < port < 65536:
            raise ValueError(f"port out of range: {port}")
        self._seq = seq = self._seq % 0xFFFFFFFF + 1
        self._sock.send(_request(port, seq, _LISTEN_MASK) if listening_only else _request(port, seq))
        try:
            return self._receive(seq)
        except BaseException:
            # A dump left half-read keeps running on this socket, and every request sent
            # meanwhile fails with EBUSY: start afresh rather than drain it.
            self._sock.close()
            self._sock = _open_netlink()
            raise

    def _receive(self, seq: int) -> list[SocketEntry]:
        entries: list[SocketEntry] = []
        append = entries.append
        previous = self._entries
        self._entries = current = {}
        buf = self._buf
        unpack = _MSG.unpack_from
        while True:
            size = self._sock.recv_into(buf, _RECV_SIZE)
            off = 0
            while off < size:
                length, mtype, mseq, state, sport, dport, rqueue, wqueue, inode = unpack(buf, off)
                if length < _NLMSGHDR.size or off + length > size:
                    raise OSError(f"malformed netlink message at offset {off}")
                if mseq == seq:
                    if mtype == _SOCK_DIAG_BY_FAMILY:
                        key = (state, sport, dport, inode, rqueue, wqueue)
                        entry = previous.get(key)
                        if entry is None:
                            entry = SocketEntry(
                                socket.ntohs(sport), socket.ntohs(dport), _STATES[state], inode, rqueue, wqueue
                            )
                        current[key] = entry
                        append(entry)
                    elif mtype == _NLMSG_DONE or mtype == _NLMSG_ERROR:
                        (err,) = _ERRNO.unpack_from(buf, off + _NLMSGHDR.size)
                        if err < 0:
                            raise OSError(-err, os.strerror(-err))
                        return entries
                off += (length + 3) & ~3


def _open_netlink() -> socket.socket:
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, _NETLINK_SOCK_DIAG)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SO_RCVBUF)
        sock.bind((0, 0))
    except BaseException:
        sock.close()
        raise
    return sock


def _request(port: int, seq: int, states: int = _STATE_MASK) -> bytes:
    return b"".join(
        (
            _NLMSGHDR.pack(_REQUEST_SIZE, _SOCK_DIAG_BY_FAMILY, _DUMP_REQUEST, seq, 0),
            _REQ_V2.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, states),
            _NLATTR.pack(_NLATTR.size + _BC_PORT_OR.size, _INET_DIAG_REQ_BYTECODE),
            _BC_PORT_OR.pack(
                _INET_DIAG_BC_S_EQ,
                8,
                12,
                0,
                0,
                port,
                _INET_DIAG_BC_JMP,
                4,
                12,
                _INET_DIAG_BC_D_EQ,
                8,
                12,
                0,
                0,
                port,
            ),
        )
    )


# The client keeps SYN_SENT until the SYN-ACK arrives; once past it, a client with no
# server-side socket is in limbo. CLOSE_WAIT, LAST_ACK and CLOSING are left out: they
# need a FIN from the server, so the server did hold the connection.
_CLIENT_LIMBO = frozenset({TcpState.ESTABLISHED, TcpState.FIN_WAIT1, TcpState.FIN_WAIT2})
# Request socks (SYN_RECV) are not sockets the server holds; LISTEN is no connection.
_SERVER_IGNORED = frozenset({TcpState.LISTEN, TcpState.SYN_RECV, TcpState.NEW_SYN_RECV})
_IN_ACCEPT_QUEUE = frozenset({TcpState.ESTABLISHED, TcpState.CLOSE_WAIT})


def classify(entries: Iterable[SocketEntry], server_port: int) -> dict[int, PeerState]:
    """Map each client port talking to `server_port` to its PeerState.

    Ports the kernel cannot place (e.g. the server has already closed its side) are
    left out: `closed` is the client's call, not the kernel's.
    """
    clients: dict[int, TcpState] = {}
    # None marks a server-side socket that is neither queued nor accepted (an orphan).
    servers: dict[int, PeerState | None] = {}
    for e in entries:
        if e.local_port == server_port:
            state = e.state
            if state in _SERVER_IGNORED:
                continue
            if e.inode:
                servers[e.remote_port] = PeerState.ACCEPTED
            elif state in _IN_ACCEPT_QUEUE:
                servers[e.remote_port] = PeerState.QUEUED
            else:
                servers[e.remote_port] = None
        elif e.remote_port == server_port:
            clients[e.local_port] = e.state

    result: dict[int, PeerState] = {}
    for port, state in clients.items():
        if port in servers:
            continue
        if state is TcpState.SYN_SENT:
            result[port] = PeerState.CONNECTING
        elif state in _CLIENT_LIMBO:
            result[port] = PeerState.LIMBO
    for port, peer in servers.items():
        if peer is not None:
            result[port] = peer
    return result


def listener_queue(entries: Iterable[SocketEntry], server_port: int) -> tuple[int, int] | None:
    """The accept queue's (length, capacity) from the LISTEN socket's entry, or None when
    nothing listens on the port any more."""
    for e in entries:
        if e.local_port == server_port and e.state is TcpState.LISTEN:
            return e.rqueue, e.wqueue
    return None
