"""The sandbox a running target is really in, read back from /proc (not what was asked for)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

NAMESPACES = ("net", "pid", "mnt")
NAMESPACE_NAMES = {"net": "network", "pid": "pid", "mnt": "mount"}
OWN_NET = "own network namespace (serving a listener handed in)"


@dataclass(frozen=True)
class SandboxInForce:
    own_namespaces: tuple[str, ...]
    """Which of net, pid, mnt differ from the control app's."""
    uid: int
    capabilities: int
    """CapEff as a bit mask: 0 means none."""
    no_new_privs: bool
    max_tasks: int | None
    memory_bytes: int | None

    def describe(self) -> str:
        # A target in a network namespace of its own can open no connection; it serves a
        # listening socket made for it where the clients are (said, so that the kernel
        # counters' namespace, the listener's, does not read as a contradiction).
        parts = [OWN_NET if ns == "net" else f"own {NAMESPACE_NAMES[ns]} namespace" for ns in self.own_namespaces]
        parts.append(f"uid {self.uid}")
        parts.append("no capabilities" if self.capabilities == 0 else f"capabilities {self.capabilities:#x}")
        if self.no_new_privs:
            parts.append("no new privileges")
        # The kernel does not hold root to RLIMIT_NPROC.
        if self.max_tasks is not None and self.uid != 0:
            parts.append(f"at most {self.max_tasks} tasks")
        if self.memory_bytes is not None:
            parts.append(_size(self.memory_bytes))
        return " · ".join(parts)

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"own_namespaces": list(self.own_namespaces)}


def _size(n: int) -> str:
    mib = n / (1024 * 1024)
    return f"{mib / 1024:g} GiB" if mib >= 1024 and mib % 1024 == 0 else f"{mib:g} MiB"


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def _limit(pid: int, name: str) -> int | None:
    with open(f"/proc/{pid}/limits") as limits:
        for line in limits:
            if line.startswith(name):
                soft = line[len(name) :].split()[0]
                return None if soft == "unlimited" else int(soft)
    return None


def read(pid: int) -> SandboxInForce:
    status = _status(pid)
    own = tuple(ns for ns in NAMESPACES if os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"))
    return SandboxInForce(
        own_namespaces=own,
        uid=int(status["Uid"].split()[0]),
        capabilities=int(status["CapEff"], 16),
        no_new_privs=status.get("NoNewPrivs", "0").strip() == "1",
        max_tasks=_limit(pid, "Max processes"),
        memory_bytes=_limit(pid, "Max address space"),
    )


def runner_pid(launcher_pid: int) -> int | None:
    """The launcher's child that runs uvicorn (not the pid namespace's init, which is pid 1
    inside it), in the control app's pid namespace."""
    try:
        with open(f"/proc/{launcher_pid}/task/{launcher_pid}/children") as children:
            pids = [int(p) for p in children.read().split()]
        for pid in pids:
            if _status(pid).get("NSpid", "").split()[-1:] != ["1"]:
                return pid
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None
