"""The kernel's listener counters: SYNs and handshakes a full queue dropped or answered
with a cookie.

The counters are per network namespace, charged to the namespace the listening socket was
made in. `/proc/<pid>/net/` shows the namespace of process `pid`, so the control app reads
a namespace's counters without entering it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

COUNTERS: tuple[str, ...] = (
    "ListenOverflows",
    "ListenDrops",
    "TCPReqQFullDoCookies",
    "SyncookiesSent",
    "SyncookiesRecv",
    "SyncookiesFailed",
)
"""ListenOverflows: a SYN or final ACK met a full accept queue. ListenDrops: every drop at
a listener, overflows included. TCPReqQFullDoCookies: the SYN queue was full and a cookie
was sent. Syncookies*: cookies sent, valid cookies come back, and invalid ones."""


def _parse(text: str) -> dict[str, int]:
    """`/proc/net/netstat` and `/proc/net/snmp`: pairs of lines, names then values, each
    prefixed by its group (`TcpExt:`)."""
    values: dict[str, int] = {}
    lines = text.splitlines()
    for names, numbers in zip(lines[::2], lines[1::2], strict=False):
        for name, number in zip(names.split()[1:], numbers.split()[1:], strict=False):
            if name in COUNTERS:
                values[name] = int(number)
    return values


def read(proc_net: Path = Path("/proc/self/net")) -> dict[str, int]:
    """The counters of the namespace `proc_net` shows (`/proc/<pid>/net`)."""
    values: dict[str, int] = {}
    for name in ("netstat", "snmp"):
        values |= _parse((proc_net / name).read_text())
    return values


def delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    """How much each counter moved; a counter missing on either side is left out."""
    return {name: after[name] - before[name] for name in COUNTERS if name in before and name in after}
