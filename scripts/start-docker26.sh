#!/usr/bin/env bash
# Start a second, newer Docker engine (26.1, API 1.45) beside the machine's dockerd 20.10 (API 1.41), so the
# Docker adapter is proven on both API paths: 1.41 (one network at create, connect the rest) and >= 1.44
# (every endpoint at create, a MAC per endpoint). See docs/platform-notes.md "Docker engine".
#
# Debian trixie's docker.io and containerd run on bookworm with bookworm's own runc (trixie's runc needs a newer
# glibc), so we unpack the .debs into /opt/docker26/root instead of installing them.
#
# Idempotent: does nothing when the socket already answers; downloads the .debs only when they are missing.
# Usage: scripts/start-docker26.sh   (then DOCKER_HOST=unix:///opt/docker26/docker.sock)
set -euo pipefail

d=${DOCKER26_DIR:-/opt/docker26}
sock="$d/docker.sock"
client=/usr/bin/docker

answers() {
  DOCKER_HOST="unix://$sock" "$client" version --format '{{.Server.APIVersion}}' >/dev/null 2>&1
}

if [ -S "$sock" ] && answers; then
  echo "docker26: already running at $sock"
  exit 0
fi

mkdir -p "$d/parts" "$d/lists/partial" "$d/archives/partial" "$d/root"

if ! ls "$d"/docker.io_*.deb >/dev/null 2>&1 || ! ls "$d"/containerd_*.deb >/dev/null 2>&1; then
  # Reuse the machine's configured Debian source, changing only the suite, with a private apt state so the
  # machine's own package lists stay untouched.
  awk 'BEGIN{RS="";ORS="\n\n"} /Suites: bookworm/ {sub(/Suites:[^\n]*/,"Suites: trixie"); print; exit}' \
    /etc/apt/sources.list.d/debian.sources >"$d/parts/trixie.sources"
  o=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$d/parts" -o "Dir::State::Lists=$d/lists"
    -o "Dir::Cache::Archives=$d/archives")
  apt-get "${o[@]}" update -qq
  (cd "$d" && apt-get "${o[@]}" download docker.io containerd)
fi

if [ ! -x "$d/root/usr/sbin/dockerd" ]; then
  for f in "$d"/*.deb; do dpkg -x "$f" "$d/root"; done
fi
# trixie's runc needs a newer glibc than bookworm has: use the machine's runc (from the docker.io/runc package).
rm -f "$d/root/usr/sbin/runc" "$d/root/usr/bin/runc"
if ! command -v runc >/dev/null 2>&1; then
  echo "docker26: runc is missing; install it with: apt-get install -y runc" >&2
  exit 1
fi

rm -f "$sock" "$d/docker.pid"
# Both engines share the host's network namespace, and a dockerd that starts without live containers clears the
# default bridge network it finds and deletes the interface named docker0 with it, whatever -b says (measured
# here with -b and with --bridge=none). That breaks the first engine's default network and its `docker build` RUN
# steps, so the first engine's docker0 is put back as it was once this one has started (restore_docker0).
docker0_addr=$(ip -4 -o addr show dev docker0 2>/dev/null | awk '{print $4; exit}')
restore_docker0() {
  [ -n "$docker0_addr" ] || return 0
  ip link show docker0 >/dev/null 2>&1 && return 0
  ip link add docker0 type bridge
  ip addr add "$docker0_addr" dev docker0
  ip link set docker0 up
  echo "docker26: put back the host's docker0 ($docker0_addr), which this dockerd removed as it started"
}
# A bridge of its own for this engine's default network.
ip link add docker26br0 type bridge 2>/dev/null || true
ip link set docker26br0 up
PATH="$d/root/usr/bin:$PATH" setsid "$d/root/usr/sbin/dockerd" -H "unix://$sock" --data-root "$d/data" \
  --exec-root "$d/exec" --pidfile "$d/docker.pid" -b docker26br0 --iptables=false \
  --default-address-pool base=10.200.0.0/16,size=24 >"$d/dockerd.log" 2>&1 </dev/null &

for _ in $(seq 1 100); do
  if answers; then
    restore_docker0
    echo "docker26: ready at $sock (API $(DOCKER_HOST="unix://$sock" "$client" version --format '{{.Server.APIVersion}}'))"
    exit 0
  fi
  sleep 0.2
done
echo "docker26: dockerd did not answer within 20 s; see $d/dockerd.log" >&2
tail -n 20 "$d/dockerd.log" >&2 || true
exit 1
