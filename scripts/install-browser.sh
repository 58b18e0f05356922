#!/usr/bin/env bash
# Install headless Chromium (Debian's `chromium` package) for the browser end-to-end tests.
# Idempotent: does nothing when /usr/bin/chromium exists.  Needs root (or passwordless sudo);
# without it, prints why and exits 0 so the browser tests skip with their own reason.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "install-browser: /usr/bin/chromium is already installed"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "install-browser: not root and no passwordless sudo; skipping (browser tests will skip)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: apt-get not found (not Debian/Ubuntu); skipping (browser tests will skip)"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if "${sudo[@]}" apt-get update \
  && "${sudo[@]}" apt-get install -y --no-install-recommends chromium; then
  echo "install-browser: installed $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
else
  echo "install-browser: apt-get could not install chromium; skipping (browser tests will skip)"
fi
exit 0
