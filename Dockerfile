# syntax=docker/dockerfile:1
# The API cluster: a build stage with dev dependencies compiles TypeScript; the runtime stage has production
# dependencies and dist/ only, and runs as the unprivileged `node` user of the official image.
# Node 24 LTS, the same release package.json installs for npm start and the tests (kept in step by a test).
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY server ./server
# The seeding tool, so `docker compose --profile loadtest` can create load-test users with this image.
COPY loadtest/seed ./loadtest/seed
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Code and dependencies stay owned by root: the service cannot modify itself.
USER node
# API and Prometheus metrics (publish the metrics port only where Prometheus can reach it).
EXPOSE 8080 9464
# /healthz answers without touching the database, so a MySQL outage does not get the container killed.
# Node's own fetch: the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself, then drains its workers (SHUTDOWN_TIMEOUT_MS).
STOPSIGNAL SIGTERM
CMD ["node", "dist/server/main.js"]
