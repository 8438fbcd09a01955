"""Pinned front-end packages: CDN URLs with SRI hashes, and local copies for offline use.

The set-up step runs `python -m app.assets` to fetch each package with `npm pack` into
the git-ignored `vendor/` folder and check the files against the same hashes the page
gives the browser, so the CDN copy and the local copy are provably the same bytes.

esbuild comes the same way (its one static binary, for this machine's architecture): the
self-contained HTML export bundles the replay's modules and the stylesheets with it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parents[1] / "vendor"
CDN = "https://cdn.jsdelivr.net/npm"


@dataclass(frozen=True, slots=True)
class Asset:
    package: str
    version: str
    path: str
    integrity: str
    kind: str
    machine: str | None = None
    """The architecture (`platform.machine()`) a native binary is for; None: any."""

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
    Asset(
        "htmx.org",
        "2.0.11",
        "dist/htmx.min.js",
        "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg",
        "js",
    ),
    Asset(
        "uplot",
        "1.6.32",
        "dist/uPlot.iife.min.js",
        "sha384-Gx3t0zdBAuQOuvvmaLZj7HKEiSgWTAs+VdtNY7wt19QDPTDQjFIwAuXDj0zeN00c",
        "js",
    ),
    Asset(
        "uplot",
        "1.6.32",
        "dist/uPlot.min.css",
        "sha384-IfV0B7MIOYuO95kO9G5ySKPz/85zqFNOAs8iy4tkK5zd9izhJAB8b7lHrwYqqmYE",
        "css",
    ),
    # The API docs page (/docs) is served from these local copies only, so it works offline.
    Asset(
        "swagger-ui-dist",
        "5.35.0",
        "swagger-ui-bundle.js",
        "sha384-gjRm0bEPMeTmMh5jT2cHccIwCUZSTd8YC+j0d0sXw0MdGEfScduGpSyF3ZSSLkX9",
        "docs",
    ),
    Asset(
        "swagger-ui-dist",
        "5.35.0",
        "swagger-ui.css",
        "sha384-WlYgdmXYOOBWL5apwjDEZwN+U3HmXSSu5R6V5aGxEcf7z+KuRNwBhoxKVN1i3D5I",
        "docs",
    ),
    # The export's bundler (static/js/export.js and the stylesheets into one file each).
    Asset(
        "@esbuild/linux-x64",
        "0.28.2",
        "bin/esbuild",
        "sha384-O1MF0SaahQpryYKvhlonGny5HJRxQPZn6tS8MuefUIcnjLcFLVRYDPYp4ZU423LZ",
        "build",
        "x86_64",
    ),
    Asset(
        "@esbuild/linux-arm64",
        "0.28.2",
        "bin/esbuild",
        "sha384-497x894zFU9RYm+s0v+x6IOSWlouxCYb1zJuW/g3YXj3aC2hONb/m8HPZwNkQqjZ",
        "build",
        "aarch64",
    ),
)
PAGE_ASSETS = tuple(a for a in ASSETS if a.kind in ("js", "css"))

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# The page's own stylesheets, one per component, in cascade order (static/css/).
STYLESHEETS = (
    "vocabulary.css",
    "base.css",
    "topbar.css",
    "panels.css",
    "lanes.css",
    "tooltip.css",
    "numbers.css",
    "help.css",
    "scenarios.css",
    "tools.css",
    "presenter.css",
    "scope.css",
    "actions.css",
    "runs.css",
    "compare.css",
)


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def wanted() -> list[Asset]:
    """The assets this machine needs: all but the native binaries for other architectures."""
    return [a for a in ASSETS if a.machine in (None, platform.machine())]


def missing() -> list[Asset]:
    return [a for a in wanted() if not a.file.is_file() or sri(a.file.read_bytes()) != a.integrity]


def esbuild() -> Path:
    """The pinned esbuild binary for this machine, fetched by set-up."""
    binary = next((a for a in wanted() if a.kind == "build"), None)
    if binary is None:
        raise RuntimeError(f"connscope: no pinned esbuild for this machine ({platform.machine()})")
    if binary not in missing():
        return binary.file
    raise RuntimeError("connscope: esbuild is missing from vendor/: run ./setup.sh (or python -m app.assets)")


def bundle_script(entry: Path) -> str:
    """`entry` and every module it imports, as one classic script (esbuild, no minifying)."""
    done = subprocess.run(
        [str(esbuild()), str(entry), "--bundle", "--format=iife", "--charset=utf8", "--log-level=warning"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"connscope: esbuild could not bundle {entry.name}: {done.stderr.strip()}")
    return done.stdout


def bundle_styles() -> str:
    """The page's stylesheets as one, in cascade order."""
    return "\n".join((STATIC_DIR / "css" / name).read_text() for name in STYLESHEETS)


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
                for asset in (a for a in wanted() if a.package == package):
                    member = archive.extractfile(f"package/{asset.path}")
                    if member is None:
                        raise SystemExit(f"connscope: error: {package} has no {asset.path}")
                    data = member.read()
                    if sri(data) != asset.integrity:
                        raise SystemExit(f"connscope: error: {package}/{asset.path} does not match its pinned hash")
                    asset.file.parent.mkdir(parents=True, exist_ok=True)
                    asset.file.write_bytes(data)
                    if asset.kind == "build":
                        asset.file.chmod(0o755)


if __name__ == "__main__":
    fetch()
    print(f"front-end files ready in {VENDOR_DIR}", file=sys.stderr)
