# Troupe for docker-compose.yml: one image for `troupe serve` and `troupe worker` (the compose `command` picks).
# Node 20 on Debian bookworm (glibc 2.36: the uWebSockets.js build Troupe installs needs no newer glibc).

FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 downloads a prebuilt binary when one matches, and compiles itself otherwise.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts: the `prepare` build needs the sources, copied below; native modules are rebuilt after.
RUN npm ci --no-audit --no-fund --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY actors ./actors
COPY machines ./machines
COPY bin ./bin
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# State of the embedded SQLite store (TROUPE_DATA_DIR); mount a volume here.
RUN mkdir -p /data && chown node:node /data
USER node
ENV TROUPE_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/troupe.js"]
CMD ["serve"]
