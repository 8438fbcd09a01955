"""The kernel witness against real loopback sockets."""

from __future__ import annotations

import errno
import select
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.kernel import (
    PeerState,
    SockDiag,
    SocketEntry,
    TcpState,
    classify,
    read_accept_queue,
    read_tcp_info,
    sock_diag,
)


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for s in reversed(opened):
        s.close()


@pytest.fixture
def diag() -> Iterator[SockDiag]:
    with SockDiag() as d:
        yield d


def listen(sockets: list[socket.socket], backlog: int) -> tuple[socket.socket, int]:
    s = socket.socket()
    sockets.append(s)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s, s.getsockname()[1]


def connect(sockets: list[socket.socket], port: int, *, delay_ack: bool = False) -> tuple[socket.socket, int]:
    """Start a non-blocking connect; returns the socket and its local (client) port."""
    c = socket.socket()
    sockets.append(c)
    c.setblocking(False)
    if delay_ack:
        # Delayed-ACK ("pingpong") mode before connect(): the client turns ESTABLISHED
        # on the SYN-ACK but sends the handshake's last ACK only ~200 ms later, which is
        # how a burst's SYNs get ahead of its ACKs on a real network.
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
    assert c.connect_ex(("127.0.0.1", port)) in (0, errno.EINPROGRESS)
    return c, c.getsockname()[1]


def wait_connected(clients: list[socket.socket]) -> None:
    pending = set(clients)
    deadline = time.monotonic() + 2.0
    while pending:
        _, writable, _ = select.select([], list(pending), [], deadline - time.monotonic())
        assert writable, "connect() did not complete in time"
        pending.difference_update(writable)
    assert all(c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 for c in clients)


def wait_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.002)


def server_side(entries: list[SocketEntry], port: int) -> dict[int, SocketEntry]:
    return {e.remote_port: e for e in entries if e.local_port == port and e.remote_port}


def client_side(entries: list[SocketEntry], port: int) -> dict[int, SocketEntry]:
    return {e.local_port: e for e in entries if e.remote_port == port}


# --- accept queue ---


def test_accept_queue_holds_capacity_plus_one(sockets: list[socket.socket]) -> None:
    listener, port = listen(sockets, backlog=3)
    assert read_accept_queue(listener).length == 0

    clients = [connect(sockets, port)[0] for _ in range(4)]
    wait_connected(clients)
    before = time.monotonic_ns()
    sample = read_accept_queue(listener)
    after = time.monotonic_ns()

    assert (sample.length, sample.capacity) == (4, 3)
    assert before <= sample.t_ns <= after

    conn, _ = listener.accept()
    sockets.append(conn)
    assert read_accept_queue(listener).length == 3


def test_accept_queue_does_not_grow_past_capacity_plus_one(
    sockets: list[socket.socket],
) -> None:
    listener, port = listen(sockets, backlog=1)
    wait_connected([connect(sockets, port)[0] for _ in range(2)])
    connect(sockets, port)  # its SYN is dropped: the queue is full

    sample = read_accept_queue(listener)
    assert (sample.length, sample.capacity) == (2, 1)


def test_accept_queue_capacity_is_capped_by_somaxconn(sockets: list[socket.socket]) -> None:
    somaxconn = int(Path("/proc/sys/net/core/somaxconn").read_text())
    listener, _ = listen(sockets, backlog=somaxconn + 1000)
    assert read_accept_queue(listener).capacity == somaxconn


def test_read_accept_queue_rejects_a_connected_socket(sockets: list[socket.socket]) -> None:
    _, port = listen(sockets, backlog=1)
    client, _ = connect(sockets, port)
    wait_connected([client])
    with pytest.raises(ValueError, match="not listening"):
        read_accept_queue(client)


def test_tcp_info_reads_the_state_and_the_retransmissions(sockets: list[socket.socket]) -> None:
    listener, port = listen(sockets, backlog=0)
    first, _ = connect(sockets, port)
    wait_connected([first])
    assert read_tcp_info(first).state == TcpState.ESTABLISHED
    assert read_tcp_info(first).total_retrans == 0
    assert read_tcp_info(listener).state == TcpState.LISTEN
    info = read_tcp_info(listener)
    assert (info.unacked, info.sacked) == (1, 0)
    # The queue (capacity 0, and a length may reach capacity + 1) is full, so the kernel
    # drops the next SYN and the client sends it again after its 1 s timeout.
    late, _ = connect(sockets, port)
    wait_until(lambda: read_tcp_info(late).total_retrans >= 1, timeout=5)
    assert read_tcp_info(late).state == TcpState.SYN_SENT


# --- sock_diag dump ---


