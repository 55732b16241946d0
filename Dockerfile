# One image for every app; the command picks which one runs.
#   docker build -t vouchflow .
#   docker run vouchflow                                    (the ingress)
#   docker run vouchflow node apps/worker/dist/main.js      (a worker)
#   docker run vouchflow node apps/ops/dist/main.js serve   (the admin API)
#   docker run vouchflow node apps/ops/bin/vouchflow.js stats --json   (the ops CLI; the bin runs dist/ here)
# The HEALTHCHECK probes HEALTHCHECK_URL: the ingress's /readyz by default;
# set it to http://127.0.0.1:3001/readyz for a worker, :3100 for the admin.

# --- build: every dependency, then `pnpm build` (tsc -b to each dist/) -------
FROM node:20-bookworm-slim AS build
# corepack cannot be relied on everywhere; install the pinned pnpm from the npm registry.
RUN npm i -g pnpm@12.4.2
WORKDIR /src
# The manifests first, so the dependency layer is reused while only code changes.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml ./
COPY apps/ingress/package.json apps/ingress/
COPY apps/worker/package.json apps/worker/
COPY apps/ops/package.json apps/ops/
COPY packages/schema/package.json packages/schema/
COPY packages/core/package.json packages/core/
COPY packages/handler-kit/package.json packages/handler-kit/
COPY packages/pipeline/package.json packages/pipeline/
COPY packages/archive/package.json packages/archive/
COPY packages/handlers/package.json packages/handlers/
COPY packages/telemetry/package.json packages/telemetry/
COPY packages/test-support/package.json packages/test-support/
COPY examples/points-to-slack/package.json examples/points-to-slack/
RUN pnpm install --frozen-lockfile
COPY . .
RUN pnpm build
# Production dependencies of the three apps only (not the test helpers' or the
# example's), then the runtime tree: each app and package's
# package.json, dist/ and node_modules/ (pnpm's relative symlinks into the
# root node_modules/.pnpm), nothing else.
RUN rm -rf node_modules apps/*/node_modules packages/*/node_modules examples/*/node_modules \
 && pnpm install --frozen-lockfile --prod --filter '@vouchflow/ingress...' --filter '@vouchflow/worker...' --filter '@vouchflow/ops...' \
 && mkdir -p /out \
 && cp -a package.json node_modules /out/ \
 && for dir in apps/ingress apps/worker apps/ops packages/schema packages/core packages/handler-kit packages/pipeline packages/archive packages/handlers packages/telemetry; do \
      mkdir -p "/out/$dir" && cp -a "$dir/package.json" "$dir/dist" "/out/$dir/" \
      && if [ -d "$dir/migrations" ]; then cp -a "$dir/migrations" "/out/$dir/"; fi \
      && if [ -d "$dir/assets" ]; then cp -a "$dir/assets" "/out/$dir/"; fi \
      && if [ -d "$dir/bin" ]; then cp -a "$dir/bin" "/out/$dir/"; fi \
      && if [ -d "$dir/node_modules" ]; then cp -a "$dir/node_modules" "/out/$dir/"; fi; \
    done \
 && find /out -name '*.tsbuildinfo' -delete

# --- runtime: Node, production dependencies and dist/ only, as a non-root user --
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /out/ ./
# The apps write nothing but the outbox (e-mail without SMTP_URL); give the app user only that.
RUN mkdir -p /app/outbox && chown node:node /app/outbox
USER node
EXPOSE 3000 3001 3100
# fetch is built into Node 20: no curl in the slim image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL || 'http://127.0.0.1:3000/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node directly (not through pnpm) so SIGTERM reaches the app and it shuts down gracefully.
CMD ["node", "apps/ingress/dist/main.js"]
