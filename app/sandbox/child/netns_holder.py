"""Holds a private network namespace open: brings its loopback up, sets its sysctls, waits.

Run by `PrivateNetwork` as `unshare --net -- python -m app.sandbox.child.netns_holder KEY=VALUE…`;
the sysctls are written inside the new namespace, so the host's settings never change.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import sys

from app.sandbox.child.containment import die_with_parent

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = struct.Struct("16sH14x")


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _, flags = IFREQ.unpack(fcntl.ioctl(sock, SIOCGIFFLAGS, IFREQ.pack(b"lo", 0)))
        fcntl.ioctl(sock, SIOCSIFFLAGS, IFREQ.pack(b"lo", flags | IFF_UP))


def main(assignments: list[str]) -> None:
    die_with_parent(int(os.environ["CONNSCOPE_PARENT"]))
    loopback_up()
    for assignment in assignments:
        key, value = assignment.split("=", 1)
        with open("/proc/sys/" + key.replace(".", "/"), "w") as knob:
            knob.write(value)
    print("ready", flush=True)
    signal.pause()


if __name__ == "__main__":
    main(sys.argv[1:])