def test_dump_returns_only_sockets_of_the_port(sockets: list[socket.socket], diag: SockDiag) -> None:
    _, port = listen(sockets, backlog=8)
    client, client_port = connect(sockets, port)
    _, other_port = listen(sockets, backlog=8)
    other, other_client_port = connect(sockets, other_port)
    wait_connected([client, other])

    entries = diag.dump_port(port)

    assert all(port in (e.local_port, e.remote_port) for e in entries)
    assert {other_port, other_client_port}.isdisjoint(
        {e.local_port for e in entries} | {e.remote_port for e in entries}
    )
    # Both halves of the OR filter matched: the listener, the server side (sport) and
    # the client side (dport).
    assert sorted((e.local_port, e.remote_port, e.state) for e in entries) == sorted(
        [
            (port, 0, TcpState.LISTEN),
            (port, client_port, TcpState.ESTABLISHED),
            (client_port, port, TcpState.ESTABLISHED),
        ]
    )
    inodes = {(e.local_port, e.remote_port): e.inode for e in entries}
    assert inodes[(port, 0)] != 0  # the listener is owned by this process
    assert inodes[(client_port, port)] != 0
    assert inodes[(port, client_port)] == 0  # not accepted: no socket object yet


def test_dump_spanning_many_netlink_messages(sockets: list[socket.socket], diag: SockDiag) -> None:
    # ~124 bytes per socket and at most 32 KiB per reply: 1201 sockets need several.
    _, port = listen(sockets, backlog=1024)
    ports = {connect(sockets, port)[1] for _ in range(600)}

    for _ in range(2):  # the second dump goes through the entry cache
        entries = diag.dump_port(port)
        assert len(entries) == 2 * 600 + 1
        assert set(client_side(entries, port)) == ports
        assert set(server_side(entries, port)) == ports


