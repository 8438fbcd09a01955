"""The user's own apps the operator lists (`--app mypkg.main:app --app-dir DIR`): a target
serves one of them, by name, instead of the workload. Only the operator names an import
string; the web form and the API choose among the listed names."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

IMPORT_STRING = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True, slots=True)
class UserApp:
    import_string: str
    """`module:attribute`, as uvicorn takes it."""
    directory: str | None = None
    """Where the module is imported from (put first on the target's import path)."""

    @property
    def name(self) -> str:
        """What the form and TargetSettings.app call it."""
        return self.import_string


def user_app(import_string: str, directory: str | None = None) -> UserApp:
    """A checked app; ValueError saying what is wrong (the import itself is tried in the sandbox)."""
    if not IMPORT_STRING.match(import_string):
        raise ValueError(f"--app {import_string}: write module:attribute, e.g. mypkg.main:app")
    if directory is None:
        return UserApp(import_string)
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ValueError(f"--app-dir {directory}: not a directory")
    return UserApp(import_string, str(path.resolve()))


def listed_apps(import_strings: Sequence[str], directories: Sequence[str]) -> dict[str, UserApp]:
    """The apps of repeated `--app` flags by name. One `--app-dir` serves them all; several
    pair with the `--app` flags in order."""
    if len(directories) > 1 and len(directories) != len(import_strings):
        raise ValueError(
            f"--app-dir given {len(directories)} times for {len(import_strings)} --app: give one for all, "
            "or one per --app"
        )
    apps: dict[str, UserApp] = {}
    for index, import_string in enumerate(import_strings):
        directory = directories[index] if len(directories) > 1 else (directories[0] if directories else None)
        app = user_app(import_string, directory)
        if app.name in apps:
            raise ValueError(f"--app {import_string}: listed twice")
        apps[app.name] = app
    return apps
