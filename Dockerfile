# syntax=docker/dockerfile:1
#
# dai-gateway container image.
#   docker build -t dai-gateway:0.1.0 .
#   docker run --read-only --tmpfs /tmp -p 8184:8184 -p 9184:9184 \
#     -e DAI_GATEWAY_EXECUTORS__SEEDS='[10.0.0.11:8184]' dai-gateway:0.1.0
# Configuration: /etc/dai-gateway/config.yaml (mount your own over it) plus DAI_GATEWAY_*
# environment variables, which override the file (see README "Configuration").

# ---- build: full dependency tree (TypeScript, generators) to compile src/ into dist/
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.dashboard.json ./
COPY src ./src
RUN npm run build

# ---- runtime: production dependencies and compiled JavaScript only
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    TMPDIR=/tmp
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing in the production tree needs an install script; cache cleaned so
# the layer holds only node_modules.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY proto ./proto
COPY config ./config
# A default config so the image starts as is; Kubernetes mounts a ConfigMap over this directory.
COPY config/container.yaml /etc/dai-gateway/config.yaml

# Files stay owned by root and read-only to the process; it writes nothing outside /tmp,
# so the container runs with a read-only root filesystem (mount /tmp as tmpfs/emptyDir).
# Numeric UID/GID (the base image's "node" user) so Kubernetes can verify runAsNonRoot.
USER 1000:1000

# 8184: gRPC task.Task API (listen); 9184: HTTP /healthz, /readyz, /metrics (httpListen).
EXPOSE 8184 9184

# No curl in the slim image: node itself probes /healthz. HEALTHCHECK_URL follows a changed httpListen.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "const u=process.env.HEALTHCHECK_URL||'http://127.0.0.1:9184/healthz';require('http').get(u,{timeout:2500},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]

# The gateway handles SIGTERM itself (readiness off, drain, exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/dai-gateway.js"]
CMD ["serve", "--config", "/etc/dai-gateway/config.yaml"]
