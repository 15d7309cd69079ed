#!/usr/bin/env bash
# Starts Debian's docker-registry (distribution 2.8) on 127.0.0.1:5000 for the upgrade tests: they push a locally
# built "next" version there and the agent pulls it as it would pull from ghcr.io. dockerd trusts a loopback
# registry over plain HTTP without extra flags. Idempotent: does nothing when the registry already answers.
# Storage and config live in ORCH_CI_CACHE (default /var/cache/orchestrator-ci/registry), outside the clone.
set -euo pipefail

ADDR=127.0.0.1:5000
dir="${ORCH_CI_CACHE:-/var/cache/orchestrator-ci}/registry"
answers() { curl -fsS --max-time 2 "http://$ADDR/v2/" >/dev/null 2>&1; }

if answers; then
  echo "registry: already answering at $ADDR"
  exit 0
fi
command -v docker-registry >/dev/null || { echo "registry: docker-registry is missing (apt-get install -y docker-registry)" >&2; exit 1; }
mkdir -p "$dir/storage"
# The package's own config demands htpasswd; this minimal one serves anyone on loopback only.
cat >"$dir/config.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: $ADDR
CONFIG
setsid docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
for _ in $(seq 1 50); do
  if answers; then
    echo "registry: ready at $ADDR (storage $dir/storage)"
    exit 0
  fi
  sleep 0.2
done
echo "registry: did not answer within 10 s; see $dir/registry.log" >&2
tail -n 20 "$dir/registry.log" >&2 || true
exit 1
