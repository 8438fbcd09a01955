"""Where a report's files go: the Markdown where asked, its JSON and PNG beside it under the
same name (`rollout.md`, `rollout.json`, `rollout.png`), so two reports in one folder keep
their own numbers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class ReportFiles:
    markdown: Path

    @property
    def json(self) -> Path:
        return self.markdown.with_suffix(".json")

    @property
    def png(self) -> Path:
        return self.markdown.with_suffix(".png")

    @staticmethod
    def link(path: Path) -> str:
        """The file's name as a Markdown link target: spaces or brackets in it would end
        the link early."""
        return quote(path.name)
