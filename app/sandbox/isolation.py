"""What isolation targets can have on this machine, found out once and said, never hidden."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass

from app.sandbox.child.containment import UNPRIVILEGED
from app.sandbox.child.fsview import blocked_dirs, needed_paths

CAP_SETPCAP = 8


def _unshare_fails(*flags: str) -> str | None:
    """None when `unshare FLAGS true` works here, else the reason."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "util-linux `unshare` not found"
    probe = subprocess.run([unshare, *flags, "true"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit {probe.returncode}"
    return None


@functools.cache
def netns_unavailable_reason() -> str | None:
    """None when `unshare --net` works here, else why not (said to the user, not hidden)."""
    reason = _unshare_fails("--net")
    if reason is not None:
        # "connscope's", not "the host's": in a container that is the container's. The fix is
        # said where the missing isolation is.
        return (
            f"no network namespace ({reason}): target shares connscope's network namespace "
            "(in a container, run it with --cap-add SYS_ADMIN)"
        )
    return None


@functools.cache
def pidns_unavailable_reason() -> str | None:
    """None when targets can have a pid namespace with a /proc of their own (which needs a
    mount namespace), else why not."""
    reason = _unshare_fails("--pid", "--mount", "--fork", "--mount-proc")
    if reason is not None:
        return f"no pid or mount namespace ({reason})"
    return None


def isolation_prefix() -> list[str]:
    return [] if netns_unavailable_reason() else [shutil.which("unshare") or "unshare", "--net", "--"]


def _has_capability(number: int) -> bool:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> number & 1)
    return False


@dataclass(frozen=True)
class Plan:
    """How a target is started: the namespaces it gets and the privileges it loses."""

    unshare: list[str]
    """Command prefix that creates the namespaces (the launcher runs behind it)."""
    drop: list[str]
    """Command prefix that drops privileges, run in the launcher's child just before the runner."""
    pid_namespace: bool
    mount_namespace: bool
    uid: int | None
    """The uid the target runs as when it is not ours."""
    notes: tuple[str, ...]
    """Why something was left out on this machine."""


@functools.cache
def plan() -> Plan:
    notes: list[str] = []
    unshare = shutil.which("unshare") or "unshare"
    flags: list[str] = []
    if netns_unavailable_reason() is None:
        flags.append("--net")
    else:
        notes.append(str(netns_unavailable_reason()))
    private = pidns_unavailable_reason() is None
    if private:
        # No --fork: the launcher stays in the host's pid namespace, so it can wait for the
        # runner and end the way the runner ended; its first child is the namespace's init.
        flags += ["--mount", "--pid"]
    else:
        notes.append(str(pidns_unavailable_reason()))
    setpriv = shutil.which("setpriv")
    uid: int | None = None
    drop: list[str] = []
    if setpriv is None:
        notes.append("util-linux `setpriv` not found: privileges not dropped")
    elif os.geteuid() == 0:
        # With a mount namespace the launcher makes the code reachable (app.sandbox.child.fsview).
        if private or not blocked_dirs(needed_paths(), UNPRIVILEGED, UNPRIVILEGED):
            uid = UNPRIVILEGED
        else:
            notes.append(f"uid {UNPRIVILEGED} cannot reach the interpreter without a mount namespace")
        identity = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid is not None else []
        drop = [setpriv, *identity, "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    else:
        bounding = ["--bounding-set=-all"] if _has_capability(CAP_SETPCAP) else []
        drop = [setpriv, "--inh-caps=-all", "--ambient-caps=-all", *bounding, "--no-new-privs", "--"]
    return Plan(
        unshare=[unshare, *flags, "--"] if flags else [],
        drop=drop,
        pid_namespace=private,
        mount_namespace=private,
        uid=uid,
        notes=tuple(notes),
    )
