#!/usr/bin/env bash
# Prepares this machine for the test suite; `npm test` runs it first. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup-test: '$*' needs root; run it as root or install sudo" >&2
    return 1
  fi
}

# Debian packages the tests use: openssl makes the TLS tests' certificates, chromium runs
# the demo page in the browser test.
missing=()
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# Rolling restarts close one SO_REUSEPORT listener while its siblings keep accepting; this
# hands the closing listener's queued connections to them instead of resetting them.
if [ -e /proc/sys/net/ipv4/tcp_migrate_req ] && [ "$(cat /proc/sys/net/ipv4/tcp_migrate_req)" != 1 ]; then
  as_root sysctl -q -w net.ipv4.tcp_migrate_req=1
fi
