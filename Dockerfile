# orchestrator-agent image (container `orchestrator_agent`). Build from the repository root:
#   docker build --build-arg AGENT_VERSION="$(node -p "require('./package.json').version")" \
#     -t ghcr.io/autonomy-logic/orchestrator-agent:latest .
# scripts/build-images.sh does exactly that (and makes a registry-free base first when asked).
#
# Run it as install/install.sh does (docs/protocol.md#installing-the-agent):
#   -v /var/run/docker.sock:/var/run/docker.sock   the engine the vPLCs run on
#   -v orchestrator-shared:/var/orchestrator       state files, logs, leases, the sidecar's socket
#   -v /root/.mtls:/root/.mtls:ro                  the enrolled client certificate
#
# The same file builds for linux/amd64, linux/arm64 and linux/arm/v7: nothing here downloads a binary for one
# architecture; npm ci fetches JavaScript only (no dependency has an install script or a prebuilt addon).

# Any Debian bookworm image with Node.js 20 on PATH. Without a registry, scripts/build-base-image.sh makes one.
ARG BASE_IMAGE=node:20-bookworm-slim

FROM ${BASE_IMAGE} AS build
# npm trusts the system's CA store too (a registry behind a TLS-inspecting proxy whose CA the base carries).
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY sidecar/src ./sidecar/src
COPY sidecar/udhcpc-hook.sh ./sidecar/udhcpc-hook.sh
RUN npm run build && npm prune --omit=dev --no-audit --no-fund && rm -f dist/.tsbuildinfo \
 && find dist -name '*.map' -delete

FROM ${BASE_IMAGE}
# The version the agent reports (get_orchestrator_version, heartbeats) and the image label say the same thing;
# the build refuses a version that is not package.json's, so an image can never claim another release's number.
ARG AGENT_VERSION=unset
ENV NODE_ENV=production \
    AGENT_VERSION=${AGENT_VERSION} \
    ORCH_DATA_DIR=/var/orchestrator \
    ORCH_LOCAL=off
# ORCH_LOCAL=off: the installer starts the container before the certificates exist and restarts it once they do;
# keep that a one-line refusal (and a restart loop) instead of local mode, which would serve no cloud until then.
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Deployed Python agents upgrade by running this image with `python src/tools/upgrade_self.py` (docs/protocol.md
# #upgrade_orchestrator): this `python` hands exactly that script to our own upgrader and refuses anything else.
COPY install/python-shim.sh /usr/local/bin/python
RUN chmod 0755 /usr/local/bin/python && node -e 'const v = require("/app/package.json").version; const a = process.env.AGENT_VERSION; \
      if (a !== v) { console.error(`AGENT_VERSION=${a} but package.json says ${v}: build with --build-arg AGENT_VERSION=${v}`); process.exit(1); }'
LABEL org.opencontainers.image.title="orchestrator-agent" \
      org.opencontainers.image.version="${AGENT_VERSION}" \
      edge.autonomy.version="${AGENT_VERSION}" \
      edge.autonomy.role=orchestrator-agent
# edge.autonomy.role marks the agent's containers for people and tools (docker ps --filter label=...). The agent does
# not find itself by it: any container can carry a label, so it reads its own id from the kernel
# (docs/decisions.md#the-agent-finds-its-own-container-by-what-the-kernel-says).
VOLUME ["/var/orchestrator"]
# Root, deliberately: the agent drives the host's Docker engine through its socket (root:docker 0660, and the
# docker group's id differs from host to host) and reads /root/.mtls as the installer wrote it (0700 root).
# Liveness is the agent's own: its event loop writes a beat every 10 s once it has started (docs/decisions.md
# #the-images-healthcheck-is-the-agents-own-heartbeat); a hung or crashed agent goes unhealthy within 45 s.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "/app/dist/src/cli/healthcheck.js"]
# CMD, not ENTRYPOINT: a Python agent runs this image with the command `python src/tools/upgrade_self.py`, which
# must replace the command, not be appended to an entry point.
CMD ["node", "/app/dist/src/main.js"]
