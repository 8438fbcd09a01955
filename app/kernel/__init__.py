"""The kernel witness: accept queue and per-connection socket states."""

from app.kernel.accept_queue import AcceptQueueSample, read_accept_queue
from app.kernel.sock_diag import PeerState, SockDiag, SocketEntry, TcpState, classify, listener_queue

__all__ = [
    "AcceptQueueSample",
    "PeerState",
    "SockDiag",
    "SocketEntry",
    "TcpState",
    "classify",
    "listener_queue",
    "read_accept_queue",
]
