# orchestrator-agent image: build stage compiles TypeScript, runtime stage carries only production dependencies.
# Run (as the installer does): docker run -d --name orchestrator_agent --restart unless-stopped \
#   -v $HOME/.mtls:/root/.mtls:ro -v /var/run/docker.sock:/var/run/docker.sock \
#   -v orchestrator-shared:/var/orchestrator ghcr.io/autonomy-logic/orchestrator-agent:latest

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# npm run build also copies the sidecar's DHCP hook and the inspector's page (src/io/inspector/assets) into dist/.
COPY sidecar/src ./sidecar/src
COPY sidecar/udhcpc-hook.sh ./sidecar/udhcpc-hook.sh
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# The installer starts the container before the certificates exist and restarts it once they do: keep that a
# one-line refusal (and a restart loop) instead of local mode, which would serve no cloud until the restart.
ENV ORCH_LOCAL=off
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
# The inspector serves @viz-js/viz's browser build straight from node_modules: it is a production dependency.
COPY --from=build /app/dist ./dist
# Marks the agent's containers for people and tools (docker ps --filter label=edge.autonomy.role=orchestrator-agent).
# The agent does not find itself by it: any container can carry a label, so it reads its own id from the kernel
# (docs/decisions.md#the-agent-finds-its-own-container-by-what-the-kernel-says).
LABEL edge.autonomy.role=orchestrator-agent
VOLUME ["/var/orchestrator"]
ENTRYPOINT ["node", "dist/src/main.js"]
