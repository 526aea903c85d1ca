#!/usr/bin/env bash
# Installs what the test suite needs from Debian and is not in node_modules: chromium for
# the browser test of the demo page. Idempotent: does nothing when it is there already.
set -euo pipefail

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "setup-test-deps: '$*' needs root; run it as root or install sudo" >&2
    return 1
  fi
}

if [ ! -x /usr/bin/chromium ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
fi
