# One image for every role: `start --role receiver|worker|all` (docker-compose.yml picks one).

# --- build: dev dependencies and tsc, nothing of this stage ships ---
FROM node:22-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run the build before the sources are copied.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workers ./workers
RUN npm run build

# --- runtime: production dependencies and the compiled JavaScript only ---
FROM node:22-slim AS runtime
ENV NODE_ENV=production \
    RELAY_MODE=production \
    RELAY_CONFIG=/app/config/relay.yaml
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (npm run build) needs tsc, a dev dependency; dist comes from the build stage.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
# The receiver's outage spool (spool.dir). Owned by node, so a named volume mounted here starts
# out writable by the relay (Docker copies the directory's owner into a new volume).
RUN mkdir -p /app/data/spool && chown -R node:node /app/data
USER node
# 8080: callbacks (public, behind HTTPS). 9090: admin (metrics, Bull Board, health): keep private.
EXPOSE 8080 9090
ENTRYPOINT ["node", "bin/zego-relay.js"]
CMD ["start", "--role", "all"]
