#!/usr/bin/env bash
# Installs the orchestrator agent on this host: the shared volume `orchestrator-shared`, the network-monitor sidecar
# `autonomy_netmon` and the agent `orchestrator_agent`, and enrols the host's client certificate with the cloud.
# Idempotent: run it again and nothing changes unless the images, the certificate or an option changed.
#
# Usage: install.sh [options]            install or bring up to date
#        install.sh --uninstall [--purge] remove what this script made (and, with --purge, the certificate)
#
# Options (each also as an environment variable):
#   --api-url URL       enrolment API (ORCH_API_URL, default https://api.autonomylogic.com)
#   --cloud-url URL     the agent's Socket.IO endpoint (ORCH_CLOUD_URL, default: the agent's own default)
#   --ca-file FILE      extra CA for the API and the cloud, e.g. a private cloud (ORCH_CA_FILE)
#   --mtls-dir DIR      the client certificate folder (ORCH_MTLS_DIR, default $HOME/.mtls)
#   --agent-image IMG   (ORCH_AGENT_IMAGE, default ghcr.io/autonomy-logic/orchestrator-agent:latest)
#   --netmon-image IMG  (ORCH_NETMON_IMAGE, default ghcr.io/autonomy-logic/autonomy-netmon:latest)
#   --pull WHEN         always, missing (default) or never: when to pull the images
#   --env KEY=VALUE     an extra environment variable for the agent (repeatable), e.g. ORCH_PARENT_INTERFACES=eth0
#   --docker-socket P   the engine's socket on this host (default /var/run/docker.sock)
#   -h, --help
set -euo pipefail

VOLUME=orchestrator-shared
AGENT=orchestrator_agent
NETMON=autonomy_netmon
# What marks a container or volume as made by this script: --uninstall removes only what carries it.
OWNER_LABEL=edge.autonomy.installed-by=install.sh
CONFIG_LABEL=edge.autonomy.install-config

API_URL="${ORCH_API_URL:-https://api.autonomylogic.com}"
CLOUD_URL="${ORCH_CLOUD_URL:-}"
CA_FILE="${ORCH_CA_FILE:-}"
MTLS_DIR="${ORCH_MTLS_DIR:-${HOME:-/root}/.mtls}"
AGENT_IMAGE="${ORCH_AGENT_IMAGE:-ghcr.io/autonomy-logic/orchestrator-agent:latest}"
NETMON_IMAGE="${ORCH_NETMON_IMAGE:-ghcr.io/autonomy-logic/autonomy-netmon:latest}"
PULL=missing
SOCKET=/var/run/docker.sock
UNINSTALL=0
PURGE=0
EXTRA_ENV=()

say() { printf '%s\n' "$*"; }
fail() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --api-url) API_URL="$2"; shift 2 ;;
    --cloud-url) CLOUD_URL="$2"; shift 2 ;;
    --ca-file) CA_FILE="$2"; shift 2 ;;
    --mtls-dir) MTLS_DIR="$2"; shift 2 ;;
    --agent-image) AGENT_IMAGE="$2"; shift 2 ;;
    --netmon-image) NETMON_IMAGE="$2"; shift 2 ;;
    --pull) PULL="$2"; shift 2 ;;
    --env) EXTRA_ENV+=("$2"); shift 2 ;;
    --docker-socket) SOCKET="$2"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    -h | --help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

