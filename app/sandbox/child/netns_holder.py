"""Holds a private network namespace open: brings its loopback up, sets its sysctls, waits.

Run by `PrivateNetwork` as `unshare --net -- python -m app.sandbox.child.netns_holder KEY=VALUE…`;
the sysctls are written inside the new namespace, so the host's settings never change.
Setting them needs root in that namespace; holding it open does not, so the holder then
becomes nobody, without capabilities, for the rest of its life.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import sys

from app.sandbox.child.containment import PARENT_ENV, UNPRIVILEGED, die_with_parent, no_new_privs

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFREQ = struct.Struct("16sH14x")


def loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _, flags = IFREQ.unpack(fcntl.ioctl(sock, SIOCGIFFLAGS, IFREQ.pack(b"lo", 0)))
        fcntl.ioctl(sock, SIOCSIFFLAGS, IFREQ.pack(b"lo", flags | IFF_UP))


def drop_privileges() -> None:
    """Root's capabilities go with the uid change (no keep-caps), and cannot come back."""
    os.setgroups([])
    os.setresgid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)
    os.setresuid(UNPRIVILEGED, UNPRIVILEGED, UNPRIVILEGED)
    no_new_privs()


def main(assignments: list[str]) -> None:
    parent = int(os.environ[PARENT_ENV])
    die_with_parent(parent)
    loopback_up()
    for assignment in assignments:
        key, value = assignment.split("=", 1)
        with open("/proc/sys/" + key.replace(".", "/"), "w") as knob:
            knob.write(value)
    if os.geteuid() == 0:
        drop_privileges()
        # A change of uid clears the parent-death signal: set it again.
        die_with_parent(parent)
    print("ready", flush=True)
    signal.pause()


if __name__ == "__main__":
    main(sys.argv[1:])
