# Photoreel consumer image: `photoreel worker` by default; `photoreel serve` for the API
# (pass `serve` as the command). Debian 12, like CI, so ffmpeg and the fonts match what the
# tests render with.
#
#   docker build -t photoreel:dev .
#   docker run --init --env-file worker.env photoreel:dev            # consumer
#   docker run --init -p 8080:8080 --env-file api.env photoreel:dev serve

# ---- dependencies: compiled here so the toolchain never reaches the runtime image
FROM node:20-bookworm-slim AS deps
# Only for native modules whose prebuilt binary cannot be downloaded (better-sqlite3 then
# falls back to node-gyp); without them such a build fails instead of degrading.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# tsx is a runtime dependency: the CLI runs the TypeScript sources directly (no build step).
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime
FROM node:20-bookworm-slim
# ffmpeg renders; the Noto fonts draw titles (Latin, CJK, colour emoji), as in .ci/run.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg fonts-noto-core fonts-noto-cjk fonts-noto-color-emoji ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin/ ./bin/
COPY src/ ./src/
COPY openapi.yaml ./

# DATA_DIR is scratch space only in the scale-out mode (jobs and results live in S3).
# The AWS SDK warns once per process that its 2027 releases need Node 22; this image pins Node 20 on purpose.
ENV NODE_ENV=production \
    DATA_DIR=/tmp/photoreel \
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true

# The sources stay root-owned: the process can write only its scratch space.
USER node

# The worker stops receiving on SIGTERM, finishes or releases its renders within
# SHUTDOWN_GRACE_SECONDS, then exits; give it that long before SIGKILL (ECS stopTimeout,
# `docker stop -t`). No HEALTHCHECK: the worker has no HTTP port (the API has /healthz).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/photoreel.js"]
CMD ["worker"]
