#!/usr/bin/env bash
# Makes the base image both Dockerfiles build FROM (their BASE_IMAGE build argument) without a container registry:
# a minimal Debian bookworm made by debootstrap from the machine's own Debian source, plus this host's Node.js 20
# (the files of its `nodejs` package), `docker import`ed under one local name.
#
# The image holds what both images need at run time, so their builds download nothing architecture-specific:
#   libstdc++6, libgcc-s1     Node.js links them
#   ca-certificates           npm ci in the build stage talks HTTPS to the npm registry
#   busybox-static            the sidecar's udhcpc (and its hook's sh)
#   iproute2                  the sidecar's `ip` (vNIC addresses, MACs, routes)
#   util-linux (minbase)      the sidecar's nsenter
#   iptables                  the sidecar's FORWARD rules for WiFi vNICs' Proxy-ARP bridges
#
# The rootfs tarball is cached outside the clone (ORCH_CI_CACHE, default /var/cache/orchestrator-ci), keyed by the
# package list, the Debian source and the Node.js version: a second run only imports it (about 4 s), or does nothing
# when the engine already has an image with that key. Concurrent runs are serialised with flock.
#
# Usage: scripts/build-base-image.sh [--socket /var/run/docker.sock] [--tag NAME:TAG] [--force]
# Prints the image name on its last line. Needs root (debootstrap), debootstrap, /usr/bin/docker, dpkg, tar.
set -euo pipefail

TAG="orchestrator-ci/base:bookworm-node20"
SOCKET="/var/run/docker.sock"
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --socket) SOCKET="$2"; shift 2 ;;
    --tag) TAG="$2"; shift 2 ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "build-base-image: unknown argument: $1" >&2; exit 2 ;;
  esac
done

CACHE="${ORCH_CI_CACHE:-/var/cache/orchestrator-ci}"
DOCKER=(/usr/bin/docker -H "unix://$SOCKET")
LABEL="org.autonomy.ci.base-key"
PACKAGES="libstdc++6,libgcc-s1,ca-certificates,busybox-static,iproute2,iptables"
SUITE=bookworm

fail() { echo "build-base-image: $*" >&2; exit 1; }
log() { printf 'build-base-image: %s\n' "$*" >&2; }
[ "$(id -u)" -eq 0 ] || fail "must run as root (debootstrap makes device nodes and chroots)"
command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install -y debootstrap)"
[ -x /usr/bin/docker ] || fail "/usr/bin/docker is missing (apt-get install -y docker.io)"
[ -S "$SOCKET" ] || fail "no Docker engine socket at $SOCKET"
dpkg-query -W -f='${Status}' nodejs 2>/dev/null | grep -q 'install ok installed' ||
  fail "this host's Node.js does not come from a nodejs package; install Node.js 20 as a .deb"
node_version="$(dpkg-query -W -f='${Version}' nodejs)"
case "$(node --version)" in v20.*) ;; *) fail "Node.js 20 is needed, this host has $(node --version)" ;; esac

# The mirror the machine itself uses (deb822 first, then the classic list).
mirror="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)"
[ -n "$mirror" ] || mirror="$(awk '$1 == "deb" && $3 ~ /^bookworm$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
[ -n "$mirror" ] || fail "no Debian bookworm source found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"

key="$({ echo "$SUITE $PACKAGES $mirror $node_version"; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null; sed -n '/^set -euo/,$p' "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-24)"
mkdir -p "$CACHE"
exec 9>"$CACHE/base-image.lock"
flock 9

have="$("${DOCKER[@]}" image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$TAG" 2>/dev/null || true)"
if [ "$FORCE" -eq 0 ] && [ "$have" = "$key" ]; then
  log "$TAG is up to date (key $key)"
  echo "$TAG"
  exit 0
fi

tarball="$CACHE/base-$key.tar"
if [ "$FORCE" -eq 1 ] || [ ! -s "$tarball" ]; then
  work="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  log "debootstrap --variant=minbase $SUITE from $mirror (packages: $PACKAGES)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; fail "debootstrap failed (log above)"; }

  log "adding Node.js $node_version from this host's nodejs package, and the host's npm ($(npm --version))"
  # The package's files and symlinks, without its headers (no native addon is built) and documentation. npm is
  # copied as the host runs it: it may have been upgraded in place since the package was installed, and then the
  # package's list names files of the old npm.
  dpkg -L nodejs |
    grep -v -E '^/usr/(include|share/doc|share/man)(/|$)|^/usr/lib/node_modules/npm(/|$)' |
    while IFS= read -r path; do { [ -L "$path" ] || [ -f "$path" ]; } && printf '%s\n' "${path#/}"; done \
      >"$work/files"
  printf '%s\n' usr/lib/node_modules/npm usr/bin/npm usr/bin/npx >>"$work/files"
  tar -C / -cf - --files-from "$work/files" | tar -C "$work/root" -xf -
  # The machine's own extra CAs (e.g. of a TLS-inspecting proxy in front of the npm registry): the images' build
  # stage runs npm ci through the same network as this host. This base is for building here; a published image is
  # built FROM node:20-bookworm-slim (the Dockerfiles' default), which carries none of them.
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    mkdir -p "$work/root/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$work/root/usr/local/share/ca-certificates/"
    chroot "$work/root" update-ca-certificates >/dev/null
    log "added this host's CAs: $(cd /usr/local/share/ca-certificates && echo *.crt)"
  fi
  chroot "$work/root" /usr/bin/node --version >/dev/null || fail "node does not run inside the new rootfs"
  chroot "$work/root" /usr/bin/npm --version >/dev/null || fail "npm does not run inside the new rootfs"

  # What an image needs no copy of: package lists and caches, logs, documentation.
  rm -rf "$work/root"/var/cache/apt/archives/*.deb "$work/root"/var/lib/apt/lists/* "$work/root"/var/log/* \
    "$work/root"/usr/share/doc/* "$work/root"/usr/share/man/* "$work/root"/usr/share/info/* "$work/root"/tmp/*
  tar -C "$work/root" --numeric-owner -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  # Older tarballs of other keys are no longer wanted.
  find "$CACHE" -maxdepth 1 -name 'base-*.tar' ! -name "base-$key.tar" -delete
  rm -rf "$work"
  trap - EXIT
fi

log "docker import $tarball as $TAG"
"${DOCKER[@]}" import \
  --change "LABEL $LABEL=$key" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["node"]' \
  "$tarball" "$TAG" >/dev/null
log "$TAG ready ($("${DOCKER[@]}" image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
echo "$TAG"
