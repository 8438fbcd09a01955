"""What of the file system an unprivileged target must reach, and a view that lets it.

The interpreter may live where uid 65534 cannot go (pyenv under a 0700 /root). In the
target's private mount namespace each such directory is covered with an empty tmpfs that
holds only the paths the target needs, bind-mounted back read-only: the target reaches its
code and nothing else of that directory. The host's mounts are never touched.
"""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from collections.abc import Iterable
from pathlib import Path

APP_DIR_ENV = "CONNSCOPE_APP_DIR"
"""The directory of the user's app (`--app-dir`): the target imports from it, so it reaches it."""
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000


def needed_paths(*extra: str) -> list[str]:
    """Every directory the target's Python reads: interpreter, prefixes, import path, code."""
    candidates = [
        os.path.dirname(os.path.realpath(sys.executable)),
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        os.getcwd(),
        *sys.path,
        *extra,
    ]
    found = {os.path.realpath(p) for p in candidates if p and os.path.isdir(p)}
    # A path inside another needed path comes along with it.
    return sorted(p for p in found if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in found))


def _traversable(path: str, uid: int, gid: int) -> bool:
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def blocked_dirs(paths: Iterable[str], uid: int, gid: int) -> dict[str, list[str]]:
    """The outermost directory uid/gid cannot traverse on the way to each path → those paths."""
    blocked: dict[str, list[str]] = {}
    for path in paths:
        for parent in [*reversed(Path(path).parents), Path(path)]:
            if str(parent) != "/" and not _traversable(str(parent), uid, gid):
                blocked.setdefault(str(parent), []).append(path)
                break
    return blocked


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    libc = ctypes.CDLL(None, use_errno=True)

    def encode(s: str | None) -> bytes | None:
        return s.encode() if s is not None else None

    if libc.mount(encode(source), target.encode(), encode(fstype), ctypes.c_ulong(flags), encode(data)) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {fstype or source} on {target}: {os.strerror(errno)}")


def _bound_back(inside: list[str], uid: int, gid: int) -> list[str]:
    """What to bind back into the tmpfs over a blocked directory. A bind mount keeps a
    directory's own mode, so a needed path uid/gid cannot enter itself (a clone in a 0700
    temp dir) comes back entry by entry, each with its own mode; links are left out."""
    back: list[str] = []
    for path in inside:
        if _traversable(path, uid, gid):
            back.append(path)
        else:
            entries = (os.path.join(path, name) for name in sorted(os.listdir(path)))
            back.extend(e for e in entries if not os.path.islink(e))
    return back


def reveal(paths: Iterable[str], uid: int, gid: int) -> None:
    """In a private mount namespace, as root: makes `paths` reachable by uid/gid."""
    for directory, inside in blocked_dirs(paths, uid, gid).items():
        # Held open so they can be bound back once the tmpfs hides them.
        held = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in _bound_back(inside, uid, gid)}
        _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
        for path, fd in held.items():
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(path, mode=0o755, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
                Path(path).touch()
            _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
            _mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
            os.close(fd)


def mount_proc() -> None:
    """A /proc of the target's own pid namespace: it sees its own processes only."""
    _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