def test_dump_error_raises_oserror_and_the_socket_stays_usable(
    sockets: list[socket.socket], diag: SockDiag, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port = listen(sockets, backlog=1)
    good_request = sock_diag._request

    def jump_of_zero(port: int, seq: int) -> bytes:
        request = bytearray(good_request(port, seq))
        # First op's "yes" offset: 0 would loop for ever, so the kernel's audit refuses it.
        request[16 + 56 + 4 + 1] = 0
        return bytes(request)

    monkeypatch.setattr(sock_diag, "_request", jump_of_zero)
    with pytest.raises(OSError) as raised:
        diag.dump_port(port)
    assert raised.value.errno == errno.EINVAL

    monkeypatch.setattr(sock_diag, "_request", good_request)
    assert [e.state for e in diag.dump_port(port)] == [TcpState.LISTEN]


def test_a_dump_abandoned_half_way_does_not_break_the_next(
    sockets: list[socket.socket], diag: SockDiag, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, port = listen(sockets, backlog=1024)
    for _ in range(600):  # several netlink messages' worth
        connect(sockets, port)
    built = 0

    def entry_then_fail(*args: object) -> SocketEntry:
        nonlocal built
        built += 1
        if built > 10:
            raise RuntimeError("interrupted")
        return SocketEntry(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(sock_diag, "SocketEntry", entry_then_fail)
    with pytest.raises(RuntimeError):
        diag.dump_port(port)
    monkeypatch.undo()

    assert len(diag.dump_port(port)) == 2 * 600 + 1


def test_dump_port_rejects_out_of_range_port(diag: SockDiag) -> None:
    with pytest.raises(ValueError):
        diag.dump_port(70000)


# --- classify against the kernel ---


def test_unaccepted_is_queued_and_accepted_is_accepted(sockets: list[socket.socket], diag: SockDiag) -> None:
    listener, port = listen(sockets, backlog=3)
    clients = [connect(sockets, port) for _ in range(2)]
    wait_connected([c for c, _ in clients])
    client_ports = {p for _, p in clients}

    assert classify(diag.dump_port(port), port) == dict.fromkeys(client_ports, PeerState.QUEUED)

    conn, (_, accepted_port) = listener.accept()
    sockets.append(conn)  # kept open: the process owns it
    assert classify(diag.dump_port(port), port) == {
        accepted_port: PeerState.ACCEPTED,
        (client_ports - {accepted_port}).pop(): PeerState.QUEUED,
    }


def test_client_closed_while_queued_is_still_queued(sockets: list[socket.socket], diag: SockDiag) -> None:
    _, port = listen(sockets, backlog=3)
    client, client_port = connect(sockets, port)
    wait_connected([client])
    client.close()

    def server_got_fin() -> bool:
        return server_side(diag.dump_port(port), port)[client_port].state is TcpState.CLOSE_WAIT

    wait_until(server_got_fin)

    assert classify(diag.dump_port(port), port) == {client_port: PeerState.QUEUED}


def test_syn_dropped_by_a_full_queue_is_connecting(sockets: list[socket.socket], diag: SockDiag) -> None:
    listener, port = listen(sockets, backlog=1)
    queued = [connect(sockets, port) for _ in range(2)]
    wait_connected([c for c, _ in queued])
    _, late_port = connect(sockets, port)

    entries = diag.dump_port(port)
    assert client_side(entries, port)[late_port].state is TcpState.SYN_SENT
    assert late_port not in server_side(entries, port)
    assert classify(entries, port) == {
        late_port: PeerState.CONNECTING,
        **{p: PeerState.QUEUED for _, p in queued},
    }
    assert read_accept_queue(listener).length == 2


def test_limbo_when_acks_meet_a_full_accept_queue(sockets: list[socket.socket], diag: SockDiag) -> None:
    if Path("/proc/sys/net/ipv4/tcp_syncookies").read_text().strip() != "1":
        pytest.skip("needs net.ipv4.tcp_syncookies=1")
    backlog, n = 3, 12
    listener, port = listen(sockets, backlog=backlog)
    clients = dict(connect(sockets, port, delay_ack=True) for _ in range(n))
    client_ports = set(clients.values())

    # Every SYN-ACK is in, no final ACK yet. The SYN queue holds backlog + 1 request
    # socks, reported as SYN_RECV; the other SYNs were answered with cookies and left
    # no trace on the server.
    entries = diag.dump_port(port)
    assert read_accept_queue(listener).length == 0, "ACKs arrived before the first dump"
    assert {e.state for e in client_side(entries, port).values()} == {TcpState.ESTABLISHED}
    requests = server_side(entries, port)
    assert len(requests) == backlog + 1
    assert {(e.state, e.inode) for e in requests.values()} == {(TcpState.SYN_RECV, 0)}
    assert classify(entries, port) == dict.fromkeys(client_ports, PeerState.LIMBO)

    # The delayed ACKs fill the accept queue; the ACKs after that are dropped, and those
    # clients stay ESTABLISHED while the server holds no socket for them.
    wait_until(lambda: read_accept_queue(listener).length == backlog + 1)
    entries = diag.dump_port(port)
    states = classify(entries, port)
    assert Counter(states.values()) == {
        PeerState.QUEUED: backlog + 1,
        PeerState.LIMBO: n - (backlog + 1),
    }
    limbo = {p for p, s in states.items() if s is PeerState.LIMBO}
    servers = server_side(entries, port)
    assert all(servers[p].state is TcpState.SYN_RECV for p in limbo & servers.keys())
    assert limbo - servers.keys(), "no limbo client without any server-side socket"


# --- classify rules ---


def _entry(local: int, remote: int, state: TcpState, inode: int = 0) -> SocketEntry:
    return SocketEntry(local_port=local, remote_port=remote, state=state, inode=inode)


S = 8000  # server port


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        pytest.param([_entry(S, 0, TcpState.LISTEN, 7)], {}, id="listener-ignored"),
        pytest.param([_entry(1, S, TcpState.SYN_SENT, 5)], {1: PeerState.CONNECTING}, id="syn-sent"),
        pytest.param(
            [_entry(1, S, TcpState.SYN_SENT, 5), _entry(S, 1, TcpState.SYN_RECV)],
            {1: PeerState.CONNECTING},
            id="syn-sent-with-request-sock",
        ),
        pytest.param([_entry(1, S, TcpState.ESTABLISHED, 5)], {1: PeerState.LIMBO}, id="established-no-server"),
        pytest.param(
            [_entry(1, S, TcpState.ESTABLISHED, 5), _entry(S, 1, TcpState.NEW_SYN_RECV)],
            {1: PeerState.LIMBO},
            id="established-request-sock-only",
        ),
        pytest.param([_entry(1, S, TcpState.FIN_WAIT1, 5)], {1: PeerState.LIMBO}, id="fin-wait-no-server"),
        pytest.param([_entry(1, S, TcpState.CLOSE_WAIT, 5)], {}, id="server-sent-fin-then-vanished"),
        pytest.param(
            [_entry(1, S, TcpState.ESTABLISHED, 5), _entry(S, 1, TcpState.ESTABLISHED)],
            {1: PeerState.QUEUED},
            id="queued",
        ),
        pytest.param([_entry(S, 1, TcpState.CLOSE_WAIT)], {1: PeerState.QUEUED}, id="queued-client-gone"),
        pytest.param(
            [_entry(1, S, TcpState.ESTABLISHED, 5), _entry(S, 1, TcpState.ESTABLISHED, 9)],
            {1: PeerState.ACCEPTED},
            id="accepted",
        ),
        pytest.param([_entry(S, 1, TcpState.CLOSE_WAIT, 9)], {1: PeerState.ACCEPTED}, id="accepted-client-gone"),
        pytest.param(
            [_entry(1, S, TcpState.ESTABLISHED, 5), _entry(S, 1, TcpState.FIN_WAIT1)], {}, id="server-closed-orphan"
        ),
    ],
)
def test_classify_rules(entries: list[SocketEntry], expected: dict[int, PeerState]) -> None:
    assert classify(entries, S) == expected
