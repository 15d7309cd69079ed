#!/usr/bin/env bash
# Builds orchestrator-test/openplc-standin:latest, a registry-free stand-in for the OpenPLC runtime image, for tests.
# The rootfs is assembled from this host: its own `node` binary and the libraries it links, busybox-static (sh, udhcpc,
# ip, sleep, ...), test/support/standin/*.mjs, and the `socket.io` package with its dependencies from this checkout's
# node_modules (the runtime's debug namespace; so run `npm ci` first); a self-signed certificate is generated and
# baked in; the tree is tarred and `docker import`ed. No registry is contacted.
#
# Idempotent: the image carries a label with a hash of its inputs; when the engine already has an image with the same
# hash the script exits at once. Concurrent runs on one host are serialised with flock.
#
# Usage: scripts/build-runtime-standin.sh [--socket /var/run/docker.sock] [--force]
# Needs: /usr/bin/docker (talks to the engine), node, openssl, tar, flock, busybox-static (/bin/busybox), node_modules;
#        `strip` (binutils) is optional and only makes the image smaller.
set -euo pipefail

IMAGE="orchestrator-test/openplc-standin:latest"
LABEL="org.autonomy.test.standin-hash"
SOCKET="/var/run/docker.sock"
FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --socket) SOCKET="$2"; shift 2 ;;
    --socket=*) SOCKET="${1#--socket=}"; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build-runtime-standin: unknown argument: $1" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STANDIN_DIR="$ROOT/test/support/standin"
# Debian's client speaks API 1.41, which both engines on the test hosts accept; /usr/local/bin/docker is too new.
DOCKER=(/usr/bin/docker -H "unix://$SOCKET")
NODE_BIN="$(readlink -f "$(command -v node)")"
BUSYBOX=/bin/busybox

fail() { echo "build-runtime-standin: $*" >&2; exit 1; }
[ -x /usr/bin/docker ] || fail "/usr/bin/docker is missing (apt-get install -y docker.io)"
[ -S "$SOCKET" ] || fail "no Docker engine socket at $SOCKET"
[ -x "$NODE_BIN" ] || fail "node is not on PATH"
command -v openssl >/dev/null || fail "openssl is missing (apt-get install -y openssl)"
[ -x "$BUSYBOX" ] || fail "$BUSYBOX is missing (apt-get install -y busybox-static)"
[ -f "$ROOT/node_modules/socket.io/package.json" ] || fail "no socket.io in $ROOT/node_modules (run npm ci first)"
if LC_ALL=C ldd "$BUSYBOX" 2>&1 | grep -q '=>'; then
  fail "$BUSYBOX is dynamically linked; install busybox-static (apt-get install -y busybox-static)"
fi

# CMD: a busybox sh is PID 1 and forwards SIGTERM to node. Node as PID 1 ignores SIGTERM until its handler is
# installed (~200 ms after start), so a stop right after a start waited the engine's full 10 s grace period.
#
# The hash covers the contents (never the paths: several checkouts share one engine) of everything that ends up in
# the image, except the certificate, which is random by design.
# The packages the debug namespace needs: socket.io and everything it depends on, as npm installed them (flat).
STANDIN_PACKAGES="$(
  cd "$ROOT" && node -e '
    const { readFileSync } = require("node:fs");
    const seen = new Set();
    const visit = (name) => {
      if (seen.has(name)) return;
      seen.add(name);
      const pkg = JSON.parse(readFileSync(`node_modules/${name}/package.json`, "utf8"));
      for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep);
    };
    visit("socket.io");
    console.log([...seen].sort().join("\n"));'
)" || fail "could not list the dependencies of socket.io in $ROOT/node_modules"

INPUT_HASH="$(
  {
    cat "$STANDIN_DIR/server.mjs" "$STANDIN_DIR/debug.mjs" "$STANDIN_DIR/udhcpc.script" "${BASH_SOURCE[0]}"
    for p in $STANDIN_PACKAGES; do echo "$p"; cat "$ROOT/node_modules/$p/package.json"; done
    "$NODE_BIN" --version
    sha256sum <"$BUSYBOX"
  } | sha256sum | cut -c1-32
)"

current_hash() {
  "${DOCKER[@]}" image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" "$IMAGE" 2>/dev/null || true
}

if [ "$FORCE" = 0 ] && [ "$(current_hash)" = "$INPUT_HASH" ]; then
  exit 0
fi

LOCK="${TMPDIR:-/tmp}/openplc-standin-build.lock"
exec 9>"$LOCK"
flock -w 600 9 || fail "timed out waiting for another build (lock $LOCK)"
# Another process may have finished the same build while this one waited for the lock.
if [ "$FORCE" = 0 ] && [ "$(current_hash)" = "$INPUT_HASH" ]; then
  exit 0
