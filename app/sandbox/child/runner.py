"""The target process: arms its sandbox, then runs the chosen server engine on the inherited
listening socket.

Started by `app.sandbox.child.launcher` behind `setpriv` (privileges already dropped), inside
the target's namespaces when the machine allows them. Each engine's start code is
`app.sandbox.child.engines.<server>.run(settings, fd)`.
"""

from __future__ import annotations

import importlib
import os

from app.sandbox.child.containment import PARENT_ENV, SUPERVISOR_ENV, apply_limits, die_with_parent, no_new_privs
from app.sandbox.settings import TargetSettings

FD_ENV = "CONNSCOPE_FD"


def main() -> None:
    settings = TargetSettings.from_env()
    die_with_parent(int(os.environ[PARENT_ENV]))
    no_new_privs()
    apply_limits(settings)
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    engine = importlib.import_module(f"app.sandbox.child.engines.{settings.server}")
    engine.run(settings, int(os.environ[FD_ENV]))


if __name__ == "__main__":
    main()
