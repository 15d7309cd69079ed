#!/usr/bin/env bash
# Builds the agent image (Dockerfile) and the sidecar image (sidecar/Dockerfile), stamped with package.json's
# version (AGENT_VERSION and the image labels). With --local-base, the base is made here first by
# scripts/build-base-image.sh (debootstrap + this host's Node.js 20): no container registry is needed.
#
# Usage: scripts/build-images.sh [--local-base] [--base IMAGE] [--socket /var/run/docker.sock]
#   env AGENT_IMAGE   default ghcr.io/autonomy-logic/orchestrator-agent:latest
#   env NETMON_IMAGE  default ghcr.io/autonomy-logic/autonomy-netmon:latest
# Both images are also tagged with the version (…:<version>). Docker's layer cache makes a second run quick.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SOCKET="/var/run/docker.sock"
BASE=""
LOCAL_BASE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --local-base) LOCAL_BASE=1; shift ;;
    --base) BASE="$2"; shift 2 ;;
    --socket) SOCKET="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "build-images: unknown argument: $1" >&2; exit 2 ;;
  esac
done
AGENT_IMAGE="${AGENT_IMAGE:-ghcr.io/autonomy-logic/orchestrator-agent:latest}"
NETMON_IMAGE="${NETMON_IMAGE:-ghcr.io/autonomy-logic/autonomy-netmon:latest}"
DOCKER=(/usr/bin/docker -H "unix://$SOCKET")

if [ "$LOCAL_BASE" -eq 1 ]; then
  BASE="$(bash "$ROOT/scripts/build-base-image.sh" --socket "$SOCKET" | tail -n 1)"
fi
base_arg=()
[ -n "$BASE" ] && base_arg=(--build-arg "BASE_IMAGE=$BASE")
version="$(node -p "require('$ROOT/package.json').version")"

build() {
  local name="$1" file="$2" started
  started=$(date +%s)
  echo "build-images: $name from $file (version $version${BASE:+, base $BASE})" >&2
  "${DOCKER[@]}" build -q -f "$ROOT/$file" "${base_arg[@]}" --build-arg "AGENT_VERSION=$version" \
    -t "$name" -t "${name%:*}:$version" "$ROOT" >/dev/null
  echo "build-images: $name ready in $(($(date +%s) - started)) s," \
    "$("${DOCKER[@]}" image inspect --format '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1/1e6}')" >&2
}
build "$AGENT_IMAGE" Dockerfile
build "$NETMON_IMAGE" sidecar/Dockerfile
