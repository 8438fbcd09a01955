"""The kernel witness: accept queue and per-connection socket states."""

from app.kernel.accept_queue import AcceptQueueSample, read_accept_queue
from app.kernel.sock_diag import PeerState, SockDiag, SocketEntry, classify, listener_queue
from app.kernel.tcp_info import TcpInfo, TcpState, read_tcp_info

__all__ = [
    "AcceptQueueSample",
    "PeerState",
    "SockDiag",
    "SocketEntry",
    "TcpInfo",
    "TcpState",
    "classify",
    "listener_queue",
    "read_accept_queue",
    "read_tcp_info",
]