fi

started=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/openplc-standin.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
RFS="$WORK/rootfs"
mkdir -p "$RFS"/{app,bin,sbin,usr/bin,usr/sbin,usr/local/bin,usr/share/udhcpc,etc,tmp,proc,sys,dev,run,var/run,root}
chmod 1777 "$RFS/tmp"

# node, stripped of debug info when possible (about 13 MB less), plus every library ldd lists and the dynamic loader.
if command -v strip >/dev/null && strip --strip-unneeded -o "$RFS/usr/local/bin/node" "$NODE_BIN" 2>/dev/null; then
  :
else
  cp "$NODE_BIN" "$RFS/usr/local/bin/node"
fi
chmod 0755 "$RFS/usr/local/bin/node"
LC_ALL=C ldd "$NODE_BIN" | awk '
  /=>/ && $3 ~ /^\// { print $3 }
  !/=>/ && $1 ~ /^\// { print $1 }
' | while read -r lib; do
  mkdir -p "$RFS$(dirname "$lib")"
  cp -L "$lib" "$RFS$lib"
done
# ldd reports the loader by the path baked into the binary; make sure that path exists even when it is a symlink.
interp="$(LC_ALL=C ldd "$NODE_BIN" | awk '!/=>/ && $1 ~ /^\// { print $1 }' | head -n1)"
[ -n "$interp" ] && [ -e "$RFS$interp" ] || fail "could not copy the dynamic loader for $NODE_BIN"

# busybox and its applet links (relative paths from --list-full, e.g. usr/bin/wget).
cp "$BUSYBOX" "$RFS/bin/busybox"
chmod 0755 "$RFS/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$RFS/$(dirname "$applet")"
  ln -sf /bin/busybox "$RFS/$applet"
done
cp "$STANDIN_DIR/udhcpc.script" "$RFS/usr/share/udhcpc/default.script"
chmod 0755 "$RFS/usr/share/udhcpc/default.script"

cat >"$RFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$RFS/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo 'hosts: files dns' >"$RFS/etc/nsswitch.conf"

cp "$STANDIN_DIR/server.mjs" "$STANDIN_DIR/debug.mjs" "$RFS/app/"
for p in $STANDIN_PACKAGES; do
  mkdir -p "$RFS/app/node_modules/$(dirname "$p")"
  cp -RL "$ROOT/node_modules/$p" "$RFS/app/node_modules/$p"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
  -subj "/CN=openplc-standin" -addext "subjectAltName=DNS:openplc-standin,DNS:localhost" \
  -keyout "$RFS/app/key.pem" -out "$RFS/app/cert.pem" >/dev/null 2>&1 || fail "openssl could not create the certificate"
chmod 0644 "$RFS/app/cert.pem" "$RFS/app/key.pem"

# Smoke-test the assembled tree's node before importing, so a missing library fails here and not in a test.
if command -v chroot >/dev/null && [ "$(id -u)" = 0 ]; then
  env -i "$(command -v chroot)" "$RFS" /usr/local/bin/node -e 'process.exit(0)' || fail "node does not start inside the assembled rootfs"
fi

previous="$("${DOCKER[@]}" image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)"
tar --numeric-owner --owner=0 --group=0 -C "$RFS" -cf - . |
  "${DOCKER[@]}" import \
    --change 'CMD ["/bin/sh","-c","/usr/local/bin/node /app/server.mjs & c=$!; trap \"kill -TERM $c\" TERM INT; while kill -0 $c 2>/dev/null; do wait $c; s=$?; done; exit $s"]' \
    --change 'EXPOSE 8443' \
    --change 'EXPOSE 8080' \
    --change 'ENV PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /app' \
    --change "LABEL $LABEL=$INPUT_HASH" \
    --change 'LABEL org.autonomy.test.standin=openplc-runtime' \
    --message "OpenPLC runtime stand-in for tests" \
    - "$IMAGE" >/dev/null

# The replaced build would linger as a dangling ~90 MB image; removing it fails harmlessly while a container uses it.
if [ -n "$previous" ] && [ "$previous" != "$("${DOCKER[@]}" image inspect --format '{{ .Id }}' "$IMAGE")" ]; then
  "${DOCKER[@]}" image rm "$previous" >/dev/null 2>&1 || true
fi
size="$("${DOCKER[@]}" image inspect --format '{{ .Size }}' "$IMAGE")"
echo "build-runtime-standin: built $IMAGE on $SOCKET ($((size / 1024 / 1024)) MiB) in $(($(date +%s) - started)) s"
