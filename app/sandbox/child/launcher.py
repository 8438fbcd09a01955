"""The first process of a target: holds its pid namespace, starts the runner behind the
privilege drop, and ends the way the runner ended.

Started by `Target` as `unshare --net --mount --pid -- python -m app.sandbox.child.launcher
setpriv … -- python -m app.sandbox.child.runner`. Without `--fork`, unshare leaves this process
in the control app's pid namespace and puts its children in the new one: the first child
is the namespace's init (pid 1, which the kernel spares from signals it has no handler
for, so it cannot be the runner: a CPU limit's SIGXCPU would be ignored), the second is
the runner, our own child, whose death by any signal is passed on as ours.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time

from app.sandbox.child.containment import PARENT_ENV, die_with_parent
from app.sandbox.child.fsview import APP_DIR_ENV, mount_proc, needed_paths, reveal

SANDBOX_ENV = "CONNSCOPE_SANDBOX"


def _init() -> None:
    """pid 1 of the target's namespace: reaps orphans. When it dies, the kernel kills every
    process of the namespace, so it dies with the launcher."""
    die_with_parent(0)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(0.5)


def _runner(command: list[str], sandbox: dict[str, object], parent_seen_as: int) -> None:
    os.environ[PARENT_ENV] = str(parent_seen_as)
    os.environ.pop(SANDBOX_ENV, None)
    if sandbox["mount_namespace"] and sandbox["uid"] is not None:
        uid = int(str(sandbox["uid"]))
        reveal(needed_paths(os.environ.get("HOME", ""), os.environ.get(APP_DIR_ENV, "")), uid, uid)
    if sandbox["pid_namespace"]:
        mount_proc()
    os.execv(command[0], command)


def _end_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)
    sys.exit(os.waitstatus_to_exitcode(status))


def main(command: list[str]) -> None:
    die_with_parent(int(os.environ[PARENT_ENV]))
    sandbox = json.loads(os.environ[SANDBOX_ENV])
    # Stop signals go to the whole process group; the runner handles them, we outlast it.
    # A handler, not SIG_IGN: handlers are reset by exec, an ignored signal would stay ignored.
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda *_: None)
    init = os.fork() if sandbox["pid_namespace"] else 0
    if sandbox["pid_namespace"] and init == 0:
        _init()
    # In a pid namespace the runner sees its parent, outside, as pid 0.
    parent_seen_as = 0 if sandbox["pid_namespace"] else os.getpid()
    runner = os.fork()
    if runner == 0:
        try:
            _runner(command, sandbox, parent_seen_as)
        except BaseException as exc:
            print(f"connscope: cannot start the target: {exc}", file=sys.stderr, flush=True)
        os._exit(127)
    _, status = os.waitpid(runner, 0)
    if init:
        os.kill(init, signal.SIGKILL)
        os.waitpid(init, 0)
    _end_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
