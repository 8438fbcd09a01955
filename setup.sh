#!/usr/bin/env bash
# Installs connscope and its front-end files; with --test, also what the tests need:
# Debian's chromium (driven by Playwright's Python package, no browser download).
set -euo pipefail
cd "$(dirname "$0")"

with_tests=false
case "${1:-}" in
  --test) with_tests=true ;;
  "") ;;
  *) echo "usage: ./setup.sh [--test]" >&2; exit 2 ;;
esac

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

packages=()
command -v npm >/dev/null || packages+=(nodejs npm)
command -v unshare >/dev/null || packages+=(util-linux)
if $with_tests && [ ! -x /usr/bin/chromium ]; then packages+=(chromium); fi
if [ ${#packages[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

if $with_tests; then extra=".[test]"; else extra="."; fi
python3 -m pip install --quiet --disable-pip-version-check -e "$extra"
python3 -m app.web.assets
