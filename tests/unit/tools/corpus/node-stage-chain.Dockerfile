FROM node:20-alpine AS base
WORKDIR /app
EXPOSE 3000

FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM base AS final
COPY --from=deps /app/node_modules ./node_modules
add src/ ./src/
CMD ["node", "src/index.js"]
