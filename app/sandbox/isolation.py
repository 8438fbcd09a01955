"""Whether targets can run in an empty network namespace on this machine."""

from __future__ import annotations

import functools
import shutil
import subprocess


@functools.cache
def netns_unavailable_reason() -> str | None:
    """None when `unshare --net` works here, else why not (said to the user, not hidden)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "util-linux `unshare` not found: target shares the host's network namespace"
    probe = subprocess.run([unshare, "--net", "true"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit {probe.returncode}"
        return f"no network namespace ({reason}): target shares the host's network namespace"
    return None


def isolation_prefix() -> list[str]:
    return [] if netns_unavailable_reason() else [shutil.which("unshare") or "unshare", "--net", "--"]
