# One image for every app; the command picks which one runs.
#   docker build -t vouchflow .
#   docker run vouchflow                                   (the ingress)
#   docker run vouchflow node --import tsx apps/worker/src/main.ts
FROM node:20-bookworm-slim
ENV NODE_ENV=production
# corepack cannot be relied on everywhere; install the pinned pnpm from the npm registry.
RUN npm i -g pnpm@12.4.2
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile --prod
USER node
EXPOSE 3000
# node directly (not through pnpm) so SIGTERM reaches the app and it shuts down gracefully.
CMD ["node", "--import", "tsx", "apps/ingress/src/main.ts"]
