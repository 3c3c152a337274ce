# syntax=docker/dockerfile:1
# One image for the adapter (`start`, the default), the controller (`controller`) and the bridge (`bridge`):
#   docker build -t mesh-apim:0.1.0 .
#   docker run --rm -p 9191:9191 -p 9192:9192 mesh-apim:0.1.0            # adapter, standalone
#   docker run --rm mesh-apim:0.1.0 controller                           # any other command
# Runs the program compiled by infra/image/bundle.ts (`npm run build`: our code bundled into dist/app,
# node_modules as installed), not the TypeScript sources through tsx as `npx mesh-apim` does: it starts
# in a third of the time and uses less memory (see bundle.ts).

ARG NODE_IMAGE=node:22-bookworm

# --- production dependencies only (native modules built here, where compilers exist) ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# --- the compiled program (esbuild comes with tsx, a production dependency) ---
FROM deps AS build
COPY . .
RUN npm run build

# --- runtime ---
FROM ${NODE_IMAGE}-slim AS runtime
# tini as PID 1: forwards SIGTERM/SIGINT to node (the CLI drains and exits on SIGTERM) and reaps zombies.
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
  && rm -rf /var/lib/apt/lists/*
# A 4 MiB young generation (semi-space; V8's default grows to 16 MiB): under a saturating check load
# the adapter's RSS is ~30 MB lower at the same throughput (bench/emission-rss.ts --node-flags, see
# docs/deployment.md "Memory"). Set NODE_OPTIONS to override.
ENV NODE_ENV=production \
  NODE_OPTIONS=--max-semi-space-size=4 \
  MESH_APIM_ADAPTER_GRPC_ADDRESS=0.0.0.0:9191 \
  MESH_APIM_ADAPTER_ADMIN_ADDRESS=0.0.0.0:9192 \
  MESH_APIM_DATA_DIR=/app/.data \
  MESH_APIM_FUNCTIONS_RUN_LOCAL=false
WORKDIR /app
# The compiled program, the production node_modules, and the files it reads at run time: package.json
# (version; common/package-root.ts finds the assets from it), the topic definitions, the default
# standalone file, the healthcheck. No TypeScript sources.
COPY --chown=root:root package.json ./
COPY --chown=root:root config ./config/
COPY --chown=root:root infra/topics.yaml ./infra/
COPY --chown=root:root infra/docker ./infra/docker/
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist/app ./dist/app
# Code is root-owned and read-only for the process; only the data directory is writable.
RUN mkdir -p /app/.data && chown 1000:1000 /app/.data
# uid/gid 1000 = the image's `node` user (numeric, so Kubernetes' runAsNonRoot can verify it).
USER 1000:1000
EXPOSE 9191 9192
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "infra/docker/healthcheck.mjs"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/app/mesh-apim.js"]
CMD ["start"]
