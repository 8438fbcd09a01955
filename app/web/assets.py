"""Pinned front-end packages: CDN URLs with SRI hashes, and local copies for offline use.

The set-up step runs `python -m app.web.assets` to fetch each package with `npm pack` into
the git-ignored `vendor/` folder and check the files against the same hashes the page
gives the browser, so the CDN copy and the local copy are provably the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parents[2] / "vendor"
CDN = "https://cdn.jsdelivr.net/npm"


@dataclass(frozen=True, slots=True)
class Asset:
    package: str
    version: str
    path: str
    integrity: str
    kind: str

    @property
    def cdn(self) -> str:
        return f"{CDN}/{self.package}@{self.version}/{self.path}"

    @property
    def local(self) -> str:
        return f"/vendor/{self.package}/{self.path}"

    @property
    def file(self) -> Path:
        return VENDOR_DIR / self.package / self.path


ASSETS: tuple[Asset, ...] = (
    Asset("htmx.org", "2.0.11", "dist/htmx.min.js",
          "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg", "js"),
    Asset("uplot", "1.6.32", "dist/uPlot.iife.min.js",
          "sha384-Gx3t0zdBAuQOuvvmaLZj7HKEiSgWTAs+VdtNY7wt19QDPTDQjFIwAuXDj0zeN00c", "js"),
    Asset("uplot", "1.6.32", "dist/uPlot.min.css",
          "sha384-IfV0B7MIOYuO95kO9G5ySKPz/85zqFNOAs8iy4tkK5zd9izhJAB8b7lHrwYqqmYE", "css"),
    # The API docs page (/docs) is served from these local copies only, so it works offline.
    Asset("swagger-ui-dist", "5.35.0", "swagger-ui-bundle.js",
          "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9", "docs"),
    Asset("swagger-ui-dist", "5.35.0", "swagger-ui.css",
          "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I", "docs"),
)
PAGE_ASSETS = tuple(a for a in ASSETS if a.kind in ("js", "css"))


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def missing() -> list[Asset]:
    return [a for a in ASSETS if not a.file.is_file() or sri(a.file.read_bytes()) != a.integrity]


def fetch() -> None:
    """npm pack every pinned package once and keep the files the page needs."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("connscope: error: npm not found; install Node.js to fetch the front-end files")
    packages = sorted({(a.package, a.version) for a in missing()})
    with tempfile.TemporaryDirectory() as tmp:
        for package, version in packages:
            done = subprocess.run(
                [npm, "pack", f"{package}@{version}", "--silent"], cwd=tmp, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise SystemExit(f"connscope: error: npm pack {package}@{version} failed: {done.stderr.strip()}")
            tarball = Path(tmp) / done.stdout.strip().splitlines()[-1]
            with tarfile.open(fileobj=io.BytesIO(tarball.read_bytes())) as archive:
                for asset in (a for a in ASSETS if a.package == package):
                    member = archive.extractfile(f"package/{asset.path}")
                    if member is None:
                        raise SystemExit(f"connscope: error: {package} has no {asset.path}")
                    data = member.read()
                    if sri(data) != asset.integrity:
                        raise SystemExit(f"connscope: error: {package}/{asset.path} does not match its pinned hash")
                    asset.file.parent.mkdir(parents=True, exist_ok=True)
                    asset.file.write_bytes(data)


if __name__ == "__main__":
    fetch()
    print(f"front-end files ready in {VENDOR_DIR}", file=sys.stderr)