case "$PULL" in always | missing | never) ;; *) fail "--pull must be always, missing or never, not $PULL" ;; esac
for kv in "${EXTRA_ENV[@]}"; do
  [[ "$kv" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || fail "--env needs KEY=VALUE, not $kv"
done
[ "$(uname -s)" = Linux ] || fail "the agent runs on Linux hosts only"

if [ "$(id -u)" -ne 0 ]; then
  # Docker, the sidecar's capabilities and /root/.mtls need root, as with the old installer.
  command -v sudo >/dev/null || fail "run as root (sudo is not installed)"
  exec sudo -E bash "$0" "$@"
fi

# Debian's client talks to the engines these hosts run; a newer client elsewhere on PATH may not.
DOCKER_BIN=docker
[ -x /usr/bin/docker ] && DOCKER_BIN=/usr/bin/docker
docker() { "$DOCKER_BIN" -H "unix://$SOCKET" "$@"; }

ensure_tools() {
  local missing=()
  for tool in curl jq openssl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  command -v "$DOCKER_BIN" >/dev/null || missing+=(docker)
  [ "${#missing[@]}" -eq 0 ] && return 0
  say "installing ${missing[*]}"
  if command -v apt-get >/dev/null; then
    local pkgs=("${missing[@]/#docker/docker.io}")
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${pkgs[@]}"
  elif command -v dnf >/dev/null; then
    dnf install -y "${missing[@]}"
  elif command -v yum >/dev/null; then
    yum install -y "${missing[@]}"
  else
    fail "install ${missing[*]} first (no apt-get, dnf or yum here)"
  fi
}

# --- uninstall -------------------------------------------------------------------------------------------------
ours() { # ours container|volume NAME: it exists and carries our label
  local field=.Config.Labels
  [ "$1" = volume ] && field=.Labels
  [ "$(docker "$1" inspect --format "{{ index $field \"${OWNER_LABEL%%=*}\" }}" "$2" 2>/dev/null)" = "${OWNER_LABEL#*=}" ]
}

uninstall() {
  local kept=0
  for name in "$AGENT" "$NETMON"; do
    if ours container "$name"; then
      docker rm -f "$name" >/dev/null
      say "removed container $name"
    elif docker container inspect "$name" >/dev/null 2>&1; then
      say "kept container $name: it was not made by this installer"
      kept=1
    fi
  done
  if docker volume inspect "$VOLUME" >/dev/null 2>&1; then
    if ours volume "$VOLUME"; then
      if docker volume rm "$VOLUME" >/dev/null 2>&1; then
        say "removed volume $VOLUME"
      else
        say "kept volume $VOLUME: a container still uses it"
        kept=1
      fi
    else
      say "kept volume $VOLUME: it was not made by this installer"
      kept=1
    fi
  fi
  if [ "$PURGE" -eq 1 ]; then
    for f in client.key client.crt client.csr cloud-ca.crt; do
      [ -e "$MTLS_DIR/$f" ] && rm -f "$MTLS_DIR/$f" && say "removed $MTLS_DIR/$f"
    done
    rmdir "$MTLS_DIR" 2>/dev/null && say "removed $MTLS_DIR"
  elif [ -e "$MTLS_DIR/client.crt" ]; then
    say "kept the client certificate in $MTLS_DIR (--purge removes it; the cloud then needs a new enrolment)"
  fi
  local runtimes
  runtimes=$(docker ps -a --filter label=edge.autonomy.managed=true --format '{{.Names}}' | tr '\n' ' ')
  [ -n "${runtimes// /}" ] &&
    say "vPLC runtimes are still on this host ($runtimes): delete them from the cloud, or with delete_orchestrator before uninstalling"
  say "images are kept: docker rmi $AGENT_IMAGE $NETMON_IMAGE"
  [ "$kept" -eq 0 ] && say "uninstalled: nothing this installer made is left"
  return 0
}

# --- enrolment (as the old installer, reference §14 step 5) ------------------------------------------------------
curl_api() { curl -fsS --max-time 60 ${CA_FILE:+--cacert "$CA_FILE"} "$@"; }

certificate_good() {
  [ -s "$MTLS_DIR/client.crt" ] && [ -s "$MTLS_DIR/client.key" ] &&
    openssl x509 -in "$MTLS_DIR/client.crt" -noout -checkend 86400 >/dev/null 2>&1 &&
    openssl x509 -in "$MTLS_DIR/client.crt" -noout -purpose 2>/dev/null | grep -q '^SSL client : Yes'
}

enrol() {
  say "enrolling this host with $API_URL"
  local reply id expires_at expires_in
  reply=$(curl_api "$API_URL/orchestrators/id") || fail "could not get an orchestrator id from $API_URL/orchestrators/id"
  id=$(jq -r '.data.id // empty' <<<"$reply")
  [ -n "$id" ] || fail "$API_URL/orchestrators/id answered without data.id: $(head -c 300 <<<"$reply")"
  [[ "$id" =~ ^[A-Za-z0-9._-]{1,64}$ ]] || fail "$API_URL/orchestrators/id answered an id that is not a plain word"
  expires_at=$(jq -r '.data.expiresAt // empty' <<<"$reply")
  expires_in=$(jq -r '.data.expiresIn // empty' <<<"$reply")

  mkdir -p "$MTLS_DIR"
  chmod 700 "$MTLS_DIR"
  (umask 077 && openssl genrsa -out "$MTLS_DIR/client.key" 4096 2>/dev/null)
  chmod 600 "$MTLS_DIR/client.key"
  local cnf
  cnf=$(mktemp)
  printf '%s\n' '[req]' 'distinguished_name = dn' 'req_extensions = ext' '[dn]' '[ext]' \
    'keyUsage = keyEncipherment, dataEncipherment' 'extendedKeyUsage = clientAuth' >"$cnf"
  openssl req -new -key "$MTLS_DIR/client.key" -out "$MTLS_DIR/client.csr" -config "$cnf" \
    -subj "/C=BR/ST=SP/L=SaoPaulo/O=AutonomyLogic/OU=Production/CN=$id"
  rm -f "$cnf"

  local out status
  out=$(mktemp)
  status=$(curl -sS --max-time 60 ${CA_FILE:+--cacert "$CA_FILE"} -o "$out" -w '%{http_code}' \
    -F "csr=@$MTLS_DIR/client.csr" "$API_URL/orchestrators/enroll") || { rm -f "$out"; fail "could not reach $API_URL/orchestrators/enroll"; }
  if [ "$status" != 200 ] || [ "$(jq -r '.statusCode // empty' "$out")" != 200 ] ||
    [ -z "$(jq -r '.data.certificate // empty' "$out")" ]; then
    local body
    body=$(head -c 300 "$out")
    rm -f "$out"
    fail "enrolment refused (HTTP $status): $body"
  fi
  jq -r '.data.certificate' "$out" >"$MTLS_DIR/client.crt"
  rm -f "$out" "$MTLS_DIR/client.csr"
  chmod 644 "$MTLS_DIR/client.crt"
  openssl x509 -in "$MTLS_DIR/client.crt" -noout -purpose | grep -q '^SSL client : Yes' ||
    fail "the certificate the cloud returned is not a client certificate"
  say "enrolled: orchestrator id $id${expires_in:+ (paste it into the web app within $expires_in s}${expires_at:+, until $expires_at}${expires_in:+)}"
}

# --- containers ------------------------------------------------------------------------------------------------
ensure_image() {
  local image="$1"
  case "$PULL" in
    always) docker pull -q "$image" >/dev/null ;;
    missing) docker image inspect "$image" >/dev/null 2>&1 || docker pull -q "$image" >/dev/null ;;
    never) docker image inspect "$image" >/dev/null 2>&1 || fail "image $image is not on this host (--pull never)" ;;
  esac
}

# run_container NAME IMAGE [docker run options...]: creates it, or leaves it when it already runs as asked.
run_container() {
  local name="$1" image="$2"
  shift 2
  local image_id hash current
  image_id=$(docker image inspect --format '{{.Id}}' "$image")
  hash=$(printf '%s\n' "$image_id" "$@" | sha256sum | cut -c1-32)
  current=$(docker container inspect --format "{{ index .Config.Labels \"$CONFIG_LABEL\" }} {{.State.Running}}" "$name" 2>/dev/null || true)
  if [ "$current" = "$hash true" ]; then
    say "$name is up to date"
    return 0
  fi
  if docker container inspect "$name" >/dev/null 2>&1; then
    docker rm -f "$name" >/dev/null
    say "replaced container $name"
  fi
  docker run -d --name "$name" --label "$OWNER_LABEL" --label "$CONFIG_LABEL=$hash" "$@" "$image" >/dev/null
  say "started container $name ($image)"
}

do_install() {
  ensure_tools
  docker info >/dev/null 2>&1 || fail "the Docker engine at $SOCKET does not answer; start dockerd first"
  if [ -n "$CA_FILE" ]; then
    [ -r "$CA_FILE" ] || fail "cannot read --ca-file $CA_FILE"
    openssl x509 -in "$CA_FILE" -noout 2>/dev/null || fail "--ca-file $CA_FILE is not a PEM certificate"
  fi

  if docker volume inspect "$VOLUME" >/dev/null 2>&1; then
    say "volume $VOLUME exists (kept, with its state)"
  else
    docker volume create --label "$OWNER_LABEL" "$VOLUME" >/dev/null
    say "created volume $VOLUME"
  fi

  ensure_image "$NETMON_IMAGE"
  ensure_image "$AGENT_IMAGE"

  # The sidecar's needs, one by one (docs/protocol.md#running-the-sidecar): host network and PIDs to see the host's
  # interfaces and enter runtimes by their PID; NET_ADMIN to configure vNICs; NET_RAW for udhcpc's raw socket;
  # SYS_ADMIN for setns(2); SYS_PTRACE to open another container's /proc/<pid>/ns/net. No --privileged.
  local netmon_opts=(--restart unless-stopped --network host --pid host
    --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_ADMIN --cap-add SYS_PTRACE
    -v "$VOLUME:/var/orchestrator" -v /dev:/dev:ro)
  [ -d /run/udev ] && netmon_opts+=(-v /run/udev:/run/udev:ro)
  run_container "$NETMON" "$NETMON_IMAGE" "${netmon_opts[@]}"

  certificate_good || enrol
  [ -n "$CA_FILE" ] && install -m 0644 "$CA_FILE" "$MTLS_DIR/cloud-ca.crt"

  local agent_opts=(--restart unless-stopped -v "$MTLS_DIR:/root/.mtls:ro" -v "$SOCKET:/var/run/docker.sock"
    -v "$VOLUME:/var/orchestrator")
  [ -n "$CLOUD_URL" ] && agent_opts+=(-e "ORCH_CLOUD_URL=$CLOUD_URL")
  [ -n "$CA_FILE" ] && agent_opts+=(-e ORCH_CA_FILE=/root/.mtls/cloud-ca.crt)
  for kv in "${EXTRA_ENV[@]}"; do agent_opts+=(-e "$kv"); done
  # The certificate is part of what the agent runs with: a new one (re-enrolment) restarts it.
  agent_opts+=(--label "edge.autonomy.certificate=$(openssl x509 -in "$MTLS_DIR/client.crt" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d :)")
  run_container "$AGENT" "$AGENT_IMAGE" "${agent_opts[@]}"

  local cn
  cn=$(openssl x509 -in "$MTLS_DIR/client.crt" -noout -subject -nameopt multiline | awk -F' = ' '/commonName/ {print $2}')
  say "installed: orchestrator id ${cn:-unknown}; status: docker ps --filter name=$AGENT --filter name=$NETMON"
}

if [ "$UNINSTALL" -eq 1 ]; then
  uninstall
else
  do_install
fi
